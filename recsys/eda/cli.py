"""The ``recsys-eda`` command: exploratory data analysis of a processed data set (PNG figures plus ``EDA.md``).

Usage:
    recsys-eda --data ml_latest_small
    recsys-eda --processed-dir data/processed/ml-25m/<hash> --split temporal \
        --output experiments/eda/ml-25m

Output goes to ``outputs/eda/<name>/`` (untracked) unless ``--output`` names another folder, so a
run never overwrites the committed reports under ``experiments/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import recsys
from recsys.eda.queries import default_name
from recsys.eda.report import write_eda

OUTPUT_ROOT = recsys.REPO_ROOT / "outputs" / "eda"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: a processed folder or a data set name, and where to write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--processed-dir", type=Path, help="a processed folder (ratings.parquet, movies.parquet, ...)")
    source.add_argument("--data", help="a data set name for recsys.data.prepare.prepare_dataset, e.g. ml_latest_small")
    parser.add_argument(
        "--split", default=None, help="splits/<name> for cold-start counts (with --data: the configured split)"
    )
    parser.add_argument("--output", type=Path, default=None, help="output folder (default outputs/eda/<name>)")
    parser.add_argument("--name", default="", help="data set name shown in EDA.md")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Path:
    """Runs the EDA and returns the path of the written ``EDA.md``."""
    if args.data:
        from recsys.data.prepare import prepare_dataset  # heavy: only when preparing a named set

        dataset = prepare_dataset(args.data)
        processed_dir, name = Path(dataset.root), args.name or args.data
        split = args.split or dataset.split_dir.name  # splits/<name> of the configured split
    else:
        processed_dir = args.processed_dir
        name, split = args.name or default_name(processed_dir), args.split
    output = args.output or OUTPUT_ROOT / name
    start = time.perf_counter()
    md = write_eda(processed_dir, output, split=split, dataset_name=name)
    print(f"wrote {md} ({time.perf_counter() - start:.1f}s)")
    return md


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-eda`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.eda.cli (the installed command calls main too)
    raise SystemExit(main())

"""``recsys-package run_dir=<run>``: save a trained run to the BentoML model store.

The model (``recsys:<version>`` by default) holds the serving bundle (``recsys.serving.bundle``):
vectors, item metadata, the known users' history, the run's config and metrics, and the Qdrant
Edge index built and optimised here, offline. ``bentoml serve`` then serves the latest model of
that name (``RECSYS_MODEL=recsys:<version>`` selects another). The store is ``$BENTOML_HOME``
(default ``~/bentoml``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from recsys.serving.bundle import BundleError, write_bundle

MODEL_NAME = "recsys"


def package_run(run_dir: str | Path, name: str = MODEL_NAME, build_index: bool = True) -> str:
    """Package ``run_dir`` as a new version of the BentoML model ``name``; returns its tag."""
    import bentoml

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise BundleError(f"{run_dir} is not a run directory (no config.yaml): pass run_dir=<a run of train.py>")
    metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
    with bentoml.models.create(
        name,
        labels={"framework": "recsys"},
        metadata={
            "run_dir": str(run_dir.resolve()),
            "val_ndcg@10": (metrics.get("val") or {}).get("ndcg@10"),
            "test_ndcg@10": (metrics.get("test") or {}).get("ndcg@10"),
        },
    ) as model:
        write_bundle(run_dir, model.path, version=str(model.tag.version), build_index=build_index)
    return str(model.tag)


def _argument(value: str) -> str:
    return value.split("=", 1)[1] if value.startswith("run_dir=") else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recsys-package", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=_argument, help="run_dir=<a run directory of train.py> (or the bare path)")
    parser.add_argument("--name", default=MODEL_NAME, help="model name in the BentoML store (default: recsys)")
    parser.add_argument("--no-index", action="store_true", help="skip the Edge index (only retriever=exact or qdrant can serve it)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        tag = package_run(args.run_dir, args.name, build_index=not args.no_index)
    except BundleError as error:
        print(f"recsys-package: {error}", file=sys.stderr)
        return 2
    print(f"packaged {args.run_dir} as {tag} in {time.perf_counter() - start:.1f} s; serve it with: bentoml serve (RECSYS_MODEL={tag})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``recsys-download`` command: download, verify and extract an official MovieLens set.

Example:
    recsys-download --size 25m --output data/raw
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from recsys.data.download import DEFAULT_TIMEOUT, DownloadError, download_movielens
from recsys.data.movielens_sets import MOVIELENS_SETS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(MOVIELENS_SETS), required=True,
                        help="which MovieLens release")
    parser.add_argument("--output", type=Path, default=Path("data/raw"),
                        help="folder for the zip and the extracted set (default: %(default)s)")
    parser.add_argument("--base-url", default=None,
                        help="folder URL of a mirror holding <zip> and <zip>.md5 "
                             "(default: files.grouplens.org)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="socket timeout in seconds (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the download; returns the process exit code (0 on success, 1 on failure)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = download_movielens(
            args.size, args.output, args.base_url,
            timeout=args.timeout, progress=not args.no_progress,
        )
    except (DownloadError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to resume the download", file=sys.stderr)
        return 1
    print(f"MovieLens {args.size} is in {folder}")
    return 0


if __name__ == "__main__":  # python -m recsys.data.download_cli (the installed command calls main too)
    raise SystemExit(main())

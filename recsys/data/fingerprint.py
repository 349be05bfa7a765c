"""Content hashes of raw files: the processing cache key.

Size and mtime are not enough: an edit that keeps the size, with the mtime restored (a `cp -p`,
`rsync -t`, a checkout, `os.utime`), would reuse stale processed data. So every raw file is hashed
whole, streaming, with BLAKE2b from the standard library (about 1 GB/s on one core: the 678 MB
`ratings.csv` of ml-25m in well under a second; see `scripts/bench_processing.py --hash-only`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE2b (128-bit) hex digest of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with Path(path).open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digests(folder: Path) -> list[tuple[str, int, str]]:
    """`(relative path, size, content digest)` of every file under `folder`, sorted by path.

    Hidden entries (names starting with `.`: temporary folders, editor files) are skipped.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return [(p.relative_to(folder).as_posix(), p.stat().st_size, file_digest(p)) for p in files]

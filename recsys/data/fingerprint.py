"""Content hashes of raw files: the processing cache key.

Size and mtime are not enough: an edit that keeps the size, with the mtime restored (a `cp -p`,
`rsync -t`, a checkout, `os.utime`), would reuse stale processed data. So every raw file is hashed
whole, streaming, with SHA-256 from the standard library (OpenSSL: it uses the CPU's SHA
extensions where present, and measured faster than BLAKE2b, SHA-512 and MD5 on this project's
machine; numbers in ARCHITECTURE.md, "Data on disk").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 4 << 20


def file_digest(path: Path) -> str:
    """SHA-256 hex digest of the file's bytes, read in 4 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with Path(path).open("rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def folder_digests(folder: Path) -> list[tuple[str, int, str]]:
    """`(relative path, size, content digest)` of every file under `folder`, sorted by path.

    Hidden entries (names starting with `.`: temporary folders, editor files) are skipped.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return [(p.relative_to(folder).as_posix(), p.stat().st_size, file_digest(p)) for p in files]

"""Write outputs under a temporary name and rename them into place only when complete.

The one implementation of atomic writes (files and folders); temporary names record their owner
(:func:`recsys.utils.staging.owned_name`) so :func:`recsys.utils.staging.sweep_stale` can remove
what a killed process left behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recsys.utils.staging import owned_name


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``final``, on error it is deleted.

    A failed run therefore leaves no partial output and never touches a previous good ``final``.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = owned_name(final)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = owned_name(final, "old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = owned_name(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (JSON has no NaN) and numpy scalars
    made plain Python, recursively through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented, strict JSON (NaN -> ``null``) to ``path`` through a temporary file."""
    write_text_atomic(path, json.dumps(json_safe(payload), indent=2, sort_keys=False, allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; it is renamed to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = owned_name(path)
    tmp = tmp.with_name(tmp.name + path.suffix)  # numpy and pandas look at the suffix
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

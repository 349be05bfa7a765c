"""Checks of numeric data and split settings, run when a config is instantiated.

Each raises `ValueError` naming the setting as it is written on the command line
(`data.split.test_fraction`), the bad value and a fix, before any data is read or written.
"""

from __future__ import annotations

import re
from typing import Any

_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def _fail(setting: str, value: Any, rule: str, example: Any) -> None:
    raise ValueError(f"{setting}={value!r} {rule}. Fix: e.g. {setting}={example}")


def check_fraction(setting: str, value: Any, example: float, *, allow_zero: bool = False) -> None:
    """`value` is a real number in (0, 1) (`[0, 1)` with `allow_zero`)."""
    low = "[0" if allow_zero else "(0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(setting, value, f"is not a number in {low}, 1)", example)
    if not (0.0 <= value < 1.0) or (value == 0.0 and not allow_zero):
        _fail(setting, value, f"is not in {low}, 1)", example)


def check_int(setting: str, value: Any, example: int, *, minimum: int | None = None) -> None:
    """`value` is an integer (not a bool or a float), at least `minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(setting, value, "is not an integer", example)
    if minimum is not None and value < minimum:
        _fail(setting, value, f"is below {minimum}", example)


def check_number(setting: str, value: Any, example: float, *, minimum: float | None = None) -> None:
    """`value` is a real number, at least `minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(setting, value, "is not a number", example)
    if minimum is not None and value < minimum:
        _fail(setting, value, f"is below {minimum}", example)


def check_memory_limit(setting: str, value: Any) -> None:
    """`value` is null or a DuckDB memory size such as `4GB` or `512MiB`."""
    if value is not None and not (isinstance(value, str) and _MEMORY.match(value)):
        _fail(setting, value, "is not a memory size like 4GB or 512MiB (or null for DuckDB's default)", "4GB")

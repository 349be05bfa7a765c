"""Temporary names that record their owner, and the sweep of ones left by killed processes.

Every atomic write (`recsys.utils.atomic`: write into a temporary sibling, rename it into place
when complete, delete it on error) names its temporary after its owner:
`.<final>.tmp-<host>-<pid>-<random>`. A process killed with
SIGKILL (or by the OOM killer, or a power cut) never runs its clean-up, so
`sweep_stale(parent)` runs at the start of processing and removes such folders when, and only
when, their owner is provably gone: same host, that PID no longer exists, and the folder has not
been modified for `min_age_s`. A folder from another host, from a live PID, or with a name this
module did not write is never removed (the last two are logged, so GBs do not vanish unnoticed).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MIN_AGE_S = 600.0
_OWNED = re.compile(r"^\.(?P<final>.+)\.(?:tmp|old)-(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)-[0-9a-f]{8}$")
_LEGACY = re.compile(r"^\..+\.(?:tmp|old)-[0-9a-f]{8}$")


def _host() -> str:
    """This machine's name, reduced to characters safe in a folder name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def owned_name(final: Path, kind: str = "tmp") -> Path:
    """A sibling of `final` named after this process: `.<name>.<kind>-<host>-<pid>-<random>`."""
    return final.with_name(f".{final.name}.{kind}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host (a PID we may not signal counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(parent: Path, min_age_s: float = DEFAULT_MIN_AGE_S) -> list[Path]:
    """Removes temporary folders in `parent` whose owner process died on this host.

    Args:
        parent: The folder whose hidden `.<name>.tmp-*` / `.old-*` children are examined.
        min_age_s: A folder modified more recently than this is kept even if its PID is gone
            (guards against a PID checked in the instant between mkdir and first write).

    Returns:
        The folders removed.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    removed, host, now = [], _host(), time.time()
    for path in sorted(parent.iterdir()):
        match = _OWNED.match(path.name)
        if not path.is_dir() or not (match or _LEGACY.match(path.name)):
            continue
        if not match:
            log.warning("leaving %s: a temporary folder without an owner in its name (written "
                        "before owners were recorded); delete it by hand if no run uses it", path)
            continue
        if match["host"] != host or pid_alive(int(match["pid"])):
            continue
        if now - path.stat().st_mtime < min_age_s:
            continue
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by process %s that no longer runs", path, match["pid"])
        removed.append(path)
    return removed

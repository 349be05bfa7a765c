"""A real, throw-away ``redis-server`` for tests: free port, no persistence, killed by its PID.

``.ci/run`` installs the server (Debian package ``redis-server``); tests that need it fail, not
skip, when it is missing, so a CI machine without it cannot pass by testing nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from recsys.serving.server_process import free_port

MISSING = (
    "redis-server is not on PATH: the serving cache tests need a real Redis. "
    ".ci/run installs it (`apt-get install -y redis-server`); on a dev machine run "
    "`sudo apt-get install -y redis-server`."
)


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not installed."""


def _answers_ping(port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _start(executable: str, workdir: Path, startup_timeout: float) -> tuple[subprocess.Popen, int]:
    """Start one server; retries on a new port when the chosen one was taken in between."""
    last_log = ""
    for attempt in range(3):
        port = free_port()
        log_path = workdir / f"redis-{port}.log"
        args = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(workdir), "--daemonize", "no", "--logfile", str(log_path)]  # fmt: skip
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ping(port):
                return process, port
            time.sleep(0.05)
        _stop(process)
        last_log = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        if "Address already in use" not in last_log:
            break
    raise RuntimeError(f"redis-server did not answer PING within {startup_timeout} s. Its log:\n{last_log}")


@contextmanager
def running_redis(startup_timeout: float = 10.0) -> Iterator[str]:
    """Run ``redis-server`` on a free port of 127.0.0.1 and yield its URL (``redis://127.0.0.1:N/0``).

    The server keeps nothing on disk (``--save "" --appendonly no``, working directory a temporary
    folder) and is terminated (then killed) by its own PID on exit.

    Raises:
        RedisServerMissing: ``redis-server`` is not on PATH.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        raise RedisServerMissing(MISSING)
    with tempfile.TemporaryDirectory(prefix="recsys-redis-") as tmp:
        process, port = _start(executable, Path(tmp), startup_timeout)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)

"""Run ``bentoml serve`` as a child process (benchmarks and tests), stopped by its own PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import recsys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bentoml_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child server: its own model store, no usage tracking."""
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", **extra}


@contextmanager
def running_service(
    home: Path, log: Path, target: str = "service:Recommender", ready: bool = True, timeout: float = 180, **env: str
) -> Iterator[str]:
    """``bentoml serve <target>`` on a free port with the model store ``home``; yields the base URL
    once ``/readyz`` answers 200 (with ``ready=False``: once ``/livez`` does)."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", target, "--port", str(port), "--host", "127.0.0.1"],
            cwd=recsys.REPO_ROOT, env=bentoml_env(home, **env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/readyz" if ready else f"{url}/livez", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"bentoml serve not ready after {timeout} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its workers, by the server's own PID
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

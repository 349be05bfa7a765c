"""Start a real ``bentoml serve`` of this repository's service for tests, and stop it by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import recsys
from tests.helpers_redis import free_port


def bentoml_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server: its own model store, no tracking, quiet W&B."""
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", "WANDB_MODE": "disabled", **extra}


def package(run_dir: Path, home: Path, name: str = "recsys") -> str:
    """``recsys-package run_dir=<run>`` into the store ``home``; returns the tag."""
    result = subprocess.run(
        [sys.executable, "-m", "recsys.serving.package", f"run_dir={run_dir}", "--name", name],
        env=bentoml_env(home), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split(" as ", 1)[1].split(" ", 1)[0].rstrip(";")


@contextmanager
def running_service(home: Path, log: Path, ready: bool = True, timeout: float = 120, **env: str) -> Iterator[str]:
    """``bentoml serve`` on a free port with the store ``home``; yields the base URL once /readyz
    answers 200 (or, with ``ready=False``, once the server answers at all)."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "--port", str(port), "--host", "127.0.0.1"],
            cwd=recsys.REPO_ROOT, env=bentoml_env(home, **env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                status = httpx.get(f"{url}/readyz" if ready else f"{url}/livez", timeout=2).status_code
                if status == 200:
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

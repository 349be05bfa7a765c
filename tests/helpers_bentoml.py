"""Package a run into a test model store (the service itself runs through recsys.serving.server_process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recsys.serving.server_process import bentoml_env, running_service

__all__ = ["package", "running_service"]


def package(run_dir: Path, home: Path, name: str = "recsys") -> str:
    """``recsys-package run_dir=<run>`` into the store ``home``; returns the tag."""
    result = subprocess.run(
        [sys.executable, "-m", "recsys.serving.package", f"run_dir={run_dir}", "--name", name],
        env=bentoml_env(home, WANDB_MODE="disabled"), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split(" as ", 1)[1].split(" ", 1)[0].rstrip(";")

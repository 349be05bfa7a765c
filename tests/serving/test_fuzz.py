"""Property-based fuzzing of the service's OpenAPI spec with schemathesis: no 5xx, no hang."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # ~30 s: a service and schemathesis
def test_schemathesis_finds_no_server_error_and_no_hang(service_url: str, tmp_path: Path) -> None:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    result = subprocess.run(
        [
            executable, "run", f"{service_url}/docs.json",
            "--checks", "not_a_server_error",  # every generated request: a 2xx or a 4xx, never a 5xx
            "--max-examples", "25",
            "--request-timeout", "10",  # a hang fails the run
            "--seed", "1",
            "--header", "Authorization: Bearer test-token",  # the admin endpoints too
        ],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:]
    import httpx

    operations = sum(len(methods) for methods in httpx.get(f"{service_url}/docs.json").json()["paths"].values())
    assert f"Tested: {operations}" in result.stdout, result.stdout[-3000:]  # every operation was exercised

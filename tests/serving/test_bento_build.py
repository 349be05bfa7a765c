"""``bentoml build`` then serving the built Bento (not the checkout) answers as ``bentoml serve`` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import recsys
from recsys.serving.server_process import bentoml_env, running_service

pytestmark = pytest.mark.slow


def test_built_bento_serves_the_packaged_model(bentoml_home: Path, service_url: str, tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag"],
        cwd=recsys.REPO_ROOT, env=bentoml_env(bentoml_home), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().splitlines()[-1].replace("__tag__:", "")
    assert tag.startswith("recsys-service:"), built.stdout
    bento = bentoml_home / "bentos" / "recsys-service" / tag.split(":")[1]
    assert (bento / "src" / "conf" / "serve" / "serve.yaml").exists() and (bento / "src" / "service.py").exists()
    model_version = (bentoml_home / ".tag").read_text().split(":")[1]
    assert f"tag: recsys:{model_version}" in (bento / "bento.yaml").read_text()  # the Bento pins the packaged model
    with running_service(bentoml_home, tmp_path / "bento.log", target=tag) as url:
        from_bento = httpx.post(f"{url}/recommend", json={"user_id": 1, "k": 10}, timeout=30).json()
    from_checkout = httpx.post(f"{service_url}/recommend", json={"user_id": 1, "k": 10}, timeout=30).json()
    assert from_bento["items"] == from_checkout["items"] and from_bento["model_version"] == model_version

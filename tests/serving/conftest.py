"""Fixtures of the serving tests: a real redis-server, Debian's chromium, a trained and packaged run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_redis import MISSING, running_redis

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = (
    f"{CHROMIUM} is missing: the web page tests drive Debian's chromium with Playwright. "
    ".ci/run installs it (`apt-get install -y chromium`); on a dev machine run `sudo apt-get install -y chromium`."
)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="session")  # session: checked before the served model is trained
def browser():
    """Headless Debian chromium through Playwright (no browser download); fails when it is missing."""
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    expect.set_options(timeout=30_000)  # fold-in and explanations on a busy CPU
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a throw-away redis-server (free port, no persistence); fails when it is not installed."""
    if shutil.which("redis-server") is None:
        pytest.fail(MISSING, pytrace=False)
    with running_redis() as url:
        yield url


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, processed_root, bundled_dataset):
    """A two-tower run (default model, 2 epochs) on the bundled data, trained once per session."""
    from recsys.training.run import train
    from tests.compose import compose_train

    run_dir = tmp_path_factory.mktemp("served_run")
    cfg = compose_train(run_dir, processed_root, ["trainer.max_epochs=2"])
    train(cfg)
    return run_dir


@pytest.fixture(scope="session")
def serving_bundle_path(tmp_path_factory: pytest.TempPathFactory, trained_run):
    """The serving bundle of ``trained_run`` (Edge index included), written without BentoML."""
    from recsys.serving.bundle import write_bundle

    return write_bundle(trained_run, tmp_path_factory.mktemp("bundle") / "recsys", version="testversion1")


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory, trained_run):
    """A BentoML store holding ``trained_run`` packaged by ``recsys-package`` (the tag is in ``.tag``)."""
    from tests.helpers_bentoml import package

    home = tmp_path_factory.mktemp("bentoml_home")
    (home / ".tag").write_text(package(trained_run, home))
    return home


@pytest.fixture(scope="session")
def service_url(bentoml_home, tmp_path_factory: pytest.TempPathFactory):
    """A real ``bentoml serve`` of service.py on the packaged model (admin token ``test-token``)."""
    from tests.helpers_bentoml import running_service

    log = tmp_path_factory.mktemp("service") / "serve.log"
    with running_service(bentoml_home, log, RECSYS_ADMIN_TOKEN="test-token") as url:
        yield url


@pytest.fixture(scope="module")
def items(bundled_split):
    """The bundled data's items, indexed by item_idx: movieId, title, genres, year, popularity."""
    return bundled_split.items


@pytest.fixture(scope="module")
def history(bundled_split):
    """Every rating the model knows: train + val."""
    import pandas as pd

    return pd.concat([pd.DataFrame(vars(bundled_split.train)), pd.DataFrame(vars(bundled_split.val))], ignore_index=True)

"""`data/split` is a config group: every option composes, instantiates and names its split folder;
every numeric data and split setting is checked when the config is instantiated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra.utils import instantiate

import recsys
from recsys.data.prepare import MovieLensData
from tests.compose import compose_train

SPLITS = sorted(p.stem for p in (recsys.REPO_ROOT / "conf" / "data" / "split").glob("*.yaml"))


def test_every_standard_and_official_split_has_a_yaml() -> None:
    standard = {"random", "temporal_user", "temporal_global", "leave_last_out"}
    official = {f"ml100k_{fold}" for fold in ("u1", "u2", "u3", "u4", "u5", "ua", "ub")}
    assert set(SPLITS) == standard | official
    assert not (recsys.REPO_ROOT / "conf" / "splits").exists()


@pytest.mark.parametrize("option", SPLITS)
def test_split_option_composes_and_instantiates(option: str, tmp_path: Path, processed_root: Path) -> None:
    data_set = "ml_100k" if option.startswith("ml100k_") else "ml_latest_small"
    cfg = compose_train(tmp_path, processed_root, [f"data={data_set}", f"data/split={option}"])
    assert cfg.data.split.name == option
    data = instantiate(cfg.data, _convert_="all")
    assert isinstance(data, MovieLensData)
    assert data.split.name == data.split_name == option
    assert data.split.params()["kind"] == type(data.split).__name__


def test_the_chosen_split_names_the_processed_folder(tmp_path: Path, processed_root: Path) -> None:
    cfg = compose_train(tmp_path, tmp_path / "processed", ["data/split=temporal_user", "data.split.test_fraction=0.3"])
    prepared = instantiate(cfg.data, _convert_="all").prepare()
    assert prepared.split_dir.name.startswith("temporal_user-")
    assert prepared.split_statistics["split"]["test_fraction"] == 0.3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.split.test_fraction=1.5"], "data.split.test_fraction=1.5 is not in (0, 1)"),
        (["data.split.test_fraction=0"], "data.split.test_fraction=0 is not in (0, 1)"),
        (["data.split.val_fraction=-0.1"], "data.split.val_fraction=-0.1 is not in (0, 1)"),
        (["data.split.seed=0.5"], "data.split.seed=0.5 is not an integer"),
        (["data.split.name=a/b"], "data.split.name='a/b'"),
        (["data/split=leave_last_out", "data.split.n_test=0"], "data.split.n_test=0 is below 1"),
        (["data/split=leave_last_out", "data.split.n_val=1.5"], "data.split.n_val=1.5 is not an integer"),
        (["data=ml_100k", "data/split=ml100k_u1", "data.split.fold=u9"], "data.split.fold='u9'"),
        (["data.memory_limit=lots"], "data.memory_limit='lots' is not a memory size"),
        (["data.strict=maybe"], "data.strict='maybe' is not true or false"),
        (["data.reader.encoding=klingon"], "data.reader.encoding='klingon' is not supported"),
        (["data=synthetic", "data.generator.n_users=0"], "data.generator.n_users=0 is below 1"),
        (["data=synthetic", "+data.generator.tagger_fraction=2"], "data.generator.tagger_fraction=2"),
        (["data=synthetic", "data.chunk_users=0"], "data.chunk_users=0 is below 1"),
        (["data.split=random"], "data/split=temporal_user (not data.split=temporal_user)"),
    ],
)
def test_bad_settings_fail_at_instantiation_naming_the_setting(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    cfg = compose_train(tmp_path, tmp_path / "processed", overrides)
    with pytest.raises(Exception, match=re.escape(message)) as error:
        instantiate(cfg.data, _convert_="all")
    assert "Fix:" in str(error.value)
    assert not (tmp_path / "processed").exists()  # nothing was processed

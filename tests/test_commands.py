"""The installed commands: every ``[project.scripts]`` target resolves, parses ``--help`` and
writes to the untracked ``outputs/`` by default (never into ``experiments/``)."""

from __future__ import annotations

import importlib

import pytest

import recsys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

SCRIPTS = tomllib.loads((recsys.REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
OUTPUTS = recsys.REPO_ROOT / "outputs"


def _target(spec: str):
    module, _, function = spec.partition(":")
    return importlib.import_module(module), function


def test_every_command_is_declared() -> None:
    assert set(SCRIPTS) == {
        "recsys-leaderboard", "recsys-coverage-curve", "recsys-bench-processing", "recsys-bench-training",
        "recsys-bench-eval", "recsys-bench-rerank", "recsys-bench-scale", "recsys-download", "recsys-generate-synthetic", "recsys-eda",
        "recsys-loss-table", "recsys-loss-study", "recsys-bench-sweep", "recsys-bench-serving", "recsys-bench-retrieval", "recsys-package", "recsys-cold-start", "recsys-explain-report",
    }  # fmt: skip


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_command_target_resolves_and_parses_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    module, function = _target(SCRIPTS[command])
    main = getattr(module, function)
    assert callable(main)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("module", "name"),
    [("recsys.benchmarks.evaluation", "eval"), ("recsys.benchmarks.rerank", "rerank"),
     ("recsys.benchmarks.training", "training"), ("recsys.benchmarks.processing", "processing"),
     ("recsys.benchmarks.scale", "scale")],
)  # fmt: skip
def test_benchmarks_write_under_outputs_by_default(module: str, name: str) -> None:
    args = importlib.import_module(module).parse_args([])
    assert args.output == OUTPUTS / "benchmarks" / f"{name}.json"
    if hasattr(args, "work"):
        assert OUTPUTS in args.work.parents


def test_no_python_files_left_in_scripts() -> None:
    assert sorted(p.name for p in (recsys.REPO_ROOT / "scripts").glob("*.py")) == []

"""The cold-start measurement (``recsys-cold-start``) on the session's 2-epoch model, 60 test users."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys.reports import cold_start
from recsys.reports.cold_start import ALL, Scored, choose_thresholds, main, parse_ns
from recsys.serving.tiers import TierPolicy

MAX_USERS = 60
NS = "0,1,5,all"


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def measured(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """Runs the command once: (its --out folder, the results JSON, the run folder's files before)."""
    out = tmp_path_factory.mktemp("cold_start") / "report"
    before = _files(trained_run)
    default_existed = cold_start.OUTPUT_ROOT.exists()
    code = main(["--run", str(trained_run), "--out", str(out), "--max-users", str(MAX_USERS), "--ns", NS])
    assert code == 0
    assert default_existed or not cold_start.OUTPUT_ROOT.exists(), "wrote to the default output folder"
    assert _files(trained_run) == before, "the run folder was modified"
    return out, json.loads((out / "cold_start.json").read_text()), before


def test_writes_the_three_files_under_out_only(measured) -> None:
    out, results, _ = measured
    assert sorted(p.name for p in out.parent.iterdir()) == ["report"]
    assert sorted(p.name for p in out.iterdir()) == ["cold_start.json", "cold_start.md", "cold_start.png"]
    assert (out / "cold_start.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["n_users"] == MAX_USERS and results["ns"] == ["0", "1", "5", "all"]
    md = (out / "cold_start.md").read_text()
    assert "![NDCG@10 and recall@10 against n](cold_start.png)" in md and "recsys-cold-start --run" in md


def test_trained_embedding_equals_offline_evaluation_on_the_same_users(measured, trained_run: Path) -> None:
    from recsys.evaluation.evaluate import build_task, evaluate_vectors
    from recsys.training.build import load_split

    _, results, _ = measured
    cfg = OmegaConf.load(trained_run / "config.yaml")
    data = load_split(cfg.data)
    task = build_task(data, "test", instantiate(cfg.eval))
    users = torch.sort(task.users).values[:MAX_USERS]
    task.users = users
    user_vectors = torch.from_numpy(np.load(trained_run / "user_embeddings.npy"))
    report, _ = evaluate_vectors(task, data, user_vectors, torch.from_numpy(np.load(trained_run / "item_embeddings.npy")))
    trained = results["trained"]
    assert abs(trained["overall"]["ndcg@10"] - report.overall["ndcg@10"]) <= 1e-9
    assert abs(trained["overall"]["recall@10"] - report.overall["recall@10"]) <= 1e-9
    assert trained["matches_offline"] is True


def test_popular_equals_every_blend_at_n0_and_personal_is_undefined_there(measured) -> None:
    _, results, _ = measured
    curves = results["curves"]
    blends = [name for name in curves if name.startswith(("blend", "served"))]
    assert len(blends) == len(results["weights"]) + 2  # the fixed weights, serve.yaml's policy, the chosen policy
    for name in blends:
        assert curves[name]["0"] == curves["popular"]["0"], name
    assert "0" not in curves["personal"] and set(curves["personal"]) == {"1", "5", "all"}


def test_n_all_ratio_is_reported(measured) -> None:
    out, results, _ = measured
    ratio = results["ratio_at_all"]
    assert ratio["ratio"] == pytest.approx(ratio["personal"] / ratio["trained"])
    assert ratio["personal"] == results["curves"]["personal"][ALL]["ndcg@10"]
    assert ratio["bar"] == 0.9
    md = (out / "cold_start.md").read_text()
    assert f"{ratio['ratio']:.1%}** of the trained embedding" in md and "90% bar" in md


def test_thresholds_and_timings_are_reported(measured) -> None:
    out, results, _ = measured
    t = results["thresholds"]
    assert 1 <= t["blend_from"] <= t["personal_from"] and {t["blend_from"], t["personal_from"]} <= {1, 5}
    assert results["fold_in"]["1"]["count"] == MAX_USERS and results["fold_in"]["1"]["p95_ms"] > 0
    assert f"**blend_from = {t['blend_from']}**" in (out / "cold_start.md").read_text()
    chosen, sweep = results["chosen_tiers"], results["popularity_weight_sweep"]
    assert (chosen["blend_from"], chosen["personal_from"]) == (t["blend_from"], t["personal_from"])
    assert chosen["popularity_weight"] == sweep["best"] and sweep["mean"][str(sweep["best"])] == max(sweep["mean"].values())
    assert results["curves"][results["chosen_name"]]["1"]["ndcg@10"] == sweep["ndcg"][str(sweep["best"])]["1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--ns", "3,-1"], "-1 ratings is not possible"), (["--ns", "5,1"], "increasing order"),
     (["--weights", "1.5"], "strictly between 0 and 1"), (["--popularity-weights", "-1"], "popularity weights >= 0"),
     (["--max-users", "0"], "--max-users 0")],
)  # fmt: skip
def test_bad_arguments_exit_2_with_a_message(argv, message, trained_run: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--run", str(trained_run), "--out", str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_run_dir_exits_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--run", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "not a run directory of train.py (no config.yaml there)" in capsys.readouterr().err


def test_run_without_embeddings_exits_2(trained_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trained_run / "config.yaml", run / "config.yaml")
    assert main(["--run", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "lacks" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_parse_ns() -> None:
    assert parse_ns(cold_start.DEFAULT_NS) == [0, 1, 3, 5, 10, 15, 20, 50, ALL]
    for bad in ("1,1", "all,3", "x"):
        with pytest.raises(Exception):
            parse_ns(bad)


def test_profiles_use_all_a_short_user_has() -> None:
    items, ratings = np.array([7, 3, 9]), np.array([4.0, 5.0, 3.0], dtype=np.float32)
    pop = cold_start.Population(users=np.array([0]), train=[(items, ratings)], known=[(items[:1], ratings[:1])], exclude=[items])
    assert pop.profiles(2)[0][0].tolist() == [7, 3]
    assert pop.profiles(50)[0][0].tolist() == [7, 3, 9]
    assert pop.profiles(ALL)[0][0].tolist() == [7]


def test_choose_thresholds_rule() -> None:
    def curve(values: dict[str, float]) -> dict[str, Scored]:
        return {n: Scored({"ndcg@10": v}, np.full(4, v) + np.arange(4) * 0.01) for n, v in values.items()}

    curves = {
        "popular": curve({"1": 0.10, "3": 0.10, "5": 0.10, "10": 0.10}),
        "personal": curve({"1": 0.05, "3": 0.11, "5": 0.14, "10": 0.20}),
        "blend a": curve({"1": 0.09, "3": 0.12, "5": 0.15, "10": 0.19}),
        "blend b": curve({"1": 0.08, "3": 0.13, "5": 0.13, "10": 0.18}),
    }
    t = choose_thresholds(curves, [0, 1, 3, 5, 10, ALL], ["blend a", "blend b"])
    assert (t["blend_from"], t["personal_from"]) == (3, 10)
    assert t["best_blend"]["3"] == "blend b" and t["personal_vs_blend"]["diff"] == pytest.approx(0.01)
    # a served policy counts as a blend only where it blends: from personal_from on it IS personal
    curves["served"] = curve({"1": 0.11, "3": 0.10, "5": 0.14, "10": 0.20})
    t = choose_thresholds(curves, [0, 1, 3, 5, 10, ALL], ["blend a", "blend b"], ("served", TierPolicy(1, 5)))
    assert (t["blend_from"], t["personal_from"]) == (1, 10)
    assert t["best_blend"] == {"1": "served", "3": "blend b", "5": "blend a", "10": "blend a"}

"""Coverage curve: how much NDCG@10 each re-ranking strength costs for how much Coverage@10.

Usage:
    recsys-coverage-curve --run-dir outputs/train/<run>      # a trained two-tower run
    recsys-coverage-curve --train experiment=two_tower_best  # train one first

The run directory must hold ``config.yaml`` and the exported ``user_embeddings.npy`` /
``item_embeddings.npy``. Every setting is evaluated on the VALIDATION split; the reported setting
is chosen on validation only (highest val Coverage@10 among those losing at most
``--max-ndcg-loss`` of the un-re-ranked val NDCG@10), and its test numbers are reported beside.
Writes ``<out>/<name>.md`` and ``<out>/<name>.png`` (``--name``, default ``coverage_curve``; ``--out``,
default ``outputs/coverage_curve``; ``--out experiments`` refreshes the committed report).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

import recsys  # noqa: E402
from recsys.benchmarks.machine import summary  # noqa: E402
from recsys.data.interactions import SplitData  # noqa: E402
from recsys.evaluation.evaluate import build_task, evaluate_vectors  # noqa: E402
from recsys.evaluation.rerank import CoverageReranker, MMRReranker, NoRerank, PopularityPenaltyReranker  # noqa: E402
from recsys.evaluation.topk import topk_from_embeddings  # noqa: E402
from recsys.training.build import load_split  # noqa: E402
from recsys.utils.atomic import write_text_atomic  # noqa: E402
from recsys.utils.compose import compose_config  # noqa: E402

OUTPUT_ROOT = recsys.REPO_ROOT / "outputs" / "coverage_curve"

# penalty strengths in units of the model's score gap (median over val users of the score of the
# 1st minus the 10th item), so the sweep spans the same trade-off whatever the score scale
RELATIVE_STRENGTHS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
LAMBDAS = (0.95, 0.9, 0.8, 0.7, 0.5, 0.3, 0.1)
# coverage bonuses, already in units of the score gap (CoverageReranker normalises itself)
BONUSES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 1.6, 1.75, 2.0, 3.0)
CANDIDATES = (50, 100, 200)


def train_run(overrides: list[str], output_dir: Path) -> Path:
    """Train a two-tower run with ``conf/train.yaml`` + overrides into ``output_dir``."""
    from recsys.training.run import train

    train(compose_config(
        "train", ["logger=none", "trainer.enable_progress_bar=false", f"paths.output_dir={output_dir}", *overrides]
    ))  # fmt: skip
    return output_dir


def load_run(run_dir: Path) -> tuple[SplitData, torch.Tensor, torch.Tensor, dict]:
    """The run's data split and exported retrieval vectors (n_users, D), (n_items, D)."""
    cfg = OmegaConf.load(run_dir / "config.yaml")
    data = load_split(cfg.data)
    users = torch.from_numpy(np.load(run_dir / "user_embeddings.npy"))
    items = torch.from_numpy(np.load(run_dir / "item_embeddings.npy"))
    return data, users, items, OmegaConf.to_container(cfg.eval)


def score_gap(task, users: torch.Tensor, items: torch.Tensor) -> float:
    """Median over the task's users of score(1st item) - score(10th item), exclusions applied."""
    catalog_vectors = items[torch.as_tensor(task.catalog)]
    u = users[task.users]
    top = topk_from_embeddings(u, catalog_vectors, 10, exclude=task.exclude[task.users.numpy()])
    first = (u * catalog_vectors[top[:, 0]]).sum(dim=1)
    tenth = (u * catalog_vectors[top[:, 9]]).sum(dim=1)
    return float((first - tenth).median())


def settings(gap: float) -> list[tuple[str, object]]:
    """Every (name, re-ranker) of the sweep, ``none`` first; penalty strengths scaled by ``gap``."""
    out: list[tuple[str, object]] = [("none", NoRerank())]
    for n in CANDIDATES:
        out += [
            (f"popularity_penalty strength={r * gap:.3g} ({r}x gap) candidates={n}", PopularityPenaltyReranker(r * gap, n))
            for r in RELATIVE_STRENGTHS
        ]
        out += [(f"mmr lambda_={lam} candidates={n}", MMRReranker(lam, n)) for lam in LAMBDAS]
        out += [(f"coverage bonus={b} candidates={n}", CoverageReranker(bonus=b, cutoff=10, passes=3, candidates=n)) for b in BONUSES]
    return out


def sweep(data: SplitData, users: torch.Tensor, items: torch.Tensor, eval_cfg: dict) -> list[dict]:
    """Val and test NDCG@10 / Coverage@10 / novelty@10 for every setting."""
    protocol = instantiate(eval_cfg)
    tasks = {s: build_task(data, s, protocol) for s in ("val", "test")}
    gap = score_gap(tasks["val"], users, items)
    print(f"score gap (1st - 10th, median over val users): {gap:.4g}", file=sys.stderr)
    rows = []
    for name, reranker in settings(gap):
        row = {"setting": name, "kind": name.split()[0]}
        start = time.perf_counter()
        for split, task in tasks.items():
            report, _ = evaluate_vectors(task, data, users, items, reranker=reranker)
            for metric in ("ndcg@10", "recall@10", "coverage@10", "novelty@10"):
                row[f"{split}/{metric}"] = report.overall[metric]
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        print(f"{name:50s} val ndcg {row['val/ndcg@10']:.4f} cov {row['val/coverage@10']:.3f}", file=sys.stderr)
    return rows


def choose(rows: list[dict], max_loss: float, min_coverage: float) -> tuple[dict | None, dict]:
    """On validation only: the cheapest setting (highest val NDCG@10) reaching ``min_coverage``
    within the NDCG budget (None if there is none), and the highest-coverage setting within budget."""
    base = rows[0]["val/ndcg@10"]
    within = [r for r in rows[1:] if r["val/ndcg@10"] >= (1 - max_loss) * base]
    widest = max(within, key=lambda r: r["val/coverage@10"], default=rows[0])
    reaching = [r for r in within if r["val/coverage@10"] >= min_coverage]
    chosen = max(reaching, key=lambda r: (r["val/ndcg@10"], r["val/coverage@10"]), default=None)
    return chosen, widest


def plot(rows: list[dict], chosen: dict, path: Path) -> None:
    """Val NDCG@10 against val Coverage@10, one line per re-ranker and candidate depth."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for kind, marker in (("popularity_penalty", "o"), ("mmr", "s"), ("coverage", "^")):
        for n, style in zip(CANDIDATES, (":", "-", "--")):
            pts = [r for r in rows if r["kind"] == kind and f"candidates={n}" in r["setting"]]
            pts = [rows[0], *sorted(pts, key=lambda r: r["val/coverage@10"])]
            ax.plot([r["val/coverage@10"] for r in pts], [r["val/ndcg@10"] for r in pts], style,
                    marker=marker, ms=4, label=f"{kind} (N={n})")
    ax.scatter([rows[0]["val/coverage@10"]], [rows[0]["val/ndcg@10"]], c="k", zorder=5, label="no re-ranking")
    ax.scatter([chosen["val/coverage@10"]], [chosen["val/ndcg@10"]], s=160, facecolors="none",
               edgecolors="red", zorder=6, label="chosen on val")
    ax.axhline(0.95 * rows[0]["val/ndcg@10"], color="grey", ls=":", lw=1, label="-5% NDCG@10")
    ax.axvline(0.20, color="grey", ls="-.", lw=1, label="Coverage@10 = 20%")
    ax.set_xlabel("Coverage@10 (validation)")
    ax.set_ylabel("NDCG@10 (validation)")
    ax.set_title("Accuracy vs coverage under re-ranking")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def findings(rows: list[dict], chosen: dict | None, best: dict, args: argparse.Namespace) -> list[str]:
    """The report's two sentences: the chosen setting (or the closest) and the widest within budget."""
    base = rows[0]
    rel = lambda r, s: r[f"{s}/ndcg@10"] / base[f"{s}/ndcg@10"] - 1  # noqa: E731
    lines: list[str] = []
    if chosen is not None:
        lines.append(
            f"**Chosen: `{chosen['setting']}`**: val Coverage@10 {chosen['val/coverage@10']:.1%} "
            f"(from {base['val/coverage@10']:.1%}), val NDCG@10 {rel(chosen, 'val'):+.1%}; test Coverage@10 "
            f"{chosen['test/coverage@10']:.1%} (from {base['test/coverage@10']:.1%}), test NDCG@10 {rel(chosen, 'test'):+.1%}."
        )
    else:
        lines.append(
            f"**No setting reaches Coverage@10 >= {args.min_coverage:.0%} within the NDCG budget.** Closest: "
            f"`{best['setting']}` with val Coverage@10 {best['val/coverage@10']:.1%} (from "
            f"{base['val/coverage@10']:.1%}), val NDCG@10 {rel(best, 'val'):+.1%}; test Coverage@10 "
            f"{best['test/coverage@10']:.1%}, test NDCG@10 {rel(best, 'test'):+.1%}."
        )
    if chosen is not None:
        lines.append(
            f"The widest setting within the NDCG budget is `{best['setting']}`: val Coverage@10 "
            f"{best['val/coverage@10']:.1%} at val NDCG@10 {rel(best, 'val'):+.1%} (test Coverage@10 "
            f"{best['test/coverage@10']:.1%} at {rel(best, 'test'):+.1%})."
        )
    else:
        reaching = [r for r in rows if r["val/coverage@10"] >= args.min_coverage]
        if reaching:
            cheapest = max(reaching, key=lambda r: r["val/ndcg@10"])
            lines.append(
                f"The cheapest setting reaching val Coverage@10 >= {args.min_coverage:.0%} is `{cheapest['setting']}`: "
                f"val NDCG@10 {rel(cheapest, 'val'):+.1%} (test {rel(cheapest, 'test'):+.1%})."
            )
    return lines


def report(rows: list[dict], chosen: dict | None, best: dict, run_dir: Path, args: argparse.Namespace) -> str:
    """The markdown report: method, the chosen setting (or the closest), and one table row per setting."""
    base = rows[0]
    rel = lambda r, s: r[f"{s}/ndcg@10"] / base[f"{s}/ndcg@10"] - 1  # noqa: E731
    lines = [
        "# Coverage curve: re-ranking for catalogue coverage",
        "",
        f"Run: `{run_dir}`. Command: `recsys-coverage-curve {' '.join(args.argv)}`. Machine: {summary()}.",
        "",
        "Each setting re-ranks the top-N candidates of the exact full ranking (exclusions applied). "
        "Popularity-penalty strengths are multiples of the model's median val score gap between its 1st "
        "and 10th item, so the sweep adapts to the score scale. MMR's relevance is min-max normalised per user. "
        "The coverage re-ranker (coordinate ascent across users from the model's own lists, 3 passes) adds "
        "`bonus` score gaps to items no other user is shown in their top 10, and keeps the model's order among "
        "the items it picks. "
        "The setting is chosen on **validation** only: among the settings reaching val Coverage@10 >= "
        f"{args.min_coverage:.0%} while losing at most {args.max_ndcg_loss:.0%} of val NDCG@10, the one losing "
        "least; test is reported, never used to choose.",
        "",
    ]
    lines += findings(rows, chosen, best, args)
    lines += [
        "",
        "| setting | val NDCG@10 | Δ val | val Cov@10 | val novelty@10 | test NDCG@10 | Δ test | test Cov@10 | test recall@10 | s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = " **(chosen)**" if chosen is not None and r is chosen else ""
        lines.append(
            f"| {r['setting']}{mark} | {r['val/ndcg@10']:.4f} | {rel(r, 'val'):+.1%} | {r['val/coverage@10']:.3f} | "
            f"{r['val/novelty@10']:.3f} | {r['test/ndcg@10']:.4f} | {rel(r, 'test'):+.1%} | "
            f"{r['test/coverage@10']:.3f} | {r['test/recall@10']:.4f} | {r['seconds']:.1f} |"
        )
    lines += ["", f"![NDCG@10 vs Coverage@10]({args.name}.png)", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``argv`` is kept on the namespace for the report's command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run-dir", type=Path, help="a trained run with exported embeddings")
    group.add_argument("--train", nargs="*", metavar="OVERRIDE", help="train a run first with these overrides")
    parser.add_argument("--train-dir", type=Path, default=OUTPUT_ROOT / "run", help="run directory of --train")
    parser.add_argument("--out", type=Path, default=OUTPUT_ROOT, help="report folder (default: %(default)s)")
    parser.add_argument("--name", default="coverage_curve", help="file stem of the .md and .png written into --out")
    parser.add_argument("--max-ndcg-loss", type=float, default=0.05)
    parser.add_argument("--min-coverage", type=float, default=0.20)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return args


def run(args: argparse.Namespace) -> tuple[Path, dict | None]:
    """Run the sweep; returns the markdown path and the setting chosen on val (None if none qualifies)."""
    run_dir = args.run_dir if args.run_dir is not None else train_run(args.train, args.train_dir)
    data, users, items, eval_cfg = load_run(run_dir)
    rows = sweep(data, users, items, eval_cfg)
    chosen, best = choose(rows, args.max_ndcg_loss, args.min_coverage)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, chosen or best, args.out / f"{args.name}.png")
    write_text_atomic(args.out / f"{args.name}.md", report(rows, chosen, best, run_dir, args))
    print(f"wrote {args.out / (args.name + '.md')}; chosen: {(chosen or best)['setting']}")
    return args.out / f"{args.name}.md", chosen


def main(argv: list[str] | None = None) -> int:
    """The ``recsys-coverage-curve`` command; returns the exit code."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":  # python -m recsys.reports.coverage_curve (the installed command calls main too)
    raise SystemExit(main())

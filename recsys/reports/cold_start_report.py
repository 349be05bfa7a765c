"""The report of ``recsys-cold-start`` (:mod:`recsys.reports.cold_start`): the NDCG@10 / recall@10
curves against the number of ratings as a plot, the tables and the threshold decision in
``cold_start.md``, and the raw results in ``cold_start.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

NAME = "cold_start"
METRIC = "ndcg@10"
ALL = "all"


def plot(results: dict[str, Any], path: Path) -> None:
    """NDCG@10 and recall@10 against n for every condition, the trained embedding as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, curves = results["ns"], results["curves"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    for ax, metric in zip(axes, (METRIC, "recall@10")):
        for name, curve in curves.items():
            xs = [i for i, label in enumerate(labels) if label in curve]
            style = {"lw": 2.2} if name in ("popular", "personal") or name.startswith("served") else {"lw": 1.2, "ls": "--"}
            ax.plot(xs, [curve[labels[i]][metric] for i in xs], marker="o", ms=3, label=name, **style)
        ax.axhline(results["trained"]["overall"][metric], color="k", ls=":", label="trained embedding")
        if metric == METRIC:
            ax.axhline(0.9 * results["trained"]["overall"][metric], color="grey", ls=":", lw=0.8, label="90% of trained")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("ratings given (n)")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    t = results["thresholds"]
    for ax in axes:
        for key in ("blend_from", "personal_from"):
            if str(t[key]) in labels:
                ax.axvline(labels.index(str(t[key])), color="tab:red", alpha=0.25, lw=6)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Cold start: {results['n_users']} test users; shaded: chosen blend_from / personal_from")
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def _table(results: dict[str, Any], metric: str) -> list[str]:
    names = list(results["curves"])
    lines = ["| n | ratings given (mean) | " + " | ".join(names) + " |", "|---:|---:|" + "---:|" * len(names)]
    for label in results["ns"]:
        cells = [f"{c[label][metric]:.4f}" if label in c else "-" for c in results["curves"].values()]
        lines.append(f"| {label} | {results['profile_sizes'][label]['mean_ratings']:.1f} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The report: protocol, tables, reference, ratio, thresholds, timings, command and machine."""
    r, t, tr, tiers = results.get("ratio_at_all"), results["thresholds"], results["trained"], results["tiers_measured"]
    sizes = results["profile_sizes"]
    short = ", ".join(f"n={k}: {v['fewer_than_n']}" for k, v in sizes.items() if k != ALL and v["fewer_than_n"])
    lines = [
        "# Cold start, measured", "",
        f"Run `{results['run']}`; {results['n_users']} test users; {results['seconds']:.0f} s. Command:", "",
        f"    {results['command']}", "",
        "## Protocol", "",
        "- Users: the test split's evaluated users (at least one relevant test rating, `build_task(data, \"test\")`), "
        "treated as new users.",
        "- A user's first n ratings: their first n **train** ratings by timestamp; users with fewer use all they have "
        f"(users with fewer than n train ratings: {short or 'none'}); n = all: every train + val rating (of catalogue items).",
        "- Every ranking excludes all train + val items of the user (the offline test exclusions), so n = all is "
        "comparable with the trained embedding; relevance and metrics are the offline protocol's (`ranking_metrics`).",
        f"- Serving code throughout (`Recommender` on a temporary bundle, exact retriever): popular; personal (fold-in, "
        f"{results['fold_in_settings']}); the blend at fixed personal weights; `served` = the tier policy of serve.yaml "
        f"(blend_from={tiers['blend_from']}, personal_from={tiers['personal_from']}, weight n/personal_from, "
        f"popularity_weight={tiers['popularity_weight']}, candidates={tiers['candidates']}). Personal is undefined at n = 0; "
        "the blends at n = 0 use a zero profile vector (= popular).", "",
        "## NDCG@10", "", *_table(results, METRIC), "",
        "## Recall@10", "", *_table(results, "recall@10"), "",
        "## Coverage@10 (distinct items in the users' top 10 / catalogue: what popularity costs)", "",
        *_table(results, "coverage@10"), "",
        f"![NDCG@10 and recall@10 against n]({NAME}.png)", "",
        "## Reference: the trained embedding", "",
        f"- Trained embedding NDCG@10 on these users (serving path): **{tr['overall'][METRIC]:.4f}**; offline "
        f"`evaluate_vectors` on the same users: {tr['offline_same_users']:.4f} (match: {tr['matches_offline']}); "
        f"the run's metrics.json test ndcg@10: {tr['metrics_json']} over {tr['metrics_json_users']} users.",
    ]
    if r is not None:
        verdict = "meets" if r["ratio"] >= r["bar"] else "**misses**"
        lines += [
            f"- Fold-in at n = all: NDCG@10 {r['personal']:.4f} = **{r['ratio']:.1%}** of the trained embedding "
            f"(paired SE of the difference {r['paired_se']:.4f}); it {verdict} the 90% bar. From train ratings only "
            f"(what the embedding was fitted on): {r['personal_train_only']:.4f} = {r['ratio_train_only']:.1%}.",
        ]
    blends = results.get("trained_blends", {})
    if blends:
        lines.append("- The trained embedding through the blend (popularity mixed in, as a profile's vector would be): "
                     + ", ".join(f"{name.split(', ')[1]}: {v[METRIC]:.4f}" for name, v in blends.items()) + ".")  # fmt: skip
    bp, pb = t["blend_vs_popular"], t["personal_vs_blend"]
    lines += [
        "", "## Thresholds", "",
        "Rule: `blend_from` = the smallest measured n >= 1 where the blend (the best blend weight measured at that n: the "
        "fixed weights, and serve.yaml's n/personal_from where that policy blends) "
        "beats popular; `personal_from` = the smallest measured n >= blend_from where personal >= that blend. "
        "Thresholds lie on measured ns, so the true crossing lies between the previous measured n and the chosen one. "
        "`served (...)` is the policy serve.yaml held when this was measured; `served (chosen ...)` the one chosen here. "
        "Thresholds and popularity_weight are chosen on the same test users they are reported on.", "",
        f"- **blend_from = {t['blend_from']}**: {_decision(bp)}",
        f"- **personal_from = {t['personal_from']}**: {_decision(pb)}",
        *[f"- note: {note}" for note in t["notes"]],
        f"- Best blend per n: {', '.join(f'{k}: {v}' for k, v in t['best_blend'].items())}.", "",
        *_sweep_section(results),
        "## Fold-in time per user", "",
        "| n | fold-ins | mean ms | p95 ms |", "|---:|---:|---:|---:|",
        *[f"| {k} | {v['count']} | {v['mean_ms']:.1f} | {v['p95_ms']:.1f} |" for k, v in results["fold_in"].items() if v["count"]],
        "", "(Profiles identical to one at a smaller n, users short of n ratings, are folded in once and not re-timed.)", "",
        "## Machine", "",
        f"{results['machine_summary']}; load average before the run {', '.join(f'{x:.2f}' for x in results['loadavg_before'])}, "
        f"after {', '.join(f'{x:.2f}' for x in results['machine']['loadavg'])}.", "",
    ]
    return "\n".join(lines)


def _sweep_section(results: dict[str, Any]) -> list[str]:
    """The popularity_weight sweep of the chosen thresholds and the policies compared over every n."""
    sweep, chosen = results["popularity_weight_sweep"], results["chosen_tiers"]
    labels, best = sweep["blend_ns"], float(sweep["best"])
    p_from = chosen["personal_from"]
    lines = [
        "## popularity_weight for the chosen thresholds", "",
        f"The blend weight is linear, w = n / personal_from; a popularity_weight p ranks as the effective weight "
        f"n / (n + (personal_from - n) p) with p = 1 would, so p shapes the schedule. NDCG@10 of the served policy "
        f"(blend_from={chosen['blend_from']}, personal_from={p_from}) by p, mean over the ns it blends "
        f"({', '.join(labels) or 'none'}):", "",
        "| popularity_weight | " + " | ".join(f"n={x}" for x in labels) + " | mean |", "|---:|" + "---:|" * (len(labels) + 1),
    ]  # fmt: skip
    for weight, row in sweep["ndcg"].items():
        mark = " **(chosen)**" if float(weight) == best else ""
        lines.append(f"| {float(weight):g}{mark} | " + " | ".join(f"{row[x]:.4f}" for x in labels) + f" | {sweep['mean'][weight]:.4f} |")
    effective = ", ".join(f"{x}: {int(x) / (int(x) + (p_from - int(x)) * best):.2f}" for x in labels)
    lines += ["", f"Effective personal weight of the chosen policy by n: {effective or '-'}.", ""]
    numeric = [x for x in results["ns"] if x != "0"]
    for name in (results["served_name"], results["chosen_name"]):
        mean = np.mean([results["curves"][name][x][METRIC] for x in numeric])
        lines.append(f"- {name}: mean NDCG@10 over n = {', '.join(numeric)}: {mean:.4f}")
    versus = results["chosen_vs_served"]
    lines += ["", "Chosen minus serve.yaml's policy, NDCG@10 by n (paired SE):", "",
              "| n | " + " | ".join(numeric) + " |", "|---|" + "---:|" * len(numeric),
              "| difference | " + " | ".join(f"{versus[x]['diff']:+.4f} ({versus[x]['paired_se']:.4f})" for x in numeric)
              + " |"]  # fmt: skip
    return [*lines, ""]


def _decision(d: dict[str, Any]) -> str:
    names = [k for k in d if k not in ("n", "diff", "paired_se")]
    return (f"at n = {d['n']}, {names[0]} {d[names[0]]:.4f} vs {names[1]} {d[names[1]]:.4f} "
            f"(difference {d['diff']:+.4f}, paired SE {d['paired_se']:.4f})")  # fmt: skip


def write_outputs(results: dict[str, Any], out: Path) -> None:
    """``cold_start.json``, ``.png`` and ``.md`` into ``out``, each through a temporary name."""
    from recsys.utils.atomic import atomic_file, write_json_atomic, write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{NAME}.json", results)
    with atomic_file(out / f"{NAME}.png") as tmp:
        plot(results, tmp)
    write_text_atomic(out / f"{NAME}.md", markdown(results))

"""Re-rankers: hand-checked tiny cases, identities, and the evaluation hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import recsys
from recsys.evaluation.evaluate import build_task, evaluate_scorer, evaluate_vectors
from recsys.evaluation.protocol import EvaluationProtocol
from recsys.evaluation.rerank import CoverageReranker, MMRReranker, NoRerank, PopularityPenaltyReranker, Reranker

RERANKERS = [
    NoRerank(candidates=5),
    MMRReranker(0.5, candidates=5),
    PopularityPenaltyReranker(0.5, candidates=5),
    CoverageReranker(1.0, cutoff=2, candidates=5),
]

# three items: 0 and 1 are near-duplicates, 2 points elsewhere
VECTORS = torch.tensor([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0]])
POPULARITY = np.array([100, 10, 1])


def test_mmr_picks_a_diverse_item_over_a_near_duplicate() -> None:
    candidates = torch.tensor([[0, 1, 2]])
    scores = torch.tensor([[0.9, 0.85, 0.7]])
    # rel = [1, 0.75, 0]; after item 0: item 1 scores 0.5*0.75 - 0.5*0.99 < 0, item 2 scores 0 - 0 = 0
    top = MMRReranker(lambda_=0.5).rerank(candidates, scores, 2, VECTORS, POPULARITY)
    assert top.tolist() == [[0, 2]]


def test_mmr_is_vectorised_per_user() -> None:
    candidates = torch.tensor([[0, 1, 2], [2, 1, 0]])
    scores = torch.tensor([[0.9, 0.85, 0.7], [0.9, 0.8, 0.79]])
    top = MMRReranker(lambda_=0.5).rerank(candidates, scores, 3, VECTORS, POPULARITY)
    # user 1: after 2, items 1 (rel 0.09, sim .141) and 0 (rel 0, sim 0): 0.045-0.07 < 0 -> item 0
    assert top.tolist() == [[0, 2, 1], [2, 0, 1]]


def test_popularity_penalty_demotes_a_popular_item() -> None:
    candidates = torch.tensor([[0, 2, 1]])
    scores = torch.tensor([[0.9, 0.8, 0.5]])
    # penalty = log1p(pop) / log1p(100): item 0 -> 1.0, item 2 -> 0.15, item 1 -> 0.52
    top = PopularityPenaltyReranker(strength=0.2).rerank(candidates, scores, 3, VECTORS, POPULARITY)
    assert top.tolist() == [[2, 0, 1]]  # 0.77 > 0.70 > 0.40


def test_coverage_reranker_by_hand() -> None:
    # both users rank item 0 first; the gap (1st - 2nd score) is 0.2 for user 0 and 0.1 for user 1
    candidates = torch.tensor([[0, 1, 2], [0, 1, 2]])
    scores = torch.tensor([[1.0, 0.8, 0.7], [1.0, 0.9, 0.5]])
    reranker = CoverageReranker(bonus=1.0, cutoff=1)
    assert reranker.score_gap(scores.double(), torch.ones_like(scores, dtype=torch.bool)) == pytest.approx(0.15)
    # user 0 keeps its order (nothing shown yet); for user 1, item 0 (already shown) scores
    # 1.0/0.15 = 6.67 while item 1 scores 0.9/0.15 + 1 = 7.0 and item 2 scores 3.33 + 1 = 4.33
    assert reranker.rerank(candidates, scores, 3, VECTORS, POPULARITY).tolist() == [[0, 1, 2], [1, 0, 2]]
    # a smaller bonus keeps the shown item first: 6.67 > 6.0 + 0.5
    assert CoverageReranker(bonus=0.5, cutoff=1).rerank(candidates, scores, 3, VECTORS, POPULARITY).tolist() == [
        [0, 1, 2],
        [0, 1, 2],
    ]
    with pytest.raises(ValueError, match="bonus"):
        CoverageReranker(bonus=-1.0)
    with pytest.raises(ValueError, match="cutoff"):
        CoverageReranker(cutoff=0)
    with pytest.raises(ValueError, match="passes"):
        CoverageReranker(passes=0)


def test_coverage_reranker_keeps_the_model_order_inside_the_picked_set() -> None:
    candidates = torch.tensor([[0, 1, 3], [0, 1, 2]])
    scores = torch.tensor([[1.0, 0.9, 0.1], [1.0, 0.95, 0.9]])
    top = CoverageReranker(bonus=5.0, cutoff=2, passes=1).rerank(candidates, scores, 3, VECTORS, POPULARITY)
    # user 0 shows {0, 1}; user 1 then prefers the unshown item 2 to its 2nd item 1, and keeps its
    # best item 0 too (every score + nothing beats it): listed in model order, then the rest
    assert top.tolist() == [[0, 1, 3], [0, 2, 1]]


def test_coverage_passes_never_lower_the_objective() -> None:
    gen = torch.Generator().manual_seed(3)
    n_users, n_items, n = 40, 60, 15
    weights = 1.0 / torch.arange(1, n_items + 1, dtype=torch.float64)
    candidates = torch.stack([torch.multinomial(weights, n, generator=gen) for _ in range(n_users)])
    scores = torch.rand(n_users, n, generator=gen, dtype=torch.float64).sort(dim=1, descending=True).values
    vectors = torch.zeros(n_items, 2)
    values = []
    for passes in (1, 2, 4):
        reranker = CoverageReranker(bonus=1.0, cutoff=5, passes=passes)
        top = reranker.rerank(candidates, scores, 5, vectors, np.ones(n_items))
        values.append(reranker.objective(candidates, scores, top))
    plain = CoverageReranker(bonus=1.0, cutoff=5).objective(candidates, scores, candidates[:, :5])
    assert plain < values[0] <= values[1] + 1e-9 <= values[2] + 2e-9  # each step is a best response


@pytest.mark.parametrize(
    "reranker", [NoRerank(), MMRReranker(lambda_=1.0), PopularityPenaltyReranker(strength=0.0), CoverageReranker(bonus=0.0)]
)
def test_neutral_settings_are_the_identity(reranker) -> None:
    gen = torch.Generator().manual_seed(0)
    scores, order = torch.rand(7, 20, generator=gen).sort(dim=1, descending=True)
    candidates = torch.randperm(50, generator=gen)[:20].repeat(7, 1).gather(1, order)
    vectors = torch.randn(50, 4, generator=gen)
    top = reranker.rerank(candidates, scores, 10, vectors, np.arange(50) + 1)
    assert torch.equal(top, candidates[:, :10])


@pytest.mark.parametrize("reranker", RERANKERS, ids=repr)
def test_padding_and_short_lists(reranker) -> None:
    candidates = torch.tensor([[0, 2, -1], [1, -1, -1]])
    scores = torch.tensor([[0.9, 0.5, float("-inf")], [0.3, float("-inf"), float("-inf")]])
    top = reranker.rerank(candidates, scores, 4, VECTORS, POPULARITY)
    assert top.shape == (2, 4)
    assert sorted(top[0, :2].tolist()) == [0, 2] and top[0, 2:].tolist() == [-1, -1]
    assert top[1].tolist() == [1, -1, -1, -1]


@pytest.mark.parametrize("option", ["none", "mmr", "popularity_penalty", "coverage"])
def test_configs_instantiate_with_one_interface(option: str) -> None:
    from omegaconf import OmegaConf

    reranker = instantiate(OmegaConf.load(recsys.REPO_ROOT / "conf" / "rerank" / f"{option}.yaml"))
    assert isinstance(reranker, Reranker) and reranker.candidates >= 100
    top = reranker.rerank(torch.tensor([[0, 1, 2]]), torch.tensor([[0.9, 0.85, 0.7]]), 2, VECTORS, POPULARITY)
    assert top.shape == (1, 2)


def _exclusions_respected(task, topk) -> None:
    users = task.users.numpy()
    excluded = task.exclude[users]
    for row, items in enumerate(topk.numpy()):
        items = items[items >= 0]
        assert len(set(items)) == len(items)
        assert not excluded[row, items].toarray().any()


def test_evaluation_hook_improves_coverage_and_respects_exclusions(bundled_split) -> None:
    data = bundled_split
    task = build_task(data, "val", EvaluationProtocol(relevance_threshold=4.0, ks=(5, 10)))
    gen = torch.Generator().manual_seed(0)
    users, items = torch.randn(data.n_users, 16, generator=gen), torch.randn(data.n_items, 16, generator=gen)
    items = items + torch.from_numpy(np.log1p(data.item_counts())).float()[:, None] * 0.5  # popular items win
    base, base_top = evaluate_vectors(task, data, users, items)
    same, same_top = evaluate_vectors(task, data, users, items, reranker=NoRerank())
    assert torch.equal(base_top, same_top)
    ident, ident_top = evaluate_vectors(task, data, users, items, reranker=PopularityPenaltyReranker(0.0, 50))
    assert torch.equal(base_top, ident_top)
    penalised, top = evaluate_vectors(task, data, users, items, reranker=PopularityPenaltyReranker(5.0, 50))
    assert top.shape == base_top.shape
    assert penalised.overall["coverage@10"] > base.overall["coverage@10"]
    assert penalised.overall["novelty@10"] < base.overall["novelty@10"]
    _exclusions_respected(task, top)
    # MMR promises intra-list diversity (not coverage): lower mean pairwise cosine in each list
    _, top = evaluate_vectors(task, data, users, items, reranker=MMRReranker(0.3, 50))
    assert top.shape == base_top.shape
    catalog_vectors = torch.nn.functional.normalize(items[torch.as_tensor(task.catalog)], dim=1)
    assert _mean_pairwise_cosine(top, catalog_vectors) < _mean_pairwise_cosine(base_top, catalog_vectors) - 0.1
    _exclusions_respected(task, top)


def _mean_pairwise_cosine(topk: torch.Tensor, vectors: torch.Tensor) -> float:
    v = vectors[topk.clamp(min=0)]  # (U, K, D)
    sim = v @ v.transpose(1, 2)
    k = topk.shape[1]
    return float((sim.sum(dim=(1, 2)) - k).mean() / (k * (k - 1)))


def test_coverage_reranker_raises_coverage_through_both_drivers(bundled_split) -> None:
    data = bundled_split
    task = build_task(data, "val", EvaluationProtocol(relevance_threshold=4.0, ks=(5, 10), chunk_size=100))
    gen = torch.Generator().manual_seed(2)
    users, items = torch.randn(data.n_users, 16, generator=gen), torch.randn(data.n_items, 16, generator=gen)
    items = items + torch.from_numpy(np.log1p(data.item_counts())).float()[:, None] * 0.5
    base, _ = evaluate_vectors(task, data, users, items)
    reranker = CoverageReranker(bonus=2.0, cutoff=10, candidates=50)
    spread, top = evaluate_vectors(task, data, users, items, reranker=reranker)
    assert spread.overall["coverage@10"] > 1.5 * base.overall["coverage@10"]
    _exclusions_respected(task, top)
    # users are re-ranked in one pass, so the result does not depend on how scores are chunked
    _, by_scorer = evaluate_scorer(task, data, lambda u: users[u] @ items.T, chunk_size=37, reranker=reranker)
    assert torch.equal(top, by_scorer)


def test_scorer_hook_matches_vectors(bundled_split) -> None:
    data = bundled_split
    task = build_task(data, "test", EvaluationProtocol(relevance_threshold=4.0, ks=(10,)))
    gen = torch.Generator().manual_seed(1)
    users, items = torch.randn(data.n_users, 8, generator=gen), torch.randn(data.n_items, 8, generator=gen)
    reranker = PopularityPenaltyReranker(0.5, 30)
    _, by_vectors = evaluate_vectors(task, data, users, items, reranker=reranker)
    _, by_scorer = evaluate_scorer(task, data, lambda u: users[u] @ items.T, reranker=reranker)
    assert torch.equal(by_vectors, by_scorer)
    report, topk = evaluate_scorer(task, data, lambda u: users[u] @ items.T, reranker=MMRReranker(0.5, 30))
    assert topk.shape == (len(task.users), 10) and 0 < report.overall["coverage@10"] <= 1
    _exclusions_respected(task, topk)


def test_train_applies_the_configured_reranker(tmp_path, processed_root, bundled_dataset) -> None:
    from recsys.training.run import train
    from tests.compose import compose_train

    plain, _ = train(compose_train(tmp_path / "plain", processed_root, ["model=popularity"]))
    penalised, _ = train(compose_train(
        tmp_path / "penalty", processed_root, ["model=popularity", "rerank=popularity_penalty", "rerank.strength=1000"]
    ))
    for split in ("val", "test"):
        assert penalised[split]["coverage@10"] > plain[split]["coverage@10"]
        assert penalised[split]["novelty@10"] < plain[split]["novelty@10"]

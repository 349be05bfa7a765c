"""Every loss equals a hand (numpy) computation on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys.losses import (
    BPRLoss,
    CombinedLoss,
    FullSoftmaxLoss,
    InBatchSoftmaxLoss,
    MSELoss,
    PopularityNegativeSampler,
    SampledSoftmaxLoss,
    TowerOutputs,
    UniformNegativeSampler,
)
from recsys.models.similarity import CosineSimilarity, DotSimilarity

USER = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
POS = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
NEG = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [2.0, 2.0]], [[0.5, 0.5], [3.0, 0.0]]])
POS_IDX = np.array([3, 1, 3])
NEG_IDX = np.array([[0, 2], [4, 1], [2, 0]])  # row 1: the second negative is its own positive
RATING = np.array([4.0, 2.0, 5.0])
ALL = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
COUNTS = np.array([10.0, 5.0, 1.0, 4.0, 2.0])


def t(x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def outputs(sim=None, dtype=torch.float32) -> TowerOutputs:
    return TowerOutputs(
        user=t(USER, dtype), pos_item=t(POS, dtype), rating=t(RATING), pos_item_idx=t(POS_IDX, torch.long),
        neg_item=t(NEG, dtype), neg_item_idx=t(NEG_IDX, torch.long), all_items=t(ALL, dtype),
        similarity=sim or DotSimilarity(),
    )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def ce(logits: np.ndarray, label: int) -> float:
    finite = logits[np.isfinite(logits)]
    return float(np.log(np.exp(finite).sum()) - logits[label])


def test_mse_cosine() -> None:
    pred = [0.5 + 4.5 * (cosine(u, p) + 1) / 2 for u, p in zip(USER, POS)]
    want = np.mean((np.array(pred) - RATING) ** 2)
    got = MSELoss()(outputs(CosineSimilarity(temperature=0.2)))
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_mse_dot_uses_tanh() -> None:
    pred = [0.5 + 4.5 * (math.tanh(u @ p) + 1) / 2 for u, p in zip(USER, POS)]
    want = np.mean((np.array(pred) - RATING) ** 2)
    assert MSELoss()(outputs()).item() == pytest.approx(want, rel=1e-5)


def bpr_by_hand(mask_hits: bool = True, temperature: float = 1.0) -> float:
    terms = []
    for b in range(3):
        for n in range(2):
            if mask_hits and NEG_IDX[b, n] == POS_IDX[b]:
                continue
            diff = (USER[b] @ POS[b] - USER[b] @ NEG[b, n]) / temperature
            terms.append(math.log1p(math.exp(-diff)))
    return float(np.mean(terms))


def test_bpr() -> None:
    sampler = UniformNegativeSampler(2)
    assert BPRLoss(sampler)(outputs()).item() == pytest.approx(bpr_by_hand(), rel=1e-5)
    out = outputs()
    out.neg_item_idx = None
    assert BPRLoss(sampler)(out).item() == pytest.approx(bpr_by_hand(False), rel=1e-5)


def test_bpr_temperature_divides_the_score_difference_by_hand() -> None:
    loss = BPRLoss(UniformNegativeSampler(2), temperature=0.25)
    assert loss(outputs()).item() == pytest.approx(bpr_by_hand(temperature=0.25), rel=1e-5)
    assert loss(outputs()).item() != pytest.approx(bpr_by_hand(), rel=1e-3)


def test_bpr_temperature_on_a_cosine_by_hand() -> None:
    terms = []
    for b in range(3):
        for n in range(2):
            if NEG_IDX[b, n] != POS_IDX[b]:
                diff = (cosine(USER[b], POS[b]) - cosine(USER[b], NEG[b, n])) / 0.1
                terms.append(math.log1p(math.exp(-diff)))
    got = BPRLoss(UniformNegativeSampler(2), temperature=0.1)(outputs(CosineSimilarity()))
    assert got.item() == pytest.approx(float(np.mean(terms)), rel=1e-5)


def mixed_candidates(b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row b's negatives: its 2 sampled items then the 3 in-batch positives (dot scores)."""
    idx = np.concatenate([NEG_IDX[b], POS_IDX])
    scores = np.concatenate([NEG[b] @ USER[b], POS @ USER[b]])
    return scores, idx, idx != POS_IDX[b]


def log_draws(idx: np.ndarray, q_sampler: np.ndarray) -> np.ndarray:
    """log(N q_sampler + B q_batch) with N = 2 sampled, B = 3 in-batch and q_batch = counts / total."""
    q_batch = COUNTS / COUNTS.sum()
    return np.log(2 * q_sampler[idx] + 3 * q_batch[idx])


@pytest.mark.parametrize("correction", [True, False])
def test_bpr_in_batch_negatives_with_logq_by_hand(correction: bool) -> None:
    sampler = PopularityNegativeSampler(2, alpha=1.0)
    loss = BPRLoss(sampler, temperature=0.5, logq_correction=correction, in_batch_negatives=True)
    loss.setup(torch.tensor(COUNTS))
    q = COUNTS / COUNTS.sum()
    terms = []
    for b in range(3):
        scores, idx, valid = mixed_candidates(b)
        diff = (USER[b] @ POS[b] - scores) / 0.5
        if correction:
            diff = diff - log_draws(np.array([POS_IDX[b]]), q) + log_draws(idx, q)
        terms += [math.log1p(math.exp(-d)) for d, v in zip(diff, valid) if v]
    assert loss(outputs()).item() == pytest.approx(float(np.mean(terms)), rel=1e-5)


def test_bpr_logq_is_a_no_op_for_uniform_negatives_alone() -> None:
    sampler = UniformNegativeSampler(2)
    loss = BPRLoss(sampler, temperature=0.5, logq_correction=True)
    loss.setup(torch.tensor(COUNTS))
    assert loss(outputs()).item() == pytest.approx(bpr_by_hand(temperature=0.5), rel=1e-5)


def test_sampled_softmax_mixed_negatives_by_hand() -> None:
    sampler = UniformNegativeSampler(2)
    loss = SampledSoftmaxLoss(sampler, temperature=0.5, logq_correction=True, in_batch_negatives=True)
    loss.setup(torch.tensor(COUNTS))
    q_uniform = np.full(5, 1 / 5)
    rows = []
    for b in range(3):
        scores, idx, valid = mixed_candidates(b)
        cand = np.concatenate([[USER[b] @ POS[b]], scores]) / 0.5
        cand = cand - log_draws(np.concatenate([[POS_IDX[b]], idx]), q_uniform)
        cand[1:][~valid] = -np.inf
        rows.append(cand)
    logits = np.stack(rows)
    assert logits.shape == (3, 1 + 2 + 3)
    assert np.allclose(loss.logits(outputs()).numpy(), logits, atol=1e-5)
    assert loss(outputs()).item() == pytest.approx(np.mean([ce(r, 0) for r in logits]), rel=1e-5)
    with pytest.raises(RuntimeError, match="setup"):
        SampledSoftmaxLoss(sampler, in_batch_negatives=True)(outputs())


def mse_negatives_by_hand(weight: float, target: float, bound=math.tanh, score=lambda u, v: u @ v) -> float:
    """Observed squared errors averaged, plus weight x the mean over non-colliding negatives."""
    pred = lambda u, v: 0.5 + 4.5 * (bound(score(u, v)) + 1) / 2  # noqa: E731
    observed = np.mean([(pred(u, p) - r) ** 2 for u, p, r in zip(USER, POS, RATING)])
    unobserved = [
        (pred(USER[b], NEG[b, n]) - target) ** 2 for b in range(3) for n in range(2) if NEG_IDX[b, n] != POS_IDX[b]
    ]
    return float(observed + weight * np.mean(unobserved))


def test_mse_with_unobserved_items_by_hand() -> None:
    loss = MSELoss(negative_sampler=UniformNegativeSampler(2), negative_weight=0.5, negative_rating=1.0)
    assert loss.needs_negatives and loss.negative_sampler is not None
    assert loss(outputs()).item() == pytest.approx(mse_negatives_by_hand(0.5, 1.0), rel=1e-5)
    # negative_rating defaults to min_rating; the cosine bound is the cosine itself
    loss = MSELoss(negative_sampler=UniformNegativeSampler(2), negative_weight=2.0)
    want = mse_negatives_by_hand(2.0, 0.5, bound=lambda x: x, score=cosine)
    assert loss(outputs(CosineSimilarity(temperature=0.2))).item() == pytest.approx(want, rel=1e-5)


def test_mse_without_negative_weight_needs_no_negatives() -> None:
    loss = MSELoss(negative_sampler=UniformNegativeSampler(2), negative_weight=0.0)
    assert not loss.needs_negatives and loss.negative_sampler is None
    out = outputs()
    out.neg_item = out.neg_item_idx = None
    assert loss(out).item() == pytest.approx(mse_negatives_by_hand(0.0, 0.5), rel=1e-5)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: BPRLoss(UniformNegativeSampler(2), temperature=0.0), "temperature"),
        (lambda: BPRLoss(UniformNegativeSampler(2), temperature=-1.0), "temperature"),
        (lambda: InBatchSoftmaxLoss(temperature=0.0), "temperature"),
        (lambda: SampledSoftmaxLoss(UniformNegativeSampler(2), temperature=-0.1), "temperature"),
        (lambda: FullSoftmaxLoss(temperature=0.0), "temperature"),
        (lambda: CombinedLoss(negative_sampler=UniformNegativeSampler(2), temperature=0.0), "temperature"),
        (lambda: MSELoss(negative_sampler=UniformNegativeSampler(2), negative_weight=-1.0), "negative_weight"),
        (lambda: MSELoss(negative_weight=1.0), "negative_sampler"),
        (lambda: MSELoss(negative_sampler=UniformNegativeSampler(2), negative_weight=1.0, negative_rating=9.0), "negative_rating"),
        (lambda: MSELoss(min_rating=5.0, max_rating=1.0), "min_rating"),
        (lambda: CombinedLoss(mse_weight=-1.0, negative_sampler=UniformNegativeSampler(2)), "mse_weight"),
        (lambda: CombinedLoss(mse_weight=0.0, bpr_weight=0.0, negative_sampler=UniformNegativeSampler(2)), "bpr_weight"),
        (lambda: UniformNegativeSampler(0), "num_negatives"),
        (lambda: PopularityNegativeSampler(2, alpha=-0.5), "alpha"),
    ],
)
def test_invalid_options_are_clear_errors(make, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


def test_combined() -> None:
    pred = [0.5 + 4.5 * (math.tanh(u @ p) + 1) / 2 for u, p in zip(USER, POS)]
    mse = np.mean((np.array(pred) - RATING) ** 2)
    loss = CombinedLoss(mse_weight=0.7, bpr_weight=0.3, negative_sampler=UniformNegativeSampler(2))
    assert loss(outputs()).item() == pytest.approx(0.7 * mse + 0.3 * bpr_by_hand(), rel=1e-5)
    assert loss.needs_negatives and loss.needs_rating and loss.negative_sampler is not None


def test_combined_passes_temperature_and_unobserved_items_on_by_hand() -> None:
    loss = CombinedLoss(
        mse_weight=0.6, bpr_weight=0.4, negative_sampler=UniformNegativeSampler(2),
        temperature=0.5, negative_weight=0.25, negative_rating=1.0,
    )
    want = 0.6 * mse_negatives_by_hand(0.25, 1.0) + 0.4 * bpr_by_hand(temperature=0.5)
    assert loss(outputs()).item() == pytest.approx(want, rel=1e-5)


def in_batch_logits(temperature: float, log_q: np.ndarray | None) -> np.ndarray:
    logits = USER @ POS.T / temperature
    if log_q is not None:
        logits = logits - log_q[POS_IDX][None, :]
    for i in range(3):
        for j in range(3):
            if i != j and POS_IDX[i] == POS_IDX[j]:
                logits[i, j] = -np.inf
    return logits


@pytest.mark.parametrize("correction", [True, False])
def test_in_batch_softmax(correction: bool) -> None:
    loss = InBatchSoftmaxLoss(temperature=0.5, logq_correction=correction)
    loss.setup(torch.tensor(COUNTS))
    log_q = np.log(np.maximum(COUNTS, 1) / np.maximum(COUNTS, 1).sum()) if correction else None
    logits = in_batch_logits(0.5, log_q)
    assert np.allclose(loss.logits(outputs()).numpy(), logits, atol=1e-5)
    want = np.mean([ce(logits[i], i) for i in range(3)])
    assert loss(outputs()).item() == pytest.approx(want, rel=1e-5)


def test_in_batch_logq_shift_and_duplicate_mask() -> None:
    on, off = InBatchSoftmaxLoss(0.5, True), InBatchSoftmaxLoss(0.5, False)
    on.setup(torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0]))
    diff = (on.logits(outputs()) - off.logits(outputs())).numpy()
    log_q = np.log(np.array([1.0, 2.0, 3.0, 4.0, 10.0]) / 20.0)
    finite = np.isfinite(diff)
    assert np.allclose(diff[finite], np.broadcast_to(-log_q[POS_IDX], (3, 3))[finite], atol=1e-5)
    masked = ~np.isfinite(on.logits(outputs()).numpy())
    assert masked.tolist() == [[False, False, True], [False] * 3, [True, False, False]]


@pytest.mark.parametrize("world_size", [2, 4])
def test_in_batch_softmax_over_gathered_candidates_is_the_global_batch_split_by_rank(world_size: int) -> None:
    """What DDP ranks compute with the gathered batch (``batch_items``, ``batch_offset``): each rank's
    logits are its rows of the single-process logits, and the mean of the ranks' losses (DDP's
    gradient average) has the single-process loss's gradient, towards users and items."""
    torch.manual_seed(0)
    b = 5
    users = torch.randn(world_size * b, 4, requires_grad=True)
    items = torch.randn(world_size * b, 4, requires_grad=True)
    idx = torch.randint(0, 6, (world_size * b,))  # duplicates across ranks: masked the same way
    loss = InBatchSoftmaxLoss(temperature=0.2)
    loss.setup(torch.arange(1.0, 7.0))

    def out(u, i, rows, **gathered):
        return TowerOutputs(user=u[rows], pos_item=i[rows], rating=None, pos_item_idx=idx[rows],
                            similarity=CosineSimilarity(), **gathered)

    everything = slice(None)
    single_logits = loss.logits(out(users, items, everything))
    single = loss(out(users, items, everything))
    grads_single = torch.autograd.grad(single, (users, items))
    ranks = []
    for r in range(world_size):
        rows = slice(r * b, (r + 1) * b)
        rank_out = out(users, items, rows, batch_items=items, batch_item_idx=idx, batch_offset=r * b)
        torch.testing.assert_close(loss.logits(rank_out), single_logits[rows])
        ranks.append(loss(rank_out))
    grads_ranks = torch.autograd.grad(torch.stack(ranks).mean(), (users, items))
    torch.testing.assert_close(torch.stack(ranks).mean(), single)
    for got, want in zip(grads_ranks, grads_single):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # without the gathered candidates, a rank's rows see only their own slice: not the same loss
    local = torch.stack([loss(out(users, items, slice(r * b, (r + 1) * b))) for r in range(world_size)]).mean()
    assert not torch.isclose(local, single)


def test_in_batch_requires_setup_for_correction() -> None:
    with pytest.raises(RuntimeError):
        InBatchSoftmaxLoss()(outputs())


@pytest.mark.parametrize("correction", [True, False])
def test_sampled_softmax(correction: bool) -> None:
    sampler = PopularityNegativeSampler(2, alpha=1.0)
    sampler.setup(torch.tensor(COUNTS))
    q = COUNTS / COUNTS.sum()
    loss = SampledSoftmaxLoss(sampler, temperature=0.5, logq_correction=correction)
    rows = []
    for b in range(3):
        cand = np.concatenate([[USER[b] @ POS[b]], NEG[b] @ USER[b]]) / 0.5
        idx = np.concatenate([[POS_IDX[b]], NEG_IDX[b]])
        if correction:
            cand = cand - np.log(q[idx])
        cand[1:][NEG_IDX[b] == POS_IDX[b]] = -np.inf
        rows.append(cand)
    logits = np.stack(rows)
    assert np.allclose(loss.logits(outputs()).numpy(), logits, atol=1e-5)
    assert loss(outputs()).item() == pytest.approx(np.mean([ce(r, 0) for r in logits]), rel=1e-5)


def test_sampled_softmax_logq_shift_is_exact() -> None:
    sampler = PopularityNegativeSampler(2, alpha=0.75)
    sampler.setup(torch.tensor(COUNTS))
    on = SampledSoftmaxLoss(sampler, 0.5, True).logits(outputs())
    off = SampledSoftmaxLoss(sampler, 0.5, False).logits(outputs())
    idx = torch.cat([t(POS_IDX, torch.long)[:, None], t(NEG_IDX, torch.long)], 1)
    finite = torch.isfinite(on)
    assert torch.allclose((on - off)[finite], -sampler.log_q(idx)[finite], atol=1e-6)


def test_full_softmax() -> None:
    logits = USER @ ALL.T / 0.5
    want = np.mean([ce(logits[b], POS_IDX[b]) for b in range(3)])
    loss = FullSoftmaxLoss(temperature=0.5)
    assert loss.needs_all_items and not loss.needs_negatives
    assert loss(outputs()).item() == pytest.approx(want, rel=1e-5)


def test_full_softmax_logit_adjustment_adds_the_log_prior_by_hand() -> None:
    tau = 0.5
    prior = COUNTS / COUNTS.sum()
    logits = USER @ ALL.T / 0.5 + tau * np.log(prior)[None, :]
    want = np.mean([ce(logits[b], POS_IDX[b]) for b in range(3)])
    loss = FullSoftmaxLoss(temperature=0.5, logit_adjustment=tau)
    with pytest.raises(RuntimeError, match="setup"):
        loss(outputs())
    loss.setup(torch.tensor(COUNTS))
    assert loss(outputs()).item() == pytest.approx(want, rel=1e-5)
    # with tau > 0 the loss differs from the plain softmax's
    assert loss(outputs()).item() != pytest.approx(FullSoftmaxLoss(temperature=0.5)(outputs()).item(), rel=1e-3)
    with pytest.raises(ValueError, match="logit_adjustment"):
        FullSoftmaxLoss(logit_adjustment=-1.0)


ALL_LOSSES = [
    MSELoss(),
    MSELoss(negative_sampler=UniformNegativeSampler(2), negative_weight=1.0),
    BPRLoss(UniformNegativeSampler(2), temperature=0.05),
    BPRLoss(UniformNegativeSampler(2), temperature=0.05, logq_correction=True, in_batch_negatives=True),
    SampledSoftmaxLoss(UniformNegativeSampler(2), in_batch_negatives=True),
    BPRLoss(UniformNegativeSampler(2)),
    CombinedLoss(negative_sampler=UniformNegativeSampler(2)),
    InBatchSoftmaxLoss(logq_correction=False),
    SampledSoftmaxLoss(UniformNegativeSampler(2)),
    FullSoftmaxLoss(),
    FullSoftmaxLoss(logit_adjustment=0.5),
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda m: type(m).__name__)
def test_bf16_autocast_computes_in_float32(loss: torch.nn.Module) -> None:
    loss.setup(torch.tensor(COUNTS))
    sim = CosineSimilarity()
    want = loss(outputs(sim))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss(outputs(sim, dtype=torch.bfloat16))
    assert got.dtype == torch.float32 and torch.isfinite(got)
    assert got.item() == pytest.approx(want.item(), rel=0.05, abs=0.05)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda m: type(m).__name__)
def test_gradients_flow(loss: torch.nn.Module) -> None:
    loss.setup(torch.tensor(COUNTS))
    out = outputs(CosineSimilarity())
    out.user.requires_grad_(True)
    loss(out).backward()
    assert out.user.grad is not None and torch.isfinite(out.user.grad).all()

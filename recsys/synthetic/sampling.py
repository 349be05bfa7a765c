"""User side of the synthetic MovieLens generator: activity, item selection, ratings, timestamps.

All work is vectorised over flat arrays of (user, item) rows for a chunk of users; there is no
Python loop over ratings. Selection is weighted sampling without replacement per user, with
weight ``popularity_i * exp(taste_temperature * p_u . q_i)``:

- light users: a candidate pool of ``~candidate_factor * k_u`` items is drawn from popularity
  (alias table, with replacement) and de-duplicated; the ``k_u`` best distinct items by
  ``log(multiplicity in the pool) + taste_temperature * p_u . q_i + Gumbel`` are kept
  (Gumbel-top-k; the multiplicity stands in for popularity, the proposal distribution);
- heavy users (and any light user whose pool had too few distinct items): exact Gumbel-top-k over
  the whole catalogue with key ``log popularity + taste + Gumbel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recsys.synthetic.catalog import Catalog, alias_sample

if TYPE_CHECKING:
    from recsys.synthetic.generator import SyntheticConfig

_DENSE_BATCH_CELLS = 1 << 23  # users x items cells per dense batch (~64 MB of float64 keys)


@dataclass
class Users:
    """Per-user arrays, one row per user (``userId = index + 1``).

    Attributes:
        counts: ``(U,)`` int64 number of ratings, summing exactly to ``n_ratings``.
        factors: ``(U, D)`` float32 latent user vectors.
        bias: ``(U,)`` float32 user bias (standardised score units).
        t_start: ``(U,)`` int64 first active second.
        t_span: ``(U,)`` int64 length of the active period in seconds.
        tagger: ``(U,)`` bool, whether the user writes tags.
    """

    counts: np.ndarray
    factors: np.ndarray
    bias: np.ndarray
    t_start: np.ndarray
    t_span: np.ndarray
    tagger: np.ndarray


@dataclass
class Rows:
    """Flat rating rows for one chunk, sorted by ``(user, item)``; every array is ``(K,)``."""

    user: np.ndarray  # int64 global user index
    item: np.ndarray  # int64 item index
    rating_idx: np.ndarray  # int8 index into the half-star grid 0.5..5.0
    timestamp: np.ndarray  # int64 unix seconds


def allocate_counts(
    n_users: int, n_ratings: int, min_count: int, max_count: int, sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Log-normal activity, ``min_count <= c_u <= max_count``, ``sum(c) == n_ratings`` exactly.

    Returns:
        ``(n_users,)`` int64 counts.
    """
    if not n_users * min_count <= n_ratings <= n_users * max_count:
        raise ValueError(
            f"n_ratings={n_ratings} must lie in [{n_users * min_count}, {n_users * max_count}] "
            f"for {n_users} users with {min_count}..{max_count} ratings each"
        )
    w = rng.lognormal(0.0, sigma, size=n_users)
    extra, cap = n_ratings - n_users * min_count, max_count - min_count
    alloc = np.zeros(n_users)
    free = np.ones(n_users, dtype=bool)
    while True:  # water-filling: cap the heaviest users, redistribute their surplus
        left = extra - cap * np.count_nonzero(~free)
        alloc[free] = left * w[free] / w[free].sum()
        over = free & (alloc > cap)
        if not over.any():
            break
        alloc[over], free[over] = cap, False
    base = np.floor(alloc).astype(np.int64)
    frac = np.where(base < cap, alloc - base, -1.0)
    short = extra - int(base.sum())
    base[np.argsort(-frac, kind="stable")[:short]] += 1  # largest remainders get the leftovers
    return base + min_count


def build_users(cfg: SyntheticConfig, rng: np.random.Generator) -> Users:
    """Draws activity counts, latent vectors, biases, active periods and the tagger flag."""
    max_count = min(cfg.n_items, max(cfg.min_ratings_per_user,
                                     int(cfg.max_user_fraction * cfg.n_items)))  # fmt: skip
    counts = allocate_counts(cfg.n_users, cfg.n_ratings, cfg.min_ratings_per_user, max_count,
                             cfg.activity_sigma, rng)  # fmt: skip
    factors = rng.standard_normal((cfg.n_users, cfg.latent_dim)).astype(np.float32)
    bias = (cfg.user_bias_std * rng.standard_normal(cfg.n_users)).astype(np.float32)
    total = cfg.end_timestamp - cfg.start_timestamp
    # Active period: log-normal, median ~ a day for a minimal user, longer for heavy users.
    log_span = np.log(86400.0) + 0.8 * np.log(counts / cfg.min_ratings_per_user)
    span = np.minimum(np.exp(log_span + cfg.span_sigma * rng.standard_normal(cfg.n_users)), total)
    t_start = cfg.start_timestamp + rng.random(cfg.n_users) * (total - span)
    tagger = rng.random(cfg.n_users) < cfg.tagger_fraction
    return Users(counts=counts, factors=factors, bias=bias, t_start=t_start.astype(np.int64),
                 t_span=span.astype(np.int64), tagger=tagger)  # fmt: skip


def _gumbel(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel noise as float32, ``-log(Exp(1))``."""
    e = rng.standard_exponential(shape, dtype=np.float32)
    return -np.log(np.maximum(e, np.float32(1e-30)))


def _descending_key(owner: np.ndarray, key: np.ndarray) -> np.ndarray:
    """int64 sort key ordering rows by ``owner`` ascending, then ``key`` (float32) descending."""
    bits = (-key).astype(np.float32).view(np.uint32)
    sortable = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(0x80000000))
    return (owner.astype(np.int64) << 32) | sortable.astype(np.int64)


def _sample_dense(
    users: np.ndarray, k: np.ndarray, U: Users, cat: Catalog, cfg: SyntheticConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Exact Gumbel-top-k over all items. Returns ``(owner, item, dot)`` sorted by (owner, item)."""
    n_items = len(cat.log_pop)
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    step = max(1, _DENSE_BATCH_CELLS // n_items)
    for lo in range(0, len(users), step):  # a handful of batches of heavy users
        u, kk = users[lo : lo + step], k[lo : lo + step]
        dot = U.factors[u] @ cat.factors.T  # (B, I)
        late = cat.release_ts[None, :] > (U.t_start + U.t_span)[u, None]
        key = (cat.log_pop[None, :] + cfg.taste_temperature * dot - cfg.late_release_penalty * late
               + _gumbel(rng, dot.shape))  # fmt: skip
        order = np.argsort(-key, axis=1)
        rows, pos = np.nonzero(np.arange(n_items)[None, :] < kk[:, None])
        chosen = np.zeros(dot.shape, dtype=bool)
        chosen[rows, order[rows, pos]] = True
        r, c = np.nonzero(chosen)
        out.append((r + lo, c, dot[r, c]))
    return tuple(np.concatenate(a) for a in zip(*out))  # type: ignore[return-value]


def select_items(
    users: np.ndarray, U: Users, cat: Catalog, alias: tuple[np.ndarray, np.ndarray],
    cfg: SyntheticConfig, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Samples each user's ``counts[u]`` distinct items.

    Args:
        users: ``(n,)`` int64 global user indices of the chunk, ascending.

    Returns:
        ``(user (K,), item (K,), dot (K,))``: global user index, item index and the latent
        affinity ``p_u . q_i``, sorted by (user, item); ``K = counts[users].sum()``.
    """
    n_items = len(cat.log_pop)
    k = U.counts[users]
    dense = k > cfg.dense_user_fraction * n_items
    sp = np.flatnonzero(~dense)
    m = np.ceil(cfg.candidate_factor * k[sp]).astype(np.int64) + cfg.candidate_extra
    owner = np.repeat(np.arange(len(sp)), m)
    comp = np.sort(owner * n_items + alias_sample(*alias, int(m.sum()), rng))
    first = np.flatnonzero(np.diff(comp, prepend=-1) != 0)
    mult = np.diff(np.append(first, len(comp)))  # how often the pool drew each distinct item
    comp = comp[first]
    owner, item = comp // n_items, comp % n_items
    short = np.bincount(owner, minlength=len(sp)) < k[sp]  # too few distinct candidates
    if short.any():
        dense[sp[short]] = True
        ok = ~short[owner]
        owner, item, mult = owner[ok], item[ok], mult[ok]
        remap = np.cumsum(~short) - 1
        owner, sp = remap[owner], sp[~short]
    gu = users[sp][owner]
    dot = np.einsum("nd,nd->n", U.factors[gu], cat.factors[item])
    late = cat.release_ts[item] > U.t_start[gu] + U.t_span[gu]
    # Weight ~ pool multiplicity (the popularity proposal) x exp(taste): Gumbel-top-k.
    key = (np.log(mult).astype(np.float32) + cfg.taste_temperature * dot
           - cfg.late_release_penalty * late + _gumbel(rng, len(dot)))  # fmt: skip
    order = np.argsort(_descending_key(owner, key))
    starts = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=len(sp)))[:-1]))
    o_sorted = owner[order]
    chosen = np.empty(len(order), dtype=bool)
    chosen[order] = (np.arange(len(order)) - starts[o_sorted]) < k[sp][o_sorted]
    s_user, s_item, s_dot = sp[owner[chosen]], item[chosen], dot[chosen]
    dn = np.flatnonzero(dense)
    if len(dn):
        d_own, d_item, d_dot = _sample_dense(users[dn], k[dn], U, cat, cfg, rng)
        s_user = np.concatenate([s_user, dn[d_own]])
        s_item = np.concatenate([s_item, d_item])
        s_dot = np.concatenate([s_dot, d_dot.astype(np.float32)])
        order = np.argsort(s_user * n_items + s_item)
        s_user, s_item, s_dot = s_user[order], s_item[order], s_dot[order]
    return users[s_user], s_item, s_dot.astype(np.float32)


def latent_scores(
    user: np.ndarray, item: np.ndarray, dot: np.ndarray, U: Users, cat: Catalog,
    cfg: SyntheticConfig, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Continuous rating propensity ``b_u + b_i + s * p_u.q_i + noise``; returns ``(K,)`` float32."""
    noise = rng.standard_normal(len(user), dtype=np.float32)
    return (U.bias[user] + cat.bias[item] + np.float32(cfg.interaction_std) * dot
            + np.float32(cfg.noise_std) * noise)  # fmt: skip


def timestamps(
    user: np.ndarray, item: np.ndarray, U: Users, cat: Catalog, cfg: SyntheticConfig,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Rating times inside each user's active period, never before the movie's release.

    Returns:
        ``(K,)`` int64 unix seconds in ``[start_timestamp, end_timestamp]``.
    """
    ts = U.t_start[user] + (rng.random(len(user)) * U.t_span[user]).astype(np.int64)
    rel = cat.release_ts[item]
    lag = (rng.random(len(user)) * np.minimum(180 * 86400, cfg.end_timestamp - rel)).astype(np.int64)
    ts = np.where(ts < rel, rel + lag, ts)
    return np.clip(ts, cfg.start_timestamp, cfg.end_timestamp)


def generate_rows(
    users: np.ndarray, U: Users, cat: Catalog, alias: tuple[np.ndarray, np.ndarray],
    thresholds: np.ndarray, cfg: SyntheticConfig, rng: np.random.Generator,
) -> Rows:  # fmt: skip
    """All rating rows of a chunk of users; ``thresholds`` is ``(9,)`` cut points of the grid."""
    user, item, dot = select_items(users, U, cat, alias, cfg, rng)
    score = latent_scores(user, item, dot, U, cat, cfg, rng)
    rating_idx = np.searchsorted(thresholds, score).astype(np.int8)
    return Rows(user, item, rating_idx, timestamps(user, item, U, cat, cfg, rng))

"""Grounded template explanations: the facts are right and the text says nothing else."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse.linalg as sla

from recsys.explain.context import (
    LIKED,
    ExplanationContext,
    build_context,
    context_for_new_user,
    display_title,
    movie_label,
    nearest_rated,
    rating_style,
)
from recsys.explain.pairs import PairExplainer
from recsys.explain.template import Explainer, Explanation, TemplateExplainer

BANNED = re.compile(r"score|algorithm|embedding|model|vector|similarit", re.IGNORECASE)


@pytest.fixture(scope="module")
def vectors(bundled_split) -> np.ndarray:
    """Stand-in retrieval vectors with real structure: 32-d truncated SVD of the train matrix, rows L2-normalised."""
    csr = bundled_split.train.to_csr(bundled_split.n_users, bundled_split.n_items)
    _, _, vt = sla.svds(csr, k=32, random_state=0)
    v = vt.T.astype(np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


@pytest.fixture(scope="module")
def shared(items, vectors, history) -> dict:
    return {"items": items, "item_vectors": vectors, "population_mean": float(history["rating"].mean())}


@pytest.fixture(scope="module")
def labels(items) -> list[str]:
    return [movie_label(t, y) for t, y in zip(items["title"], items["year"])]


def user_ratings(history: pd.DataFrame, user: int) -> tuple[np.ndarray, np.ndarray]:
    mine = history[history["user_idx"] == user]
    return mine["item_idx"].to_numpy(), mine["rating"].to_numpy()


def brute_force_nearest(vectors: np.ndarray, target: int, rated: np.ndarray, ratings: np.ndarray, k: int) -> list[int]:
    liked = sorted({int(i) for i, r in zip(rated, ratings) if r >= LIKED and i != target})
    sims = []
    for i in liked:
        sims.append((-float(np.dot(vectors[target].astype(np.float64), vectors[i].astype(np.float64))), i))
    return [i for _, i in sorted(sims)[:k]]


def test_nearest_liked_are_the_top_inner_products(history, shared, vectors, bundled_split) -> None:
    rng = np.random.default_rng(0)
    catalog = bundled_split.catalog()
    for user in rng.choice(history["user_idx"].unique(), size=12, replace=False):
        rated, ratings = user_ratings(history, int(user))
        targets = rng.choice(catalog, size=4, replace=False).tolist() + [int(rated[np.argmax(ratings)])]  # one it rated
        for target in targets:
            context = build_context(target, rated, ratings, score=0.5, tier="personal", **shared)
            expected = brute_force_nearest(vectors, target, rated, ratings, 3)
            assert [m.item_idx for m in context.nearest_liked] == expected
            for m in context.nearest_liked:
                assert m.rating >= LIKED and np.isclose(m.similarity, vectors[target] @ vectors[m.item_idx], atol=1e-5)
        ids, sims = nearest_rated(vectors, np.array(targets), rated[ratings >= LIKED], 3)  # batched = one by one
        for row, target in enumerate(targets):
            assert ids[row][ids[row] >= 0].tolist() == brute_force_nearest(vectors, target, rated, ratings, 3)
            assert np.all(np.diff(sims[row][np.isfinite(sims[row])]) <= 0)


def explanations(history, shared, bundled_split) -> list[tuple[ExplanationContext, str]]:
    """Texts for known users, onboarding users, users without liked movies and movies without genres."""
    rng = np.random.default_rng(1)
    catalog = bundled_split.catalog()
    no_genres = [i for i in catalog if len(shared["items"].at[i, "genres"]) == 0][:2]
    explainer = TemplateExplainer()
    out = []
    for user in rng.choice(history["user_idx"].unique(), size=15, replace=False):
        rated, ratings = user_ratings(history, int(user))
        disliked = ratings < LIKED
        for target in rng.choice(catalog, size=3, replace=False).tolist() + no_genres:
            score = float(rng.uniform(-3, 3))
            for r_items, r_values in [(rated, ratings), (rated[disliked], ratings[disliked]), (rated[:0], ratings[:0])]:
                context = build_context(target, r_items, r_values, score=score, tier="blend", **shared)
                out.append((context, explainer.explain(context).text))
    return out


def test_text_names_only_context_movies_and_no_scores(history, shared, bundled_split, labels) -> None:
    cases = explanations(history, shared, bundled_split)
    assert {c.top_genres_basis for c, _ in cases} == {"liked", "rated", None}
    for context, text in cases:
        found = [label for label in labels if label in text]
        named = {f for f in found if not any(f != g and f in g for g in found)}  # "Rock (1996)" inside "The Rock (1996)"
        assert named and named <= set(context.labels()), (text, context.labels())
        words = text
        for label in named:  # titles may say anything ("Role Models (2008)")
            words = words.replace(label, "")
        assert not BANNED.search(words), text
        for fmt in ("{:.1f}", "{:.2f}", "{:.3f}", "{:.0%}"):
            assert fmt.format(context.score) not in words, text
        assert context.tier not in words and text.endswith(".") and 20 < len(text) < 400
        assert all(g in context.genres or g in context.user_top_genres for g in context.shared_genres)
        if context.nearest_liked:
            assert context.nearest_liked[0].label in text


def test_fallbacks_without_liked_movies_or_genres(history, shared, items) -> None:
    explainer = TemplateExplainer()
    heat = int(items.index[(items["title"] == "Heat") & (items["year"] == 1995)][0])
    drama = [int(i) for i in items.index[items["genres"].map(lambda g: list(g) == ["Action", "Crime", "Thriller"])][:3]]
    no_genre = int(items.index[items["genres"].map(len) == 0][0])
    watched = [(i, 3.0) for i in drama if i != heat]
    context = context_for_new_user(heat, watched, score=1.0, tier="blend", **shared)
    assert context.nearest_liked == () and context.top_genres_basis == "rated"
    text = explainer.explain(context).text
    assert "Heat (1995)" in text and "Action" in text
    text = explainer.explain(context_for_new_user(heat, [], score=1.0, tier="popular", **shared)).text
    assert "get you started" in text and "Heat (1995)" in text
    context = context_for_new_user(no_genre, watched, score=1.0, tier="blend", **shared)
    assert context.genres == () and context.shared_genres == ()
    assert explainer.explain(context).text.startswith(context.label)
    loved = [(i, 5.0) for i in drama if i != heat]
    context = context_for_new_user(heat, loved, score=1.0, tier="personal", **shared)
    assert context.shared_genres == ("Action", "Crime", "Thriller") and context.rating_style == "generous"
    text = explainer.explain(context).text
    assert text.startswith("Because you loved") and "Action, Crime and Thriller highly" in text


def test_rating_style_thresholds() -> None:
    assert rating_style(3.8, 3.5) == "generous" and rating_style(3.79, 3.5) == "balanced"
    assert rating_style(3.2, 3.5) == "harsh" and rating_style(3.21, 3.5) == "balanced"
    assert rating_style(None, 3.5) == "balanced" and rating_style(3.6, 3.5, margin=0.1) == "generous"
    with pytest.raises(ValueError, match="margin"):
        rating_style(3.0, 3.5, margin=-1)


def test_explainer_interface_and_service_function(history, shared, items, vectors) -> None:
    with pytest.raises(TypeError):
        Explainer()  # type: ignore[abstract]

    class Shouting(Explainer):  # what a later LLM explainer looks like
        def explain(self, context: ExplanationContext) -> Explanation:
            return Explanation(text=context.label.upper(), source="llm")

    bundle = SimpleNamespace(items=items, item_vectors=vectors, history=history, tags={})
    rated, ratings = user_ratings(history, 0)
    pairs = list(zip(rated.tolist(), ratings.tolist()))
    [explanation] = PairExplainer(bundle, TemplateExplainer())(pairs, [(0, 0.7)], "personal")
    expected = TemplateExplainer().explain(build_context(0, rated, ratings, score=0.7, tier="personal", **shared))
    assert explanation == expected and explanation.source == "template" and explanation.fallback is None
    assert PairExplainer(bundle, Shouting())([], [(0, 0.7), (1, 0.5)], "popular") == [
        Explanation("TOY STORY (1995)", "llm"), Explanation("JUMANJI (1995)", "llm")
    ]


def test_inputs_are_validated(shared) -> None:
    kwargs = {"score": 1.0, "tier": "personal", **shared}
    with pytest.raises(ValueError, match="same length"):
        build_context(0, [1, 2], [4.0], **kwargs)
    with pytest.raises(ValueError, match="0.5..5"):
        build_context(0, [1], [6.0], **kwargs)
    with pytest.raises(ValueError, match="out of range"):
        build_context(10**7, [1], [4.0], **kwargs)
    with pytest.raises(ValueError, match="tier"):
        build_context(0, [1], [4.0], **{**kwargs, "tier": ""})
    with pytest.raises(ValueError, match="n_nearest"):
        build_context(0, [1], [4.0], n_nearest=0, **kwargs)
    with pytest.raises(ValueError, match="pairs"):
        context_for_new_user(0, [(1, 4.0, 3)], **kwargs)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="k must be"):
        nearest_rated(shared["item_vectors"], np.array([0]), np.array([1]), 0)


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Rock, The", "The Rock"),
        ("Bug's Life, A", "A Bug's Life"),
        ("City of Lost Children, The (Cité des enfants perdus, La)", "The City of Lost Children (Cité des enfants perdus, La)"),
        ("Avventura, L' (Adventure, The)", "L'Avventura (Adventure, The)"),
        ("Good, the Bad and the Ugly, The", "The Good, the Bad and the Ugly"),
        ("Heat", "Heat"),
    ],
)
def test_display_title(title, shown) -> None:
    assert display_title(title) == shown
    assert movie_label(title, 1995.0) == f"{shown} (1995)" and movie_label(title, float("nan")) == shown

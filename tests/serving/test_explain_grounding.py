"""The grounding check: grounded answers pass (the template's, hand-written ones), answers that name
what the context does not, or talk about scores and algorithms, are caught."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.explain.context import movie_label
from recsys.explain.grounding import GroundingCheck
from recsys.explain.pairs import PairExplainer
from recsys.explain.template import TemplateExplainer
from recsys.serving.app import serve_config
from recsys.serving.bundle import ServingBundle


@pytest.fixture(scope="module")
def bundle(serving_bundle_path) -> ServingBundle:
    return ServingBundle.load(serving_bundle_path)


@pytest.fixture(scope="module")
def check(bundle, monkeypatch_module) -> GroundingCheck:
    monkeypatch_module.setenv("OPENAI_API_KEY", "x")
    banned = list(serve_config(["explain=openai"]).explain.banned)
    return GroundingCheck(bundle.items["title"], sorted({g for gs in bundle.items["genres"] for g in gs}), banned)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def contexts(bundle):
    """Contexts of 10 users x 20 unrated movies (the user's history oldest first)."""
    pairs = PairExplainer(bundle, TemplateExplainer())
    history = bundle.history.sort_values("timestamp")
    rng = np.random.default_rng(0)
    out = []
    for user in rng.choice(history["user_idx"].unique(), size=10, replace=False):
        mine = history[history["user_idx"] == user]
        ratings = list(zip(mine["item_idx"].tolist(), mine["rating"].tolist()))
        unrated = np.setdiff1d(bundle.catalog, mine["item_idx"].to_numpy())
        out += pairs.contexts(ratings, [(int(i), 0.5) for i in rng.choice(unrated, size=20, replace=False)], "personal")
    return out


def test_template_texts_pass_the_check(check, contexts) -> None:
    """The template says only what the context holds, so the check must accept all 200 of them."""
    template = TemplateExplainer()
    problems = {c.label: check.problems(template.explain(c).text, c) for c in contexts}
    assert not {k: v for k, v in problems.items() if v}


def test_context_holds_recent_likes_and_tags(contexts, bundle) -> None:
    with_tags = [c for c in contexts if c.tags]
    assert with_tags, "the bundled data has tags; some of 200 movies should carry them"
    for c in with_tags:
        assert list(c.tags) == [t for t in bundle.tags[c.item_idx]] and all(t == t.lower() for t in c.tags)
    c = contexts[0]
    assert 1 <= len(c.recent_liked) <= 3 and c.label not in c.recent_liked


def test_grounded_answers_pass(check, contexts) -> None:
    c = next(x for x in contexts if len(x.nearest_liked) >= 2 and x.recent_liked and x.shared_genres and x.tags)
    answers = [
        f"Because you loved {c.nearest_liked[0].label} and {c.nearest_liked[1].label}, {c.label} should be a treat.",
        f"{c.title} brings the {c.shared_genres[0].lower()} you enjoy, and it's easy to settle into.",
        f"You rated {c.recent_liked[0]} highly not long ago; {c.label} has a similar feel.",
        f"Viewers call {c.title} \"{c.tags[0]}\", which sounds right up your street.",
        f"If you're in the mood for something new, {c.label} is worth a look tonight.",
    ]
    for answer in answers:
        assert check.problems(answer, c) == [], answer


def test_hallucinations_are_caught(check, contexts, bundle) -> None:
    c = next(x for x in contexts if "Western" not in x.genres_named() and "Sci-Fi" not in x.genres_named())
    other = next(i for i in bundle.catalog if len(str(bundle.items.at[i, "title"]).split()) >= 3 and movie_label(bundle.items.at[i, "title"], bundle.items.at[i, "year"]) not in c.labels())
    other_label = movie_label(bundle.items.at[other, "title"], bundle.items.at[other, "year"])
    cases = {
        f"If you liked {other_label}, {c.label} is for you.": "names the movie",
        f"Fans of {other_label.rsplit(' (', 1)[0]} will like {c.label}.": "names the movie",
        f"Like Moonlight Over Nowhere (2031), {c.label} will move you.": "names the movie",
        f"{c.label} stars Meryl Streep at her best.": "names 'Meryl Streep'",
        f"{c.label} is a fine western.": "genre 'western'",
        f"{c.label} is smart sci-fi.": "genre 'sci-fi'",
        f"{c.label} scored 4.5 stars with people like you.": "mentions",
        f"Our algorithm thinks you will like {c.label}.": "mentions",
        f"The model predicts {c.label} fits your taste.": "mentions",
    }
    for answer, expected in cases.items():
        problems = check.problems(answer, c)
        assert any(expected in p for p in problems), (answer, problems)

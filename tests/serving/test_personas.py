"""Demo personas: distinct real users whose ratings match the persona, described from their history."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.explain.context import movie_label
from recsys.serving.personas import DEFAULT_PERSONAS, Persona, PersonaRule, UserStats, choose_personas, harsh_critic


@pytest.fixture(scope="module")
def personas(history, items) -> dict[str, Persona]:
    return {p.key: p for p in choose_personas(history, items)}


def test_four_personas_played_by_four_users(personas) -> None:
    assert list(personas) == ["action_lover", "romance_fan", "film_buff", "harsh_critic"]
    assert len({p.user_idx for p in personas.values()}) == 4


def test_personas_match_their_rules(personas, history, items) -> None:
    stats = UserStats(history, items)
    action = personas["action_lover"]
    liked_action = stats.liked_share(("Action", "Adventure"))
    assert liked_action[action.user_idx] > stats.population_liked_share(("Action", "Adventure"))
    assert liked_action[action.user_idx] == liked_action[stats.table["n_ratings"] >= 30].max()
    romance = personas["romance_fan"]
    assert stats.liked_share(("Romance",))[romance.user_idx] > stats.population_liked_share(("Romance",))
    assert "Romance" in romance.top_genres
    critic = personas["harsh_critic"]
    assert critic.mean_rating < history["rating"].mean() - 1.0 and critic.n_ratings >= 30
    buff = personas["film_buff"]
    assert buff.n_ratings >= 100 and stats.table.loc[buff.user_idx, "mean_novelty"] > stats.table["mean_novelty"].median()


def test_descriptions_come_from_the_users_history(personas, history, items) -> None:
    for persona in personas.values():
        mine = history[history["user_idx"] == persona.user_idx]
        labels = {movie_label(items.at[i, "title"], items.at[i, "year"]) for i in mine["item_idx"]}
        top = {movie_label(items.at[i, "title"], items.at[i, "year"]) for i in mine["item_idx"][mine["rating"] == mine["rating"].max()]}
        assert 2 <= len(persona.favourites) <= 3 and set(persona.favourites) <= top <= labels
        assert all(f in persona.description for f in persona.favourites)
        assert persona.n_ratings == len(mine) and f"{persona.n_ratings} movies" in persona.description
        assert np.isclose(persona.mean_rating, mine["rating"].mean())
        assert f"{persona.mean_rating:.1f} stars" in persona.description
        assert persona.top_genres and all(g in persona.description for g in persona.top_genres)
    assert "below" in personas["harsh_critic"].description


def test_every_persona_gets_a_different_user(history, items) -> None:
    """Two rules that would pick the same user: the second takes the runner-up."""
    rules = [PersonaRule("a", "A", harsh_critic), PersonaRule("b", "B", harsh_critic)]
    first, second = choose_personas(history, items, rules)
    assert first.user_idx != second.user_idx and first.mean_rating <= second.mean_rating


def test_rules_and_history_are_validated(history, items) -> None:
    with pytest.raises(ValueError, match="unique"):
        choose_personas(history, items, [DEFAULT_PERSONAS[0], DEFAULT_PERSONAS[0]])
    with pytest.raises(ValueError, match="no user left"):
        choose_personas(history, items, [PersonaRule("x", "X", harsh_critic, min_ratings=10**6)])
    with pytest.raises(ValueError, match="min_ratings"):
        PersonaRule("x", "X", harsh_critic, min_ratings=0)
    with pytest.raises(ValueError, match="lacks column"):
        choose_personas(history.drop(columns="rating"), items)
    with pytest.raises(ValueError, match="0.5..5"):
        choose_personas(history.assign(rating=history["rating"] * 2), items)
    with pytest.raises(ValueError, match="not in items"):
        choose_personas(history.assign(item_idx=history["item_idx"] + 10**6), items)

"""Onboarding picks: popular movies spread over genres and decades, reproducible per session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.serving.onboarding import OnboardingPicker, seed_from


@pytest.fixture(scope="module")
def picker(items) -> OnboardingPicker:
    return OnboardingPicker(items)


def spread(items: pd.DataFrame, picked: list[int]) -> tuple[int, int]:
    """(distinct genres, distinct decades) of a pick."""
    genres = {g for i in picked for g in items.at[i, "genres"]}
    decades = {int(items.at[i, "year"] // 10) for i in picked if not np.isnan(items.at[i, "year"])}
    return len(genres), len(decades)


def test_picks_popular_catalogue_movies_spread_over_genres_and_decades(items, picker) -> None:
    most_rated = np.sort(items["popularity"].to_numpy())[::-1][:150]
    assert np.array_equal(items.loc[picker.pool, "popularity"].to_numpy(), most_rated)  # the pool: the 150 most rated
    for seed in (0, 1, "session-abc", 12345):
        picked = picker.pick(seed)
        assert len(picked) == 15 and len(set(picked)) == 15
        assert set(picked) <= set(picker.pool.tolist()) and (items.loc[picked, "popularity"] > 0).all()
        n_genres, n_decades = spread(items, picked)
        assert n_genres >= 10 and n_decades >= 4, (seed, n_genres, n_decades)


def test_spread_beats_the_most_popular_movies(items, picker) -> None:
    """Greedy coverage does what the plain top 15 does not."""
    top15 = items.sort_values("popularity", ascending=False).index[:15].tolist()
    picked_genres, picked_decades = np.mean([spread(items, picker.pick(s)) for s in range(10)], axis=0)
    top_genres, top_decades = spread(items, top15)
    assert picked_genres > top_genres and picked_decades > top_decades


def test_same_seed_same_set_other_seed_other_set(picker) -> None:
    assert picker.pick(7) == picker.pick(7) and picker.pick("abc") == picker.pick("abc")
    assert set(picker.pick(0)) != set(picker.pick(1))
    assert picker.pick("abc") != picker.pick("abd")
    assert seed_from("abc") == seed_from("abc") != seed_from("abd")


def test_pool_is_the_most_rated_catalogue_movies(items) -> None:
    picker = OnboardingPicker(items, n=5, pool=20)
    ranked = items.assign(i=items.index).sort_values(["popularity", "i"], ascending=[False, True])
    assert picker.pool.tolist() == ranked.index[:20].tolist()  # ties: lower item_idx first
    assert len(picker.pick(3)) == 5 and set(picker.pick(3)) <= set(picker.pool.tolist())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be an integer >= 1"),
        ({"n": 2.5}, "n must be an integer"),
        ({"n": True}, "n must be an integer"),
        ({"n": 20, "pool": 10}, r"n \(20\) must be <= pool \(10\)"),
        ({"temperature": 0}, "temperature must be > 0"),
        ({"era_weight": -1}, "era_weight must be >= 0"),
    ],
)
def test_settings_are_validated(items, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        OnboardingPicker(items, **kwargs)


def test_inputs_are_validated(items, picker) -> None:
    with pytest.raises(ValueError, match="lacks column"):
        OnboardingPicker(items.drop(columns="popularity"))
    with pytest.raises(TypeError, match="session_seed"):
        picker.pick(1.5)  # type: ignore[arg-type]


def test_movies_without_genres_or_year_are_handled() -> None:
    items = pd.DataFrame({
        "genres": [[], ["Drama"], ["Comedy"], ["Drama", "Comedy"], []],
        "year": [np.nan, 1990.0, np.nan, 2001.0, 1975.0],
        "popularity": [10, 9, 8, 7, 0],
    })  # fmt: skip
    picked = OnboardingPicker(items, n=4, pool=10).pick(0)  # the pool shrinks to the catalogue
    assert sorted(picked) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"n \(5\) exceeds the 4 catalogue movies"):
        OnboardingPicker(items, n=5, pool=10)

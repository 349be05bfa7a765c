"""Demo personas: real users of the data, chosen by genre profile and rating style.

A persona is data (:class:`PersonaRule`): a key, a label and a scoring rule over per-user
statistics (:class:`UserStats`); the eligible user with the highest score plays it. Personas are
filled in order and each takes a user no earlier persona took, so every persona is a different
user. Descriptions are template text built from the chosen user's own ratings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import pandas as pd

from scipy.stats import entropy

from recsys.explain.context import LIKED, join_words, movie_label

HISTORY_COLUMNS = ("user_idx", "item_idx", "rating")
CLOSE = 0.05  # a mean rating within CLOSE stars of the population's is described as "close to" it


class UserStats:
    """Per-user statistics of a rating history, the input of every persona rule.

    Args:
        history: ratings with columns ``user_idx, item_idx, rating`` (timestamp ignored).
        items: catalogue indexed by ``item_idx`` with ``title``, ``year``, ``genres``, ``popularity``.

    Attributes:
        ratings: ``history`` with the movie's ``genres`` and ``popularity`` joined on.
        table: DataFrame indexed by user_idx: ``n_ratings``, ``mean_rating``, ``genre_entropy``
            (normalised entropy of the user's genre mix, 0..1), ``mean_novelty`` (mean of
            ``-log2(popularity / n_users)`` over the user's movies).
        population_mean: the mean of all ratings.
    """

    def __init__(self, history: pd.DataFrame, items: pd.DataFrame) -> None:
        check_history(history, items)
        self.items = items
        self.ratings = history[list(HISTORY_COLUMNS)].join(items[["genres", "popularity"]], on="item_idx")
        self.population_mean = float(self.ratings["rating"].mean())
        users = self.ratings["user_idx"]
        share = self.genre_share.to_numpy()
        n_users = users.nunique()
        novelty = -np.log2(np.maximum(self.ratings["popularity"].to_numpy(), 1) / n_users)
        self.table = pd.DataFrame({
            "n_ratings": users.value_counts().sort_index(),
            "mean_rating": self.ratings["rating"].groupby(users).mean(),
            "genre_entropy": pd.Series(entropy(share + 1e-12, axis=1) / np.log(max(share.shape[1], 2)), index=self.genre_share.index),
            "mean_novelty": pd.Series(novelty, index=self.ratings.index).groupby(users).mean(),
        })  # fmt: skip

    @cached_property
    def genre_share(self) -> pd.DataFrame:
        """users x genres: the fraction of each user's ratings that are movies of that genre."""
        exploded = self.ratings[["user_idx", "genres"]].explode("genres").dropna(subset=["genres"])
        counts = pd.crosstab(exploded["user_idx"], exploded["genres"])
        n = self.ratings.groupby("user_idx").size()
        return counts.reindex(n.index, fill_value=0).div(n, axis=0)

    def liked_share(self, genres: Sequence[str]) -> pd.Series:
        """Per user: the fraction of their ratings that are >= 4 on a movie of any of ``genres``."""
        return self._liked_hits(genres).groupby(self.ratings["user_idx"]).mean()

    def population_liked_share(self, genres: Sequence[str]) -> float:
        """The same fraction over all ratings of the history."""
        return float(self._liked_hits(genres).mean())

    def _liked_hits(self, genres: Sequence[str]) -> pd.Series:
        """Per rating: >= 4 on a movie of any of ``genres``."""
        wanted = set(genres)
        return self.ratings["genres"].map(lambda gs: not wanted.isdisjoint(gs)) & (self.ratings["rating"] >= LIKED)


ScoreRule = Callable[[UserStats], pd.Series]


@dataclass(frozen=True)
class PersonaRule:
    """One persona as data: who plays it is the eligible user with the highest ``score``.

    Attributes:
        key: identifier (``"action_lover"``).
        label: display name (``"Action lover"``).
        score: UserStats -> Series of scores indexed by user_idx (higher is more fitting).
        min_ratings: users with fewer ratings are not eligible (>= 1).
    """

    key: str
    label: str
    score: ScoreRule
    min_ratings: int = 30

    def __post_init__(self) -> None:
        if not self.key or not self.label:
            raise ValueError("a persona needs a non-empty key and label")
        if self.min_ratings < 1:
            raise ValueError(f"min_ratings must be >= 1, got {self.min_ratings}")


def liked_genre_share(*genres: str) -> ScoreRule:
    """Rule: the share of the user's ratings that are >= 4 on a movie of any of ``genres``."""
    if not genres:
        raise ValueError("liked_genre_share needs at least one genre")
    return partial(UserStats.liked_share, genres=tuple(genres))


def film_buff(stats: UserStats) -> pd.Series:
    """Rule: many ratings, a broad genre mix and less popular picks (sum of z-scores of
    log n_ratings, genre entropy and mean novelty)."""
    t = stats.table
    parts = [np.log(t["n_ratings"]), t["genre_entropy"], t["mean_novelty"]]
    return sum((p - p.mean()) / p.std(ddof=0) if p.std(ddof=0) > 0 else p * 0.0 for p in parts)


def harsh_critic(stats: UserStats) -> pd.Series:
    """Rule: how far below the population mean the user's mean rating lies."""
    return stats.population_mean - stats.table["mean_rating"]


DEFAULT_PERSONAS: tuple[PersonaRule, ...] = (
    PersonaRule("action_lover", "Action lover", liked_genre_share("Action", "Adventure")),
    PersonaRule("romance_fan", "Romance fan", liked_genre_share("Romance")),
    PersonaRule("film_buff", "Film buff", film_buff, min_ratings=100),
    PersonaRule("harsh_critic", "Harsh critic", harsh_critic),
)


@dataclass(frozen=True)
class Persona:
    """A demo persona played by a real user.

    Attributes:
        key, label: from the :class:`PersonaRule`.
        user_idx: the user who plays it.
        description: template text from the user's ratings.
        top_genres: the user's three most rated genres, most first.
        mean_rating: the user's mean rating; n_ratings: how many ratings they gave.
        favourites: labels (``"Heat (1995)"``) of up to three of their highest-rated movies.
    """

    key: str
    label: str
    user_idx: int
    description: str
    top_genres: tuple[str, ...]
    mean_rating: float
    n_ratings: int
    favourites: tuple[str, ...]


def choose_personas(
    history: pd.DataFrame, items: pd.DataFrame, rules: Sequence[PersonaRule] = DEFAULT_PERSONAS
) -> list[Persona]:
    """One distinct real user per persona rule, with a description of their taste.

    Args:
        history: ratings with columns ``user_idx, item_idx, rating`` (0.5..5).
        items: catalogue indexed by ``item_idx`` with ``title``, ``year``, ``genres``, ``popularity``.
        rules: the personas, filled in this order.

    Returns:
        One :class:`Persona` per rule, in the order of ``rules``.

    Raises:
        ValueError: duplicate keys, a bad history, or a rule with no eligible user left.
    """
    keys = [r.key for r in rules]
    if len(set(keys)) != len(keys):
        raise ValueError(f"persona keys must be unique, got {keys}")
    stats = UserStats(history, items)
    taken: set[int] = set()
    personas = []
    for rule in rules:
        scores = rule.score(stats).reindex(stats.table.index)
        eligible = (stats.table["n_ratings"] >= rule.min_ratings) & scores.notna() & ~scores.index.isin(list(taken))
        if not eligible.any():
            raise ValueError(f"no user left for persona {rule.key!r} (min_ratings={rule.min_ratings})")
        candidates = scores[eligible]
        user = int(candidates.index[np.lexsort((candidates.index.to_numpy(), -candidates.to_numpy()))[0]])
        taken.add(user)
        personas.append(describe(rule, user, stats))
    return personas


def describe(rule: PersonaRule, user_idx: int, stats: UserStats) -> Persona:
    """The :class:`Persona` of ``rule`` played by ``user_idx``, with its template description."""
    row = stats.table.loc[user_idx]
    share = stats.genre_share.loc[user_idx]
    top = share[share > 0].sort_values(ascending=False, kind="stable").head(3)
    mine = stats.ratings[stats.ratings["user_idx"] == user_idx]
    best = mine[mine["rating"] == mine["rating"].max()]
    best = best.assign(_idx=best["item_idx"]).sort_values(["popularity", "_idx"], ascending=[False, True]).head(3)
    favourites = tuple(movie_label(stats.items.at[i, "title"], stats.items.at[i, "year"]) for i in best["item_idx"])
    n, mean, pop = int(row["n_ratings"]), float(row["mean_rating"]), stats.population_mean
    relation = "above" if mean > pop + CLOSE else "below" if mean < pop - CLOSE else "close to"
    shares = [f"{g} ({p:.0%} of their ratings)" if k == 0 else f"{g} ({p:.0%})" for k, (g, p) in enumerate(top.items())]
    genres = join_words(shares)
    stars = float(best["rating"].iloc[0])
    named = join_words(list(favourites))
    text = (
        f"Has rated {n} movies, {mean:.1f} stars on average, {relation} the {pop:.1f} of all users. "
        + (f"{genres} {'are their most rated genres' if len(shares) > 1 else 'is their most rated genre'}. " if genres else "")
        + (f"They gave 5 stars to {named}." if stars == 5 else f"Their top rating, {stars:g} stars, went to {named}.")
    )
    return Persona(
        key=rule.key,
        label=rule.label,
        user_idx=user_idx,
        description=text,
        top_genres=tuple(top.index),
        mean_rating=mean,
        n_ratings=n,
        favourites=favourites,
    )


def check_history(history: pd.DataFrame, items: pd.DataFrame) -> None:
    """Raise ValueError unless ``history`` has the columns, ratings and items it should."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}; expected {list(HISTORY_COLUMNS)}")
    if history.empty:
        raise ValueError("history is empty")
    ratings = history["rating"].to_numpy(dtype=float)
    if not np.all((ratings >= 0.5) & (ratings <= 5.0)):
        raise ValueError("ratings must lie in 0.5..5")
    unknown = ~history["item_idx"].isin(items.index)
    if unknown.any():
        raise ValueError(f"{int(unknown.sum())} rating(s) of item_idx not in items, e.g. {history['item_idx'][unknown].iloc[0]}")

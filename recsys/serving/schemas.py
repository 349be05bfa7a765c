"""Request and response models of the service's endpoints (pydantic, shown in ``/docs.json``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from recsys.retrieval.base import SearchFilters

K = Annotated[int, Field(ge=1, le=100, description="how many movies to return (1..100)")]
Genres = Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]] | None, Field(max_length=20, description="any of these genres")]
Year = Annotated[int | None, Field(ge=1870, le=2100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filtered(Strict):
    genres: Genres = None
    year_min: Year = None
    year_max: Year = None

    def filters(self) -> SearchFilters | None:
        """The search filters (None when the request sets none); ValueError on an empty year range."""
        return search_filters(self.genres, self.year_min, self.year_max)


class Rating(Strict):
    movie_id: int = Field(description="a movieId of the data set")
    rating: float = Field(ge=0.5, le=5.0, multiple_of=0.5, description="0.5 to 5.0 in steps of 0.5")


class RecommendRequest(Filtered):
    user_id: int = Field(description="a userId of the data set (new users: /onboarding, then /profile)")
    k: K = 10
    explain: bool = False


class SimilarRequest(Filtered):
    movie_id: int = Field(description="a movieId of the data set")
    k: K = 10


class OnboardingRequest(Strict):
    session: str | None = Field(default=None, max_length=64, description="the same session gets the same movies")


class ProfileRequest(Filtered):
    ratings: list[Rating] = Field(default_factory=list, max_length=200, description="any number, even none")
    k: K = 10
    explain: bool = True


class RateRequest(Filtered):
    profile_id: str = Field(min_length=1, max_length=64)
    ratings: list[Rating] = Field(min_length=1, max_length=200)
    k: K = 10
    explain: bool = True


class ProfileRecommendRequest(Filtered):
    profile_id: str = Field(min_length=1, max_length=64)
    k: K = 10
    explain: bool = True


class Empty(Strict):
    pass


class ReindexRequest(Strict):
    model_tag: str = Field(min_length=1, max_length=200, description="a model in the BentoML store, e.g. recsys:<version>")


class Movie(BaseModel):
    movie_id: int
    title: str
    genres: list[str]
    year: int | None
    score: float = Field(description="the ranking score (inner product; the blend's mix for thin profiles)")
    explanation: str | None = None
    explanation_source: str | None = Field(default=None, description="'llm' (worded by the configured LLM) or 'template'")
    explanation_fallback: str | None = Field(
        default=None, description="why the template answered where an LLM was asked: budget, timeout, error, malformed, rejected: <what>"
    )


class RecommendationList(BaseModel):
    items: list[Movie]
    tier: str = Field(description="personal | blend | popular (profiles), personal (known users), similar")
    model_version: str
    n_ratings: int | None = None
    profile_id: str | None = None
    ratings_until_personal: int | None = Field(default=None, description="profiles: how many more ratings until fully personal")
    cached: bool = False


class OnboardingList(BaseModel):
    session: str
    movies: list[Movie]


class PersonaOut(BaseModel):
    key: str
    label: str
    user_id: int
    description: str
    top_genres: list[str]
    mean_rating: float
    n_ratings: int
    favourites: list[str]


class PersonaList(BaseModel):
    personas: list[PersonaOut]


class GenreList(BaseModel):
    genres: list[str]


class ModelUsage(BaseModel):
    tokens_in: int
    tokens_out: int
    cost_usd: float | None = Field(description="estimated from explain.prices; null when the model has no price")


class ExplainMonitor(BaseModel):
    """The LLM explanation figures of the worker that answers (each worker counts its own;
    Prometheus at /metrics adds them up)."""

    provider: str = Field(description="template, or the LLM's model")
    requests: int
    cache_hits: int
    cache_hit_rate: float | None
    llm_calls: int
    generated: int = Field(description="LLM answers accepted (also those that came after their request's budget, cached)")
    fallbacks: dict[str, int]
    latency_mean_s: float | None
    latency_p95_s: float | None
    models: dict[str, ModelUsage]
    cost_usd: float


class AdminResult(BaseModel):
    ok: bool
    detail: str
    model_version: str | None = None


def search_filters(genres: list[str] | None, year_min: int | None, year_max: int | None) -> SearchFilters | None:
    """The search filters of a request (None when it sets none); raises ValueError on an empty range."""
    if not genres and year_min is None and year_max is None:
        return None
    return SearchFilters(genres=tuple(genres) if genres else None, year_min=year_min, year_max=year_max)

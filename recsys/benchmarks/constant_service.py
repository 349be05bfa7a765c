"""The framework's floor: a BentoML service with the recommender's request and response models
whose ``/recommend`` returns a constant list (``recsys-bench-serving`` serves it beside the real one)."""

from __future__ import annotations

import os

import bentoml

from recsys.serving.schemas import Movie, RecommendationList, RecommendRequest

CONSTANT = RecommendationList(
    items=[Movie(movie_id=i, title=f"Movie {i}", genres=["Drama"], year=2000, score=1.0 / (i + 1)) for i in range(10)],
    tier="personal",
    model_version="constant",
)


# the same number of worker processes as the service it is compared with (recsys-bench-serving sets it)
@bentoml.service(name="constant", traffic={"timeout": 30}, workers=int(os.environ.get("RECSYS_BENCH_WORKERS", "1")))
class Constant:
    @bentoml.api(route="/recommend")
    def recommend(self, request: RecommendRequest, /) -> RecommendationList:
        return CONSTANT

"""The recommender service: ``bentoml serve`` (from the repository) or ``bentoml build`` + serve.

It serves the latest packaged model (``recsys-package run_dir=<run>``; ``RECSYS_MODEL=recsys:<version>``
selects another) with the settings of ``conf/serve/serve.yaml`` (``RECSYS_SERVE="cache=redis
retriever=exact"`` overrides them). The logic lives in ``recsys.serving``; this file only maps
HTTP to it. Endpoints: ``/recommend`` (a known user), ``/similar``, ``/onboarding``, ``/profile``
(new profile), ``/profile/rate``, ``/profile/recommend``, ``/personas``, ``/admin/reindex``,
``/admin/flush_cache``, ``/explain/monitor``; the web page at ``/ui``; BentoML's ``/readyz`` (fails until the model and
its index are loaded), ``/livez``, ``/metrics`` and ``/docs.json``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import threading
from http import HTTPStatus
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException

from recsys.serving.app import serve_config
from recsys.serving.request_guard import RequestGuardMiddleware
from recsys.serving.schemas import (
    AdminResult,
    Empty,
    ExplainMonitor,
    GenreList,
    Movie,
    OnboardingList,
    OnboardingRequest,
    PersonaList,
    PersonaOut,
    ProfileRecommendRequest,
    ProfileRequest,
    RateRequest,
    RecommendationList,
    RecommendRequest,
    ReindexRequest,
    SimilarRequest,
)
from recsys.serving.web import web_app

log = logging.getLogger("recsys.service")
SETTINGS = serve_config()  # conf/serve/serve.yaml + $RECSYS_SERVE; invalid settings fail at start


def _error(status: int, message: str) -> BentoMLException:
    return BentoMLException(message, error_code=HTTPStatus(status))


@bentoml.asgi_app(web_app(), path="/ui")
@bentoml.service(name="recsys-service", traffic={"timeout": 30}, workers=int(SETTINGS.workers))
class Recommender:
    """Movie recommendations from a packaged two-tower model (see the module docstring)."""

    model = bentoml.models.BentoModel(str(SETTINGS.model_tag))

    def __init__(self) -> None:
        self.cfg = SETTINGS
        self.core: Any = None
        self.personas: list[PersonaOut] = []
        self.monitor: Any = None  # one explanation monitor per worker, kept across re-indexes
        self.load_error: str | None = None
        self._swap = threading.Lock()
        threading.Thread(target=self._load, args=(self.model.path,), name="recsys-load", daemon=True).start()

    def _load(self, path: str) -> None:
        try:
            self.core, self.personas = self._build(path)
            log.info("model %s loaded from %s", self.core.version, path)
        except Exception as error:  # noqa: BLE001 - reported by /readyz and every endpoint
            log.exception("loading the model failed")
            self.load_error = f"{type(error).__name__}: {error}"

    def _build(self, path: str, cache: Any = None) -> tuple[Any, list[PersonaOut]]:
        from recsys.explain.build import build_monitor
        from recsys.serving.app import build_recommender
        from recsys.serving.personas import choose_personas

        if self.monitor is None:  # here, not in __init__: Prometheus' multi-process folder is set by now
            self.monitor = build_monitor(self.cfg.explain)
        core = build_recommender(path, self.cfg, cache=cache, monitor=self.monitor)
        user_ids = dict(zip(core.bundle.users["user_idx"], core.bundle.users["userId"]))
        personas = [
            PersonaOut(
                key=p.key,
                label=p.label,
                user_id=int(user_ids[p.user_idx]),
                description=p.description,
                top_genres=list(p.top_genres),
                mean_rating=float(p.mean_rating),
                n_ratings=int(p.n_ratings),
                favourites=list(p.favourites),
            )
            for p in choose_personas(core.bundle.history, core.bundle.items)
        ]
        return core, personas

    def __is_ready__(self) -> bool:
        return self.core is not None

    def _core(self) -> Any:
        core = self.core  # one model per request, even while a re-index swaps it
        if core is None:
            raise _error(503, f"the model is not loaded: {self.load_error}" if self.load_error else "the model is still loading; retry shortly")
        return core

    def _answer(self, call: Any) -> RecommendationList:
        """Run ``call(core)`` and map its errors to HTTP. The known-user, similar-movie and onboarding
        endpoints are ``async`` and call it on the event loop (about 0.3 ms of work: a thread hand-off
        costs more); the profile endpoints fold a vector in (tens of ms) and stay in BentoML's threads."""
        from recsys.serving.recommender import ServingError

        try:
            return RecommendationList.model_validate(call(self._core()).to_dict())
        except ServingError as error:
            raise _error(error.status, str(error)) from None
        except ValueError as error:  # e.g. year_min > year_max
            raise _error(400, str(error)) from None

    @bentoml.api(route="/recommend")
    async def recommend(self, request: RecommendRequest, /) -> RecommendationList:
        """Top-k for a user of the data set (their rated movies excluded), optionally filtered and explained."""
        call = lambda core: core.for_user(request.user_id, request.k, request.filters(), request.explain)  # noqa: E731
        if request.explain:  # an LLM explainer may wait up to its budget: not on the event loop
            return await asyncio.to_thread(self._answer, call)
        return self._answer(call)

    @bentoml.api(route="/similar")
    async def similar(self, request: SimilarRequest, /) -> RecommendationList:
        """Movies nearest to a movie in the model's space."""
        return self._answer(lambda core: core.similar(request.movie_id, request.k, request.filters()))

    @bentoml.api(route="/onboarding")
    async def onboarding(self, request: OnboardingRequest, /) -> OnboardingList:
        """About 15 popular movies spread over genres and decades for a new user to rate (shuffled per session)."""
        from recsys.serving.recommender import ServingError

        try:
            session_id, movies = self._core().onboarding(request.session)
        except ServingError as error:
            raise _error(error.status, str(error)) from None
        return OnboardingList(session=session_id, movies=[Movie.model_validate(vars(m)) for m in movies])

    @bentoml.api(route="/profile")
    def profile(self, request: ProfileRequest, /) -> RecommendationList:
        """A temporary profile from onboarding ratings (any number) and its recommendations; keep its profile_id."""
        pairs = [(r.movie_id, r.rating) for r in request.ratings]
        return self._answer(lambda core: core.create_profile(pairs, request.k, request.filters(), request.explain))

    @bentoml.api(route="/profile/rate")
    def rate(self, request: RateRequest, /) -> RecommendationList:
        """Add ratings to a profile and recommend again."""
        pairs = [(r.movie_id, r.rating) for r in request.ratings]
        return self._answer(lambda core: core.add_ratings(request.profile_id, pairs, request.k, request.filters(), request.explain))

    @bentoml.api(route="/profile/recommend")
    def profile_recommend(self, request: ProfileRecommendRequest, /) -> RecommendationList:
        """Recommendations for an existing profile."""
        return self._answer(lambda core: core.for_profile(request.profile_id, request.k, request.filters(), request.explain))

    @bentoml.api(route="/personas")
    async def personas_list(self, request: Empty, /) -> PersonaList:
        """Demo personas: real users chosen by genre profile and rating style (use their user_id with /recommend)."""
        self._core()
        return PersonaList(personas=self.personas)

    @bentoml.api(route="/genres")
    async def genres(self, request: Empty, /) -> GenreList:
        """The genres the filters accept."""
        return GenreList(genres=self._core().genres)

    @bentoml.api(route="/explain/monitor")
    async def explain_monitor(self, request: Empty, /) -> ExplainMonitor:
        """LLM explanations of this worker: counts, cache hit rate, fallbacks by cause, latency, tokens and cost by model."""
        self._core()
        provider = self.cfg.explain.get("provider")
        return ExplainMonitor(provider=str(provider.model) if provider is not None else "template", **self.monitor.snapshot())

    # ---- admin -------------------------------------------------------------------------------
    def _refusal(self, ctx: bentoml.Context) -> AdminResult | None:
        """None when the request carries the admin token; else the refusal (status set on ``ctx``).

        (Returned, not raised: BentoML replaces the message of a raised 401/403 with "Authorization error".)
        """
        expected = os.environ.get(str(self.cfg.admin_token_env), "")
        if not expected:
            ctx.response.status_code = 403
            return AdminResult(ok=False, detail=f"admin actions are disabled: set {self.cfg.admin_token_env} in the service's environment")
        given = ctx.request.headers.get("authorization", "")
        token = given[len("Bearer ") :] if given.startswith("Bearer ") else ""
        if not hmac.compare_digest(token.encode(), expected.encode()):
            ctx.response.status_code = 401
            return AdminResult(ok=False, detail="missing or wrong admin token: send the header 'Authorization: Bearer <token>'")
        return None

    @bentoml.api(route="/admin/reindex")
    def reindex(self, request: ReindexRequest, /, ctx: bentoml.Context) -> AdminResult:
        """Load another packaged model and its index aside, then swap it in (requests in flight finish on the old one)."""
        if (refusal := self._refusal(ctx)) is not None:
            return refusal
        if int(self.cfg.workers) > 1:
            ctx.response.status_code = 409
            return AdminResult(
                ok=False,
                detail=f"a re-index swaps the model of the one worker that receives it; with workers={self.cfg.workers} "
                "restart the service with RECSYS_MODEL=<tag> instead (or serve with workers=1)",
            )
        try:
            model_tag = request.model_tag
            path = bentoml.models.get(model_tag).path
        except Exception as error:  # noqa: BLE001 - bentoml raises several kinds for a bad tag
            raise _error(404, f"model {model_tag!r} is not in the BentoML store: package it with recsys-package ({error})") from None
        with self._swap:
            old = self._core()
            core, personas = self._build(path, cache=old.cache)
            self.core, self.personas = core, personas
        for close in (getattr(old.retriever, "close", None), getattr(old.explainer, "close", None)):
            if close is not None:
                threading.Timer(5.0, close).start()  # after requests in flight on the old model finish
        return AdminResult(ok=True, detail=f"serving {model_tag}", model_version=core.version)

    @bentoml.api(route="/admin/flush_cache")
    def flush_cache(self, request: Empty, /, ctx: bentoml.Context) -> AdminResult:
        """Remove every cached recommendation list (profiles too)."""
        if (refusal := self._refusal(ctx)) is not None:
            return refusal
        removed = self._core().cache.flush()
        return AdminResult(ok=True, detail=f"removed {removed} cache entries", model_version=self._core().version)


Recommender.add_asgi_middleware(RequestGuardMiddleware, max_bytes=int(SETTINGS.max_body_bytes))

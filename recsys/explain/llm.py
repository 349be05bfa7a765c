"""LLM-worded explanations: cached, grounded, bounded in time, falling back to the template.

:class:`LLMExplainer` explains one response's items concurrently under one time budget
(``budget_s``): every item whose answer is not back, or failed, or said something its context does
not (:class:`~recsys.explain.grounding.GroundingCheck`), is explained by the template instead and
the explanation says why (``fallback``). So a recommendation is never slowed by more than the
budget. Answers arriving after their request's budget are still checked and cached: the next
request for the same (profile, movie) gets them.

Cache key: (model version, the user's profile fingerprint, movie, LLM model, prompt version).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from recsys.explain.context import ExplanationContext
from recsys.explain.grounding import GroundingCheck
from recsys.explain.monitor import ExplanationMonitor
from recsys.explain.prompt import PromptTemplate
from recsys.explain.providers import ChatProvider, ProviderError
from recsys.explain.template import BUDGET, LLM, REJECTED, Explainer, Explanation, TemplateExplainer
from recsys.serving.cache import cache_key

log = logging.getLogger(__name__)


class LLMExplainer(Explainer):
    """Explanations worded by ``provider`` (see the module docstring).

    Args:
        provider: the LLM.
        prompt: the prompt template (its version keys the cache).
        grounding: the check every answer must pass.
        cache: the service cache (``get``/``set`` of JSON values); None: no cache.
        cache_ttl: seconds an explanation stays cached.
        model_version: the recommender model's version (part of the cache key).
        budget_s: time for all the items of one response.
        max_concurrency: LLM calls in flight at once (per process).
        monitor: counts and costs; a private one when None.
    """

    def __init__(
        self,
        provider: ChatProvider,
        prompt: PromptTemplate,
        grounding: GroundingCheck,
        cache: Any = None,
        cache_ttl: float = 86400.0,
        model_version: str = "",
        budget_s: float = 1.5,
        max_concurrency: int = 16,
        monitor: ExplanationMonitor | None = None,
    ) -> None:
        if not budget_s > 0:
            raise ValueError(f"explain.budget_s={budget_s}: use a positive number of seconds")
        if max_concurrency < 1:
            raise ValueError(f"explain.max_concurrency={max_concurrency}: use >= 1")
        if not cache_ttl > 0:
            raise ValueError(f"explain.cache_ttl={cache_ttl}: use a positive number of seconds")
        self.provider, self.prompt, self.grounding = provider, prompt, grounding
        self.cache, self.cache_ttl, self.model_version = cache, float(cache_ttl), str(model_version)
        self.budget_s = float(budget_s)
        self.monitor = monitor or ExplanationMonitor()
        self.template = TemplateExplainer()
        self._pool = ThreadPoolExecutor(int(max_concurrency), thread_name_prefix="recsys-explain")

    def close(self) -> None:
        """Stop the thread pool (calls in flight finish; queued ones are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def key(self, context: ExplanationContext) -> str:
        return cache_key("explain", self.model_version, context.profile, context.item_idx, self.provider.model, self.prompt.version)

    def explain(self, context: ExplanationContext) -> Explanation:
        return self.explain_many([context])[0]

    def explain_many(self, contexts: Sequence[ExplanationContext]) -> list[Explanation]:
        deadline = time.monotonic() + self.budget_s
        self.monitor.asked(len(contexts))
        out: list[Explanation | None] = [None] * len(contexts)
        pending = {}
        for i, context in enumerate(contexts):
            hit = self.cache.get(self.key(context)) if self.cache is not None else None
            if hit is not None:
                out[i] = Explanation(text=str(hit["text"]), source=LLM, cached=True)
                self.monitor.cache_hit()
            else:
                pending[self._pool.submit(self._generate, context)] = i
        done, late = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        for future in late:
            future.cancel()  # not started yet: never sent; started: finishes and fills the cache
            out[pending[future]] = self._fallback(contexts[pending[future]], BUDGET)
        for future in done:
            answer = future.result()
            i = pending[future]
            out[i] = answer if isinstance(answer, Explanation) else self._fallback(contexts[i], answer)
        return [e for e in out if e is not None]

    def _generate(self, context: ExplanationContext) -> Explanation | str:
        """The accepted LLM explanation, or the fallback cause."""
        system, user = self.prompt.render(context)
        start = time.perf_counter()
        try:
            completion = self.provider.complete(system, user)
        except ProviderError as error:
            self.monitor.called(self.provider.model, time.perf_counter() - start)
            log.info("LLM explanation of item %s failed: %s", context.item_idx, error)
            return error.cause
        problems = self.grounding.problems(completion.text, context)
        self.monitor.called(completion.model, completion.seconds, completion.input_tokens, completion.output_tokens, accepted=not problems)
        if problems:
            log.info("LLM explanation of item %s rejected: %s", context.item_idx, "; ".join(problems))
            return f"{REJECTED}: {problems[0]}"
        if self.cache is not None:
            self.cache.set(self.key(context), {"text": completion.text}, ttl=self.cache_ttl)
        return Explanation(text=completion.text, source=LLM)

    def _fallback(self, context: ExplanationContext, cause: str) -> Explanation:
        self.monitor.fell_back(cause)
        plain = self.template.explain(context)
        return Explanation(text=plain.text, source=plain.source, fallback=cause)

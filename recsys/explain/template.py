"""The explainer interface and the template explainer (the default: no network, always grounded)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from recsys.explain.context import LOVED, ExplanationContext, join_words

TEMPLATE = "template"
LLM = "llm"
# why an LLM explanation was replaced by the template; the first three may pass on a retry
BUDGET, TIMEOUT, ERROR, MALFORMED, REJECTED = "budget", "timeout", "error", "malformed", "rejected"
TRANSIENT = frozenset({BUDGET, TIMEOUT, ERROR})


def is_transient(fallback: str | None) -> bool:
    """A fallback that may not happen again (a slow or failing provider): do not cache the list."""
    return fallback is not None and fallback.split(":")[0] in TRANSIENT


@dataclass(frozen=True)
class Explanation:
    """The text shown under a recommendation and what wrote it.

    Attributes:
        text: one to three sentences.
        source: ``"template"`` or ``"llm"``.
        fallback: why the template answered where an LLM was asked (``budget``, ``timeout``,
            ``error``, ``malformed``, ``rejected: <what>``); None when nothing fell back.
        cached: the LLM text came from the explanation cache.
    """

    text: str
    source: str = TEMPLATE
    fallback: str | None = None
    cached: bool = False

    @property
    def transient(self) -> bool:
        """The fallback may not happen again (see :func:`is_transient`)."""
        return is_transient(self.fallback)


class Explainer(ABC):
    """Turns the facts of an :class:`ExplanationContext` into an :class:`Explanation`."""

    @abstractmethod
    def explain(self, context: ExplanationContext) -> Explanation:
        """Two or three conversational sentences using only facts of ``context``."""

    def explain_many(self, contexts: Sequence[ExplanationContext]) -> list[Explanation]:
        """The explanations of one response's items, in order (an LLM explainer runs them
        concurrently under one time budget)."""
        return [self.explain(c) for c in contexts]


class TemplateExplainer(Explainer):
    """Template sentences: the liked movies nearest to the recommendation first, then genres."""

    def explain(self, context: ExplanationContext) -> Explanation:
        return Explanation(text=self._text(context), source=TEMPLATE)

    @staticmethod
    def _text(c: ExplanationContext) -> str:
        shared = join_words(c.shared_genres)
        if c.nearest_liked:
            named = join_words([m.label for m in c.nearest_liked[:2]])
            verb = "loved" if all(m.rating >= LOVED for m in c.nearest_liked[:2]) else "enjoyed"
            if c.rating_style == "harsh":
                return f"You're hard to impress, but you {verb} {named}, and this one is in the same vein."
            if shared:
                return f"Because you {verb} {named}, and you often rate {shared} highly."
            return f"Because you {verb} {named}."
        if shared and c.top_genres_basis == "liked":
            return f"{c.label} brings the {shared} you often rate highly."
        if shared:
            return f"{c.label} brings more of the {shared} you watch most."
        if c.genres and c.top_genres_basis is None:
            return f"To get you started, here's some {join_words(c.genres)}: {c.label}."
        if c.genres:
            return f"{c.label} adds some {join_words(c.genres)} to your mix."
        return f"{c.label} is something a little different for you to try."

"""Versioned prompt templates (``conf/explain/prompt/<version>.yaml``) and the facts they carry.

A prompt is a system text and a user text; ``{facts}`` and ``{movie}`` in the user text are
filled from an :class:`~recsys.explain.context.ExplanationContext`. The facts never include the
score or the tier: the model cannot quote what it is not told. The version is part of every
explanation cache key, so editing a prompt means giving it a new version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recsys.explain.context import ExplanationContext, join_words

_FIELDS = re.compile(r"\{(\w+)\}")
ALLOWED_FIELDS = frozenset({"facts", "movie"})


@dataclass(frozen=True)
class PromptTemplate:
    """One version of the prompt.

    Args:
        version: a short name (``v1``); part of every cache key.
        system: the instructions.
        user: the request; may use ``{facts}`` (the context as bullet lines) and ``{movie}``.
    """

    version: str
    system: str
    user: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", str(self.version)):
            raise ValueError(f"explain.prompt.version={self.version!r}: use 1-32 letters, digits, '.', '_' or '-'")
        if not self.system.strip() or not self.user.strip():
            raise ValueError(f"explain.prompt {self.version}: system and user must not be empty")
        unknown = set(_FIELDS.findall(self.system + self.user)) - ALLOWED_FIELDS
        if unknown:
            raise ValueError(f"explain.prompt {self.version}: unknown fields {sorted(unknown)}; use {sorted(ALLOWED_FIELDS)}")
        if "{facts}" not in self.user:
            raise ValueError(f"explain.prompt {self.version}: the user text must contain {{facts}}")

    def render(self, context: ExplanationContext) -> tuple[str, str]:
        """``(system, user)`` texts for ``context``."""
        fields = {"facts": render_facts(context), "movie": context.label}
        fill = lambda text: _FIELDS.sub(lambda m: fields[m.group(1)], text)  # noqa: E731 - no str.format: titles hold braces
        return fill(self.system).strip(), fill(self.user).strip()


def render_facts(c: ExplanationContext) -> str:
    """The context as bullet lines, in plain words (no score, no tier)."""
    lines = [f"- Recommended movie: {c.label}"]
    if c.genres:
        lines.append(f"- Its genres: {join_words(c.genres)}")
    if c.tags:
        lines.append(f"- Viewers tagged it: {join_words(c.tags)}")
    if c.user_top_genres:
        basis = "rates highly most often" if c.top_genres_basis == "liked" else "watches most"
        lines.append(f"- Genres the user {basis}: {join_words(c.user_top_genres)}")
    if c.shared_genres:
        lines.append(f"- Genres the movie shares with the user's favourites: {join_words(c.shared_genres)}")
    if c.nearest_liked:
        lines.append(f"- The user's highly rated movies most like it: {join_words([m.label for m in c.nearest_liked])}")
    if c.recent_liked:
        lines.append(f"- Movies the user rated highly recently: {join_words(list(c.recent_liked))}")
    if c.user_mean_rating is None:
        lines.append("- The user is new and has not rated anything yet")
    else:
        style = {"generous": "generous with ratings", "harsh": "hard to impress", "balanced": "balanced in their ratings"}
        lines.append(f"- The user is {style[c.rating_style]} (average {c.user_mean_rating:.1f} of 5 stars)")
    return "\n".join(lines)

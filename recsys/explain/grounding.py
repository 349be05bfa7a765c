"""The grounding check of LLM answers: reject any that says what its context does not.

An answer is rejected when, after the context's own names are taken out (the movies it names, their
titles, the movie's tags, the genres it names), it still

* mentions a score, an algorithm or another banned pattern (``conf/explain/*.yaml``: ``banned``);
* names a genre of the catalogue (or an alias such as "sci-fi", "animated") not in the context;
* names a catalogue title, or any "Title (1999)", not in the context;
* names a person or another proper name: two or more capitalised words in a row (a sentence's
  first word is ignored when it is a common word such as "If" or "Fans").

Single capitalised words are not checked (they start sentences); a single-word name ("Spielberg")
passes. The check errs towards rejection: a rejected answer is replaced by the template, which is
always grounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from recsys.explain.context import ExplanationContext, display_title

GENRE_ALIASES = {
    "Sci-Fi": ("sci-fi", "science fiction", "science-fiction", "scifi"),
    "Film-Noir": ("film-noir", "film noir", "noir"),
    "Children": ("children's", "children", "kids"),
    "Animation": ("animation", "animated"),
    "Romance": ("romance", "romances", "romantic"),
    "Comedy": ("comedy", "comedies", "comedic"),
    "Documentary": ("documentary", "documentaries"),
    "Musical": ("musical", "musicals"),
    "Thriller": ("thriller", "thrillers"),
    "Western": ("western", "westerns"),
    "Mystery": ("mystery", "mysteries"),
    "Fantasy": ("fantasy", "fantasies"),
    "Adventure": ("adventure", "adventures"),
    "Drama": ("drama", "dramas"),
    "Horror": ("horror",),
    "Crime": ("crime",),
    "War": ("war",),
    "Action": ("action",),
    "IMAX": ("imax",),
}
SENTENCE_WORDS = frozenset(
    "a after also an and another as because before both but enjoy expect fans for given here if in it "
    "it's its just like looks maybe now on perhaps plus since so sounds that the then there this "
    "those try we what when while why with you you'll you're you've your".split()
)
_WORD = r"[A-Z][a-z]+(?:['’-][A-Za-z]+)*"
_CAPITAL_RUN = re.compile(rf"{_WORD}(?:\s+(?:{_WORD}|[A-Z]\.))+")
_TITLE_YEAR = re.compile(r"([A-Z][^.!?()\n]{0,80}?)\s*\((?:19|20)\d\d\)")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“]\s*)$")


class GroundingCheck:
    """Checks LLM answers against their :class:`ExplanationContext`.

    Args:
        titles: the catalogue's titles (MovieLens form, "Rock, The"); titles of at least two
            words are looked for in answers.
        genres: the catalogue's genres (their names and :data:`GENRE_ALIASES`).
        banned: regular expressions (case-insensitive) an answer must not match.
    """

    def __init__(self, titles: Iterable[str], genres: Iterable[str], banned: Sequence[str]) -> None:
        self.banned = [re.compile(p, re.IGNORECASE) for p in banned]
        self.genre_words = {g: GENRE_ALIASES.get(g, (g.lower(),)) for g in genres if g and not g.startswith("(")}
        self._genre_patterns = {
            g: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
            for g, words in self.genre_words.items()
        }
        shown = sorted({display_title(str(t)) for t in titles if len(str(t).split()) >= 2}, key=len, reverse=True)
        self._titles = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in shown) + r")(?!\w)") if shown else None

    def problems(self, text: str, context: ExplanationContext) -> list[str]:
        """What ``text`` says that ``context`` does not (empty: grounded)."""
        found = [f"mentions {m.group(0)!r}" for p in self.banned if (m := p.search(text))]
        rest = self._strip_allowed(text, context)
        allowed_genres = set(context.genres_named())
        for genre, pattern in self._genre_patterns.items():
            if genre not in allowed_genres and (m := pattern.search(rest)):
                found.append(f"names the genre {m.group(0)!r}, not in its context")
        for m in _TITLE_YEAR.finditer(rest):
            found.append(f"names the movie {m.group(0).strip()!r}, not in its context")
        rest = _TITLE_YEAR.sub(" ", rest)
        if self._titles is not None:
            found += [f"names the movie {m.group(0)!r}, not in its context" for m in self._titles.finditer(rest)]
        for m in _CAPITAL_RUN.finditer(rest):
            words = m.group(0).split()
            if _SENTENCE_START.search(rest[: m.start()]) and words[0].lower() in SENTENCE_WORDS:
                words = words[1:]
            if len(words) >= 2:
                found.append(f"names {' '.join(words)!r}, not in its context")
        return found

    def _strip_allowed(self, text: str, c: ExplanationContext) -> str:
        """``text`` with every name the context allows blanked out (longest first)."""
        names = {*c.labels(), c.title, *(label.rsplit(" (", 1)[0] for label in c.labels()), *c.tags}
        for genre in c.genres_named():
            names.update(self.genre_words.get(genre, (genre.lower(),)))
            names.add(genre)
        for name in sorted((n for n in names if n), key=len, reverse=True):
            text = re.sub(r"(?<!\w)" + re.escape(name) + r"(?!\w)", " ", text, flags=re.IGNORECASE)
        return text

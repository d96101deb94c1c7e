"""Rule match items as matcher atoms: keywords (with ``*`` words) and regexes.

Shared by the loader (a keyword that makes no atom is a problem) and the engine
(which compiles every item of every rule into one :class:`~bot.rules.matcher.Matcher`).
"""

from __future__ import annotations

import re2

from bot.rules.matcher import TEXT_VIEW, Atom
from bot.rules.normalise import normalise_regex, normalise_text, umlaut_spelling


def keyword_atom(keyword: str) -> Atom:
    """A keyword (maybe with ``*`` words) as an atom; raises ValueError if empty."""
    words = keyword.split()
    if "*" not in words:
        phrase = strip_sentence_marks(normalise_text(keyword))
        if not phrase:
            raise ValueError("has no letters or digits")
        spelled = umlaut_spelling(keyword)  # "müde" also matches "muede"
        if spelled is not None:
            other = strip_sentence_marks(normalise_text(spelled))
            if other != phrase:
                both = "|".join(re2.escape(p).replace("\\ ", " ") for p in (phrase, other))
                return Atom("regex", f" (?:{both}) ", TEXT_VIEW)
        return Atom("keyword", phrase)
    parts: list[str] = []
    for word in words:
        if word == "*":
            parts.append(r"[^ .]+")
            continue
        norm = strip_sentence_marks(normalise_text(word))
        if norm:
            parts.append(re2.escape(norm).replace("\\ ", " "))
    if not any(p != r"[^ .]+" for p in parts):
        raise ValueError("needs at least one word besides '*'")
    return Atom("regex", " " + " ".join(parts) + " ", TEXT_VIEW)


def strip_sentence_marks(phrase: str) -> str:
    """``phrase`` without the sentence marks (``.``) at either end."""
    words = phrase.split()
    while words and words[0] == ".":
        words.pop(0)
    while words and words[-1] == ".":
        words.pop()
    return " ".join(words)


def regex_atom(pattern: str, view: str) -> Atom:
    """A regex item on ``view`` as an atom (normalised like the text on the text view)."""
    return Atom("regex", normalise_regex(pattern) if view == TEXT_VIEW else pattern, view)


"""Find which atoms (keywords and regexes) occur in a normalised message.

All literal keywords of all rules live in one Aho-Corasick automaton, so the cost
per message does not grow with the number of keywords. Keywords are stored
padded with spaces (``" kil myself "``) and the ``text`` view is padded the same
way, so every hit is a whole word or phrase without any boundary check.

Regexes are compiled with RE2 (linear time, no catastrophic backtracking) and
grouped per view into one ``re2.Set``: one pass over the message says which
regexes match, and only those are searched again, lazily, to find the span for
the reason shown to moderators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import ahocorasick
import re2

from bot.rules.normalise import RAW, MaskResolver, Normalised, normalise

_SURROGATE: Final = re.compile("[\ud800-\udfff]")

TEXT_VIEW: Final = "text"
RAW_VIEW: Final = "raw"
VIEWS: Final = (TEXT_VIEW, RAW_VIEW)

_RE2_MAX_MEM: Final = 64 << 20


def re2_options() -> re2.Options:
    """RE2 options used for every regex (more DFA memory than the default)."""
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    return options


@dataclass(frozen=True)
class Atom:
    """One thing to look for: a normalised keyword phrase, or a regex on a view.

    ``pattern`` is, for a keyword, its normalised form without padding
    (``"kil myself"``); for a regex, the RE2 pattern as it will be compiled.
    """

    kind: str  # "keyword" | "regex"
    pattern: str
    view: str = TEXT_VIEW


class Hit(NamedTuple):
    """Where an atom was first found: a view index (:data:`RAW` for raw) and a span.

    Regex hits found through an RE2 set have ``start == end == -1`` until
    :meth:`Matcher.locate` fills them in.
    """

    view: int
    start: int
    end: int


class Matcher:
    """Scans normalised messages for a fixed list of atoms (ids are list indexes)."""

    def __init__(self, atoms: Sequence[Atom]) -> None:
        self.atoms: tuple[Atom, ...] = tuple(atoms)
        self._automaton: ahocorasick.Automaton | None = None
        self._regexes: dict[int, re2._Regexp] = {}
        self._sets: dict[str, tuple[re2.Set, list[int]]] = {}
        self._loose: dict[str, list[int]] = {TEXT_VIEW: [], RAW_VIEW: []}
        vocabulary: set[str] = set()
        by_phrase: dict[str, list[int]] = {}
        for atom_id, atom in enumerate(self.atoms):
            if atom.kind == "keyword":
                by_phrase.setdefault(atom.pattern, []).append(atom_id)
                vocabulary.update(w for w in atom.pattern.split() if w.isalpha())
            elif atom.kind == "regex":
                if atom.view not in VIEWS:
                    raise ValueError(f"unknown view {atom.view!r}")
                self._regexes[atom_id] = re2.compile(atom.pattern, re2_options())
            else:
                raise ValueError(f"unknown atom kind {atom.kind!r}")
        if by_phrase:
            automaton = ahocorasick.Automaton()
            for phrase, ids in by_phrase.items():
                padded = f" {phrase} "
                automaton.add_word(padded, (len(padded), tuple(ids)))
            automaton.make_automaton()
            self._automaton = automaton
        self._build_sets()
        self.resolver = MaskResolver(vocabulary)

    def _build_sets(self) -> None:
        for view in VIEWS:
            ids = [i for i, a in enumerate(self.atoms) if a.kind == "regex" and a.view == view]
            if not ids:
                continue
            regex_set = re2.Set.SearchSet(re2_options())
            in_set: list[int] = []
            for atom_id in ids:
                try:
                    regex_set.Add(self.atoms[atom_id].pattern)
                except re2.error:
                    self._loose[view].append(atom_id)
                else:
                    in_set.append(atom_id)
            if in_set:
                try:
                    regex_set.Compile()
                except re2.error:
                    self._loose[view].extend(in_set)
                else:
                    self._sets[view] = (regex_set, in_set)

    @property
    def keyword_count(self) -> int:
        """Number of distinct keyword phrases in the automaton."""
        return len(self._automaton) if self._automaton is not None else 0

    def normalise(self, text: str) -> Normalised:
        """Normalise a message, resolving ``*``-masked words against this vocabulary.

        Lone UTF-16 surrogates (a JSON ``"\\ud800"`` escape in a Matrix event decodes to
        one) cannot be encoded for the regex engine: they become U+FFFD first.
        """
        if _SURROGATE.search(text):
            text = _SURROGATE.sub("\ufffd", text)
        return normalise(text, self.resolver)

    def scan(self, norm: Normalised) -> dict[int, Hit]:
        """Atoms found in any view of ``norm``, each with its first hit."""
        hits: dict[int, Hit] = {}
        views = norm.views
        automaton = self._automaton
        if automaton is not None:
            for index, view in enumerate(views):
                for end, (length, ids) in automaton.iter(view):
                    start = end - length + 2
                    for atom_id in ids:
                        if atom_id not in hits:
                            hits[atom_id] = Hit(index, start, end)
        text_set = self._sets.get(TEXT_VIEW)
        for index, view in enumerate(views):
            if text_set is not None:
                found = text_set[0].Match(view)
                if found:
                    for k in found:
                        atom_id = text_set[1][k]
                        if atom_id not in hits:
                            hits[atom_id] = Hit(index, -1, -1)
            self._scan_loose(TEXT_VIEW, index, view, hits)
        raw_set = self._sets.get(RAW_VIEW)
        if raw_set is not None:
            found = raw_set[0].Match(norm.raw)
            if found:
                for k in found:
                    atom_id = raw_set[1][k]
                    if atom_id not in hits:
                        hits[atom_id] = Hit(RAW, -1, -1)
        self._scan_loose(RAW_VIEW, RAW, norm.raw, hits)
        return hits

    def _scan_loose(self, view_name: str, index: int, view: str, hits: dict[int, Hit]) -> None:
        for atom_id in self._loose[view_name]:
            if atom_id not in hits:
                m = self._regexes[atom_id].search(view)
                if m is not None:
                    hits[atom_id] = Hit(index, m.start(), m.end())

    def locate(self, atom_id: int, hit: Hit, norm: Normalised) -> Hit:
        """``hit`` with its span filled in (regex hits from a set have none yet)."""
        if hit.start >= 0 or atom_id not in self._regexes:
            return hit
        m = self._regexes[atom_id].search(norm.view(hit.view))
        if m is None:  # cannot happen: the set said it matched
            return Hit(hit.view, 0, 0)
        return Hit(hit.view, m.start(), m.end())

    def find(self, text: str) -> dict[int, Hit]:
        """Normalise and scan in one call (handy in tests and tools)."""
        return self.scan(self.normalise(text))


def keyword_atoms(phrases: Iterable[str]) -> list[Atom]:
    """Keyword atoms for already normalised phrases."""
    return [Atom("keyword", p) for p in phrases]

"""Find which atoms (keywords and regexes) occur in a normalised message.

All literal keywords of all rules live in one Aho-Corasick automaton, so the cost
per message does not grow with the number of keywords. Keywords are stored
padded with spaces (``" kil myself "``) and the ``text`` view is padded the same
way, so every hit is a whole word or phrase without any boundary check.

Regexes are compiled with RE2 (linear time, no catastrophic backtracking) and
grouped per view into one RE2 prefilter (``re2.Filter``, RE2's ``FilteredRE2``): RE2
works out the literals each regex needs ("kil", "myself"...), one pass of a literal
automaton over the message finds which of those occur, and only the regexes whose
literals are all there (plus the few that need none) are run. The answer is the same as
one ``re2.Set`` over every regex (a test checks it on the corpus), but new text is cheap:
a set of hundreds of regexes builds its lazy DFA afresh for every message it has not seen,
the literal pass does not. Only the regexes that matched are searched again, lazily, to
find the span for the reason shown to moderators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

import ahocorasick
import re2

from bot.rules.normalise import RAW, MaskResolver, Normalised, normalise, pattern_words

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


class RegexGroup(Protocol):
    """Many regexes matched in one call (``re2.Filter`` or ``re2.Set``): which match."""

    def Match(self, text: str) -> list[int] | None:
        """Indexes (in the order added) of the regexes that match ``text``."""
        ...


class Matcher:
    """Scans normalised messages for a fixed list of atoms (ids are list indexes).

    ``prefilter=False`` groups the regexes in one ``re2.Set`` per view instead of the
    prefilter (the same answers, slower on new text; for tests and comparisons).
    """

    def __init__(self, atoms: Sequence[Atom], prefilter: bool = True) -> None:
        self.atoms: tuple[Atom, ...] = tuple(atoms)
        self.prefilter = prefilter
        self._automaton: ahocorasick.Automaton | None = None
        self._regexes: dict[int, re2._Regexp] = {}
        self._sets: dict[str, list[tuple[RegexGroup, list[int]]]] = {}
        self._loose: dict[str, list[int]] = {TEXT_VIEW: [], RAW_VIEW: []}
        vocabulary: set[str] = set()
        spelled: set[str] = set()
        by_phrase: dict[str, list[int]] = {}
        for atom_id, atom in enumerate(self.atoms):
            if atom.kind == "keyword":
                by_phrase.setdefault(atom.pattern, []).append(atom_id)
                vocabulary.update(w for w in atom.pattern.split() if w.isalpha())
            elif atom.kind == "regex":
                if atom.view not in VIEWS:
                    raise ValueError(f"unknown view {atom.view!r}")
                self._regexes[atom_id] = re2.compile(atom.pattern, re2_options())
                spelled |= pattern_words(atom.pattern)
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
        self.resolver = MaskResolver(vocabulary, spelled)

    def _build_sets(self) -> None:
        for view in VIEWS:
            ids = [i for i, a in enumerate(self.atoms) if a.kind == "regex" and a.view == view]
            if not ids:
                continue
            groups = self._build_filter(ids) if self.prefilter else None
            if groups is None:
                groups = [(group, in_group) for group, in_group in [self._build_set(ids)]
                          if in_group]
            grouped = {atom_id for _, in_group in groups for atom_id in in_group}
            self._sets[view] = groups
            self._loose[view].extend(i for i in ids if i not in grouped)

    def _build_filter(self, ids: list[int]) -> list[tuple[RegexGroup, list[int]]] | None:
        """The regexes ``ids`` behind RE2's literal prefilter, and those for which RE2
        finds no literal (they would run on every message) in one small set; ``None`` if
        the prefilter cannot be built."""
        filters = self._filters_of(ids)
        if not filters:
            return None
        groups: list[tuple[RegexGroup, list[int]]] = []
        needs_none: set[int] = set()
        for regex_filter, in_filter in filters:
            empty = {in_filter[k] for k in regex_filter.Match("", potential=True) or ()}
            if not empty:
                groups.append((regex_filter, in_filter))
                continue
            needs_none |= empty
            groups.extend(self._filters_of([i for i in in_filter if i not in empty]))
        if needs_none:
            regex_set, in_set = self._build_set(sorted(needs_none))
            if in_set:
                groups.append((regex_set, in_set))
        return groups

    def _filters_of(self, ids: list[int]) -> list[tuple[re2.Filter, list[int]]]:
        """``ids`` behind as few prefilters as compile. RE2 builds each prefilter's literal
        matcher with its default memory budget, so a large pack (some 870 regexes) is split
        in halves until each part compiles; each part costs one more literal pass."""
        if not ids:
            return []
        whole = self._filter_of(ids)
        if whole is not None:
            return [whole]
        if len(ids) < 2:
            return []
        middle = len(ids) // 2
        return self._filters_of(ids[:middle]) + self._filters_of(ids[middle:])

    def _filter_of(self, ids: list[int]) -> tuple[re2.Filter, list[int]] | None:
        """A compiled ``re2.Filter`` of the regexes ``ids`` (those it accepts), or ``None``."""
        regex_filter = re2.Filter()
        in_filter: list[int] = []
        for atom_id in ids:
            try:
                regex_filter.Add(self.atoms[atom_id].pattern, re2_options())
            except re2.error:
                continue
            in_filter.append(atom_id)
        if not in_filter:
            return None
        try:
            regex_filter.Compile()
        except re2.error:
            return None
        return regex_filter, in_filter

    def _build_set(self, ids: list[int]) -> tuple[RegexGroup, list[int]]:
        """The regexes ``ids`` in one ``re2.Set`` (those it accepts; none if it fails)."""
        regex_set = re2.Set.SearchSet(re2_options())
        in_set: list[int] = []
        for atom_id in ids:
            try:
                regex_set.Add(self.atoms[atom_id].pattern)
            except re2.error:
                continue
            in_set.append(atom_id)
        if in_set:
            try:
                regex_set.Compile()
            except re2.error:
                in_set = []
        return regex_set, in_set

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
        text_groups = self._sets.get(TEXT_VIEW, ())
        for index, view in enumerate(views):
            for group, ids in text_groups:
                found = group.Match(view)
                if found:
                    for k in found:
                        atom_id = ids[k]
                        if atom_id not in hits:
                            hits[atom_id] = Hit(index, -1, -1)
            self._scan_loose(TEXT_VIEW, index, view, hits)
        for group, ids in self._sets.get(RAW_VIEW, ()):
            found = group.Match(norm.raw)
            if found:
                for k in found:
                    atom_id = ids[k]
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

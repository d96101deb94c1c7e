"""The rule engine: a :class:`Rulebook` of validated rules, evaluated purely.

:meth:`Rulebook.load` reports every problem of every file at once, as
``file:line: rule-id: message``, in one :class:`~bot.core.errors.ConfigError` (the
checks are in :mod:`bot.rules.loader`). :meth:`Rulebook.evaluate` is pure: text
in, matched rules with reasons out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from bot.rules.atoms import keyword_atom, regex_atom
from bot.rules.loader import MATCH_KEYS, load_dir, load_rules_text
from bot.rules.matcher import Atom, Hit, Matcher
from bot.rules.model import Match, MatchContext, Rule, applies
from bot.rules.normalise import Normalised

_REASON_PATTERN_CHARS: Final = 60


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    any: tuple[frozenset[int], ...]
    all: tuple[frozenset[int], ...]
    unless: tuple[frozenset[int], ...]
    positive: tuple[int, ...]  # atom ids of any+all, in order, for the reason


def _sort_key(rule: Rule) -> tuple[int, int, str]:
    return (-rule.severity_rank, -rule.priority, rule.id)


class Rulebook:
    """A loaded, validated set of rules, ready to evaluate messages."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        """Compile ``rules`` (assumed valid: use :meth:`load` or :meth:`loads`)."""
        self.rules: tuple[Rule, ...] = tuple(sorted(rules, key=_sort_key))
        atoms: list[Atom] = []
        self._display: list[tuple[str, str]] = []  # (kind, source) per atom
        self._rule_of_atom: list[int] = []  # rule index for positive atoms, -1 for unless
        compiled: list[_Compiled] = []
        for index, rule in enumerate(self.rules):
            groups: dict[str, list[frozenset[int]]] = {"any": [], "all": [], "unless": []}
            positive: list[int] = []
            for group in MATCH_KEYS:
                for item in getattr(rule.match, group):
                    ids: list[int] = []
                    for value in item.values:
                        atom = (keyword_atom(value) if item.kind == "keywords"
                                else regex_atom(value, item.view))
                        ids.append(len(atoms))
                        atoms.append(atom)
                        self._display.append((item.kind, value))
                        self._rule_of_atom.append(index if group != "unless" else -1)
                    groups[group].append(frozenset(ids))
                    if group != "unless":
                        positive.extend(ids)
            compiled.append(_Compiled(rule, tuple(groups["any"]), tuple(groups["all"]),
                                      tuple(groups["unless"]), tuple(positive)))
        self._compiled = tuple(compiled)
        self._matcher = Matcher(atoms)
        self._by_id = {r.id: r for r in self.rules}

    # -- loading ------------------------------------------------------------

    @classmethod
    def load(cls, rules_dir: str | Path, packs: Sequence[str] | None = None,
             templates: Collection[str] | None = None, community: str | Path | None = None,
             community_text: str | None = None) -> Rulebook:
        """Load and validate ``rules_dir/*.yaml`` (or only the named packs), then the
        community's own rule file ``community`` (or ``community_text`` in its place).

        Files whose top level is a mapping (``helplines.yaml``) are data, not
        rules, and are skipped. Raises :class:`ConfigError` listing every problem.
        """
        return cls(load_dir(rules_dir, packs, templates, community, community_text))

    @classmethod
    def loads(cls, text: str, filename: str = "<rules>",
              templates: Collection[str] | None = None) -> Rulebook:
        """Load rules from YAML text (one rule file), validating like :meth:`load`."""
        return cls(load_rules_text(text, filename, templates))

    # -- evaluation ---------------------------------------------------------

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, or ``None``."""
        return self._by_id.get(rule_id)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def matcher(self) -> Matcher:
        """The shared matcher (for tools and benchmarks)."""
        return self._matcher

    def normalise(self, text: str) -> Normalised:
        """The normalised views of ``text``, as :meth:`evaluate` sees them."""
        return self._matcher.normalise(text)

    def evaluate(self, text: str, ctx: MatchContext | None = None) -> list[Match]:
        """Rules matching ``text`` in ``ctx``: pure, at most one Match per rule.

        Sorted by severity (highest first), then priority (highest first), then id.
        ``ctx=None`` applies every rule regardless of scope.
        """
        norm = self._matcher.normalise(text)
        hits = self._matcher.scan(norm)
        if not hits:
            return []
        rule_of_atom = self._rule_of_atom
        candidates = {rule_of_atom[a] for a in hits}
        candidates.discard(-1)
        out: list[Match] = []
        for index in sorted(candidates):
            c = self._compiled[index]
            if not applies(c.rule.scope, ctx):
                continue
            if c.any and not any(not hits.keys().isdisjoint(item) for item in c.any):
                continue
            if not all(not hits.keys().isdisjoint(item) for item in c.all):
                continue
            if any(not hits.keys().isdisjoint(item) for item in c.unless):
                continue
            atom_id = next(a for a in c.positive if a in hits)
            out.append(Match(c.rule, explain=partial(self._explain, atom_id, hits[atom_id], norm)))
        return out

    def _explain(self, atom_id: int, hit: Hit, norm: Normalised) -> tuple[str, str]:
        """(reason, matched) for the first positive atom that hit."""
        hit = self._matcher.locate(atom_id, hit, norm)
        matched = norm.matched_text(hit.view, hit.start, hit.end)
        kind, source = self._display[atom_id]
        if kind == "keywords":
            return f'keyword "{source}"', matched
        view = " on raw text" if hit.view < 0 else ""
        shown = source if len(source) <= _REASON_PATTERN_CHARS else source[:_REASON_PATTERN_CHARS] + "..."
        return f'regex /{shown}/{view} matched "{matched}"', matched

    def check_examples(self, only: Collection[str] | None = None) -> list[str]:
        """One line per failing embedded example (empty when all pass); ``only``: the
        examples of the rules of these files alone."""
        failures: list[str] = []
        for rule in self.rules:
            if only is not None and rule.file not in only:
                continue
            lines = rule.example_lines
            n_match = len(rule.examples_match)
            for k, example in enumerate(rule.examples_match + rule.examples_no_match):
                expect = k < n_match
                line = lines[k] if k < len(lines) else rule.line
                matches = self.evaluate(example)
                mine = next((m for m in matches if m.rule.id == rule.id), None)
                if expect and mine is None:
                    others = ", ".join(m.rule.id for m in matches)
                    got = "no match" + (f"; other rules matched: {others}" if others else "")
                    failures.append(f'{rule.file}:{line}: {rule.id}: expected match for '
                                    f'"{example}" (got: {got})')
                elif not expect and mine is not None:
                    failures.append(f'{rule.file}:{line}: {rule.id}: expected no match for '
                                    f'"{example}" (got: {mine.reason})')
        return failures

    @property
    def example_count(self) -> int:
        """Number of embedded examples across all rules."""
        return sum(len(r.examples_match) + len(r.examples_no_match) for r in self.rules)



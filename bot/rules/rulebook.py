"""Rules: the YAML schema, loading with full validation, and pure evaluation.

A rule file is a YAML list of rules (see ``rules/*.yaml`` and the README's
rule-writing guide)::

    - id: crisis-intent
      category: crisis
      severity: critical
      description: Current suicidal intent
      match:
        any:
          - keywords: ["kill myself", "end my life"]
          - regex: '\\bsu[i1]cid(?:e|al)\\b'
        unless:
          - keywords: ["killing myself laughing"]
      actions:
        - alert_moderators: {urgency: now}
        - signpost: {topic: crisis}
      examples:
        match: ["i want to k1ll myself"]
        no_match: ["this homework is killing me"]

:meth:`Rulebook.load` reports every problem of every file at once, as
``file:line: rule-id: message``, in one :class:`~bot.errors.ConfigError`.
:meth:`Rulebook.evaluate` is pure: text in, matched rules with reasons out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import re2

from bot import durations
from bot.errors import ConfigError, Problem
from bot.rules.matcher import RAW_VIEW, TEXT_VIEW, VIEWS, Atom, Hit, Matcher, re2_options
from bot.rules.normalise import Normalised, normalise_regex, normalise_text
from bot.signposting import TOPICS
from bot.yamlsrc import LineDict, LineList, line_of, load_file, load_text

SEVERITIES: Final = ("info", "low", "medium", "high", "critical")
CATEGORIES: Final = ("crisis", "concern", "method", "hostility", "pii", "sensitive", "signpost", "spam", "other")
ACTIONS: Final[Mapping[str, frozenset[str]]] = MappingProxyType({
    "alert_moderators": frozenset({"urgency"}),
    "signpost": frozenset({"topic", "privately"}),
    "reply": frozenset({"template", "privately"}),
    "hide": frozenset(),
    "warn": frozenset(),
    "timeout": frozenset({"minutes"}),
    "redirect_cw": frozenset(),
    "log": frozenset(),
})
URGENCIES: Final = ("now", "normal", "quiet")
"""``now`` pings on-duty moderators at once; ``normal`` alerts without the urgent ping; ``quiet`` is
a "check in when you can" note in the moderators' channel: no ping, never re-escalated."""
NEEDS_EXPLAIN: Final = frozenset({"hide", "warn", "timeout", "redirect_cw"})
NEVER_ON_CRISIS: Final = frozenset({"hide", "timeout", "warn"})
"""Members in crisis are supported, never punished: these actions are refused on crisis rules."""
SUPPORT_CATEGORIES: Final = frozenset({"crisis", "concern"})
"""``crisis`` is urgent (intent, plan, preparation, goodbye, act under way); ``concern`` is the
quiet level (a passive wish or hopelessness without intent). Neither may ever be punitive."""

RULE_KEYS: Final = frozenset({
    "id", "category", "severity", "description", "match", "scope", "actions", "explain",
    "cooldown", "shadow", "priority", "examples",
})
REQUIRED_KEYS: Final = ("id", "category", "severity", "description", "match", "actions")
MATCH_KEYS: Final = ("any", "all", "unless")
ITEM_KINDS: Final = ("keywords", "phrases", "regex")
SCOPE_KEYS: Final = frozenset({"channels", "exempt_roles", "newcomers_only"})
CHANNEL_KEYS: Final = frozenset({"include", "exclude"})
EXAMPLE_KEYS: Final = frozenset({"match", "no_match"})

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_SKIPPED_FILES: Final = frozenset({"helplines.yaml"})
_DOUBLED_ACROSS_GROUP = re.compile(r"(?<!\\)([a-z])\(\?:\1[a-z]")
"""A letter followed by a group starting with the same letter (``cut(?:ting)``), which
can never match normalised text, where the doubled letter is collapsed."""
_REASON_PATTERN_CHARS: Final = 60


# ---------------------------------------------------------------------------
# The data model


@dataclass(frozen=True)
class Action:
    """A planned action: a name from :data:`ACTIONS` and its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))


@dataclass(frozen=True)
class Scope:
    """Where a rule applies. Empty ``channels_include`` means every channel."""

    channels_include: frozenset[str] = frozenset()
    channels_exclude: frozenset[str] = frozenset()
    exempt_roles: frozenset[str] = frozenset()
    newcomers_only: bool = False


@dataclass(frozen=True)
class MatchItem:
    """One item of ``any``/``all``/``unless``: keywords (phrases) or regexes on a view."""

    kind: str  # "keywords" | "regex"
    values: tuple[str, ...]
    view: str = TEXT_VIEW


@dataclass(frozen=True)
class MatchSpec:
    """A rule's ``match``: ``any`` (empty when absent), ``all`` and ``unless`` items."""

    any: tuple[MatchItem, ...] = ()
    all: tuple[MatchItem, ...] = ()
    unless: tuple[MatchItem, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A validated rule. ``cooldown`` is in seconds; ``file``/``line`` locate it."""

    id: str
    category: str
    severity: str
    description: str
    actions: tuple[Action, ...]
    explain: str = ""
    scope: Scope = Scope()
    cooldown: float = 0.0
    shadow: bool = False
    priority: int = 0
    file: str = ""
    line: int = 0
    examples_match: tuple[str, ...] = ()
    examples_no_match: tuple[str, ...] = ()
    match: MatchSpec = MatchSpec()
    example_lines: tuple[int, ...] = field(default=(), compare=False, repr=False)
    """Lines of ``examples_match`` then ``examples_no_match`` items, for messages."""

    @property
    def severity_rank(self) -> int:
        """Position in :data:`SEVERITIES` (0 = info ... 4 = critical)."""
        return SEVERITIES.index(self.severity)

    @property
    def where(self) -> str:
        """``file:line`` of the rule."""
        return f"{self.file}:{self.line}"

    def action(self, name: str) -> Action | None:
        """The action with this name, if the rule has it."""
        return next((a for a in self.actions if a.name == name), None)


@dataclass(frozen=True)
class MatchContext:
    """What scope filtering needs to know about a message."""

    channel_names: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    is_newcomer: bool = False


class Match:
    """A rule that matched, why (``reason``), and the text that triggered it.

    Immutable, compared by value like a frozen dataclass. ``reason`` (for example
    ``keyword "kill myself"`` or ``regex /.../ matched "su1cide"``) and ``matched``
    (the span of the original message where it can be found, else the
    normalised span) are worked out on first access: deciding which rules match
    does not need them, and finding the original span costs more than matching.
    """

    __slots__ = ("_explain", "_matched", "_reason", "_rule")

    def __init__(self, rule: Rule, reason: str | None = None, matched: str | None = None, *,
                 explain: Callable[[], tuple[str, str]] | None = None) -> None:
        if explain is None and (reason is None or matched is None):
            raise TypeError("Match needs reason and matched, or explain")
        object.__setattr__(self, "_rule", rule)
        object.__setattr__(self, "_reason", reason)
        object.__setattr__(self, "_matched", matched)
        object.__setattr__(self, "_explain", explain)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Match is immutable")

    @property
    def rule(self) -> Rule:
        """The rule that matched."""
        return self._rule

    def _resolve(self) -> None:
        if self._reason is None or self._matched is None:
            assert self._explain is not None
            reason, matched = self._explain()
            object.__setattr__(self, "_reason", reason)
            object.__setattr__(self, "_matched", matched)
            object.__setattr__(self, "_explain", None)

    @property
    def reason(self) -> str:
        """Why the rule matched, for moderators and the case log."""
        self._resolve()
        assert self._reason is not None
        return self._reason

    @property
    def matched(self) -> str:
        """The text that triggered the rule (original span where possible)."""
        self._resolve()
        assert self._matched is not None
        return self._matched

    def _key(self) -> tuple[Rule, str, str]:
        return (self.rule, self.reason, self.matched)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Match(rule={self.rule.id!r}, reason={self.reason!r}, matched={self.matched!r})"


def applies(scope: Scope, ctx: MatchContext | None) -> bool:
    """Whether a rule with ``scope`` applies in ``ctx`` (``None``: no filtering)."""
    if ctx is None:
        return True
    if scope.channels_include and scope.channels_include.isdisjoint(ctx.channel_names):
        return False
    if scope.channels_exclude and not scope.channels_exclude.isdisjoint(ctx.channel_names):
        return False
    if scope.exempt_roles and not scope.exempt_roles.isdisjoint(ctx.roles):
        return False
    return not (scope.newcomers_only and not ctx.is_newcomer)


def parse_duration(value: Any) -> float | None:
    """Seconds for ``30``, ``"30s"``, ``"10m"``, ``"2h"``, ``"1h30m"``; ``None`` if invalid."""
    try:
        return durations.parse_duration(value)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Compilation and evaluation


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    any: tuple[frozenset[int], ...]
    all: tuple[frozenset[int], ...]
    unless: tuple[frozenset[int], ...]
    positive: tuple[int, ...]  # atom ids of any+all, in order, for the reason


def _sort_key(rule: Rule) -> tuple[int, int, str]:
    return (-rule.severity_rank, -rule.priority, rule.id)


def _keyword_atom(keyword: str) -> Atom:
    """A keyword (maybe with ``*`` words) as an atom; raises ValueError if empty."""
    words = keyword.split()
    if "*" not in words:
        phrase = _strip_sentence_marks(normalise_text(keyword))
        if not phrase:
            raise ValueError("has no letters or digits")
        return Atom("keyword", phrase)
    parts: list[str] = []
    for word in words:
        if word == "*":
            parts.append(r"[^ .]+")
            continue
        norm = _strip_sentence_marks(normalise_text(word))
        if norm:
            parts.append(re2.escape(norm).replace("\\ ", " "))
    if not any(p != r"[^ .]+" for p in parts):
        raise ValueError("needs at least one word besides '*'")
    return Atom("regex", " " + " ".join(parts) + " ", TEXT_VIEW)


def _strip_sentence_marks(phrase: str) -> str:
    words = phrase.split()
    while words and words[0] == ".":
        words.pop(0)
    while words and words[-1] == ".":
        words.pop()
    return " ".join(words)


def _regex_atom(pattern: str, view: str) -> Atom:
    return Atom("regex", normalise_regex(pattern) if view == TEXT_VIEW else pattern, view)


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, false (not an exception) for names the OS refuses (too long, NUL)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _is_file(path: Path) -> bool:
    """``path.is_file()``, false for names the OS refuses."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


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
                        atom = (_keyword_atom(value) if item.kind == "keywords"
                                else _regex_atom(value, item.view))
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
             templates: Collection[str] | None = None) -> Rulebook:
        """Load and validate ``rules_dir/*.yaml`` (or only the named packs).

        Files whose top level is a mapping (``helplines.yaml``) are data, not
        rules, and are skipped. Raises :class:`ConfigError` listing every problem.
        """
        rules_dir = Path(rules_dir)
        problems: list[Problem] = []
        loader = _Loader(templates, problems)
        if not _is_dir(rules_dir):
            raise ConfigError([Problem(str(rules_dir), 0, "rules", "rules directory not found")])
        if packs is None:
            for path in sorted(rules_dir.glob("*.yaml")):
                if path.name not in _SKIPPED_FILES:
                    loader.load_path(path, explicit=False)
        else:
            for pack in packs:
                name = pack if pack.endswith(".yaml") else f"{pack}.yaml"
                path = rules_dir / name
                if not _is_file(path):
                    problems.append(Problem(str(rules_dir), 0, "packs",
                                            f"unknown rule pack {pack!r} (no {name} in {rules_dir})"))
                    continue
                loader.load_path(path, explicit=True)
        if problems:
            raise ConfigError(problems)
        return cls(loader.rules)

    @classmethod
    def loads(cls, text: str, filename: str = "<rules>",
              templates: Collection[str] | None = None) -> Rulebook:
        """Load rules from YAML text (one rule file), validating like :meth:`load`."""
        problems: list[Problem] = []
        loader = _Loader(templates, problems)
        try:
            data = load_text(text, filename)
        except ConfigError as exc:
            raise ConfigError(exc.problems) from None
        loader.load_data(data, filename, explicit=True)
        if problems:
            raise ConfigError(problems)
        return cls(loader.rules)

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

    def check_examples(self) -> list[str]:
        """One line per failing embedded example (empty when all pass)."""
        failures: list[str] = []
        for rule in self.rules:
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


# ---------------------------------------------------------------------------
# Validation


class _Loader:
    """Turns parsed YAML into rules, collecting every problem."""

    def __init__(self, templates: Collection[str] | None, problems: list[Problem]) -> None:
        self.templates = None if templates is None else frozenset(templates)
        self.problems = problems
        self.rules: list[Rule] = []
        self.seen: dict[str, str] = {}  # id -> "file:line"

    def load_path(self, path: Path, explicit: bool) -> None:
        try:
            data = load_file(path)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        self.load_data(data, str(path), explicit)

    def load_data(self, data: Any, filename: str, explicit: bool) -> None:
        if data is None:
            return
        if isinstance(data, dict):
            if explicit:
                self.problems.append(Problem(filename, line_of(data, default=1), "rules",
                                             "not a rule file: expected a list of rules at the top level"))
            return
        if not isinstance(data, list):
            self.problems.append(Problem(filename, line_of(data, default=1), "rules",
                                         "expected a list of rules at the top level"))
            return
        for index, raw in enumerate(data):
            line = line_of(data, index, default=1)
            if not isinstance(raw, dict):
                self.problems.append(Problem(filename, line, f"rule #{index + 1}",
                                             "expected a rule (a mapping with id, category, ...)"))
                continue
            rule = _RuleParser(self, raw, filename, index).parse()
            if rule is not None:
                self.rules.append(rule)


class _RuleParser:
    """Validates one rule mapping; records problems on the loader."""

    def __init__(self, loader: _Loader, raw: LineDict, filename: str, index: int) -> None:
        self.loader = loader
        self.raw = raw
        self.file = filename
        self.line = raw.line if isinstance(raw, LineDict) else 0
        rid = raw.get("id")
        self.id = rid if isinstance(rid, str) and rid else f"rule #{index + 1}"
        self.ok = True

    def problem(self, node: Any, key: Any, message: str) -> None:
        self.ok = False
        self.loader.problems.append(Problem(self.file, line_of(node, key, self.line), self.id, message))

    def parse(self) -> Rule | None:
        raw = self.raw
        for key in raw:
            if key not in RULE_KEYS:
                self.problem(raw, key, f"unknown key {key!r} (known: {', '.join(sorted(RULE_KEYS))})")
        for key in REQUIRED_KEYS:
            if key not in raw:
                self.problem(raw, None, f"missing required key {key!r}")
        rid = self._id()
        category = self._choice("category", CATEGORIES)
        severity = self._choice("severity", SEVERITIES)
        description = self._text("description")
        explain = self._text("explain")
        match = self._match()
        actions = self._actions(category, explain)
        scope = self._scope()
        cooldown = self._cooldown()
        shadow = self._bool(raw, "shadow")
        priority = self._int(raw, "priority")
        examples, example_lines = self._examples()
        if not self.ok:
            return None
        return Rule(
            id=rid, category=category, severity=severity, description=description,
            actions=actions, explain=explain, scope=scope, cooldown=cooldown, shadow=shadow,
            priority=priority, file=self.file, line=self.line,
            examples_match=examples[0], examples_no_match=examples[1], match=match,
            example_lines=example_lines,
        )

    # -- simple fields --------------------------------------------------

    def _id(self) -> str:
        rid = self.raw.get("id")
        if "id" not in self.raw:
            return ""
        if not isinstance(rid, str) or not _ID.fullmatch(rid):
            self.problem(self.raw, "id", f"id must be lower-case letters, digits, '-', '_' or '.', got {rid!r}")
            return ""
        where = f"{self.file}:{self.line}"
        if rid in self.loader.seen:
            self.problem(self.raw, "id", f"duplicate id (first defined at {self.loader.seen[rid]})")
        else:
            self.loader.seen[rid] = where
        return rid

    def _choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.raw.get(key)
        if key in self.raw and value not in allowed:
            self.problem(self.raw, key, f"unknown {key} {value!r} (one of: {', '.join(allowed)})")
        return value if isinstance(value, str) else ""

    def _text(self, key: str) -> str:
        value = self.raw.get(key, "")
        if not isinstance(value, str) or (key in self.raw and not value.strip()):
            self.problem(self.raw, key, f"{key} must be non-empty text")
            return ""
        return value.strip()

    def _bool(self, node: Any, key: str, label: str | None = None) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            self.problem(node, key, f"{label or key} must be true or false, got {value!r}")
            return False
        return value

    def _int(self, node: Any, key: str) -> int:
        value = node.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(node, key, f"{key} must be a whole number, got {value!r}")
            return 0
        return value

    def _cooldown(self) -> float:
        if "cooldown" not in self.raw:
            return 0.0
        seconds = parse_duration(self.raw["cooldown"])
        if seconds is None:
            self.problem(self.raw, "cooldown",
                         'cooldown must be a duration like "30s", "10m", "2h", "1d" or a '
                         f"number of seconds, got {self.raw['cooldown']!r}")
            return 0.0
        return seconds

    def _strings(self, node: Any, key: Any, label: str, allow_empty: bool = True) -> tuple[str, ...]:
        value = node[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(node, key, f"{label} must be a list of non-empty strings")
            return ()
        if not value and not allow_empty:
            self.problem(node, key, f"{label} must not be empty")
        return tuple(value)

    # -- match ----------------------------------------------------------

    def _match(self) -> MatchSpec:
        node = self.raw.get("match")
        if "match" not in self.raw:
            return MatchSpec()
        if not isinstance(node, dict):
            self.problem(self.raw, "match", "match must be a mapping with any/all/unless")
            return MatchSpec()
        for key in node:
            if key not in MATCH_KEYS:
                self.problem(node, key, f"match: unknown key {key!r} (known: any, all, unless)")
        if "any" not in node and "all" not in node:
            self.problem(node, None, "match needs 'any' or 'all'")
        groups: dict[str, tuple[MatchItem, ...]] = {}
        for group in MATCH_KEYS:
            if group not in node:
                groups[group] = ()
                continue
            items = node[group]
            if not isinstance(items, list) or not items:
                self.problem(node, group, f"match.{group} must be a non-empty list of items "
                                          "(keywords: [...] or regex: '...')")
                groups[group] = ()
                continue
            parsed = [self._item(items, i, f"match.{group}[{i}]") for i in range(len(items))]
            groups[group] = tuple(p for p in parsed if p is not None)
        return MatchSpec(groups["any"], groups["all"], groups["unless"])

    def _item(self, items: LineList, i: int, label: str) -> MatchItem | None:
        node = items[i]
        if not isinstance(node, dict):
            self.problem(items, i, f"{label}: expected a mapping like {{keywords: [...]}} or {{regex: '...'}}")
            return None
        kinds = [k for k in node if k in ITEM_KINDS]
        for key in node:
            if key not in ITEM_KINDS and key != "view":
                self.problem(node, key, f"{label}: unknown key {key!r} (known: keywords, phrases, regex, view)")
        if len(kinds) != 1:
            self.problem(node, None, f"{label}: needs exactly one of keywords, phrases, regex")
            return None
        kind = kinds[0]
        view = node.get("view", TEXT_VIEW)
        if "view" in node and kind != "regex":
            self.problem(node, "view", f"{label}: view applies to regex items only")
        elif view not in VIEWS:
            self.problem(node, "view", f"{label}: unknown view {view!r} (one of: {', '.join(VIEWS)})")
            view = TEXT_VIEW
        values = self._strings(node, kind, f"{label}.{kind}", allow_empty=False)
        if kind == "regex":
            for value in values:
                self._check_regex(node, kind, label, value, view)
            return MatchItem("regex", values, view)
        for value in values:
            try:
                _keyword_atom(value)
            except ValueError as exc:
                self.problem(node, kind, f"{label}: keyword {value!r} {exc}")
        return MatchItem("keywords", values)

    def _check_regex(self, node: Any, key: str, label: str, pattern: str, view: str) -> None:
        options = re2_options()
        options.log_errors = False
        compiled = pattern if view == RAW_VIEW else normalise_regex(pattern)
        try:
            regex = re2.compile(compiled, options)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            self.problem(node, key, f"{label}: bad regex /{pattern}/: {detail}")
            return
        if regex.search("") is not None or regex.search("  ") is not None:
            self.problem(node, key, f"{label}: regex /{pattern}/ matches empty text, so every message")
        if view != RAW_VIEW:
            doubled = _DOUBLED_ACROSS_GROUP.search(pattern)
            if doubled:
                letter = doubled.group(1)
                self.problem(node, key, f"{label}: regex /{pattern}/: {doubled.group(0)!r} can "
                             f"never match, because repeated letters are collapsed in the text "
                             f"('cutting' is read as 'cuting'); write {letter}(?:{letter}?...)")

    # -- actions --------------------------------------------------------

    def _actions(self, category: str, explain: str) -> tuple[Action, ...]:
        node = self.raw.get("actions")
        if "actions" not in self.raw:
            return ()
        if not isinstance(node, list) or not node:
            self.problem(self.raw, "actions", "actions must be a non-empty list")
            return ()
        actions: list[Action] = []
        names: set[str] = set()
        for i, item in enumerate(node):
            action = self._action(node, i, item)
            if action is None:
                continue
            if action.name in names:
                self.problem(node, i, f"actions[{i}]: action {action.name!r} listed twice")
            names.add(action.name)
            actions.append(action)
        if category in SUPPORT_CATEGORIES:
            for name in sorted(names & NEVER_ON_CRISIS):
                self.problem(self.raw, "actions",
                             f"{category} rules must never {name}: members in crisis are supported, "
                             "never punished (use alert_moderators and signpost)")
        needs = sorted(names & NEEDS_EXPLAIN)
        if needs and not explain:
            self.problem(self.raw, "actions",
                         f"explain is required when actions include {', '.join(needs)} "
                         "(the member is told why)")
        return tuple(actions)

    def _action(self, node: LineList, i: int, item: Any) -> Action | None:
        label = f"actions[{i}]"
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            if params is None:
                params = {}
        else:
            self.problem(node, i, f"{label}: expected an action name or {{name: {{params}}}}")
            return None
        if name not in ACTIONS:
            self.problem(node, i, f"{label}: unknown action {name!r} (one of: {', '.join(ACTIONS)})")
            return None
        if not isinstance(params, dict):
            self.problem(node, i, f"{label}: {name} parameters must be a mapping")
            return None
        where = params if isinstance(params, LineDict) else node
        for key in params:
            if key not in ACTIONS[name]:
                allowed = ", ".join(sorted(ACTIONS[name])) or "none"
                self.problem(where, key if where is params else i,
                             f"{label}: {name} has no parameter {key!r} (allowed: {allowed})")
        self._check_params(name, dict(params), where if where is params else None, node, i, label)
        if name == "signpost":
            params = {"topic": "crisis", **params}
        return Action(name, MappingProxyType(dict(params)))

    def _check_params(self, name: str, params: dict[str, Any], pnode: Any, node: Any,
                      i: int, label: str) -> None:
        def bad(key: str, message: str) -> None:
            if pnode is not None:
                self.problem(pnode, key, f"{label}: {name}.{key} {message}")
            else:
                self.problem(node, i, f"{label}: {name}.{key} {message}")

        if "urgency" in params and params["urgency"] not in URGENCIES:
            bad("urgency", f"must be one of {', '.join(URGENCIES)}, got {params['urgency']!r}")
        if "privately" in params and not isinstance(params["privately"], bool):
            bad("privately", f"must be true or false, got {params['privately']!r}")
        if "topic" in params and params["topic"] not in TOPICS:
            bad("topic", f"must be one of {', '.join(TOPICS)} (topics of helplines.yaml), "
                         f"got {params['topic']!r}")
        if "minutes" in params:
            minutes = params["minutes"]
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
                bad("minutes", f"must be a positive whole number, got {minutes!r}")
        if name == "timeout" and "minutes" not in params:
            bad("minutes", "is required")
        if name == "reply":
            template = params.get("template")
            if not isinstance(template, str) or not template:
                bad("template", "is required (the name of a reply template)")
            elif self.loader.templates is not None and template not in self.loader.templates:
                known = ", ".join(sorted(self.loader.templates)) or "none defined"
                bad("template", f"names unknown template {template!r} (known: {known})")

    # -- scope and examples ---------------------------------------------

    def _scope(self) -> Scope:
        node = self.raw.get("scope")
        if "scope" not in self.raw or node is None:
            return Scope()
        if not isinstance(node, dict):
            self.problem(self.raw, "scope", "scope must be a mapping")
            return Scope()
        for key in node:
            if key not in SCOPE_KEYS:
                self.problem(node, key, f"scope: unknown key {key!r} (known: {', '.join(sorted(SCOPE_KEYS))})")
        include: tuple[str, ...] = ()
        exclude: tuple[str, ...] = ()
        channels = node.get("channels")
        if channels is not None:
            if not isinstance(channels, dict):
                self.problem(node, "channels", "scope.channels must be a mapping with include/exclude")
            else:
                for key in channels:
                    if key not in CHANNEL_KEYS:
                        self.problem(channels, key, f"scope.channels: unknown key {key!r} (known: include, exclude)")
                if "include" in channels:
                    include = self._strings(channels, "include", "scope.channels.include")
                if "exclude" in channels:
                    exclude = self._strings(channels, "exclude", "scope.channels.exclude")
        roles: tuple[str, ...] = ()
        if "exempt_roles" in node:
            roles = self._strings(node, "exempt_roles", "scope.exempt_roles")
        newcomers = self._bool(node, "newcomers_only", "scope.newcomers_only")
        return Scope(_names(include), _names(exclude), frozenset(roles), newcomers)

    def _examples(self) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], tuple[int, ...]]:
        node = self.raw.get("examples")
        if "examples" not in self.raw or node is None:
            return ((), ()), ()
        if not isinstance(node, dict):
            self.problem(self.raw, "examples", "examples must be a mapping with match/no_match")
            return ((), ()), ()
        for key in node:
            if key not in EXAMPLE_KEYS:
                self.problem(node, key, f"examples: unknown key {key!r} (known: match, no_match)")
        out: list[tuple[str, ...]] = []
        lines: list[int] = []
        for key in ("match", "no_match"):
            if key not in node or node[key] is None:
                out.append(())
                continue
            values = self._strings(node, key, f"examples.{key}")
            out.append(values)
            seq = node[key]
            lines.extend(line_of(seq, k, line_of(node, key)) for k in range(len(values)))
        return (out[0], out[1]), tuple(lines)


def _names(values: tuple[str, ...]) -> frozenset[str]:
    """Channel names as written plus without/with a leading '#', so either form works."""
    out: set[str] = set()
    for v in values:
        bare = v.lstrip("#")
        out |= {v, bare, f"#{bare}"}
    return frozenset(out)

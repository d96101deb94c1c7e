"""Loading rule files: YAML in, validated :class:`~bot.rules.model.Rule` objects out.

Every problem of every file is collected and reported at once, as
``file:line: rule-id: message``, in one :class:`~bot.core.errors.ConfigError`.
Actions and their parameters are checked against the registry in
:mod:`bot.rules.actions`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import re2

from bot.core import durations
from bot.core.errors import ConfigError, Problem
from bot.core.yamlsrc import LineDict, is_dir, is_file, line_of, load_file, load_text
from bot.rules.actions import (
    ACTIONS,
    NEEDS_EXPLAIN,
    NEVER_ON_CRISIS,
    check_params,
    templates_context,
)
from bot.rules.atoms import keyword_atom
from bot.rules.matcher import RAW_VIEW, TEXT_VIEW, VIEWS, re2_options
from bot.rules.model import (
    CATEGORIES,
    SEVERITIES,
    SUPPORT_CATEGORIES,
    Action,
    MatchItem,
    MatchSpec,
    Rule,
    Scope,
)
from bot.rules.normalise import normalise_regex

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


def parse_duration(value: Any) -> float | None:
    """Seconds for ``30``, ``"30s"``, ``"10m"``, ``"2h"``, ``"1h30m"``; ``None`` if invalid."""
    try:
        return durations.parse_duration(value)
    except ValueError:
        return None




def load_dir(rules_dir: str | Path, packs: Sequence[str] | None = None,
             templates: Collection[str] | None = None, community: str | Path | None = None,
             community_text: str | None = None) -> list[Rule]:
    """The rules of ``rules_dir/*.yaml`` (or only the named packs), validated.

    Files whose top level is a mapping (``helplines.yaml``) are data, not
    rules, and are skipped. ``community`` is the community's own rule file
    (``rules.community``), loaded after the packs, once even when it lies in
    ``rules_dir``; a missing one holds no rules yet. ``community_text`` stands in for
    its content (a draft being checked before it is saved). Raises
    :class:`ConfigError` listing every problem.
    """
    rules_dir = Path(rules_dir)
    problems: list[Problem] = []
    loader = _Loader(templates, problems)
    if not is_dir(rules_dir):
        raise ConfigError([Problem(str(rules_dir), 0, "rules", "rules directory not found")])
    own = Path(community) if community is not None else None
    if packs is None:
        for path in sorted(rules_dir.glob("*.yaml")):
            if path.name not in _SKIPPED_FILES and not _same_file(path, own):
                loader.load_path(path, explicit=False)
    else:
        for pack in packs:
            name = pack if pack.endswith(".yaml") else f"{pack}.yaml"
            path = rules_dir / name
            if not is_file(path):
                problems.append(Problem(str(rules_dir), 0, "packs",
                                        f"unknown rule pack {pack!r} (no {name} in {rules_dir})"))
                continue
            if not _same_file(path, own):
                loader.load_path(path, explicit=True)
    if own is not None:
        _load_community(loader, own, community_text)
    if problems:
        raise ConfigError(problems)
    return loader.rules


def _same_file(path: Path, other: Path | None) -> bool:
    """Whether ``path`` and ``other`` name the same file (``other`` may not exist yet)."""
    if other is None:
        return False
    try:
        return path.resolve() == other.resolve()
    except (OSError, RuntimeError):
        return False


def _load_community(loader: _Loader, path: Path, text: str | None) -> None:
    """The community's rule file (or ``text`` in its place) into ``loader``."""
    if text is None:
        if not is_file(path):
            return
        loader.load_path(path, explicit=True)
        return
    try:
        data = load_text(text, str(path))
    except ConfigError as exc:
        loader.problems.extend(exc.problems)
        return
    loader.load_data(data, str(path), explicit=True)


def load_rules_text(text: str, filename: str = "<rules>",
                    templates: Collection[str] | None = None,
                    taken: Mapping[str, str] | None = None) -> list[Rule]:
    """The rules of YAML ``text`` (one rule file), validated like :func:`load_dir`;
    ``taken`` maps the ids of rules loaded before it to their ``file:line`` (a
    duplicate of one is reported as :func:`load_dir` would)."""
    problems: list[Problem] = []
    loader = _Loader(templates, problems)
    loader.seen.update(taken or {})
    try:
        data = load_text(text, filename)
    except ConfigError as exc:
        raise ConfigError(exc.problems) from None
    loader.load_data(data, filename, explicit=True)
    if problems:
        raise ConfigError(problems)
    return loader.rules


class _Loader:
    """Turns parsed YAML into rules, collecting every problem."""

    def __init__(self, templates: Collection[str] | None, problems: list[Problem]) -> None:
        self.context = templates_context(templates)
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

    def __init__(self, loader: _Loader, raw: dict[Any, Any], filename: str, index: int) -> None:
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

    def _item(self, items: list[Any], i: int, label: str) -> MatchItem | None:
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
                keyword_atom(value)
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

    def _action(self, node: list[Any], i: int, item: Any) -> Action | None:
        label = f"actions[{i}]"
        name: Any
        params: Any
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
        spec = ACTIONS[name]
        where = params if isinstance(params, LineDict) else node
        for key in params:
            if key not in spec.param_names:
                allowed = ", ".join(sorted(spec.param_names)) or "none"
                self.problem(where, key if where is params else i,
                             f"{label}: {name} has no parameter {key!r} (allowed: {allowed})")
        for key, message in check_params(spec, params, self.loader.context):
            self.problem(where, key if where is params else i, f"{label}: {name}.{key} {message}")
        return Action(name, MappingProxyType({**spec.defaults(), **params}))

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

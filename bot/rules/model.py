"""The rule data model: what a validated rule is, and what evaluating one yields.

Pure data with no YAML and no matching: :class:`Rule` and its parts
(:class:`MatchSpec`, :class:`Scope`, :class:`Action`), the :class:`MatchContext`
a message is evaluated in, and the :class:`Match` that evaluation returns.
:mod:`bot.rules.loader` builds rules; :mod:`bot.rules.engine` evaluates them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from bot.rules.matcher import TEXT_VIEW

SEVERITIES: Final = ("info", "low", "medium", "high", "critical")
CATEGORIES: Final = ("crisis", "concern", "method", "hostility", "pii", "sensitive", "signpost", "spam", "other")
SEMANTIC_PREFIX: Final = "semantic:"
"""Rule ids of the semantic stage's matches start with this (``semantic:crisis``)."""

SUPPORT_CATEGORIES: Final = frozenset({"crisis", "concern"})
"""``crisis`` is urgent (intent, plan, preparation, goodbye, act under way); ``concern`` is the
quiet level (a passive wish or hopelessness without intent). Neither may ever be punitive."""

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
    _rule: Rule
    _reason: str | None
    _matched: str | None
    _explain: Callable[[], tuple[str, str]] | None

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


"""The one registry of rule actions: what each action takes, and what it means.

Each :class:`ActionSpec` says which parameters an action takes (with their
checks, defaults and whether they are required), whether the member must be
told why (``explain:`` required), whether it punishes the author, whether a
crisis or concern rule may use it, and which part of the moderation plan it
fills. The loader (:mod:`bot.rules.loader`) validates rule files against it and
the planner (``plan()`` in :mod:`bot.features.moderation.feature`) reads it, so an
action is described once.

The sets other modules used to spell out by hand (:data:`NEEDS_EXPLAIN`,
:data:`PUNITIVE`, :data:`NEVER_ON_CRISIS`) are derived from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from bot.rules.helplines import TOPICS

URGENCIES: Final = ("now", "normal", "quiet")
"""``now`` pings on-duty moderators at once; ``normal`` alerts without the urgent ping; ``quiet`` is
a "check in when you can" note in the moderators' channel: no ping, never re-escalated."""


@dataclass(frozen=True)
class LoadContext:
    """What parameter checks may need from the loader: the known reply template
    names (``None``: not known, so any name is accepted)."""

    templates: frozenset[str] | None = None


ParamCheck = Callable[[object, LoadContext], "str | None"]
"""A parameter's check: ``None`` when the value is fine, else the end of the message
(``"must be ..., got ..."``), shown after ``actions[i]: action.param``."""


def one_of(allowed: Sequence[str], note: str = "") -> ParamCheck:
    """A check accepting only the values in ``allowed`` (``note`` follows the list)."""
    def check(value: object, ctx: LoadContext) -> str | None:
        if value in allowed:
            return None
        return f"must be one of {', '.join(allowed)}{note}, got {value!r}"
    return check


def boolean(value: object, ctx: LoadContext) -> str | None:
    """A check accepting ``true`` or ``false``."""
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def positive_int(value: object, ctx: LoadContext) -> str | None:
    """A check accepting a whole number above zero (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return f"must be a positive whole number, got {value!r}"
    return None


def known_template(value: object, ctx: LoadContext) -> str | None:
    """A check accepting the name of a reply template (any name when none are known)."""
    if not isinstance(value, str) or not value:
        return "is required (the name of a reply template)"
    if ctx.templates is not None and value not in ctx.templates:
        known = ", ".join(sorted(ctx.templates)) or "none defined"
        return f"names unknown template {value!r} (known: {known})"
    return None


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of an action."""

    name: str
    check: ParamCheck
    required: bool = False
    """Whether the action needs it (absent: ``missing`` is reported)."""
    default: object | None = None
    """Filled in when the rule leaves it out (``None``: left out)."""
    missing: str = "is required"
    """The message when a required parameter is absent."""
    checked_elsewhere: bool = True
    """Whether its check also runs when it is given to an action that lacks it
    (the loader then reports the unknown parameter and the bad value)."""


@dataclass(frozen=True)
class ActionSpec:
    """What one action takes and means."""

    name: str
    params: tuple[ParamSpec, ...] = ()
    """In the order their problems are reported."""
    plan_slot: str = ""
    """The field of the moderation ``Plan`` this action fills."""
    needs_explanation: bool = False
    """``explain:`` is required (the member is told why)."""
    punitive: bool = False
    """Dropped by the planner when a crisis or concern rule matched the same post."""
    allowed_on_crisis: bool = True
    """Whether crisis and concern rules may list it (the loader refuses it otherwise)."""

    @property
    def param_names(self) -> frozenset[str]:
        """The names of its parameters."""
        return frozenset(p.name for p in self.params)

    def param(self, name: str) -> ParamSpec | None:
        """Its parameter called ``name``, if it has one."""
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, object]:
        """The defaults of the parameters that have one."""
        return {p.name: p.default for p in self.params if p.default is not None}


_PRIVATELY: Final = ParamSpec("privately", boolean)

ACTIONS: Final[Mapping[str, ActionSpec]] = MappingProxyType({a.name: a for a in (
    ActionSpec("alert_moderators", (ParamSpec("urgency", one_of(URGENCIES)),), plan_slot="alert"),
    ActionSpec("signpost", (_PRIVATELY, ParamSpec(
        "topic", one_of(TOPICS, " (topics of helplines.yaml)"), default="crisis")),
        plan_slot="signposts"),
    ActionSpec("reply", (_PRIVATELY, ParamSpec(
        "template", known_template, required=True, missing="is required (the name of a reply template)",
        checked_elsewhere=False)), plan_slot="replies"),
    ActionSpec("hide", plan_slot="hide", needs_explanation=True, punitive=True, allowed_on_crisis=False),
    ActionSpec("warn", plan_slot="warn", needs_explanation=True, punitive=True, allowed_on_crisis=False),
    ActionSpec("timeout", (ParamSpec("minutes", positive_int, required=True),), plan_slot="timeout",
               needs_explanation=True, punitive=True, allowed_on_crisis=False),
    ActionSpec("redirect_cw", plan_slot="redirect_cw", needs_explanation=True, punitive=True),
    ActionSpec("log", plan_slot="logged"),
)})
"""Every action a rule may list, in the order error messages name them."""

PARAMS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {name: spec.param_names for name, spec in ACTIONS.items()})
"""Action name -> its parameter names (the shape ``rulebook.ACTIONS`` had)."""
NEEDS_EXPLAIN: Final = frozenset(n for n, a in ACTIONS.items() if a.needs_explanation)
PUNITIVE: Final = frozenset(n for n, a in ACTIONS.items() if a.punitive)
NEVER_ON_CRISIS: Final = frozenset(n for n, a in ACTIONS.items() if not a.allowed_on_crisis)
"""Members in crisis are supported, never punished: these actions are refused on crisis rules."""

CHECK_ORDER: Final = ("urgency", "privately", "topic", "minutes", "template")
"""The order parameter problems of one action are reported in."""
_ANY_PARAM: Final[Mapping[str, ParamSpec]] = MappingProxyType(
    {p.name: p for spec in reversed(list(ACTIONS.values())) for p in spec.params})


def check_params(spec: ActionSpec, params: Mapping[object, object],
                 ctx: LoadContext) -> list[tuple[str, str]]:
    """Problems of ``params`` for ``spec`` as ``(parameter, message)`` pairs, message
    without the ``actions[i]: action.param`` prefix. Unknown parameter names are the
    caller's to report; a value given to the wrong action is still checked when its
    parameter is ``checked_elsewhere``."""
    out: list[tuple[str, str]] = []
    for name in CHECK_ORDER:
        own = spec.param(name)
        param = own if own is not None else _ANY_PARAM.get(name)
        if param is None or (own is None and not param.checked_elsewhere):
            continue
        if name in params:
            message = param.check(params[name], ctx)
            if message is not None:
                out.append((name, message))
        elif own is not None and own.required:
            out.append((name, own.missing))
    return out


def templates_context(templates: Collection[str] | None) -> LoadContext:
    """A :class:`LoadContext` for these template names."""
    return LoadContext(None if templates is None else frozenset(templates))

"""The planner: decide what to do about one message from its matches (pure).

:func:`plan` turns matches into a :class:`Plan` (hide, warn, time out, signpost,
reply, redirect, alert) by the action registry (:mod:`bot.rules.actions`):
highest severity first, punitive actions dropped for crisis and concern posts.
Features carry the plan out; nothing here touches a platform or the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.rules.actions import ACTIONS
from bot.rules.model import Match

URGENCY_ORDER = ("quiet", "normal", "now")


@dataclass
class Plan:
    """What to do about one message, decided from its matches."""

    crisis: Match | None = None
    concern: Match | None = None
    alert: Match | None = None
    hide: Match | None = None
    warn: list[Match] = field(default_factory=list)
    timeout: tuple[Match, float] | None = None
    signposts: list[tuple[str, bool | None, Match]] = field(default_factory=list)
    replies: list[tuple[str, bool, Match]] = field(default_factory=list)
    redirect_cw: Match | None = None
    logged: list[Match] = field(default_factory=list)
    shadow: list[Match] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What happened: whether the post is hidden and whether it raised a crisis alert."""

    hidden: bool = False
    crisis: bool = False
    alert_id: int | None = None


def alert_of(p: Plan) -> tuple[Match, str, str] | None:
    """The alert a plan raises: (match shown, kind, urgency), or ``None``.

    Crisis wins; then a non-support alerting rule (method, hostility...); then a
    concern, which is always a quiet note. The urgency is the rule's own.
    """
    if p.crisis is not None:
        return p.crisis, "crisis", rule_urgency(p.crisis)
    if p.alert is None:
        return None
    if p.alert.rule.category != "concern":
        return p.alert, p.alert.rule.category, rule_urgency(p.alert)
    assert p.concern is not None
    return p.concern, "concern", "quiet"


def _first(slot: str) -> Callable[[Plan, Match, Mapping[str, Any]], None]:
    """A slot the first (most severe) match fills."""
    def fill(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
        if getattr(p, slot) is None:
            setattr(p, slot, m)
    return fill


def _warn(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    if not p.warn:
        p.warn.append(m)


def _timeout(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    if p.timeout is None:
        p.timeout = (m, float(params.get("minutes", 10)) * 60)


def _signpost(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    topic = str(params.get("topic", "crisis"))
    if all(t != topic for t, _, _ in p.signposts):
        privately = params.get("privately")  # None: as config crisis.signpost says
        p.signposts.append((topic, None if privately is None else bool(privately), m))


def _reply(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    p.replies.append((str(params["template"]), bool(params.get("privately", True)), m))


def _log(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    p.logged.append(m)


_FILL: dict[str, Callable[[Plan, Match, Mapping[str, Any]], None]] = {
    "alert": _first("alert"), "hide": _first("hide"), "warn": _warn, "timeout": _timeout,
    "signposts": _signpost, "replies": _reply, "redirect_cw": _first("redirect_cw"), "logged": _log,
}
"""How the planner fills each plan slot an action of the registry names."""


def _drop(p: Plan, slot: str) -> None:
    """Empty a plan slot (a list slot becomes empty, any other ``None``)."""
    setattr(p, slot, [] if isinstance(getattr(p, slot), list) else None)


def plan(matches: list[Match]) -> Plan:
    """Decide the actions for a message's matches (pure; highest severity first).

    Which part of the plan an action fills, and whether it is punitive (dropped
    when a crisis or concern rule matched), comes from the action registry.
    """
    p = Plan()
    for m in matches:
        if m.rule.shadow:
            p.shadow.append(m)
            continue
        if m.rule.category == "crisis" and p.crisis is None:
            p.crisis = m
        if m.rule.category == "concern" and p.concern is None:
            p.concern = m
        for action in m.rule.actions:
            spec = ACTIONS.get(action.name)
            if spec is not None:
                _FILL[spec.plan_slot](p, m, action.params)
    if p.concern is not None and p.alert is None:
        p.alert = p.concern  # a concern is always at least a quiet note
    if p.crisis is not None or p.concern is not None:
        # Never punish someone in crisis or struggling; only method details are still hidden.
        for spec in ACTIONS.values():
            method_hidden = spec.plan_slot == "hide" and p.hide is not None and p.hide.rule.category == "method"
            if spec.punitive and not method_hidden:
                _drop(p, spec.plan_slot)
        p.replies = [r for r in p.replies if r[2].rule.category in ("crisis", "signpost")]
    if p.hide is not None:
        # A hidden post needs no "you may want to edit it" nudges; support still goes out.
        p.redirect_cw = None
        p.replies = [r for r in p.replies if r[2].rule.category in ("crisis", "signpost")]
        if p.hide.rule.category == "method" and all(t != "crisis" for t, _, _ in p.signposts):
            p.signposts.append(("crisis", True, p.hide))
    return p


def rule_urgency(match: Match) -> str:
    """The urgency of a match: its rule's ``alert_moderators {urgency}`` (``now`` by default);
    a ``concern`` rule is always ``quiet``."""
    if match.rule.category == "concern":
        return "quiet"
    return next((str(a.params.get("urgency", "now")) for a in match.rule.actions
                 if a.name == "alert_moderators"), "now")

"""The action registry: one description per action, read by the loader and the planner."""

from __future__ import annotations

import pytest

from bot.core.errors import ConfigError
from bot.rules import actions as A
from bot.rules.engine import Rulebook

RULE = """\
- id: x
  category: {category}
  severity: high
  description: d
  explain: why
  match: {{any: [{{keywords: [hello]}}]}}
  actions: [{action}]
"""


def test_derived_sets_equal_the_sets_spelled_out_before_the_registry():
    assert frozenset({"hide", "warn", "timeout", "redirect_cw"}) == A.NEEDS_EXPLAIN
    assert frozenset({"hide", "timeout", "warn"}) == A.NEVER_ON_CRISIS
    assert frozenset({"hide", "warn", "timeout", "redirect_cw"}) == A.PUNITIVE
    assert tuple(A.ACTIONS) == ("alert_moderators", "signpost", "reply", "hide", "warn",
                                "timeout", "redirect_cw", "log")


def test_the_parameter_map_is_derived_from_the_registry():
    assert dict(A.PARAMS) == {
        "alert_moderators": {"urgency"}, "signpost": {"topic", "privately"},
        "reply": {"template", "privately"}, "hide": set(), "warn": set(),
        "timeout": {"minutes"}, "redirect_cw": set(), "log": set(),
    }


def test_every_parameter_has_a_place_in_the_check_order_and_every_action_a_plan_slot():
    names = {p.name for spec in A.ACTIONS.values() for p in spec.params}
    assert names == set(A.CHECK_ORDER)
    assert all(spec.plan_slot for spec in A.ACTIONS.values())


def test_unknown_parameter_lists_the_allowed_ones_from_the_registry():
    with pytest.raises(ConfigError) as info:
        Rulebook.loads(RULE.format(category="spam", action="{timeout: {minutes: 5, hours: 1}}"), "f.yaml")
    assert [str(p) for p in info.value.problems] == [
        "f.yaml:7: x: actions[0]: timeout has no parameter 'hours' (allowed: minutes)"]


def test_a_value_given_to_the_wrong_action_is_still_checked_as_before():
    with pytest.raises(ConfigError) as info:
        Rulebook.loads(RULE.format(category="spam", action="{signpost: {urgency: soon}}"), "f.yaml")
    assert [p.message for p in info.value.problems] == [
        "actions[0]: signpost has no parameter 'urgency' (allowed: privately, topic)",
        "actions[0]: signpost.urgency must be one of now, normal, quiet, got 'soon'",
    ]


def test_a_template_given_to_the_wrong_action_is_only_reported_unknown():
    with pytest.raises(ConfigError) as info:
        Rulebook.loads(RULE.format(category="spam", action="{signpost: {template: nope}}"), "f.yaml",
                       templates=["welcome"])
    assert [p.message for p in info.value.problems] == [
        "actions[0]: signpost has no parameter 'template' (allowed: privately, topic)"]


@pytest.mark.parametrize("name", sorted(A.NEVER_ON_CRISIS))
def test_actions_not_allowed_on_crisis_are_refused_on_crisis_and_concern_rules(name):
    action = "{timeout: {minutes: 5}}" if name == "timeout" else name
    for category in ("crisis", "concern"):
        with pytest.raises(ConfigError, match=f"{category} rules must never {name}"):
            Rulebook.loads(RULE.format(category=category, action=action), "f.yaml")


def test_defaults_from_the_registry_fill_left_out_parameters():
    book = Rulebook.loads(RULE.format(category="signpost", action="signpost"), "f.yaml")
    assert dict(book.rules[0].actions[0].params) == {"topic": "crisis"}
    assert A.ACTIONS["signpost"].defaults() == {"topic": "crisis"}


def test_checks_return_none_for_good_values_and_a_message_for_bad_ones():
    ctx = A.LoadContext(frozenset({"welcome"}))
    assert A.boolean(True, ctx) is None and A.boolean(1, ctx) == "must be true or false, got 1"
    assert A.positive_int(3, ctx) is None and A.positive_int(True, ctx) is not None
    assert A.known_template("welcome", ctx) is None
    assert A.known_template("x", ctx) == "names unknown template 'x' (known: welcome)"
    assert A.known_template("x", A.LoadContext()) is None
    assert A.one_of(("a", "b"))("c", ctx) == "must be one of a, b, got 'c'"


def test_every_plan_slot_is_a_plan_field_the_planner_knows_how_to_fill():
    from dataclasses import fields

    from bot.rules.planner import _FILL, Plan

    names = {f.name for f in fields(Plan)}
    for spec in A.ACTIONS.values():
        assert spec.plan_slot in names and spec.plan_slot in _FILL


@pytest.mark.parametrize("support", ["crisis", "concern"])
def test_the_planner_drops_every_punitive_action_of_the_registry_for_a_support_post(support):
    from types import MappingProxyType

    from bot.rules.model import Action, Match, Rule
    from bot.rules.planner import plan

    def rule(rid, category, names):
        acts = tuple(Action(n, MappingProxyType({"minutes": 5} if n == "timeout" else {})) for n in names)
        return Rule(id=rid, category=category, severity="high", description="d", actions=acts)

    punish = rule("p", "hostility", sorted(A.PUNITIVE))
    help_ = rule("s", support, ["alert_moderators"])
    p = plan([Match(help_, "r", "m"), Match(punish, "r", "m")])
    assert (p.hide, p.warn, p.timeout, p.redirect_cw) == (None, [], None, None)
    alone = plan([Match(punish, "r", "m")])
    assert alone.hide is not None and alone.warn and alone.timeout is not None  # kept without support
    method = plan([Match(help_, "r", "m"), Match(rule("m", "method", ["hide"]), "r", "m")])
    assert method.hide is not None  # method details stay hidden (the one exception)

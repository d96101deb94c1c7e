"""bot.core.feature: what a feature is, its outcome, its stages, and how siblings are found."""

from __future__ import annotations

import pytest

from bot.core.contracts import MemberDirectory, WarningLabels
from bot.core.events import MessagePosted
from bot.core.feature import Feature, MessageOutcome, Siblings, Stage
from bot.rules.model import Action, Match, Rule
from tests.fakes import member, post


def match(category: str, shadow: bool = False) -> Match:
    rule = Rule(f"r-{category}", category, "high", "d", (Action("log", {}),), shadow=shadow)
    return Match(rule, "because", "words")


def test_the_outcome_is_decided_by_the_rules() -> None:
    assert MessageOutcome.of([match("crisis")]).crisis
    concern = MessageOutcome.of([match("concern")])
    assert concern.concern and concern.support and not concern.crisis
    assert not MessageOutcome.of([match("crisis", shadow=True)]).support
    assert not MessageOutcome.of([match("hostility")]).support


async def _noop(ev: MessagePosted, outcome: MessageOutcome) -> None:
    return None


def test_stage_guards() -> None:
    stage = Stage("x.y", 10, "follow_up", _noop, skip=frozenset({"edited", "crisis"}))
    fresh = post("hi", 0.0, author=member("a"))
    edited = post("hi", 0.0, author=member("a"), edited=True)
    assert not stage.skipped(fresh, MessageOutcome.of([]))
    assert stage.skipped(edited, MessageOutcome.of([]))
    assert stage.skipped(fresh, MessageOutcome.of([match("crisis")]))
    hidden = MessageOutcome.of([])
    hidden.hidden = True
    assert not stage.skipped(fresh, hidden)


def test_every_stage_guard_against_every_state() -> None:
    """Each guard holds exactly when its state does (``support``: crisis or concern)."""
    fresh = post("hi", 0.0, author=member("a"))
    edited = post("hi", 0.0, author=member("a"), edited=True)
    hidden = MessageOutcome.of([])
    hidden.hidden = True
    states = {"edited": (edited, MessageOutcome.of([])), "hidden": (fresh, hidden),
              "crisis": (fresh, MessageOutcome.of([match("crisis")])),
              "concern": (fresh, MessageOutcome.of([match("concern")])),
              "plain": (fresh, MessageOutcome.of([match("hostility")]))}
    holds = {"edited": {"edited"}, "hidden": {"hidden"}, "support": {"crisis", "concern"},
             "crisis": {"crisis"}}
    for guard, when in holds.items():
        stage = Stage("x.y", 10, "follow_up", _noop, skip=frozenset({guard}))
        for name, (ev, outcome) in states.items():
            assert stage.skipped(ev, outcome) == (name in when), (guard, name)
    unguarded = Stage("x.y", 10, "follow_up", _noop)
    assert not any(unguarded.skipped(ev, outcome) for ev, outcome in states.values())


class _Newcomers(Feature):
    async def is_newcomer(self, ev: MessagePosted) -> bool:
        return True


def test_siblings_are_handed_out_by_protocol() -> None:
    siblings = Siblings({"members": _Newcomers()})
    assert isinstance(siblings.get("members", MemberDirectory), _Newcomers)
    with pytest.raises(TypeError, match="does not provide WarningLabels"):
        siblings.get("members", WarningLabels)
    with pytest.raises(LookupError, match="list it in `needs`"):
        siblings.get("welcome", MemberDirectory)


def test_a_feature_declares_nothing_by_default() -> None:
    feature = Feature()
    assert not feature.stages() and not feature.handlers() and not feature.jobs()

"""bot.core.triage: deciding before acting (rules, the semantic stage, the lane)."""

from __future__ import annotations

import logging

from bot.core.triage import Triage
from bot.rules.model import Action, Match, Rule
from tests.conftest import Harness
from tests.fakes import member, post


def rule(category: str, actions: tuple[str, ...] = ("log",), shadow: bool = False) -> Rule:
    return Rule(f"r-{category}", category, "high", "d",
                tuple(Action(a, {}) for a in actions), shadow=shadow)


def test_what_needs_the_urgent_lane() -> None:
    urgent = Triage.needs_urgency
    assert urgent(Match(rule("crisis"), "r", "m")) and urgent(Match(rule("concern"), "r", "m"))
    assert urgent(Match(rule("method"), "r", "m"))
    assert urgent(Match(rule("hostility", ("alert_moderators",)), "r", "m"))
    assert not urgent(Match(rule("hostility", ("warn",)), "r", "m"))
    assert not urgent(Match(rule("crisis", shadow=True), "r", "m"))


def test_lanes(harness: Harness) -> None:
    triage = harness.core.triage
    now = harness.clock.now()
    lane, matches = triage.lane(post("i want to kill myself", now, author=member("a")))
    assert lane == "urgent" and matches
    assert triage.lane(post("lovely weather", now, author=member("a"))) == ("normal", [])
    # the moderators' own channel and bots are not matched at all
    assert triage.lane(post("i want to kill myself", now, author=member("m"),
                            where="mod-alerts")) == ("normal", None)
    assert triage.lane(post("i want to kill myself", now,
                            author=member("b", bot=True))) == ("normal", None)


async def test_a_failing_semantic_stage_leaves_the_rules_standing(harness: Harness,
                                                                  caplog) -> None:
    class Broken:
        async def detect_async(self, text: str, matches: list[Match]) -> list[Match]:
            raise RuntimeError("model crashed")

        def close(self) -> None:
            return None

    triage = harness.core.triage
    triage.semantic = Broken()
    ev = post("i want to kill myself", harness.clock.now(), author=member("a"))
    with caplog.at_level(logging.ERROR):
        found = await triage.detect(ev)
    assert [m.rule.category for m in found] == [m.rule.category for m in triage.evaluate(ev)]
    assert harness.core.errors == 1 and "semantic stage" in caplog.text
    assert "kill myself" not in caplog.text


def test_newcomers_are_in_the_match_context(harness: Harness) -> None:
    now = harness.clock.now()
    ev = post("hi", now, author=member("a", joined_at=now - 3600), where="intro")
    assert harness.core.triage.context(ev).is_newcomer
    old = post("hi", now, author=member("a", joined_at=now - 400 * 86400))
    assert not harness.core.triage.context(old).is_newcomer

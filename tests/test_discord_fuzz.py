"""Fuzz: gateway payloads with missing and wrongly-typed fields never stop Haven.

Hypothesis takes valid payloads of the events Haven listens to, deletes fields or
replaces them with values of the wrong type (at the top level and one level down),
and feeds them through discord.py's parsers exactly as the gateway would. Every
payload must be read or logged and skipped, nothing may escape, no member text may
reach the log, and a valid message afterwards must still arrive.

The examples are derandomised so ``make test`` is repeatable; explore further with
``HAVEN_FUZZ_EXAMPLES=5000 pytest -m fuzz`` (the seed then still fixed: vary it by
changing the count).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.events import MessagePosted
from tests import discord_payloads as p
from tests.discord_harness import ALICE, MO, started

pytestmark = pytest.mark.fuzz

SECRET = "zqxj-member-words"
MODS_CHANNEL = p.channel_for_interaction(p.text_channel(p.MODS, "moderators"))


def bases(now: float) -> dict[str, Callable[[], dict[str, Any]]]:
    """Valid payloads of the events Haven handles (fresh ids each time)."""
    return {
        "MESSAGE_CREATE": lambda: p.message(p.SUPPORT, ALICE, SECRET, at=now),
        "MESSAGE_UPDATE": lambda: p.message(p.GENERAL, ALICE, SECRET, at=now, edited_at=now + 1),
        "MESSAGE_DELETE": lambda: p.message_delete(p.GENERAL, p.snowflake(now)),
        "GUILD_MEMBER_ADD": lambda: p.member_add(p.user(p.snowflake(now), "newcomer"), at=now),
        "MESSAGE_REACTION_ADD": lambda: p.reaction_add(p.GENERAL, p.snowflake(now), ALICE, "👍"),
        "THREAD_CREATE": lambda: p.thread(p.snowflake(now), SECRET, p.SUPPORT, at=now,
                                          newly_created=True),
        "INTERACTION_CREATE": lambda: p.slash_command(
            "rules", [p.subcommand("test", [p.option("text", SECRET)])], at=now,
            channel=MODS_CHANNEL, invoker=MO, roles=(p.MOD_ROLE,),
            permissions=p.MEMBER_PERMS | p.MANAGE_MESSAGES),
        "AUTO_MODERATION_ACTION_EXECUTION": lambda: p.automod_execution(
            user_id=p.MEMBER_ID, channel_id=p.GENERAL, keyword=SECRET, at=now),
        "MESSAGE_DELETE_BULK": lambda: {"ids": [p.snowflake(now), p.snowflake(now)],
                                        "channel_id": p.GENERAL, "guild_id": p.GUILD_ID},
        "CHANNEL_UPDATE": lambda: p.text_channel(p.VENTING, "venting", position=3),
        "GUILD_MEMBER_UPDATE": lambda: {**p.member(p.user(p.NEWCOMER_ID, "newbie")),
                                        "guild_id": p.GUILD_ID},
        "THREAD_UPDATE": lambda: p.thread(p.snowflake(now), "a thread", p.SUPPORT, at=now),
    }


WRONG = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                  st.text(max_size=8), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


DELETE = object()


@st.composite
def mutated(draw: st.DrawFn, names: list[str]) -> tuple[str, list[tuple[int, Any]]]:
    """An event name and 1-4 mutations ``(pick, value)``; value ``DELETE`` or of a wrong type."""
    event = draw(st.sampled_from(names))
    mutations = draw(st.lists(st.tuples(st.integers(0, 10_000), st.one_of(st.just(DELETE), WRONG)),
                              min_size=1, max_size=4))
    return event, mutations


def apply(payload: dict[str, Any], mutations: list[tuple[int, Any]]) -> None:
    """Each mutation picks an existing field by index, at the top level or one level down
    (inside ``author``, ``member``, ``data``...), and deletes or replaces it."""
    for pick, value in mutations:
        target: Any = payload
        for depth in range(2):
            keys = list(target) if isinstance(target, dict) else []
            if not keys:
                break
            key = keys[pick % len(keys)]
            if depth == 0 and pick % 3 == 0 and isinstance(target[key], dict) and target[key]:
                target = target[key]
                continue
            if value is DELETE:
                del target[key]
            else:
                target[key] = value
            break


class Fuzzer:
    """One harness for all examples (building one per example would be slow)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.monkeypatch = pytest.MonkeyPatch()
        self.h, self.core = self.loop.run_until_complete(started(self.monkeypatch))
        self.events = bases(self.core.clock.now())

    def feed(self, event: str, payload: dict[str, Any]) -> None:
        self.h.parsers[event](payload)  # must not raise
        self.loop.run_until_complete(self.h.settle())

    def close(self) -> None:
        self.loop.run_until_complete(self.h.client.close())
        self.monkeypatch.undo()
        self.loop.close()


@pytest.fixture(scope="module")
def fuzzer():
    f = Fuzzer()
    yield f
    f.close()
    # Not vacuous: many payloads were unreadable to discord.py and skipped.
    assert f.h.adapter.parse_failures > 10


@settings(max_examples=int(os.environ.get("HAVEN_FUZZ_EXAMPLES", "150")), deadline=None,
          derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_discord_fuzzed_gateway_payloads_are_logged_and_skipped(fuzzer, data, caplog):
    event, mutations = data.draw(mutated(sorted(fuzzer.events)))
    payload = copy.deepcopy(fuzzer.events[event]())  # never mutate the shared cast (ALICE...)
    apply(payload, mutations)
    with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="bot"):
        fuzzer.feed(event, payload)
    assert SECRET not in caplog.text
    # Haven still works: a valid message afterwards arrives.
    before = len(fuzzer.core.of(MessagePosted))
    fuzzer.feed("MESSAGE_CREATE", p.message(p.GENERAL, ALICE, "still here",
                                            at=fuzzer.core.clock.now()))
    assert len(fuzzer.core.of(MessagePosted)) == before + 1


def test_discord_fuzz_mutations_do_reach_the_parsers(fuzzer, caplog):
    """The fuzzer is not vacuous: a broken payload is counted and logged."""
    before = fuzzer.h.adapter.parse_failures
    payload = copy.deepcopy(fuzzer.events["MESSAGE_CREATE"]())
    payload["channel_id"] = None
    payload["author"] = [1]
    with caplog.at_level(logging.ERROR):
        fuzzer.feed("MESSAGE_CREATE", payload)
    assert fuzzer.h.adapter.parse_failures == before + 1
    assert "MESSAGE_CREATE" in caplog.text and SECRET not in caplog.text

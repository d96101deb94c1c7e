"""The core: per-community ordered queues, the error boundary, dispatch, advance."""

from __future__ import annotations

import asyncio

import pytest

from bot.events import CommandInvoked, ReactionAdded
from tests.conftest import Harness
from tests.fakes import channel, command, member, post


async def test_events_of_one_community_are_handled_in_order(harness: Harness) -> None:
    core = harness.core
    seen: list[str] = []
    original = core.on_message

    async def slow(ev):
        if ev.text == "first":
            await asyncio.sleep(0.01)
        seen.append(ev.text)
        await original(ev)

    core.on_message = slow
    for text in ("first", "second", "third"):
        core.submit(post(text, harness.clock.now(), author=member("a")))
    await core.drain()
    assert seen == ["first", "second", "third"]


async def test_communities_do_not_block_each_other(harness: Harness) -> None:
    core = harness.core
    gate = asyncio.Event()
    order: list[str] = []

    async def blocked():
        await gate.wait()
        order.append("c1")

    async def free():
        order.append("c2")
        gate.set()

    from bot.core import _WorkItem

    core._enqueue("c1", _WorkItem("blocked", blocked))
    core._enqueue("c2", _WorkItem("free", free))
    await core.drain()
    assert order == ["c2", "c1"]


async def test_error_boundary_keeps_the_queue_running(harness: Harness, caplog) -> None:
    core = harness.core

    async def broken(ev):
        raise RuntimeError("boom")

    core.on_message = broken
    core.submit(post("x", harness.clock.now()))
    await core.drain()
    assert core.errors == 1
    assert "error while handling MessagePosted community=c1" in caplog.text
    # the message text never goes into logs
    assert "x\n" not in caplog.text.split("MessagePosted", 1)[1][:60]
    result = await core.handle(command("help", harness.clock.now()))
    assert result.ok


async def test_a_crashing_command_answers_politely(harness: Harness) -> None:
    core = harness.core

    async def broken(ev, opts):
        raise RuntimeError("bug")

    core.commands._handlers["help"] = broken
    result = await core.handle(command("help", harness.clock.now()))
    assert not result.ok and "went wrong" in result.text


async def test_reactions_are_accepted(harness: Harness) -> None:
    ev = ReactionAdded("c1", harness.clock.now(), channel=channel("support"), member=member("a"),
                       message=post("x", 0).message, emoji="❤️")
    assert await harness.core.handle(ev) is None


async def test_odd_unicode_is_handled(harness: Harness) -> None:
    core = harness.core
    for text in ("\u200bi w\u200ant to k\u200bill myself", "\udcff broken surrogate?", "",
                 "🙂" * 5000, "e\u0301\u0301\u0301" * 200, "\x00nul"):
        await core.handle(post(text, harness.clock.now(), author=member("u")))
    assert core.errors == 0
    assert await core.store.get_alert(1) is not None  # zero-width evasion caught


async def test_advance_needs_a_virtual_clock(harness: Harness) -> None:
    from bot.clock import RealClock

    harness.core.clock = RealClock()
    with pytest.raises(TypeError):
        await harness.core.advance(1)


async def test_scheduler_starts_when_adapter_is_ready(harness: Harness) -> None:
    core = harness.core
    await core.start(run_scheduler=True)
    assert core.scheduler._task is None
    core.mark_ready()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if core.scheduler._task is not None:
            break
    assert core.scheduler._task is not None


async def test_unknown_command_event(harness: Harness) -> None:
    ev = CommandInvoked("c1", harness.clock.now(), channel=channel("x"), invoker=member("a"),
                        name="frobnicate")
    result = await harness.core.handle(ev)
    assert not result.ok


async def test_platform_automod_actions_become_cases(harness: Harness) -> None:
    core = harness.core
    case_id = await core.record_automod(community_id="c1", user_id="u9", action="block_message",
                                        rule="42", keyword="badword", channel_id="ch",
                                        at=harness.clock.now())
    [case] = await core.store.cases_for("c1", "u9")
    assert case.id == case_id and case.action == "automod" and case.rule_id == "automod:42"
    assert "badword" in case.reason and case.excerpt is None


async def test_a_repeated_delivery_is_handled_once_even_after_restart(harness: Harness) -> None:
    ev = post("i want to kill myself", harness.clock.now(), author=member("cas"), msg_id="dup1")
    await harness.core.handle(ev)
    await harness.core.handle(ev)
    core = await harness.restart(downtime=30)
    await core.handle(ev)  # a replayed sync after a crash
    assert (await core.store.get_alert(1)).count == 1
    assert len(harness.platform.private_to("cas")) == 1
    # an edit with new text is a new version and is evaluated again: the alert keeps the
    # latest words, without counting the same post twice or pinging anyone again
    sent = len(harness.platform.sent_to("mod-alerts"))
    await core.handle(post("i want to end my life", harness.clock.now(), author=member("cas"),
                           msg_id="dup1", edited=True))
    alert = await core.store.get_alert(1)
    assert alert.count == 1 and "end my life" in alert.excerpt
    assert len(harness.platform.sent_to("mod-alerts")) == sent
    assert "end my life" in harness.platform.of("edit")[-1].text


async def test_failed_moderation_is_retried_on_redelivery_and_quotes_nothing(
        harness: Harness) -> None:
    core = harness.core
    real = core.alerts.raise_alert
    calls = 0

    async def flaky(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("store hiccup")
        return await real(*args, **kwargs)

    core.alerts.raise_alert = flaky
    ev = post("I want to end my life", harness.clock.now(), author=member("cas"),
              where="support", msg_id="fl1")
    await core.handle(ev)
    assert await core.store.get_alert(1) is None
    [tracked] = await core.store.posts_since("c1", 0)
    assert tracked.excerpt is None and tracked.state == "crisis"
    await core.handle(ev)  # the platform delivers it again
    assert await core.store.get_alert(1) is not None
    await core.advance(24 * 3600)
    assert not [c for c in harness.platform.calls
                if "end my life" in c.text and c.target != "mod-alerts"]


async def test_a_cancellation_leaking_from_a_handler_does_not_stop_the_queue(
        harness: Harness) -> None:
    core = harness.core

    async def leaky(ev):
        raise asyncio.CancelledError("from a library")

    original = core.on_message
    core.on_message = leaky
    await core.handle(post("x", harness.clock.now()))
    core.on_message = original
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    assert await core.store.get_alert(1) is not None


async def test_lone_surrogates_in_text_and_names_are_checked_and_stored(harness: Harness) -> None:
    # found by the fuzzer: a JSON "\ud800" escape in a Matrix event decodes to a lone
    # surrogate; storing or matching it raised UnicodeEncodeError and the crisis post
    # was never alerted
    await harness.core.handle(post("i want to kill myself \ud800", harness.clock.now(),
                                   author=member("cas", "Cas \udfff")))
    [alert] = harness.platform.sent_to("mod-alerts")
    assert "Cas \ufffd" in alert.text
    assert (await harness.core.store.get_alert(1)).kind == "crisis"

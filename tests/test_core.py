"""The core: per-community ordered queues, the error boundary, dispatch, advance."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.events import AutomodActed, ButtonPressed, CommandInvoked
from tests.conftest import Harness
from tests.fakes import channel, command, member, post


async def test_events_of_one_community_are_handled_in_order(harness: Harness) -> None:
    core = harness.core
    seen: list[str] = []
    original = core.on_message

    async def slow(ev, *matched):
        if ev.text == "first":
            await asyncio.sleep(0.01)
        seen.append(ev.text)
        await original(ev, *matched)

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

    from bot.core.dispatch import WorkItem

    core.dispatch.enqueue("c1", WorkItem("blocked", blocked))
    core.dispatch.enqueue("c2", WorkItem("free", free))
    await core.drain()
    assert order == ["c2", "c1"]


async def test_error_boundary_keeps_the_queue_running(harness: Harness, caplog) -> None:
    core = harness.core

    async def broken(ev, *matched):
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

    async def broken(*args, **kwargs):
        raise RuntimeError("bug")

    import dataclasses

    entries = core.commands._commands
    entries["help"] = dataclasses.replace(entries["help"], handler=broken)
    result = await core.handle(command("help", harness.clock.now()))
    assert not result.ok and "went wrong" in result.text


async def test_an_event_no_feature_handles_is_accepted(harness: Harness) -> None:
    from bot.core.events import Event

    assert await harness.core.handle(Event("c1", harness.clock.now())) is None
    assert harness.core.errors == 0


async def test_odd_unicode_is_handled(harness: Harness) -> None:
    core = harness.core
    for text in ("\u200bi w\u200ant to k\u200bill myself", "\udcff broken surrogate?", "",
                 "🙂" * 5000, "e\u0301\u0301\u0301" * 200, "\x00nul"):
        await core.handle(post(text, harness.clock.now(), author=member("u")))
    assert core.errors == 0
    assert await core.store.alerts.get_alert(1) is not None  # zero-width evasion caught


async def test_advance_needs_a_virtual_clock(harness: Harness) -> None:
    from bot.core.clock import RealClock

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
    await core.handle(AutomodActed("c1", harness.clock.now(), user_id="u9",
                                   action="block_message", rule="42", keyword="badword",
                                   channel_id="ch"))
    [case] = await core.store.cases.cases_for("c1", "u9")
    assert case.action == "automod" and case.rule_id == "automod:42"
    assert "badword" in case.reason and case.excerpt is None


async def test_a_repeated_delivery_is_handled_once_even_after_restart(harness: Harness) -> None:
    ev = post("i want to kill myself", harness.clock.now(), author=member("cas"), msg_id="dup1")
    await harness.core.handle(ev)
    await harness.core.handle(ev)
    core = await harness.restart(downtime=30)
    await core.handle(ev)  # a replayed sync after a crash
    assert (await core.store.alerts.get_alert(1)).count == 1
    assert len(harness.platform.private_to("cas")) == 1
    # an edit with new text is a new version and is evaluated again: the alert keeps the
    # latest words, without counting the same post twice or pinging anyone again
    sent = len(harness.platform.sent_to("mod-alerts"))
    await core.handle(post("i want to end my life", harness.clock.now(), author=member("cas"),
                           msg_id="dup1", edited=True))
    alert = await core.store.alerts.get_alert(1)
    assert alert.count == 1 and "end my life" in alert.excerpt
    assert len(harness.platform.sent_to("mod-alerts")) == sent
    assert "end my life" in harness.platform.of("edit")[-1].text


async def test_failed_moderation_is_retried_on_redelivery_and_quotes_nothing(
        harness: Harness) -> None:
    core = harness.core
    real = core.features["alerts"].record
    calls = 0

    async def flaky(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("store hiccup")
        return await real(*args, **kwargs)

    core.features["alerts"].record = flaky
    ev = post("I want to end my life", harness.clock.now(), author=member("cas"),
              where="support", msg_id="fl1")
    await core.handle(ev)
    assert await core.store.alerts.get_alert(1) is None
    [tracked] = await core.store.posts.posts_since("c1", 0)
    assert tracked.excerpt is None and tracked.state == "crisis"
    await core.handle(ev)  # the platform delivers it again
    assert await core.store.alerts.get_alert(1) is not None
    await core.advance(24 * 3600)
    assert not [c for c in harness.platform.calls
                if "end my life" in c.text and c.target != "mod-alerts"]


async def test_a_cancellation_leaking_from_a_handler_does_not_stop_the_queue(
        harness: Harness) -> None:
    core = harness.core

    async def leaky(ev, *matched):
        raise asyncio.CancelledError("from a library")

    original = core.on_message
    core.on_message = leaky
    await core.handle(post("x", harness.clock.now()))
    core.on_message = original
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    assert await core.store.alerts.get_alert(1) is not None


async def test_a_crisis_post_is_not_held_up_by_a_hanging_repost(harness: Harness) -> None:
    """Item 3: a repost stuck in library retries must not delay a crisis alert."""
    core = harness.core
    core.platform.limit = 3.0  # the bound is not what saves the crisis post: its lane is

    async def hanging_repost(*args, **kwargs):
        await asyncio.sleep(3600)

    harness.platform.repost = hanging_repost
    core.submit(post("my self harm scars", harness.clock.now(), author=member("sam")))
    await asyncio.sleep(0.1)  # the redirect is now stuck in its repost
    assert harness.platform.of("hide")
    loop = asyncio.get_running_loop()
    started = loop.time()
    core.submit(post("i want to kill myself", harness.clock.now() + 1, author=member("cas")))
    while not (harness.platform.sent_to("mod-alerts") and harness.platform.private_to("cas")) \
            and loop.time() - started < 2.5:
        await asyncio.sleep(0.005)
    elapsed = loop.time() - started
    assert harness.platform.sent_to("mod-alerts"), "the crisis alert waited behind the repost"
    assert harness.platform.private_to("cas")  # its signposting went out too
    assert elapsed < 0.5
    await core.drain()
    # the stuck repost gave up at the bound; the post's own handling finished in order
    assert [c.verb for c in harness.platform.calls if c.target == "sam"] == ["send_private"]


async def test_an_urgent_posts_follow_up_runs_after_its_safety_part(harness: Harness) -> None:
    core = harness.core
    ev = post("i want to kill myself", harness.clock.now(), author=member("cas"), where="support",
              msg_id="u1")
    await core.handle(ev)  # handle waits for the follow-up as well
    [tracked] = await core.store.posts.posts_since("c1", 0)
    assert tracked.state == "crisis"
    assert (await core.store.members.get_member("c1", "cas")).posts == 1


async def test_a_repeated_command_delivery_acts_once(harness: Harness) -> None:
    """Item 9: the same interaction delivered several times gives one timeout, one case."""
    core = harness.core
    harness.platform.add_member(member("bob", "Bob"))
    ev = CommandInvoked("c1", harness.clock.now(), channel=channel("mod-alerts"),
                        invoker=member("mod1", "Mo", roles=("Moderators",)), name="timeout",
                        options={"member": "<@bob>", "minutes": "10", "reason": "spam"},
                        delivery_id="interaction-1")
    answers = [await core.handle(ev) for _ in range(3)]
    assert len(harness.platform.of("timeout")) == 1
    assert len(await core.store.cases.cases_for("c1", "bob")) == 1
    assert "case #1" in answers[0].text
    assert all("arrived twice" in a.text for a in answers[1:])
    # another delivery id is another request
    await core.handle(CommandInvoked("c1", harness.clock.now(), channel=channel("mod-alerts"),
                                     invoker=ev.invoker, name="timeout", options=ev.options,
                                     delivery_id="interaction-2"))
    assert len(harness.platform.of("timeout")) == 2


async def test_a_repeated_button_delivery_acts_once(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    press = ButtonPressed("c1", harness.clock.now(), channel=channel("mod-alerts"),
                          member=member("mod1", "Mo", roles=("Moderators",)), action="claim",
                          alert_id=1, delivery_id="press-1")
    first = await core.handle(press)
    edits = len(harness.platform.of("edit"))
    again = await core.handle(press)
    assert "claimed alert #1" in first.text and "arrived twice" in again.text
    assert len(harness.platform.of("edit")) == edits


async def test_delivery_ids_are_pruned_with_the_seen_markers(harness: Harness) -> None:
    core = harness.core
    assert await core.store.ledger.begin_delivery("c1", "d1", harness.clock.now()) is None
    assert await core.store.ledger.begin_delivery("c1", "d1", harness.clock.now()) == "running"
    await core.advance(8 * 86400)
    assert await core.store.ledger.begin_delivery("c1", "d1", harness.clock.now()) is None


async def test_the_readiness_fallback_starts_timers_and_says_why(harness: Harness, monkeypatch,
                                                                  caplog) -> None:
    import bot.core.runtime as core_module

    monkeypatch.setattr(core_module, "READY_TIMEOUT", 0.05)
    core = harness.core
    await core.start(run_scheduler=True)
    await asyncio.sleep(0.3)
    assert "did not report ready within" in caplog.text and "mark_ready" in caplog.text
    assert core.scheduler._task is not None


async def test_marking_ready_starts_timers_at_once(harness: Harness, caplog) -> None:
    core = harness.core
    await core.start(run_scheduler=True)
    core.mark_ready()
    await asyncio.sleep(0.05)
    assert core.ready and core.scheduler._task is not None
    assert "did not report ready" not in caplog.text


async def test_lone_surrogates_in_text_and_names_are_checked_and_stored(harness: Harness) -> None:
    # found by the fuzzer: a JSON "\ud800" escape in a Matrix event decodes to a lone
    # surrogate; storing or matching it raised UnicodeEncodeError and the crisis post
    # was never alerted
    await harness.core.handle(post("i want to kill myself \ud800", harness.clock.now(),
                                   author=member("cas", "Cas \udfff")))
    [alert] = harness.platform.sent_to("mod-alerts")
    assert "Cas \ufffd" in alert.text
    assert (await harness.core.store.alerts.get_alert(1)).kind == "crisis"


async def test_a_message_marked_detected_without_matches_is_still_decided(harness: Harness) -> None:
    """``detected=True`` with no matches decides the message instead of failing on ``None``."""
    core = harness.core
    await core.on_message(post("i want to kill myself", harness.clock.now(), author=member("cas")),
                          detected=True)
    assert await core.store.alerts.get_alert(1) is not None


async def test_a_crashing_command_answer_comes_from_the_templates(harness_factory) -> None:
    h = harness_factory("templates: {command_error: 'Leider kaputt.'}")
    core = await h.start()
    try:
        async def broken(*args, **kwargs):
            raise RuntimeError("bug")

        import dataclasses

        entries = core.commands._commands
        entries["help"] = dataclasses.replace(entries["help"], handler=broken)
        result = await core.handle(command("help", h.clock.now()))
        assert not result.ok and result.text == "Leider kaputt."
    finally:
        await h.stop()

"""Messenger: private messages with fallback, hide-and-return, missing-permission reports."""

from __future__ import annotations

from bot.core.errors import MissingPermission, NotFound
from bot.core.events import Outgoing
from bot.core.messenger import quote
from tests.conftest import Harness
from tests.fakes import FlakyError, member, post


def test_quote() -> None:
    assert quote("a\nb") == "> a\n> b"
    assert quote("abcdef", 4) == "> abc…"
    assert quote("") == "> "


async def test_private_falls_back(harness: Harness) -> None:
    m = harness.core.messenger
    harness.platform.closed_dms.add("u")
    ev = post("x", harness.clock.now(), author=member("u"))
    assert await m.private("c1", "u", Outgoing("hi")) == "failed"
    assert await m.private("c1", "u", Outgoing("hi"), fallback_to=ev.message,
                           fallback=Outgoing("hi there")) == "fallback"
    assert await m.private("c1", "u", Outgoing("hi"), fallback_channel="welcome",
                           fallback=Outgoing("hi there")) == "fallback"
    assert await m.private("c1", "v", Outgoing("hi")) == "private"


async def test_send_and_reply_swallow_platform_errors(harness: Harness) -> None:
    m = harness.core.messenger
    harness.platform.fail("send", FlakyError("down"))
    assert await m.send("c1", "x", Outgoing("a")) is None
    harness.platform.fail("reply", NotFound("gone"))
    assert await m.reply(post("x", 0).message, Outgoing("a")) is None


async def test_missing_permission_reported_once_per_place(harness: Harness) -> None:
    m = harness.core.messenger
    await m.report_missing("c1", MissingPermission("ban_members", "#a"))
    await m.report_missing("c1", MissingPermission("ban_members", "#a"))
    await m.report_missing("c1", MissingPermission("ban_members", "#b"))
    assert len(harness.platform.sent_to("mod-alerts")) == 2


async def test_hide_and_return_when_hide_fails(harness: Harness) -> None:
    harness.platform.fail("hide", FlakyError("nope"))
    ev = post("text", harness.clock.now(), author=member("u"))
    hidden, returned = await harness.core.messenger.hide_and_return(
        ev, rule="r", explain="e", private_text="p", notice="n", notice_no_dm="nd")
    assert (hidden, returned) == (False, False)
    assert harness.platform.private_to("u") == []


async def test_once_sends_a_delivery_only_once(harness: Harness) -> None:
    m = harness.core.messenger
    sent = 0

    async def send() -> str:
        nonlocal sent
        sent += 1
        return "private"

    assert await m.once("c1", "k1", send) == "private"
    assert await m.once("c1", "k1", send) == "private"
    assert sent == 1


async def test_once_tries_again_after_a_failure(harness: Harness) -> None:
    m = harness.core.messenger
    results = iter(["failed", "fallback"])

    async def send() -> str:
        return next(results)

    assert await m.once("c1", "k2", send) == "failed"
    assert await m.once("c1", "k2", send) == "fallback"
    assert await harness.core.store.ledger.outbox_state("c1", "k2") == "sent"

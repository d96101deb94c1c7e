"""Every platform call the core makes is bounded in time; timed-out alerts are retried."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.bounded import BoundedPlatform, PlatformTimeout, delivery, unwrap
from bot.core.events import MessageRef, Outgoing
from bot.core.ports import Capability
from tests.conftest import Harness
from tests.fakes import FakePlatform, FlakyError, command, member, post


async def test_a_hanging_call_times_out_as_a_platform_error() -> None:
    fake = FakePlatform()

    async def hang(*args, **kwargs):
        await asyncio.sleep(3600)

    fake.send = hang
    bounded = BoundedPlatform(fake, timeout=0.05)
    start = time.monotonic()
    with pytest.raises(PlatformTimeout, match="send timed out"):
        await bounded.send("c1", "general", Outgoing("hi"))
    assert time.monotonic() - start < 1.0


async def test_plain_attributes_and_methods_pass_through() -> None:
    fake = FakePlatform()
    bounded = BoundedPlatform(fake)
    assert bounded.user_mention("u1") == "<@u1>" and Capability.BUTTONS in bounded.capabilities
    await bounded.timeout("c1", "u1", 60, "why")  # the verb, not the limit
    assert fake.of("timeout") and unwrap(bounded) is fake
    bounded.command_prefix = "!x"  # setting goes to the platform
    assert fake.command_prefix == "!x"


async def test_a_timed_out_alert_is_retried_by_the_scheduler(harness: Harness, caplog) -> None:
    core = harness.core
    core.platform.limit = 0.05
    real = harness.platform.send
    hangs = 1

    async def send_hanging_once(*args, **kwargs):
        nonlocal hangs
        if hangs:
            hangs -= 1
            await asyncio.sleep(3600)
        return await real(*args, **kwargs)

    harness.platform.send = send_hanging_once
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    assert harness.platform.sent_to("mod-alerts") == []
    assert "platform error: send gave no answer" in caplog.text
    [job] = [j for j in await core.store.jobs.pending_jobs() if j.kind == "alert_send"]
    assert "PlatformTimeout" in (job.last_error or "")
    await core.advance(60)
    assert len(harness.platform.sent_to("mod-alerts")) == 1


async def test_sends_of_durable_work_carry_stable_dedupe_keys(harness: Harness) -> None:
    """A retried alert job sends with the same key, so the platform can show it once."""
    core = harness.core
    harness.platform.fail("send", FlakyError("502"))
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas"),
                           msg_id="ok"))
    await core.advance(60)
    [sent] = harness.platform.sent_to("mod-alerts")
    [job] = [j for j in await core.store.jobs.pending_jobs() if j.kind == "alert_reescalate"]
    assert sent.msg.dedupe_key is not None and sent.msg.dedupe_key.endswith(":send:0")
    assert sent.msg.dedupe_key.startswith("job:")
    [dm] = harness.platform.private_to("cas")
    assert dm.msg.dedupe_key == "outbox:c1:ok:signpost:crisis:send_private:0"
    assert job is not None


async def test_no_key_outside_durable_work() -> None:
    fake = FakePlatform()
    await BoundedPlatform(fake).send("c1", "general", Outgoing("hi"))
    assert fake.calls[0].msg.dedupe_key is None
    with delivery("job:7"):
        await BoundedPlatform(fake).send("c1", "general", Outgoing("a"))
        await BoundedPlatform(fake).send("c1", "general", Outgoing("b"))
    assert [c.msg.dedupe_key for c in fake.calls[1:]] == ["job:7:send:0", "job:7:send:1"]


async def test_stored_work_is_made_durable_before_any_acting_verb() -> None:
    fake = FakePlatform()
    order: list[str] = []

    async def durable() -> None:
        order.append("durable")

    bounded = BoundedPlatform(fake, before=durable)
    await bounded.resolve_member("c1", "u1")  # reading: nothing to make durable
    await bounded.role_member_ids("c1", "Moderators")
    assert order == []
    await bounded.send("c1", "general", Outgoing("hi"))
    await bounded.hide(MessageRef("c1", "general", "m1"), "why")
    assert order == ["durable", "durable"]


async def test_an_alert_is_on_disk_before_it_is_sent(harness: Harness,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    import bot.storage.sqlite as database

    core = harness.core
    seen: list[str] = []
    real_fsync = database._fsync_log

    def fsync(p: str) -> None:
        real_fsync(p)
        with sqlite3.connect(p) as other:  # what another process (after a reboot) reads
            n = other.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        seen.append(f"fsync alerts={n}")

    monkeypatch.setattr(database, "_fsync_log", fsync)
    real_send = harness.platform.send

    async def send(community_id, channel, msg):
        seen.append(f"send {channel}")
        return await real_send(community_id, channel, msg)

    harness.platform.send = send
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    first_alert = seen.index("send mod-alerts")
    assert "fsync alerts=1" in seen[:first_alert]


async def test_a_command_answers_only_once_its_change_is_on_disk(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    import bot.storage.sqlite as database

    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    seen: list[str | None] = []
    real_fsync = database._fsync_log

    def fsync(p: str) -> None:
        real_fsync(p)
        with sqlite3.connect(p) as other:
            seen.append(other.execute("SELECT claimed_by FROM alerts WHERE id = 1").fetchone()[0])

    monkeypatch.setattr(database, "_fsync_log", fsync)
    result = await core.handle(command("claim", harness.clock.now(), alert="1"))
    assert result is not None and result.ok
    assert seen and seen[-1] == "mod1"

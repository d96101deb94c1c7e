"""Welcome on join and greeting on the first post."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.fakes import joined, member, post


async def test_join_sends_private_welcome_once_even_after_restart(harness: Harness) -> None:
    core = harness.core
    sam = member("sam", "Sam")
    await core.handle(joined(sam, harness.clock.now()))
    dms = harness.platform.private_to("sam")
    assert len(dms) == 1
    text = dms[0].text
    assert "Harbour" in text and "Sam" in text
    assert "#house-rules" in text  # {rules_channel}
    assert "resources" in text  # where to find help
    core = await harness.restart(downtime=60)
    await core.handle(joined(sam, harness.clock.now()))
    assert len(harness.platform.private_to("sam")) == 1


async def test_closed_dms_fall_back_to_welcome_channel(harness: Harness) -> None:
    harness.platform.closed_dms.add("riley")
    await harness.core.handle(joined(member("riley", "Riley"), harness.clock.now()))
    sent = harness.platform.sent_to("welcome")
    assert len(sent) == 1
    assert "<@riley>" in sent[0].text
    assert sent[0].msg.mention_users == ("riley",)


async def test_bots_are_not_welcomed(harness: Harness) -> None:
    await harness.core.handle(joined(member("b", bot=True), harness.clock.now()))
    assert harness.platform.calls == []


async def test_public_welcome_when_configured(harness_factory) -> None:
    h = harness_factory("welcome: {privately: false, message: 'Hello {member}, welcome to {community}!'}")
    core = await h.start()
    try:
        await core.handle(joined(member("sam", "Sam"), h.clock.now()))
        assert h.platform.private_to("sam") == []
        [sent] = h.platform.sent_to("welcome")
        assert "Hello Sam, welcome to Harbour!" in sent.text
    finally:
        await h.stop()


async def test_first_post_is_greeted_once(harness: Harness) -> None:
    core = harness.core
    sam = member("sam", "Sam")
    await core.handle(post("hi all, I'm new", harness.clock.now(), author=sam, where="intros"))
    await core.handle(post("second post", harness.clock.now(), author=sam, where="intros"))
    replies = harness.platform.of("reply")
    assert len(replies) == 1
    assert "first post" in replies[0].text
    await harness.restart()
    await harness.core.handle(post("third", harness.clock.now(), author=sam, where="intros"))
    assert len(harness.platform.of("reply")) == 1


async def test_first_post_pings_greeters_when_configured(harness_factory) -> None:
    h = harness_factory("welcome: {first_post: ping_greeters}")
    core = await h.start()
    try:
        await core.handle(post("hello", h.clock.now(), author=member("sam", "Sam")))
        [reply] = h.platform.of("reply")
        assert "<@&Greeters>" in reply.text
        assert reply.msg.mention_roles == ("Greeters",)
    finally:
        await h.stop()


async def test_crisis_first_post_is_not_greeted_cheerfully(harness: Harness) -> None:
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas", "Cas")))
    assert not any("first post" in c.text for c in harness.platform.of("reply"))


async def test_greeting_off(harness_factory) -> None:
    h = harness_factory("welcome: {first_post: 'off'}")
    core = await h.start()
    try:
        await core.handle(post("hello", h.clock.now(), author=member("sam")))
        assert h.platform.of("reply") == []
    finally:
        await h.stop()


@pytest.mark.parametrize("platform,expected", [
    ("matrix", "`!haven resources`"), ("discord", "`/resources`"), ("fake", "`resources`"),
])
async def test_welcome_names_commands_as_they_are_typed_here(harness: Harness, platform: str,
                                                             expected: str) -> None:
    # field report: on Matrix "use the `resources` command" did not work as written
    harness.platform.name = platform
    harness.platform.command_prefix = "!haven" if platform == "matrix" else "/"
    text = harness.core.features["welcome"].welcome_text("c1", "Ana")
    assert f"use the {expected} command" in text


async def test_public_welcome_comes_from_templates(harness_factory) -> None:
    h = harness_factory("templates: {welcome_in_channel: '{text} ({mention})'}\n"
                        "welcome: {privately: false, message: 'Hallo {member}: {rules_channel}'}")
    core = await h.start()
    try:
        await core.handle(joined(member("sam", "Sam"), h.clock.now()))
        [sent] = h.platform.sent_to("welcome")
        assert sent.text == "Hallo Sam: #house-rules (<@sam>)"
    finally:
        await h.stop()

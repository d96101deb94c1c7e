"""Content-warning channels and sensitive-topic redirects."""

from __future__ import annotations

from bot.features.content_warnings import label_pattern
from tests.conftest import Harness
from tests.fakes import member, post


def test_label_pattern_accepts_common_forms() -> None:
    pat = label_pattern(("CW:", "TW:"))
    for ok in ("CW: self-harm", "cw - ed", "[TW] abuse", "tw/cw: suicide", "  CW:x", "TW – abuse"):
        assert pat.match(ok.strip()), ok
    for bad in ("cwm", "twitter is down", "I need a CW here", "cw"):
        assert not pat.match(bad), bad


async def test_unlabelled_post_in_cw_channel_is_hidden_and_returned(harness: Harness) -> None:
    core = harness.core
    ev = post("relapsed last night", harness.clock.now(), author=member("kit"), where="heavy-topics")
    await core.handle(ev)
    assert [c.target for c in harness.platform.of("hide")] == [ev.message.message_id]
    [dm] = harness.platform.private_to("kit")
    assert "relapsed last night" in dm.text and "CW:" in dm.text
    [notice] = harness.platform.sent_to(ev.channel.id)
    assert "content warning" in notice.text and "relapsed" not in notice.text


async def test_labelled_or_spoilered_posts_stay(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("CW: self-harm. relapsed", harness.clock.now(), author=member("kit"),
                           where="heavy-topics"))
    await core.handle(post("relapsed", harness.clock.now(), author=member("kit"),
                           where="heavy-topics", spoilered=True))
    assert harness.platform.of("hide") == []


async def test_edits_are_checked_like_new_posts(harness: Harness) -> None:
    core = harness.core
    ev = post("CW: self-harm. rough night", harness.clock.now(), author=member("kit"),
              where="heavy-topics", msg_id="e1")
    await core.handle(ev)
    await core.handle(post("rough night, cut again", harness.clock.now(), author=member("kit"),
                           where="heavy-topics", msg_id="e1", edited=True))
    assert [c.target for c in harness.platform.of("hide")] == ["e1"]


async def test_sensitive_post_elsewhere_is_redirected(harness: Harness) -> None:
    core = harness.core
    ev = post("my self harm scars itch", harness.clock.now(), author=member("jo"), where="general")
    await core.handle(ev)
    assert len(harness.platform.of("hide")) == 1
    [dm] = harness.platform.private_to("jo")
    assert "#heavy-topics" in dm.text and "my self harm scars itch" in dm.text
    assert harness.platform.of("repost") == []


async def test_sensitive_redirect_with_repost(harness_factory) -> None:
    h = harness_factory("content_warnings: {channels: [heavy-topics], redirect_to: heavy-topics, "
                        "repost: true}")
    core = await h.start()
    try:
        await core.handle(post("my self harm scars itch", h.clock.now(), author=member("jo")))
        [repost] = h.platform.of("repost")
        assert repost.target == "heavy-topics" and repost.extra["author"] == "jo"
        assert repost.msg.spoiler and repost.msg.spoiler.startswith("CW:")
        assert repost.msg.spoiler_text == "my self harm scars itch"
        [dm] = h.platform.private_to("jo")
        assert "moved it" in dm.text
    finally:
        await h.stop()


async def test_crisis_posts_are_never_hidden_for_missing_cw(harness: Harness) -> None:
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas"), where="heavy-topics"))
    assert harness.platform.of("hide") == []


async def test_redirect_is_not_reposted_when_hiding_is_refused(harness_factory) -> None:
    from bot.errors import MissingPermission

    h = harness_factory("content_warnings: {channels: [heavy-topics], redirect_to: heavy-topics, "
                        "repost: true}")
    core = await h.start()
    try:
        h.platform.fail("hide", MissingPermission("manage_messages"))
        await core.handle(post("my self harm scars itch", h.clock.now(), author=member("jo")))
        assert h.platform.of("repost") == [] and h.platform.private_to("jo") == []
    finally:
        await h.stop()


async def test_redirected_text_is_kept_whole_when_dms_are_closed(harness: Harness) -> None:
    core = harness.core
    harness.platform.closed_dms.add("jo")
    long_text = "my self harm scars itch. " + "a long story " * 80
    await core.handle(post(long_text, harness.clock.now(), author=member("jo")))
    [case] = await core.store.cases_for("c1", "jo")
    assert case.excerpt == long_text
    [note] = [c for c in harness.platform.sent_to("mod-alerts") if "case 1" in c.text]
    assert "could not be messaged" in note.text and "scars" not in note.text

"""Content-warning channels and sensitive-topic redirects."""

from __future__ import annotations

from bot.features.content_warnings.feature import label_pattern
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
    # reposting is off: the channel is told the post was hidden and sent back, not "moved"
    [notice] = harness.platform.sent_to(ev.channel.id)
    assert "was hidden" in notice.text and "moved" not in notice.text
    assert "#heavy-topics" in notice.text and "sent them their text" in notice.text


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
        assert repost.msg.text.endswith("(posted by jo, moved from #general)")
        [dm] = h.platform.private_to("jo")
        assert "moved it" in dm.text
        [notice] = h.platform.sent_to("id-general")
        assert "was moved to #heavy-topics" in notice.text
    finally:
        await h.stop()


async def test_crisis_posts_are_never_hidden_for_missing_cw(harness: Harness) -> None:
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas"), where="heavy-topics"))
    assert harness.platform.of("hide") == []


async def test_redirect_is_not_reposted_when_hiding_is_refused(harness_factory) -> None:
    from bot.core.errors import MissingPermission

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
    [case] = await core.store.cases.cases_for("c1", "jo")
    assert case.excerpt == long_text
    [note] = [c for c in harness.platform.sent_to("mod-alerts") if "case 1" in c.text]
    assert "could not be messaged" in note.text and "scars" not in note.text


async def test_support_places_are_exempt_from_redirects_by_default(harness: Harness) -> None:
    # field report: a post asking for support in a support channel was redirected
    core = harness.core
    for where in ("support", "vent"):
        await core.handle(post("my self harm scars itch", harness.clock.now(),
                               author=member("jo"), where=where))
    assert harness.platform.of("hide") == [] and harness.platform.private_to("jo") == []
    assert len(await core.store.posts.open_posts("c1")) == 2  # still watched for a reply


async def test_exempt_channels_are_configurable(harness_factory) -> None:
    h = harness_factory("content_warnings: {channels: [heavy-topics], redirect_to: heavy-topics, "
                        "exempt: [general]}")
    core = await h.start()
    try:
        assert core.config.content_warnings.exempt == ("general",)
        await core.handle(post("my self harm scars itch", h.clock.now(), author=member("jo"),
                               where="general"))
        assert h.platform.of("hide") == []
        # support places are no longer exempt once the admin lists the exempt channels
        await core.handle(post("my self harm scars itch", h.clock.now(), author=member("jo"),
                               where="support"))
        assert len(h.platform.of("hide")) == 1
    finally:
        await h.stop()


async def test_cw_channel_notice_comes_from_templates(harness_factory) -> None:
    h = harness_factory("templates: {cw_missing_notice: 'Label it please, {member}.', "
                        "cw_missing_notice_no_dm: 'Label it, {member}; ask a moderator.'}\n"
                        "content_warnings: {channels: [heavy-topics], redirect_to: heavy-topics}")
    core = await h.start()
    try:
        await core.handle(post("relapsed", h.clock.now(), author=member("kit"),
                               where="heavy-topics"))
        h.platform.closed_dms.add("lee")
        await core.handle(post("relapsed", h.clock.now(), author=member("lee"),
                               where="heavy-topics"))
        notices = [c.text for c in h.platform.sent_to("id-heavy-topics")]
        assert notices == ["Label it please, <@kit>.", "Label it, <@lee>; ask a moderator."]
    finally:
        await h.stop()


async def test_redirect_notice_when_dms_are_closed(harness: Harness) -> None:
    harness.platform.closed_dms.add("jo")
    await harness.core.handle(post("my self harm scars itch", harness.clock.now(),
                                   author=member("jo")))
    [notice] = harness.platform.sent_to("id-general")
    assert "was hidden" in notice.text and "couldn't message them" in notice.text


async def test_closed_dms_case_note_comes_from_templates(harness_factory) -> None:
    h = harness_factory("templates: {cw_case_no_dm: 'Fall {case}: {member} in #{channel}.'}")
    core = await h.start()
    try:
        h.platform.closed_dms.add("jo")
        await core.handle(post("my self harm scars itch", h.clock.now(), author=member("jo")))
        assert "Fall 1: jo in #general." in [c.text for c in h.platform.sent_to("mod-alerts")]
    finally:
        await h.stop()


async def test_a_redirect_is_flagged_for_the_review_digest(harness: Harness) -> None:
    from bot.core.events import Flagged
    from tests.fakes import record_published

    flagged = record_published(harness.core, Flagged)
    await harness.core.handle(post("my self harm scars itch", harness.clock.now(),
                                   author=member("jo"), where="general"))
    await harness.core.drain()
    [flag] = flagged
    assert flag.kind == "cw_redirect" and flag.member_id == "jo" and "scars" not in flag.summary

"""Crisis escalation: alerts, signposting, claim/resolve, re-escalation, durability."""

from __future__ import annotations

from bot.errors import MissingPermission
from bot.events import ButtonPressed
from tests.conftest import Harness
from tests.fakes import MOD, FlakyError, channel, command, member, post

MIN = 60


def alerts_sent(h: Harness) -> list:
    return [c for c in h.platform.sent_to("mod-alerts") if "alert" in c.text.lower()]


async def test_crisis_post_alerts_moderators_and_signposts_member(harness: Harness) -> None:
    core = harness.core
    ev = post("i can't go on, i want to kill myself", harness.clock.now(),
              author=member("cas", "Casey"), where="vent")
    await core.handle(ev)
    [alert] = alerts_sent(harness)
    assert "Crisis" in alert.text and "critical" in alert.text
    assert "<@cas>" in alert.text and "#vent" in alert.text and ev.link in alert.text
    assert "t-crisis" in alert.text  # the rule that matched
    assert "kill myself" in alert.text  # excerpt, in the private channel only
    assert alert.msg.mention_roles == ("Moderators",)
    assert alert.msg.alert_id == 1
    [dm] = harness.platform.private_to("cas")
    assert "Samaritans" in dm.text and "116 123" in dm.text
    # never punished
    assert harness.platform.of("hide") == [] and harness.platform.of("timeout") == []
    stored = await core.store.get_alert(1)
    assert stored.state == "open" and stored.kind == "crisis"


async def test_crisis_text_only_goes_to_the_moderators_channel(harness: Harness) -> None:
    await harness.core.handle(post("i want to end my life", harness.clock.now(),
                                   author=member("cas"), where="general"))
    for c in harness.platform.calls:
        if "end my life" in c.text:
            assert c.verb == "send" and c.target == "mod-alerts"


async def test_further_posts_update_the_open_alert_without_repeat_signposting(harness: Harness) -> None:
    core = harness.core
    cas = member("cas")
    await core.handle(post("i want to kill myself", harness.clock.now(), author=cas, where="vent"))
    await core.advance(2 * MIN)
    await core.handle(post("seriously i want to end my life", harness.clock.now(), author=cas,
                           where="vent"))
    assert len(await core.store.alerts_by_state("c1", ("open",))) == 1
    alert = await core.store.get_alert(1)
    assert alert.count == 2
    assert any("another post" in c.text for c in alerts_sent(harness))
    assert len(harness.platform.private_to("cas")) == 1


async def test_unclaimed_alert_is_reescalated_more_widely(harness_factory) -> None:
    h = harness_factory("")
    core = await h.start()
    try:
        await core.handle(command("duty", h.clock.now(), state="on"))
        await core.handle(post("i want to kill myself", h.clock.now(), author=member("cas")))
        [first] = alerts_sent(h)
        assert first.msg.mention_users == ("mod1",) and first.msg.mention_roles == ()
        await core.advance(10 * MIN + 1)
        second = alerts_sent(h)[-1]
        assert "still unclaimed" in second.text
        assert second.msg.mention_roles == ("Moderators",)
        await core.advance(60 * MIN)
        assert len(alerts_sent(h)) == 4  # re-escalated at most 3 times
    finally:
        await h.stop()


async def test_claim_stops_reescalation_and_updates_alert_messages(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    result = await core.handle(ButtonPressed("c1", harness.clock.now(), channel=channel("mod-alerts"),
                                             member=MOD, action="claim", alert_id=1))
    assert "claimed alert #1" in result.text
    edits = harness.platform.of("edit")
    assert edits and "Claimed by <@mod1>" in edits[-1].text
    await core.advance(60 * MIN)
    assert len(alerts_sent(harness)) == 1
    again = await core.handle(command("claim", harness.clock.now(), alert="1",
                                      invoker=member("mod2", roles=("Moderators",))))
    assert "already claimed by <@mod1>" in again.text
    done = await core.handle(command("resolve", harness.clock.now(), alert="1",
                                     note="spoke with them, safe"))
    assert "resolved" in done.text
    alert = await core.store.get_alert(1)
    assert alert.state == "resolved" and alert.note == "spoke with them, safe"
    assert "Resolved by <@mod1>" in harness.platform.of("edit")[-1].text


async def test_members_cannot_press_alert_buttons(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    result = await core.handle(ButtonPressed("c1", harness.clock.now(), channel=channel("mod-alerts"),
                                             member=member("rando"), action="claim", alert_id=1))
    assert not result.ok
    assert (await core.store.get_alert(1)).state == "open"


async def test_failed_alert_is_retried_until_sent_also_after_restart(harness: Harness) -> None:
    core = harness.core
    harness.platform.fail("send", FlakyError("503"), times=3)
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    assert alerts_sent(harness) == []
    [job] = [j for j in await core.store.pending_jobs() if j.kind == "alert_send"]
    assert job.attempts == 1
    core = await harness.restart(downtime=5)
    assert alerts_sent(harness) == []  # first retry is not due yet
    await core.advance(15 * MIN)
    assert len([c for c in alerts_sent(harness) if "New alert" in c.text]) == 1


async def test_missing_permission_is_reported_once(harness: Harness) -> None:
    core = harness.core
    harness.platform.fail("hide", MissingPermission("manage_messages", "#vent"), times=2)
    await core.handle(post("how many pills would it take", harness.clock.now(),
                           author=member("drew"), where="vent"))
    await core.handle(post("how many pills would it take", harness.clock.now(),
                           author=member("drew2"), where="vent"))
    reports = [c for c in harness.platform.sent_to("mod-alerts") if "permission" in c.text]
    assert len(reports) == 1 and "manage_messages" in reports[0].text


async def test_alerts_command_lists_open_alerts(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas", "Casey")))
    result = await core.handle(command("alerts", harness.clock.now()))
    assert "#1 crisis" in result.text and "UNCLAIMED" in result.text
    refused = await core.handle(command("alerts", harness.clock.now(), invoker=member("cas")))
    assert not refused.ok and "moderators only" in refused.text


async def test_duty_spreads_alerts_and_respects_quiet_hours(harness: Harness) -> None:
    core = harness.core
    mod2 = member("mod2", roles=("Moderators",))
    mod3 = member("mod3", roles=("Moderators",))
    for m in (MOD, mod2, mod3):
        await core.handle(command("duty", harness.clock.now(), invoker=m, state="on"))
    # mod3 is in quiet hours now (the virtual clock starts at 09:00 UTC)
    await core.handle(command("quiet", harness.clock.now(), invoker=mod3, hours="08:00-10:00"))
    mentioned = []
    for i in range(4):
        await core.handle(post("i want to kill myself", harness.clock.now(), author=member(f"p{i}")))
        mentioned.append(alerts_sent(harness)[-1].msg.mention_users)
        await core.advance(1)
    assert set(mentioned) == {("mod1",), ("mod2",)}
    assert mentioned[0] != mentioned[1]


async def test_alert_to_a_non_private_moderators_channel_withholds_the_excerpt(harness: Harness) -> None:
    core = harness.core
    harness.platform.private_mods = False  # the adapter says members can see the channel
    ev = post("i want to kill myself", harness.clock.now(), author=member("cas"), where="vent")
    await core.handle(ev)
    [alert] = alerts_sent(harness)  # moderators still hear, at once
    assert "kill myself" not in alert.text
    assert "Details withheld" in alert.text and "not private" in alert.text
    # nor who, or where: members can read this channel; `alerts` answers privately
    assert ev.link not in alert.text and "<@cas>" not in alert.text and alert.msg.alert_id == 1
    listing = await core.handle(command("alerts", harness.clock.now()))
    assert "cas" in listing.text and listing.ephemeral
    assert not [c for c in harness.platform.calls if "kill myself" in c.text]
    # Status edits (claim) are rendered the same way: the words stay out.
    await core.handle(ButtonPressed("c1", harness.clock.now(), channel=channel("mod-alerts"),
                                    member=MOD, action="claim", alert_id=1))
    [edit] = harness.platform.of("edit")
    assert "Claimed by <@mod1>" in edit.text and "kill myself" not in edit.text
    # Once the channel is private again (or unknown), excerpts come back.
    for private in (True, None):
        harness.platform.private_mods = private
        harness.platform.clear()
        await core.handle(post("i want to end my life", harness.clock.now(),
                               author=member(f"dee-{private}"), where="vent"))
        [alert] = alerts_sent(harness)
        assert "end my life" in alert.text and "withheld" not in alert.text


async def test_a_passing_not_found_does_not_lose_the_alert(harness: Harness) -> None:
    from bot.errors import NotFound

    core = harness.core
    harness.platform.fail("send", NotFound("server not cached yet"))
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    assert alerts_sent(harness) == []
    await core.advance(60)  # alert retries are capped at a minute
    assert len([c for c in alerts_sent(harness) if "New alert" in c.text]) == 1


async def test_no_reescalation_after_claim_even_if_it_was_waiting_to_retry(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    harness.platform.fail("send", FlakyError("503"))
    await core.advance(600)  # the re-escalation send fails and waits for a retry
    await core.handle(command("claim", harness.clock.now(), alert="1"))
    await core.advance(3600)
    assert not [c for c in alerts_sent(harness) if "still unclaimed" in c.text]


async def test_signpost_as_a_reply_when_configured(harness_factory) -> None:
    h = harness_factory("crisis: {signpost: reply}")
    core = await h.start()
    try:
        await core.handle(post("i want to kill myself", h.clock.now(), author=member("cas")))
        assert h.platform.private_to("cas") == []
        [reply] = h.platform.of("reply")
        assert "Samaritans" in reply.text and reply.msg.mention_users == ("cas",)
    finally:
        await h.stop()


async def test_method_alert_names_the_case_when_text_could_not_be_returned(harness: Harness) -> None:
    harness.platform.closed_dms.add("drew")
    await harness.core.handle(post("how many pills would it take", harness.clock.now(),
                                   author=member("drew")))
    [alert] = [c for c in alerts_sent(harness) if "Method" in c.text]
    assert "could not be messaged privately" in alert.text and "case 1`" in alert.text

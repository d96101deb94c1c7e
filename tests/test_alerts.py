"""Crisis escalation: alerts, signposting, claim/resolve, re-escalation, durability."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.core.errors import MissingPermission
from bot.core.events import ButtonPressed, Channel, Member
from bot.core.ports import Capability
from bot.features.alerts.feature import excerpt_around
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.rows import Alert
from tests.conftest import TEST_RULES, Harness, make_config
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
    stored = await core.store.alerts.get_alert(1)
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
    assert len(await core.store.alerts.alerts_by_state("c1", ("open",))) == 1
    alert = await core.store.alerts.get_alert(1)
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
    alert = await core.store.alerts.get_alert(1)
    assert alert.state == "resolved" and alert.note == "spoke with them, safe"
    assert "Resolved by <@mod1>" in harness.platform.of("edit")[-1].text


async def test_members_cannot_press_alert_buttons(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    result = await core.handle(ButtonPressed("c1", harness.clock.now(), channel=channel("mod-alerts"),
                                             member=member("rando"), action="claim", alert_id=1))
    assert not result.ok
    assert (await core.store.alerts.get_alert(1)).state == "open"


async def test_failed_alert_is_retried_until_sent_also_after_restart(harness: Harness) -> None:
    core = harness.core
    harness.platform.fail("send", FlakyError("503"), times=3)
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    assert alerts_sent(harness) == []
    [job] = [j for j in await core.store.jobs.pending_jobs() if j.kind == "alert_send"]
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
    from bot.core.errors import NotFound

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


# -- field hardening (issue 12) ------------------------------------------------------

EXTRA_RULES = """
- id: t-concern
  category: concern
  severity: medium
  description: Test passive wish
  match:
    any:
      - keywords: ["wish i wasnt here", "no point anymore"]
  actions:
    - alert_moderators: {urgency: quiet}
    - signpost: {topic: crisis}
  examples:
    match: ["i just wish i wasnt here"]
    no_match: ["i wish i was there"]

- id: t-method-normal
  category: method
  severity: high
  description: Test method details, mention once
  match:
    any:
      - keywords: ["lethal dose"]
  actions:
    - hide
    - alert_moderators: {urgency: normal}
  explain: Posts about ways to hurt yourself can put others at risk, so we've hidden it.
  examples:
    match: ["what is a lethal dose"]
    no_match: ["a dose of sun"]

- id: t-quiet-other
  category: other
  severity: low
  description: A quiet heads-up
  match:
    any:
      - keywords: ["bad day again"]
  actions:
    - alert_moderators: {urgency: quiet}
  examples:
    match: ["another bad day again"]
    no_match: ["good day"]
"""


def rules_harness(tmp_path: Path, extra_config: str = "") -> Harness:
    """A harness whose rules are the core test rules plus :data:`EXTRA_RULES`."""
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(TEST_RULES / "helplines.yaml", rules / "helplines.yaml")
    (rules / "core.yaml").write_text((TEST_RULES / "core.yaml").read_text() + EXTRA_RULES)
    return Harness(make_config(tmp_path, extra_config, rules=rules))


@pytest.fixture
async def rh(tmp_path: Path):
    h = rules_harness(tmp_path)
    await h.start()
    yield h
    await h.stop()


async def test_alert_update_shows_each_posts_place(harness: Harness) -> None:
    """Item 11: a second post elsewhere keeps both places, each with its link."""
    core = harness.core
    cas = member("cas")
    first = post("i want to kill myself", harness.clock.now(), author=cas, where="vent")
    second = post("i want to end my life", harness.clock.now() + 60, author=cas, where="support")
    await core.handle(first)
    await core.handle(second)
    update = alerts_sent(harness)[-1]
    assert "another post" in update.text
    assert f"- #vent {first.link}" in update.text and f"- #support {second.link}" in update.text
    places = (await core.store.alerts.get_alert(1)).places_list()
    assert [p["channel_name"] for p in places] == ["vent", "support"]


async def test_alert_excerpt_quotes_around_the_match(harness: Harness) -> None:
    """Item 12: a long post is quoted where the rule matched, not from its start."""
    filler = "today was a long day at work and the bus was late again. " * 8
    text = filler + "honestly i want to kill myself tonight. " + filler
    await harness.core.handle(post(text, harness.clock.now(), author=member("cas")))
    [alert] = alerts_sent(harness)
    assert "kill myself" in alert.text
    excerpt = (await harness.core.store.alerts.get_alert(1)).excerpt
    assert excerpt.startswith("…") and excerpt.endswith("…")
    assert len(excerpt) <= harness.config.crisis.excerpt_chars


def test_excerpt_around_edges() -> None:
    assert excerpt_around("short text", "short", 50) == "short text"
    assert excerpt_around("x" * 300 + " END", "END", 40).endswith("END")
    assert excerpt_around("A" * 300, "missing", 20) == "A" * 19 + "…"
    long_match = "kill myself " * 30
    assert len(excerpt_around("hi " * 50 + long_match, long_match.strip(), 60)) <= 60


async def test_method_alert_with_normal_urgency_is_not_reescalated(rh: Harness) -> None:
    """Item 15: urgency `normal` mentions once; only `now` re-escalates."""
    core = rh.core
    await core.handle(post("what is a lethal dose", rh.clock.now(), author=member("drew")))
    [alert] = alerts_sent(rh)
    assert alert.msg.mention_roles == ("Moderators",)
    await core.advance(3 * 3600)
    assert len(alerts_sent(rh)) == 1
    assert not [j for j in await core.store.jobs.pending_jobs() if j.kind == "alert_reescalate"]


async def test_alert_names_the_command_where_there_are_no_buttons(harness: Harness) -> None:
    """Item 15: no Claim button offered where the platform has none; the prefix is the platform's."""
    harness.platform.capabilities -= {Capability.BUTTONS}
    harness.platform.command_prefix = "!haven"
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas")))
    [alert] = alerts_sent(harness)
    assert "`!haven claim 1`" in alert.text and "Claim (" not in alert.text
    assert "`!haven resolve 1 [note]`" in alert.text
    assert "press Claim" not in alert.text


async def test_alert_offers_the_button_where_there_is_one(harness: Harness) -> None:
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas")))
    [alert] = alerts_sent(harness)
    assert "press Claim" in alert.text and "`/claim 1`" in alert.text


async def test_concern_is_a_quiet_note_and_never_punitive(rh: Harness) -> None:
    """The concern level: no ping, no re-escalation, signposting, nothing hidden."""
    core = rh.core
    await core.handle(post("no point anymore, you idiot", rh.clock.now(), author=member("kit")))
    [note] = [c for c in rh.platform.sent_to("mod-alerts") if "Check in when you can" in c.text]
    assert note.msg.mention_roles == () and note.msg.mention_users == ()
    assert "<@" not in note.text.split("\n")[0] and note.msg.alert_id == 1
    assert rh.platform.of("hide") == [] and not await core.store.cases.cases_for("c1", "kit")
    assert "Samaritans" in rh.platform.private_to("kit")[0].text
    stored = await core.store.alerts.get_alert(1)
    assert stored.kind == "concern" and stored.urgency == "quiet"
    await core.advance(3 * 3600)
    assert len(rh.platform.sent_to("mod-alerts")) == 1  # never re-escalated
    # claimable like any alert
    result = await core.handle(command("claim", rh.clock.now(), alert="1"))
    assert "claimed alert #1" in result.text


async def test_a_crisis_post_upgrades_the_quiet_note(rh: Harness) -> None:
    core = rh.core
    kit = member("kit")
    await core.handle(post("i just wish i wasnt here", rh.clock.now(), author=kit))
    await core.handle(post("i want to kill myself tonight", rh.clock.now() + 60, author=kit))
    assert len(await core.store.alerts.alerts_by_state("c1", ("open",))) == 1
    alert = await core.store.alerts.get_alert(1)
    assert alert.kind == "crisis" and alert.urgency == "now" and alert.count == 2
    upgrade = rh.platform.sent_to("mod-alerts")[-1]
    assert "upgraded" in upgrade.text and upgrade.msg.mention_roles == ("Moderators",)
    assert [j for j in await core.store.jobs.pending_jobs() if j.kind == "alert_reescalate"]


async def test_a_new_crisis_alert_looks_up_each_kind_of_open_alert_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[str] = []
    real = AlertsRepository.open_alert_for

    async def counted(self: AlertsRepository, community_id: str, member_id: str,
                      kind: str) -> Alert | None:
        looked.append(kind)
        return await real(self, community_id, member_id, kind)

    monkeypatch.setattr(AlertsRepository, "open_alert_for", counted)
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas")))
    assert looked == ["crisis", "concern"]  # the crisis one was not read twice
    assert len(alerts_sent(harness)) == 1


async def test_urgency_quiet_on_any_rule_is_the_quiet_note(rh: Harness) -> None:
    await rh.core.handle(post("another bad day again", rh.clock.now(), author=member("lou")))
    [note] = rh.platform.sent_to("mod-alerts")
    assert "Check in when you can" in note.text and note.msg.mention_roles == ()


async def test_a_concern_post_from_a_member_with_a_crisis_alert_updates_it(rh: Harness) -> None:
    core = rh.core
    kit = member("kit")
    await core.handle(post("i want to kill myself", rh.clock.now(), author=kit))
    await core.handle(post("no point anymore", rh.clock.now() + 60, author=kit))
    [alert] = await core.store.alerts.alerts_by_state("c1", ("open",))
    assert alert.kind == "crisis" and alert.count == 2


def dm(text: str, at: float, who: Member, msg_id: str | None = None):
    """A private message to Haven (as adapters deliver it)."""
    return post(text, at, author=who, chan=Channel(f"dm-{who.id}", "dm", kind="dm"),
                msg_id=msg_id)


async def test_crisis_in_a_private_message_alerts_and_answers_at_once(harness: Harness) -> None:
    """Item 7: crisis written to Haven in private reaches moderators and is answered."""
    core = harness.core
    cas = member("cas", "Casey")
    ev = dm("I'm going to kill myself tonight, please help", harness.clock.now(), cas)
    await core.handle(ev)
    [alert] = alerts_sent(harness)
    assert "in a private message to Haven" in alert.text
    assert ev.link not in alert.text and "#dm" not in alert.text
    assert alert.msg.mention_roles == ("Moderators",)
    [answer] = harness.platform.of("reply")
    assert answer.target == ev.message.message_id
    assert "Samaritans" in answer.text and "moderators" in answer.text
    # nothing punitive, nothing tracked, no welcome
    assert harness.platform.of("hide") == [] and harness.platform.private_to("cas") == []
    assert await core.store.posts.posts_since("c1", 0) == []
    assert await core.store.members.get_member("c1", "cas") is None
    # a further message updates the same alert; the member gets a short answer
    await core.handle(dm("please", harness.clock.now() + 30, cas))  # no match: nothing
    await core.handle(dm("i really want to end my life", harness.clock.now() + 60, cas))
    [open_alert] = await core.store.alerts.alerts_by_state("c1", ("open",))
    assert open_alert.count == 2 and open_alert.private
    answers = harness.platform.of("reply")
    assert len(answers) == 2 and "Samaritans" not in answers[1].text
    assert "passed this on" in answers[1].text


async def test_a_private_message_without_crisis_is_left_alone(harness: Harness) -> None:
    await harness.core.handle(dm("kys loser, how many pills", harness.clock.now(), member("x")))
    assert harness.platform.calls == []


async def test_a_private_message_answer_falls_back_to_a_private_message(harness: Harness) -> None:
    harness.platform.fail("reply", FlakyError("no replies in DMs"))
    await harness.core.handle(dm("i want to kill myself", harness.clock.now(), member("cas")))
    assert len(alerts_sent(harness)) == 1
    [answer] = harness.platform.private_to("cas")
    assert "Samaritans" in answer.text


async def test_matrix_alerts_name_the_configured_command_prefix(harness_factory) -> None:
    h = harness_factory("matrix: {homeserver: 'http://127.0.0.1:1', user_id: '@haven:localhost',"
                        " command_prefix: '!care'}")
    h.platform.name = "matrix"
    h.platform.capabilities -= {Capability.BUTTONS}
    h.platform.command_prefix = '!care'
    await h.start()
    try:
        await h.core.handle(post("i want to kill myself", h.clock.now(), author=member("cas")))
        [alert] = alerts_sent(h)
        assert "`!care claim 1`" in alert.text and "Claim" not in alert.text.replace(
            "claim", "")
    finally:
        await h.stop()


async def test_an_edit_of_a_later_post_does_not_count_it_twice(harness: Harness) -> None:
    core = harness.core
    cas = member("cas")
    await core.handle(post("i want to kill myself", harness.clock.now(), author=cas, msg_id="a"))
    await core.handle(post("i want to end my life", harness.clock.now() + 5, author=cas,
                           msg_id="b"))
    sent = len(alerts_sent(harness))
    await core.handle(post("i really want to end my life", harness.clock.now() + 9, author=cas,
                           msg_id="b", edited=True))
    alert = await core.store.alerts.get_alert(1)
    assert alert.count == 2 and len(alert.places_list()) == 2
    assert len(alerts_sent(harness)) == sent and "really" in alert.excerpt


async def test_alert_texts_and_answers_come_from_templates(harness_factory) -> None:
    h = harness_factory("templates:\n"
                        "  alert_title_new: Neue Meldung\n"
                        "  alert_member: 'Person: {mention}'\n"
                        "  alert_claim_done: 'Nummer {alert} ist deins.'\n"
                        "  alert_claimed_by: 'Übernommen von {moderator}.'\n")
    core = await h.start()
    try:
        await core.handle(post("i want to kill myself", h.clock.now(), author=member("cas")))
        [alert] = h.platform.sent_to("mod-alerts")
        assert "**Neue Meldung #1: Crisis (" in alert.text
        assert "Person: <@cas>" in alert.text and "Member:" not in alert.text
        result = await core.handle(ButtonPressed("c1", h.clock.now(), channel=channel("mod-alerts"),
                                                 member=MOD, action="claim", alert_id=1))
        assert result.text == "Nummer 1 ist deins."
        assert "Übernommen von <@mod1>." in h.platform.of("edit")[-1].text
    finally:
        await h.stop()


async def test_an_alert_and_its_delivery_job_are_stored_together_or_not_at_all(
        harness: Harness) -> None:
    core = harness.core
    real = core.scheduler.schedule
    failing = True

    async def schedule(community_id, kind, key, due_at, payload=None):
        if kind == "alert_send" and failing:
            raise RuntimeError("disk full")
        return await real(community_id, kind, key, due_at, payload)

    core.scheduler.schedule = schedule  # type: ignore[method-assign]
    ev = post("i want to kill myself", harness.clock.now(), author=member("cas"), msg_id="tx1")
    await core.handle(ev)
    # the alert row was rolled back with its re-escalation job: no alert nobody will send
    assert await core.store.alerts.alerts_by_state("c1", ("open", "claimed")) == []
    assert not [j for j in await core.store.jobs.pending_jobs() if j.kind.startswith("alert")]
    failing = False
    await core.handle(ev)  # delivered again: now it is stored and sent, once
    [alert] = await core.store.alerts.alerts_by_state("c1", ("open", "claimed"))
    assert len(alerts_sent(harness)) == 1 and alert.count == 1


async def test_claims_and_resolutions_are_published(harness_factory) -> None:
    from bot.core.events import AlertClaimed, AlertResolved
    from tests.fakes import record_published

    h = harness_factory()
    await h.start()
    try:
        core = h.core
        claimed, resolved = record_published(core, AlertClaimed), record_published(core, AlertResolved)
        await core.handle(post("i want to kill myself", h.clock.now(), author=member("cas")))
        await core.handle(command("claim", h.clock.now(), alert="1"))
        await core.handle(command("resolve", h.clock.now(), alert="1"))
        await core.drain()  # published events are handled in the community's order
        assert [(e.alert_id, e.kind, e.by) for e in claimed] == [(1, "crisis", "mod1")]
        assert [(e.alert_id, e.kind, e.urgency) for e in resolved] == [(1, "crisis", "now")]
    finally:
        await h.stop()

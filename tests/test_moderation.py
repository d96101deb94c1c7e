"""Planning and acting on matched rules: method, hostility, pii, shadow, cooldowns, cases."""

from __future__ import annotations

import asyncio
import contextlib

from bot.rules.planner import plan
from tests.conftest import Harness
from tests.fakes import member, post


async def test_plan_never_punishes_crisis(harness: Harness) -> None:
    rb = harness.core.rulebook
    p = plan(rb.evaluate("i want to kill myself, kys"))
    assert p.crisis is not None and p.alert is not None
    assert p.hide is None and p.warn == [] and p.timeout is None


async def test_plan_keeps_method_hide_with_crisis(harness: Harness) -> None:
    p = plan(harness.core.rulebook.evaluate("i want to kill myself, how many pills"))
    assert p.crisis is not None and p.hide is not None
    assert p.hide.rule.category == "method"


async def test_method_post_is_hidden_returned_and_alerted(harness: Harness) -> None:
    core = harness.core
    ev = post("how many pills would it take to not wake up", harness.clock.now(),
              author=member("drew", "Drew"), where="vent")
    await core.handle(ev)
    [hide] = harness.platform.of("hide")
    assert hide.target == ev.message.message_id
    dm, signpost = harness.platform.private_to("drew")
    assert "how many pills would it take to not wake up" in dm.text  # nothing lost
    assert "t-method" in dm.text and "put others at risk" in dm.text
    assert "Samaritans" in signpost.text  # and support
    alerts = [c for c in harness.platform.sent_to("mod-alerts") if "Method" in c.text]
    assert len(alerts) == 1 and "post was hidden" in alerts[0].text
    notice = [c for c in harness.platform.sent_to(ev.channel.id)]
    assert notice and "pills" not in notice[0].text  # the channel note does not quote
    assert "Samaritans" not in notice[0].text
    [case] = await core.store.cases.cases_for("c1", "drew")
    assert case.action == "hide" and case.rule_id == "t-method"


async def test_hostility_is_hidden_warned_and_cased(harness: Harness) -> None:
    core = harness.core
    ev = post("nobody likes you, kys", harness.clock.now(), author=member("riley", "Riley"))
    await core.handle(ev)
    assert len(harness.platform.of("hide")) == 1
    dms = [c.text for c in harness.platform.private_to("riley")]
    assert any("Here is your text" in t and "kys" in t for t in dms)
    assert any("warning" in t and "t-hostility" in t and "be kind" in t for t in dms)
    actions = [c.action for c in await core.store.cases.cases_for("c1", "riley")]
    assert actions == ["hide", "warn"]
    log = [c for c in harness.platform.sent_to("mod-alerts") if "Case #" in c.text]
    assert log and "t-hostility" in log[0].text


async def test_hidden_post_with_closed_dms_keeps_text_in_case(harness: Harness) -> None:
    core = harness.core
    harness.platform.closed_dms.add("riley")
    await core.handle(post("you idiot, go away", harness.clock.now(), author=member("riley")))
    [case] = [c for c in await core.store.cases.cases_for("c1", "riley") if c.action == "hide"]
    assert case.excerpt == "you idiot, go away"
    notes = [c.text for c in harness.platform.sent_to("id-general")]
    assert any("couldn't message you privately" in t for t in notes)


async def test_hide_refused_means_no_false_claim(harness: Harness) -> None:
    from bot.core.errors import MissingPermission

    core = harness.core
    harness.platform.fail("hide", MissingPermission("manage_messages"))
    await core.handle(post("kys", harness.clock.now(), author=member("riley")))
    assert not any("hidden" in c.text for c in harness.platform.private_to("riley"))


async def test_pii_nudge_has_a_cooldown(harness: Harness) -> None:
    core = harness.core
    sam = member("sam")
    for _ in range(3):
        await core.handle(post("text me on 555-1234", harness.clock.now(), author=sam))
    nudges = [c for c in harness.platform.private_to("sam") if "gentle note" in c.text]
    assert len(nudges) == 1
    await core.advance(3601)
    await core.handle(post("or 555-9876", harness.clock.now(), author=sam))
    assert len([c for c in harness.platform.private_to("sam") if "gentle note" in c.text]) == 2


async def test_shadow_rule_decides_but_does_nothing(harness: Harness) -> None:
    await harness.core.handle(post("get free nitro here", harness.clock.now(), author=member("s")))
    assert harness.platform.of("hide") == []


async def test_topic_signposting(harness: Harness) -> None:
    await harness.core.handle(post("the purging is back", harness.clock.now(), author=member("e")))
    [dm] = harness.platform.private_to("e")
    assert "Beat" in dm.text  # GB eating-disorder service


async def test_moderators_channel_and_bots_are_not_scanned(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("member said kill myself", harness.clock.now(), where="mod-alerts",
                           author=member("mod1", roles=("Moderators",))))
    await core.handle(post("kys", harness.clock.now(), author=member("b", bot=True)))
    assert harness.platform.calls == []


async def test_handler_errors_are_contained(harness: Harness) -> None:
    core = harness.core

    async def boom(*args, **kwargs):
        raise RuntimeError("feature bug")

    core.features["welcome"].on_first_post = boom
    await core.handle(post("hello", harness.clock.now(), author=member("x"), where="support"))
    assert core.errors == 1
    assert len(await core.store.posts.open_posts("c1")) == 1  # the other features still ran


async def test_hidden_post_gets_no_edit_nudges(harness: Harness) -> None:
    p = plan(harness.core.rulebook.evaluate("kys, call me on 555-1234"))
    assert p.hide is not None and p.hide.rule.id == "t-hostility"
    assert p.replies == []


# -- store first, then act (issue 12 items 4 and 5) -------------------------------------

async def test_case_and_text_are_stored_before_the_post_is_hidden(harness: Harness) -> None:
    core = harness.core
    text = "how many pills would it take, asking for a long reason " + "x" * 300
    seen_at_hide: list = []
    real_hide = harness.platform.hide

    async def hide(ref, reason):
        case = await core.store.cases.find_case("c1", ref.message_id, "hide")
        alert = await core.store.alerts.get_alert(1)
        seen_at_hide.append((case, alert))
        await real_hide(ref, reason)

    harness.platform.hide = hide
    await core.handle(post(text, harness.clock.now(), author=member("drew"), msg_id="m-1"))
    [(case, alert)] = seen_at_hide
    assert case is not None and case.excerpt == text  # the whole text, before hiding
    assert alert is not None  # and the alert is recorded durably first
    # once the author has their text, the case keeps only a short excerpt
    assert len((await core.store.cases.get_case("c1", case.id)).excerpt) == 200


async def test_the_alert_goes_out_when_hiding_raises(harness: Harness) -> None:
    core = harness.core

    async def broken_hide(ref, reason):
        raise RuntimeError("library bug")

    harness.platform.hide = broken_hide
    await core.handle(post("how many pills would it take", harness.clock.now(),
                           author=member("drew")))
    [alert] = [c for c in harness.platform.sent_to("mod-alerts") if "alert" in c.text.lower()]
    assert "Method" in alert.text
    assert core.errors >= 1


async def test_the_alert_goes_out_when_returning_the_text_raises(harness: Harness) -> None:
    core = harness.core

    async def broken_dm(*args, **kwargs):
        raise RuntimeError("library bug")

    harness.platform.send_private = broken_dm
    await core.handle(post("how many pills would it take", harness.clock.now(),
                           author=member("drew")))
    assert harness.platform.of("hide")
    assert [c for c in harness.platform.sent_to("mod-alerts") if "Method" in c.text]


async def test_a_hide_interrupted_by_a_crash_is_finished_after_restart(harness: Harness) -> None:
    """Hidden, then the process died: the text still reaches the author, the notice is posted."""
    core = harness.core
    crash = True
    real_return = core.features["moderation"]._return_text

    async def dies(*args, **kwargs):
        if crash:
            raise asyncio.CancelledError("killed")  # stands in for the process dying
        return await real_return(*args, **kwargs)

    core.features["moderation"]._return_text = dies
    ev = post("kys loser", harness.clock.now(), author=member("bob"), where="support")
    with contextlib.suppress(Exception):
        await core.handle(ev)
    assert harness.platform.of("hide") and harness.platform.private_to("bob") == []
    [case] = await core.store.cases.cases_for("c1", "bob")
    assert case.action == "hide" and case.excerpt == "kys loser"
    crash = False
    core = await harness.restart(downtime=120)
    await core.drain()
    [returned] = harness.platform.private_to("bob")
    assert "kys loser" in returned.text
    assert [c for c in harness.platform.sent_to("id-support") if "hidden" in c.text]
    # finished once: running the jobs again sends nothing more
    await core.advance(3600)
    assert len(harness.platform.private_to("bob")) == 1


async def test_an_interrupted_hide_is_finished_as_soon_as_haven_is_back(
        harness: Harness) -> None:
    """Found by the Synapse chaos test: the post is redacted, then the process dies before
    the text goes back; the post redelivered after the restart has no words left, so only
    the follow-up job can finish. It is due at once after a restart, not a minute after
    the original handling."""
    core = harness.core

    async def dies(*args, **kwargs):
        raise asyncio.CancelledError("killed")  # stands in for the process dying

    core.features["moderation"]._return_text = dies
    ev = post("kys loser", harness.clock.now(), author=member("bob"), where="support")
    with contextlib.suppress(Exception):
        await core.handle(ev)
    assert harness.platform.of("hide") and harness.platform.private_to("bob") == []
    core = await harness.restart(downtime=5)  # back well within HIDE_GRACE
    [returned] = harness.platform.private_to("bob")
    assert "kys loser" in returned.text
    assert not [j for j in await core.store.jobs.pending_jobs() if j.kind == "hide_followup"]


async def test_an_interrupted_hide_also_finishes_the_signposting(harness: Harness) -> None:
    """Found by the Synapse chaos test: a method post is hidden, then the process dies
    before the member is signposted; the redelivered post has no words left, so the
    follow-up job sends the signposting (once)."""
    core = harness.core

    async def dies(*args, **kwargs):
        raise asyncio.CancelledError("killed")  # stands in for the process dying

    core.features["moderation"]._return_text = dies
    ev = post("how many pills would it take", harness.clock.now(), author=member("dee"))
    with contextlib.suppress(Exception):
        await core.handle(ev)
    assert harness.platform.of("hide") and harness.platform.private_to("dee") == []
    core = await harness.restart(downtime=5)
    texts = [m.text for m in harness.platform.private_to("dee")]
    assert any("has been hidden" in t for t in texts)
    assert len([t for t in texts if "Samaritans" in t]) == 1, texts
    await core.advance(3600)
    assert len(harness.platform.private_to("dee")) == len(texts)


async def test_a_post_handled_again_after_a_crash_is_not_signposted_twice(
        harness: Harness) -> None:
    """The outbox: a crash between acting and marking the post handled sends nothing twice."""
    core = harness.core
    real_mark = core.store.ledger.note_message_seen
    fails = 1

    async def crash_once(*args, **kwargs):
        nonlocal fails
        if fails:
            fails -= 1
            raise RuntimeError("crash before marking handled")
        return await real_mark(*args, **kwargs)

    core.store.ledger.note_message_seen = crash_once
    ev = post("i want to kill myself", harness.clock.now(), author=member("cas"), msg_id="o1")
    await core.handle(ev)
    await core.handle(ev)  # delivered again
    assert len(harness.platform.private_to("cas")) == 1
    assert len([c for c in harness.platform.sent_to("mod-alerts") if "New alert" in c.text]) == 1
    assert await core.store.ledger.outbox_state("c1", "o1:signpost:crisis") == "sent"


async def test_a_hide_that_is_refused_leaves_no_case(harness: Harness) -> None:
    from bot.core.errors import MissingPermission

    harness.platform.fail("hide", MissingPermission("Manage Messages", "#general"))
    await harness.core.handle(post("kys loser", harness.clock.now(), author=member("bob")))
    assert await harness.core.store.cases.cases_for("c1", "bob") == [] or all(
        c.action != "hide" for c in await harness.core.store.cases.cases_for("c1", "bob"))
    assert not [j for j in await harness.core.store.jobs.pending_jobs() if j.kind == "hide_followup"]


async def test_automatic_warnings_are_not_repeated_when_a_post_is_handled_again(
        harness: Harness) -> None:
    core = harness.core
    harness.platform.fail("hide", RuntimeError("crash stand-in"))  # acting stops part-way
    ev = post("kys loser", harness.clock.now(), author=member("bob"), msg_id="w1")
    real_mark = core.store.ledger.note_message_seen
    fails = 1

    async def crash_once(*args, **kwargs):
        nonlocal fails
        if fails:
            fails -= 1
            raise RuntimeError("crash before marking handled")
        return await real_mark(*args, **kwargs)

    core.store.ledger.note_message_seen = crash_once
    await core.handle(ev)
    await core.handle(ev)  # delivered again
    warns = [c for c in await core.store.cases.cases_for("c1", "bob") if c.action == "warn"]
    assert len(warns) == 1
    assert len([c for c in harness.platform.private_to("bob") if "warning" in c.text]) == 1


async def test_the_follow_up_job_waits_while_the_post_is_still_being_handled(
        harness: Harness) -> None:
    """A slow platform: the safety-net job runs mid-way and must not send the text twice."""
    core = harness.core
    real_private = harness.platform.send_private

    async def slow_private(*args, **kwargs):
        job = await core.store.jobs.pending_job("hide_followup", "1")
        if job is not None:  # the job falls due while the text is being sent
            await core.scheduler.execute(job, core.features["moderation"]._hide_followup_job)
        return await real_private(*args, **kwargs)

    harness.platform.send_private = slow_private
    await core.handle(post("kys loser", harness.clock.now(), author=member("bob")))
    await core.advance(3600)
    assert len([c for c in harness.platform.private_to("bob") if "kys loser" in c.text]) == 1


async def test_case_number_and_case_log_come_from_templates(harness_factory) -> None:
    h = harness_factory("templates:\n"
                        "  member_case_note: \"{text}\\n(Fall {case})\"\n"
                        "  case_hidden_log_link: 'Fall {case}: {member}, {rule}'\n")
    core = await h.start()
    try:
        await core.handle(post("nobody likes you, kys", h.clock.now(),
                               author=member("riley", "Riley")))
        dms = [c.text for c in h.platform.private_to("riley")]
        assert any(t.endswith("\n(Fall 2)") for t in dms)
        assert "Fall 1: Riley, t-hostility" in [c.text for c in h.platform.sent_to("mod-alerts")]
    finally:
        await h.stop()


async def test_matches_that_do_not_alert_are_flagged_for_the_review_digest(
        harness: Harness) -> None:
    from bot.core.events import Flagged
    from tests.fakes import record_published

    core = harness.core
    flagged = record_published(core, Flagged)
    await core.handle(post("get free nitro here", harness.clock.now(), author=member("s")))
    await core.handle(post("text me on 555-1234", harness.clock.now(), author=member("sam")))
    await core.drain()
    kinds = {(f.kind, f.member_id) for f in flagged}
    assert ("shadow", "s") in kinds and ("pii", "sam") in kinds
    assert all("555" not in f.summary and "nitro" not in f.summary for f in flagged)


async def test_finishing_one_hide_leaves_the_follow_ups_of_other_cases_alone(
        harness: Harness) -> None:
    """Case 1's follow-up key is a prefix of case 10's: finishing case 1 must cancel only
    its own job (a prefix cancel dropped the safety net of cases 10-19)."""
    core = harness.core
    now = harness.clock.now()
    other = await core.store.jobs.add_job("c1", "hide_followup", "10", now + 3600,
                                          {"case_id": 10}, now)
    await core.handle(post("kys loser", now, author=member("bob")))
    [case] = [c for c in await core.store.cases.cases_for("c1", "bob") if c.action == "hide"]
    assert case.id == 1
    assert await core.store.jobs.pending_job("hide_followup", "1") is None  # finished
    job = await core.store.jobs.get_job(other)
    assert job is not None and job.state == "pending"

"""Unanswered-post watch: nudges, escalation, answers, restarts, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import Harness
from tests.fakes import channel, deleted, member, post

H = 3600


def nudges(h: Harness) -> list:
    return h.platform.sent_to("team")


def escalations(h: Harness) -> list:
    return [c for c in h.platform.sent_to("mod-alerts") if "Unanswered" in c.text]


async def test_unanswered_post_is_nudged_then_escalated(harness: Harness) -> None:
    core = harness.core
    ev = post("Does anyone have tips for sleep?", harness.clock.now(), author=member("alex"),
              where="support")
    await core.handle(ev)
    await core.advance(2 * H - 60)
    assert nudges(harness) == []
    await core.advance(120)
    [nudge] = nudges(harness)
    assert "<@&Peer Supporters>" in nudge.text
    assert ev.link in nudge.text
    assert "tips for sleep" in nudge.text  # excerpt
    assert nudge.msg.mention_roles == ("Peer Supporters",)
    await core.advance(10 * H)
    [esc] = escalations(harness)
    assert "<@&Moderators>" in esc.text and ev.link in esc.text
    await core.advance(48 * H)
    assert len(nudges(harness)) == 1 and len(escalations(harness)) == 1


async def test_reply_by_someone_else_stops_the_timers(harness: Harness) -> None:
    core = harness.core
    ev = post("struggling today", harness.clock.now(), author=member("alex"), where="support")
    await core.handle(ev)
    await core.advance(30 * 60)
    # the author's own follow-up does not count
    await core.handle(post("still here", harness.clock.now(), author=member("alex"),
                           where="support", reply_to=ev.message.message_id))
    # a bot's reply does not count
    await core.handle(post("bot reply", harness.clock.now(), author=member("bot", bot=True),
                           where="support", reply_to=ev.message.message_id))
    await core.advance(2 * H)
    assert len(nudges(harness)) == 1
    await core.handle(post("I hear you", harness.clock.now(), author=member("priya"),
                           where="support", reply_to=ev.message.message_id))
    await core.advance(24 * H)
    assert escalations(harness) == []
    [tracked] = [p for p in await core.store.posts.posts_since("c1", 0)]
    assert tracked.state == "answered" and tracked.answered_by == "priya"
    assert tracked.excerpt is None  # text is dropped once nobody needs it


async def test_thread_message_answers_forum_post(harness: Harness) -> None:
    core = harness.core
    forum_thread = channel("my-question", "th1", kind="thread", parent_id="id-support",
                           parent_name="support")
    root = post("first forum post", harness.clock.now(), author=member("alex"),
                chan=forum_thread, msg_id="th1", thread_root="th1")
    await core.handle(root)
    assert len(await core.store.posts.open_posts("c1")) == 1
    await core.handle(post("welcome! here's what helped me", harness.clock.now(),
                           author=member("jo"), chan=forum_thread, thread_root="th1"))
    assert await core.store.posts.open_posts("c1") == []


async def test_per_place_timers(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("venting", harness.clock.now(), author=member("alex"), where="vent"))
    await core.advance(H + 1)
    assert len(nudges(harness)) == 1
    await core.advance(5 * H)
    assert len(escalations(harness)) == 1


async def test_non_support_channel_is_not_tracked(harness: Harness) -> None:
    await harness.core.handle(post("hello", harness.clock.now(), where="general"))
    assert await harness.core.store.posts.open_posts("c1") == []


async def test_next_message_counts_when_configured(harness_factory) -> None:
    h = harness_factory("unanswered: {count_next_message: true, places: [support]}")
    core = await h.start()
    try:
        await core.handle(post("anyone?", h.clock.now(), author=member("alex"), where="support"))
        await core.handle(post("hey alex!", h.clock.now() + 1, author=member("jo"),
                               where="support"))
        open_posts = await core.store.posts.open_posts("c1")
        assert [p.author_id for p in open_posts] == ["jo"]
    finally:
        await h.stop()


async def test_deleted_post_stops_being_tracked(harness: Harness) -> None:
    core = harness.core
    ev = post("never mind", harness.clock.now(), author=member("alex"), where="support")
    await core.handle(ev)
    await core.handle(deleted(ev, harness.clock.now()))
    await core.advance(24 * H)
    assert nudges(harness) == [] and escalations(harness) == []


async def test_timers_survive_restart_and_fire_once(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("anyone around?", harness.clock.now(), author=member("alex"),
                           where="support"))
    answered = post("also me", harness.clock.now(), author=member("kim"), where="support")
    await core.handle(answered)
    await core.advance(H)
    # down for 3 hours: the reminder falls due while Haven is down
    core = await harness.restart(downtime=3 * H)
    assert len(nudges(harness)) == 2
    core = await harness.restart(downtime=60)
    assert len(nudges(harness)) == 2  # never twice
    # catch-up: a reply made while Haven was down, delivered before overdue timers run
    await core.stop()
    harness.clock.set(harness.clock.now() + 20 * H)
    from bot import app
    from bot.storage.store import Store

    store = await Store.open(harness.config.database)
    core = harness.core = await app.create(harness.config, harness.platform, harness.clock, store)
    await core.start(run_scheduler=False)
    await core.handle(post("kim, me too", harness.clock.now() - 10 * H, author=member("alex"),
                           where="support", reply_to=answered.message.message_id))
    await core.scheduler.run_due()
    await core.drain()
    texts = [c.text for c in escalations(harness)]
    assert len(texts) == 1  # only alex's post, kim's was answered meanwhile


async def test_crisis_post_is_left_to_the_alert_and_never_quoted_publicly(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to end my life", harness.clock.now(), author=member("cas"),
                           where="support"))
    await core.advance(24 * H)
    assert nudges(harness) == [] and escalations(harness) == []
    public = [c for c in harness.platform.calls
              if c.verb in ("send", "reply") and c.target != "mod-alerts"]
    assert not any("end my life" in c.text for c in public)


async def test_a_crisis_post_is_tracked_as_such_in_one_statement(harness: Harness) -> None:
    core = harness.core
    ev = post("i want to end my life", harness.clock.now(), author=member("cas"), where="support")
    statements: list[str] = []
    db = core.store.database
    await db.connection.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    await core.handle(ev)
    await db.connection.set_trace_callback(None)  # type: ignore[attr-defined]
    tracking = [i for i, s in enumerate(statements) if "tracked_posts" in s]
    assert len(tracking) == 1  # the insert, already in state crisis: no UPDATE after it
    assert statements[tracking[0] - 1] != "BEGIN IMMEDIATE"  # no transaction around it
    row = await db.one("SELECT state, excerpt FROM tracked_posts WHERE message_id = ?",
                       (ev.message.message_id,))
    assert row is not None and row["state"] == "crisis" and row["excerpt"] is None
    await core.handle(ev)  # delivered again: still one row, still crisis
    assert len(await db.all("SELECT id FROM tracked_posts")) == 1


async def test_quiet_hours_move_nudges(harness_factory) -> None:
    h = harness_factory("unanswered: {quiet_hours: {start: '23:00', end: '07:00'}, "
                        "places: [support]}")
    core = await h.start()
    try:
        h.clock.set(datetime(2026, 1, 5, 22, 0, tzinfo=UTC).timestamp())
        await core.handle(post("late night post", h.clock.now(), author=member("alex"),
                               where="support"))
        await core.advance(4 * H)  # 02:00, inside quiet hours
        assert h.platform.sent_to("team") == []
        await core.advance(5 * H + 60)  # 07:01
        [nudge] = h.platform.sent_to("team")
        assert nudge
    finally:
        await h.stop()


async def test_failed_nudge_is_retried(harness: Harness) -> None:
    from tests.fakes import FlakyError

    core = harness.core
    await core.handle(post("hello?", harness.clock.now(), author=member("alex"), where="support"))
    harness.platform.fail("send", FlakyError("gateway hiccup"), times=2)
    await core.advance(2 * H)
    assert nudges(harness) == []
    await core.advance(10 * 60)
    assert len(nudges(harness)) == 1


async def test_unanswered_command_lists_longest_waiting_first(harness: Harness) -> None:
    from tests.fakes import command

    core = harness.core
    await core.handle(post("older", harness.clock.now(), author=member("a"), where="support"))
    await core.advance(600)
    await core.handle(post("newer", harness.clock.now(), author=member("b"), where="vent"))
    result = await core.handle(command("unanswered", harness.clock.now()))
    lines = result.text.splitlines()
    assert "2 posts" in lines[0]
    assert "#support" in lines[1] and "#vent" in lines[2]


async def test_forum_posts_are_tagged_waiting_then_answered(harness_factory) -> None:
    h = harness_factory("unanswered: {places: [support], forum_tags: {waiting: Needs a reply, "
                        "answered: Answered}}")
    core = await h.start()
    try:
        forum_post = channel("sleep-tips", "th9", kind="forum", parent_id="id-support",
                             parent_name="support")
        await core.handle(post("any sleep tips?", h.clock.now(), author=member("alex"),
                               chan=forum_post, msg_id="th9", thread_root="th9"))
        [tag] = h.platform.of("tag_post")
        assert tag.extra == {"add": ("Needs a reply",), "remove": ()}
        await core.handle(post("try a wind-down routine", h.clock.now(), author=member("jo"),
                               chan=forum_post, thread_root="th9"))
        last = h.platform.of("tag_post")[-1]
        assert last.extra == {"add": ("Answered",), "remove": ("Needs a reply",)}
        assert last.target == "th9"
    finally:
        await h.stop()


async def test_plain_channels_are_not_tagged(harness_factory) -> None:
    h = harness_factory("unanswered: {places: [support], forum_tags: {waiting: W}}")
    core = await h.start()
    try:
        await core.handle(post("hi", h.clock.now(), author=member("a"), where="support"))
        assert h.platform.of("tag_post") == []
    finally:
        await h.stop()


async def test_overdue_nudge_waits_for_quiet_hours_to_end(harness_factory) -> None:
    h = harness_factory("unanswered: {quiet_hours: {start: '23:00', end: '07:00'}, "
                        "places: [support]}")
    core = await h.start()
    try:
        h.clock.set(datetime(2026, 1, 5, 20, 0, tzinfo=UTC).timestamp())
        await core.handle(post("evening post", h.clock.now(), author=member("alex"),
                               where="support"))
        core = await h.restart(downtime=5 * H)  # back at 01:00: the 22:00 nudge is overdue
        assert h.platform.sent_to("team") == []
        await core.advance(6 * H + 60)  # 07:01
        assert len(h.platform.sent_to("team")) == 1
    finally:
        await h.stop()


async def test_nudges_never_quote_spoilered_or_content_warned_posts(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("||my secret struggle||", harness.clock.now(), author=member("a"),
                           where="support", spoilered=True))
    await core.handle(post("CW: ed. relapsing again", harness.clock.now(), author=member("b"),
                           where="support"))
    await core.advance(2 * H + 1)
    texts = [c.text for c in nudges(harness)]
    assert len(texts) == 2
    assert not any("secret" in t or "relapsing" in t for t in texts)


async def test_escalation_is_stored_before_the_nudge_is_sent(harness: Harness) -> None:
    from bot.core.errors import NotFound

    core = harness.core
    await core.handle(post("hello?", harness.clock.now(), author=member("alex"), where="support"))
    harness.platform.fail("send", NotFound("nudge channel gone"), times=100)
    await core.advance(2 * H + 1)
    kinds = {j.kind for j in await core.store.jobs.pending_jobs()}
    assert "post_escalate" in kinds


async def test_support_post_edited_into_crisis_is_left_to_the_alert(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("rough day", harness.clock.now(), author=member("alex"),
                           where="support", msg_id="e7"))
    await core.handle(post("rough day. i want to end my life", harness.clock.now(),
                           author=member("alex"), where="support", msg_id="e7", edited=True))
    await core.advance(24 * H)
    assert nudges(harness) == [] and escalations(harness) == []
    [tracked] = await core.store.posts.posts_since("c1", 0)
    assert tracked.state == "crisis" and tracked.excerpt is None


PEERS = ("Peer Supporters",)


async def test_a_peer_supporter_is_not_nudged_about_their_own_post(harness: Harness) -> None:
    # field report: peer supporters were nudged about their own posts
    core = harness.core
    priya = member("priya", "Priya", roles=PEERS)
    jo = member("jo", "Jo", roles=PEERS)
    kit = member("kit", "Kit", roles=PEERS)
    harness.platform.add_member(priya, jo, kit, member("sam", "Sam"))
    await core.handle(post("having a rough day myself", harness.clock.now(), author=priya,
                           where="support"))
    await core.advance(2 * H + 60)
    [nudge] = nudges(harness)
    assert nudge.msg.mention_users == ("jo", "kit") and nudge.msg.mention_roles == ()
    assert "<@jo>" in nudge.text and "<@kit>" in nudge.text
    assert "priya" not in nudge.text and "<@&Peer Supporters>" not in nudge.text


async def test_posts_by_others_still_ping_the_whole_role(harness: Harness) -> None:
    core = harness.core
    harness.platform.add_member(member("priya", "Priya", roles=PEERS))
    await core.handle(post("anyone up?", harness.clock.now(), author=member("sam"),
                           where="support"))
    await core.advance(2 * H + 60)
    [nudge] = nudges(harness)
    assert nudge.msg.mention_roles == PEERS and nudge.msg.mention_users == ()


async def test_the_only_peer_supporter_gets_no_nudge_moderators_still_hear(
        harness: Harness) -> None:
    core = harness.core
    priya = member("priya", "Priya", roles=PEERS)
    harness.platform.add_member(priya)
    await core.handle(post("rough day", harness.clock.now(), author=priya, where="support"))
    await core.advance(2 * H + 60)
    assert nudges(harness) == []
    await core.advance(10 * H)
    [esc] = escalations(harness)
    assert "peer supporters were nudged" not in esc.text


async def test_without_a_member_list_the_role_is_still_pinged(harness: Harness) -> None:
    core = harness.core
    harness.platform.lists_roles = False
    await core.handle(post("rough day", harness.clock.now(),
                           author=member("priya", "Priya", roles=PEERS), where="support"))
    await core.advance(2 * H + 60)
    [nudge] = nudges(harness)
    assert nudge.msg.mention_roles == PEERS  # the others must still hear


async def test_peer_supporters_listed_by_id_leave_the_author_out(harness_factory) -> None:
    # Matrix names peer supporters by user id
    h = harness_factory("roles: {moderators: [Moderators], "
                        "peer_supporters: ['@priya:x.org', '@jo:x.org']}")
    core = await h.start()
    try:
        await core.handle(post("rough day", h.clock.now(), author=member("@priya:x.org", "Priya"),
                               where="support"))
        await core.advance(2 * H + 60)
        [nudge] = h.platform.sent_to("team")
        assert "@priya:x.org" not in nudge.text and "@jo:x.org" in nudge.text
    finally:
        await h.stop()


async def test_sensitive_posts_left_in_support_are_not_quoted(harness: Harness) -> None:
    # support places are CW-exempt: the post stays, but its words need a warning
    core = harness.core
    await core.handle(post("my self harm scars itch, how do you cope", harness.clock.now(),
                           author=member("jo"), where="support"))
    await core.advance(2 * H + 60)
    [nudge] = nudges(harness)
    assert "scars" not in nudge.text and "https://chat.example/" in nudge.text


async def test_nudge_and_escalation_come_from_templates(harness_factory) -> None:
    h = harness_factory("templates:\n"
                        "  unanswered_nudge: '{mentions} Bitte schaut in #{channel} ({waited}).'\n"
                        "  unanswered_escalation_nudged: '{mentions} Unanswered: #{channel}.'\n")
    core = await h.start()
    try:
        ev = post("Does anyone have tips for sleep?", h.clock.now(), author=member("alex"),
                  where="support")
        await core.handle(ev)
        await core.advance(12 * H)
        [nudge] = nudges(h)
        assert nudge.text.startswith("<@&Peer Supporters> Bitte schaut in #support (2h).\n")
        [esc] = escalations(h)
        assert esc.text.startswith("<@&Moderators> Unanswered: #support.\n")
    finally:
        await h.stop()


async def test_a_crash_between_tracking_and_the_timer_leaves_neither(harness: Harness) -> None:
    # Stored together: if scheduling the reminder fails (a crash, a database error), the
    # post is not tracked either, so the repeated delivery tracks it and sets its timer
    # (before, the repeat found it tracked and skipped it: no reminder, no escalation).
    core = harness.core
    ev = post("Is anyone around tonight?", harness.clock.now(), author=member("alex"),
              where="support")
    scheduler = core.scheduler
    real_schedule = scheduler.schedule

    async def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("killed here")

    scheduler.schedule = crash  # type: ignore[method-assign]
    await core.handle(ev)
    assert await core.store.posts.posts_since("c1", 0) == []
    scheduler.schedule = real_schedule  # type: ignore[method-assign]
    await core.store.ledger.prune_seen_before(harness.clock.now() + 1)  # as if killed there
    await core.handle(ev)  # the platform delivers it again
    [tracked] = await core.store.posts.posts_since("c1", 0)
    assert tracked.message_id == ev.message.message_id
    await core.advance(12 * H + 60)
    assert len(nudges(harness)) == 1 and len(escalations(harness)) == 1

"""Turn matched rules into actions: plan (pure), then act.

Crisis language is never punished: when a crisis or concern rule matches, every
hide, warn, timeout or redirect from other rules is dropped, except hiding method
details (which protects readers and is explained to the author). Every action
cites its rule, shows the member the rule's explanation, and is recorded as a case.

Store first, then act: the case (with the author's full text) and the alert are
written before the post is hidden, so a crash or an error part-way loses
nothing; the alert goes out even when hiding or a notice fails, and a hidden
post's remaining steps (text back to the author, notice) are finished by a
durable job if Haven stops in between.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from bot.core.clock import fmt_duration
from bot.core.contracts import AlertRaiser
from bot.core.errors import MissingPermission, NotFound, PlatformError
from bot.core.events import (
    AutomodActed,
    Channel,
    Flagged,
    Member,
    MessagePosted,
    MessageRef,
    Outgoing,
)
from bot.core.feature import EventHandler, Feature, FeatureContext, JobKind, MessageOutcome, Stage
from bot.core.messenger import quote
from bot.core.ports import lift_timeout_of
from bot.rules.model import Match
from bot.rules.planner import Outcome, Plan, alert_of, plan
from bot.storage.repositories.cases import CasesRepository
from bot.storage.rows import Case, Job

log = logging.getLogger(__name__)

HIDE_GRACE = 60.0
"""Seconds after which a hidden post's follow-up job finishes work a crash interrupted."""
ModerationContext = FeatureContext[None, CasesRepository]


class Moderation(Feature):
    """Carries out a :class:`Plan` for a message; keeps the case log."""

    def __init__(self, ctx: ModerationContext, alerts: AlertRaiser) -> None:
        self.ctx = ctx
        self.alerts = alerts
        self._active: set[int] = set()
        """Hide cases being handled right now (their follow-up job must wait)."""

    def stages(self) -> list[Stage]:
        """Acting on the rules comes first, in the urgent lane; if it fails the post is
        not marked handled (a repeated delivery tries again)."""
        return [Stage("moderation.act", 10, "urgent", self._act_stage, critical=True)]

    def handlers(self) -> dict[type, EventHandler]:
        """The platform's own automod actions become cases."""
        return {AutomodActed: self.on_automod}

    def jobs(self) -> list[JobKind]:
        """Finishing an interrupted hide, and lifting timeouts the platform cannot end."""
        return [JobKind("hide_followup", self._hide_followup_job),
                JobKind("lift_timeout", self._lift_timeout_job)]

    async def start(self) -> None:
        """Interrupted hides are finished as soon as Haven has caught up."""
        await self.resume_interrupted()

    def _flag(self, ev: MessagePosted, kind: str, m: Match, summary: str) -> None:
        """Put a match that did not alert in the next review digest (no text, a link)."""
        self.ctx.publish(Flagged(ev.community_id, ev.at, kind=kind,
                                 key=f"{ev.message.message_id}:{kind}:{m.rule.id}",
                                 member_id=ev.author.id, member_name=ev.author.name,
                                 channel_name=ev.channel.name, link=ev.link, summary=summary))

    async def _act_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        result = await self.act(ev, outcome.matches)
        outcome.hidden = result.hidden

    async def on_automod(self, ev: AutomodActed) -> int:
        """Record an action of the platform's own automod (Discord AutoMod) as a case.

        The matched keyword is kept as the case's reason (never the message text),
        so native blocks appear in ``history`` next to Haven's own cases.
        """
        reason = f"platform automod {ev.action}" + (
            f" on keyword {ev.keyword!r}" if ev.keyword else "")
        return await self.ctx.repo.add_case(ev.community_id, "automod", f"automod:{ev.rule}",
                                            reason, "automod", "Platform AutoMod", ev.user_id,
                                            ev.user_id, ev.at, ev.channel_id)

    async def hold_post(self, ev: MessagePosted, *, rule: str, explain: str,
                        private_text: str) -> int | None:
        """Keep a post for review (:class:`bot.core.contracts.CaseKeeper`): a ``hold`` case
        with its text first, then hide it and send the author ``private_text`` (the
        caller's own template, giving them their text back)."""
        ctx = self.ctx
        case = await ctx.repo.record_case(
            ev.community_id, "hold", rule, explain, "haven", "Haven", ev.author.id,
            ev.author.name, ev.at, ev.channel.id, ev.message.message_id, ev.text)
        hidden, _ = await ctx.messenger.hide_and_return(
            ev, rule=rule, explain=explain, private_text=private_text, notice=None,
            notice_no_dm=None)
        if not hidden:
            await ctx.repo.delete_case(case.id)
            return None
        return case.number

    async def resume_interrupted(self) -> int:
        """At start-up: every hide follow-up still pending belongs to a run that was
        interrupted, so it is due now, not :data:`HIDE_GRACE` after the original handling.

        Haven redacts a post before it returns the text, so a post redelivered after the
        crash arrives without its words and cannot finish the work itself; without this the
        author waited up to a minute after the restart for their text. The jobs still run
        only once the timers start (after catch-up), so a redelivered post that can finish
        the work does so first and the job finds nothing left to do.
        """
        moved = await self.ctx.scheduler.bring_forward("hide_followup", self.ctx.clock.now())
        if moved:
            log.info("%d interrupted hide(s) will be finished as soon as Haven has caught up",
                     moved)
        return moved

    async def act(self, ev: MessagePosted, matches: list[Match]) -> Outcome:
        """Act on a message's matches; returns what happened.

        Order: record the hide case (with the text) and the alert, then hide and send
        the author their text, then send the alert (whatever happened before), then
        notices, signposting, replies, warnings and timeouts.
        """
        p = plan(matches)
        for m in p.shadow:
            log.info("shadow rule %s matched message %s (%s); nothing done", m.rule.id,
                     ev.message.message_id, m.reason)
            self._flag(ev, "shadow", m, f"shadow rule {m.rule.id} ({m.rule.category})")
        # Cooldowns: a rule that acted on this member recently stays quiet (alerts excepted).
        for m in [*p.warn, *(x[2] for x in p.replies)]:
            if await self._cooling(ev, m):
                p.warn = [w for w in p.warn if w is not m]
                p.replies = [r for r in p.replies if r[2] is not m]
        case: Case | None = None
        fresh_case = False
        alert = alert_of(p)
        # 1. store first: the case with the author's whole text (then the alert, in _act)
        if p.hide is not None:
            case, fresh_case = await self._record_hide(
                ev, p.hide, log_case=alert is None,
                signposts=[[topic, privately] for topic, privately, _ in p.signposts])
            self._active.add(case.id)
        case_id = case.id if case is not None else None
        try:
            return await self._act(ev, p, alert, case, fresh_case)
        finally:
            self._active.discard(case_id or 0)

    async def _act(self, ev: MessagePosted, p: Plan, alert: tuple[Match, str, str] | None,
                   case: Case | None, fresh_case: bool) -> Outcome:
        ctx = self.ctx
        case_id, case_number = (case.id, case.number) if case is not None else (None, None)
        hidden = returned = False
        alert_id = job_id = None
        if alert is not None:
            match, kind, urgency = alert
            extra: dict[str, bool | int | None] = (
                {"hiding": True, "case_number": case_number} if case is not None else {})
            alert_id, job_id = await self.alerts.record(ev, match, kind, urgency, **extra)
        # 2. hide and send the author their text; 3. the alert goes out whatever happened
        try:
            if p.hide is not None and case_id is not None:
                hidden, returned = await self._hide(ev, p.hide, case_id, fresh_case)
        except Exception:
            ctx.errors.failed(f"hiding message {ev.message.message_id}")
        finally:
            if alert is not None:
                await self.alerts.send_recorded(job_id, hidden=hidden, returned=returned,
                                                case_number=case_number if hidden else None,
                                                hiding=False)
        # 4. the notices of a hidden post (its follow-up job is then no longer needed)
        if hidden and case_id is not None:
            await self._hide_notices(case_id, await self._hide_info(case_id))
        for topic, privately, m in p.signposts:
            await self.alerts.signpost(ev, topic, privately=privately, rule=m)
        # Each automatic action once per post (the outbox), even if the post is handled
        # again after a crash.
        once = ctx.messenger.once
        mid = ev.message.message_id
        for template, privately, m in p.replies:
            await once(ev.community_id, f"{mid}:reply:{m.rule.id}:{template}",
                       _done(partial(self._reply, ev, template, privately, m)))
            if m.rule.category == "pii":
                self._flag(ev, "pii", m, f"personal details nudge ({m.rule.id})")
        for m in p.warn:
            await once(ev.community_id, f"{mid}:warn:{m.rule.id}", _done(partial(
                self.warn, ev.community_id, ev.author.id, ev.author.name, m.rule.id,
                m.rule.explain or m.rule.description, actor=None, channel_id=ev.channel.id,
                message_id=mid)))
        if p.timeout is not None:
            m, seconds = p.timeout
            await once(ev.community_id, f"{mid}:timeout:{m.rule.id}", _done(partial(
                self.timeout, ev.community_id, ev.author.id, ev.author.name, seconds, m.rule.id,
                m.rule.explain or m.rule.description, actor=None)))
        for m in p.logged:
            await once(ev.community_id, f"{mid}:log:{m.rule.id}",
                       _done(partial(self._case, ev, "log", m, excerpt=None)))
        for m in [*p.warn, *(r[2] for r in p.replies)]:
            if m.rule.cooldown:
                await ctx.repo.start_cooldown(ev.community_id, m.rule.id, ev.author.id,
                                                ev.at + m.rule.cooldown)
        return Outcome(hidden=hidden, crisis=p.crisis is not None, alert_id=alert_id)

    async def _cooling(self, ev: MessagePosted, m: Match) -> bool:
        return bool(m.rule.cooldown) and await self.ctx.repo.cooldown_active(
            ev.community_id, m.rule.id, ev.author.id, ev.at)

    async def _case(self, ev: MessagePosted, action: str, m: Match, excerpt: str | None) -> Case:
        return await self.ctx.repo.record_case(
            ev.community_id, action, m.rule.id, m.rule.explain or m.rule.description,
            "haven", "Haven", ev.author.id, ev.author.name, ev.at, ev.channel.id,
            ev.message.message_id, excerpt)

    # -- hiding: store first, then act, finish after a crash ------------------------

    async def _record_hide(self, ev: MessagePosted, m: Match, log_case: bool,
                           signposts: list[list[object]] | None = None) -> tuple[Case, bool]:
        """Record the hide case with the author's whole text, and a follow-up job that
        finishes the work if Haven stops part-way; returns (the case, newly recorded).

        A post handled again (delivered again after a crash) reuses its case.
        """
        ctx = self.ctx
        async with ctx.transaction():  # the case and its follow-up job, or nothing
            earlier = await ctx.repo.find_case(ev.community_id, ev.message.message_id, "hide")
            case = earlier if earlier is not None else \
                await self._case(ev, "hide", m, excerpt=ev.text)
            await self._schedule_followup(ev, m, case, log_case, signposts)
        return case, earlier is None

    async def _schedule_followup(self, ev: MessagePosted, m: Match, case: Case,
                                 log_case: bool, signposts: list[list[object]] | None) -> None:
        """The job that finishes an interrupted hide.

        (Re)scheduled also for an earlier case: a crash may have come before its job was
        stored; the job's deliveries go through the outbox, so nothing is sent twice.
        """
        ctx = self.ctx
        ref = ev.message
        await ctx.scheduler.schedule(ev.community_id, "hide_followup", str(case.id),
                                      ctx.clock.now() + HIDE_GRACE, {
                                          "case_id": case.id, "case_number": case.number,
                                          "log_case": log_case,
                                          "author_id": ev.author.id, "author_name": ev.author.name,
                                          "channel_id": ev.channel.id,
                                          "channel_name": ev.channel.name, "link": ev.link,
                                          "rule": m.rule.id,
                                          "explain": m.rule.explain or m.rule.description,
                                          "at": ev.at, "signposts": signposts or [],
                                          "ref": [ref.community_id, ref.channel_id,
                                                  ref.message_id, ref.thread_id]})

    async def _hide_info(self, case_id: int) -> dict[str, object] | None:
        job = await self.ctx.scheduler.pending_job("hide_followup", str(case_id))
        return job.payload if job is not None else None

    async def _hide(self, ev: MessagePosted, m: Match, case_id: int,
                    fresh_case: bool) -> tuple[bool, bool]:
        """Hide a post and send the author their text; returns (hidden, returned)."""
        ctx = self.ctx
        if not await ctx.messenger.hide(ev, f"Haven: {m.rule.id}"):
            if fresh_case:  # nothing was hidden: no case, nothing to finish
                await ctx.repo.delete_case(case_id)
                await ctx.scheduler.cancel_key("hide_followup", str(case_id))
            return False, False
        info = await self._hide_info(case_id)
        if info is None:  # finished meanwhile
            return True, True
        return True, await self._return_text(case_id, info)

    async def _return_text(self, case_id: int, info: dict[str, object]) -> bool:
        """Send the author the text of their hidden post (once); shorten the case's copy."""
        ctx = self.ctx
        community = str(info["ref"][0])  # type: ignore[index]
        case = await ctx.repo.get_case(community, case_id)
        if case is None:
            return False
        text = case.excerpt or ""
        values = dict(member=info["author_name"], channel=f"#{info['channel_name']}",
                      rule=info["rule"], explain=info["explain"], text=quote(text))
        author = str(info["author_id"])

        async def send() -> str:
            return await ctx.messenger.private(
                community, author, Outgoing(ctx.templates.render("hidden_post", **values)))

        returned = await ctx.messenger.once(community, f"case:{case_id}:text", send) == "private"
        if returned:
            # The full text is kept (retention-limited) only while the author lacks it.
            await ctx.repo.set_case_excerpt(case_id, text[:200])
        return returned

    async def _hide_notices(self, case_id: int, info: dict[str, object] | None) -> None:
        """The channel notice and (without an alert) the moderators' case note; then the
        follow-up job is done."""
        ctx = self.ctx
        if info is None:
            return
        community = str(info["ref"][0])  # type: ignore[index]
        author = str(info["author_id"])
        state = await ctx.messenger.delivered(community, f"case:{case_id}:text")
        returned = state == "sent"
        mention = ctx.platform.user_mention(author)
        values = dict(member=mention, channel=f"#{info['channel_name']}", rule=info["rule"],
                      explain=info["explain"])
        notice = ctx.templates.render("hidden_notice" if returned else "hidden_notice_no_dm",
                                       **values)
        if notice and ctx.core.moderation.explain_in_channel:
            async def send_notice() -> str:
                sent = await ctx.messenger.send(community, str(info["channel_id"]),
                                                 Outgoing(notice, mention_users=(author,)))
                return "sent" if sent is not None else "failed"

            await ctx.messenger.once(community, f"case:{case_id}:notice", send_notice)
        if info.get("log_case"):
            number = info.get("case_number")
            if number is None:  # a follow-up stored before cases had numbers
                stored = await ctx.repo.get_case(community, case_id)
                number = stored.number if stored is not None else case_id

            async def send_log() -> str:
                template = "case_hidden_log" + ("_link" if info["link"] else "") + (
                    "" if returned else "_no_dm")
                sent = await ctx.messenger.send(community, ctx.core.channels.moderators, Outgoing(
                    ctx.templates.render(template, case=number, member=info["author_name"],
                                         channel=info["channel_name"], rule=info["rule"],
                                         link=info["link"])))
                return "sent" if sent is not None else "failed"

            await ctx.messenger.once(community, f"case:{case_id}:log", send_log)
        await ctx.scheduler.cancel_key("hide_followup", str(case_id))

    async def _hide_followup_job(self, job: Job) -> None:
        """After a restart: finish hiding a post whose handling was interrupted."""
        ctx = self.ctx
        info = job.payload
        if int(info["case_id"]) in self._active:
            raise RuntimeError("the post is still being handled; finishing later")
        community, channel_id, message_id, thread_id = info["ref"]
        if await ctx.repo.get_case(community, int(info["case_id"])) is None:
            return
        ref = MessageRef(community, channel_id, message_id, thread_id)
        try:
            await ctx.platform.hide(ref, f"Haven: {info['rule']}")
        except NotFound:
            pass  # already gone: hidden before the interruption
        except MissingPermission as exc:
            await ctx.messenger.report_missing(community, exc)
            return
        case_id = int(info["case_id"])
        log.info("finishing the hiding of case %d after an interruption", case_id)
        await self._return_text(case_id, info)
        await self._hide_notices(case_id, info)
        # The signposting too: the post redelivered after the crash has lost its words (it
        # was redacted), so it cannot send it (each topic once, through the outbox).
        if info.get("signposts"):
            ev = MessagePosted(
                community, float(info.get("at") or ctx.clock.now()),
                channel=Channel(str(channel_id), str(info.get("channel_name") or "")),
                author=Member(str(info["author_id"]), str(info.get("author_name") or "")),
                message=ref, text="", link=str(info.get("link") or ""))
            for topic, privately in info["signposts"]:
                await self.alerts.signpost(ev, str(topic), privately=privately)

    async def _reply(self, ev: MessagePosted, template: str, privately: bool, m: Match) -> None:
        ctx = self.ctx
        text = ctx.templates.render(template, member=ev.author.name, channel=f"#{ev.channel.name}",
                                     rule=m.rule.id, explain=m.rule.explain or m.rule.description,
                                     community=ctx.platform.community_name(ev.community_id))
        if privately:
            await ctx.messenger.private(ev.community_id, ev.author.id, Outgoing(text))
        else:
            await ctx.messenger.reply(ev.message, Outgoing(text, mention_users=(ev.author.id,)))

    async def warn(self, community_id: str, user_id: str, name: str, rule: str, explain: str,
                   actor: tuple[str, str] | None, channel_id: str | None = None,
                   message_id: str | None = None) -> int:
        """Warn a member (same words every time), record a case; returns the case number
        (in the community)."""
        ctx = self.ctx
        actor_id, actor_name = actor or ("haven", "Haven")
        case = await ctx.repo.record_case(community_id, "warn", rule, explain, actor_id,
                                          actor_name, user_id, name, ctx.clock.now(),
                                          channel_id, message_id)
        text = ctx.templates.render("warning", member=name, rule=rule, explain=explain,
                                     community=ctx.platform.community_name(community_id))
        await ctx.messenger.private(community_id, user_id, Outgoing(
            ctx.templates.render("member_case_note", text=text, case=case.number)))
        return case.number

    async def timeout(self, community_id: str, user_id: str, name: str, seconds: float, rule: str,
                      explain: str, actor: tuple[str, str] | None) -> int | None:
        """Time a member out, tell them why, record a case; returns the case number (in the
        community), ``None`` if the platform refused."""
        ctx = self.ctx
        try:
            await ctx.platform.timeout(community_id, user_id, seconds, f"Haven: {rule}")
        except MissingPermission as exc:
            await ctx.messenger.report_missing(community_id, exc)
            return None
        except PlatformError as exc:
            log.warning("timeout of %s failed: %s", user_id, exc)
            return None
        if lift_timeout_of(ctx.platform) is not None:
            # the platform does not end a timeout by itself: a durable job does
            await ctx.scheduler.schedule(community_id, "lift_timeout", user_id,
                                          ctx.clock.now() + seconds)
        actor_id, actor_name = actor or ("haven", "Haven")
        case = await ctx.repo.record_case(community_id, "timeout", rule,
                                          f"{explain} ({fmt_duration(seconds)})", actor_id,
                                          actor_name, user_id, name, ctx.clock.now())
        text = ctx.templates.render("timeout", member=name, rule=rule, explain=explain,
                                     duration=fmt_duration(seconds),
                                     community=ctx.platform.community_name(community_id))
        await ctx.messenger.private(community_id, user_id, Outgoing(
            ctx.templates.render("member_case_note", text=text, case=case.number)))
        return case.number


    async def _lift_timeout_job(self, job: Job) -> None:
        """A timeout ran out on a platform that does not lift it by itself."""
        lifter = lift_timeout_of(self.ctx.platform)
        if lifter is not None:
            await lifter.lift_timeout(job.community_id, job.key)


def _done(work: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[str]]:
    """Adapt one piece of work for :meth:`Messenger.once` (it counts as done when it returns)."""
    async def run() -> str:
        await work()
        return "done"

    return run




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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.core.clock import fmt_duration
from bot.core.errors import MissingPermission, NotFound
from bot.core.events import Channel, Member, MessagePosted, MessageRef, Outgoing
from bot.core.messenger import quote
from bot.core.ports import lift_timeout_of
from bot.features.alerts.feature import rule_urgency
from bot.rules.actions import ACTIONS
from bot.rules.rulebook import Match
from bot.store import Job

if TYPE_CHECKING:
    from bot.core.runtime import Haven

log = logging.getLogger(__name__)

HIDE_GRACE = 60.0
"""Seconds after which a hidden post's follow-up job finishes work a crash interrupted."""
URGENCY_ORDER = ("quiet", "normal", "now")


@dataclass
class Plan:
    """What to do about one message, decided from its matches."""

    crisis: Match | None = None
    concern: Match | None = None
    alert: Match | None = None
    hide: Match | None = None
    warn: list[Match] = field(default_factory=list)
    timeout: tuple[Match, float] | None = None
    signposts: list[tuple[str, bool | None, Match]] = field(default_factory=list)
    replies: list[tuple[str, bool, Match]] = field(default_factory=list)
    redirect_cw: Match | None = None
    logged: list[Match] = field(default_factory=list)
    shadow: list[Match] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What happened: whether the post is hidden and whether it raised a crisis alert."""

    hidden: bool = False
    crisis: bool = False
    alert_id: int | None = None


def alert_of(p: Plan) -> tuple[Match, str, str] | None:
    """The alert a plan raises: (match shown, kind, urgency), or ``None``.

    Crisis wins; then a non-support alerting rule (method, hostility...); then a
    concern, which is always a quiet note. The urgency is the rule's own.
    """
    if p.crisis is not None:
        return p.crisis, "crisis", rule_urgency(p.crisis)
    if p.alert is None:
        return None
    if p.alert.rule.category != "concern":
        return p.alert, p.alert.rule.category, rule_urgency(p.alert)
    assert p.concern is not None
    return p.concern, "concern", "quiet"


def _first(slot: str) -> Callable[[Plan, Match, Mapping[str, Any]], None]:
    """A slot the first (most severe) match fills."""
    def fill(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
        if getattr(p, slot) is None:
            setattr(p, slot, m)
    return fill


def _warn(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    if not p.warn:
        p.warn.append(m)


def _timeout(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    if p.timeout is None:
        p.timeout = (m, float(params.get("minutes", 10)) * 60)


def _signpost(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    topic = str(params.get("topic", "crisis"))
    if all(t != topic for t, _, _ in p.signposts):
        privately = params.get("privately")  # None: as config crisis.signpost says
        p.signposts.append((topic, None if privately is None else bool(privately), m))


def _reply(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    p.replies.append((str(params["template"]), bool(params.get("privately", True)), m))


def _log(p: Plan, m: Match, params: Mapping[str, Any]) -> None:
    p.logged.append(m)


_FILL: dict[str, Callable[[Plan, Match, Mapping[str, Any]], None]] = {
    "alert": _first("alert"), "hide": _first("hide"), "warn": _warn, "timeout": _timeout,
    "signposts": _signpost, "replies": _reply, "redirect_cw": _first("redirect_cw"), "logged": _log,
}
"""How the planner fills each plan slot an action of the registry names."""


def _drop(p: Plan, slot: str) -> None:
    """Empty a plan slot (a list slot becomes empty, any other ``None``)."""
    setattr(p, slot, [] if isinstance(getattr(p, slot), list) else None)


def plan(matches: list[Match]) -> Plan:
    """Decide the actions for a message's matches (pure; highest severity first).

    Which part of the plan an action fills, and whether it is punitive (dropped
    when a crisis or concern rule matched), comes from the action registry.
    """
    p = Plan()
    for m in matches:
        if m.rule.shadow:
            p.shadow.append(m)
            continue
        if m.rule.category == "crisis" and p.crisis is None:
            p.crisis = m
        if m.rule.category == "concern" and p.concern is None:
            p.concern = m
        for action in m.rule.actions:
            spec = ACTIONS.get(action.name)
            if spec is not None:
                _FILL[spec.plan_slot](p, m, action.params)
    if p.concern is not None and p.alert is None:
        p.alert = p.concern  # a concern is always at least a quiet note
    if p.crisis is not None or p.concern is not None:
        # Never punish someone in crisis or struggling; only method details are still hidden.
        for spec in ACTIONS.values():
            method_hidden = spec.plan_slot == "hide" and p.hide is not None and p.hide.rule.category == "method"
            if spec.punitive and not method_hidden:
                _drop(p, spec.plan_slot)
        p.replies = [r for r in p.replies if r[2].rule.category in ("crisis", "signpost")]
    if p.hide is not None:
        # A hidden post needs no "you may want to edit it" nudges; support still goes out.
        p.redirect_cw = None
        p.replies = [r for r in p.replies if r[2].rule.category in ("crisis", "signpost")]
        if p.hide.rule.category == "method" and all(t != "crisis" for t, _, _ in p.signposts):
            p.signposts.append(("crisis", True, p.hide))
    return p


class Moderation:
    """Carries out a :class:`Plan` for a message."""

    def __init__(self, core: Haven) -> None:
        self.core = core
        self._active: set[int] = set()
        """Hide cases being handled right now (their follow-up job must wait)."""
        core.scheduler.register("hide_followup", self._hide_followup_job)
        core.scheduler.register("lift_timeout", self._lift_timeout_job)

    async def resume_interrupted(self) -> int:
        """At start-up: every hide follow-up still pending belongs to a run that was
        interrupted, so it is due now, not :data:`HIDE_GRACE` after the original handling.

        Haven redacts a post before it returns the text, so a post redelivered after the
        crash arrives without its words and cannot finish the work itself; without this the
        author waited up to a minute after the restart for their text. The jobs still run
        only once the timers start (after catch-up), so a redelivered post that can finish
        the work does so first and the job finds nothing left to do.
        """
        moved = await self.core.store.bring_forward_jobs("hide_followup", self.core.clock.now())
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
        # Cooldowns: a rule that acted on this member recently stays quiet (alerts excepted).
        for m in [*p.warn, *(x[2] for x in p.replies)]:
            if await self._cooling(ev, m):
                p.warn = [w for w in p.warn if w is not m]
                p.replies = [r for r in p.replies if r[2] is not m]
        case_id = None
        fresh_case = False
        alert = alert_of(p)
        # 1. store first: the case with the author's whole text (then the alert, in _act)
        if p.hide is not None:
            case_id, fresh_case = await self._record_hide(
                ev, p.hide, log_case=alert is None,
                signposts=[[topic, privately] for topic, privately, _ in p.signposts])
            self._active.add(case_id)
        try:
            return await self._act(ev, p, alert, case_id, fresh_case)
        finally:
            self._active.discard(case_id or 0)

    async def _act(self, ev: MessagePosted, p: Plan, alert: tuple[Match, str, str] | None,
                   case_id: int | None, fresh_case: bool) -> Outcome:
        core = self.core
        hidden = returned = False
        alert_id = job_id = None
        if alert is not None:
            match, kind, urgency = alert
            extra: dict[str, bool | int | None] = (
                {"hiding": True, "case_id": case_id} if case_id is not None else {})
            alert_id, job_id = await core.alerts.record(ev, match, kind, urgency, **extra)
        # 2. hide and send the author their text; 3. the alert goes out whatever happened
        try:
            if p.hide is not None and case_id is not None:
                hidden, returned = await self._hide(ev, p.hide, case_id, fresh_case)
        except Exception:
            core.errors += 1
            log.exception("hiding message %s failed", ev.message.message_id)
        finally:
            if alert is not None:
                await core.alerts.send_recorded(job_id, hidden=hidden, returned=returned,
                                                case_id=case_id if hidden else None,
                                                hiding=False)
        # 4. the notices of a hidden post (its follow-up job is then no longer needed)
        if hidden and case_id is not None:
            await self._hide_notices(case_id, await self._hide_info(case_id))
        for topic, privately, m in p.signposts:
            await core.alerts.signpost(ev, topic, privately=privately, rule=m)
        # Each automatic action once per post (the outbox), even if the post is handled
        # again after a crash.
        once = core.messenger.once
        mid = ev.message.message_id
        for template, privately, m in p.replies:
            await once(ev.community_id, f"{mid}:reply:{m.rule.id}:{template}",
                       _done(partial(self._reply, ev, template, privately, m)))
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
                await core.store.start_cooldown(ev.community_id, m.rule.id, ev.author.id,
                                                ev.at + m.rule.cooldown)
        return Outcome(hidden=hidden, crisis=p.crisis is not None, alert_id=alert_id)

    async def _cooling(self, ev: MessagePosted, m: Match) -> bool:
        return bool(m.rule.cooldown) and await self.core.store.cooldown_active(
            ev.community_id, m.rule.id, ev.author.id, ev.at)

    async def _case(self, ev: MessagePosted, action: str, m: Match, excerpt: str | None) -> int:
        return await self.core.store.add_case(
            ev.community_id, action, m.rule.id, m.rule.explain or m.rule.description,
            "haven", "Haven", ev.author.id, ev.author.name, ev.at, ev.channel.id,
            ev.message.message_id, excerpt)

    # -- hiding: store first, then act, finish after a crash ------------------------

    async def _record_hide(self, ev: MessagePosted, m: Match, log_case: bool,
                           signposts: list[list[object]] | None = None) -> tuple[int, bool]:
        """Record the hide case with the author's whole text, and a follow-up job that
        finishes the work if Haven stops part-way; returns (case number, newly recorded).

        A post handled again (delivered again after a crash) reuses its case.
        """
        core = self.core
        earlier = await core.store.find_case(ev.community_id, ev.message.message_id, "hide")
        case_id = earlier.id if earlier is not None else \
            await self._case(ev, "hide", m, excerpt=ev.text)
        ref = ev.message
        # (Re)scheduled also for an earlier case: a crash may have come before its job was
        # stored; the job's deliveries go through the outbox, so nothing is sent twice.
        await core.scheduler.schedule(ev.community_id, "hide_followup", str(case_id),
                                      core.clock.now() + HIDE_GRACE, {
                                          "case_id": case_id, "log_case": log_case,
                                          "author_id": ev.author.id, "author_name": ev.author.name,
                                          "channel_id": ev.channel.id,
                                          "channel_name": ev.channel.name, "link": ev.link,
                                          "rule": m.rule.id,
                                          "explain": m.rule.explain or m.rule.description,
                                          "at": ev.at, "signposts": signposts or [],
                                          "ref": [ref.community_id, ref.channel_id,
                                                  ref.message_id, ref.thread_id]})
        return case_id, earlier is None

    async def _hide_info(self, case_id: int) -> dict[str, object] | None:
        job = await self.core.store.pending_job("hide_followup", str(case_id))
        return job.payload if job is not None else None

    async def _hide(self, ev: MessagePosted, m: Match, case_id: int,
                    fresh_case: bool) -> tuple[bool, bool]:
        """Hide a post and send the author their text; returns (hidden, returned)."""
        core = self.core
        if not await core.messenger.hide(ev, f"Haven: {m.rule.id}"):
            if fresh_case:  # nothing was hidden: no case, nothing to finish
                await core.store.delete_case(case_id)
                await core.scheduler.cancel("hide_followup", str(case_id))
            return False, False
        info = await self._hide_info(case_id)
        if info is None:  # finished meanwhile
            return True, True
        return True, await self._return_text(case_id, info)

    async def _return_text(self, case_id: int, info: dict[str, object]) -> bool:
        """Send the author the text of their hidden post (once); shorten the case's copy."""
        core = self.core
        community = str(info["ref"][0])  # type: ignore[index]
        case = await core.store.get_case(community, case_id)
        if case is None:
            return False
        text = case.excerpt or ""
        values = dict(member=info["author_name"], channel=f"#{info['channel_name']}",
                      rule=info["rule"], explain=info["explain"], text=quote(text))
        author = str(info["author_id"])

        async def send() -> str:
            return await core.messenger.private(
                community, author, Outgoing(core.templates.render("hidden_post", **values)))

        returned = await core.messenger.once(community, f"case:{case_id}:text", send) == "private"
        if returned:
            # The full text is kept (retention-limited) only while the author lacks it.
            await core.store.set_case_excerpt(case_id, text[:200])
        return returned

    async def _hide_notices(self, case_id: int, info: dict[str, object] | None) -> None:
        """The channel notice and (without an alert) the moderators' case note; then the
        follow-up job is done."""
        core = self.core
        if info is None:
            return
        community = str(info["ref"][0])  # type: ignore[index]
        author = str(info["author_id"])
        state = await core.store.outbox_state(community, f"case:{case_id}:text")
        returned = state == "sent"
        mention = core.platform.user_mention(author)
        values = dict(member=mention, channel=f"#{info['channel_name']}", rule=info["rule"],
                      explain=info["explain"])
        notice = core.templates.render("hidden_notice" if returned else "hidden_notice_no_dm",
                                       **values)
        if notice and core.config.moderation.explain_in_channel:
            async def send_notice() -> str:
                sent = await core.messenger.send(community, str(info["channel_id"]),
                                                 Outgoing(notice, mention_users=(author,)))
                return "sent" if sent is not None else "failed"

            await core.messenger.once(community, f"case:{case_id}:notice", send_notice)
        if info.get("log_case"):
            async def send_log() -> str:
                sent = await core.messenger.send(community, core.config.channels.moderators, Outgoing(
                    f"Case #{case_id}: hid a post by {info['author_name']} in "
                    f"#{info['channel_name']} (rule `{info['rule']}`). {info['link']}".rstrip()
                    + ("" if returned else " The author could not be messaged privately; "
                       f"their text is in case #{case_id}.")))
                return "sent" if sent is not None else "failed"

            await core.messenger.once(community, f"case:{case_id}:log", send_log)
        await core.scheduler.cancel("hide_followup", str(case_id))

    async def _hide_followup_job(self, job: Job) -> None:
        """After a restart: finish hiding a post whose handling was interrupted."""
        core = self.core
        info = job.payload
        if int(info["case_id"]) in self._active:
            raise RuntimeError("the post is still being handled; finishing later")
        community, channel_id, message_id, thread_id = info["ref"]
        if await core.store.get_case(community, int(info["case_id"])) is None:
            return
        ref = MessageRef(community, channel_id, message_id, thread_id)
        try:
            await core.platform.hide(ref, f"Haven: {info['rule']}")
        except NotFound:
            pass  # already gone: hidden before the interruption
        except MissingPermission as exc:
            await core.messenger.report_missing(community, exc)
            return
        case_id = int(info["case_id"])
        log.info("finishing the hiding of case %d after an interruption", case_id)
        await self._return_text(case_id, info)
        await self._hide_notices(case_id, info)
        # The signposting too: the post redelivered after the crash has lost its words (it
        # was redacted), so it cannot send it (each topic once, through the outbox).
        if info.get("signposts"):
            ev = MessagePosted(
                community, float(info.get("at") or core.clock.now()),
                channel=Channel(str(channel_id), str(info.get("channel_name") or "")),
                author=Member(str(info["author_id"]), str(info.get("author_name") or "")),
                message=ref, text="", link=str(info.get("link") or ""))
            for topic, privately in info["signposts"]:
                await core.alerts.signpost(ev, str(topic), privately=privately)

    async def _reply(self, ev: MessagePosted, template: str, privately: bool, m: Match) -> None:
        core = self.core
        text = core.templates.render(template, member=ev.author.name, channel=f"#{ev.channel.name}",
                                     rule=m.rule.id, explain=m.rule.explain or m.rule.description,
                                     community=core.platform.community_name(ev.community_id))
        if privately:
            await core.messenger.private(ev.community_id, ev.author.id, Outgoing(text))
        else:
            await core.messenger.reply(ev.message, Outgoing(text, mention_users=(ev.author.id,)))

    async def warn(self, community_id: str, user_id: str, name: str, rule: str, explain: str,
                   actor: tuple[str, str] | None, channel_id: str | None = None,
                   message_id: str | None = None) -> int:
        """Warn a member (same words every time), record a case; returns the case number."""
        core = self.core
        actor_id, actor_name = actor or ("haven", "Haven")
        case_id = await core.store.add_case(community_id, "warn", rule, explain, actor_id,
                                            actor_name, user_id, name, core.clock.now(),
                                            channel_id, message_id)
        text = core.templates.render("warning", member=name, rule=rule, explain=explain,
                                     community=core.platform.community_name(community_id))
        await core.messenger.private(community_id, user_id, Outgoing(f"{text}\n(Case #{case_id})"))
        return case_id

    async def timeout(self, community_id: str, user_id: str, name: str, seconds: float, rule: str,
                      explain: str, actor: tuple[str, str] | None) -> int | None:
        """Time a member out, tell them why, record a case; ``None`` if the platform refused."""
        from bot.core.errors import MissingPermission, PlatformError

        core = self.core
        try:
            await core.platform.timeout(community_id, user_id, seconds, f"Haven: {rule}")
        except MissingPermission as exc:
            await core.messenger.report_missing(community_id, exc)
            return None
        except PlatformError as exc:
            log.warning("timeout of %s failed: %s", user_id, exc)
            return None
        if lift_timeout_of(core.platform) is not None:
            # the platform does not end a timeout by itself: a durable job does
            await core.scheduler.schedule(community_id, "lift_timeout", user_id,
                                          core.clock.now() + seconds)
        actor_id, actor_name = actor or ("haven", "Haven")
        case_id = await core.store.add_case(community_id, "timeout", rule,
                                            f"{explain} ({fmt_duration(seconds)})", actor_id,
                                            actor_name, user_id, name, core.clock.now())
        text = core.templates.render("timeout", member=name, rule=rule, explain=explain,
                                     duration=fmt_duration(seconds),
                                     community=core.platform.community_name(community_id))
        await core.messenger.private(community_id, user_id, Outgoing(f"{text}\n(Case #{case_id})"))
        return case_id


    async def _lift_timeout_job(self, job: Job) -> None:
        """A timeout ran out on a platform that does not lift it by itself."""
        lifter = lift_timeout_of(self.core.platform)
        if lifter is not None:
            await lifter.lift_timeout(job.community_id, job.key)


def _done(work: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[str]]:
    """Adapt one piece of work for :meth:`Messenger.once` (it counts as done when it returns)."""
    async def run() -> str:
        await work()
        return "done"

    return run


def _mention(core: Haven, ev: MessagePosted) -> str:
    return core.platform.user_mention(ev.author.id)

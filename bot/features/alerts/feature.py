"""Crisis and safety alerts for moderators, and signposting for members.

An alert is written to the store first, then sent by a durable job, so a
platform error or a crash means a retry, never silence. Alerts go only to the
private moderators' channel. They mention on-duty moderators first (spread
across them, skipping anyone in their quiet hours), else the moderator role;
an alert still unclaimed after ``reescalate_after`` is re-sent to everyone.
Further crisis posts by the same member update the open alert.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.core.contracts import ExcerptPolicy
from bot.core.durations import in_clock_range
from bot.core.events import (
    AlertClaimed,
    AlertResolved,
    Flagged,
    MessagePosted,
    MessageRef,
    Outgoing,
)
from bot.core.feature import Feature, JobKind, MessageOutcome, Stage
from bot.features.alerts.context import AlertsContext
from bot.features.alerts.view import AlertView
from bot.rules.model import SEMANTIC_PREFIX, SUPPORT_CATEGORIES, Match
from bot.rules.planner import rule_urgency
from bot.storage.rows import Alert, Job

log = logging.getLogger(__name__)

MAX_REESCALATIONS = 3
MAX_PLACES = 5
"""An alert shows the places of at most this many (latest) posts."""
ALERT_RETRY_CAP = 60.0
"""An alert that fails to send is retried at least once a minute."""




class Alerts(Feature):
    """Opens, sends, updates, re-escalates, claims and resolves alerts."""

    def __init__(self, ctx: AlertsContext, exposure: ExcerptPolicy | None = None) -> None:
        self.ctx = ctx
        self.exposure = exposure
        self.view = AlertView(ctx)
        """How much of a post's text moderators want to see (the care feature, if listed)."""

    def stages(self) -> list[Stage]:
        """Crisis or concern in a private message to Haven."""
        return [Stage("alerts.private", 10, "private", self._private_stage, critical=True)]

    def jobs(self) -> list[JobKind]:
        """Sending alerts (retried at least once a minute), re-escalating them, and editing
        the messages of alerts renumbered by the upgrade to numbers per community."""
        return [JobKind("alert_send", self._send_job, max_backoff=ALERT_RETRY_CAP, first=True,
                        urgent=True),
                JobKind("alert_reescalate", self._reescalate_job, first=True, urgent=True),
                JobKind("alert_refresh", self._refresh_job)]

    async def _private_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        support = [m for m in outcome.matches
                   if m.rule.category in SUPPORT_CATEGORIES and not m.rule.shadow]
        if support:
            await self.on_private_message(ev, support)

    # -- raising ---------------------------------------------------------------

    async def raise_alert(self, ev: MessagePosted, match: Match, kind: str,
                          hidden: bool = False, returned: bool = True, urgency: str = "now",
                          case_id: int | None = None) -> int:
        """Open (or update) an alert about a message and send it; returns the alert id.

        ``urgency`` is the rule's: ``now`` mentions and re-escalates while nobody
        claims it, ``normal`` mentions once, ``quiet`` is a "check in when you can"
        note without any mention.
        """
        alert_id, job_id = await self.record(ev, match, kind, urgency)
        await self.send_recorded(job_id, hidden=hidden, returned=returned, case_id=case_id)
        return alert_id

    async def record(self, ev: MessagePosted, match: Match, kind: str, urgency: str = "now",
                     **extra: bool | int | None) -> tuple[int, int | None]:
        """Store an alert (new, updated or upgraded) and its delivery job, without sending.

        Returns ``(alert id, job id)``; the job (``None`` when nothing needs sending) is
        durable: if Haven stops before :meth:`send_recorded`, the scheduler sends it.
        """
        ctx = self.ctx
        store = ctx.repo.alerts
        excerpt = excerpt_around(ev.text, _matched(match), ctx.config.excerpt_chars)
        private = ev.channel.kind == "dm"
        existing = first = await store.open_alert_for(ev.community_id, ev.author.id, kind)
        if existing is None and kind == "concern":
            # a member with an open crisis alert: the concern post belongs to that alert
            existing = await store.open_alert_for(ev.community_id, ev.author.id, "crisis")
        upgrade = None
        if urgency != "quiet" and (existing is None or existing.urgency == "quiet"):
            # a quiet note open for this member (of this kind, read above, or a concern)
            # is upgraded
            quiet = [a for k in dict.fromkeys((kind, "concern"))
                     if (a := first if k == kind else
                         await store.open_alert_for(ev.community_id, ev.author.id, k))
                     is not None and a.urgency == "quiet"]
            upgrade = quiet[0] if quiet else None
            if upgrade is not None:
                existing = None
        if existing is not None and existing.message_id == ev.message.message_id:
            if not existing.message_refs() and not existing.escalations:
                # Handled again after a crash that came before the alert was ever sent
                # (its delivery job may not exist): make sure it goes out, once.
                if existing.urgency == "now":
                    await self._schedule_reescalation(ev.community_id, existing.id)
                return existing.id, await self._job(ev.community_id, existing.id, "new", "new",
                                                    **extra)
            # An edit of the post that raised the alert: keep its latest words, refresh
            # the alert messages, but do not count it or ping anyone again.
            await store.update_alert_excerpt(existing.id, excerpt, ev.at)
            await self.refresh_messages(existing.id)
            return existing.id, None
        mid = ev.message.message_id
        if existing is not None and any(p.get("message_id") == mid
                                        for p in existing.places_list()):
            # a later post already counted (edited, or delivered again): refresh only
            await store.update_alert_excerpt(existing.id, excerpt, ev.at)
            await self.refresh_messages(existing.id)
            return existing.id, None
        if existing is not None or upgrade is not None:
            target = existing or upgrade
            assert target is not None
            await store.update_alert_with_post(
                target.id, excerpt, "" if private else ev.link, match.rule.id,
                _max_severity(target.severity, match.rule.severity), ev.at,
                channel_id=ev.channel.id, channel_name=ev.channel.name, message_id=mid,
                private=private, reason=_semantic_reason(match))
            if upgrade is not None:
                # a quiet note becomes a real alert: ping now, re-escalate if urgent
                await store.upgrade_alert(upgrade.id, kind, urgency)
                if urgency == "now":
                    await self._schedule_reescalation(ev.community_id, upgrade.id)
                log.info("alert %d upgraded to %s (%s) for member %s", upgrade.id, kind, urgency,
                         ev.author.id)
                return upgrade.id, await self._job(ev.community_id, upgrade.id,
                                                   f"upgrade:{mid}", "upgrade", **extra)
            return target.id, await self._job(ev.community_id, target.id, f"update:{mid}",
                                              "update", **extra)
        async with ctx.transaction():  # the alert and its jobs, or nothing
            opened = await store.open_alert(
                ev.community_id, kind, ev.author.id, ev.author.name, ev.channel.id,
                ev.channel.name, mid, "" if private else ev.link, excerpt, match.rule.id,
                match.rule.severity, ev.at, urgency=urgency, private=private,
                reason=_semantic_reason(match))
            alert_id = opened.id
            if urgency == "now":
                await self._schedule_reescalation(ev.community_id, alert_id)
            job_id = await self._job(ev.community_id, alert_id, "new", "new", **extra)
        log.info("alert %d (#%d in %s) opened (%s, %s, rule %s) for member %s", alert_id,
                 opened.number, ev.community_id, kind, urgency, match.rule.id, ev.author.id)
        if urgency == "quiet":  # a check-in note: also in the next review digest
            ctx.publish(Flagged(ev.community_id, ev.at, kind="checkin", key=f"alert:{alert_id}",
                                member_id=ev.author.id, member_name=ev.author.name,
                                channel_name=ev.channel.name, link=ev.link,
                                summary=f"check-in note #{opened.number} ({match.rule.id})"))
        return alert_id, job_id

    async def _schedule_reescalation(self, community_id: str, alert_id: int) -> None:
        ctx = self.ctx
        await ctx.scheduler.schedule(community_id, "alert_reescalate", f"{alert_id}:1",
                                      ctx.clock.now() + ctx.config.reescalate_after,
                                      {"alert_id": alert_id})

    async def _job(self, community_id: str, alert_id: int, key: str, mode: str,
                   **extra: bool | int | None) -> int | None:
        return await self.ctx.scheduler.schedule(community_id, "alert_send", f"{alert_id}:{key}",
                                                  self.ctx.clock.now(),
                                                  {"alert_id": alert_id, "mode": mode, **extra})

    async def send_recorded(self, job_id: int | None, **extra: bool | int | None) -> None:
        """Send an alert message stored by :meth:`record`, adding what happened meanwhile
        (``hidden``, ``returned``, ``case_number``); if sending fails the scheduler retries."""
        if job_id is None:
            return
        scheduler = self.ctx.scheduler
        job = await self.ctx.scheduler.get_job(job_id)
        if job is None or job.state != "pending":
            return
        if extra:
            await self.ctx.scheduler.set_payload(job_id, {**job.payload, **extra})
        await scheduler.run_now(job_id, job)  # the claim reads the payload just set

    async def _deliver(self, community_id: str, alert_id: int, key: str, mode: str,
                       **extra: bool | int | None) -> None:
        """Store an alert message as a job, then try it at once (we are already in the
        community's queue); if sending fails the scheduler retries it."""
        job_id = await self._job(community_id, alert_id, key, mode, **extra)
        if job_id is not None:
            await self.ctx.scheduler.run_now(job_id)

    # -- sending -----------------------------------------------------------------

    async def _send_job(self, job: Job) -> None:
        alert = await self.ctx.repo.alerts.get_alert(int(job.payload["alert_id"]))
        if alert is None:
            return
        mode = job.payload.get("mode", "new")
        if mode in ("update", "upgrade") and alert.state == "resolved":
            return
        if mode == "reescalate" and alert.state != "open":
            return  # claimed meanwhile (this send was waiting for a retry)
        if alert.urgency == "quiet":
            users: tuple[str, ...] = ()
            roles: tuple[str, ...] = ()
        else:
            users, roles = await self.mentions(alert.community_id, wide=mode == "reescalate")
        # (a job stored before cases had numbers holds only ``case_id``: no number shown)
        case_number = job.payload.get("case_number")
        msg = self.view.render(alert, mode=mode, users=users, roles=roles,
                          excerpts=await self._exposure(alert.community_id, users),
                          hidden=bool(job.payload.get("hidden")),
                          returned=bool(job.payload.get("returned", True)),
                          case_number=int(case_number) if case_number else None,
                          hiding=bool(job.payload.get("hiding")))
        # Raises on failure: the scheduler retries (also after a restart).
        ref = await self.ctx.platform.send(alert.community_id, self.ctx.core.channels.moderators,
                                            msg)
        await self.ctx.repo.alerts.add_alert_message(alert.id, _ref_dict(ref))
        await self.ctx.repo.duty.mark_alerted(alert.community_id, users, self.ctx.clock.now())

    async def _reescalate_job(self, job: Job) -> None:
        ctx = self.ctx
        alert = await ctx.repo.alerts.get_alert(int(job.payload["alert_id"]))
        if alert is None or alert.state != "open" or alert.urgency != "now":
            return
        await ctx.repo.alerts.bump_alert_escalation(alert.id)
        n = alert.escalations + 1
        await self._deliver(alert.community_id, alert.id, f"reescalate:{n}", "reescalate")
        if n < MAX_REESCALATIONS:
            await ctx.scheduler.schedule(alert.community_id, "alert_reescalate",
                                          f"{alert.id}:{n + 1}",
                                          ctx.clock.now() + ctx.config.reescalate_after,
                                          {"alert_id": alert.id})

    async def mentions(self, community_id: str, wide: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Whom to mention: one on-duty moderator (spread, outside quiet hours), else the role."""
        ctx = self.ctx
        roles = tuple(ctx.core.roles.moderators)
        if wide:
            return (), roles
        minute = _minute_of_day(ctx.clock.now())
        for row in await ctx.repo.duty.duty_roster(community_id):
            if not row.on_duty:
                continue
            if row.quiet_start is not None and row.quiet_end is not None and \
                    in_clock_range(minute, row.quiet_start, row.quiet_end):
                continue
            return (row.user_id,), ()
        return (), roles

    async def _exposure(self, community_id: str, users: tuple[str, ...]) -> str:
        """``on``, ``spoiler`` or ``off``: the choice of the moderators this alert is for
        (see :class:`bot.core.contracts.ExcerptPolicy`); ``on`` without the care feature."""
        if self.exposure is None:
            return "on"
        try:
            return await self.exposure.excerpt_mode(community_id, users)
        except Exception:
            self.ctx.errors.failed("choosing how much alert text to show")
            return "off"  # when unsure, show less

    async def _refresh_job(self, job: Job) -> None:
        """Job ``alert_refresh``: edit an alert's messages once (an open alert renumbered
        when numbers became per community: its header and buttons show the new number)."""
        await self.refresh_messages(int(job.payload["alert_id"]))

    async def refresh_messages(self, alert_id: int) -> None:
        """Edit every message of an alert to show its new state (best effort)."""
        ctx = self.ctx
        alert = await ctx.repo.alerts.get_alert(alert_id)
        if alert is None:
            return
        msg = self.view.render(alert, mode="status",
                          excerpts=await self._exposure(alert.community_id, ()))
        for ref in alert.message_refs():
            try:
                await ctx.platform.edit(MessageRef(**ref), Outgoing(
                    msg.text, spoiler=msg.spoiler, spoiler_text=msg.spoiler_text,
                    alert_id=msg.alert_id))
            except Exception as exc:  # an old alert message may be gone; keep going
                log.info("could not update alert %d message: %s", alert_id, exc)

    # -- signposting --------------------------------------------------------------

    async def signpost(self, ev: MessagePosted, topic: str, privately: bool | None,
                       rule: Match | None = None) -> bool:
        """Send the member helplines for ``topic``, not more than once a day per topic.

        Idempotent per post and topic (the outbox): a post handled again after a crash
        does not send the same signposting twice.
        """
        ctx = self.ctx
        last = await ctx.repo.alerts.last_signposted(ev.community_id, ev.author.id, topic)
        if last is not None and ev.at - last < ctx.config.signpost_again_after:
            return False
        helplines = ctx.helplines.format(ctx.core.community.countries, topic)
        template = "crisis_signpost" if topic in ("crisis", "self_harm") else "topic_signpost"
        text = ctx.templates.render(template, member=ev.author.name, helplines=helplines,
                                     community=ctx.platform.community_name(ev.community_id))
        if privately is None:
            privately = ctx.config.signpost == "privately"

        async def send() -> str:
            if privately:
                return await ctx.messenger.private(
                    ev.community_id, ev.author.id, Outgoing(text), fallback_to=ev.message,
                    fallback=Outgoing(text, mention_users=(ev.author.id,)))
            return "fallback" if await ctx.messenger.reply(
                ev.message, Outgoing(text, mention_users=(ev.author.id,))) else "failed"

        result = await ctx.messenger.once(ev.community_id,
                                           f"{ev.message.message_id}:signpost:{topic}", send)
        if result != "failed":
            await ctx.repo.alerts.mark_signposted(ev.community_id, ev.author.id, topic, ev.at)
        return result != "failed"

    # -- private messages to Haven ---------------------------------------------------

    async def on_private_message(self, ev: MessagePosted, matches: list[Match]) -> int:
        """Crisis or concern written to Haven in private: alert, then answer at once.

        Moderators get an alert marked private ("in a private message to Haven", no
        link); further messages in the conversation update the same open alert. The
        member is answered in the conversation with helplines and that a person has
        been told (the full answer once a day, a short one for further messages).
        Returns the alert id.
        """
        ctx = self.ctx
        crisis = next((m for m in matches if m.rule.category == "crisis"), None)
        match = crisis or matches[0]
        kind = "crisis" if crisis is not None else "concern"
        urgency = "quiet" if crisis is None else rule_urgency(match)
        if urgency == "quiet" and crisis is not None:
            urgency = "normal"  # crisis in private always reaches a person with a mention
        alert_id, job_id = await self.record(ev, match, kind, urgency)
        await self.send_recorded(job_id)
        last = await ctx.repo.alerts.last_signposted(ev.community_id, ev.author.id, "private")
        first = last is None or ev.at - last >= ctx.config.signpost_again_after
        template = "private_crisis_reply" if first else "private_crisis_again"
        text = ctx.templates.render(
            template, member=ev.author.name,
            helplines=ctx.helplines.format(ctx.core.community.countries, "crisis"),
            community=ctx.platform.community_name(ev.community_id))

        async def answer() -> str:
            if await ctx.messenger.reply(ev.message, Outgoing(text)) is not None:
                return "reply"
            return await ctx.messenger.private(ev.community_id, ev.author.id, Outgoing(text))

        result = await ctx.messenger.once(ev.community_id, f"{ev.message.message_id}:dm-answer",
                                           answer)
        if result != "failed" and first:
            await ctx.repo.alerts.mark_signposted(ev.community_id, ev.author.id, "private", ev.at)
        return alert_id

    # -- claim and resolve ------------------------------------------------------------

    async def _unresolved(self, community_id: str, number: int) -> Alert | str:
        """The alert numbered ``number`` in this community if it is not resolved, else the
        answer saying why not (a number never reaches another community's alert)."""
        alert = await self.ctx.repo.alerts.alert_by_number(community_id, number)
        if alert is None:
            return self.ctx.templates.render("alert_unknown", alert=number)
        if alert.state == "resolved":
            return self.ctx.templates.render("alert_already_resolved", alert=number)
        return alert

    async def claim(self, community_id: str, number: int, by: str) -> str:
        """Claim the community's alert ``number``; returns the answer for the moderator."""
        store = self.ctx.repo.alerts
        alert = await self._unresolved(community_id, number)
        if isinstance(alert, str):
            return alert
        if alert.state == "claimed":
            who = self.ctx.platform.user_mention(alert.claimed_by or "")
            return self.ctx.templates.render("alert_already_claimed", alert=number,
                                             moderator=who)
        await store.claim_alert(alert.id, by, self.ctx.clock.now())
        await self.ctx.scheduler.cancel("alert_reescalate", f"{alert.id}:")
        self.ctx.publish(AlertClaimed(community_id, self.ctx.clock.now(), alert_id=alert.id,
                                      kind=alert.kind, by=by, number=number))
        await self.refresh_messages(alert.id)
        return self.ctx.templates.render("alert_claim_done", alert=number)

    async def resolve(self, community_id: str, number: int, by: str, note: str | None) -> str:
        """Resolve the community's alert ``number``; returns the answer for the moderator."""
        store = self.ctx.repo.alerts
        alert = await self._unresolved(community_id, number)
        if isinstance(alert, str):
            return alert
        await store.resolve_alert(alert.id, by, note or None, self.ctx.clock.now())
        await self.ctx.scheduler.cancel("alert_reescalate", f"{alert.id}:")
        self.ctx.publish(AlertResolved(community_id, self.ctx.clock.now(), alert_id=alert.id,
                                       kind=alert.kind, by=by, urgency=alert.urgency,
                                       number=number))
        await self.refresh_messages(alert.id)
        alias = await self.ctx.kv.get(f"forgotten:{community_id}:{alert.member_id}")
        if alias:  # the member asked to be forgotten while this alert was open
            await store.anonymise_alert(alert.id, alias)
        return self.ctx.templates.render("alert_resolve_done_note" if note else "alert_resolve_done",
                                         alert=number)


def excerpt_around(text: str, matched: str | None, limit: int) -> str:
    """At most ``limit`` characters of ``text``, around the part that matched.

    A long post is quoted where the rule matched, not from its start; ``…`` marks
    cut ends. Without a match found in the text, the start is quoted.
    """
    text = text.strip()
    if len(text) <= limit or limit <= 0:
        return text[:max(limit, 0)] if limit <= 0 else text
    at = text.find(matched) if matched else -1
    lower = text.lower()
    if matched and at < 0 and len(lower) == len(text):
        at = lower.find(matched.lower())
    if at < 0:
        return text[: limit - 1].rstrip() + "…"
    end_of_match = at + len(matched or "")
    room = max(0, limit - (end_of_match - at))
    start = max(0, at - room // 3)
    end = min(len(text), start + limit)
    start = max(0, end - limit)
    piece = text[start:end].strip()
    if start > 0:
        piece = "…" + piece[1:].lstrip()
    if end < len(text):
        piece = piece[:-1].rstrip() + "…"
    return piece


def _matched(match: Match) -> str | None:
    try:
        return match.matched
    except Exception:  # explaining a match must never stop an alert
        log.exception("could not find the matched text of rule %s", match.rule.id)
        return None


def _semantic_reason(match: Match) -> str | None:
    """What the semantic stage says about its match (a score and the closest labelled
    examples, never the member's words), for the alert; ``None`` for a rule's match."""
    if not match.rule.id.startswith(SEMANTIC_PREFIX):
        return None
    try:
        return match.reason
    except Exception:  # explaining a match must never stop an alert
        log.exception("could not explain the match of rule %s", match.rule.id)
        return None


def _ref_dict(ref: MessageRef) -> dict[str, str | None]:
    return {"community_id": ref.community_id, "channel_id": ref.channel_id,
            "message_id": ref.message_id, "thread_id": ref.thread_id}


def _max_severity(a: str, b: str) -> str:
    order = ("info", "low", "medium", "high", "critical")
    return a if order.index(a) >= order.index(b) else b


def _minute_of_day(ts: float) -> int:
    t = datetime.fromtimestamp(ts, UTC)
    return t.hour * 60 + t.minute

"""The join-wave guard: many joins in a short time put a community in raid mode.

``joins`` joins within ``within`` seconds start raid mode for ``lasts`` seconds.
While it is on, a newcomer's first post is held for review (a case with its text,
hidden, the author gets their text back) and ``slow_channels`` are slowed where
the platform can. Moderators are told once when it starts and once when it ends
(with the held case numbers). It ends by itself through a durable ``raid_end``
job, so a restart in between still ends it.

The state of a raid lives in the key-value store (``raid:<community>``); the join
times that start one are counted in memory (a restart starts counting again).
Crisis and concern posts are never held: the stage skips them, so they keep their
alert and signposting.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bot.core.clock import fmt_duration, fmt_time
from bot.core.contracts import CaseKeeper, MemberDirectory
from bot.core.errors import MissingPermission, PlatformError
from bot.core.events import Event, Member, MemberJoined, MessagePosted, Outgoing
from bot.core.feature import EventHandler, Feature, FeatureContext, JobKind, MessageOutcome, Stage
from bot.core.messenger import quote
from bot.core.ports import Capability, SlowMode, capability
from bot.features.raid.config import RaidConfig
from bot.storage.rows import Job

log = logging.getLogger(__name__)

END_JOB = "raid_end"
Reason = Literal["joins", "moderator"]


class NoticeNotSent(PlatformError):
    """The moderators' channel did not take a raid notice (the job retries)."""


@dataclass
class RaidState:
    """One raid, as kept in the key-value store while it lasts."""

    since: float
    until: float
    joins: int
    reason: Reason = "joins"
    held: list[int] = field(default_factory=list)
    """Case numbers of the first posts held."""
    slowed: list[str] = field(default_factory=list)
    """Channels slowed (undone at the end)."""
    job: int | None = None
    """The ``raid_end`` job that ends it."""

    def dump(self) -> str:
        """The state as stored."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def load(cls, text: str) -> RaidState:
        """A stored state (``ValueError`` when it is not one)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a raid state")
        return cls(since=float(data["since"]), until=float(data["until"]),
                   joins=int(data["joins"]),
                   reason="moderator" if data.get("reason") == "moderator" else "joins",
                   held=[int(c) for c in data.get("held", ())],
                   slowed=[str(c) for c in data.get("slowed", ())],
                   job=int(data["job"]) if data.get("job") is not None else None)

    def active(self, now: float) -> bool:
        """Whether raid mode is in force at ``now`` (its end may still be being sent)."""
        return now < self.until


def state_key(community_id: str) -> str:
    """Where a community's raid state is kept."""
    return f"raid:{community_id}"


def end_key(community_id: str, state: RaidState) -> str:
    """The key of the job that ends ``state`` (one pending job per raid)."""
    return f"{community_id}:{state.since}"


class Raid(Feature):
    """Raid mode: started by a wave of joins or a moderator, ended by a durable job."""

    def __init__(self, ctx: FeatureContext[RaidConfig, None], *, cases: CaseKeeper,
                 members: MemberDirectory) -> None:
        self.ctx = ctx
        self.cases = cases
        self.members = members
        self._joins: dict[str, list[float]] = {}
        """Recent join times per community (the last ``joins`` of them, sorted)."""

    # -- what the feature handles ------------------------------------------------------

    def stages(self) -> Sequence[Stage]:
        """``raid.hold``: after members.record (which sets first_post), before welcome."""
        return (Stage("raid.hold", 35, "follow_up", self.hold,
                      skip=frozenset({"edited", "hidden", "support"})),)

    def handlers(self) -> Mapping[type[Event], EventHandler]:
        """Joins are counted."""
        return {MemberJoined: self.on_join}

    def jobs(self) -> Sequence[JobKind]:
        """``raid_end`` ends raid mode (durable: also after a restart)."""
        return (JobKind(END_JOB, self.on_end_job),)

    # -- state ---------------------------------------------------------------------

    async def state(self, community_id: str) -> RaidState | None:
        """The community's raid, if one is on (or still ending)."""
        text = await self.ctx.kv.get(state_key(community_id))
        if text is None:
            return None
        try:
            return RaidState.load(text)
        except (ValueError, KeyError, TypeError):
            log.error("unreadable raid state for community %s; dropping it", community_id)
            await self.ctx.kv.delete(state_key(community_id))
            return None

    async def _save(self, community_id: str, state: RaidState) -> None:
        await self.ctx.kv.set(state_key(community_id), state.dump())

    # -- joins -----------------------------------------------------------------------

    async def on_join(self, ev: MemberJoined) -> None:
        """Count a join; enough of them within ``within`` start raid mode.

        A join replayed after downtime counts at its own time; a wave that would
        already be over (``since + lasts`` past) starts nothing.
        """
        cfg = self.ctx.config
        if ev.member.is_bot:
            return
        state = await self.state(ev.community_id)
        if state is not None:
            state.joins += 1
            await self._save(ev.community_id, state)
            await self._announce_start(ev.community_id, state)  # retried if it failed before
            return
        if not cfg.enabled:
            return
        times = self._joins.setdefault(ev.community_id, [])
        bisect.insort(times, ev.at)
        del times[:-cfg.joins]
        if len(times) < cfg.joins or times[-1] - times[0] > cfg.within:
            return
        since = times[-1]
        times.clear()
        if since + cfg.lasts <= self.ctx.clock.now():
            log.info("a wave of %d joins in community %s ended while Haven was away; "
                     "raid mode not started", cfg.joins, ev.community_id)
            return
        await self.begin(ev.community_id, since=since, joins=cfg.joins, reason="joins")

    async def begin(self, community_id: str, *, since: float, joins: int, reason: Reason,
                    by: Member | None = None) -> RaidState:
        """Turn raid mode on: state and end job stored together, then slow the channels
        and tell the moderators once."""
        ctx = self.ctx
        cfg = ctx.config
        slow = capability(ctx.platform, Capability.SLOW_MODE, SlowMode)
        # Store first: the channels about to be slowed are recorded before they are,
        # so an end after a crash undoes them too.
        state = RaidState(since=since, until=since + cfg.lasts, joins=joins, reason=reason,
                          slowed=list(cfg.slow_channels) if slow else [])
        async with ctx.transaction():
            state.job = await ctx.scheduler.schedule(community_id, END_JOB,
                                                     end_key(community_id, state), state.until,
                                                     {"since": since})
            await self._save(community_id, state)
        log.info("raid mode on in community %s (%s, %d joins) until %s", community_id, reason,
                 joins, fmt_time(state.until))
        if slow is not None and state.slowed:
            state.slowed = await self._slow(slow, community_id, state.slowed, cfg.slow_seconds)
            await self._save(community_id, state)
        await self._announce_start(community_id, state, by)
        return state

    async def _slow(self, slow: SlowMode, community_id: str, channels: Sequence[str],
                    seconds: int) -> list[str]:
        """Set slow mode on ``channels`` (0 s: off); the channels the platform took."""
        done = []
        for channel in channels:
            try:
                await slow.set_slow_mode(community_id, channel, seconds)
                done.append(channel)
            except MissingPermission as exc:
                await self.ctx.messenger.report_missing(community_id, exc)
            except PlatformError as exc:
                log.warning("could not set slow mode %ds on %s in community %s: %s", seconds,
                            channel, community_id, exc)
        return done

    async def _announce_start(self, community_id: str, state: RaidState,
                              by: Member | None = None) -> None:
        """Tell the moderators that raid mode is on, once per raid."""
        ctx = self.ctx

        async def send() -> str:
            sent = await ctx.messenger.send(community_id, ctx.core.channels.moderators,
                                            Outgoing(self.start_text(community_id, state, by)))
            return "sent" if sent is not None else "failed"

        await ctx.messenger.once(community_id, f"raid:{state.since}:start", send)

    def start_text(self, community_id: str, state: RaidState, by: Member | None = None) -> str:
        """The moderators' notice that raid mode is on (one line per template)."""
        ctx = self.ctx
        cfg = ctx.config
        values: dict[str, Any] = {
            "joins": state.joins, "window": fmt_duration(cfg.within),
            "until": fmt_time(state.until), "command": ctx.hint("raid", "off"),
            "member": by.name if by is not None else "A moderator",
        }
        if state.reason == "joins":
            name = "raid_started" if cfg.hold_first_posts else "raid_started_no_hold"
        else:
            name = "raid_started_by" if cfg.hold_first_posts else "raid_started_by_no_hold"
        lines = [ctx.templates.render(name, **values)]
        if state.slowed:
            channels = ", ".join(ctx.platform.channel_mention(community_id, c)
                                 for c in state.slowed)
            lines.append(ctx.templates.render("raid_slowed", channels=channels,
                                              seconds=cfg.slow_seconds))
        elif cfg.slow_channels and capability(ctx.platform, Capability.SLOW_MODE, SlowMode) is None:
            lines.append(ctx.templates.render(
                "raid_cannot_slow" if cfg.hold_first_posts else "raid_cannot_slow_nothing"))
        return "\n".join(lines)

    # -- posts -----------------------------------------------------------------------

    async def hold(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        """Stage ``raid.hold``: in raid mode, hold a newcomer's first post for review."""
        ctx = self.ctx
        if not ctx.config.hold_first_posts or not outcome.first_post:
            return
        state = await self.state(ev.community_id)
        if state is None or not state.active(ctx.clock.now()):
            return
        if ctx.perms.is_moderator(ev.author) or not await self.members.is_newcomer(ev):
            return
        case = await self.cases.hold_post(
            ev, rule="raid", explain=ctx.templates.render("raid_explain"),
            private_text=ctx.templates.render("raid_held", member=ev.author.name,
                                              text=quote(ev.text)))
        if case is None:
            return
        outcome.hidden = True
        log.info("raid mode: held first post %s as case %d", ev.message.message_id, case)
        state = await self.state(ev.community_id) or state
        state.held.append(case)
        await self._save(ev.community_id, state)

    # -- the end -------------------------------------------------------------------

    async def on_end_job(self, job: Job) -> None:
        """Job ``raid_end``: undo slow mode, tell moderators once, forget the raid.

        Every step may be repeated (the job retries if the notice is not taken), so
        the state is forgotten last.
        """
        community_id = job.community_id
        state = await self.state(community_id)
        if state is None or state.since != job.payload.get("since"):
            log.info("raid_end job %d: no such raid on in community %s", job.id, community_id)
            return
        slow = capability(self.ctx.platform, Capability.SLOW_MODE, SlowMode)
        if slow is not None and state.slowed:
            await self._slow(slow, community_id, state.slowed, 0)
        end = max(state.since, min(state.until, self.ctx.clock.now()))
        text = self.ctx.templates.render(
            "raid_ended", duration=fmt_duration(end - state.since), joins=state.joins,
            held=len(state.held), cases=self.case_list(state))

        async def send() -> str:
            sent = await self.ctx.messenger.send(community_id, self.ctx.core.channels.moderators,
                                                 Outgoing(text))
            return "sent" if sent is not None else "failed"

        if await self.ctx.messenger.once(community_id, f"raid:{state.since}:end", send) == "failed":
            raise NoticeNotSent("the moderators' channel did not take the raid_ended notice")
        await self.ctx.kv.delete(state_key(community_id))
        log.info("raid mode ended in community %s", community_id)

    @staticmethod
    def case_list(state: RaidState) -> str:
        """The held case numbers for moderators (``#3, #5``, or ``none``)."""
        return ", ".join(f"#{c}" for c in state.held) or "none"

    # -- what the command does ---------------------------------------------------------

    async def status(self, community_id: str) -> str:
        """The answer to ``raid status``."""
        ctx = self.ctx
        state = await self.state(community_id)
        if state is None:
            if not ctx.config.enabled:
                return ctx.templates.render("raid_status_off_manual", command=ctx.hint("raid", "on"))
            return ctx.templates.render("raid_status_off", joins=ctx.config.joins,
                                        window=fmt_duration(ctx.config.within))
        return ctx.templates.render("raid_status_on", since=fmt_time(state.since),
                                    until=fmt_time(state.until), joins=state.joins,
                                    held=len(state.held), cases=self.case_list(state))

    async def turn_on(self, community_id: str, by: Member) -> str:
        """The answer to ``raid on``: raid mode starts now (works when ``enabled`` is off too)."""
        ctx = self.ctx
        state = await self.state(community_id)
        if state is not None:
            return ctx.templates.render("raid_answer_already_on", until=fmt_time(state.until))
        state = await self.begin(community_id, since=ctx.clock.now(), joins=0,
                                 reason="moderator", by=by)
        return ctx.templates.render("raid_answer_on", until=fmt_time(state.until))

    async def turn_off(self, community_id: str) -> str:
        """The answer to ``raid off``: the end job runs now."""
        ctx = self.ctx
        state = await self.state(community_id)
        if state is None:
            return ctx.templates.render("raid_answer_already_off")
        if state.active(ctx.clock.now()):
            state.until = ctx.clock.now()  # stored first: holding stops even if the end fails
            await self._save(community_id, state)
        # The end job runs now; if it is no longer pending (it gave up), a new one does.
        job = await ctx.scheduler.schedule(community_id, END_JOB, end_key(community_id, state),
                                           ctx.clock.now(), {"since": state.since})
        if job is None:
            job = state.job
        if job is not None:
            await ctx.scheduler.run_now(job)
        if await self.state(community_id) is not None:
            return ctx.templates.render("raid_answer_ending")
        return ctx.templates.render("raid_answer_off")

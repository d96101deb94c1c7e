"""The core: ordered queues per community, dispatch to the rule engine and
features, and an error boundary around every handler.

Each community has two lanes. Posts that match a crisis, concern or method rule
(or any rule that alerts moderators), and the alert jobs, go to the *urgent*
lane; everything else goes to the *normal* lane in arrival order. So a crisis
alert never waits behind slow platform work (a repost stuck in library
retries); a post's own handling stays in order (its urgent part first, then its
follow-up work in the normal lane), and alerts about one member stay ordered
(they are all raised in the one urgent lane). Every platform call is bounded in
time (:mod:`bot.core.bounded`).

Adapters call :meth:`Haven.submit` (fire and forget) or :meth:`Haven.handle`
(wait for the result, e.g. a command's answer). The core never imports a
platform library.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from bot.core import commandspec
from bot.core.bounded import BoundedPlatform
from bot.core.clock import Clock, RealClock
from bot.core.config import Config
from bot.core.errors import CommandError
from bot.core.events import (
    AutomodActed,
    ButtonPressed,
    CommandInvoked,
    CommandResult,
    Event,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    ReactionAdded,
)
from bot.core.messenger import Messenger
from bot.core.permissions import Permissions
from bot.core.ports import AdapterServices, Platform
from bot.core.scheduler import JobHandler, Scheduler
from bot.core.templates import Templates
from bot.detection.stage import SemanticStage
from bot.rules.helplines import Helplines, load_helplines
from bot.rules.rulebook import SUPPORT_CATEGORIES, Match, MatchContext, Rulebook
from bot.store import Job, NewJob, Store

log = logging.getLogger(__name__)

PURGE_INTERVAL = 24 * 3600.0
READY_TIMEOUT = 30.0
"""Fallback: start the timers this long after start-up if the adapter never says it is ready."""
SEEN_KEEP = 7 * 86400.0
"""How long handled-message markers, delivery ids and outbox rows are kept to drop repeats."""
Lane = Literal["urgent", "normal"]
"""A community's two queues: safety work first, everything else in order."""
URGENT: Final[Lane] = "urgent"
NORMAL: Final[Lane] = "normal"
URGENT_JOBS = frozenset({"alert_send", "alert_reescalate"})
"""Job kinds that run in the urgent lane."""


@dataclass
class _WorkItem:
    label: str
    run: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any] | None = field(default=None)


class Haven:
    """The platform-neutral bot. Build with :meth:`create`, then :meth:`start`."""

    def __init__(self, config: Config, platform: Platform, store: Store, rulebook: Rulebook,
                 helplines: Helplines, clock: Clock | None = None) -> None:
        from bot.commands import Commands
        from bot.features.alerts.feature import Alerts
        from bot.features.content_warnings.feature import ContentWarnings
        from bot.features.moderation.feature import Moderation
        from bot.features.unanswered.feature import Unanswered
        from bot.features.welcome.feature import Welcome

        self.config = config
        self.platform = platform if isinstance(platform, BoundedPlatform) else \
            BoundedPlatform(platform)
        self.store = store
        self.rulebook = rulebook
        self.helplines = helplines
        self.clock: Clock = clock or RealClock()
        self.templates = Templates(config.templates)
        self.perms = Permissions(config)
        self.messenger = Messenger(self)
        self.scheduler = Scheduler(store, self.clock, runner=self._run_job_in_queue)
        self.alerts = Alerts(self)
        self.moderation = Moderation(self)
        self.welcome = Welcome(self)
        self.unanswered = Unanswered(self)
        self.cw = ContentWarnings(self)
        self.commands = Commands(self)
        self.scheduler.register("purge_text", self._purge_job)
        self._queues: dict[tuple[str, Lane], asyncio.Queue[_WorkItem]] = {}
        self._workers: dict[tuple[str, Lane], asyncio.Task[None]] = {}
        self._inflight = 0
        self.errors = 0
        self._ready = asyncio.Event()
        self._gate: asyncio.Task[None] | None = None
        self.semantic: SemanticStage | None = None
        """The semantic detection stage (set by :meth:`create` from ``detection:``)."""
        self._triaging: dict[str, asyncio.Task[None]] = {}
        """Per community, the last event being classified by the semantic stage before it
        is queued: later events of that community wait for it, so order is kept."""

    @classmethod
    async def create(cls, config: Config, platform: Platform, clock: Clock | None = None,
                     store: Store | None = None) -> Haven:
        """Load rules and helplines (raising ``ConfigError``) and open the store."""
        templates = Templates(config.templates)
        rulebook = Rulebook.load(config.rules.dir, config.rules.packs, templates.names())
        helplines = load_helplines(config.rules.helplines)
        semantic = SemanticStage.from_config(config.detection)
        store = store or await Store.open(config.database)
        core = cls(config, platform, store, rulebook, helplines, clock)
        core.semantic = semantic
        return core

    @property
    def services(self) -> AdapterServices:
        """What adapters may use besides submit/handle (the inbound port)."""
        return AdapterServices(kv=self.store.kv, clock=self.clock, templates=self.templates,
                               notices=self.messenger, commands=commandspec.COMMANDS)

    # -- life cycle -------------------------------------------------------------

    async def start(self, run_scheduler: bool = True) -> None:
        """Schedule housekeeping and (optionally) start the timer loop.

        The loop starts once the adapter calls :meth:`mark_ready` (after it has
        caught up on messages posted while Haven was down, so overdue reminders
        about posts answered meanwhile are not sent), or after a time-out.
        """
        await self.scheduler.schedule("*", "purge_text", "daily", self.clock.now())
        await self.moderation.resume_interrupted()
        if run_scheduler:
            self._gate = asyncio.create_task(self._start_scheduler_when_ready())

    def mark_ready(self) -> None:
        """Adapters: the platform is connected and missed messages are queued."""
        self._ready.set()

    @property
    def ready(self) -> bool:
        """Whether the adapter has said it is connected and caught up."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        """Wait until the adapter calls :meth:`mark_ready`."""
        await self._ready.wait()

    async def _start_scheduler_when_ready(self) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            log.warning("the %s adapter did not report ready within %.0fs (it should call "
                        "mark_ready once connected and caught up); starting the timers anyway, "
                        "so overdue alerts and reminders go out now", self.platform.name,
                        READY_TIMEOUT)
        await self.drain()
        self.scheduler.start()

    async def stop(self) -> None:
        """Finish queued work, stop the timer loop and close the store."""
        if self._gate is not None:
            self._gate.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gate
        await self.scheduler.stop()
        await self.drain()
        for task in self._workers.values():
            task.cancel()
        for task in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._queues.clear()
        if self.semantic is not None:
            self.semantic.close()
        await self.store.close()

    # -- queues -------------------------------------------------------------------

    def _enqueue(self, community_id: str, item: _WorkItem, lane: Lane = NORMAL) -> None:
        key = (community_id, lane)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.create_task(
                self._worker(queue), name=f"haven-community-{community_id}-{lane}")
        self._inflight += 1
        queue.put_nowait(item)

    def _triage(self, event: Event) -> tuple[Lane, list[Match] | None]:
        """Which lane an event goes to, and (for a message) its matches, decided once.

        Matching is pure and fast (microseconds), so it runs on arrival: a post that
        needs moderators or support goes to the urgent lane.
        """
        if not isinstance(event, MessagePosted) or event.author.is_bot or \
                self.config.is_moderators_channel(event.channel):
            return NORMAL, None
        try:
            matches = self.evaluate(event)
        except Exception:
            self.errors += 1
            log.exception("matching failed for %s; handling it in the normal lane", _label(event))
            return NORMAL, None
        return (URGENT if any(_needs_urgency(m) for m in matches) else NORMAL), matches

    def _item(self, event: Event, future: asyncio.Future[Any] | None = None) -> tuple[Lane, _WorkItem]:
        lane, matches = self._triage(event)
        if isinstance(event, MessagePosted) and lane == URGENT:
            def run() -> Awaitable[Any]:
                return self.on_message(event, matches=matches, lane=lane)
        else:
            def run() -> Awaitable[Any]:
                return self._dispatch(event)
        return lane, _WorkItem(_label(event), run, future)

    async def _worker(self, queue: asyncio.Queue[_WorkItem]) -> None:
        while True:
            item = await queue.get()
            try:
                result = await item.run()
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # Haven is stopping this worker
                # a cancellation leaking out of a library call must not stop the queue
                self.errors += 1
                log.error("handling %s was cancelled from inside; carrying on", item.label)
                if item.future is not None and not item.future.done():
                    item.future.set_exception(RuntimeError(f"cancelled: {exc}"))
            except Exception as exc:  # the error boundary: log with context, keep going
                self.errors += 1
                log.exception("error while handling %s", item.label)
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
            else:
                if item.future is not None and not item.future.done():
                    item.future.set_result(result)
            finally:
                self._inflight -= 1
                queue.task_done()

    def _route(self, event: Event, future: asyncio.Future[Any] | None = None) -> None:
        """Queue an event in its lane; with the semantic stage on, a message is classified
        first (in a worker thread, in arrival order), so a crisis only the stage sees also
        goes to the urgent lane and never waits behind slow platform work."""
        cid = event.community_id
        before = self._triaging.get(cid)
        if before is not None and before.done():
            before = None
        if before is None and not (self.semantic is not None and isinstance(event, MessagePosted)):
            lane, item = self._item(event, future)
            self._enqueue(cid, item, lane)
            return
        self._inflight += 1
        self._triaging[cid] = asyncio.create_task(self._classify_then_queue(before, event, future),
                                                  name=f"haven-triage-{cid}")

    async def _classify_then_queue(self, before: asyncio.Task[None] | None, event: Event,
                                   future: asyncio.Future[Any] | None) -> None:
        try:
            if before is not None:
                await asyncio.wait({before})
            lane, matches = self._triage(event)
            if not isinstance(event, MessagePosted) or matches is None:
                _, item = self._item(event, future)
            else:
                matches = await self.detect(event, matches)
                if any(_needs_urgency(m) for m in matches):
                    lane = URGENT
                found = matches

                def run() -> Awaitable[Any]:
                    return self.on_message(event, matches=found, lane=lane, detected=True)

                item = _WorkItem(_label(event), run, future)
            self._enqueue(event.community_id, item, lane)
        finally:
            self._inflight -= 1

    def submit(self, event: Event) -> None:
        """Queue an event for its community and return at once."""
        self._route(event)

    async def handle(self, event: Event) -> CommandResult | None:
        """Queue an event and wait until it has been handled; returns a command's answer."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._route(event, future)
        try:
            result = await future
            if isinstance(result, asyncio.Future):  # an urgent post: wait for its follow-up
                await result
                return None
            return result
        except Exception:
            if isinstance(event, CommandInvoked | ButtonPressed):
                return CommandResult("Sorry, something went wrong handling that. "
                                     "It has been logged.", ok=False)
            return None

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every community queue is empty (tests and shutdown).

        With ``timeout``, give up after that many seconds; returns whether all work finished.
        """
        async def empty() -> None:
            while self._inflight:
                await asyncio.gather(*(q.join() for q in list(self._queues.values())),
                                     *(t for t in self._triaging.values() if not t.done()))

        if timeout is None:
            await empty()
            return True
        try:
            await asyncio.wait_for(empty(), timeout)
        except TimeoutError:
            log.error("%d piece(s) of work still unfinished after %.0fs", self._inflight, timeout)
            return False
        return True

    async def _run_job_in_queue(self, job: Job, handler: JobHandler) -> None:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        community = job.community_id
        lane = URGENT if job.kind in URGENT_JOBS else NORMAL
        self._enqueue(community, _WorkItem(f"job {job.id} ({job.kind})",
                                           lambda: self.scheduler.execute(job, handler), future),
                      lane)
        with contextlib.suppress(Exception):
            await future

    async def advance(self, seconds: float) -> None:
        """Tests and the demo: move a virtual clock forward, running jobs as they fall due."""
        set_time = getattr(self.clock, "set", None)
        if set_time is None:
            raise TypeError("advance() needs a VirtualClock")
        target = self.clock.now() + seconds
        await self.drain()
        while True:
            next_due = await self.store.next_due_at()
            if next_due is None or next_due > target:
                break
            set_time(max(self.clock.now(), next_due))
            await self.scheduler.run_due()
            await self.drain()
        set_time(target)
        await self.scheduler.run_due()
        await self.drain()

    # -- dispatch -------------------------------------------------------------------

    async def _dispatch(self, event: Event) -> CommandResult | None:
        if isinstance(event, MessagePosted):
            await self.on_message(event)
        elif isinstance(event, MemberJoined):
            await self.welcome.on_join(event)
        elif isinstance(event, MessageDeleted):
            await self.unanswered.on_delete(event)
        elif isinstance(event, AutomodActed):
            await self.record_automod(community_id=event.community_id, user_id=event.user_id,
                                      action=event.action, rule=event.rule,
                                      keyword=event.keyword, channel_id=event.channel_id,
                                      at=event.at)
        elif isinstance(event, ReactionAdded):
            log.debug("reaction %s on %s", event.emoji, event.message.message_id)
        elif isinstance(event, CommandInvoked | ButtonPressed):
            return await self._once(event)
        return None

    async def _once(self, event: CommandInvoked | ButtonPressed) -> CommandResult:
        """Run a command or button once per delivery id, however often it is delivered."""
        delivery = event.delivery_id
        if delivery:
            earlier = await self.store.begin_delivery(event.community_id, delivery,
                                                      self.clock.now())
            if earlier is not None:
                log.info("%s delivery %s arrived again (first one %s); not acting again",
                         type(event).__name__, delivery, earlier)
                return CommandResult(self.templates.render("already_done"))
        try:
            if isinstance(event, CommandInvoked):
                return await self.run_command(event)
            return await self.commands.button(event)
        finally:
            if delivery:
                await self.store.finish_delivery(event.community_id, delivery)

    def command_hint(self, name: str, *args: str) -> str:
        """How a moderator types command ``name`` on this platform (``/claim 3``,
        ``!haven claim 3``): the prefix comes from the platform or config, never the core."""
        prefix = self.platform.command_prefix
        if not isinstance(prefix, str) or not prefix:
            prefix = commandspec.command_prefix(self.platform.name,
                                                self.config.matrix.command_prefix) or "/"
        head = f"{prefix}{name}" if prefix.endswith(("/", " ")) else f"{prefix} {name}"
        return " ".join([head, *args])

    async def run_command(self, event: CommandInvoked) -> CommandResult:
        """Run a command; wrong arguments or permissions come back as a polite refusal."""
        try:
            return await self.commands.run(event)
        except CommandError as exc:
            return CommandResult(str(exc), ok=False)

    def context(self, ev: MessagePosted) -> MatchContext:
        """The rule-scope context of a message: channel names, roles, newcomer."""
        joined = ev.author.joined_at
        newcomer = joined is not None and (
            ev.at - joined < self.config.community.newcomer_days * 86400)
        return MatchContext(channel_names=frozenset(ev.channel.names()),
                            roles=self.perms.groups(ev.author), is_newcomer=newcomer)

    def evaluate(self, ev: MessagePosted) -> list[Match]:
        """Decide: which rules match this message (pure; nothing is done)."""
        return self.rulebook.evaluate(ev.text, self.context(ev))

    async def detect(self, ev: MessagePosted, matches: list[Match] | None = None) -> list[Match]:
        """Decide: the rules (unless already matched on arrival), then the semantic stage in
        its worker thread (never blocking the event loop). The stage only adds matches; if
        it fails, the rules still stand."""
        if matches is None:
            matches = self.evaluate(ev)
        if self.semantic is None:
            return matches
        try:
            extra = await self.semantic.detect_async(ev.text, matches)
        except Exception:
            self.errors += 1
            log.exception("semantic stage failed on message %s; acting on the rules alone",
                          ev.message.message_id)
            return matches
        return [*matches, *extra]

    async def on_message(self, ev: MessagePosted, matches: list[Match] | None = None,
                         lane: Lane = NORMAL, detected: bool = False) -> asyncio.Future[Any] | None:
        """A message was posted or edited: decide, then act, feature by feature.

        In the urgent lane only the safety part runs here (alerts, signposting, hiding
        method details); the post's follow-up work (content warnings, counting, welcome,
        unanswered tracking) is queued behind it in the normal lane, in order; the
        future of that follow-up is returned (``None`` when it ran here).
        """
        if ev.author.is_bot:
            return None
        if self.config.is_moderators_channel(ev.channel):
            return None
        if ev.channel.kind == "dm":
            await self.on_private_message(ev, matches, detected)
            return None
        digest = _digest(ev)
        if await self.store.message_seen(ev.community_id, ev.message.message_id, digest):
            log.info("message %s (this version) was handled already; skipping the repeat",
                     ev.message.message_id)
            return None
        if not detected or matches is None:
            matches = await self.detect(ev, matches)
        # Crisis is decided by the rules, not by whether acting on them worked.
        crisis = any(m.rule.category == "crisis" and not m.rule.shadow for m in matches)
        support = crisis or any(m.rule.category in SUPPORT_CATEGORIES and not m.rule.shadow
                                for m in matches)
        outcome = await self._guarded("moderation", self.moderation.act(ev, matches))
        if outcome is None:
            # Acting failed: do not mark the message handled, so a repeated delivery
            # (a replayed sync, a catch-up) tries again; quote nothing of it anywhere.
            crisis = crisis or bool(matches)
            support = support or crisis
        hidden = bool(outcome and outcome.hidden)

        async def follow_up() -> None:
            await self._follow_up(ev, matches, hidden=hidden, crisis=crisis, support=support)
            if outcome is not None:
                # Only now is the post handled: a crash before this point means the
                # platform's repeated delivery completes it (every step is idempotent).
                await self.store.mark_message_seen(ev.community_id, ev.message.message_id,
                                                   digest, self.clock.now())

        if lane == URGENT:
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._enqueue(ev.community_id,
                          _WorkItem(f"follow-up of {_label(ev)}", follow_up, done))
            return done
        await follow_up()
        return None

    async def _follow_up(self, ev: MessagePosted, matches: list[Match], *, hidden: bool,
                         crisis: bool, support: bool) -> None:
        """The non-urgent part of handling a post: content warnings, counting, welcome,
        unanswered tracking. Crisis and concern posts are never redirected or hidden here."""
        if not hidden and not support:
            hidden = bool(await self._guarded("content warnings", self.cw.check(ev, matches)))
        if ev.edited:
            if hidden or crisis:
                # hidden: stop tracking it; crisis: leave it to the alert, quote nothing
                await self._guarded("unanswered", self.unanswered.on_hidden(ev, crisis=crisis))
            return
        first_post = await self.store.record_post(
            ev.community_id, ev.author.id, ev.author.name, ev.at,
            is_reply_to_other=bool(ev.reply_to or (ev.thread_root and
                                                   ev.thread_root != ev.message.message_id)))
        if first_post and not hidden and not crisis and await self.is_newcomer(ev):
            await self._guarded("welcome", self.welcome.on_first_post(ev))
        await self._guarded("unanswered", self.unanswered.on_message(ev, hidden=hidden,
                                                                     crisis=crisis))

    async def on_private_message(self, ev: MessagePosted, matches: list[Match] | None,
                                 detected: bool = False) -> None:
        """A private message to Haven: crisis detection only (crisis and concern rules).

        Nothing punitive, no hiding, no tracking, no welcome: moderators are alerted with
        the conversation marked private, and the member gets an immediate reply.
        """
        digest = _digest(ev)
        if await self.store.message_seen(ev.community_id, ev.message.message_id, digest):
            return
        if not detected or matches is None:
            matches = await self.detect(ev, matches)
        support = [m for m in matches
                   if m.rule.category in SUPPORT_CATEGORIES and not m.rule.shadow]
        if support:
            done = await self._guarded("private message",
                                       self.alerts.on_private_message(ev, support))
            if done is None:
                return  # failed: a repeated delivery tries again
        await self.store.mark_message_seen(ev.community_id, ev.message.message_id, digest,
                                           self.clock.now())

    async def record_automod(self, *, community_id: str, user_id: str, action: str, rule: str,
                             keyword: str | None, channel_id: str | None, at: float) -> int:
        """Record an action of the platform's own automod (Discord AutoMod) as a case.

        The matched keyword is kept as the case's reason (never the message text),
        so native blocks appear in ``history`` next to Haven's own cases.
        """
        reason = f"platform automod {action}" + (f" on keyword {keyword!r}" if keyword else "")
        return await self.store.add_case(community_id, "automod", f"automod:{rule}", reason,
                                         "automod", "Platform AutoMod", user_id, user_id, at,
                                         channel_id)

    async def is_newcomer(self, ev: MessagePosted) -> bool:
        """Whether the author is new: welcomed by Haven, or joined within ``newcomer_days``."""
        if self.perms.is_moderator(ev.author):
            return False
        joined = ev.author.joined_at
        if joined is not None:
            return ev.at - joined < self.config.community.newcomer_days * 86400
        row = await self.store.get_member(ev.community_id, ev.author.id)
        return row is None or row.welcomed_at is not None or row.first_post_at == ev.at

    async def _guarded(self, what: str, work: Awaitable[Any]) -> Any:
        """Run one feature's work; log and swallow its errors so the others still run."""
        try:
            return await work
        except Exception:
            self.errors += 1
            log.exception("feature %s failed", what)
            return None

    async def _purge_job(self, job: Job) -> None:
        cutoff = self.clock.now() - self.config.moderation.retention_days * 86400
        purged = await self.store.purge_text_before(cutoff)
        await self.store.prune_seen_before(self.clock.now() - SEEN_KEEP)
        await self.store.prune_outbox_before(self.clock.now() - SEEN_KEEP)
        await self.store.prune_deliveries_before(self.clock.now() - SEEN_KEEP)
        if purged:
            log.info("retention: purged text from %d rows older than %s days", purged,
                     self.config.moderation.retention_days)
        await self.store.finish_and_schedule(job.id, self.clock.now(), NewJob(
            "*", "purge_text", "daily", self.clock.now() + PURGE_INTERVAL))


def _needs_urgency(m: Match) -> bool:
    """Whether a match needs the urgent lane: support, method, or an alert to moderators."""
    rule = m.rule
    if rule.shadow:
        return False
    return rule.category in SUPPORT_CATEGORIES or rule.category == "method" or any(
        a.name == "alert_moderators" for a in rule.actions)


def _digest(ev: MessagePosted) -> str:
    """A short fingerprint of one version of a message (never stored as text)."""
    return hashlib.sha256(f"{ev.edited}:{ev.text}".encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _label(event: Event) -> str:
    """A log label with ids only: message text never goes into logs."""
    parts = [type(event).__name__, f"community={event.community_id}"]
    channel = getattr(event, "channel", None)
    if channel is not None:
        parts.append(f"channel={channel.id}")
    message = getattr(event, "message", None)
    if message is not None:
        parts.append(f"message={message.message_id}")
    if isinstance(event, CommandInvoked):
        parts.append(f"command={event.name}")
    return " ".join(parts)

"""The core: the running Haven, composed of its parts.

:class:`Haven` owns the per-community queues (:mod:`bot.core.dispatch`), the
decision step (:mod:`bot.core.triage`), the ordered message pipeline
(:mod:`bot.core.pipeline`), the scheduler and the command router. It knows no
feature: the composition root (:mod:`bot.app`) builds the features from their
specs and installs what they declare (stages, event handlers, job kinds,
commands). Adapters reach it only through the :class:`bot.core.ports.CoreSink`
port (:meth:`submit`, :meth:`handle`, :meth:`mark_ready`, :meth:`drain`,
:attr:`services`). The core never imports a platform library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.bounded import BoundedPlatform
from bot.core.clock import Clock, RealClock
from bot.core.commandspec import CommandSpec
from bot.core.dispatch import NORMAL, URGENT, Dispatch, Lane
from bot.core.events import ButtonPressed, CommandInvoked, CommandResult, Event, MessagePosted
from bot.core.feature import EventHandler, Feature, JobKind, Stage
from bot.core.messenger import Messenger
from bot.core.metrics import Metrics
from bot.core.permissions import Permissions
from bot.core.pipeline import Pipeline
from bot.core.ports import AdapterServices, Platform
from bot.core.scheduler import JobHandler, Scheduler
from bot.core.templates import Templates
from bot.core.triage import Detector, RulesInForce, Triage
from bot.rules.engine import Rulebook
from bot.rules.helplines import Helplines
from bot.rules.model import Match, MatchContext
from bot.storage.rows import Job, NewJob

if TYPE_CHECKING:
    from bot.core.config import Config
    from bot.storage.store import Store

log = logging.getLogger(__name__)

PURGE_INTERVAL = 24 * 3600.0
READY_TIMEOUT = 30.0
"""Fallback: start the timers this long after start-up if the adapter never says it is ready."""
SEEN_KEEP = 7 * 86400.0
"""How long handled-message markers, delivery ids and outbox rows are kept to drop repeats."""


class CommandRouter(Protocol):
    """Runs commands and alert buttons (permission checks, once per delivery)."""

    specs: tuple[CommandSpec, ...]

    async def run(self, ev: CommandInvoked) -> CommandResult:
        """Run a command."""
        ...

    async def button(self, ev: ButtonPressed) -> CommandResult:
        """Handle an alert button."""
        ...


class Haven:
    """The platform-neutral bot. Built by :func:`bot.app.create`; then :meth:`start`."""

    def __init__(self, config: Config, platform: Platform, store: Store, rules: RulesInForce,
                 helplines: Helplines, clock: Clock | None = None,
                 semantic: Detector | None = None,
                 template_defaults: Mapping[str, str] | None = None,
                 moderator_power_level: int = 50) -> None:
        self.config = config
        bounded = platform if isinstance(platform, BoundedPlatform) else BoundedPlatform(platform)
        # store first, then act: what was stored is on disk before a platform call
        bounded.before = getattr(store.database, "durable", None)
        self.platform: Platform = bounded
        self.store = store
        self.rules = rules
        self.helplines = helplines
        self.clock: Clock = clock or RealClock()
        self.templates = Templates(config.templates, template_defaults)
        self.perms = Permissions(config, moderator_power_level)
        self.messenger = Messenger(self.platform, store.ledger, store.kv, self.clock,
                                   self.templates, config.channels.moderators,
                                   config.moderation.explain_in_channel)
        self.scheduler = Scheduler(store.jobs, self.clock, runner=self._run_job_in_queue)
        self.scheduler.register("purge_text", self._purge_job)
        self.errors = 0
        self.triage = Triage(config, self.perms, rules, semantic, self.failed)
        self.pipeline = Pipeline((), self.triage, store.ledger, self.clock, config, self.failed)
        self.dispatch = Dispatch(self.triage, self._on_message, self._on_event, self.count_error,
                                 self.templates)
        self.pipeline.dispatch = self.dispatch
        self.metrics = Metrics()
        self.dispatch.observe = self.metrics.handled
        self.metrics.depths = self.dispatch.depths
        self.platform.on_error = self.metrics.platform_error
        self.features: dict[str, Feature] = {}
        self.commands: CommandRouter | None = None
        self._handlers: dict[type, list[EventHandler]] = {}
        self._urgent_jobs: set[str] = set()
        self._ready = asyncio.Event()
        self._gate: asyncio.Task[None] | None = None

    def install(self, features: Mapping[str, Feature], commands: CommandRouter) -> None:
        """Take in the built features (in order) and the command router."""
        self.features = dict(features)
        self.commands = commands
        stages: list[Stage] = []
        for feature in features.values():
            stages.extend(feature.stages())
            for kind, handler in feature.handlers().items():
                self._handlers.setdefault(kind, []).append(handler)
            for job in feature.jobs():
                self._register_job(job)
        self.pipeline.stages = sorted(stages, key=lambda s: s.order)

    def _register_job(self, job: JobKind) -> None:
        if job.max_backoff is None:
            self.scheduler.register(job.kind, job.run, first=job.first)
        else:
            self.scheduler.register(job.kind, job.run, max_backoff=job.max_backoff,
                                    first=job.first)
        if job.urgent:
            self._urgent_jobs.add(job.kind)

    @property
    def semantic(self) -> Detector | None:
        """The semantic detection stage, if on."""
        return self.triage.semantic

    @property
    def rulebook(self) -> Rulebook:
        """The rulebook in force."""
        return self.rules.current()

    @property
    def services(self) -> AdapterServices:
        """What adapters may use besides submit/handle (the inbound port)."""
        specs = self.commands.specs if self.commands is not None else ()
        return AdapterServices(kv=self.store.kv, clock=self.clock, templates=self.templates,
                               notices=self.messenger, commands=specs)

    async def durable(self) -> None:
        """Make everything stored so far survive a power cut (the store's ``durable``;
        an engine whose every commit is durable has nothing to do)."""
        durable = getattr(self.store.database, "durable", None)
        if durable is not None:
            await durable()

    def failed(self, what: str) -> None:
        """Count and log a failure caught somewhere (call inside ``except``)."""
        self.errors += 1
        log.exception("%s failed", what)

    def count_error(self) -> None:
        """Count a failure already logged."""
        self.errors += 1

    # -- life cycle -------------------------------------------------------------

    async def start(self, run_scheduler: bool = True) -> None:
        """Schedule housekeeping, let features finish interrupted work, and (optionally)
        start the timer loop.

        The loop starts once the adapter calls :meth:`mark_ready` (after it has
        caught up on messages posted while Haven was down, so overdue reminders
        about posts answered meanwhile are not sent), or after a time-out.
        """
        await self.scheduler.schedule("*", "purge_text", "daily", self.clock.now())
        for feature in self.features.values():
            await feature.start()
        if run_scheduler:
            self._gate = asyncio.create_task(self._start_scheduler_when_ready())

    def mark_ready(self) -> None:
        """Adapters: the platform is connected and missed messages are queued."""
        self._ready.set()

    @property
    def ready(self) -> bool:
        """Whether the adapter has said it is connected and caught up."""
        return self._ready.is_set()

    async def readiness(self) -> list[str]:
        """What keeps this process from being ready (empty: ready): the adapter not yet
        connected and caught up, or the database not answering."""
        problems = [] if self.ready else ["the platform is not connected and caught up yet"]
        try:
            await self.store.jobs.ping()
        except Exception as exc:  # any failure means not ready; say which kind
            problems.append(f"the database does not answer ({type(exc).__name__})")
        return problems

    async def scrape(self) -> bytes:
        """The metrics, with the database's figures read now (Prometheus text format)."""
        await self.metrics.refresh(self.clock.now(), self.store.alerts, self.store.jobs,
                                   self.ready, self.scheduler.lost)
        return self.metrics.exposition()

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
        await self.dispatch.stop()
        if self.semantic is not None:
            self.semantic.close()
        await self.store.close()

    # -- the inbound port ---------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Queue an event for its community and return at once."""
        self.dispatch.route(event)

    async def handle(self, event: Event) -> CommandResult | None:
        """Queue an event and wait until it has been handled; returns a command's answer."""
        return await self.dispatch.handle(event)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every community queue is empty and what it stored has been written
        (tests and shutdown)."""
        done = await self.dispatch.drain(timeout)
        # deferred writes settled (through a repository's database: a store already
        # closed, whose close settled them, has none left and no database to hand out)
        await self.store.ledger.db.settle()
        return done

    async def _on_event(self, event: Event) -> CommandResult | None:
        if isinstance(event, MessagePosted):
            await self.on_message(event)
        elif isinstance(event, CommandInvoked | ButtonPressed):
            if self.commands is None:
                return CommandResult(self.templates.render("still_starting"), ok=False)
            if isinstance(event, CommandInvoked):
                result = await self.commands.run(event)
            else:
                result = await self.commands.button(event)
            await self.durable()  # what the answer reports is on disk
            return result
        else:
            for handler in self._handlers.get(type(event), ()):
                try:
                    await handler(event)
                except Exception:
                    self.failed(f"handler {getattr(handler, '__qualname__', handler)}")
        return None

    def _on_message(self, ev: MessagePosted, matches: list[Match] | None, lane: Lane,
                    detected: bool) -> Awaitable[asyncio.Future[Any] | None]:
        return self.on_message(ev, matches, lane, detected)

    async def on_message(self, ev: MessagePosted, matches: list[Match] | None = None,
                         lane: Lane = NORMAL, detected: bool = False) -> asyncio.Future[Any] | None:
        """Run a post through the pipeline (the dispatch calls this; adapters use :meth:`submit`)."""
        return await self.pipeline.run(ev, matches, lane, detected)

    def context(self, ev: MessagePosted) -> MatchContext:
        """The rule-scope context of a message: channel names, roles, newcomer."""
        return self.triage.context(ev)

    def evaluate(self, ev: MessagePosted) -> list[Match]:
        """Decide: which rules match this message (pure; nothing is done)."""
        return self.triage.evaluate(ev)

    async def detect(self, ev: MessagePosted, matches: list[Match] | None = None) -> list[Match]:
        """Decide: the rules, then the semantic stage (it only adds matches)."""
        return await self.triage.detect(ev, matches)

    async def _run_job_in_queue(self, job: Job, handler: JobHandler) -> None:
        lane: Lane = URGENT if job.kind in self._urgent_jobs else NORMAL
        await self.dispatch.run_in_lane(job.community_id, lane, f"job {job.id} ({job.kind})",
                                        lambda: self.scheduler.execute(job, handler),
                                        f"job:{job.kind}")

    async def advance(self, seconds: float) -> None:
        """Tests and the demo: move a virtual clock forward, running jobs as they fall due."""
        set_time = getattr(self.clock, "set", None)
        if set_time is None:
            raise TypeError("advance() needs a VirtualClock")
        target = self.clock.now() + seconds
        await self.drain()
        while True:
            next_due = await self.store.jobs.next_due_at()
            if next_due is None or next_due > target:
                break
            set_time(max(self.clock.now(), next_due))
            await self.scheduler.run_due()
            await self.drain()
        set_time(target)
        await self.scheduler.run_due()
        await self.drain()

    def command_hint(self, name: str, *args: str) -> str:
        """How a moderator types command ``name`` on this platform (``/claim 3``,
        ``!haven claim 3``): the prefix comes from the platform or config, never the core."""
        prefix = self.platform.command_prefix or "/"
        head = f"{prefix}{name}" if prefix.endswith(("/", " ")) else f"{prefix} {name}"
        return " ".join([head, *args])

    async def _purge_job(self, job: Job) -> None:
        cutoff = self.clock.now() - self.config.moderation.retention_days * 86400
        purged = await self.store.privacy.purge_text(cutoff)
        await self.store.ledger.prune_seen_before(self.clock.now() - SEEN_KEEP)
        await self.store.ledger.prune_outbox_before(self.clock.now() - SEEN_KEEP)
        await self.store.ledger.prune_deliveries_before(self.clock.now() - SEEN_KEEP)
        if purged:
            log.info("retention: purged text from %d rows older than %s days", purged,
                     self.config.moderation.retention_days)
        await self.store.jobs.finish_and_schedule(job.id, self.clock.now(), NewJob(
            "*", "purge_text", "daily", self.clock.now() + PURGE_INTERVAL))

"""What a feature is and what it receives: the narrow door between a feature and the core.

A feature is built by its :class:`FeatureSpec` from a frozen :class:`FeatureContext`
(its own config section, its repositories, the messenger, scheduler, clock,
templates, permissions, the time-bounded platform) and, when it needs a sibling,
from :class:`Siblings` typed by the protocols in :mod:`bot.core.contracts`. It
declares what it handles: pipeline :class:`Stage` s for messages, handlers for
other events, and job kinds. The composition root (:mod:`bot.app`) builds the
features in the order of ``bot.features.FEATURES``; the core never imports one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from bot.core.clock import Clock
from bot.core.commandspec import CommandSpec
from bot.core.contracts import RulesHolder
from bot.core.events import Event, MessagePosted
from bot.core.messenger import Messenger
from bot.core.permissions import Permissions
from bot.core.ports import KeyValue, Platform
from bot.core.templates import Templates
from bot.core.triage import Detector
from bot.rules.helplines import Helplines
from bot.rules.model import SUPPORT_CATEGORIES, Match
from bot.storage.rows import Job

if TYPE_CHECKING:
    from bot.core.config import Config
    from bot.core.sections import Section
    from bot.storage.database import Database

C = TypeVar("C")
"""A feature's config section (a frozen dataclass), or ``None``."""
R = TypeVar("R")
"""A feature's repositories (a repository or a small frozen bundle), or ``None``."""
T = TypeVar("T")

Lane = Literal["urgent", "follow_up", "private"]
"""Where a stage runs: the urgent lane (safety first), behind it in order, or for DMs."""
Guard = Literal["edited", "hidden", "support", "crisis"]
"""Why a stage is skipped for a post: an edit, a hidden post, a crisis or concern post."""


@dataclass
class MessageOutcome:
    """The one piece of state the stages share while a post passes the pipeline."""

    matches: list[Match]
    crisis: bool = False
    """A non-shadow crisis rule matched (decided by the rules, not by acting on them)."""
    concern: bool = False
    """A non-shadow crisis or concern rule matched (rules or the semantic stage)."""
    hidden: bool = False
    first_post: bool = False
    """The author's first post (set by the members stage)."""
    failed: bool = False
    """A critical stage failed: the post is not marked handled, so a repeat retries it."""

    @classmethod
    def of(cls, matches: list[Match]) -> MessageOutcome:
        """The outcome before any stage ran: crisis and concern decided from the matches."""
        crisis = any(m.rule.category == "crisis" and not m.rule.shadow for m in matches)
        concern = crisis or any(m.rule.category in SUPPORT_CATEGORIES and not m.rule.shadow
                                for m in matches)
        return cls(list(matches), crisis=crisis, concern=concern)

    @property
    def support(self) -> bool:
        """A crisis or concern post: never redirected, hidden or punished."""
        return self.crisis or self.concern


StageRun = Callable[[MessagePosted, MessageOutcome], Awaitable[None]]
EventHandler = Callable[[Any], Awaitable[Any]]
JobHandler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True)
class Stage:
    """One step of the message pipeline, declared by a feature."""

    name: str
    order: int
    lane: Lane
    run: StageRun
    skip: frozenset[Guard] = frozenset()
    critical: bool = False
    """If it fails, the post is treated as a crisis for the rest (quote nothing) and is
    not marked handled, so a repeated delivery tries again."""

    def skipped(self, ev: MessagePosted, outcome: MessageOutcome) -> bool:
        """Whether one of this stage's guards holds for this post (runs for every stage of
        every post: no allocation)."""
        skip = self.skip
        if not skip:
            return False
        return bool(("edited" in skip and ev.edited) or ("hidden" in skip and outcome.hidden)
                    or ("support" in skip and outcome.support)
                    or ("crisis" in skip and outcome.crisis))


@dataclass(frozen=True)
class JobKind:
    """A durable job kind a feature handles (registered with the scheduler)."""

    kind: str
    run: JobHandler
    max_backoff: float | None = None
    first: bool = False
    urgent: bool = False
    """Runs in the urgent lane (alerts)."""


class Feature:
    """Base of a built feature: declares what it handles (everything optional)."""

    def stages(self) -> Sequence[Stage]:
        """The pipeline stages this feature adds."""
        return ()

    def handlers(self) -> Mapping[type[Event], EventHandler]:
        """Handlers of non-message events (joins, deletions, automod actions)."""
        return {}

    def jobs(self) -> Sequence[JobKind]:
        """Durable job kinds this feature runs."""
        return ()

    async def start(self) -> None:
        """Called once when the core starts (finish work interrupted by a crash)."""


class ErrorCounter(Protocol):
    """Where a feature reports a failure it caught (logged with context and counted)."""

    def failed(self, what: str) -> None:
        """Count one failure of ``what`` (call inside ``except``; the traceback is logged)."""
        ...


class JobScheduler(Protocol):
    """The scheduler as a feature sees it."""

    async def schedule(self, community_id: str, kind: str, key: str, due_at: float,
                       payload: dict[str, Any] | None = None) -> int | None:
        """Add a durable job (one pending job per kind and key)."""
        ...

    async def cancel(self, kind: str, key_prefix: str) -> int:
        """Cancel pending jobs of ``kind`` whose key starts with ``key_prefix``."""
        ...

    async def cancel_key(self, kind: str, key: str) -> int:
        """Cancel the pending job of ``kind`` whose key is exactly ``key``."""
        ...

    async def run_now(self, job_id: int, job: Job | None = None) -> None:
        """Run one job now (in its lane); ``job``: the job as just read (saves a read)."""
        ...

    async def get_job(self, job_id: int) -> Job | None:
        """A job by id."""
        ...

    async def pending_job(self, kind: str, key: str) -> Job | None:
        """The pending job of ``kind`` with ``key``, if any."""
        ...

    async def set_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        """Replace a pending job's payload."""
        ...

    async def bring_forward(self, kind: str, due_at: float) -> int:
        """Make pending jobs of ``kind`` due no later than ``due_at``."""
        ...


@dataclass(frozen=True)
class FeatureContext(Generic[C, R]):
    """All a feature receives. Frozen: features never see the core, the database or
    each other's objects (a sibling comes through :class:`Siblings`)."""

    name: str
    config: C
    """Its own config section."""
    core: Config
    """The shared settings (community, channels, roles, moderation); read-only."""
    repo: R
    messenger: Messenger
    scheduler: JobScheduler
    clock: Clock
    templates: Templates
    perms: Permissions
    platform: Platform
    """The platform, every call bounded in time."""
    kv: KeyValue
    helplines: Helplines
    transaction: Callable[[], AbstractAsyncContextManager[None]]
    """One database transaction (never call the platform inside it)."""
    errors: ErrorCounter
    hint: Callable[..., str]
    """``hint("claim", "3")``: how a moderator types a command here (``/claim 3``)."""
    rules: RulesHolder
    """The rulebook in force (read it with ``current()``; ``rules reload`` replaces it)."""
    detector: Callable[[], Detector | None]
    """The semantic stage now in use, if on (for dry runs)."""
    commands: Callable[[], tuple[CommandSpec, ...]]
    """Every command Haven has (for help texts)."""
    publish: Callable[[Event], None]
    """Tell the other features something (``Flagged``, ``AlertResolved``...): queued in
    the community's order and handed to every feature that declares a handler for it."""


class Siblings:
    """The features built so far, handed out by the protocol a feature needs of them."""

    def __init__(self, built: Mapping[str, Feature]) -> None:
        self._built = built

    def find(self, name: str, kind: type[T]) -> T | None:
        """Feature ``name`` as ``kind`` if it is built (listed in ``wants``), else ``None``:
        for a sibling a feature can do without."""
        feature = self._built.get(name)
        return feature if isinstance(feature, kind) else None

    def get(self, name: str, kind: type[T]) -> T:
        """Feature ``name`` as ``kind`` (a :mod:`bot.core.contracts` protocol)."""
        feature = self._built.get(name)
        if feature is None:
            raise LookupError(f"feature {name!r} is not built yet: list it in `needs`")
        if not isinstance(feature, kind):
            raise TypeError(f"feature {name!r} does not provide {kind.__name__}")
        return feature


@dataclass(frozen=True)
class FeatureSpec(Generic[C, R]):
    """How to build one feature: the one object a feature package exports as ``SPEC``."""

    name: str
    build: Callable[[FeatureContext[C, R], Siblings], Feature]
    section: Section[C] | None = None
    """Its config section (key and dataclass); ``None``: the context's config is ``None``."""
    repository: Callable[[Database], R] | None = None
    commands: Callable[[Any, FeatureContext[C, R]], object] | None = None
    """Builds its command group (a class with ``@command`` methods) from the built feature."""
    templates: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Default texts it owns (names unique across features; admins override them)."""
    needs: tuple[str, ...] = ()
    """Siblings built before it and passed to ``build``."""
    wants: tuple[str, ...] = ()
    """Siblings it uses if they are listed (built first when present)."""

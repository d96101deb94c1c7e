"""The ports of the core: what it asks of a chat platform, and how adapters reach it.

:class:`Platform` holds every verb the core needs from a chat platform; optional
abilities are *declared* in :attr:`Platform.capabilities` (never probed with
``getattr``) and used through :func:`capability`. :class:`CoreSink` is the inbound
port: the only way an adapter talks to the core, with :class:`AdapterServices`
(key-value store, clock, templates, moderator notices, the command list) as all
it may use besides.

Channels and roles are named by what the admin wrote in config: an id, a name
or ``#name``. Adapters resolve them. Every verb may raise a
:class:`bot.core.errors.PlatformError` subclass; the core handles those.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar, cast, runtime_checkable

from bot.core.clock import Clock
from bot.core.commandspec import CommandSpec
from bot.core.errors import MissingPermission
from bot.core.events import CommandResult, Event, Member, MessageRef, Outgoing
from bot.core.templates import Templates

T = TypeVar("T")


class Capability(StrEnum):
    """An optional ability a platform declares in :attr:`Platform.capabilities`."""

    ATTACHMENTS = "attachments"
    """:attr:`Outgoing.attachments` are delivered as files."""
    BUTTONS = "buttons"
    """Alerts get Claim/Resolve buttons; elsewhere texts name the commands."""
    FORUM_TAGS = "forum_tags"
    """:meth:`Platform.tag_post` changes something (forum posts have tags)."""
    REPOST_AS_AUTHOR = "repost_as_author"
    """:meth:`Platform.repost` shows the author's name and avatar (a webhook)."""
    ROLE_MEMBERS = "role_members"
    """The platform implements :class:`RoleMembers`."""
    CHANNEL_PRIVACY = "channel_privacy"
    """The platform implements :class:`ChannelPrivacy`."""
    SLOW_MODE = "slow_mode"
    """The platform implements :class:`SlowMode`."""
    TIMEOUT_EXPIRES = "timeout_expires"
    """The platform lifts a timeout by itself; otherwise it implements :class:`LiftTimeout`
    and the core schedules the lifting as a durable job."""


@runtime_checkable
class Platform(Protocol):
    """What the core asks of an adapter."""

    name: str
    """``discord``, ``matrix`` or ``console``."""

    capabilities: frozenset[Capability]
    """The optional abilities this platform has (see :class:`Capability`)."""

    @property
    def command_prefix(self) -> str:
        """How a command starts on this platform: ``/`` or the Matrix ``!haven``."""
        ...

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in ``channel`` (an id, name or ``#name``)."""
        ...

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message, inside its thread when it has one."""
        ...

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send a private message; raises ``PrivateMessagesClosed`` if refused."""
        ...

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text of a message the bot sent (alert status updates)."""
        ...

    async def hide(self, ref: MessageRef, reason: str) -> None:
        """Delete (Discord) or redact (Matrix) a message, with a reason for the audit log."""
        ...

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        """Stop a member posting for ``seconds`` (Discord timeout, Matrix power level)."""
        ...

    async def repost(
        self, community_id: str, channel: str, author: Member, msg: Outgoing
    ) -> MessageRef:
        """Post ``msg`` in ``channel`` on behalf of ``author`` (webhook or attribution)."""
        ...

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        """Add and remove tags (by name) on a forum post; a no-op where posts have no tags."""
        ...

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """Find a member of the community by id, mention or (unique) name.

        ``query`` is what a moderator typed: ``<@123>``, ``123``, ``@bob:server``,
        ``bob`` or a display name. ``None`` when no such member exists (or the
        name is ambiguous); the answer carries the member's display name.
        """
        ...

    def user_mention(self, user_id: str) -> str:
        """Text that mentions a user (``<@id>``, a Matrix pill, ``@name``)."""
        ...

    def role_mention(self, community_id: str, role: str) -> str:
        """Text that mentions a role named in config."""
        ...

    def channel_mention(self, community_id: str, channel: str) -> str:
        """Text that links a channel named in config."""
        ...

    def community_name(self, community_id: str) -> str:
        """Display name of the community (server or space)."""
        ...


@runtime_checkable
class RoleMembers(Protocol):
    """Capability ``ROLE_MEMBERS``: who holds the configured roles, as the platform knows it."""

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """Ids of the members holding ``role`` (a name or id from config); ``None`` when
        the platform cannot say for sure (no such role, an incomplete member list)."""
        ...


@runtime_checkable
class ChannelPrivacy(Protocol):
    """Capability ``CHANNEL_PRIVACY``: whether the moderators' channel is private."""

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """``False`` if members can read the moderators' channel; ``None`` if unknown."""
        ...


@runtime_checkable
class SlowMode(Protocol):
    """Capability ``SLOW_MODE``: the platform can slow a channel down."""

    async def set_slow_mode(self, community_id: str, channel: str, seconds: int) -> None:
        """Allow one post per ``seconds`` per member in ``channel``; ``0`` turns it off."""
        ...


@runtime_checkable
class LiftTimeout(Protocol):
    """A platform without ``TIMEOUT_EXPIRES``: the core lifts timeouts through this."""

    async def lift_timeout(self, community_id: str, user_id: str) -> None:
        """End the timeout of ``user_id`` now."""
        ...


def capability(platform: object, cap: Capability, kind: type[T]) -> T | None:
    """``platform`` as ``kind`` if it *declares* ``cap`` and implements ``kind``, else ``None``.

    A proxy (the core's time-bounded platform) is checked through its ``wrapped``
    platform and returned itself, so the calls stay bounded.
    """
    if cap not in getattr(platform, "capabilities", frozenset()):
        return None
    if isinstance(getattr(platform, "wrapped", platform), kind):
        return cast(T, platform)
    return None


def lift_timeout_of(platform: object) -> LiftTimeout | None:
    """The platform as :class:`LiftTimeout` when timeouts must be lifted by Haven
    (it lacks ``TIMEOUT_EXPIRES`` and implements ``lift_timeout``), else ``None``."""
    if Capability.TIMEOUT_EXPIRES in getattr(platform, "capabilities", frozenset()):
        return None
    if isinstance(getattr(platform, "wrapped", platform), LiftTimeout):
        return cast(LiftTimeout, platform)
    return None


def has(platform: object, cap: Capability) -> bool:
    """Whether ``platform`` declares ``cap``."""
    return cap in getattr(platform, "capabilities", frozenset())


class KeyValue(Protocol):
    """Small durable values (an adapter's sync position, a feature's state)."""

    async def get(self, key: str) -> str | None:
        """The value of ``key``, or ``None``."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...


class ModeratorNotices(Protocol):
    """How an adapter tells moderators something (catch-up gaps, missing permissions)."""

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef | None:
        """Post ``msg`` in ``channel``; errors are handled and logged."""
        ...

    async def report_missing(self, community_id: str, exc: MissingPermission) -> None:
        """Tell moderators (once) that Haven lacks a permission."""
        ...


@dataclass(frozen=True)
class AdapterServices:
    """What an adapter may use besides the sink: no store, no features, no probing."""

    kv: KeyValue
    clock: Clock
    templates: Templates
    notices: ModeratorNotices
    commands: tuple[CommandSpec, ...]
    """The commands, for slash-command registration and parsing ``!haven`` messages."""


@runtime_checkable
class CoreSink(Protocol):
    """The inbound port: the only way an adapter talks to the core."""

    @property
    def services(self) -> AdapterServices:
        """Services the adapter may use."""
        ...

    def submit(self, event: Event) -> None:
        """Queue an event for its community and return at once."""
        ...

    async def handle(self, event: Event) -> CommandResult | None:
        """Queue an event, wait until handled; returns a command's answer."""
        ...

    def mark_ready(self) -> None:
        """The platform is connected and missed messages are queued."""
        ...

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until queued work is done."""
        ...


class Adapter(Platform, Protocol):
    """A platform that also runs: connects, feeds events to the core, stops."""

    def attach(self, core: CoreSink) -> None:
        """Give the adapter the core it feeds events to (before :meth:`run`)."""
        ...

    async def run(self) -> None:
        """Connect and deliver events until :meth:`close` is called."""
        ...

    async def close(self) -> None:
        """Disconnect cleanly."""
        ...

"""The :class:`Platform` protocol: every verb the core needs from a chat platform.

Channels and roles are named by what the admin wrote in config: an id, a name
or ``#name``. Adapters resolve them. Every verb may raise a
:class:`bot.errors.PlatformError` subclass; the core handles those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.events import Member, MessageRef, Outgoing

if TYPE_CHECKING:
    from bot.core import Haven


@runtime_checkable
class Platform(Protocol):
    """What the core asks of an adapter."""

    name: str
    """``discord``, ``matrix`` or ``console``."""

    supports_attachments: bool
    """Whether :attr:`Outgoing.attachments` are delivered as files."""

    supports_buttons: bool
    """Whether alerts get Claim/Resolve buttons (Discord); elsewhere texts name the commands."""

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

    async def kick(self, community_id: str, user_id: str, reason: str) -> None:
        """Remove a member from the community."""
        ...

    async def ban(self, community_id: str, user_id: str, reason: str) -> None:
        """Ban a member from the community."""
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


class Adapter(Platform, Protocol):
    """A platform that also runs: connects, feeds events to the core, stops."""

    def attach(self, core: Haven) -> None:
        """Give the adapter the core it feeds events to (before :meth:`run`)."""
        ...

    async def run(self) -> None:
        """Connect and deliver events until :meth:`close` is called."""
        ...

    async def close(self) -> None:
        """Disconnect cleanly."""
        ...

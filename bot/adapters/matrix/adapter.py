"""The Matrix adapter: matrix-nio's ``AsyncClient`` <-> Haven's neutral events and verbs.

:class:`MatrixAdapter` is a thin facade implementing :class:`bot.core.ports.Adapter`
over parts by job, all sharing one :class:`~bot.adapters.matrix.context.MatrixContext`:

* :mod:`~bot.adapters.matrix.session`: login, the sync loop, sync checkpoints, closing;
* :mod:`~bot.adapters.matrix.inbound`: timelines -> events, catch-up, invites;
* :mod:`~bot.adapters.matrix.commands`: ``!haven`` commands;
* :mod:`~bot.adapters.matrix.outbound`: send, reply, edit, hide, upload, repost;
* :mod:`~bot.adapters.matrix.dm`: private messages and direct rooms;
* :mod:`~bot.adapters.matrix.rooms`: room state, power levels, members, names, mentions;
* :mod:`~bot.adapters.matrix.moderation`: timeouts as power-level mutes, lifted by the core;
* :mod:`~bot.adapters.matrix.checks`: ``check --online`` and the private moderators' room;
* :mod:`~bot.adapters.matrix.api`: calls, error translation, rate limits.

**Community.** One Matrix deployment is one community: ``matrix.community_id`` if
set, else the first configured space, else the bot's server name. All events and
verbs use that id, so the core's per-community queue keeps order.

The adapter talks to the core only through :class:`~bot.core.ports.CoreSink`
(``submit``, ``handle``, ``mark_ready``, ``drain`` and ``services``).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from nio import AsyncClient, AsyncClientConfig
from nio.crypto import ENCRYPTION_ENABLED

from bot.adapters.matrix.api import Api
from bot.adapters.matrix.checks import Checks
from bot.adapters.matrix.commands import MatrixCommands
from bot.adapters.matrix.config import MATRIX_SECTION
from bot.adapters.matrix.context import MatrixContext
from bot.adapters.matrix.dm import DM_INVITE_TIMEOUT, DirectChats
from bot.adapters.matrix.inbound import BACKFILL_MAX_EVENTS, BACKFILL_PAGE, Inbound
from bot.adapters.matrix.moderation import MatrixModeration
from bot.adapters.matrix.outbound import Outbound
from bot.adapters.matrix.rooms import Rooms
from bot.adapters.matrix.session import Session
from bot.core.events import Member, MessageRef, Outgoing
from bot.core.ports import Capability, CoreSink

if TYPE_CHECKING:
    from bot.core.config import Config

log = logging.getLogger(__name__)


def e2e_available() -> bool:
    """Whether matrix-nio's encryption extra (vodozemac) is installed."""
    return bool(ENCRYPTION_ENABLED)


class MatrixAdapter:
    """Haven on Matrix (see the module docstring)."""

    name = "matrix"
    capabilities = frozenset({Capability.ATTACHMENTS, Capability.ROLE_MEMBERS,
                              Capability.CHANNEL_PRIVACY})

    def __init__(
        self,
        config: Config,
        *,
        access_token: str | None = None,
        password: str | None = None,
        client: AsyncClient | None = None,
        sync_timeout_ms: int = 30000,
        max_rate_retries: int = 3,
        max_rate_wait: float = 10.0,
        backfill_page: int = BACKFILL_PAGE,
        backfill_max: int = BACKFILL_MAX_EVENTS,
        dm_invite_timeout: float = DM_INVITE_TIMEOUT,
    ) -> None:
        mx = config.get(MATRIX_SECTION)
        encryption = bool(mx.store_path) and e2e_available()
        if mx.store_path and not encryption:
            log.warning("matrix.store_path is set but matrix-nio[e2e] is not installed: "
                        "Haven cannot read or write end-to-end encrypted rooms")
        if client is None:
            if mx.store_path:
                os.makedirs(mx.store_path, exist_ok=True)
            client = AsyncClient(
                mx.homeserver,
                mx.user_id,
                device_id=mx.device_id,
                store_path=mx.store_path or "",
                config=AsyncClientConfig(
                    max_limit_exceeded=0,
                    max_timeouts=2,
                    request_timeout=30,
                    encryption_enabled=encryption,
                    store_sync_tokens=False,
                ),
            )
        self.ctx = ctx = MatrixContext(config, client, encryption)
        self.config = config
        self.client = client
        self.user_id = ctx.user_id
        self.community_id = ctx.community_id
        self.encryption = encryption
        self.api = Api(client, max_rate_retries, max_rate_wait)
        self.rooms = Rooms(ctx)
        self.outbound = Outbound(ctx, self.api, self.rooms)
        self.dms = DirectChats(ctx, self.api, self.rooms, self.outbound, dm_invite_timeout)
        self.moderation = MatrixModeration(ctx, self.api, self.rooms)
        self.checks = Checks(ctx, self.rooms, self.outbound)
        self.commands = MatrixCommands(ctx, self.rooms, self.outbound, self.dms)
        self.inbound = Inbound(ctx, self.api, self.rooms, self.dms, self.commands,
                               backfill_page, backfill_max, max_rate_wait)
        self.session = Session(ctx, self.api, self.rooms, self.inbound, self.dms,
                               self.moderation, self.checks, access_token=access_token,
                               password=password, sync_timeout_ms=sync_timeout_ms)
        self.ready = self.session.ready
        """Set once the first sync has been processed (tests wait on it)."""

    # ------------------------------------------------------------------
    # life cycle
    # ------------------------------------------------------------------

    @property
    def command_prefix(self) -> str:
        """How a command starts here (config ``matrix.command_prefix``, ``!haven``)."""
        return self.ctx.mx.command_prefix

    def attach(self, core: CoreSink) -> None:
        """Give the adapter the core it feeds events to."""
        self.ctx.sink = core

    def communities(self) -> set[str]:
        """The one community this process serves: it claims only that community's jobs,
        so several Matrix processes (one per account) can share one database."""
        return {self.community_id}

    async def run(self) -> None:
        """Log in, then sync until :meth:`close`; network errors lead to reconnection."""
        await self.session.run()

    async def close(self) -> None:
        """Stop syncing, save the sync token, cancel background work, close the client."""
        await self.session.close()

    def secret_in_use(self) -> str:
        """The environment variable whose secret is used (the token wins)."""
        return self.session.secret_in_use()

    async def check_online(self) -> list[str]:
        """``haven check --online``: log in, read the rooms once, report what is missing."""
        return await self.checks.check_online(self.session.login, self.session.request_sync)

    # ------------------------------------------------------------------
    # Platform verbs
    # ------------------------------------------------------------------

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in a room named by config (id, alias, name or ``#name``)."""
        return await self.outbound.send(channel, msg)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message; inside its thread when it is in one."""
        return await self.outbound.reply(to, msg)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send in the member's direct room with the bot (see :mod:`bot.adapters.matrix.dm`)."""
        return await self.dms.send_private(user_id, msg)

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text of a message the bot sent (``m.replace``)."""
        await self.outbound.edit(ref, msg)

    async def hide(self, ref: MessageRef, reason: str) -> None:
        """Redact a message (and any edits of it Haven has seen), with a reason."""
        await self.outbound.hide(ref, reason)

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        """Mute through power levels in every community room; the core lifts it after
        ``seconds`` with :meth:`lift_timeout` (a durable job)."""
        await self.moderation.timeout(user_id, reason)

    async def lift_timeout(self, community_id: str, user_id: str) -> None:
        """End a timeout now: the member gets back the power level they had."""
        await self.moderation.lift_timeout(user_id)

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        """Post on the author's behalf, naming them (Matrix has no webhooks)."""
        return await self.outbound.repost(channel, author, msg)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        """Matrix messages have no tags (Discord forum tags): nothing to do."""
        return None

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """A joined member by user id, pill, local name or display name (unique), else ``None``."""
        return self.rooms.resolve_member(query)

    def user_mention(self, user_id: str) -> str:
        """A pill (Markdown link to matrix.to) that the renderer turns into a mention."""
        return self.rooms.user_mention(user_id)

    def role_mention(self, community_id: str, role: str) -> str:
        """Pills of the group's users when config names them, else a plain label."""
        return self.rooms.role_mention(role)

    def channel_mention(self, community_id: str, channel: str) -> str:
        """A link to a room named in config."""
        return self.rooms.channel_mention(channel)

    def community_name(self, community_id: str) -> str:
        """The community's name from config, else the space's name, else the server name."""
        return self.rooms.community_name()

    # ------------------------------------------------------------------
    # declared capabilities
    # ------------------------------------------------------------------

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """``ROLE_MEMBERS``: the users a group names; ``None`` when it names nobody."""
        users = self.rooms.role_members(role)
        return tuple(users) if users else None

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """``CHANNEL_PRIVACY``: whether the moderators' room is private (``None``: unknown)."""
        return self.checks.moderators_channel_is_private()


__all__ = ["MatrixAdapter", "e2e_available"]

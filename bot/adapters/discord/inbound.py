"""Gateway events in: messages, edits, deletions, joins and AutoMod as neutral events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import discord

from bot.adapters.discord.catchup import CatchUp
from bot.adapters.discord.errors import error_place, traceback_without_message
from bot.adapters.discord.reader import MessageReader
from bot.adapters.discord.render import message_text
from bot.adapters.discord.state import DiscordState, to_channel, to_member
from bot.core.events import AutomodActed, Channel, MemberJoined, MessageDeleted, MessageRef

log = logging.getLogger(__name__)


def payload_shape(data: Any) -> str:
    """The field names of a gateway payload (never its values: they may hold member text)."""
    if isinstance(data, dict):
        return ",".join(sorted(str(k) for k in data)[:40]) or "(empty)"
    return type(data).__name__


RESTART_ON_FAILURE = frozenset({"READY"})
"""Gateway events whose failure is not skipped but ends the connection (and Haven
reconnects): without them the session is unusable."""


def guard_parsers(client: discord.Client, on_event: Callable[[str, Any], bool] | None = None,
                  on_failure: Callable[[str], None] | None = None) -> None:
    """Wrap every gateway parser of ``client`` so a payload it cannot read is logged and skipped.

    discord.py turns each gateway event into objects in ``ConnectionState.parsers``
    (called from ``DiscordWebSocket.received_message``); an exception there (a field
    missing, null or of another type than the library expects) would otherwise end
    ``Client.start`` and the process. The log names the event type, the exception
    type and where it happened, and the payload's field names, never its values.
    ``on_event(event, data)`` may return ``False`` to drop an event before parsing
    (interaction de-duplication); ``on_failure(event)`` counts failures.
    """
    parsers = client._connection.parsers
    for name, func in list(parsers.items()):
        if getattr(func, "__haven_guarded__", False):
            continue
        parsers[name] = _guarded_parser(name, func, on_event, on_failure)


def _guarded_parser(name: str, func: Callable[[Any], Any],
                    on_event: Callable[[str, Any], bool] | None,
                    on_failure: Callable[[str], None] | None) -> Callable[[Any], Any]:
    def parse(data: Any) -> Any:
        try:
            if on_event is not None and not on_event(name, data):
                return None
            return func(data)
        except Exception as exc:
            log.error("Could not read a Discord %s event (%s at %s; fields: %s); skipped it, "
                      "carrying on", name, type(exc).__name__, error_place(exc), payload_shape(data))
            log.debug("where discord.py failed reading %s:\n%s", name, traceback_without_message(exc))
            if on_failure is not None:
                on_failure(name)
            if name in RESTART_ON_FAILURE:
                raise  # without it nothing works: end this connection, DiscordAdapter.run reconnects
            return None

    parse.__haven_guarded__ = True  # type: ignore[attr-defined]
    parse.__wrapped__ = func  # type: ignore[attr-defined]
    return parse


LISTENERS = ("on_message", "on_raw_message_edit", "on_raw_message_delete",
             "on_raw_bulk_message_delete", "on_member_join", "on_thread_create",
             "on_automod_action")
"""The discord.py events :class:`Inbound` listens to (reactions are not read: no feature
uses them)."""


class Inbound:
    """Gateway events become neutral events for the core.

    Handlers wait at :attr:`gate` until catch-up is done, so live posts never overtake
    the ones missed while Haven was offline.
    """

    def __init__(self, state: DiscordState, reader: MessageReader, catchup: CatchUp) -> None:
        self.state = state
        self.reader = reader
        self.catchup = catchup
        self.gate = asyncio.Event()
        """Set once catch-up is done (and when closing)."""

    def install(self, client: discord.Client) -> None:
        """Make ``client`` call these handlers (:data:`LISTENERS`)."""
        for event in LISTENERS:
            setattr(client, event, getattr(self, event))

    async def on_message(self, message: discord.Message) -> None:
        """A new message: to the core (support places awaited, then their position stored)."""
        await self.gate.wait()
        if message.id in self.catchup.caught_up:
            return
        event = await self.reader.to_event(message)
        if event is None:
            return
        await self.catchup.deliver(event, self.state.place_of(event.channel), message.id)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """An edit that changed what a member wrote: a ``MessagePosted`` with ``edited``."""
        await self.gate.wait()
        message = payload.message
        if message.edited_at is None:
            return  # an embed or link preview was added, not an edit
        before = payload.cached_message
        if before is not None and message_text(before) == message_text(message) and \
                [a.id for a in before.attachments] == [a.id for a in message.attachments]:
            return
        event = await self.reader.to_event(message, edited=True)
        if event is None:
            return
        self.state.core.submit(event)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A deletion (by its author, or by Haven when it hid the post): ``MessageDeleted``."""
        await self.gate.wait()
        if not self.state.allowed_guild(payload.guild_id):
            return
        cached = payload.cached_message
        if cached is not None and self.reader.is_own(cached):
            return
        self.state.core.submit(self._deleted(payload.guild_id, payload.channel_id, payload.message_id))

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        """A bulk deletion: one ``MessageDeleted`` per message, in id order."""
        await self.gate.wait()
        if not self.state.allowed_guild(payload.guild_id):
            return
        for message_id in sorted(payload.message_ids):
            self.state.core.submit(self._deleted(payload.guild_id, payload.channel_id, message_id))

    def _deleted(self, guild_id: int | None, channel_id: int, message_id: int) -> MessageDeleted:
        guild = self.state.client.get_guild(guild_id) if guild_id else None
        found = guild.get_channel_or_thread(channel_id) if guild is not None else None
        channel = to_channel(found) if found is not None else Channel(str(channel_id), str(channel_id))
        by_haven = message_id in self.state.hidden
        self.state.hidden.pop(message_id, None)
        return MessageDeleted(
            community_id=str(guild_id),
            at=self.state.now(),
            channel=channel,
            message=MessageRef(
                community_id=str(guild_id),
                channel_id=str(channel_id),
                message_id=str(message_id),
                thread_id=str(channel_id) if isinstance(found, discord.Thread) else None,
            ),
            by_author=not by_haven,
        )

    async def on_member_join(self, member: discord.Member) -> None:
        """A member joined a served server: ``MemberJoined``."""
        await self.gate.wait()
        if not self.state.allowed_guild(member.guild.id):
            return
        at = member.joined_at.timestamp() if member.joined_at else self.state.now()
        self.state.core.submit(MemberJoined(community_id=str(member.guild.id), at=at,
                                            member=to_member(member)))

    async def on_thread_create(self, thread: discord.Thread) -> None:
        """Threads and forum posts: their messages arrive as MESSAGE_CREATE; nothing to do
        beyond making sure the thread is cached (discord.py did that)."""
        log.debug("thread %s created in %s", thread.id, thread.parent_id)

    async def on_automod_action(self, execution: discord.AutoModAction) -> None:
        """Log Discord AutoMod's actions and hand them to the core (``AutomodActed``: a case)."""
        if not self.state.allowed_guild(execution.guild_id):
            return
        log.info("Discord AutoMod %s on user %s in guild %s channel %s (rule %s, trigger %s)",
                 execution.action.type.name, execution.user_id, execution.guild_id,
                 execution.channel_id, execution.rule_id, execution.rule_trigger_type.name)
        self.state.core.submit(AutomodActed(
            community_id=str(execution.guild_id),
            at=self.state.now(),
            user_id=str(execution.user_id),
            action=execution.action.type.name,
            rule=str(execution.rule_id),
            keyword=execution.matched_keyword,
            channel_id=str(execution.channel_id) if execution.channel_id else None,
        ))

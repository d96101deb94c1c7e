"""``!haven`` commands on Matrix (it has no native bot commands).

A message is a command when it starts with the prefix (``matrix.command_prefix``,
``!haven``) or with a mention of the bot, in a place that takes commands (the
moderators' room, support places, direct chats). Commands run once per event id,
however often a sync replays them; in direct chats only the prefix counts, and
text that names no command is read as a post too. The command list comes from
the core's services (:attr:`~bot.core.ports.AdapterServices.commands`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from bot.adapters.matrix.context import MatrixContext
from bot.adapters.matrix.dm import DirectChats
from bot.adapters.matrix.format import command_text
from bot.adapters.matrix.outbound import Outbound
from bot.adapters.matrix.rooms import Rooms
from bot.core.commandspec import CommandSpec, parse_command_text
from bot.core.errors import CommandError, PlatformError
from bot.core.events import Channel, CommandInvoked, CommandResult, Member, MessageRef, Outgoing
from bot.features.unanswered.config import UNANSWERED_SECTION

log = logging.getLogger(__name__)

COMMANDS_REMEMBERED = 10000
"""Command event ids remembered so a replayed sync never runs a command twice."""


def parses(text: str, specs: tuple[CommandSpec, ...]) -> bool:
    """Whether ``text`` is a complete, valid command."""
    try:
        parse_command_text(text, specs)
    except CommandError:
        return False
    return True


def names_a_command(text: str, specs: tuple[CommandSpec, ...]) -> bool:
    """Whether ``text`` starts with a command's name (or is empty: help)."""
    words = text.lower().split()
    if not words:
        return True
    names = {c.name for c in specs}
    return (" ".join(words[:2]) in names or words[0] in names
            or any(c.name.startswith(words[0] + " ") for c in specs))


def thread_root(content: dict[str, Any]) -> str | None:
    """The root of the thread a message content is in, if any."""
    rel = content.get("m.relates_to")
    if isinstance(rel, dict) and rel.get("rel_type") == "m.thread":
        root = rel.get("event_id")
        return root if isinstance(root, str) else None
    return None


class MatrixCommands:
    """Recognise, run and answer ``!haven`` commands (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, rooms: Rooms, outbound: Outbound,
                 dms: DirectChats) -> None:
        self.ctx = ctx
        self.rooms = rooms
        self.outbound = outbound
        self.dms = dms
        self._run: OrderedDict[str, None] = OrderedDict()

    def _command_place(self, room_id: str, channel: Channel) -> bool:
        if channel.kind == "dm":
            return True
        config = self.ctx.config
        if room_id == self.rooms.moderators_room_id() or config.is_moderators_channel(channel):
            return True
        return config.get(UNANSWERED_SECTION).support_place(channel) is not None

    def maybe_command(self, room_id: str, source: dict[str, Any]) -> bool:
        """Start a command task if this message is a command in a place that takes them.

        Returns whether the message was taken as a command (and so is not a post).
        A command runs once per event id, however often a sync or catch-up replays
        it. In direct chats only the prefix makes a command (``Haven, I can't go
        on`` is a message to read, not a command). Text that names no command is
        also handed on as a post, so nothing a member writes goes unread.
        """
        content = source.get("content") or {}
        prefix = self.ctx.mx.command_prefix
        names = tuple(n for n in (self.ctx.display_name,) if n)
        channel = self.rooms.channel(room_id)
        text = command_text(content, prefix, self.ctx.user_id, names,
                            mentions=channel.kind != "dm")
        if text is None:
            return False
        if not self._command_place(room_id, channel):
            return False
        sender = str(source["sender"])
        event_id = str(source["event_id"])
        prefixed = command_text(content, prefix, self.ctx.user_id, (),
                                mentions=False) is not None
        # `!haven <command>` is a command even with wrong arguments (the answer says
        # how to use it). After a mention ("Haven, help me, I want to die") it is one
        # only if it parses; otherwise it is someone talking to Haven: a post.
        specs = self.ctx.services.commands
        known = names_a_command(text, specs) if prefixed else parses(text, specs)
        if not known and not prefixed:
            return False
        if event_id in self._run:
            log.info("command event %s was run already; ignoring the repeat", event_id)
            return known
        self._run[event_id] = None
        while len(self._run) > COMMANDS_REMEMBERED:
            self._run.popitem(last=False)
        ref = MessageRef(self.ctx.community_id, room_id, event_id, thread_root(content))
        invoker = self.rooms.member(room_id, sender)
        ts = source.get("origin_server_ts")
        at = float(ts) / 1000.0 if isinstance(ts, int | float) and ts else time.time()
        self.ctx.background.spawn(self.run_command(text, channel, invoker, ref, at),
                                  f"command in {room_id}")
        return known

    async def run_command(self, text: str, channel: Channel, invoker: Member, ref: MessageRef,
                          at: float) -> None:
        """Parse the command, have the core run it, answer in a thread under it."""
        core = self.ctx.core()
        try:
            spec, options = parse_command_text(text, core.services.commands)
        except CommandError as exc:
            await self.answer(ref, channel, invoker,
                              CommandResult(str(exc), ephemeral=False, ok=False))
            return
        event = CommandInvoked(self.ctx.community_id, at, channel, invoker, name=spec.name,
                               options=options, message=ref, delivery_id=ref.message_id)
        result = await core.handle(event)
        if result is not None:
            await self.answer(ref, channel, invoker, result)

    async def answer(self, ref: MessageRef, channel: Channel, invoker: Member,
                     result: CommandResult) -> None:
        """Answer a command in a thread under it; private answers go by DM outside mod/DM rooms."""
        msg = Outgoing(result.text, attachments=result.attachments)
        public = channel.kind != "dm" and not self.ctx.config.is_moderators_channel(channel) \
            and ref.channel_id != self.rooms.moderators_room_id()
        if result.ephemeral and result.ok and public:
            try:
                await self.dms.send_private(invoker.id, msg)
                msg = Outgoing("I've sent you the answer in a direct message.")
            except PlatformError as exc:
                log.warning("could not answer %s privately: %s", invoker.id, exc)
                msg = Outgoing("I couldn't send you a direct message. Please start a direct "
                               "chat with me and run the command there.")
        try:
            await self.outbound.send_thread(ref, msg)
        except PlatformError as exc:
            log.warning("could not answer a command in %s: %s", ref.channel_id, exc)

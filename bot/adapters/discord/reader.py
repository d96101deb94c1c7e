"""Discord messages as neutral :class:`~bot.core.events.MessagePosted` events."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.discord.render import (
    message_link,
    message_text,
    post_title,
    spoilered,
    visible_files,
)
from bot.adapters.discord.state import PROXY_PREFIX, DiscordState, remember, to_channel, to_member
from bot.core.events import Channel, Member, MessagePosted, MessageRef

if TYPE_CHECKING:
    from discord.abc import MessageableChannel

log = logging.getLogger(__name__)

_ACCEPTED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class MessageReader:
    """Reads messages (live or caught up) into events, attributing proxied posts."""

    def __init__(self, state: DiscordState) -> None:
        self.state = state
        self._recent_posts: dict[int, list[tuple[float, Member, str]]] = {}

    def is_own(self, message: discord.Message) -> bool:
        """Whether Haven sent ``message`` (as itself, its app or one of its webhooks)."""
        me = self.state.client.user
        if me is not None and message.author.id == me.id:
            return True
        if message.webhook_id is not None:
            if message.webhook_id in self.state.webhook_ids:
                return True
            app_id = self.state.client.application_id
            if app_id is not None and message.application_id == app_id:
                return True
        return False

    async def _message_channel(self, message: discord.Message) -> Any:
        channel: MessageableChannel | discord.abc.GuildChannel | discord.abc.PrivateChannel
        channel = message.channel
        if isinstance(channel, discord.PartialMessageable) and message.guild is not None:
            try:
                channel = await self.state.client.fetch_channel(channel.id)
            except discord.HTTPException:
                return message.channel
            if isinstance(channel, discord.Thread):
                message.guild._add_thread(channel)
        return channel

    async def to_event(self, message: discord.Message, *, edited: bool = False) -> MessagePosted | None:
        """The neutral event for a message, or ``None`` for what Haven ignores (its own
        messages, system messages, other guilds).

        The text is the content plus rich embeds and forwarded messages
        (:func:`message_text`). Direct messages to Haven become events of kind
        ``dm`` in the member's server (:meth:`_dm_event`). Webhook posts that are
        not Haven's own (PluralKit, Tupperbox...) are read as posts
        (:meth:`_webhook_author`).
        """
        if message.type not in _ACCEPTED_TYPES or self.is_own(message):
            return None
        if message.guild is None:
            return self._dm_event(message, edited)
        if not self.state.allowed_guild(message.guild.id):
            return None
        channel = await self._message_channel(message)
        guild = message.guild
        reply_to = None
        ref = message.reference
        if ref is not None and ref.message_id and ref.type is not discord.MessageReferenceType.forward:
            reply_to = str(ref.message_id)
        thread_root = str(channel.id) if isinstance(channel, discord.Thread) else None
        at = message.created_at.timestamp()
        if edited and message.edited_at is not None:
            at = message.edited_at.timestamp()
        text = message_text(message, post_title(message, channel))
        if message.webhook_id is not None:
            author = self._webhook_author(message, text)
        else:
            author = to_member(message.author, guild)
            if not author.is_bot:
                self._note_post(message, author, text)
        return MessagePosted(
            community_id=str(guild.id),
            at=at,
            channel=to_channel(channel),
            author=author,
            message=self.state.ref(message, channel),
            text=text,
            link=message_link(guild.id, message.channel.id, message.id),
            reply_to=reply_to,
            thread_root=thread_root,
            spoilered=spoilered(message),
            edited=edited,
            attachments=tuple(a.url for a in visible_files(message)),
        )

    def _dm_guild(self, user_id: int) -> discord.Guild | None:
        """The server a direct message belongs to: the first served server (config order)
        the sender is known to be in, else the first served server."""
        order = {g: i for i, g in enumerate(self.state.config.get(DISCORD_SECTION).guild_ids)}
        guilds = sorted((g for g in self.state.client.guilds if self.state.allowed_guild(g.id)),
                        key=lambda g: (order.get(str(g.id), len(order)), g.id))
        for guild in guilds:
            if guild.get_member(user_id) is not None:
                return guild
        return guilds[0] if guilds else None

    def _dm_event(self, message: discord.Message, edited: bool) -> MessagePosted | None:
        """A direct message to Haven as a ``MessagePosted`` in a ``dm`` channel.

        The community is the server the sender belongs to (:meth:`_dm_guild`); the
        core runs crisis detection only on these (nothing punitive). No link: the
        moderators cannot open someone else's DMs.
        """
        if message.author.bot:
            return None
        guild = self._dm_guild(message.author.id)
        if guild is None:
            log.info("a direct message arrived but Haven serves no server; ignored")
            return None
        remember(self.state.dm_channels, message.channel.id)
        member = guild.get_member(message.author.id)
        author = to_member(member if member is not None else message.author, guild)
        at = message.created_at.timestamp()
        if edited and message.edited_at is not None:
            at = message.edited_at.timestamp()
        return MessagePosted(
            community_id=str(guild.id),
            at=at,
            channel=Channel(id=str(message.channel.id), name="direct message", kind="dm"),
            author=author,
            message=MessageRef(community_id=str(guild.id), channel_id=str(message.channel.id),
                               message_id=str(message.id)),
            text=message_text(message),
            spoilered=spoilered(message),
            edited=edited,
            attachments=tuple(a.url for a in visible_files(message)),
        )

    proxy_window: float = 30.0
    """Seconds within which a webhook post is matched to the member post it repeats."""

    def _note_post(self, message: discord.Message, author: Member, text: str) -> None:
        """Remember a member's recent post, to attribute a proxy's repost of it."""
        folded = " ".join(text.casefold().split())
        if not folded:
            return
        recent = self._recent_posts.setdefault(message.channel.id, [])
        now = message.created_at.timestamp()
        recent[:] = [r for r in recent if now - r[0] <= self.proxy_window][-20:]
        recent.append((now, author, folded))
        while len(self._recent_posts) > 500:
            self._recent_posts.pop(next(iter(self._recent_posts)))

    def _webhook_author(self, message: discord.Message, text: str) -> Member:
        """The author of a webhook post that is not Haven's own.

        * Other apps' replies (interaction responses) and posts copied from a
          followed channel stay bots.
        * A proxy (PluralKit, Tupperbox...) posts through a webhook a moment after
          the member's own message, which it then deletes. When a member's post in
          the same channel within :attr:`proxy_window` seconds contains this text,
          the post is the member's: their id and roles, the proxy's display name.
        * Otherwise the author is ``webhook:<webhook id>`` named
          ``<display name> (proxied)``: not a bot, so crisis detection and the
          rest of Haven read it; it cannot be messaged privately (the core then
          replies in the channel) and moderation verbs refuse it clearly.
        """
        name = message.author.display_name or "webhook"
        if message.interaction_metadata is not None or message.flags.is_crossposted:
            return Member(id=str(message.author.id), name=name, is_bot=True)
        folded = " ".join(text.casefold().split())
        now = message.created_at.timestamp()
        if folded:
            for at, member, posted in reversed(self._recent_posts.get(message.channel.id, [])):
                if 0 <= now - at <= self.proxy_window and folded in posted:
                    return Member(id=member.id, name=name[:80], roles=member.roles,
                                  is_admin=member.is_admin, joined_at=member.joined_at)
        author_id = f"{PROXY_PREFIX}{message.webhook_id}"
        self.state.proxy_names[author_id] = name
        while len(self.state.proxy_names) > 1000:
            self.state.proxy_names.pop(next(iter(self.state.proxy_names)))
        return Member(id=author_id, name=f"{name} (proxied)")

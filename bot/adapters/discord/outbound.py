"""The Platform verbs on Discord: send, reply, edit, hide, tag, time out, repost, slow mode."""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from discord.utils import MISSING

from bot.adapters.discord.errors import platform_errors
from bot.adapters.discord.render import MESSAGE_LIMIT, render_chunks
from bot.adapters.discord.state import PROXY_PREFIX, DiscordState, remember
from bot.adapters.discord.views import alert_view
from bot.core.errors import MissingPermission, NotFound, PrivateMessagesClosed
from bot.core.events import CommandResult, Member, MessageRef, Outgoing

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Haven"
"""Name of the webhook Haven creates (once per channel) for reposts."""
MAX_TIMEOUT = timedelta(days=28) - timedelta(minutes=1)
"""Discord refuses timeouts of 28 days or more."""


def _member_id(user_id: str) -> int:
    """A user id the moderation verbs can act on; clear ``NotFound`` for anything else."""
    if user_id.startswith(PROXY_PREFIX):
        raise NotFound("that post came through a webhook (a proxy such as PluralKit) and could "
                       "not be linked to a member's account; act on the member directly")
    if not user_id.isdigit():
        raise NotFound(f"not a Discord user id: {user_id!r}")
    return int(user_id)


def _nonce(dedupe_key: str, part: int) -> str:
    """A Discord nonce (at most 25 characters) for one part of a send that must happen once.

    discord.py sends it with ``enforce_nonce``, so Discord answers a repeat within its
    de-duplication window with the message already created instead of a second one.
    """
    digest = hashlib.sha256(f"{dedupe_key}#{part}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:25]


def files_of(msg: Outgoing | CommandResult) -> list[discord.File]:
    """The attachments of a message or command answer as files to upload."""
    return [discord.File(io.BytesIO(a.data), filename=a.filename) for a in msg.attachments]


SLOW_MODE_MAX = 21600
"""Discord's longest slow mode: six hours."""


class Outbound:
    """Every :class:`bot.core.ports.Platform` verb that writes to Discord."""

    def __init__(self, state: DiscordState, button_class: type[discord.ui.DynamicItem[Any]]) -> None:
        self.state = state
        self.button_class = button_class
        self._webhooks: dict[int, discord.Webhook] = {}

    def _mentions(self, guild: discord.Guild | None, msg: Outgoing) -> tuple[str, discord.AllowedMentions]:
        """Mention text to prepend (for mentions the text lacks) and the allowed mentions."""
        users = [u for u in msg.mention_users if str(u).isdigit()]
        roles: list[discord.Role | discord.Object] = []
        for ref in msg.mention_roles:
            role = self.state.resolve_role(guild, ref) if guild is not None else None
            if role is not None and role.is_default():
                self.state.warn_once(f"everyone:{ref}", "Haven never pings @everyone (role %r)", ref)
            elif role is not None:
                roles.append(role)
            elif str(ref).isdigit() and (guild is None or int(ref) != guild.id):
                roles.append(discord.Object(int(ref)))
            else:
                self.state.warn_once(f"role:{ref}", "No role %r to mention in %s", ref,
                                   guild.name if guild else "a private message")
        missing = [f"<@{u}>" for u in users if f"<@{u}>" not in msg.text and f"<@!{u}>" not in msg.text]
        missing += [f"<@&{r.id}>" for r in roles if f"<@&{r.id}>" not in msg.text]
        allowed = discord.AllowedMentions(
            everyone=False,
            users=[discord.Object(int(u)) for u in users],
            roles=[discord.Object(r.id) for r in roles],
            replied_user=False,
        )
        return " ".join(missing), allowed

    def _contents(self, guild: discord.Guild | None, msg: Outgoing) -> tuple[list[str], discord.AllowedMentions]:
        prefix, allowed = self._mentions(guild, msg)
        text = f"{prefix} {msg.text}" if prefix else msg.text
        return render_chunks(text, msg.spoiler, msg.spoiler_text), allowed

    def _view(self, alert_id: int | None) -> discord.ui.View | None:
        return alert_view(alert_id, self.button_class) if alert_id is not None else None

    async def _send_to(self, target: Any, guild: discord.Guild | None, msg: Outgoing,
                       reference: discord.MessageReference | None = None) -> discord.Message:
        """Send ``msg`` (split if long) to a messageable; returns the last message sent."""
        chunks, allowed = self._contents(guild, msg)
        view = self._view(msg.alert_id)
        sent: discord.Message | None = None
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            kwargs: dict[str, Any] = {"content": chunk or None, "allowed_mentions": allowed}
            if msg.dedupe_key:
                kwargs["nonce"] = _nonce(msg.dedupe_key, i)
            if i == 0 and reference is not None:
                kwargs["reference"] = reference
                kwargs["mention_author"] = False
            if last:
                files = files_of(msg)
                if files:
                    kwargs["files"] = files
                if view is not None:
                    kwargs["view"] = view
            sent = await target.send(**kwargs)
        assert sent is not None
        return sent

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in a channel (a forum gets a new post titled by the first line)."""
        guild = self.state.guild(community_id)
        target = self.state.resolve_channel(guild, channel)
        where = f"#{getattr(target, 'name', channel)}"
        async with platform_errors("send_messages", where):
            if isinstance(target, discord.ForumChannel):
                chunks, allowed = self._contents(guild, msg)
                title = (msg.text.strip().splitlines() or ["Haven"])[0][:100] or "Haven"
                view = self._view(msg.alert_id)
                kwargs: dict[str, Any] = {"name": title, "content": chunks[0], "allowed_mentions": allowed}
                if view is not None:
                    kwargs["view"] = view
                if msg.attachments:
                    kwargs["files"] = files_of(msg)
                created = await target.create_thread(**kwargs)
                sent = created.message
                for chunk in chunks[1:]:
                    sent = await created.thread.send(chunk, allowed_mentions=allowed)
                return self.state.ref(sent)
            sent = await self._send_to(target, guild, msg)
        return self.state.ref(sent)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message (inside its thread when it is in one); the author is not pinged
        unless listed in ``mention_users``."""
        in_dm = to.channel_id.isdigit() and int(to.channel_id) in self.state.dm_channels
        target = (self.state.client.get_partial_messageable(int(to.channel_id)) if in_dm
                  else self.state.channel_for(to))
        guild = self.state.client.get_guild(int(to.community_id)) if to.community_id.isdigit() else None
        reference = discord.MessageReference(
            message_id=int(to.message_id),
            channel_id=int(to.channel_id),
            guild_id=int(to.community_id) if to.community_id.isdigit() and not in_dm else None,
            fail_if_not_exists=False,
        )
        if to.thread_id and to.thread_id != to.channel_id:
            # The message is in the parent channel; reply inside its thread without a reference.
            reference = None  # type: ignore[assignment]
        async with platform_errors("send_messages", f"#{getattr(target, 'name', to.channel_id)}"):
            sent = await self._send_to(target, guild, msg, reference)
        return self.state.ref(sent)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send a direct message; raises :class:`PrivateMessagesClosed` on Discord error 50007."""
        if user_id.startswith(PROXY_PREFIX):
            raise PrivateMessagesClosed("the author of a proxied (webhook) post cannot be "
                                        "messaged privately")
        if not user_id.isdigit():
            raise NotFound(f"not a Discord user id: {user_id!r}")
        guild = self.state.client.get_guild(int(community_id)) if community_id.isdigit() else None
        async with platform_errors("send_messages", "a private message"):
            dm = await self.state.client.create_dm(discord.Object(int(user_id)))
            sent = await self._send_to(dm, guild, msg)
        ref = self.state.ref(sent)
        return MessageRef(community_id=community_id, channel_id=ref.channel_id,
                          message_id=ref.message_id)

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text (and buttons: present exactly when ``alert_id`` is set) of a
        message Haven sent."""
        channel = self.state.channel_for(ref)
        guild = self.state.client.get_guild(int(ref.community_id)) if ref.community_id.isdigit() else None
        chunks, allowed = self._contents(guild, msg)
        content = chunks[0]
        if len(chunks) > 1:
            content = content[: MESSAGE_LIMIT - 1] + "…"
        partial = channel.get_partial_message(int(ref.message_id))  # type: ignore[attr-defined]
        async with platform_errors("send_messages", f"message {ref.message_id}"):
            await partial.edit(content=content, allowed_mentions=allowed, view=self._view(msg.alert_id))

    async def hide(self, ref: MessageRef, reason: str) -> None:
        """Delete a message, with ``reason`` in the audit log."""
        channel_id = int(ref.thread_id or ref.channel_id)
        message_id = int(ref.message_id)
        remember(self.state.hidden, message_id)
        async with platform_errors("manage_messages", f"<#{channel_id}>"):
            await self.state.client.http.delete_message(channel_id, message_id, reason=reason[:512] or None)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        """Add and remove forum tags (by name, case-insensitive) on a forum post.

        Tags the forum does not offer are skipped with a warning logged once; a
        post keeps at most Discord's five tags. Other channels are left alone.
        """
        thread_id = int(ref.thread_id or ref.channel_id)
        thread = self.state.client.get_channel(thread_id)
        if thread is None:
            async with platform_errors("view_channel", f"<#{thread_id}>"):
                thread = await self.state.client.fetch_channel(thread_id)
        if not isinstance(thread, discord.Thread) or not isinstance(thread.parent, discord.ForumChannel):
            return
        offered = {t.name.casefold(): t for t in thread.parent.available_tags}
        for name in add:
            if name.casefold() not in offered:
                self.state.warn_once(f"tag:{thread.parent.id}:{name.casefold()}",
                                "forum #%s has no tag named %r; create it or change "
                                "unanswered.forum_tags", thread.parent.name, name)
        dropped = {n.casefold() for n in remove}
        current = list(thread.applied_tags)
        wanted = [t for t in current if t.name.casefold() not in dropped]
        for name in add:
            tag = offered.get(name.casefold())
            if tag is not None and all(t.id != tag.id for t in wanted):
                wanted.append(tag)
        wanted = wanted[:5]
        if [t.id for t in wanted] == [t.id for t in current]:
            return
        async with platform_errors("manage_threads", f"<#{thread_id}>"):
            await thread.edit(applied_tags=wanted)

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        """Time a member out (at most 28 days; 0 lifts the timeout)."""
        _member_id(user_id)
        guild = self.state.guild(community_id)
        until: str | None = None
        if seconds > 0:
            length = min(timedelta(seconds=seconds), MAX_TIMEOUT)
            until = (datetime.fromtimestamp(self.state.now(), UTC) + length).isoformat()
        async with platform_errors("moderate_members", guild.name):
            await self.state.client.http.edit_member(guild.id, int(user_id), reason=reason[:512] or None,
                                               communication_disabled_until=until)

    async def set_slow_mode(self, community_id: str, channel: str, seconds: int) -> None:
        """Allow one post per ``seconds`` per member in ``channel`` (``0`` turns slow mode off;
        Discord's limit of six hours applies). Needs Manage Channels there."""
        guild = self.state.guild(community_id)
        target = self.state.resolve_channel(guild, channel)
        delay = max(0, min(int(seconds), SLOW_MODE_MAX))
        async with platform_errors("manage_channels", f"#{getattr(target, 'name', channel)}"):
            await target.edit(slowmode_delay=delay)

    async def repost(self, community_id: str, channel: str, author: Member, msg: Outgoing) -> MessageRef:
        """Post ``msg`` through a Haven webhook under the author's name and avatar.

        In a thread the webhook of its parent posts into the thread; in a forum a
        new post is created. Without Manage Webhooks, falls back to a normal message
        that names the author (and warns once in the log).
        """
        guild = self.state.guild(community_id)
        target = self.state.resolve_channel(guild, channel)
        where = f"#{getattr(target, 'name', channel)}"
        try:
            async with platform_errors("manage_webhooks", where):
                hook = await self._webhook_for(target)
        except MissingPermission:
            self.state.warn_once(f"webhook:{target.id}", "Haven lacks Manage Webhooks in %s; reposting "
                            "without the author's name and avatar", where)
            fallback = Outgoing(text=f"**{author.name}** wrote:\n{msg.text}".rstrip(),
                                mention_users=msg.mention_users, mention_roles=msg.mention_roles,
                                spoiler=msg.spoiler, spoiler_text=msg.spoiler_text,
                                attachments=msg.attachments)
            return await self.send(community_id, str(target.id), fallback)
        chunks, allowed = self._contents(guild, msg)
        member = guild.get_member(int(author.id)) if author.id.isdigit() else None
        kwargs: dict[str, Any] = {
            "username": (member.display_name if member else author.name)[:80] or WEBHOOK_NAME,
            "avatar_url": member.display_avatar.url if member else MISSING,
            "allowed_mentions": allowed,
            "wait": True,
        }
        if isinstance(target, discord.Thread):
            kwargs["thread"] = target
        elif isinstance(target, discord.ForumChannel):
            kwargs["thread_name"] = (msg.spoiler or f"Post by {author.name}")[:100]
        sent: discord.WebhookMessage | None = None
        async with platform_errors("manage_webhooks", where):
            for i, chunk in enumerate(chunks):
                if i == len(chunks) - 1 and msg.attachments:
                    kwargs["files"] = files_of(msg)
                try:
                    sent = await hook.send(chunk, **kwargs)
                except discord.HTTPException as exc:
                    if exc.status != 400 or "username" not in str(exc.text).lower():
                        raise
                    kwargs["username"] = WEBHOOK_NAME  # Discord refused the name; keep the post
                    sent = await hook.send(chunk, **kwargs)
                if "thread_name" in kwargs:
                    kwargs.pop("thread_name")
                    kwargs["thread"] = discord.Object(sent.channel.id)
        assert sent is not None
        return MessageRef(
            community_id=community_id,
            channel_id=str(sent.channel.id),
            message_id=str(sent.id),
            thread_id=str(sent.channel.id) if "thread" in kwargs else None,
        )

    async def _webhook_for(self, target: Any) -> discord.Webhook:
        base = target.parent if isinstance(target, discord.Thread) else target
        if base is None:
            raise NotFound("the thread's parent channel is unknown")
        cached = self._webhooks.get(base.id)
        if cached is not None:
            return cached
        me = self.state.client.user
        hook = None
        for candidate in await base.webhooks():
            if (candidate.name == WEBHOOK_NAME and candidate.token and me is not None
                    and candidate.user is not None and candidate.user.id == me.id):
                hook = candidate
                break
        if hook is None:
            hook = await base.create_webhook(name=WEBHOOK_NAME, reason="Haven reposts content-warned posts")
        self._webhooks[base.id] = hook
        self.state.webhook_ids.add(hook.id)
        return hook

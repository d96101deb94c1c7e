"""What the parts of the Discord adapter share: the client, the core and its services,
the caches, and resolving the channels and roles that config and the core name.

Also the conversions every part needs: :func:`to_member` and :func:`to_channel`."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord.config import DISCORD_SECTION
from bot.core.errors import NotFound
from bot.core.events import Channel, Member, MessageRef
from bot.core.ports import AdapterServices, CoreSink
from bot.core.templates import DEFAULT_TEMPLATES, render
from bot.features.unanswered.config import UNANSWERED_SECTION

if TYPE_CHECKING:
    from bot.core.config import Config

log = logging.getLogger(__name__)

PROXY_PREFIX = "webhook:"
"""Author id prefix of webhook (proxy) posts Haven could not attribute to a member."""
CHANNEL_MENTION_RE = re.compile(r"^<#(\d+)>$")
ROLE_MENTION_RE = re.compile(r"^<@&(\d+)>$")


def to_member(user: discord.abc.User | discord.Member, guild: discord.Guild | None = None) -> Member:
    """A neutral :class:`~bot.core.events.Member` (roles as ids *and* names, no ``@everyone``)."""
    roles: set[str] = set()
    is_admin = False
    joined: float | None = None
    if isinstance(user, discord.Member):
        for role in user.roles:
            if role.is_default():
                continue
            roles.add(str(role.id))
            roles.add(role.name)
        owner = user.guild.owner_id == user.id
        is_admin = owner or user.guild_permissions.administrator
        joined = user.joined_at.timestamp() if user.joined_at else None
    elif guild is not None and guild.owner_id == user.id:
        is_admin = True
    return Member(
        id=str(user.id),
        name=user.display_name,
        is_bot=bool(user.bot),
        roles=frozenset(roles),
        power_level=None,
        is_admin=is_admin,
        joined_at=joined,
    )


def to_channel(channel: Any) -> Channel:
    """A neutral :class:`~bot.core.events.Channel`.

    Threads in text channels are ``thread``; posts in forum (or media) channels
    are ``forum``; both name their parent. Forum channels themselves are ``forum``.
    """
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        kind = "forum" if isinstance(parent, discord.ForumChannel) else "thread"
        return Channel(
            id=str(channel.id),
            name=channel.name,
            kind=kind,
            parent_id=str(channel.parent_id) if channel.parent_id else None,
            parent_name=parent.name if parent is not None else None,
        )
    if isinstance(channel, discord.ForumChannel):
        return Channel(id=str(channel.id), name=channel.name, kind="forum")
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return Channel(id=str(channel.id), name="direct message", kind="dm")
    name = getattr(channel, "name", None) or str(channel.id)
    return Channel(id=str(channel.id), name=name, kind="text")


def remember(cache: OrderedDict[Any, None], key: Any, size: int = 5000) -> None:
    """Add ``key`` to a bounded cache, forgetting the oldest beyond ``size``."""
    cache[key] = None
    while len(cache) > size:
        cache.popitem(last=False)


class DiscordState:
    """The client, the core (once attached), the config and the caches the parts share."""

    def __init__(self, config: Config, client: discord.Client) -> None:
        self.config = config
        self.client = client
        self.sink: CoreSink | None = None
        self.services: AdapterServices | None = None
        """The core's services (key-value store, clock...), once attached."""
        self.hidden: OrderedDict[int, None] = OrderedDict()
        """Messages Haven deleted itself (their deletion is not the author's)."""
        self.dm_channels: OrderedDict[int, None] = OrderedDict()
        """Direct-message channels members wrote to Haven in."""
        self.webhook_ids: set[int] = set()
        """Haven's own webhooks (their posts are Haven's)."""
        self.proxy_names: dict[str, str] = {}
        """Display names of proxied (webhook) authors by their ``webhook:`` id."""
        self.resolved: OrderedDict[tuple[int, int], Member] = OrderedDict()
        """Members slash-command options named, by (guild id, user id)."""
        self.warned: set[str] = set()
        """Keys of warnings already logged (each is logged once)."""

    # ----------------------------------------------------------------- the core

    @property
    def core(self) -> CoreSink:
        """The attached core (raises if ``attach`` was not called)."""
        if self.sink is None:
            raise RuntimeError("DiscordAdapter.attach(core) must be called first")
        return self.sink

    def attach(self, core: CoreSink) -> None:
        """Remember the core and its services."""
        self.sink = core
        self.services = core.services

    def now(self) -> float:
        """The core's clock (wall time before the core is attached)."""
        services = self.services
        if services is not None:
            return float(services.clock.now())
        return datetime.now(UTC).timestamp()

    def text(self, name: str, **values: object) -> str:
        """A core template (the admin's words once the core is attached, else the default)."""
        services = self.services
        if services is not None:
            return services.templates.render(name, **values)
        return render(DEFAULT_TEMPLATES[name], values)

    async def kv_get(self, key: str) -> str | None:
        """A value the adapter stored (``None`` before the core is attached)."""
        services = self.services
        return await services.kv.get(key) if services is not None else None

    async def kv_set(self, key: str, value: str) -> None:
        """Store a value (nothing before the core is attached)."""
        services = self.services
        if services is not None:
            await services.kv.set(key, value)

    # ----------------------------------------------------------------- resolving

    def allowed_guild(self, guild_id: int | None) -> bool:
        """Whether Haven serves this guild (``discord.guild_ids``, or every guild)."""
        if guild_id is None:
            return False
        ids = self.config.get(DISCORD_SECTION).guild_ids
        return not ids or str(guild_id) in ids

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        """Log a warning once per ``key``."""
        if key not in self.warned:
            self.warned.add(key)
            log.warning(message, *args)

    def guild(self, community_id: str) -> discord.Guild:
        """The served guild ``community_id``; ``NotFound`` if Haven is not in it."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        if guild is None:
            raise NotFound(f"Haven is not in Discord server {community_id}")
        return guild

    def resolve_channel(self, guild: discord.Guild, ref: str) -> Any:
        """A channel or thread of ``guild`` named by id, ``<#id>``, ``#name`` or name."""
        ref = ref.strip()
        m = CHANNEL_MENTION_RE.match(ref)
        if m:
            ref = m.group(1)
        if ref.isdigit():
            found = guild.get_channel_or_thread(int(ref))
            if found is not None:
                return found
        name = ref.removeprefix("#")
        candidates: list[discord.abc.GuildChannel | discord.Thread] = [
            *guild.text_channels, *guild.forums, *guild.voice_channels, *guild.threads]
        for ch in candidates:
            if ch.name == name:
                return ch
        folded = name.casefold()
        for ch in candidates:
            if ch.name.casefold() == folded:
                return ch
        raise NotFound(f"no channel {ref!r} in {guild.name}")

    def resolve_role(self, guild: discord.Guild, ref: str) -> discord.Role | None:
        """A role of ``guild`` named by id, ``<@&id>``, ``@name`` or name (any case)."""
        ref = ref.strip()
        m = ROLE_MENTION_RE.match(ref)
        if m:
            ref = m.group(1)
        if ref.isdigit():
            role = guild.get_role(int(ref))
            if role is not None:
                return role
        name = ref.removeprefix("@")
        role = discord.utils.get(guild.roles, name=name)
        if role is None:
            folded = name.casefold()
            role = next((r for r in guild.roles if r.name.casefold() == folded), None)
        return role

    def channel_for(self, ref: MessageRef) -> discord.abc.Messageable:
        """Where the message ``ref`` is (its thread if it has one)."""
        channel_id = int(ref.thread_id or ref.channel_id)
        guild = self.client.get_guild(int(ref.community_id)) if ref.community_id.isdigit() else None
        if guild is not None:
            found = guild.get_channel_or_thread(channel_id)
            if isinstance(found, discord.abc.Messageable):
                return found
        return self.client.get_partial_messageable(
            channel_id, guild_id=guild.id if guild else None
        )

    def ref(self, message: discord.Message, channel: Any = None) -> MessageRef:
        """The neutral reference of ``message`` (in ``channel`` when known better)."""
        channel = channel if channel is not None else message.channel
        guild_id = message.guild.id if message.guild else getattr(channel, "guild_id", None)
        thread_id = str(channel.id) if isinstance(channel, discord.Thread) else None
        return MessageRef(
            community_id=str(guild_id) if guild_id else "",
            channel_id=str(channel.id),
            message_id=str(message.id),
            thread_id=thread_id,
        )

    # ----------------------------------------------------------------- mentions

    def user_mention(self, user_id: str) -> str:
        """``<@id>`` (a proxied author, who has no account to mention: their name in bold)."""
        if user_id.startswith(PROXY_PREFIX):
            return f"**{self.proxy_names.get(user_id, user_id)}**"
        return f"<@{user_id}>"

    def role_mention(self, community_id: str, role: str) -> str:
        """``<@&id>`` for a role named by id or name (``@name`` if it does not exist)."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        found = self.resolve_role(guild, role) if guild is not None else None
        if found is None:
            return f"<@&{role}>" if role.isdigit() else f"@{role.removeprefix('@')}"
        return found.mention

    def channel_mention(self, community_id: str, channel: str) -> str:
        """``<#id>`` for a channel named by id or name (``#name`` if it does not exist)."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        if guild is not None:
            try:
                return f"<#{self.resolve_channel(guild, channel).id}>"
            except NotFound:
                pass
        return f"<#{channel}>" if channel.isdigit() else f"#{channel.removeprefix('#')}"

    def community_name(self, community_id: str) -> str:
        """The server's name."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        return guild.name if guild is not None else community_id

    def place_of(self, channel: Channel) -> str | None:
        """The support place (its channel id) a channel belongs to, if any."""
        try:
            if self.config.get(UNANSWERED_SECTION).is_support_place(channel):
                return channel.parent_id or channel.id
        except Exception:  # a config without support places
            log.debug("is_support_place failed", exc_info=True)
        return None

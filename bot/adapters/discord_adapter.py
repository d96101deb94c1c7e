"""The Discord adapter: discord.py events in, Haven's actions out.

Inbound, gateway events become neutral events (:mod:`bot.events`) for the core:
messages and edits (``MessagePosted``), deletions, member joins, reactions,
slash commands (``CommandInvoked``) and alert buttons (``ButtonPressed``).
Outbound, every :class:`bot.adapters.base.Platform` verb maps to a REST call,
with discord.py's exceptions translated into :mod:`bot.errors`.

Things worth knowing:

* **Mentions** ping exactly ``Outgoing.mention_users`` / ``mention_roles``
  (``allowed_mentions``), never ``@everyone``.
* **Alert buttons** are persistent :class:`discord.ui.DynamicItem` s
  (:mod:`bot.adapters.discord_views`): they keep working after a restart.
* **Catch-up**: on ready, support channels (and their threads / forum posts) are
  read from the last message Haven handled, in order, with their original
  timestamps, before live events are let through. The last handled id per
  support place is kept in the store (``discord:last_seen:<channel id>``).
* **Private moderators' channel**: on ready, before catch-up, Haven checks that
  @everyone cannot see ``channels.moderators``; if they can, it logs an error and
  says so once in the channel (:meth:`DiscordAdapter.check_moderators_channels`).
* **Slash commands** are built from :data:`bot.commandspec.COMMANDS`
  (:mod:`bot.adapters.discord_commands`); the core checks permissions.
* The token comes from ``HAVEN_DISCORD_TOKEN`` and is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import io
import logging
import os
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.utils import MISSING

from bot.adapters.discord_commands import commands_fingerprint, install_commands
from bot.adapters.discord_views import alert_view, make_alert_button_class
from bot.commandspec import CommandSpec
from bot.errors import (
    HavenError,
    MissingPermission,
    NotFound,
    PlatformError,
    PrivateMessagesClosed,
    RateLimited,
)
from bot.events import (
    ButtonPressed,
    Channel,
    CommandInvoked,
    CommandResult,
    Event,
    Member,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    MessageRef,
    Outgoing,
    ReactionAdded,
)

if TYPE_CHECKING:
    from bot.config import Config
    from bot.core import Haven

log = logging.getLogger(__name__)

TOKEN_ENV = "HAVEN_DISCORD_TOKEN"
"""Environment variable holding the bot token."""

MESSAGE_LIMIT = 2000
"""Discord's maximum message length in characters."""

WEBHOOK_NAME = "Haven"
"""Name of the webhook Haven creates (once per channel) for reposts."""

LAST_SEEN_KEY = "discord:last_seen:{}"
"""Store key of the last handled message id of a support place."""

COMMANDS_KEY = "discord:commands:{}:{}"
"""Store key of the fingerprint of the slash commands last synced, per application and
scope (``global`` or a guild id)."""

MAX_TIMEOUT = timedelta(days=28) - timedelta(minutes=1)
"""Discord refuses timeouts of 28 days or more."""

LINK = "https://discord.com/channels/{}/{}/{}"

PUBLIC_MODERATORS_WARNING = (
    "**This channel is visible to everyone**; Haven will not post crisis details here until it "
    "is made private. Alerts still arrive here, but without the member's words.\n"
    "To fix it: Edit Channel > Permissions > @everyone > deny **View Channel**, then allow it "
    "for the moderators' role and for Haven."
)
"""Posted once (per start) in a moderators' channel that @everyone can see."""

HAVEN_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    manage_messages=True,
    manage_webhooks=True,
    manage_threads=True,
    moderate_members=True,
    kick_members=True,
    ban_members=True,
    add_reactions=True,
    use_application_commands=True,
)
"""Exactly the permissions Haven asks for when invited (see :func:`invite_url`)."""

PERMISSIONS_VALUE: int = HAVEN_PERMISSIONS.value
"""The integer of :data:`HAVEN_PERMISSIONS` (1394253884486)."""

_ACCEPTED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_SPOILERED_RE = re.compile(r"^(?:\s*\|\|(?:(?!\|\|)[\s\S])+\|\|)+\s*$")
_CW_LABEL_RE = re.compile(r"^\s*[A-Za-z]{2,3}\s*:")
_CHANNEL_MENTION_RE = re.compile(r"^<#(\d+)>$")
_ROLE_MENTION_RE = re.compile(r"^<@&(\d+)>$")


# --------------------------------------------------------------------------- helpers


def intents() -> discord.Intents:
    """The gateway intents Haven needs (``members`` and ``message_content`` are privileged)."""
    return discord.Intents(
        guilds=True,
        members=True,
        message_content=True,
        guild_messages=True,
        dm_messages=True,
        guild_reactions=True,
        auto_moderation_execution=True,
    )


def invite_url(client_id: str, config: Config | None = None) -> str:
    """The OAuth2 URL that invites Haven with exactly :data:`HAVEN_PERMISSIONS`.

    Scopes are ``bot`` and ``applications.commands``. When the config names
    exactly one guild, the URL preselects it.
    """
    guild: discord.abc.Snowflake | Any = MISSING
    guild_ids = tuple(getattr(getattr(config, "discord", None), "guild_ids", ()) or ())
    if len(guild_ids) == 1 and str(guild_ids[0]).isdigit():
        guild = discord.Object(int(guild_ids[0]))
    return discord.utils.oauth_url(
        str(client_id),
        permissions=HAVEN_PERMISSIONS,
        guild=guild,
        scopes=("bot", "applications.commands"),
    )


def client_id_from_token(token: str) -> str | None:
    """The application (client) id encoded in the first part of a bot token, if readable.

    Lets ``haven invite-url`` work without ``discord.application_id`` in the config.
    The token itself is never logged or returned.
    """
    head = token.strip().split(".", 1)[0]
    if not head:
        return None
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None


def message_link(guild_id: int | str, channel_id: int | str, message_id: int | str) -> str:
    """``https://discord.com/channels/<guild>/<channel>/<message>``."""
    return LINK.format(guild_id, channel_id, message_id)


def is_spoilered(text: str, attachments: Iterable[discord.Attachment] = ()) -> bool:
    """Whether everything visible is hidden: the text wholly in ``||spoilers||``
    (and every attachment marked spoiler), or no text and only spoiler attachments."""
    files = list(attachments)
    if text.strip():
        return bool(_SPOILERED_RE.match(text)) and all(a.is_spoiler() for a in files)
    return bool(files) and all(a.is_spoiler() for a in files)


def escape_spoiler(text: str) -> str:
    """Make ``text`` safe inside ``||...||`` (a ``||`` inside would end the spoiler)."""
    return text.replace("||", "|\u200b|")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at line or word breaks.

    A code block (```) cut in two is closed at the end of one piece and reopened
    at the start of the next, so both render as code.
    """
    if len(text) <= limit:
        return [text]
    fenced = "```" in text
    room = limit - 8 if fenced else limit  # space to close and reopen a fence
    out: list[str] = []
    rest = text
    while len(rest) > room:
        cut = rest.rfind("\n", 0, room + 1)
        if cut < room // 2:
            cut = rest.rfind(" ", 0, room + 1)
        if cut < room // 2:
            cut = room
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ") if cut < len(rest) else ""
    if rest:
        out.append(rest)
    parts = [x for x in out if x] or [""]
    if fenced:
        open_fence = False
        for i, part in enumerate(parts):
            if open_fence:
                part = "```\n" + part
            if part.count("```") % 2 == 1:
                part += "\n```"
                open_fence = True
            else:
                open_fence = False
            parts[i] = part
    return parts


def render_chunks(text: str, spoiler: str | None = None, spoiler_text: str = "",
                  limit: int = MESSAGE_LIMIT) -> list[str]:
    """Message contents for ``text`` plus an optional labelled spoiler block.

    The spoiler is shown as a ``CW: <reason>`` line (kept as is when the reason
    already starts with a label like ``TW:``; left out when ``text`` already
    says it) followed by ``||text||``. Long
    content is split so that each piece fits and every spoiler piece is closed.
    """
    head = text.rstrip()
    if spoiler is None and not spoiler_text:
        return split_text(head, limit)
    reason = (spoiler or "").strip()
    if reason and reason.casefold() not in head.casefold():
        label = reason if _CW_LABEL_RE.match(reason) else f"CW: {reason}"
        head = f"{head}\n{label}" if head else label
    pieces = split_text(head, limit) if head else []
    body = escape_spoiler(spoiler_text.strip())
    for part in split_text(body, limit - 4) if body else []:
        wrapped = f"||{part}||"
        if pieces and len(pieces[-1]) + 1 + len(wrapped) <= limit:
            pieces[-1] = f"{pieces[-1]}\n{wrapped}"
        else:
            pieces.append(wrapped)
    return pieces or [""]


def everyone_can_see(channel: Any) -> bool | None:
    """Whether ``@everyone`` (any member of the server) can see ``channel``.

    View Channel decides it: without it nothing is readable, not even the
    history; with it, new messages are readable even when Read Message History
    is denied. ``None`` when the server's default role is unknown.
    """
    everyone = channel.guild.default_role
    if everyone is None:
        return None
    return bool(channel.permissions_for(everyone).view_channel)


def to_member(user: discord.abc.User | discord.Member, guild: discord.Guild | None = None) -> Member:
    """A neutral :class:`~bot.events.Member` (roles as ids *and* names, no ``@everyone``)."""
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
    """A neutral :class:`~bot.events.Channel`.

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


@contextlib.asynccontextmanager
async def platform_errors(permission: str, where: str = "") -> AsyncIterator[None]:
    """Translate discord.py / aiohttp exceptions into :mod:`bot.errors`.

    ``permission`` names what a 403 most likely means for this call.
    """
    try:
        yield
    except HavenError:
        raise
    except discord.Forbidden as exc:
        if exc.code == 50007:
            raise PrivateMessagesClosed(f"private messages closed ({exc.text})") from exc
        if exc.code == 50001:
            raise MissingPermission("view_channel", where) from exc
        raise MissingPermission(permission, where) from exc
    except discord.NotFound as exc:
        raise NotFound(f"not found ({exc.code}: {exc.text})" + (f" in {where}" if where else "")) from exc
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            retry = _retry_after(exc)
            raise RateLimited(retry) from exc
        err = PlatformError(f"Discord answered {exc.status} ({exc.code}): {exc.text}")
        if 400 <= exc.status < 500:
            err.retryable = False
        raise err from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise PlatformError(f"connection problem: {exc!r}") from exc


def _retry_after(exc: discord.HTTPException) -> float:
    try:
        return float(exc.response.headers.get("Retry-After", 5.0))
    except (AttributeError, TypeError, ValueError):
        return 5.0


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


ClientFactory = Callable[[discord.Intents], discord.Client]
"""Builds the discord.py client (tests inject one that never connects)."""


# --------------------------------------------------------------------------- adapter


class DiscordAdapter:
    """Runs Haven on Discord (implements :class:`bot.adapters.base.Adapter`)."""

    name = "discord"
    supports_attachments = True
    supports_buttons = True

    defer_after: float = 2.0
    """Seconds to wait for the core before deferring an interaction (Discord allows 3)."""

    catch_up_limit: int = 1000
    """At most this many messages per channel or thread are read at start-up."""

    def __init__(self, config: Config, token: str | None = None, *,
                 client_factory: ClientFactory | None = None) -> None:
        self.config = config
        self._token = token
        self._core: Haven | None = None
        factory = client_factory or self._default_client
        self.client: discord.Client = factory(intents())
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self.client)
        install_commands(self.tree, self._on_command)
        self.button_class = make_alert_button_class(self._on_button)
        self.client.add_dynamic_items(self.button_class)
        self._gate = asyncio.Event()
        self._webhooks: dict[int, discord.Webhook] = {}
        self._webhook_ids: set[int] = set()
        self._hidden: OrderedDict[int, None] = OrderedDict()
        self._caught_up: OrderedDict[int, None] = OrderedDict()
        self._last_seen: dict[str, int] = {}
        self._warned: set[str] = set()
        for event in ("on_ready", "on_message", "on_raw_message_edit", "on_raw_message_delete",
                      "on_raw_bulk_message_delete", "on_member_join", "on_raw_reaction_add",
                      "on_thread_create", "on_automod_action"):
            setattr(self.client, event, getattr(self, f"_{event}"))
        self.client.setup_hook = self._setup_hook  # type: ignore[method-assign]
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]

    def _default_client(self, intents: discord.Intents) -> discord.Client:
        options: dict[str, Any] = {
            "intents": intents,
            "chunk_guilds_at_startup": False,
            "max_ratelimit_timeout": 60.0,
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        dc = self.config.discord
        if dc.shard_count:
            if dc.shard_ids:
                options["shard_ids"] = list(dc.shard_ids)
            return discord.AutoShardedClient(shard_count=dc.shard_count, **options)
        return discord.Client(**options)

    # ----------------------------------------------------------------- lifecycle

    def attach(self, core: Haven) -> None:
        """Give the adapter the core it feeds (before :meth:`run`)."""
        self._core = core

    @property
    def core(self) -> Haven:
        """The attached core (raises if :meth:`attach` was not called)."""
        if self._core is None:
            raise RuntimeError("DiscordAdapter.attach(core) must be called first")
        return self._core

    async def run(self) -> None:
        """Log in with ``HAVEN_DISCORD_TOKEN`` and deliver events until closed."""
        token = self._token or os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise HavenError(f"set the bot token in the {TOKEN_ENV} environment variable")
        try:
            await self.client.start(token, reconnect=True)
        except discord.LoginFailure as exc:
            raise HavenError(f"Discord refused the bot token in {TOKEN_ENV}; check it in the "
                             "developer portal (Bot > Reset Token)") from exc
        except discord.PrivilegedIntentsRequired as exc:
            raise HavenError("Discord refused the privileged intents: switch on SERVER MEMBERS "
                             "INTENT and MESSAGE CONTENT INTENT in the developer portal "
                             "(Bot > Privileged Gateway Intents)") from exc

    async def close(self) -> None:
        """Disconnect from Discord."""
        self._gate.set()  # let handlers waiting for catch-up finish
        await self.client.close()

    async def _setup_hook(self) -> None:
        """After login, before connecting: sync slash commands if they changed."""
        await self.sync_commands()

    async def sync_commands(self, force: bool = False) -> None:
        """Register the slash commands with Discord when they differ from the last sync.

        With ``discord.guild_ids`` configured the commands are registered per
        guild (instant); otherwise globally.
        """
        fingerprint = commands_fingerprint(self.tree)
        scopes: list[discord.Object | None] = [
            discord.Object(int(g)) for g in self.config.discord.guild_ids if str(g).isdigit()
        ] or [None]
        for guild in scopes:
            key = COMMANDS_KEY.format(self.client.application_id, guild.id if guild else "global")
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            if not force and await self._kv_get(key) == fingerprint:
                continue
            try:
                await self.tree.sync(guild=guild)
            except discord.Forbidden:
                log.error("Discord refused to register slash commands in guild %s: re-invite "
                          "Haven with the applications.commands scope (haven invite-url)",
                          guild.id if guild else "(global)")
                continue
            except discord.HTTPException as exc:
                log.error("Could not register slash commands: %s %s", exc.status, exc.text)
                continue
            await self._kv_set(key, fingerprint)

    # ----------------------------------------------------------------- small utilities

    def _now(self) -> float:
        clock = getattr(self._core, "clock", None)
        if clock is not None:
            return float(clock.now())
        return datetime.now(UTC).timestamp()

    async def _kv_get(self, key: str) -> str | None:
        store = getattr(self._core, "store", None)
        if store is None:
            return None
        return await _maybe_await(store.get_kv(key))

    async def _kv_set(self, key: str, value: str) -> None:
        store = getattr(self._core, "store", None)
        if store is not None:
            await _maybe_await(store.set_kv(key, value))

    def _allowed_guild(self, guild_id: int | None) -> bool:
        if guild_id is None:
            return False
        ids = self.config.discord.guild_ids
        return not ids or str(guild_id) in ids

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    @staticmethod
    def _remember(cache: OrderedDict[int, None], key: int, size: int = 5000) -> None:
        cache[key] = None
        while len(cache) > size:
            cache.popitem(last=False)

    def _guild(self, community_id: str) -> discord.Guild:
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        if guild is None:
            raise NotFound(f"Haven is not in Discord server {community_id}")
        return guild

    def _resolve_channel(self, guild: discord.Guild, ref: str) -> Any:
        """A channel or thread of ``guild`` named by id, ``<#id>``, ``#name`` or name."""
        ref = ref.strip()
        m = _CHANNEL_MENTION_RE.match(ref)
        if m:
            ref = m.group(1)
        if ref.isdigit():
            found = guild.get_channel_or_thread(int(ref))
            if found is not None:
                return found
        name = ref.removeprefix("#")
        candidates = [*guild.text_channels, *guild.forums, *guild.voice_channels, *guild.threads]
        for ch in candidates:
            if ch.name == name:
                return ch
        folded = name.casefold()
        for ch in candidates:
            if ch.name.casefold() == folded:
                return ch
        raise NotFound(f"no channel {ref!r} in {guild.name}")

    def _resolve_role(self, guild: discord.Guild, ref: str) -> discord.Role | None:
        ref = ref.strip()
        m = _ROLE_MENTION_RE.match(ref)
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

    def _channel_for(self, ref: MessageRef) -> discord.abc.Messageable:
        channel_id = int(ref.thread_id or ref.channel_id)
        guild = self.client.get_guild(int(ref.community_id)) if ref.community_id.isdigit() else None
        if guild is not None:
            found = guild.get_channel_or_thread(channel_id)
            if isinstance(found, discord.abc.Messageable):
                return found
        return self.client.get_partial_messageable(
            channel_id, guild_id=guild.id if guild else None
        )

    def _ref(self, message: discord.Message, channel: Any = None) -> MessageRef:
        channel = channel if channel is not None else message.channel
        guild_id = message.guild.id if message.guild else getattr(channel, "guild_id", None)
        thread_id = str(channel.id) if isinstance(channel, discord.Thread) else None
        return MessageRef(
            community_id=str(guild_id) if guild_id else "",
            channel_id=str(channel.id),
            message_id=str(message.id),
            thread_id=thread_id,
        )

    # ----------------------------------------------------------------- outgoing helpers

    def _mentions(self, guild: discord.Guild | None, msg: Outgoing) -> tuple[str, discord.AllowedMentions]:
        """Mention text to prepend (for mentions the text lacks) and the allowed mentions."""
        users = [u for u in msg.mention_users if str(u).isdigit()]
        roles: list[discord.Role | discord.Object] = []
        for ref in msg.mention_roles:
            role = self._resolve_role(guild, ref) if guild is not None else None
            if role is not None and role.is_default():
                self._warn_once(f"everyone:{ref}", "Haven never pings @everyone (role %r)", ref)
            elif role is not None:
                roles.append(role)
            elif str(ref).isdigit() and (guild is None or int(ref) != guild.id):
                roles.append(discord.Object(int(ref)))
            else:
                self._warn_once(f"role:{ref}", "No role %r to mention in %s", ref,
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

    @staticmethod
    def _files(msg: Outgoing | CommandResult) -> list[discord.File]:
        return [discord.File(io.BytesIO(a.data), filename=a.filename) for a in msg.attachments]

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
            if i == 0 and reference is not None:
                kwargs["reference"] = reference
                kwargs["mention_author"] = False
            if last:
                files = self._files(msg)
                if files:
                    kwargs["files"] = files
                if view is not None:
                    kwargs["view"] = view
            sent = await target.send(**kwargs)
        assert sent is not None
        return sent

    # ----------------------------------------------------------------- Platform verbs

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in a channel (a forum gets a new post titled by the first line)."""
        guild = self._guild(community_id)
        target = self._resolve_channel(guild, channel)
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
                    kwargs["files"] = self._files(msg)
                created = await target.create_thread(**kwargs)
                sent = created.message
                for chunk in chunks[1:]:
                    sent = await created.thread.send(chunk, allowed_mentions=allowed)
                return self._ref(sent)
            sent = await self._send_to(target, guild, msg)
        return self._ref(sent)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message (inside its thread when it is in one); the author is not pinged
        unless listed in ``mention_users``."""
        target = self._channel_for(to)
        guild = self.client.get_guild(int(to.community_id)) if to.community_id.isdigit() else None
        reference = discord.MessageReference(
            message_id=int(to.message_id),
            channel_id=int(to.channel_id),
            guild_id=int(to.community_id) if to.community_id.isdigit() else None,
            fail_if_not_exists=False,
        )
        if to.thread_id and to.thread_id != to.channel_id:
            # The message is in the parent channel; reply inside its thread without a reference.
            reference = None  # type: ignore[assignment]
        async with platform_errors("send_messages", f"#{getattr(target, 'name', to.channel_id)}"):
            sent = await self._send_to(target, guild, msg, reference)
        return self._ref(sent)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send a direct message; raises :class:`PrivateMessagesClosed` on Discord error 50007."""
        if not user_id.isdigit():
            raise NotFound(f"not a Discord user id: {user_id!r}")
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        async with platform_errors("send_messages", "a private message"):
            dm = await self.client.create_dm(discord.Object(int(user_id)))
            sent = await self._send_to(dm, guild, msg)
        ref = self._ref(sent)
        return MessageRef(community_id=community_id, channel_id=ref.channel_id,
                          message_id=ref.message_id)

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text (and buttons: present exactly when ``alert_id`` is set) of a
        message Haven sent."""
        channel = self._channel_for(ref)
        guild = self.client.get_guild(int(ref.community_id)) if ref.community_id.isdigit() else None
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
        self._remember(self._hidden, message_id)
        async with platform_errors("manage_messages", f"<#{channel_id}>"):
            await self.client.http.delete_message(channel_id, message_id, reason=reason[:512] or None)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        """Add and remove forum tags (by name, case-insensitive) on a forum post.

        Tags the forum does not offer are skipped with a warning logged once; a
        post keeps at most Discord's five tags. Other channels are left alone.
        """
        thread_id = int(ref.thread_id or ref.channel_id)
        thread = self.client.get_channel(thread_id)
        if thread is None:
            async with platform_errors("view_channel", f"<#{thread_id}>"):
                thread = await self.client.fetch_channel(thread_id)
        if not isinstance(thread, discord.Thread) or not isinstance(thread.parent, discord.ForumChannel):
            return
        offered = {t.name.casefold(): t for t in thread.parent.available_tags}
        for name in add:
            if name.casefold() not in offered:
                self._warn_once(f"tag:{thread.parent.id}:{name.casefold()}",
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
        guild = self._guild(community_id)
        until: str | None = None
        if seconds > 0:
            length = min(timedelta(seconds=seconds), MAX_TIMEOUT)
            until = (datetime.fromtimestamp(self._now(), UTC) + length).isoformat()
        async with platform_errors("moderate_members", guild.name):
            await self.client.http.edit_member(guild.id, int(user_id), reason=reason[:512] or None,
                                               communication_disabled_until=until)

    async def kick(self, community_id: str, user_id: str, reason: str) -> None:
        """Remove a member from the server."""
        guild = self._guild(community_id)
        async with platform_errors("kick_members", guild.name):
            await self.client.http.kick(int(user_id), guild.id, reason=reason[:512] or None)

    async def ban(self, community_id: str, user_id: str, reason: str) -> None:
        """Ban a member (their messages are kept: they may be evidence)."""
        guild = self._guild(community_id)
        async with platform_errors("ban_members", guild.name):
            await self.client.http.ban(int(user_id), guild.id, delete_message_seconds=0,
                                       reason=reason[:512] or None)

    async def repost(self, community_id: str, channel: str, author: Member, msg: Outgoing) -> MessageRef:
        """Post ``msg`` through a Haven webhook under the author's name and avatar.

        In a thread the webhook of its parent posts into the thread; in a forum a
        new post is created. Without Manage Webhooks, falls back to a normal message
        that names the author (and warns once in the log).
        """
        guild = self._guild(community_id)
        target = self._resolve_channel(guild, channel)
        where = f"#{getattr(target, 'name', channel)}"
        try:
            async with platform_errors("manage_webhooks", where):
                hook = await self._webhook_for(target)
        except MissingPermission:
            self._warn_once(f"webhook:{target.id}", "Haven lacks Manage Webhooks in %s; reposting "
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
                    kwargs["files"] = self._files(msg)
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
        me = self.client.user
        hook = None
        for candidate in await base.webhooks():
            if (candidate.name == WEBHOOK_NAME and candidate.token and me is not None
                    and candidate.user is not None and candidate.user.id == me.id):
                hook = candidate
                break
        if hook is None:
            hook = await base.create_webhook(name=WEBHOOK_NAME, reason="Haven reposts content-warned posts")
        self._webhooks[base.id] = hook
        self._webhook_ids.add(hook.id)
        return hook

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """A member of the guild by id, ``<@id>``, user name or display name (unique)."""
        guild = self._guild(community_id)
        q = query.strip()
        if q.startswith("<@") and q.endswith(">"):
            q = q[2:-1].lstrip("!")
        if q.isdigit():
            found = guild.get_member(int(q))
            if found is None:
                with contextlib.suppress(discord.HTTPException):
                    found = await guild.fetch_member(int(q))
            return to_member(found, guild) if found is not None else None
        key = q.lstrip("@").casefold()
        named = [m for m in guild.members
                 if key in {m.name.casefold(), m.display_name.casefold()}]
        return to_member(named[0], guild) if len(named) == 1 else None

    def user_mention(self, user_id: str) -> str:
        """``<@id>``."""
        return f"<@{user_id}>"

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """Ids of the people holding ``role`` (for a nudge that must leave one of them out).

        ``None`` when the role does not exist or the member list is not complete (the
        guild is not chunked and chunking fails): the caller then pings the role itself.
        """
        guild = self._guild(community_id)
        found = self._resolve_role(guild, role)
        if found is None:
            return None
        if not guild.chunked:
            try:
                await asyncio.wait_for(guild.chunk(cache=True), timeout=15)
            except (discord.HTTPException, discord.ClientException, TimeoutError) as exc:
                log.info("could not list the members of %s: %s", guild.id, exc)
                return None
        if not guild.chunked:
            return None
        return tuple(str(m.id) for m in found.members if not m.bot)

    def role_mention(self, community_id: str, role: str) -> str:
        """``<@&id>`` for a role named by id or name (``@name`` if it does not exist)."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        found = self._resolve_role(guild, role) if guild is not None else None
        if found is None:
            return f"<@&{role}>" if role.isdigit() else f"@{role.removeprefix('@')}"
        return found.mention

    def channel_mention(self, community_id: str, channel: str) -> str:
        """``<#id>`` for a channel named by id or name (``#name`` if it does not exist)."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        if guild is not None:
            try:
                return f"<#{self._resolve_channel(guild, channel).id}>"
            except NotFound:
                pass
        return f"<#{channel}>" if channel.isdigit() else f"#{channel.removeprefix('#')}"

    def community_name(self, community_id: str) -> str:
        """The server's name."""
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        return guild.name if guild is not None else community_id

    # ----------------------------------------------------------------- inbound: messages

    def _is_own(self, message: discord.Message) -> bool:
        me = self.client.user
        if me is not None and message.author.id == me.id:
            return True
        if message.webhook_id is not None:
            if message.webhook_id in self._webhook_ids:
                return True
            app_id = self.client.application_id
            if app_id is not None and message.application_id == app_id:
                return True
        return False

    async def _message_channel(self, message: discord.Message) -> Any:
        channel = message.channel
        if isinstance(channel, discord.PartialMessageable) and message.guild is not None:
            try:
                channel = await self.client.fetch_channel(channel.id)
            except discord.HTTPException:
                return message.channel
            if isinstance(channel, discord.Thread):
                message.guild._add_thread(channel)
        return channel

    async def to_event(self, message: discord.Message, *, edited: bool = False) -> MessagePosted | None:
        """The neutral event for a guild message, or ``None`` for what Haven ignores
        (its own messages, system messages, DMs, other guilds)."""
        if message.guild is None or not self._allowed_guild(message.guild.id):
            return None
        if message.type not in _ACCEPTED_TYPES or self._is_own(message):
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
        author = to_member(message.author, guild)
        if message.webhook_id is not None and not author.is_bot:
            author = Member(id=author.id, name=author.name, is_bot=True)
        return MessagePosted(
            community_id=str(guild.id),
            at=at,
            channel=to_channel(channel),
            author=author,
            message=self._ref(message, channel),
            text=message.content,
            link=message_link(guild.id, message.channel.id, message.id),
            reply_to=reply_to,
            thread_root=thread_root,
            spoilered=is_spoilered(message.content, message.attachments),
            edited=edited,
            attachments=tuple(a.url for a in message.attachments),
        )

    def _place_of(self, channel: Channel) -> str | None:
        """The support place (its channel id) a channel belongs to, if any."""
        try:
            if self.config.is_support_place(channel):
                return channel.parent_id or channel.id
        except Exception:  # a config without support places
            log.debug("is_support_place failed", exc_info=True)
        return None

    async def _deliver(self, event: Event, place: str | None = None,
                       message_id: int | None = None) -> None:
        """Give ``event`` to the core. Support-place messages are awaited so the
        last-seen id is written only once they are handled."""
        if place is None or message_id is None:
            self.core.submit(event)
            return
        try:
            await self.core.handle(event)
        except Exception:
            log.exception("core failed on message %s", message_id)
        await self._mark_seen(place, message_id)

    async def _mark_seen(self, place: str, message_id: int) -> None:
        if message_id > self._last_seen.get(place, 0):
            self._last_seen[place] = message_id
            await self._kv_set(LAST_SEEN_KEY.format(place), str(message_id))

    async def _on_message(self, message: discord.Message) -> None:
        await self._gate.wait()
        if message.id in self._caught_up:
            return
        event = await self.to_event(message)
        if event is None:
            return
        await self._deliver(event, self._place_of(event.channel), message.id)

    async def _on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self._gate.wait()
        message = payload.message
        if message.edited_at is None:
            return  # an embed or link preview was added, not an edit
        before = payload.cached_message
        if before is not None and before.content == message.content and \
                [a.id for a in before.attachments] == [a.id for a in message.attachments]:
            return
        event = await self.to_event(message, edited=True)
        if event is None:
            return
        self.core.submit(event)

    async def _on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._gate.wait()
        if not self._allowed_guild(payload.guild_id):
            return
        cached = payload.cached_message
        if cached is not None and self._is_own(cached):
            return
        self.core.submit(self._deleted(payload.guild_id, payload.channel_id, payload.message_id))

    async def _on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self._gate.wait()
        if not self._allowed_guild(payload.guild_id):
            return
        for message_id in sorted(payload.message_ids):
            self.core.submit(self._deleted(payload.guild_id, payload.channel_id, message_id))

    def _deleted(self, guild_id: int | None, channel_id: int, message_id: int) -> MessageDeleted:
        guild = self.client.get_guild(guild_id) if guild_id else None
        found = guild.get_channel_or_thread(channel_id) if guild is not None else None
        channel = to_channel(found) if found is not None else Channel(str(channel_id), str(channel_id))
        by_haven = message_id in self._hidden
        self._hidden.pop(message_id, None)
        return MessageDeleted(
            community_id=str(guild_id),
            at=self._now(),
            channel=channel,
            message=MessageRef(
                community_id=str(guild_id),
                channel_id=str(channel_id),
                message_id=str(message_id),
                thread_id=str(channel_id) if isinstance(found, discord.Thread) else None,
            ),
            by_author=not by_haven,
        )

    async def _on_member_join(self, member: discord.Member) -> None:
        await self._gate.wait()
        if not self._allowed_guild(member.guild.id):
            return
        at = member.joined_at.timestamp() if member.joined_at else self._now()
        self.core.submit(MemberJoined(community_id=str(member.guild.id), at=at,
                                      member=to_member(member)))

    async def _on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._gate.wait()
        if not self._allowed_guild(payload.guild_id):
            return
        me = self.client.user
        if me is not None and payload.user_id == me.id:
            return
        guild = self.client.get_guild(payload.guild_id) if payload.guild_id else None
        if guild is None:
            return
        found = guild.get_channel_or_thread(payload.channel_id)
        channel = to_channel(found) if found is not None else Channel(str(payload.channel_id),
                                                                      str(payload.channel_id))
        user = payload.member or guild.get_member(payload.user_id)
        member = to_member(user) if user is not None else Member(id=str(payload.user_id),
                                                                 name=str(payload.user_id))
        self.core.submit(ReactionAdded(
            community_id=str(guild.id),
            at=self._now(),
            channel=channel,
            member=member,
            message=MessageRef(
                community_id=str(guild.id),
                channel_id=str(payload.channel_id),
                message_id=str(payload.message_id),
                thread_id=str(payload.channel_id) if isinstance(found, discord.Thread) else None,
            ),
            emoji=str(payload.emoji),
        ))

    async def _on_thread_create(self, thread: discord.Thread) -> None:
        """Threads and forum posts: their messages arrive as MESSAGE_CREATE; nothing to do
        beyond making sure the thread is cached (discord.py did that)."""
        log.debug("thread %s created in %s", thread.id, thread.parent_id)

    async def _on_automod_action(self, execution: discord.AutoModAction) -> None:
        """Log Discord AutoMod's actions and hand them to the core's case log if it has one."""
        if not self._allowed_guild(execution.guild_id):
            return
        log.info("Discord AutoMod %s on user %s in guild %s channel %s (rule %s, trigger %s)",
                 execution.action.type.name, execution.user_id, execution.guild_id,
                 execution.channel_id, execution.rule_id, execution.rule_trigger_type.name)
        record = getattr(self._core, "record_automod", None)
        if record is None:
            return
        try:
            await _maybe_await(record(
                community_id=str(execution.guild_id),
                user_id=str(execution.user_id),
                action=execution.action.type.name,
                rule=str(execution.rule_id),
                keyword=execution.matched_keyword,
                channel_id=str(execution.channel_id) if execution.channel_id else None,
                at=self._now(),
            ))
        except Exception:
            log.exception("recording an AutoMod action failed")

    # ----------------------------------------------------------------- catch-up

    async def _on_ready(self) -> None:
        me = self.client.user
        log.info("Connected to Discord as %s (%s) in %d server(s)", me, me.id if me else "?",
                 len(self.client.guilds))
        self._gate.clear()
        try:
            await self.check_moderators_channels()
        except Exception:
            log.exception("checking the moderators' channels failed")
        try:
            await self.catch_up()
        except Exception:
            log.exception("catching up on support channels failed")
        finally:
            self._gate.set()

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """Whether the moderators' channel (``channels.moderators``) is hidden from @everyone.

        ``None`` when unknown: Haven is not in that server or the channel cannot be
        found. Read from discord.py's cache, which channel updates keep current, so
        fixing the permissions takes effect at once, without a restart.
        """
        guild = self.client.get_guild(int(community_id)) if community_id.isdigit() else None
        if guild is None:
            return None
        try:
            channel = self._resolve_channel(guild, self.config.channels.moderators)
        except NotFound:
            return None
        visible = everyone_can_see(channel)
        return None if visible is None else not visible

    async def check_moderators_channels(self) -> None:
        """For every served server, make sure the moderators' channel is private.

        A missing channel is logged as an error naming ``channels.moderators``. A
        channel @everyone can see is logged as an error and gets one warning message
        (once per channel while Haven runs; again if it becomes public again after
        being fixed). Alerts then leave out the member's words (see
        :meth:`bot.features.alerts.Alerts.render`).
        """
        ref = self.config.channels.moderators
        for guild in self.client.guilds:
            if not self._allowed_guild(guild.id):
                continue
            try:
                channel = self._resolve_channel(guild, ref)
            except NotFound:
                log.error("No moderators' channel %r in %s (config key channels.moderators): "
                          "crisis alerts cannot be delivered there", ref, guild.name)
                continue
            key = f"public-moderators:{channel.id}"
            if self.moderators_channel_is_private(str(guild.id)) is not False:
                self._warned.discard(key)
                continue
            if key in self._warned:
                continue
            self._warned.add(key)
            history = channel.permissions_for(guild.default_role).read_message_history
            log.error("The moderators' channel #%s in %s is visible to everyone (@everyone can "
                      "view it%s): crisis alerts will be sent there without the member's words "
                      "until it is made private", channel.name, guild.name,
                      " and read its history" if history else "")
            try:
                await self.send(str(guild.id), str(channel.id), Outgoing(PUBLIC_MODERATORS_WARNING))
            except HavenError as exc:
                log.error("could not post the privacy warning in #%s: %s", channel.name, exc)

    def _support_channels(self, guild: discord.Guild) -> list[Any]:
        out = []
        for ch in [*guild.text_channels, *guild.forums]:
            if self._place_of(to_channel(ch)) is not None:
                out.append(ch)
        return out

    async def catch_up(self) -> int:
        """Feed support-place messages posted while Haven was offline, oldest first.

        Per server, the messages of every support channel, its threads and forum
        posts (active, and archived since) after the last handled id are merged in
        id (= time) order and handed to the core one by one, each awaited, with its
        original timestamp. Returns how many were handed over. The first time a
        support place is seen only its newest message id is recorded (no replay).
        """
        total = 0
        for guild in self.client.guilds:
            if not self._allowed_guild(guild.id):
                continue
            backlog: list[tuple[discord.Message, str]] = []
            for channel in self._support_channels(guild):
                try:
                    backlog += [(m, str(channel.id)) for m in await self._missed(guild, channel)]
                except (discord.Forbidden, MissingPermission):
                    self._warn_once(f"history:{channel.id}", "Haven cannot read the history of "
                                    "#%s (Read Message History); posts made while it was offline "
                                    "there are not caught up", channel.name)
                except discord.HTTPException as exc:
                    log.warning("catch-up of #%s failed: %s %s", channel.name, exc.status, exc.text)
            backlog.sort(key=lambda item: item[0].id)
            for message, place in backlog:
                event = await self.to_event(message)
                if event is None:
                    await self._mark_seen(place, message.id)
                    continue
                self._remember(self._caught_up, message.id)
                await self._deliver(event, place, message.id)
                total += 1
        if total:
            log.info("caught up on %d message(s) posted while Haven was offline", total)
        return total

    async def _missed(self, guild: discord.Guild, channel: Any) -> list[discord.Message]:
        """Messages of a support place (and its threads) after its last handled id."""
        place = str(channel.id)
        raw = await self._kv_get(LAST_SEEN_KEY.format(place))
        if raw is None or not raw.isdigit():
            newest = max([channel.last_message_id or 0,
                          *[t.last_message_id or t.id for t in guild.threads if t.parent_id == channel.id]])
            if not newest:
                newest = discord.utils.time_snowflake(datetime.fromtimestamp(self._now(), UTC))
            await self._mark_seen(place, newest)
            return []
        after = int(raw)
        self._last_seen[place] = max(self._last_seen.get(place, 0), after)
        sources: list[Any] = []
        if not isinstance(channel, discord.ForumChannel) and (
            channel.last_message_id is None or channel.last_message_id > after
        ):
            sources.append(channel)
        threads: dict[int, discord.Thread] = {
            t.id: t for t in guild.threads
            if t.parent_id == channel.id and (t.last_message_id or t.id) > after
        }
        since = discord.utils.snowflake_time(after)
        try:
            async for thread in channel.archived_threads(limit=100):
                if thread.archive_timestamp < since:
                    break
                if (thread.last_message_id or thread.id) > after:
                    threads.setdefault(thread.id, thread)
        except discord.Forbidden:
            log.debug("cannot list archived threads of #%s", channel.name)
        sources.extend(threads.values())
        messages: list[discord.Message] = []
        for source in sources:
            count = 0
            async for message in source.history(limit=self.catch_up_limit, after=discord.Object(after),
                                                oldest_first=True):
                messages.append(message)
                count += 1
            if count >= self.catch_up_limit:
                log.warning("catch-up of #%s stopped after %d messages", source.name, count)
        return messages

    # ----------------------------------------------------------------- interactions

    async def _on_command(self, interaction: discord.Interaction[Any], spec: CommandSpec,
                          options: dict[str, str]) -> None:
        guild = interaction.guild
        if guild is None or not self._allowed_guild(guild.id):
            await interaction.response.send_message("Haven's commands work inside its server.",
                                                    ephemeral=True)
            return
        event = CommandInvoked(
            community_id=str(guild.id),
            at=interaction.created_at.timestamp(),
            channel=to_channel(interaction.channel) if interaction.channel else Channel(
                str(interaction.channel_id), str(interaction.channel_id)),
            invoker=to_member(interaction.user, guild),
            name=spec.name,
            args=(),
            options=dict(options),
        )
        await self._answer(interaction, event)

    async def _on_button(self, interaction: discord.Interaction[Any], action: str, alert_id: int) -> None:
        guild = interaction.guild
        if guild is None or not self._allowed_guild(guild.id):
            return
        event = ButtonPressed(
            community_id=str(guild.id),
            at=interaction.created_at.timestamp(),
            channel=to_channel(interaction.channel) if interaction.channel else Channel(
                str(interaction.channel_id), str(interaction.channel_id)),
            member=to_member(interaction.user, guild),
            action=action,
            alert_id=alert_id,
        )
        await self._answer(interaction, event)

    async def _answer(self, interaction: discord.Interaction[Any], event: Event) -> None:
        """Pass an interaction's event to the core and show its result.

        If the core takes longer than :attr:`defer_after`, the interaction is
        deferred (ephemerally) so Discord's three-second limit never loses it.
        """
        task: asyncio.Future[Any] = asyncio.ensure_future(self.core.handle(event))
        deferred = False
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done:
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
                deferred = True
            except discord.HTTPException as exc:
                log.warning("could not defer interaction: %s %s", exc.status, exc.text)
        try:
            result = await task
        except Exception:
            log.exception("the core failed on %s", type(event).__name__)
            result = CommandResult("Sorry, something went wrong. The moderators can find the "
                                   "details in Haven's log.", ephemeral=True, ok=False)
        if not isinstance(result, CommandResult):
            result = CommandResult("Done.", ephemeral=True)
        try:
            await self._respond(interaction, result, deferred)
        except discord.HTTPException as exc:
            log.warning("could not answer interaction: %s %s", exc.status, exc.text)

    async def _respond(self, interaction: discord.Interaction[Any], result: CommandResult,
                       deferred: bool) -> None:
        chunks = split_text(result.text or "Done.")
        files = self._files(result)
        none = discord.AllowedMentions.none()
        ephemeral = True if deferred else result.ephemeral
        for i, chunk in enumerate(chunks):
            kwargs: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": none}
            if i == len(chunks) - 1 and files:
                kwargs["files"] = files
            if i == 0 and not deferred:
                await interaction.response.send_message(chunk, **kwargs)
            else:
                await interaction.followup.send(chunk, **kwargs)

    async def _on_tree_error(self, interaction: discord.Interaction[Any],
                             error: app_commands.AppCommandError) -> None:
        log.error("slash command failed: %r", error, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            if not interaction.response.is_done():
                await interaction.response.send_message("Sorry, that command failed.", ephemeral=True)

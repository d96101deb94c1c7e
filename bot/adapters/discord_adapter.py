"""The Discord adapter: discord.py events in, Haven's actions out.

Inbound, gateway events become neutral events (:mod:`bot.core.events`) for the core:
messages and edits (``MessagePosted``), deletions, member joins, reactions,
slash commands (``CommandInvoked``) and alert buttons (``ButtonPressed``).
Outbound, every :class:`bot.core.ports.Platform` verb maps to a REST call,
with discord.py's exceptions translated into :mod:`bot.core.errors`.

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
* **Slash commands** are built from :data:`bot.core.commandspec.COMMANDS`
  (:mod:`bot.adapters.discord_commands`); the core checks permissions.
* The token comes from ``HAVEN_DISCORD_TOKEN`` and is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import io
import logging
import os
import re
import sys
import traceback
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.http import Route
from discord.utils import MISSING

from bot.adapters.discord_commands import commands_fingerprint, install_commands
from bot.adapters.discord_views import alert_view, make_alert_button_class
from bot.core.commandspec import CommandSpec
from bot.core.errors import (
    HavenError,
    MissingPermission,
    NotFound,
    PlatformError,
    PrivateMessagesClosed,
    RateLimited,
)
from bot.core.events import (
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
from bot.core.ports import Capability

if TYPE_CHECKING:
    from discord.abc import MessageableChannel

    from bot.core.config import Config
    from bot.core.runtime import Haven

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
    "To fix it: Edit Channel > Permissions > {role} > deny **View Channel**, then allow it "
    "for the moderators' role and for Haven."
)
"""Posted once (per start) in a moderators' channel every member can see (``{role}``: the
role that lets them: @everyone or a role every member has)."""

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

PROXY_PREFIX = "webhook:"
"""Author id prefix of webhook (proxy) posts Haven could not attribute to a member."""

_ACCEPTED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_SPOILERED_RE = re.compile(r"^(?:\s*\|\|(?:(?!\|\|)[\s\S])+\|\|)+\s*$")
_CW_LABEL_RE = re.compile(r"^\s*[A-Za-z]{2,3}\s*:")
_CHANNEL_MENTION_RE = re.compile(r"^<#(\d+)>$")
_ROLE_MENTION_RE = re.compile(r"^<@&(\d+)>$")
_USER_MENTION_RE = re.compile(r"^<@!?(\d+)>$")
_DISCRIMINATOR_RE = re.compile(r"#\d{1,4}$")


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


def embed_texts(embeds: Iterable[discord.Embed]) -> list[str]:
    """The text of ``rich`` embeds: author, title, description, fields and footer.

    Link previews (``link``, ``article``, ``video``...) are left out: Discord builds
    them from a web page, they are not what the member wrote.
    """
    out: list[str] = []
    for embed in embeds:
        if embed.type != "rich":
            continue
        parts = [embed.author.name, embed.title, embed.description]
        for f in embed.fields:
            parts += [f.name, f.value]
        parts.append(embed.footer.text)
        out += [str(x) for x in parts if isinstance(x, str) and x.strip()]
    return out


def message_text(message: discord.Message, title: str | None = None) -> str:
    """Everything a member wrote that others can read in ``message``, one paragraph each:
    a forum post's ``title``, the content, rich embeds, forwarded messages
    (``message_snapshots``), a poll's question and answers, attachments' alt text."""
    content = message.content or ""
    if title and " ".join(title.casefold().split()) in " ".join(content.casefold().split()):
        title = None  # the post repeats its title
    parts = [title or "", content]
    for snapshot in getattr(message, "message_snapshots", None) or ():
        parts.append(snapshot.content or "")
        parts += embed_texts(snapshot.embeds)
        parts += [a.description or "" for a in snapshot.attachments]
    parts += embed_texts(message.embeds)
    poll = getattr(message, "poll", None)
    if poll is not None:
        parts.append(poll.question or "")
        parts += [answer.text or "" for answer in poll.answers]
    parts += [a.description or "" for a in message.attachments]
    return "\n\n".join(x for x in parts if x and x.strip())


def post_title(message: discord.Message, channel: Any) -> str | None:
    """The title of a forum post, for its starter message (whose id is the post's id)."""
    if (isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel)
            and message.id == channel.id):
        return channel.name
    return None


def _visible_files(message: discord.Message) -> list[discord.Attachment]:
    files = list(message.attachments)
    for snapshot in getattr(message, "message_snapshots", None) or ():
        files += list(snapshot.attachments)
    return files


def _spoilered(message: discord.Message) -> bool:
    """Whether what the member wrote (content, else a forwarded message) is all spoilered."""
    if (message.content or "").strip() or message.attachments:
        return is_spoilered(message.content or "", message.attachments)
    for snapshot in getattr(message, "message_snapshots", None) or ():
        return is_spoilered(snapshot.content or "", snapshot.attachments)
    return False


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


@contextlib.asynccontextmanager
async def platform_errors(permission: str, where: str = "") -> AsyncIterator[None]:
    """Translate discord.py / aiohttp exceptions into :mod:`bot.core.errors`.

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


def _pick_by_name(members: Iterable[discord.Member], key: str) -> discord.Member | None:
    """The member whose user name is ``key`` (casefolded), else the only one whose
    display, global or nick name is; ``None`` when none or several match."""
    candidates = list(members)
    by_user = [m for m in candidates if m.name.casefold() == key]
    if len(by_user) == 1:
        return by_user[0]
    by_display = {m.id: m for m in candidates
                  if key in {(n or "").casefold() for n in (m.display_name, m.global_name, m.nick)}}
    return next(iter(by_display.values())) if len(by_display) == 1 else None


def _find_channel(channels: Iterable[Any], ref: str) -> Any:
    """The channel of ``channels`` named by id, ``<#id>``, ``#name`` or name (any case)."""
    ref = ref.strip()
    m = _CHANNEL_MENTION_RE.match(ref)
    if m:
        ref = m.group(1)
    listed = list(channels)
    if ref.isdigit():
        for ch in listed:
            if ch.id == int(ref):
                return ch
    name = ref.removeprefix("#")
    exact = [ch for ch in listed if ch.name == name]
    if exact:
        return exact[0]
    folded = name.casefold()
    return next((ch for ch in listed if ch.name.casefold() == folded), None)


def _member_id(user_id: str) -> int:
    """A user id the moderation verbs can act on; clear ``NotFound`` for anything else."""
    if user_id.startswith(PROXY_PREFIX):
        raise NotFound("that post came through a webhook (a proxy such as PluralKit) and could "
                       "not be linked to a member's account; act on the member directly")
    if not user_id.isdigit():
        raise NotFound(f"not a Discord user id: {user_id!r}")
    return int(user_id)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def payload_shape(data: Any) -> str:
    """The field names of a gateway payload (never its values: they may hold member text)."""
    if isinstance(data, dict):
        return ",".join(sorted(str(k) for k in data)[:40]) or "(empty)"
    return type(data).__name__


def error_place(exc: BaseException) -> str:
    """``file:line in function`` of the innermost frame of ``exc`` (no message: it may quote text)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}"


RESTART_ON_FAILURE = frozenset({"READY"})
"""Gateway events whose failure is not skipped but ends the connection (and Haven
reconnects): without them the session is unusable."""


def traceback_without_message(exc: BaseException) -> str:
    """The frames of ``exc``'s traceback (file, line, code) without the exception's message,
    which may quote the payload (member text)."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


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


ClientFactory = Callable[[discord.Intents], discord.Client]
"""Builds the discord.py client (tests inject one that never connects)."""


# --------------------------------------------------------------------------- adapter


class DiscordAdapter:
    """Runs Haven on Discord (implements :class:`bot.core.ports.Adapter`)."""

    name = "discord"
    capabilities = frozenset({Capability.ATTACHMENTS, Capability.BUTTONS, Capability.FORUM_TAGS,
                              Capability.REPOST_AS_AUTHOR, Capability.ROLE_MEMBERS,
                              Capability.CHANNEL_PRIVACY, Capability.TIMEOUT_EXPIRES})
    command_prefix = "/"

    defer_after: float = 2.0
    """Seconds to wait for the core before deferring an interaction (Discord allows 3)."""

    catch_up_limit: int | None = None
    """At most this many messages per channel or thread are read at start-up (``None``:
    all of them, however long Haven was offline)."""

    def __init__(self, config: Config, token: str | None = None, *,
                 client_factory: ClientFactory | None = None) -> None:
        self.config = config
        self._token = token
        self._core: Haven | None = None
        factory = client_factory or self._default_client
        self.client: discord.Client = factory(intents())
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self.client)
        install_commands(self.tree, self._on_command, self.remember_resolved)
        self.button_class = make_alert_button_class(self._on_button)
        self.client.add_dynamic_items(self.button_class)
        self._gate = asyncio.Event()
        self._webhooks: dict[int, discord.Webhook] = {}
        self._webhook_ids: set[int] = set()
        self._hidden: OrderedDict[int, None] = OrderedDict()
        self._caught_up: OrderedDict[int, None] = OrderedDict()
        self._last_seen: dict[str, int] = {}
        self._held: set[str] = set()
        self._stored_seen: dict[str, int] = {}
        self._all_hold: dict[int, tuple[float, list[int]]] = {}
        self._warned: set[str] = set()
        self._interactions: OrderedDict[str, None] = OrderedDict()
        self._dm_channels: OrderedDict[int, None] = OrderedDict()
        self._recent_posts: dict[int, list[tuple[float, Member, str]]] = {}
        self._proxy_names: dict[str, str] = {}
        self._resolved: OrderedDict[tuple[int, int], Member] = OrderedDict()
        self._closing = False
        self.parse_failures = 0
        """How many gateway payloads discord.py could not read (logged and skipped)."""
        guard_parsers(self.client, self._accept_event, self._count_failure)
        for event in ("on_ready", "on_message", "on_raw_message_edit", "on_raw_message_delete",
                      "on_raw_bulk_message_delete", "on_member_join", "on_raw_reaction_add",
                      "on_thread_create", "on_automod_action"):
            setattr(self.client, event, getattr(self, f"_{event}"))
        self.client.setup_hook = self._setup_hook  # type: ignore[method-assign]
        self.client.on_error = self._on_error  # type: ignore[method-assign]
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

    restart_delays: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0)
    """Seconds to wait before reconnecting after an unexpected error (the last one repeats)."""

    def _token_or_error(self) -> str:
        token = self._token or os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise HavenError(f"set the bot token in the {TOKEN_ENV} environment variable")
        return token

    async def run(self) -> None:
        """Log in with ``HAVEN_DISCORD_TOKEN`` and deliver events until closed.

        discord.py reconnects by itself after network errors. Any other error that
        ends the client (one the gateway guard did not catch) is logged with its type
        and Haven connects again after a back-off (:attr:`restart_delays`); only a
        refused token or refused privileged intents end :meth:`run`.
        """
        token = self._token_or_error()
        failures = 0
        while True:
            try:
                await self.client.start(token, reconnect=True)
            except discord.LoginFailure as exc:
                raise HavenError(f"Discord refused the bot token in {TOKEN_ENV}; check it in the "
                                 "developer portal (Bot > Reset Token)") from exc
            except discord.PrivilegedIntentsRequired as exc:
                raise HavenError("Discord refused the privileged intents: switch on SERVER MEMBERS "
                                 "INTENT and MESSAGE CONTENT INTENT in the developer portal "
                                 "(Bot > Privileged Gateway Intents)") from exc
            except Exception as exc:
                if self._closing:
                    return
                delay = self.restart_delays[min(failures, len(self.restart_delays) - 1)]
                failures += 1
                log.error("The Discord connection ended with %s at %s; reconnecting in %.0fs "
                          "(attempt %d)", type(exc).__name__, error_place(exc), delay, failures)
                with contextlib.suppress(Exception):
                    await self.client.close()
                with contextlib.suppress(Exception):  # "re-open" the client (discord.py's clear)
                    self.client.clear()
                await asyncio.sleep(delay)
                continue
            return  # closed on purpose

    async def close(self) -> None:
        """Disconnect from Discord."""
        self._closing = True
        self._gate.set()  # let handlers waiting for catch-up finish
        await self.client.close()

    async def _on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """An event handler raised: log the event, error type and place (discord.py's own
        handler logs the exception message, which may quote member text) and carry on."""
        exc = sys.exc_info()[1]
        if exc is None:
            log.error("error in the Discord %s handler", event_method)
            return
        log.error("error in the Discord %s handler (%s at %s); carrying on\n%s", event_method,
                  type(exc).__name__, error_place(exc), traceback_without_message(exc))

    def _count_failure(self, event: str) -> None:
        self.parse_failures += 1

    def _accept_event(self, event: str, data: Any) -> bool:
        """Before discord.py parses a gateway event: drop redelivered interactions.

        Discord may deliver the same INTERACTION_CREATE more than once; Haven acts
        on (and answers) each interaction id once. The core also de-duplicates by
        :attr:`CommandInvoked.delivery_id`.
        """
        if event != "INTERACTION_CREATE" or not isinstance(data, dict):
            return True
        interaction_id = str(data.get("id") or "")
        if not interaction_id:
            return True
        if interaction_id in self._interactions:
            log.info("interaction %s delivered again; ignored", interaction_id)
            return False
        self._remember(self._interactions, interaction_id)  # type: ignore[arg-type]
        return True

    async def _setup_hook(self) -> None:
        """After login, before connecting: sync slash commands if they changed.

        Nothing here may stop Haven starting: a failed sync is logged and the
        previously registered commands keep working.
        """
        try:
            await self.sync_commands()
        except Exception as exc:
            log.error("Could not register slash commands (%s at %s); starting anyway with the "
                      "commands Discord already has", type(exc).__name__, error_place(exc))

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
            except Exception as exc:  # e.g. a KeyError on a reply discord.py did not expect
                log.error("Could not register slash commands in %s (%s at %s); the commands "
                          "Discord already has keep working", guild.id if guild else "(global)",
                          type(exc).__name__, error_place(exc))
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
            if msg.dedupe_key:
                kwargs["nonce"] = _nonce(msg.dedupe_key, i)
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
        in_dm = to.channel_id.isdigit() and int(to.channel_id) in self._dm_channels
        target = (self.client.get_partial_messageable(int(to.channel_id)) if in_dm
                  else self._channel_for(to))
        guild = self.client.get_guild(int(to.community_id)) if to.community_id.isdigit() else None
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
        return self._ref(sent)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send a direct message; raises :class:`PrivateMessagesClosed` on Discord error 50007."""
        if user_id.startswith(PROXY_PREFIX):
            raise PrivateMessagesClosed("the author of a proxied (webhook) post cannot be "
                                        "messaged privately")
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
        _member_id(user_id)
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
        _member_id(user_id)
        guild = self._guild(community_id)
        async with platform_errors("kick_members", guild.name):
            await self.client.http.kick(int(user_id), guild.id, reason=reason[:512] or None)

    async def ban(self, community_id: str, user_id: str, reason: str) -> None:
        """Ban a member (their messages are kept: they may be evidence)."""
        _member_id(user_id)
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
        """A member of the server by id, ``<@id>``, user name or display name.

        The answer carries the display name (server nickname, else global name,
        else user name). Ids are looked up in the cache, then among members slash
        command options named, then with Discord. Names match case-insensitively:
        a user name (``@alice``, ``alice``; unique on Discord) wins, otherwise a
        display name must belong to exactly one member. The cache is searched
        first, then Discord's member search. ``None`` when nobody (or more than
        one member) matches.
        """
        guild = self._guild(community_id)
        q = query.strip()
        m = _USER_MENTION_RE.match(q)
        if m:
            q = m.group(1)
        if q.isdigit():
            return await self._member_by_id(guild, int(q))
        key = q.removeprefix("@").strip()
        key = _DISCRIMINATOR_RE.sub("", key).casefold()
        if not key:
            return None
        found = _pick_by_name(guild.members, key)
        if found is None:
            found = _pick_by_name(await self._search_members(guild, key), key)
        return to_member(found, guild) if found is not None else None

    async def _member_by_id(self, guild: discord.Guild, user_id: int) -> Member | None:
        cached = guild.get_member(user_id)
        if cached is not None:
            return to_member(cached, guild)
        resolved = self._resolved.get((guild.id, user_id))
        if resolved is not None:
            return resolved
        try:
            async with platform_errors("view_channel", guild.name):
                fetched = await guild.fetch_member(user_id)
        except NotFound:
            return None
        return to_member(fetched, guild)

    async def _search_members(self, guild: discord.Guild, key: str) -> list[discord.Member]:
        """Discord's member search (user names and nicknames starting with ``key``)."""
        route = Route("GET", "/guilds/{guild_id}/members/search", guild_id=guild.id)
        async with platform_errors("view_channel", guild.name):
            data = await self.client.http.request(route, params={"query": key[:100], "limit": 25})
        out = []
        for item in data or []:
            try:
                out.append(discord.Member(data=item, guild=guild, state=self.client._connection))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipped an unreadable member in a search answer (%s)",
                            type(exc).__name__)
        return out

    def user_mention(self, user_id: str) -> str:
        """``<@id>`` (a proxied author, who has no account to mention: their name in bold)."""
        if user_id.startswith(PROXY_PREFIX):
            return f"**{self._proxy_names.get(user_id, user_id)}**"
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
        channel: MessageableChannel | discord.abc.GuildChannel | discord.abc.PrivateChannel
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
        """The neutral event for a message, or ``None`` for what Haven ignores (its own
        messages, system messages, other guilds).

        The text is the content plus rich embeds and forwarded messages
        (:func:`message_text`). Direct messages to Haven become events of kind
        ``dm`` in the member's server (:meth:`_dm_event`). Webhook posts that are
        not Haven's own (PluralKit, Tupperbox...) are read as posts
        (:meth:`_webhook_author`).
        """
        if message.type not in _ACCEPTED_TYPES or self._is_own(message):
            return None
        if message.guild is None:
            return self._dm_event(message, edited)
        if not self._allowed_guild(message.guild.id):
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
            message=self._ref(message, channel),
            text=text,
            link=message_link(guild.id, message.channel.id, message.id),
            reply_to=reply_to,
            thread_root=thread_root,
            spoilered=_spoilered(message),
            edited=edited,
            attachments=tuple(a.url for a in _visible_files(message)),
        )

    def _dm_guild(self, user_id: int) -> discord.Guild | None:
        """The server a direct message belongs to: the first served server (config order)
        the sender is known to be in, else the first served server."""
        order = {g: i for i, g in enumerate(self.config.discord.guild_ids)}
        guilds = sorted((g for g in self.client.guilds if self._allowed_guild(g.id)),
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
        self._remember(self._dm_channels, message.channel.id)
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
            spoilered=_spoilered(message),
            edited=edited,
            attachments=tuple(a.url for a in _visible_files(message)),
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
        self._proxy_names[author_id] = name
        while len(self._proxy_names) > 1000:
            self._proxy_names.pop(next(iter(self._proxy_names)))
        return Member(id=author_id, name=f"{name} (proxied)")

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
            if place in self._held:
                return  # part of this place was not read: keep the stored position
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
        if before is not None and message_text(before) == message_text(message) and \
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
            await asyncio.wait_for(self.catch_up(), self.catch_up_timeout)
        except TimeoutError:
            for guild in self.client.guilds:
                if self._allowed_guild(guild.id):
                    for channel in self._support_channels(guild):
                        self._hold(str(channel.id))
            log.error("catching up took longer than %.0fs; handling new posts now and reading "
                      "the rest at the next start", self.catch_up_timeout)
        except Exception as exc:
            log.error("catching up on support channels failed (%s at %s)", type(exc).__name__,
                      error_place(exc))
        finally:
            self._gate.set()
            self._mark_core_ready()

    def _mark_core_ready(self) -> None:
        """Tell the core Haven is connected and caught up, so its timers start now."""
        mark = getattr(self._core, "mark_ready", None)
        if mark is None:
            return
        try:
            mark()
        except Exception:
            log.exception("the core's mark_ready failed")

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
        if guild.default_role is None:
            return None
        return self._members_viewing_role(guild, channel) is None

    def members_roles(self, guild: discord.Guild) -> list[discord.Role]:
        """The roles that stand for "every member" of ``guild``.

        ``@everyone``; the roles named in ``roles.members`` (e.g. "Member"); and,
        when Haven knows every member (the member list is complete), any other role
        every human member holds. Roles named in ``roles.moderators`` and roles
        managed by an integration never count.
        """
        out = [guild.default_role]
        for ref in getattr(self.config.roles, "members", ()) or ():
            role = self._resolve_role(guild, ref)
            if role is None:
                self._warn_once(f"members-role:{guild.id}:{ref}", "No role %r in %s (config key "
                                "roles.members)", ref, guild.name)
            elif role not in out:
                out.append(role)
        mods = {r.casefold() for r in self.config.roles.moderators}
        for role_id in self._roles_all_hold(guild):
            role = guild.get_role(role_id)
            if role is None or role.is_default() or role.managed or role in out:
                continue
            if role.name.casefold() in mods or str(role.id) in mods:
                continue
            out.append(role)
        return out

    members_roles_ttl: float = 60.0
    """Seconds the roles every member holds are remembered (counting them walks every member)."""

    def _roles_all_hold(self, guild: discord.Guild) -> list[int]:
        """Ids of the roles every human member of ``guild`` holds; only when Haven knows
        every member (and there are at least two). Counted once per :attr:`members_roles_ttl`."""
        now = self._now()
        cached = self._all_hold.get(guild.id)
        if cached is not None and now - cached[0] < self.members_roles_ttl:
            return cached[1]
        found: list[int] = []
        if guild.chunked:
            humans = 0
            counts: Counter[int] = Counter()
            for member in guild.members:
                if not member.bot:
                    humans += 1
                    counts.update(member._roles)
            if humans >= 2:
                found = [role_id for role_id, n in counts.items() if n == humans]
        self._all_hold[guild.id] = (now, found)
        return found

    def _members_viewing_role(self, guild: discord.Guild, channel: Any) -> discord.Role | None:
        """A role standing for every member (:meth:`members_roles`) that can view ``channel``."""
        for role in self.members_roles(guild):
            if channel.permissions_for(role).view_channel:
                return role
        return None

    async def check_moderators_channels(self) -> None:
        """For every served server, make sure the moderators' channel is private.

        A missing channel is logged as an error naming ``channels.moderators``. A
        channel @everyone can see is logged as an error and gets one warning message
        (once per channel while Haven runs; again if it becomes public again after
        being fixed). Alerts then leave out the member's words (see
        :meth:`bot.features.alerts.feature.Alerts.render`).
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
            role = self._members_viewing_role(guild, channel) or guild.default_role
            history = channel.permissions_for(role).read_message_history
            log.error("The moderators' channel #%s in %s is visible to everyone (%s can "
                      "view it%s): crisis alerts will be sent there without the member's words "
                      "until it is made private", channel.name, guild.name, role.name,
                      " and read its history" if history else "")
            try:
                await self.send(str(guild.id), str(channel.id),
                                Outgoing(PUBLIC_MODERATORS_WARNING.format(role=role.name)))
            except HavenError as exc:
                log.error("could not post the privacy warning in #%s: %s", channel.name, exc)

    # ----------------------------------------------------------------- haven check --online

    async def check_online(self) -> list[str]:
        """Check the configured servers, channels, roles and permissions; return the problems.

        An empty list means everything Haven needs is there. When Haven is running
        the cache is used; otherwise this logs in over REST with
        ``HAVEN_DISCORD_TOKEN`` (no gateway connection: the bot is not started, no
        events are handled) and fetches each server, its channels and Haven's member.
        """
        if self.client.is_ready():
            problems: list[str] = []
            guilds = [g for g in self.client.guilds if self._allowed_guild(g.id)]
            for guild in guilds:
                problems += self.check_guild(guild, list(guild.channels), guild.me)
            return problems or ([] if guilds else ["Haven is in no Discord server it is "
                                                   "configured for (discord.guild_ids)"])
        try:
            token = self._token_or_error()
        except HavenError as exc:
            return [str(exc)]
        http = self.client.http
        try:
            return await self._check_over_rest(token)
        finally:
            with contextlib.suppress(Exception):
                await http.close()

    async def _check_over_rest(self, token: str) -> list[str]:
        http = self.client.http
        await self.client._async_setup_hook()  # what Client.login does first (binds the loop)
        try:
            me = await http.static_login(token)
        except discord.LoginFailure:
            return [f"Discord refused the bot token in {TOKEN_ENV}; check it in the developer "
                    "portal (Bot > Reset Token)"]
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return [f"Could not reach Discord to log in ({type(exc).__name__})"]
        self.client._connection.user = discord.ClientUser(state=self.client._connection, data=me)
        ids = [g for g in self.config.discord.guild_ids if str(g).isdigit()]
        if not ids:
            try:
                ids = [str(g["id"]) for g in await http.get_guilds(200)]
            except discord.HTTPException as exc:
                return [f"Could not list Haven's servers ({exc.status})"]
            if not ids:
                return ["Haven has not been invited to any Discord server yet (haven invite-url)"]
        problems: list[str] = []
        for guild_id in ids:
            try:
                guild = await self.client.fetch_guild(int(guild_id))
                channels = await guild.fetch_channels()
                member = await guild.fetch_member(int(me["id"]))
            except discord.Forbidden:
                problems.append(f"Haven is not in the Discord server {guild_id} (discord.guild_ids): "
                                "invite it with the URL from haven invite-url")
                continue
            except discord.NotFound:
                problems.append(f"No Discord server {guild_id} (discord.guild_ids), or Haven is "
                                "not in it")
                continue
            except discord.HTTPException as exc:
                problems.append(f"Could not read the Discord server {guild_id} ({exc.status})")
                continue
            problems += self.check_guild(guild, list(channels), member)
        return problems

    def check_guild(self, guild: discord.Guild, channels: list[Any],
                    me: discord.Member | None) -> list[str]:
        """The problems with one server: server permissions, each configured channel
        (exists, Haven's permissions there, the moderators' channel private) and roles."""
        where = guild.name
        if me is None:
            return [f"Haven is not a member of {where}"]
        problems: list[str] = []
        have = me.guild_permissions
        missing = [name for name, wanted in HAVEN_PERMISSIONS if wanted and not getattr(have, name)]
        if missing:
            problems.append(f"{where}: Haven lacks the server permission(s) {', '.join(missing)}; "
                            "re-invite it with the URL from haven invite-url")
        for key, ref, needs in self._configured_channels():
            channel = _find_channel(channels, ref)
            if channel is None:
                problems.append(f"{where}: no channel {ref!r} (config key {key})")
                continue
            perms = channel.permissions_for(me)
            lacking = [n for n in needs if not getattr(perms, n)]
            if lacking:
                problems.append(f"{where}: Haven lacks {', '.join(lacking)} in #{channel.name} "
                                f"({key})")
            if key == "channels.moderators" and guild.default_role is not None:
                role = self._members_viewing_role(guild, channel)
                if role is not None:
                    problems.append(f"{where}: the moderators' channel #{channel.name} is visible "
                                    f"to every member ({role.name} can view it); deny "
                                    f"{role.name} View Channel there")
        roles = self.config.roles
        mention_all = have.mention_everyone
        for key, refs in (("roles.moderators", roles.moderators),
                          ("roles.peer_supporters", roles.peer_supporters),
                          ("roles.greeters", roles.greeters),
                          ("roles.members", getattr(roles, "members", ()))):
            for ref in refs:
                role = self._resolve_role(guild, ref)
                if role is None:
                    problems.append(f"{where}: no role {ref!r} (config key {key})")
                    continue
                if key != "roles.members" and not role.mentionable and not mention_all:
                    problems.append(f"{where}: Haven cannot ping the role {role.name} ({key}): make "
                                    "it mentionable or give Haven Mention All Roles")
                if key != "roles.moderators" and role >= me.top_role and guild.owner_id != me.id:
                    problems.append(f"{where}: Haven's highest role ({me.top_role.name}) is not above "
                                    f"{role.name} ({key}): Haven cannot time out or kick members "
                                    "with that role; move Haven's role up in Server Settings > Roles")
        return problems

    def _configured_channels(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(config key, channel reference, permissions Haven needs there) for every channel
        the config names."""
        c = self.config
        post = ("view_channel", "send_messages")
        out: list[tuple[str, str, tuple[str, ...]]] = [
            ("channels.moderators", c.channels.moderators, (*post, "embed_links")),
        ]
        for key in ("welcome", "rules", "nudges"):
            ref = getattr(c.channels, key)
            if ref:
                out.append((f"channels.{key}", ref, post if key != "rules" else ("view_channel",)))
        for place in c.unanswered.places if c.unanswered.enabled else ():
            out.append(("unanswered.places", place.channel,
                        (*post, "read_message_history", "send_messages_in_threads")))
        hide = ("view_channel", "manage_messages", "read_message_history")
        for ref in c.content_warnings.channels:
            out.append(("content_warnings.channels", ref,
                        (*hide, "manage_webhooks") if c.content_warnings.repost else hide))
        if c.content_warnings.redirect_to:
            needs = (*post, "manage_webhooks") if c.content_warnings.repost else post
            out.append(("content_warnings.redirect_to", c.content_warnings.redirect_to, needs))
        return out

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

        Every failure is handled per item (a server, a channel, the list of archived
        threads, one thread's history, one message) and logged; the rest goes on. A
        place where something could not be read keeps its stored position until the
        next start (see :meth:`_hold`), so what was missed is read again then; not
        for a missing permission (403), which is logged once instead.
        """
        total = 0
        self._held.clear()
        for guild in self.client.guilds:
            if not self._allowed_guild(guild.id):
                continue
            try:
                total += await self._catch_up_guild(guild)
            except Exception as exc:
                log.error("catch-up of %s failed (%s at %s)", guild.name, type(exc).__name__,
                          error_place(exc))
        if total:
            log.info("caught up on %d message(s) posted while Haven was offline", total)
        return total

    async def _catch_up_guild(self, guild: discord.Guild) -> int:
        backlog: list[tuple[discord.Message, str]] = []
        for channel in self._support_channels(guild):
            place = str(channel.id)
            try:
                backlog += [(m, place) for m in await self._missed(guild, channel)]
            except (discord.Forbidden, MissingPermission):
                self._warn_once(f"history:{channel.id}", "Haven cannot read the history of "
                                "#%s (Read Message History); posts made while it was offline "
                                "there are not caught up", channel.name)
            except discord.HTTPException as exc:
                self._hold(place)
                log.warning("catch-up of #%s failed: %s %s", channel.name, exc.status, exc.code)
            except Exception as exc:
                self._hold(place)
                log.error("catch-up of #%s failed (%s at %s)", channel.name, type(exc).__name__,
                          error_place(exc))
        backlog.sort(key=lambda item: item[0].id)
        total = 0
        for message, place in backlog:
            try:
                event = await self.to_event(message)
            except Exception as exc:
                log.error("could not read missed message %s (%s at %s); skipped", message.id,
                          type(exc).__name__, error_place(exc))
                continue
            if event is None:
                await self._mark_seen(place, message.id)
                continue
            self._remember(self._caught_up, message.id)
            await self._deliver(event, place, message.id)
            total += 1
        return total

    catch_up_timeout: float = 900.0
    """Seconds catch-up may take before live posts are let through anyway (what was not
    read yet is read at the next start)."""

    hold_max_age: float = 3 * 86400.0
    """A place is held (:meth:`_hold`) at most this long after its stored position; the core
    recognises messages it handled again for 7 days."""

    def _hold(self, place: str) -> None:
        """Keep the stored position of ``place`` where it is until the next catch-up.

        Part of the place could not be read; advancing its position past the
        messages handled meanwhile would lose the unread ones for good. The core
        drops the messages it sees again (it handles each message version once).
        A position older than :attr:`hold_max_age` is let go (logged as an error):
        a part that stays unreadable must not make every start re-read ever more.
        """
        stored = self._stored_seen.get(place)
        if stored is not None:
            since = discord.utils.snowflake_time(stored).timestamp()
            if self._now() - since > self.hold_max_age:
                if f"hold:{place}" not in self._warned:
                    self._warned.add(f"hold:{place}")
                    log.error("part of <#%s> has not been readable since %s; Haven stops waiting "
                              "for it and moves on (posts in that part were not read)", place,
                              datetime.fromtimestamp(since, UTC).isoformat(timespec="minutes"))
                return
        self._held.add(place)

    async def _missed(self, guild: discord.Guild, channel: Any) -> list[discord.Message]:
        """Messages of a support place (and its threads) after its last handled id.

        A failure to list archived threads or to read one thread is logged and the
        place is held (:meth:`_hold`); the channel's other sources are still read.
        """
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
        self._stored_seen[place] = after
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
        # Public archived threads (and forum posts); in text channels also private ones,
        # which Haven sees with Manage Threads (a private support thread is still support).
        kinds = [False] if isinstance(channel, discord.ForumChannel) else [False, True]
        for private in kinds:
            what = "private archived threads" if private else "archived threads"
            try:
                listing = (channel.archived_threads(limit=None, private=True) if private
                           else channel.archived_threads(limit=None))
                async for thread in listing:
                    if thread.archive_timestamp < since:
                        break
                    if (thread.last_message_id or thread.id) > after:
                        threads.setdefault(thread.id, thread)
            except Exception as exc:
                if not isinstance(exc, discord.Forbidden):  # a missing permission stays missing
                    self._hold(place)
                status = getattr(exc, "status", None)
                self._warn_once(f"archived:{private}:{channel.id}:{status or type(exc).__name__}",
                                "could not list the %s of #%s (%s%s); reading its active threads "
                                "and messages, and trying again at the next start", what,
                                channel.name, type(exc).__name__, f" {status}" if status else "")
        sources.extend(threads.values())
        messages: list[discord.Message] = []
        for source in sources:
            try:
                messages += await self._read_source(source, after)
            except (discord.Forbidden, MissingPermission):
                # Not held: a missing permission stays missing until an admin grants it.
                self._warn_once(f"history:{source.id}", "Haven cannot read the history of "
                                "#%s (Read Message History); posts made while it was offline "
                                "there are not caught up", getattr(source, "name", source.id))
            except Exception as exc:
                self._hold(place)
                status = getattr(exc, "status", None)
                log.warning("catch-up could not read #%s (%s%s); the rest of #%s is read, and "
                            "this part again at the next start", getattr(source, "name", source.id),
                            type(exc).__name__, f" {status}" if status else "", channel.name)
        return messages

    async def _read_source(self, source: Any, after: int) -> list[discord.Message]:
        """Every message of one channel or thread after ``after``, oldest first.

        Complete by default (:attr:`catch_up_limit` ``None``); with a limit set and
        reached, the place is held and the span not read is logged as an error.
        """
        out: list[discord.Message] = []
        async for message in source.history(limit=self.catch_up_limit, after=discord.Object(after),
                                            oldest_first=True):
            out.append(message)
        if self.catch_up_limit is not None and len(out) >= self.catch_up_limit:
            place = str(getattr(source, "parent_id", None) or source.id)
            self._hold(place)
            log.error("catch-up of #%s stopped after %d messages: messages after %s were not "
                      "read now (they are read at the next start)", source.name, len(out),
                      out[-1].created_at.isoformat())
        return out

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
            delivery_id=str(interaction.id),
        )
        await self._answer(interaction, event)

    def remember_resolved(self, guild_id: int, user: discord.abc.User) -> None:
        """Keep a member a slash command option named (Discord sends it resolved, with
        nickname and roles), so :meth:`resolve_member` knows their display name."""
        if isinstance(user, discord.Member):
            key = (guild_id, user.id)
            self._resolved[key] = to_member(user)
            self._resolved.move_to_end(key)
            while len(self._resolved) > 1000:
                self._resolved.popitem(last=False)

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
            delivery_id=str(interaction.id),
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


def _nonce(dedupe_key: str, part: int) -> str:
    """A Discord nonce (at most 25 characters) for one part of a send that must happen once.

    discord.py sends it with ``enforce_nonce``, so Discord answers a repeat within its
    de-duplication window with the message already created instead of a second one.
    """
    digest = hashlib.sha256(f"{dedupe_key}#{part}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:25]

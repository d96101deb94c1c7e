"""Run the Discord adapter through discord.py's real object model, offline.

* :class:`RestRecorder` replaces ``client.http.request``: it records every REST
  call (method, path, JSON, files, query, audit-log reason) and answers with
  canned JSON per route, or with an injected error (403 50007, 404, 429...).
* The same recorder patches ``AsyncWebhookAdapter.request``, through which
  interaction responses, follow-ups and webhook executions go.
* :class:`DiscordHarness` builds the client (never connected), attaches a core
  (:class:`RecordingCore`, a recording ``CoreSink``, or the real one),
  feeds gateway payloads through ``client._connection.parsers`` and waits until
  every task they started is finished (:meth:`DiscordHarness.settle`) without
  sleeping on wall time.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import discord
from discord.http import Route
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.adapters.discord.adapter import DiscordAdapter
from bot.core.events import ButtonPressed, CommandInvoked, CommandResult, Event
from bot.core.ports import AdapterServices, CoreSink
from bot.core.templates import Templates
from tests import discord_payloads as p
from tests.golden import COMMANDS

_TASK_PREFIXES = ("discord.py:", "discord-ui", "CommandTree", "haven-discord")


@dataclass
class Call:
    """One recorded REST or webhook call."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    reason: str | None = None
    via: str = "http"  # http | webhook

    @property
    def content(self) -> str:
        """The message content sent, if any."""
        return (self.json or {}).get("content") or ""

    def custom_ids(self) -> list[str]:
        """The custom ids of the buttons sent with the message."""
        out = []
        for row in (self.json or {}).get("components") or []:
            for comp in row.get("components", []):
                if "custom_id" in comp:
                    out.append(comp["custom_id"])
        return out


class FakeResponse:
    """Enough of an aiohttp response for discord.HTTPException."""

    def __init__(self, status: int, reason: str = "", headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int
    headers: dict[str, str]


def http_error(status: int, code: int = 0, message: str = "error",
               headers: dict[str, str] | None = None) -> discord.HTTPException:
    """The discord.py exception Discord's answer ``status``/``code`` turns into."""
    response = FakeResponse(status, message, headers)
    body = {"code": code, "message": message}
    if status == 403:
        return discord.Forbidden(response, body)  # type: ignore[arg-type]
    if status == 404:
        return discord.NotFound(response, body)  # type: ignore[arg-type]
    if status >= 500:
        return discord.DiscordServerError(response, body)  # type: ignore[arg-type]
    return discord.HTTPException(response, body)  # type: ignore[arg-type]


class RestRecorder:
    """Records REST calls and answers them like Discord would (for the routes Haven uses)."""

    def __init__(self, bot_user: dict[str, Any], now: Callable[[], float]) -> None:
        self.bot_user = bot_user
        self.now = now
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.archived: dict[str, list[dict[str, Any]]] = {}
        self.archived_private: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: dict[str, list[dict[str, Any]]] = {}
        self.channel_guild: dict[str, str] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self.dm_channels: dict[str, str] = {}
        self.search_results: list[dict[str, Any]] = []
        self.guilds: dict[str, dict[str, Any]] = {}
        self.guild_members: dict[str, dict[str, Any]] = {}

    # -- set-up helpers

    def fail(self, method: str, path: str, status: int, code: int = 0, message: str = "error",
             times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Make the next ``times`` calls matching ``method`` and regex ``path`` fail."""
        self.failures.append(Failure(method, re.compile(path), status, code, message, times,
                                     headers or {}))

    def know_guild(self, guild: dict[str, Any]) -> None:
        """Remember which channels belong to which guild (for message payloads)."""
        for ch in [*guild["channels"], *guild["threads"]]:
            self.channel_guild[ch["id"]] = guild["id"]
            self.channels[ch["id"]] = ch
        self.guilds[guild["id"]] = guild
        for m in guild["members"]:
            self.guild_members.setdefault(m["user"]["id"], m)

    # -- queries

    def find(self, method: str | None = None, path: str | None = None, via: str | None = None
             ) -> list[Call]:
        """Recorded calls matching ``method``, regex ``path`` and ``via``."""
        return [c for c in self.calls
                if (method is None or c.method == method)
                and (path is None or re.fullmatch(path, c.path))
                and (via is None or c.via == via)]

    def messages_to(self, channel_id: str) -> list[Call]:
        """Messages posted with POST /channels/<id>/messages."""
        return self.find("POST", f"/channels/{channel_id}/messages")

    def dms_to(self, user_id: str) -> list[Call]:
        """Messages sent in the DM channel of ``user_id``."""
        dm = self.dm_channels.get(user_id)
        return self.messages_to(dm) if dm else []

    # -- the fake Discord

    def _check_failure(self, method: str, path: str) -> None:
        for f in self.failures:
            if f.times > 0 and f.method == method and f.pattern.fullmatch(path):
                f.times -= 1
                raise http_error(f.status, f.code, f.message, f.headers)

    def _message(self, channel_id: str, payload: dict[str, Any], *, author: dict[str, Any] | None = None,
                 webhook_id: str | None = None, message_id: str | None = None) -> dict[str, Any]:
        guild_id = self.channel_guild.get(channel_id)
        ref = payload.get("message_reference")
        data = p.message(
            channel_id,
            author or self.bot_user,
            payload.get("content") or "",
            at=self.now(),
            message_id=message_id,
            guild_id=guild_id,
            components=payload.get("components") or [],
            webhook_id=webhook_id,
            application_id=p.APP_ID if webhook_id else None,
            reply_to=ref.get("message_id") if ref else None,
        )
        if webhook_id is None:
            data.pop("member", None)
        self.sent[data["id"]] = data
        return data

    async def request(self, route: Route, *, files: Any = None, form: Any = None, **kwargs: Any) -> Any:
        """Stand-in for ``HTTPClient.request``."""
        path = route.url.removeprefix(Route.BASE)
        body = kwargs.get("json")
        if form:
            for part in form:
                if part.get("name") == "payload_json":
                    body = json.loads(part["value"])
        call = Call(route.method, path, body, dict(kwargs.get("params") or {}),
                    [f.filename for f in files or []], kwargs.get("reason"))
        self.calls.append(call)
        self._check_failure(route.method, path)
        return self._answer(route.method, path, body or {}, call.params)

    def _answer(self, method: str, path: str, body: dict[str, Any], params: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        if method == "POST" and re.fullmatch(r"/channels/\d+/messages", path):
            return self._message(parts[1], body)
        if method == "PATCH" and re.fullmatch(r"/channels/\d+/messages/\d+", path):
            old = self.sent.get(parts[3], {})
            data = self._message(parts[1], {**old, **body}, message_id=parts[3])
            data["edited_timestamp"] = p.iso(self.now())
            return data
        if method == "DELETE" and re.fullmatch(r"/channels/\d+/messages/\d+", path):
            return None
        if method == "GET" and re.fullmatch(r"/channels/\d+/messages", path):
            return self._history(parts[1], params)
        if method == "POST" and path == "/users/@me/channels":
            user_id = str(body["recipient_id"])
            dm_id = self.dm_channels.setdefault(user_id, p.snowflake(self.now()))
            return p.dm_channel(dm_id, p.user(user_id, f"user{user_id[-3:]}"))
        if method == "GET" and re.fullmatch(r"/channels/\d+/webhooks", path):
            return self.webhooks.get(parts[1], [])
        if method == "POST" and re.fullmatch(r"/channels/\d+/webhooks", path):
            hook = p.webhook(p.snowflake(self.now()), parts[1], owner=self.bot_user, name=body["name"])
            hook["guild_id"] = self.channel_guild.get(parts[1], p.GUILD_ID)
            self.webhooks.setdefault(parts[1], []).append(hook)
            return hook
        if method == "GET" and re.fullmatch(r"/channels/\d+/threads/archived/public", path):
            return {"threads": self.archived.get(parts[1], []), "members": [], "has_more": False}
        if method == "GET" and re.fullmatch(r"/channels/\d+/threads/archived/private", path):
            return {"threads": self.archived_private.get(parts[1], []), "members": [],
                    "has_more": False}
        if method == "GET" and re.fullmatch(r"/channels/\d+", path):
            return self.channels[parts[1]]
        if method == "PATCH" and re.fullmatch(r"/channels/\d+", path):
            updated = {**self.channels.get(parts[1], {}), **body}
            self.channels[parts[1]] = updated
            return updated
        if method == "GET" and path == "/users/@me":
            return self.bot_user
        if method == "GET" and path == "/users/@me/guilds":
            return [{"id": g["id"], "name": g["name"]} for g in self.guilds.values()]
        if method == "GET" and re.fullmatch(r"/guilds/\d+", path):
            if parts[1] not in self.guilds:
                raise http_error(403, 50001, "Missing Access")
            return {k: v for k, v in self.guilds[parts[1]].items()
                    if k not in ("channels", "threads", "members")}
        if method == "GET" and re.fullmatch(r"/guilds/\d+/channels", path):
            return self.guilds[parts[1]]["channels"]
        if method == "GET" and re.fullmatch(r"/guilds/\d+/members/search", path):
            return self.search_results
        if method == "GET" and re.fullmatch(r"/guilds/\d+/members/\d+", path):
            if parts[3] not in self.guild_members:
                raise http_error(404, 10007, "Unknown Member")
            return self.guild_members[parts[3]]
        if method == "PATCH" and re.fullmatch(r"/guilds/\d+/members/\d+", path):
            return p.member(p.user(parts[3], "member"))
        if method in ("DELETE", "PUT") and re.fullmatch(r"/guilds/\d+/(members|bans)/\d+", path):
            return None
        if method == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            return [{**c, "id": p.snowflake(self.now()), "application_id": p.APP_ID, "version": "1",
                     "default_member_permissions": c.get("default_member_permissions")}
                    for c in body] if isinstance(body, list) else []
        if method == "POST" and re.fullmatch(r"/channels/\d+/threads", path):
            thread_id = p.snowflake(self.now())
            parent = parts[1]
            t = p.thread(thread_id, body.get("name", "post"), parent, owner_id=self.bot_user["id"],
                         guild_id=self.channel_guild.get(parent, p.GUILD_ID), at=self.now())
            self.channel_guild[thread_id] = t["guild_id"]
            t["message"] = self._message(thread_id, body.get("message", {}), message_id=thread_id)
            return t
        raise AssertionError(f"the fake Discord has no answer for {method} {path}")

    def _history(self, channel_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        msgs = sorted(self.history.get(channel_id, []), key=lambda m: int(m["id"]))
        after = int(params.get("after") or 0)
        before = int(params["before"]) if params.get("before") else None
        limit = int(params.get("limit", 50))
        picked = [m for m in msgs if int(m["id"]) > after and (before is None or int(m["id"]) < before)]
        picked = picked[:limit] if params.get("after") else picked[-limit:]
        return list(reversed(picked))  # Discord answers newest first

    async def webhook_request(self, route: Route, session: Any = None, *, payload: Any = None,
                              multipart: Any = None, files: Any = None, reason: str | None = None,
                              params: dict[str, Any] | None = None, **_: Any) -> Any:
        """Stand-in for ``AsyncWebhookAdapter.request`` (interactions and webhooks)."""
        path = route.url.removeprefix(Route.BASE)
        body = payload
        if multipart:
            for part in multipart:
                if part.get("name") == "payload_json":
                    body = json.loads(part["value"])
        call = Call(route.method, path, body, dict(params or {}), [f.filename for f in files or []],
                    reason, via="webhook")
        self.calls.append(call)
        self._check_failure(route.method, path)
        parts = path.strip("/").split("/")
        if re.fullmatch(r"/interactions/\d+/[^/]+/callback", path):
            kind = (body or {}).get("type")
            return {"interaction": {"id": parts[1], "type": kind,
                                    "response_message_ephemeral": bool(
                                        ((body or {}).get("data") or {}).get("flags", 0) & 64)}}
        if route.method == "POST" and re.fullmatch(r"/webhooks/\d+/[^/]+", path):
            hook_id = parts[1]
            channel_id = str((params or {}).get("thread_id") or "")
            if not channel_id:
                channel_id = next((cid for cid, hooks in self.webhooks.items()
                                   if any(h["id"] == hook_id for h in hooks)), "0")
                if (body or {}).get("thread_name"):
                    thread_id = p.snowflake(self.now())
                    self.channel_guild[thread_id] = self.channel_guild.get(channel_id, p.GUILD_ID)
                    channel_id = thread_id
            if hook_id == p.APP_ID:  # an interaction follow-up
                return self._message(channel_id, body or {})
            author = p.user(hook_id, (body or {}).get("username") or "Haven", bot=True)
            return self._message(channel_id, body or {}, author=author, webhook_id=hook_id)
        if route.method == "PATCH" and re.fullmatch(r"/webhooks/\d+/[^/]+/messages/.+", path):
            return self._message("0", body or {})
        raise AssertionError(f"the fake Discord has no webhook answer for {route.method} {path}")


class DiscordHarness:
    """A never-connected discord.py client wired to a core and a :class:`RestRecorder`."""

    def __init__(self, config: Any, core: Any, *, now: Callable[[], float],
                 monkeypatch: Any, bot_name: str = "Haven") -> None:
        self.config = config
        self.core = core
        self.now = now
        self.bot_user = p.user(p.BOT_ID, bot_name, bot=True)
        self.rest = RestRecorder(self.bot_user, now)
        self.adapter = DiscordAdapter(
            config,
            token="test-token",
            client_factory=lambda intents: discord.Client(
                intents=intents, chunk_guilds_at_startup=False, guild_ready_timeout=0,
                allowed_mentions=discord.AllowedMentions.none(),
            ),
        )
        self.adapter.interactions.defer_after = 30.0
        self.client = self.adapter.client
        recorder = self.rest

        async def webhook_request(_adapter: Any, route: Route, *args: Any, **kwargs: Any) -> Any:
            return await recorder.webhook_request(route, *args, **kwargs)

        monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook_request)
        if core is not None:
            self.adapter.attach(core)

    @property
    def parsers(self) -> dict[str, Callable[[Any], None]]:
        return self.client._connection.parsers

    async def start(self, *guilds: dict[str, Any]) -> None:
        """Set up the client, patch REST, feed READY and the guilds, wait for on_ready."""
        await self.client._async_setup_hook()
        self.client.http.request = self.rest.request  # type: ignore[method-assign]
        self.parsers["READY"](p.ready(self.bot_user))
        for g in guilds:
            self.rest.know_guild(g)
            self.client._connection._add_guild_from_data(g)
        await self.settle()

    async def feed(self, event: str, payload: dict[str, Any]) -> None:
        """Feed one gateway event (``MESSAGE_CREATE``...) and wait for its handlers."""
        if event == "THREAD_CREATE":
            self.rest.channel_guild[payload["id"]] = payload["guild_id"]
            self.rest.channels[payload["id"]] = payload
        self.parsers[event](payload)
        await self.settle()

    async def settle(self, rounds: int = 200) -> None:
        """Wait until every task discord.py, the adapter and the core started is done."""
        current = asyncio.current_task()
        for _ in range(rounds):
            for _ in range(3):
                await asyncio.sleep(0)
            drain = getattr(self.core, "drain", None)
            if drain is not None:
                await drain()
            pending = [t for t in asyncio.all_tasks()
                       if t is not current and not t.done() and _ours(t)]
            if not pending:
                return
            # A safety net, not a sleep: fails the test if a handler hangs.
            done, _ = await asyncio.wait(pending, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise AssertionError(f"Discord handlers did not finish: {pending}")
        raise AssertionError("Discord handlers kept starting new tasks")


def _ours(task: asyncio.Task[Any]) -> bool:
    if task.get_name().startswith(_TASK_PREFIXES):
        return True
    coro = task.get_coro()
    return "ConnectionState." in getattr(coro, "__qualname__", "")


# --------------------------------------------------------------------------- a recording core


class MemoryKV:
    """A :class:`bot.core.ports.KeyValue` in memory (``data`` is the dict)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


class RecordingNotices:
    """A :class:`bot.core.ports.ModeratorNotices` that records what it is asked to say."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.missing: list[tuple[str, Any]] = []

    async def send(self, community_id: str, channel: str, msg: Any) -> None:
        self.sent.append((community_id, channel, msg))

    async def report_missing(self, community_id: str, exc: Any) -> None:
        self.missing.append((community_id, exc))


class RecordingCore:
    """A recording :class:`bot.core.ports.CoreSink`: the events it is given are kept.

    ``answer(event)`` decides what :meth:`handle` returns (a CommandResult for
    commands and buttons by default). ``gate`` (an Event), when set, makes
    :meth:`handle` wait for it: a slow core. ``kv.data`` is the key-value store.
    """

    def __init__(self, config: Any, clock: Any) -> None:
        self.config = config
        self.clock = clock
        self.kv = MemoryKV()
        self.notices = RecordingNotices()
        self._services = AdapterServices(kv=self.kv, clock=clock, templates=Templates({}),
                                         notices=self.notices, commands=COMMANDS)
        self.events: list[Any] = []
        self.handled: list[Any] = []
        self.gate: asyncio.Event | None = None
        self.ready_calls = 0
        self.events_when_ready: int | None = None

        def default_answer(event: Any) -> Any:
            if isinstance(event, CommandInvoked):
                return CommandResult(f"ran {event.name} {sorted(event.options.items())}")
            if isinstance(event, ButtonPressed):
                return CommandResult(f"{event.action} alert {event.alert_id}")
            return None

        self.answer: Callable[[Any], Any] = default_answer

    @property
    def services(self) -> AdapterServices:
        return self._services

    def submit(self, event: Event) -> None:
        self.events.append(event)

    def mark_ready(self) -> None:
        """Like :meth:`bot.core.runtime.Haven.mark_ready`: counts calls, notes how many events came first."""
        self.ready_calls += 1
        if self.events_when_ready is None:
            self.events_when_ready = len(self.events)

    async def handle(self, event: Event) -> CommandResult | None:
        self.events.append(event)
        if self.gate is not None:
            await self.gate.wait()
        self.handled.append(event)
        return self.answer(event)

    async def drain(self, timeout: float | None = None) -> bool:
        return True

    def of(self, kind: type) -> list[Any]:
        """Events of one type."""
        return [e for e in self.events if isinstance(e, kind)]


# --------------------------------------------------------------------------- a standard server


ROLES = [
    p.role(p.EVERYONE_ROLE, "@everyone", permissions=p.MEMBER_PERMS, position=0),
    p.role(p.MOD_ROLE, "Moderators", permissions=p.MEMBER_PERMS | p.MANAGE_MESSAGES, position=3),
    p.role(p.PEER_ROLE, "Peer Supporters", permissions=p.MEMBER_PERMS, position=2),
    p.role(p.GREETER_ROLE, "Greeters", permissions=p.MEMBER_PERMS, position=1),
]

ALICE = p.user(p.MEMBER_ID, "alice", global_name="Alice")
MO = p.user(p.MOD_ID, "mo", global_name="Mo")
NEWBIE = p.user(p.NEWCOMER_ID, "newbie")
OWNER = p.user(p.OWNER_ID, "owner")
OTHER_BOT = p.user(p.OTHER_BOT_ID, "helperbot", bot=True)


def private_overwrites() -> list[dict[str, Any]]:
    """A private channel: @everyone may not view it; the moderators' role and Haven may."""
    return [
        p.overwrite(p.EVERYONE_ROLE, deny=p.VIEW_CHANNEL),
        p.overwrite(p.MOD_ROLE, allow=p.VIEW_CHANNEL),
        p.overwrite(p.BOT_ID, member=True, allow=p.VIEW_CHANNEL),
    ]


def standard_channels(*, last_support: str | None = None,
                      mods_overwrites: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """general, support, moderators, venting (CW), a support forum, welcome, nudges.

    The moderators' channel is private (:func:`private_overwrites`) unless
    ``mods_overwrites`` says otherwise (``[]``: everyone can see it).
    """
    mods = private_overwrites() if mods_overwrites is None else mods_overwrites
    return [
        p.text_channel(p.GENERAL, "general", position=0),
        p.text_channel(p.SUPPORT, "support", position=1, last_message_id=last_support),
        p.text_channel(p.MODS, "moderators", position=2, overwrites=mods),
        p.text_channel(p.VENTING, "venting", position=3),
        p.forum_channel(p.SUPPORT_FORUM, "support-forum", position=4),
        p.text_channel(p.WELCOME, "welcome", position=5),
        p.text_channel(p.NUDGES, "peer-support", position=6),
    ]


def standard_guild(*, threads: list[dict[str, Any]] | None = None,
                   channels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The test server: roles, channels, the owner, a moderator and a member."""
    return p.guild(
        roles=ROLES,
        channels=channels or standard_channels(),
        threads=threads or [],
        members=[p.member(OWNER), p.member(MO, roles=(p.MOD_ROLE,)), p.member(ALICE)],
    )


def discord_config(**overrides: Any) -> Any:
    """A Config for Discord tests: support channel and forum, moderators' channel, CW venting."""
    from bot.adapters.discord.config import DiscordConfig
    from bot.core.config import ChannelsConfig, Config, RolesConfig
    from bot.features.content_warnings.config import ContentWarningsConfig
    from bot.features.unanswered.config import SupportPlace, UnansweredConfig

    base: dict[str, Any] = {
        "platform": "discord",
        "channels": ChannelsConfig(moderators="moderators", nudges="peer-support"),
        "roles": RolesConfig(moderators=("Moderators",), peer_supporters=("Peer Supporters",),
                             greeters=("Greeters",)),
        "unanswered": UnansweredConfig(places=(SupportPlace("support", 7200, 43200),
                                               SupportPlace("support-forum", 7200, 43200))),
        "content_warnings": ContentWarningsConfig(channels=("venting",)),
        "discord": DiscordConfig(),
    }
    base.update(overrides)
    return Config(**base)


async def started(monkeypatch: Any, *, config: Any = None, guild: dict[str, Any] | None = None,
                  core: Any = None, start: bool = True) -> tuple[DiscordHarness, Any]:
    """A harness with a :class:`RecordingCore` (unless given), started on the standard server."""
    from bot.core.clock import VirtualClock

    config = config or discord_config()
    if core is None:
        core = RecordingCore(config, VirtualClock())
    assert isinstance(core, CoreSink)
    h = DiscordHarness(config, core, now=core.clock.now, monkeypatch=monkeypatch)
    if start:
        await h.start(guild or standard_guild())
    return h, core

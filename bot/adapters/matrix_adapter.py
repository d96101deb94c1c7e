"""The Matrix adapter: matrix-nio's ``AsyncClient`` <-> Haven's neutral events and verbs.

How it works
------------
* **Sync.** Haven runs its own sync loop instead of ``sync_forever`` so it
  controls exactly when the sync token is saved. The token lives in the store
  (kv ``matrix:next_batch``) and is saved only after the events of that batch
  have been handed to the core *and* the core has finished them
  (``core.drain()``), so a crash means re-delivery, never loss. The very first
  start syncs with a timeline limit of 0 (room history is never acted on); a
  restart syncs ``since`` the saved token with ``full_state`` so member lists
  and power levels are right, and fetches the rest of a *limited* (gappy)
  timeline with ``/messages``, page by page until the saved position, so every
  missed event is processed once. Should a safety limit ever stop that, the
  moderators are told which rooms and time span were not read.
* **Ready.** Once the first sync (with its catch-up) is queued and invited rooms
  are joined, :meth:`Haven.mark_ready` lets the core's timers start.
* **Commands** (``!haven ...`` or a mention of the bot) run once per event id,
  however often a sync replays them; in direct chats only the prefix counts, and
  text that names no command is read as a post too.
* **Direct chats** are delivered as posts in a ``dm`` channel (the core runs
  crisis detection on them), including what was written before Haven joined.
* **Never blocking the sync.** Events go to ``core.submit`` (non-blocking);
  commands, joins and notices run in tasks.
* **Power levels** are computed here (:mod:`bot.adapters.matrix_power`) from
  the raw ``m.room.create`` and ``m.room.power_levels`` state, because nio's
  ``has_permission`` is unreliable and room version 12 gives creators unlimited
  power. In private chats (DMs) a member's level is taken from the moderators'
  room: whoever creates a DM is its creator with unlimited power there.
* **Community.** One Matrix deployment is one community: ``matrix.community_id``
  if set, else the first configured space, else the bot's server name. All
  events and verbs use that id, so the core's per-community queue keeps order.
* **Rate limits.** nio is configured with ``max_limit_exceeded=0`` so
  ``M_LIMIT_EXCEEDED`` comes back to us: short waits (``retry_after_ms``) are
  honoured here a few times with the same transaction id (no duplicates), longer
  ones raise :class:`~bot.core.errors.RateLimited` for the core to reschedule.
* **Private moderators' room.** After the first sync Haven checks that the
  moderators' room is neither public to join nor world-readable; if it is, it
  logs an error and says so once in the room (alerts then leave out excerpts).
* **Encryption.** With ``matrix-nio[e2e]`` installed and ``matrix.store_path``
  set, encrypted rooms are read and written like others. Without them Haven
  refuses to send plaintext into encrypted rooms and tells the moderators,
  once, that it cannot read those rooms. A room is encrypted when it has
  ``m.room.encryption`` state; a stray ``m.room.encrypted`` event elsewhere is junk.
* **Malformed events** are logged by type and id and skipped, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    LoginResponse,
    MegolmEvent,
    MessageDirection,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomResolveAliasResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.exceptions import LocalProtocolError

from bot.adapters.matrix_events import SeenEvents, translate
from bot.adapters.matrix_format import (
    HTML_FORMAT,
    MATRIX_TO,
    command_text,
    render,
    room_link,
    user_pill,
)
from bot.adapters.matrix_power import PowerState, muted_power_levels, unmuted_power_levels
from bot.core.commandspec import COMMANDS, find, parse_command_text
from bot.core.errors import (
    CommandError,
    MissingPermission,
    NotFound,
    PlatformError,
    PrivateMessagesClosed,
    RateLimited,
)
from bot.core.events import (
    Attachment,
    Channel,
    CommandInvoked,
    CommandResult,
    Member,
    MessageRef,
    Outgoing,
)
from bot.core.ports import Capability

if TYPE_CHECKING:
    from bot.core.config import Config
    from bot.core.runtime import Haven

log = logging.getLogger(__name__)

T = TypeVar("T")

ENCRYPTED = "m.room.encrypted"

TOKEN_KEY = "matrix:next_batch"
DMS_KEY = "matrix:dms"
MUTES_KEY = "matrix:mutes"

COLD_START_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 0}}}
"""First start ever: state only, so room history is never acted on."""

SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 50}}}
"""Later syncs; a longer gap is fetched with ``/messages``."""

BACKFILL_PAGE = 100
"""Events asked for per ``/messages`` request when catching up after downtime."""

BACKFILL_MAX_EVENTS = 1_000_000
"""Safety limit of missed events read per room; reaching it is reported to moderators."""

BACKFILL_ATTEMPTS = 3
"""Tries per ``/messages`` page before the rest of that room's gap is reported unread."""

BACKFILL_RETRY_DELAY = 0.5
"""Seconds before the first retry of a failed ``/messages`` page (then longer)."""

TOKEN_AT_KEY = "matrix:next_batch_at"
"""When the sync token was saved (epoch seconds): the start of an unread gap."""

DM_INVITE_TIMEOUT = 600.0
"""Seconds a member has to accept Haven's direct chat invitation before Haven treats
their private messages as closed and points them to it in the welcome room."""

COMMANDS_REMEMBERED = 10000
"""Command event ids remembered so a replayed sync never runs a command twice."""

TEXT_LIMIT = 30000
"""Keep outgoing bodies below Matrix's 64 KiB event limit."""

PUBLIC_MODERATORS_WARNING = (
    "**This room is visible to everyone**; Haven will not post crisis details here until it is "
    "made private. Alerts still arrive here, but without the member's words.\n"
    "To fix it: Room settings > Security & Privacy: make access private (invite only) and let "
    "only members read the history."
)
"""Posted once (per start) in a moderators' room that is not private."""


def server_name(user_id: str) -> str:
    """``example.org`` for ``@haven:example.org``."""
    return user_id.split(":", 1)[1] if ":" in user_id else user_id


def localpart(user_id: str) -> str:
    """``haven`` for ``@haven:example.org``."""
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


OPEN_JOIN_RULES = frozenset({"public", "restricted", "knock", "knock_restricted"})
"""Join rules that let people in without an invite from the room: ``restricted``
lets every member of a space join; ``knock`` lets anyone ask to be let in."""


def room_is_private(join_rule: str | None, history_visibility: str | None) -> bool:
    """Whether a room keeps its messages from outsiders.

    Private means invite only (any join rule but those in
    :data:`OPEN_JOIN_RULES`) and not readable without joining (history
    visibility other than ``world_readable``).
    """
    return join_rule not in OPEN_JOIN_RULES and history_visibility != "world_readable"


def e2e_available() -> bool:
    """Whether matrix-nio's encryption extra (vodozemac) is installed."""
    return bool(ENCRYPTION_ENABLED)


def translate_error(resp: ErrorResponse, action: str, where: str = "") -> PlatformError:
    """Haven's exception for a nio ``*Error`` response."""
    code = resp.status_code or ""
    if code == "M_LIMIT_EXCEEDED" or code == 429:
        return RateLimited((resp.retry_after_ms or 1000) / 1000.0, f"{action} rate limited")
    if code == "M_FORBIDDEN":
        return MissingPermission(action, where)
    if code == "M_NOT_FOUND":
        return NotFound(f"{action}: not found" + (f" ({where})" if where else ""))
    error = PlatformError(f"{action} failed: {code} {resp.message}".strip())
    if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_BAD_JSON", "M_NOT_JSON",
                "M_INVALID_PARAM", "M_TOO_LARGE", "M_UNRECOGNIZED"):
        error.retryable = False
    return error


class LoginFailed(PlatformError):
    """The homeserver refused Haven's secret (wrong password, unknown token)."""

    retryable = False


def _login_failed(user_id: str, secret: str, resp: Any) -> LoginFailed:
    """A clear login error from a nio error response: which secret, and the server's reason."""
    code = getattr(resp, "status_code", None) or ""
    reason = getattr(resp, "message", None) or "no reason given"
    if code in ("M_LIMIT_EXCEEDED", 429):
        reason += " (too many attempts; wait and try again)"
    return LoginFailed(f"Matrix login failed for {user_id} with {secret}: the homeserver said "
                       f"{code} {reason}".replace("  ", " "))


@dataclass
class _RoomPower:
    """Raw state that power levels depend on, per room."""

    create_sender: str | None = None
    create_content: dict[str, Any] | None = None
    power_levels: dict[str, Any] | None = None
    joined_at: dict[str, float] = field(default_factory=dict)

    def state(self) -> PowerState:
        return PowerState(self.create_sender, self.create_content, self.power_levels)


class MatrixAdapter:
    """Haven on Matrix (see the module docstring)."""

    name = "matrix"
    capabilities = frozenset({Capability.ATTACHMENTS, Capability.ROLE_MEMBERS,
                              Capability.CHANNEL_PRIVACY, Capability.TIMEOUT_EXPIRES})

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
        self.config = config
        self.mx = config.matrix
        self.user_id = self.mx.user_id
        self.community_id = (
            self.mx.community_id
            or (self.mx.spaces[0] if self.mx.spaces else None)
            or server_name(self.user_id)
        )
        self.encryption = bool(self.mx.store_path) and e2e_available()
        if self.mx.store_path and not self.encryption:
            log.warning("matrix.store_path is set but matrix-nio[e2e] is not installed: "
                        "Haven cannot read or write end-to-end encrypted rooms")
        if client is None:
            if self.mx.store_path:
                os.makedirs(self.mx.store_path, exist_ok=True)
            client = AsyncClient(
                self.mx.homeserver,
                self.user_id,
                device_id=self.mx.device_id,
                store_path=self.mx.store_path or "",
                config=AsyncClientConfig(
                    max_limit_exceeded=0,
                    max_timeouts=2,
                    request_timeout=30,
                    encryption_enabled=self.encryption,
                    store_sync_tokens=False,
                ),
            )
        self.client = client
        self._access_token = access_token
        self._password = password
        self.sync_timeout_ms = sync_timeout_ms
        self.max_rate_retries = max_rate_retries
        self.max_rate_wait = max_rate_wait
        self.backfill_page = backfill_page
        self.backfill_max = backfill_max
        self.dm_invite_timeout = dm_invite_timeout
        self._dm_invited_at: dict[str, float] = {}
        """When Haven invited a member to each direct room it created (until they join)."""
        self._dm_watch: dict[str, asyncio.Task[Any]] = {}
        self._dm_pointed: set[str] = set()
        """Direct rooms whose member was already pointed to the invitation (once only)."""
        self._last_room: dict[str, str] = {}
        """The community room each member was last seen in (for DM fallbacks)."""
        self._unread: list[tuple[str, float | None, float | None]] = []
        """Rooms whose catch-up stopped early: (room, unread from, unread until)."""
        self._synced_at: float | None = None
        """When the last sync was handled (from the store at start): where a gap begins."""
        self.core: Haven | None = None
        self.ready = asyncio.Event()
        """Set once the first sync has been processed (tests wait on it)."""
        self._closing = asyncio.Event()
        self._rooms: dict[str, _RoomPower] = {}
        self._seen = SeenEvents()
        self._dms: dict[str, str] = {}
        """The direct room Haven uses to write to each user."""
        self._dm_rooms: dict[str, str] = {}
        """Every direct room (room id -> the member), also those members opened."""
        self._aliases: dict[str, str] = {}
        self._mutes: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sync_task: asyncio.Task[Any] | None = None
        self._saved_token: str | None = None
        self._pending_token: str | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._encrypted_reported: set[str] = set()
        self._display_name: str | None = None
        self._dm_lock = asyncio.Lock()
        self._joined_by_invite: set[str] = set()
        self._commands_run: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_env(cls, config: Config, **kwargs: Any) -> MatrixAdapter:
        """Build the adapter with the secret from ``HAVEN_MATRIX_TOKEN`` or ``HAVEN_MATRIX_PASSWORD``."""
        token = os.environ.get("HAVEN_MATRIX_TOKEN") or None
        password = os.environ.get("HAVEN_MATRIX_PASSWORD") or None
        if not token and not password:
            raise PlatformError(
                "set HAVEN_MATRIX_TOKEN (an access token) or HAVEN_MATRIX_PASSWORD "
                f"for {config.matrix.user_id}"
            )
        return cls(config, access_token=token, password=password, **kwargs)

    # ------------------------------------------------------------------
    # life cycle
    # ------------------------------------------------------------------

    @property
    def command_prefix(self) -> str:
        """How a command starts here (config ``matrix.command_prefix``, ``!haven``)."""
        return self.mx.command_prefix

    def attach(self, core: Haven) -> None:
        """Give the adapter the core it feeds events to."""
        self.core = core

    def _core(self) -> Haven:
        if self.core is None:
            raise RuntimeError("MatrixAdapter.attach(core) must be called before run()")
        return self.core

    def secret_in_use(self) -> str:
        """The environment variable whose secret :meth:`login` uses (the token wins)."""
        if self._access_token:
            return "HAVEN_MATRIX_TOKEN"
        return "HAVEN_MATRIX_PASSWORD" if self._password else ""

    async def login(self) -> None:
        """Log in with the access token (checked with whoami) or the password.

        A refused secret raises :class:`LoginFailed` saying which secret and why,
        never a "missing permission". When both are set the token is used, and
        the log says so.
        """
        if self._access_token and self._password:
            log.info("both HAVEN_MATRIX_TOKEN and HAVEN_MATRIX_PASSWORD are set: logging in with "
                     "HAVEN_MATRIX_TOKEN (the password is not used)")
        secret = self.secret_in_use()
        try:
            if self._access_token:
                self.client.access_token = self._access_token
                who = await self.client.whoami()
                if not isinstance(who, WhoamiResponse):
                    raise _login_failed(self.user_id, secret, who)
                if who.user_id != self.user_id:
                    raise LoginFailed(
                        f"Matrix login failed: HAVEN_MATRIX_TOKEN belongs to {who.user_id}, "
                        f"not matrix.user_id {self.user_id}")
                self.client.restore_login(who.user_id, who.device_id or self.mx.device_id,
                                          self._access_token)
            elif self._password:
                resp = await self.client.login(self._password, device_name="Haven", token=None)
                if not isinstance(resp, LoginResponse):
                    raise _login_failed(self.user_id, secret, resp)
            else:
                raise LoginFailed("Matrix login failed: set HAVEN_MATRIX_TOKEN or "
                                  "HAVEN_MATRIX_PASSWORD")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PlatformError(f"Matrix login for {self.user_id} could not reach "
                                f"{self.mx.homeserver}: {exc!r}") from exc
        if self.encryption and self.client.should_upload_keys:
            await self._call("uploading encryption keys", "", self.client.keys_upload)
        profile = await self.client.get_displayname(self.user_id)
        self._display_name = getattr(profile, "displayname", None)
        log.info("Matrix: logged in as %s with %s", self.user_id, secret)

    async def run(self) -> None:
        """Log in, then sync until :meth:`close`; network errors lead to reconnection."""
        core = self._core()
        if not self.client.access_token:
            await self._login_until_done()
        await self._load_state(core)
        self._spawn(self._unmute_loop(), "matrix unmute loop")
        first = True
        backoff = 1.0
        while not self._closing.is_set():
            try:
                await self._sync_once(first)
                first = False
                backoff = 1.0
                if not self.ready.is_set():
                    self.ready.set()
                    self._spawn(self._after_first_sync(), "matrix start-up checks")
                if self._unread:
                    self._spawn(self._report_unread(), "report unread catch-up")
            except asyncio.CancelledError:
                if self._closing.is_set():
                    break
                raise
            except PlatformError as exc:
                if not exc.retryable:
                    log.error("Matrix sync stopped: %s", exc)
                    raise
                log.warning("Matrix sync failed (%s); retrying in %.0fs", exc, backoff)
                await self._sleep_unless_closing(backoff)
                backoff = min(backoff * 2, 60.0)
        await self._flush_checkpoint()

    async def _login_until_done(self) -> None:
        """Log in; a refused secret stops Haven with the reason, network trouble is retried."""
        backoff = 1.0
        while True:
            try:
                await self.login()
                return
            except PlatformError as exc:
                if not exc.retryable:
                    log.error("%s", exc)
                    raise
                log.warning("%s; retrying in %.0fs", exc, backoff)
                await self._sleep_unless_closing(backoff)
                if self._closing.is_set():
                    raise
                backoff = min(backoff * 2, 60.0)

    def _mark_core_ready(self) -> None:
        """Tell the core we are connected and caught up, so its timers start now."""
        mark = getattr(self.core, "mark_ready", None)
        if callable(mark):
            mark()
        log.info("Matrix: connected as %s and caught up (%d rooms)", self.user_id,
                 len(self.client.rooms))

    async def close(self) -> None:
        """Stop syncing, save the sync token, cancel background work, close the client."""
        self._closing.set()
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush_checkpoint(), 30)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.close()

    async def _sleep_unless_closing(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _spawn(self, work: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run ``work`` in a task (logged on failure) so the sync loop never waits for it."""

        async def guarded() -> Any:
            try:
                return await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Matrix background task failed: %s", name)
                return None

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _load_state(self, core: Haven) -> None:
        self._saved_token = await core.store.get_kv(TOKEN_KEY)
        saved_at = await core.store.get_kv(TOKEN_AT_KEY)
        with contextlib.suppress(TypeError, ValueError):
            self._synced_at = float(saved_at) if saved_at else None
        raw_dms = json.loads(await core.store.get_kv(DMS_KEY) or "{}")
        self._dms = dict(raw_dms.get("users", {}))
        self._dm_rooms = dict(raw_dms.get("rooms", {}))
        self._dm_invited_at = {r: float(t) for r, t in dict(raw_dms.get("invited_at", {})).items()
                               if isinstance(t, int | float)}
        self._dm_pointed = {r for r in raw_dms.get("pointed", []) if isinstance(r, str)}
        raw_mutes = await core.store.get_kv(MUTES_KEY)
        self._mutes = dict(json.loads(raw_mutes)) if raw_mutes else {}

    # ------------------------------------------------------------------
    # sync
    # ------------------------------------------------------------------

    async def _sync_once(self, first: bool) -> None:
        """One sync request and the processing of its response."""
        since = self._saved_token if first else self.client.next_batch
        cold = first and since is None
        if cold:
            kwargs: dict[str, Any] = {"timeout": 0, "full_state": True,
                                      "sync_filter": COLD_START_FILTER}
        elif first:
            kwargs = {"timeout": 0, "full_state": True, "since": since, "sync_filter": SYNC_FILTER}
        else:
            kwargs = {"timeout": self.sync_timeout_ms, "since": since, "sync_filter": SYNC_FILTER}
        self._sync_task = asyncio.ensure_future(self._request_sync(kwargs))
        try:
            resp = await self._sync_task
        finally:
            self._sync_task = None
        await self._process(resp, since=None if cold else since, cold=cold)
        if self.encryption:
            await self._encryption_housekeeping()
        self._synced_at = time.time()
        self._checkpoint(resp.next_batch)

    async def _request_sync(self, kwargs: dict[str, Any]) -> SyncResponse:
        try:
            resp = await self.client.sync(**kwargs)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PlatformError(f"sync: network error: {exc!r}") from exc
        if not isinstance(resp, SyncResponse):
            raise translate_error(resp, "sync")
        return resp

    async def _encryption_housekeeping(self) -> None:
        """What ``sync_forever`` would do for end-to-end encryption."""
        client = self.client
        with contextlib.suppress(Exception):
            await client.send_to_device_messages()
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())

    def _checkpoint(self, token: str) -> None:
        """Save ``token`` once the core has handled every event submitted so far."""
        self._pending_token = token
        if self._checkpoint_task is None or self._checkpoint_task.done():
            self._checkpoint_task = asyncio.create_task(self._checkpointer(),
                                                        name="matrix sync checkpoint")

    async def _checkpointer(self) -> None:
        core = self._core()
        while self._pending_token is not None and self._pending_token != self._saved_token:
            token = self._pending_token
            await core.drain()
            await core.store.set_kv(TOKEN_KEY, token)
            await core.store.set_kv(TOKEN_AT_KEY, str(time.time()))
            self._saved_token = token

    async def _flush_checkpoint(self) -> None:
        if self._checkpoint_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        if self._pending_token and self._pending_token != self._saved_token:
            await self._checkpointer()

    async def _process(self, resp: SyncResponse, since: str | None, cold: bool) -> None:
        for room_id, info in resp.rooms.invite.items():
            self._spawn(self._on_invite(room_id, info.invite_state), f"invite {room_id}")
        # State first, for every room and without awaiting anything, so power levels are never
        # read half-updated (nio has already updated its rooms when sync() returns).
        for room_id, info in resp.rooms.join.items():
            for event in (*info.state, *info.timeline.events):
                self._note_state_safely(room_id, _source(event))
        for room_id, info in resp.rooms.join.items():
            events: list[Any] = list(info.timeline.events)
            if info.timeline.limited and since and not cold:
                missed = await self._backfill(room_id, info.timeline.prev_batch, since)
                for event in missed:
                    self._note_state_safely(room_id, _source(event), older=True)
                events = missed + events
            # A room's history from before Haven joined is not acted on, except in a direct
            # chat a member opened: everything there was written to Haven.
            if room_id not in self._dm_rooms:
                events = self._after_own_join(events)
            for event in events:
                if isinstance(event, MegolmEvent) or _source(event).get("type") == ENCRYPTED:
                    self._on_undecrypted(room_id, _source(event))
                    continue
                if not cold:
                    self._on_timeline(room_id, _source(event))
            room = self.client.rooms.get(room_id)
            if room is not None and room.encrypted and not self.encryption:
                self._report_encrypted(room_id)
        for room_id in resp.rooms.leave:
            self._forget_room(room_id)

    def _after_own_join(self, events: list[Any]) -> list[Any]:
        """Drop what happened before the bot joined: a newly joined room's history is not acted on."""
        for index in range(len(events) - 1, -1, -1):
            source = _source(events[index])
            content = _dict(source.get("content"))
            if (source.get("type") == "m.room.member" and source.get("state_key") == self.user_id
                    and content.get("membership") == "join"):
                prev = _dict(_dict(source.get("unsigned")).get("prev_content"))
                if prev.get("membership") != "join":
                    return events[index + 1:]
        return events

    async def _backfill(self, room_id: str, start: str | None, since: str) -> list[Any]:
        """Every event between the saved token and a limited timeline's start (oldest first).

        Pages ``/messages`` back until the saved position, however many pages that
        takes. Only if the safety limit (:attr:`backfill_max`) is reached or the
        server keeps failing does reading stop; the unread span is then noted in
        :attr:`_unread` and reported to the moderators (:meth:`_report_unread`).
        """
        if not start:
            return []
        out: list[Any] = []
        token: str | None = start
        complete = True
        pages = 0
        while token:
            if len(out) >= self.backfill_max:
                complete = False
                break
            limit = min(self.backfill_page, self.backfill_max - len(out))
            resp = await self._messages_page(room_id, token, since, limit)
            if resp is None:
                complete = False
                break
            pages += 1
            if not resp.chunk:
                break
            out.extend(resp.chunk)
            if not resp.end or resp.end == token:
                break
            token = resp.end
        out.reverse()
        if out:
            log.info("fetched %d missed events in %s (%d page(s))", len(out), room_id, pages)
        if not complete:
            oldest = _timestamp(out[0]) if out else None
            self._unread.append((room_id, self._synced_at, oldest))
            log.error("catch-up of %s stopped after %d events: older missed messages were not "
                      "read; moderators are told", room_id, len(out))
        return out

    async def _messages_page(self, room_id: str, token: str, since: str,
                             limit: int) -> RoomMessagesResponse | None:
        """One ``/messages`` page (a few tries); ``None`` when the server keeps failing."""
        for attempt in range(BACKFILL_ATTEMPTS):
            try:
                resp = await self.client.room_messages(room_id, token, end=since,
                                                       direction=MessageDirection.back,
                                                       limit=limit)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("reading missed messages in %s failed (%r)", room_id, exc)
            else:
                if isinstance(resp, RoomMessagesResponse):
                    return resp
                error = translate_error(resp, "reading missed messages", room_id)
                log.warning("reading missed messages in %s failed: %s", room_id, error)
                if isinstance(error, RateLimited):
                    await asyncio.sleep(min(error.retry_after, self.max_rate_wait))
                    continue
            await asyncio.sleep(BACKFILL_RETRY_DELAY * (attempt + 1))
        return None

    async def _report_unread(self) -> None:
        """Tell the moderators plainly which rooms and time span catch-up could not read."""
        gaps, self._unread = self._unread, []
        if not gaps:
            return
        core = self._core()
        lines = []
        for room_id, since, until in gaps:
            start = _when(since) if since else "when Haven stopped"
            end = _when(until) if until else "now"
            lines.append((self._room_name(room_id), f"{start} to {end}"))
        templates = getattr(core, "templates", None)
        messenger = getattr(core, "messenger", None)
        channel = ", ".join(name for name, _ in lines)
        span = "; ".join(f"{name}: {span}" for name, span in lines)
        if templates is None or messenger is None:
            return
        text = templates.render("catchup_incomplete", channel=channel, span=span)
        await messenger.send(self.community_id, self.config.channels.moderators, Outgoing(text))

    def _note_state_safely(self, room_id: str, source: dict[str, Any], older: bool = False) -> None:
        """:meth:`_note_state`, logging and skipping a malformed event."""
        try:
            self._note_state(room_id, source, older)
        except Exception as exc:
            log.warning("skipping malformed state %r in %s (%s)", _short(source.get("type")),
                        room_id, type(exc).__name__)

    def _note_state(self, room_id: str, source: dict[str, Any], older: bool = False) -> None:
        """Keep the raw create/power-levels state and join times for power and newcomer checks.

        ``older`` events (fetched after downtime) never replace newer state.
        """
        etype = source.get("type")
        if source.get("state_key") is None:
            return
        raw_content = source.get("content")
        content = raw_content if isinstance(raw_content, dict) else {}
        power = self._rooms.setdefault(room_id, _RoomPower())
        if etype == "m.room.create" and not (older and power.create_content is not None):
            sender = source.get("sender")
            power.create_sender = sender if isinstance(sender, str) else None
            power.create_content = dict(content)
        elif etype == "m.room.power_levels" and source.get("state_key") == "" and not (
                older and power.power_levels is not None):
            power.power_levels = dict(content)
        elif etype == "m.room.member" and content.get("membership") == "join":
            ts = source.get("origin_server_ts")
            user = source.get("state_key")
            if isinstance(user, str) and isinstance(ts, int | float):
                power.joined_at.setdefault(user, ts / 1000.0)

    def _forget_room(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)
        if room_id in self._dm_rooms:
            del self._dm_rooms[room_id]
            self._dms = {u: r for u, r in self._dms.items() if r != room_id}
            self._spawn(self._save_dms(), "save DMs")

    def _on_timeline(self, room_id: str, source: dict[str, Any]) -> None:
        """Translate one timeline event and hand it to the core (never blocks, never raises).

        An event Haven cannot make sense of (missing or wrongly-typed fields) is
        logged by type and id, never by content, and skipped: one odd payload
        must not stop the sync loop or the events after it.
        """
        try:
            self._timeline_event(room_id, source)
        except Exception as exc:
            log.warning("skipping a malformed %r event %r in %s (%s)", _short(source.get("type")),
                        _short(source.get("event_id")), room_id, type(exc).__name__)

    def _timeline_event(self, room_id: str, source: dict[str, Any]) -> None:
        core = self._core()
        sender = source.get("sender")
        if isinstance(sender, str) and room_id not in self._dm_rooms and sender != self.user_id:
            self._last_room[sender] = room_id
        if source.get("type") == "m.room.member" and source.get("state_key") == self.user_id:
            return
        content = source.get("content")
        if (source.get("type") == "m.room.message" and source.get("sender") != self.user_id
                and isinstance(content, dict) and isinstance(source.get("sender"), str)
                and isinstance(source.get("event_id"), str)
                and "m.new_content" not in content and self._maybe_command(room_id, source)):
            return
        event = translate(source, room_id, self, self._seen)
        if event is not None:
            core.submit(event)

    # ------------------------------------------------------------------
    # RoomContext for translation
    # ------------------------------------------------------------------

    def power_state(self, room_id: str | None) -> PowerState:
        """The power-level state of a room (empty when unknown)."""
        if room_id is None:
            return PowerState()
        known = self._rooms.get(room_id)
        if known is not None and known.power_levels is not None:
            return known.state()
        room = self.client.rooms.get(room_id)
        if room is None:
            return known.state() if known else PowerState()
        # Fall back to nio's parsed view (no creators there) when the raw event is missing.
        pl = room.power_levels
        content = {
            "users": dict(pl.users),
            "users_default": pl.defaults.users_default,
            "events_default": pl.defaults.events_default,
            "state_default": pl.defaults.state_default,
            "ban": pl.defaults.ban, "kick": pl.defaults.kick, "redact": pl.defaults.redact,
            "events": dict(pl.events),
        }
        return PowerState(known.create_sender if known else None,
                          known.create_content if known else None, content)

    def member(self, room_id: str, user_id: str, joined_at: float | None = None) -> Member:
        """A neutral member with Haven-computed power level.

        In DM rooms the level comes from the moderators' room (a DM's creator
        has unlimited power in the DM itself).
        """
        power_room: str | None = room_id
        if room_id in self._dm_rooms:
            power_room = self._moderators_room_id()
        state = self.power_state(power_room)
        name = self._display(user_id, room_id)
        known = self._rooms.get(room_id)
        if joined_at is None and known is not None:
            joined_at = known.joined_at.get(user_id)
        return Member(
            id=user_id,
            name=name,
            is_bot=user_id == self.user_id,
            roles=frozenset({user_id}),
            power_level=state.user_level(user_id),
            is_admin=state.is_admin(user_id),
            joined_at=joined_at,
        )

    def channel(self, room_id: str) -> Channel:
        """A neutral channel; its name is the config reference to it when there is one."""
        room = self.client.rooms.get(room_id)
        kind = "dm" if room_id in self._dm_rooms else "room"
        name = self._config_name(room_id) or (room.display_name if room is not None else room_id)
        parent_id = parent_name = None
        for space in self.mx.spaces:
            space_id = self._resolve_cached(space)
            space_room = self.client.rooms.get(space_id) if space_id else None
            in_space = (room is not None and space_id in room.parents) or (
                space_room is not None and room_id in space_room.children)
            if in_space:
                parent_id = space_id
                parent_name = space_room.display_name if space_room is not None else space
                break
        return Channel(id=room_id, name=name, kind=kind, parent_id=parent_id,
                       parent_name=parent_name)

    def link(self, room_id: str, event_id: str) -> str:
        """A matrix.to link to an event (with ``via`` for server-less v12 room ids)."""
        return room_link(room_id, event_id, via=server_name(self.user_id))

    # ------------------------------------------------------------------
    # names and references
    # ------------------------------------------------------------------

    def _config_refs(self) -> list[str]:
        c = self.config
        refs = [c.channels.moderators, c.channels.welcome, c.channels.rules, c.channels.nudges,
                c.content_warnings.redirect_to, *c.content_warnings.channels,
                *(p.channel for p in c.unanswered.places)]
        return [r for r in refs if r]

    def _config_name(self, room_id: str) -> str | None:
        for ref in self._config_refs():
            if not ref.startswith("!") and self._resolve_cached(ref) == room_id:
                return ref[1:] if ref.startswith("#") else ref
        return None

    def _resolve_cached(self, ref: str) -> str | None:
        """A room id for a config reference without network calls (``None`` if unknown)."""
        if ref.startswith("!"):
            return ref
        if ref in self._aliases:
            return self._aliases[ref]
        wanted = ref.lower()
        bare = wanted[1:] if wanted.startswith("#") else wanted
        for room_id, room in self.client.rooms.items():
            if room_id in self._dm_rooms:
                continue  # members name their private chats; never match those
            alias = (room.canonical_alias or "").lower()
            if alias and (alias == wanted or alias[1:].split(":", 1)[0] == bare):
                return room_id
            if ":" not in bare and (room.name or "").lower() in (bare, wanted):
                return room_id
        return None

    async def resolve_room(self, ref: str) -> str:
        """A room id for a config reference (id, ``#alias:server``, name or ``#name``)."""
        found = self._resolve_cached(ref)
        if found:
            return found
        if ref.startswith("#") and ":" in ref:
            resp = await self.client.room_resolve_alias(ref)
            if isinstance(resp, RoomResolveAliasResponse):
                self._aliases[ref] = resp.room_id
                return str(resp.room_id)
        raise NotFound(f"no Matrix room {ref!r} (is Haven invited to it?)")

    def _moderators_room_id(self) -> str | None:
        return self._resolve_cached(self.config.channels.moderators)

    def _community_rooms(self) -> list[str]:
        """Rooms (not DMs, not spaces) the bot is in: where kicks, bans and mutes apply."""
        return [
            room_id for room_id, room in self.client.rooms.items()
            if room_id not in self._dm_rooms and room.room_type != "m.space"
        ]

    def _display(self, user_id: str, room_id: str | None = None) -> str:
        """A user's display name (from ``room_id`` first, then any room), else the local part."""
        rooms = [self.client.rooms[room_id]] if room_id in self.client.rooms else []
        rooms += list(self.client.rooms.values())
        for room in rooms:
            user = room.users.get(user_id)
            if user is not None and user.display_name:
                return str(user.display_name)
        return localpart(user_id)

    async def _after_first_sync(self) -> None:
        """Resolve config references, warn about rooms Haven cannot see or read, and check
        that the moderators' room is private (:meth:`check_moderators_room`)."""
        try:
            joins = [t for t in self._tasks if t.get_name().startswith("invite ")]
            if joins:
                await asyncio.wait(joins, timeout=30)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(
                    r not in self.client.rooms for r in self._joined_by_invite):
                await asyncio.sleep(0.2)
        finally:
            # Caught up (the first sync and its catch-up are queued) and in the rooms we
            # were invited to: the core's timers may start.
            self._mark_core_ready()
        for room_id in list(self._dm_invited_at):
            member = self._dm_rooms.get(room_id)
            if member is not None:
                self._watch_dm(room_id, member)  # invitations still waiting from before a restart
        for ref in self._config_refs() + list(self.mx.spaces):
            try:
                await self.resolve_room(ref)
            except PlatformError:
                log.warning("config names Matrix room %r but Haven is not in it", ref)
        mods = self._moderators_room_id()
        if mods is None or mods not in self.client.rooms:
            log.error("Haven is not in the moderators' room %r (config key channels.moderators): "
                      "invite it there", self.config.channels.moderators)
            return
        await self.check_moderators_room(mods)

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """Whether the moderators' room (``channels.moderators``) is private (see
        :func:`room_is_private`).

        ``None`` when unknown (Haven is not in the room). One deployment is one
        community, so ``community_id`` is not needed. Read from nio's room state,
        which every sync keeps current, so fixing the room takes effect at once.
        """
        room_id = self._moderators_room_id()
        room = self.client.rooms.get(room_id) if room_id else None
        if room is None:
            return None
        return room_is_private(room.join_rule, room.history_visibility)

    async def check_moderators_room(self, room_id: str) -> bool | None:
        """Log an error and post one warning in the moderators' room if it is not private.

        Alerts then leave out the member's words (see
        :meth:`bot.features.alerts.feature.Alerts.render`). Returns the privacy found.
        """
        private = self.moderators_channel_is_private(self.community_id)
        if private is not False:
            return private
        room = self.client.rooms[room_id]
        reasons = []
        if room.join_rule == "public":
            reasons.append("anyone can join it")
        elif room.join_rule in OPEN_JOIN_RULES:
            reasons.append(f"people can join it without an invite (join rule {room.join_rule})")
        if room.history_visibility == "world_readable":
            reasons.append("anyone can read it without joining")
        log.error("The moderators' room %s (%s) is not private (%s): crisis alerts will be sent "
                  "there without the member's words until it is made private",
                  self._room_name(room_id), room_id, " and ".join(reasons))
        try:
            await self._deliver(room_id, Outgoing(PUBLIC_MODERATORS_WARNING))
        except PlatformError as exc:
            log.error("could not post the privacy warning in the moderators' room: %s", exc)
        return False

    def room_encrypted(self, room_id: str) -> bool:
        """Whether the room really is end-to-end encrypted: it has ``m.room.encryption`` state.

        nio sets ``MatrixRoom.encrypted`` only from that state event (which needs
        power to send), never from an ``m.room.encrypted`` message anyone can send.
        """
        room = self.client.rooms.get(room_id)
        return bool(room is not None and room.encrypted)

    def _on_undecrypted(self, room_id: str, source: dict[str, Any]) -> None:
        """An ``m.room.encrypted`` event Haven could not (or need not) read.

        In an unencrypted room it is junk (anyone can send one): logged and
        ignored, and moderators are not told anything. Only in a really
        encrypted room does a failure to decrypt mean Haven is missing keys.
        """
        if not self.room_encrypted(room_id):
            log.info("ignoring an encrypted event in unencrypted room %s (sender %s, event %s)",
                     room_id, source.get("sender"), source.get("event_id"))
            return
        self._report_encrypted(room_id, undecryptable=True)

    def _report_encrypted(self, room_id: str, undecryptable: bool = False) -> None:
        """Tell admins (log + moderators' room, once) that a room cannot be read."""
        if room_id in self._encrypted_reported or (self.encryption and not undecryptable):
            return
        self._encrypted_reported.add(room_id)
        dm = room_id in self._dm_rooms
        name = "direct chats with members" if dm else self.channel(room_id).name
        if self.encryption:
            what = "decrypt some messages (missing keys)"
        else:
            what = ("read end-to-end encrypted rooms (install matrix-nio[e2e] and set "
                    "matrix.store_path, or use an unencrypted room)")
        if room_id == self._moderators_room_id():
            log.error("The moderators' room %s is end-to-end encrypted: Haven cannot %s, so it "
                      "cannot post alerts there", room_id, what)
            return
        log.error("Haven cannot %s in %s (%s)", what, name, room_id)
        messenger = getattr(self.core, "messenger", None)
        if messenger is not None:
            self._spawn(messenger.report_missing(self.community_id, MissingPermission(what, name)),
                        f"report encrypted {room_id}")

    # ------------------------------------------------------------------
    # haven check --online
    # ------------------------------------------------------------------

    def _config_places(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(config key, room reference, what Haven must be able to do there)``."""
        c = self.config
        places: list[tuple[str, str, tuple[str, ...]]] = []
        if c.channels.moderators:
            places.append(("channels.moderators", c.channels.moderators, ("send",)))
        for key, ref in (("channels.welcome", c.channels.welcome),
                         ("channels.rules", c.channels.rules),
                         ("channels.nudges", c.channels.nudges),
                         ("content_warnings.redirect_to", c.content_warnings.redirect_to)):
            if ref:
                places.append((key, ref, ("send",)))
        for ref in c.content_warnings.channels:
            places.append(("content_warnings.channels", ref, ("send", "redact")))
        for place in c.unanswered.places:
            places.append(("unanswered.places", place.channel, ("send",)))
        return places

    async def check_online(self) -> list[str]:
        """Connect with the real secret and report what is missing, without running Haven.

        Logs in, syncs room state once (no history, nothing acted on, no invites
        accepted, the sync position is not saved) and checks every configured
        room and space: that Haven is in it, that it may post there, that it can
        hide posts, kick, ban and mute in every room it moderates, and that the
        moderators' room is private and readable. Returns the problems found
        (empty: all is well) and closes the connection.
        """
        problems: list[str] = []
        try:
            try:
                await self.login()
            except PlatformError as exc:
                return [str(exc)]
            try:
                # A filter no other request uses: Synapse briefly caches identical syncs,
                # and a check must see the rooms as they are now.
                nonce = f"!havencheck{uuid.uuid4().hex}:{server_name(self.user_id)}"
                fresh = {"room": {"timeline": {"limit": 0}, "not_rooms": [nonce]}}
                resp = await self._request_sync({"timeout": 0, "full_state": True,
                                                 "sync_filter": fresh})
            except PlatformError as exc:
                return [f"the first sync failed: {exc}"]
            for room_id, info in resp.rooms.join.items():
                for event in info.state:
                    self._note_state(room_id, _source(event))
            invited = set(resp.rooms.invite)
            problems += await self._check_places(invited)
            problems += self._check_moderated_rooms()
            problems += self._check_roles()
        finally:
            await self.client.close()
        return problems

    async def _check_places(self, invited: set[str]) -> list[str]:
        problems: list[str] = []
        for key, ref, needs in self._config_places():
            room_id = self._resolve_cached(ref)
            if room_id is None and ref.startswith("#") and ":" in ref:
                resp = await self.client.room_resolve_alias(ref)
                if isinstance(resp, RoomResolveAliasResponse):
                    room_id = str(resp.room_id)
            if room_id is None or room_id not in self.client.rooms:
                waiting = room_id is not None and room_id in invited
                problems.append(
                    f"{key}: Haven is not in the room {ref!r}: "
                    + ("an invite is waiting (Haven accepts it when it runs)" if waiting
                       else "invite it (and check the id, alias or name)"))
                continue
            state = self.power_state(room_id)
            name = self._room_name(room_id)
            if "send" in needs and state.user_level(self.user_id) < state.event_level(
                    "m.room.message"):
                problems.append(f"{key}: Haven may not post in {name} (power level "
                                f"{state.user_level(self.user_id)}, needs "
                                f"{state.event_level('m.room.message')})")
            if "redact" in needs and not state.can(self.user_id, "redact"):
                problems.append(f"{key}: Haven cannot hide posts in {name} (redact needs power "
                                f"level {state.action_level('redact')})")
            if key == "channels.moderators":
                problems += self._check_moderators(room_id, name)
            elif self.room_encrypted(room_id) and not self.encryption:
                problems.append(f"{key}: {name} is end-to-end encrypted: install matrix-nio[e2e] "
                                "and set matrix.store_path, or Haven cannot read it")
        for space in self.mx.spaces:
            space_id = self._resolve_cached(space)
            if space_id is None or space_id not in self.client.rooms:
                problems.append(f"matrix.spaces: Haven is not in the space {space!r}: invite it")
        return problems

    def _check_moderators(self, room_id: str, name: str) -> list[str]:
        problems = []
        room = self.client.rooms[room_id]
        if not room_is_private(room.join_rule, room.history_visibility):
            problems.append(
                f"channels.moderators: {name} is not private (join rule {room.join_rule}, "
                f"history {room.history_visibility}): make it invite-only, members-only history")
        if self.room_encrypted(room_id) and not self.encryption:
            problems.append(f"channels.moderators: {name} is end-to-end encrypted and Haven has "
                            "no encryption (matrix-nio[e2e] and matrix.store_path): it cannot "
                            "post alerts there")
        if not self.role_members("moderators"):
            problems.append(
                f"channels.moderators: nobody in {name} has power level "
                f"{self.mx.moderator_power_level} (matrix.moderator_power_level) and "
                "roles.moderators names no user ids: nobody could run moderator commands")
        return problems

    def _check_moderated_rooms(self) -> list[str]:
        """Hide, kick, ban and mute need power in every community room Haven is in."""
        problems = []
        for room_id in self._community_rooms():
            state = self.power_state(room_id)
            name = self._room_name(room_id)
            missing = [f"{action} (needs {state.action_level(action)})"
                       for action in ("redact", "kick", "ban") if not state.can(self.user_id, action)]
            if not state.can_send_state(self.user_id, "m.room.power_levels"):
                missing.append("mute: change power levels (needs "
                               f"{state.event_level('m.room.power_levels', state=True)})")
            if missing:
                problems.append(f"{name} ({room_id}): Haven's power level "
                                f"{state.user_level(self.user_id)} is too low to "
                                + ", ".join(missing))
        return problems

    def _check_roles(self) -> list[str]:
        roles = self.config.roles
        problems = []
        for key, entries in (("roles.peer_supporters", roles.peer_supporters),
                             ("roles.greeters", roles.greeters)):
            for entry in entries:
                if not (entry.startswith("@") and ":" in entry):
                    problems.append(f"{key}: {entry!r} is not a Matrix user id "
                                    "(like @sam:example.org): nobody is pinged for it")
        return problems

    # ------------------------------------------------------------------
    # invites
    # ------------------------------------------------------------------

    def _allowed_servers(self) -> set[str]:
        return set(self.mx.allowed_servers) or {server_name(self.user_id)}

    def invite_allowed(self, room_id: str, inviter: str | None) -> bool:
        """Whether to accept an invite: configured rooms/spaces, their children, allowed servers."""
        configured = {self._resolve_cached(r) for r in (*self._config_refs(), *self.mx.spaces)}
        if room_id in configured:
            return True
        for space in self.mx.spaces:
            space_id = self._resolve_cached(space)
            room = self.client.rooms.get(space_id) if space_id else None
            if room is not None and room_id in room.children:
                return True
        allowed = self._allowed_servers()
        room_server = room_id.split(":", 1)[1] if ":" in room_id else None
        if room_server is not None and room_server not in allowed:
            return False
        return inviter is not None and server_name(inviter) in allowed

    async def _on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        inviter = None
        is_direct = False
        for event in invite_state:
            source = _source(event)
            if source.get("type") == "m.room.member" and source.get("state_key") == self.user_id:
                inviter = source.get("sender")
                is_direct = bool((source.get("content") or {}).get("is_direct"))
        if not self.invite_allowed(room_id, inviter):
            log.warning("declining invite to %s from %s: not an allowed server or space",
                        room_id, inviter)
            await self.client.room_leave(room_id)
            return
        direct = is_direct and isinstance(inviter, str)
        if direct:
            # Known as a direct chat before the join, so the sync that brings the room
            # treats it as one (what the member wrote before Haven joined is read).
            self._dm_rooms[room_id] = str(inviter)
        try:
            await self._call("joining a room", room_id, self.client.join, room_id)
        except PlatformError:
            if direct:
                self._dm_rooms.pop(room_id, None)
            raise
        self._joined_by_invite.add(room_id)
        log.info("joined %s (invited by %s)", room_id, inviter)
        if direct:
            self._dms.setdefault(str(inviter), room_id)
            await self._save_dms()

    async def _save_dms(self) -> None:
        await self._core().store.set_kv(
            DMS_KEY, json.dumps({"users": self._dms, "rooms": self._dm_rooms,
                                 "invited_at": self._dm_invited_at,
                                 "pointed": sorted(self._dm_pointed)}, sort_keys=True))

    # ------------------------------------------------------------------
    # commands
    # ------------------------------------------------------------------

    def _command_place(self, room_id: str, channel: Channel) -> bool:
        if channel.kind == "dm":
            return True
        if room_id == self._moderators_room_id() or self.config.is_moderators_channel(channel):
            return True
        return self.config.support_place(channel) is not None

    def _maybe_command(self, room_id: str, source: dict[str, Any]) -> bool:
        """Start a command task if this message is a command in a place that takes them.

        Returns whether the message was taken as a command (and so is not a post).
        A command runs once per event id, however often a sync or catch-up replays
        it. In direct chats only the prefix makes a command (``Haven, I can't go
        on`` is a message to read, not a command). Text that names no command is
        also handed on as a post, so nothing a member writes goes unread.
        """
        content = source.get("content") or {}
        names = tuple(n for n in (self._display_name,) if n)
        channel = self.channel(room_id)
        text = command_text(content, self.mx.command_prefix, self.user_id, names,
                            mentions=channel.kind != "dm")
        if text is None:
            return False
        if not self._command_place(room_id, channel):
            return False
        sender = str(source["sender"])
        event_id = str(source["event_id"])
        prefixed = command_text(content, self.mx.command_prefix, self.user_id, (),
                                mentions=False) is not None
        # `!haven <command>` is a command even with wrong arguments (the answer says
        # how to use it). After a mention ("Haven, help me, I want to die") it is one
        # only if it parses; otherwise it is someone talking to Haven: a post.
        known = _names_a_command(text) if prefixed else _parses(text)
        if not known and not prefixed:
            return False
        if event_id in self._commands_run:
            log.info("command event %s was run already; ignoring the repeat", event_id)
            return known
        self._commands_run[event_id] = None
        while len(self._commands_run) > COMMANDS_REMEMBERED:
            self._commands_run.popitem(last=False)
        thread_root = _thread_root(content)
        ref = MessageRef(self.community_id, room_id, event_id, thread_root)
        invoker = self.member(room_id, sender)
        ts = source.get("origin_server_ts")
        at = float(ts) / 1000.0 if isinstance(ts, int | float) and ts else time.time()
        self._spawn(self._run_command(text, channel, invoker, ref, at), f"command in {room_id}")
        return known

    async def _run_command(self, text: str, channel: Channel, invoker: Member, ref: MessageRef,
                           at: float) -> None:
        core = self._core()
        try:
            spec, options = parse_command_text(text)
        except CommandError as exc:
            await self._answer(ref, channel, invoker,
                               CommandResult(str(exc), ephemeral=False, ok=False))
            return
        event = CommandInvoked(self.community_id, at, channel, invoker, name=spec.name,
                               options=options, message=ref, delivery_id=ref.message_id)
        result = await core.handle(event)
        if result is not None:
            await self._answer(ref, channel, invoker, result)

    async def _answer(self, ref: MessageRef, channel: Channel, invoker: Member,
                      result: CommandResult) -> None:
        """Answer a command in a thread under it; private answers go by DM outside mod/DM rooms."""
        msg = Outgoing(result.text, attachments=result.attachments)
        public = channel.kind != "dm" and not self.config.is_moderators_channel(channel) \
            and ref.channel_id != self._moderators_room_id()
        if result.ephemeral and result.ok and public:
            try:
                await self.send_private(ref.community_id, invoker.id, msg)
                msg = Outgoing("I've sent you the answer in a direct message.")
            except PlatformError as exc:
                log.warning("could not answer %s privately: %s", invoker.id, exc)
                msg = Outgoing("I couldn't send you a direct message. Please start a direct "
                               "chat with me and run the command there.")
        try:
            await self._send_thread(ref, msg)
        except PlatformError as exc:
            log.warning("could not answer a command in %s: %s", ref.channel_id, exc)

    # ------------------------------------------------------------------
    # requests
    # ------------------------------------------------------------------

    async def _call(self, action: str, where: str, fn: Callable[..., Awaitable[T]],
                    *args: Any, **kwargs: Any) -> T:
        """Call a nio method; honour short rate limits, translate errors to Haven's."""
        attempts = 0
        while True:
            try:
                resp = await fn(*args, **kwargs)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise PlatformError(f"{action}: network error: {exc!r}") from exc
            except LocalProtocolError as exc:
                raise PlatformError(f"{action}: {exc}") from exc
            if isinstance(resp, ErrorResponse):
                error = translate_error(resp, action, where)
                if isinstance(error, RateLimited):
                    attempts += 1
                    if attempts <= self.max_rate_retries and error.retry_after <= self.max_rate_wait:
                        log.info("rate limited while %s; retrying in %.1fs", action,
                                 error.retry_after)
                        await asyncio.sleep(error.retry_after)
                        continue
                raise error
            return resp

    def _guard_encrypted(self, room_id: str) -> None:
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted and self.client.olm is None:
            raise MissingPermission(
                "send to end-to-end encrypted rooms (install matrix-nio[e2e] and set "
                "matrix.store_path)", self.channel(room_id).name)

    async def _send_content(self, room_id: str, content: dict[str, Any],
                            event_type: str = "m.room.message", tx_id: str | None = None) -> str:
        """Send one event (same transaction id on every retry); returns its event id.

        ``tx_id`` derived from an :attr:`Outgoing.dedupe_key` makes a send repeated after a
        crash the same transaction, so the homeserver keeps one event.
        """
        self._guard_encrypted(room_id)
        if event_type == "m.room.message" and len(content.get("body", "")) > TEXT_LIMIT:
            content = {**content, "body": content["body"][:TEXT_LIMIT] + "…"}
            content.pop("formatted_body", None)
            content.pop("format", None)
        resp = await self._call(
            "sending a message", self._room_name(room_id), self.client.room_send,
            room_id, event_type, content, tx_id=tx_id or str(uuid.uuid4()),
            ignore_unverified_devices=True,
        )
        assert isinstance(resp, RoomSendResponse)
        return str(resp.event_id)

    def _room_name(self, room_id: str) -> str:
        room = self.client.rooms.get(room_id)
        return self._config_name(room_id) or (room.display_name if room is not None else room_id)

    async def _deliver(self, room_id: str, msg: Outgoing, relates: dict[str, Any] | None = None,
                       header: str = "", extra_mentions: tuple[str, ...] = (),
                       commands: bool = True) -> MessageRef:
        """Render and send ``msg`` (then its attachments) in a room."""
        roles_users = self._role_users(msg.mention_roles)
        mentions = (*extra_mentions, *roles_users)
        names = {u: self._display(u, room_id) for u in (*msg.mention_users, *mentions)}
        content = render(msg, extra_mentions=mentions, names=names,
                         prefix=self.mx.command_prefix, header=header, commands=commands)
        if relates:
            content["m.relates_to"] = relates
        tx = _transaction_id(msg.dedupe_key)
        event_id = await self._send_content(room_id, content, tx_id=tx)
        thread = relates.get("event_id") if relates and relates.get("rel_type") == "m.thread" else None
        for i, attachment in enumerate(msg.attachments):
            media = await self._upload(room_id, attachment)
            if relates:
                media["m.relates_to"] = relates
            await self._send_content(room_id, media, tx_id=f"{tx}-{i}" if tx else None)
        return MessageRef(self.community_id, room_id, event_id, thread)

    async def _upload(self, room_id: str, attachment: Attachment) -> dict[str, Any]:
        """Upload a file; the ``m.image``/``m.file`` content that shows it."""
        room = self.client.rooms.get(room_id)
        encrypt = bool(room is not None and room.encrypted and self.client.olm is not None)
        data = attachment.data

        def provider(_got_429: int, _got_timeouts: int) -> io.BytesIO:
            return io.BytesIO(data)

        resp, keys = await self._call(
            "uploading a file", self._room_name(room_id), _upload_call, self.client, provider,
            attachment.content_type, attachment.filename, encrypt, len(data))
        is_image = attachment.content_type.startswith("image/")
        content: dict[str, Any] = {
            "msgtype": "m.image" if is_image else "m.file",
            "body": attachment.filename,
            "filename": attachment.filename,
            "info": {"mimetype": attachment.content_type, "size": len(data)},
        }
        if keys:
            content["file"] = {**keys, "url": resp.content_uri}
        else:
            content["url"] = resp.content_uri
        return content

    async def _send_thread(self, ref: MessageRef, msg: Outgoing) -> MessageRef:
        """Post in the thread under ``ref`` (the thread it is in, or a new one rooted at it)."""
        root = ref.thread_id or ref.message_id
        relates = {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                   "m.in_reply_to": {"event_id": ref.message_id}}
        return await self._deliver(ref.channel_id, msg, relates)

    # ------------------------------------------------------------------
    # Platform verbs
    # ------------------------------------------------------------------

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in a room named by config (id, alias, name or ``#name``)."""
        room_id = await self.resolve_room(channel)
        return await self._deliver(room_id, msg)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message; inside its thread when it is in one."""
        if to.thread_id:
            relates = {"rel_type": "m.thread", "event_id": to.thread_id, "is_falling_back": False,
                       "m.in_reply_to": {"event_id": to.message_id}}
        else:
            relates = {"m.in_reply_to": {"event_id": to.message_id}}
        return await self._deliver(to.channel_id, msg, relates)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send in the member's direct room with the bot (created once, then reused).

        A member who has not accepted Haven's invitation to that room within
        :attr:`dm_invite_timeout` is treated like a member whose private messages
        are closed (:class:`PrivateMessagesClosed`, so the core uses its
        fallback, as for closed DMs); when they accept, private messages work again.
        A message sent into a still-unaccepted invitation is followed, after that
        bound, by a short note in the welcome room asking them to accept it.
        """
        room_id = await self._dm_room(user_id)
        if self._dm_unaccepted_for(room_id, user_id) > self.dm_invite_timeout:
            raise PrivateMessagesClosed(
                f"{user_id} has not accepted Haven's direct chat invitation")
        ref = await self._deliver(room_id, msg)
        self._watch_dm(room_id, user_id)
        return ref

    def _watch_dm(self, room_id: str, user_id: str) -> None:
        """Start the invitation watcher for a direct room (once per member, and only once
        per room ever: the note is not repeated, also not after a restart)."""
        if (room_id in self._dm_invited_at and room_id not in self._dm_pointed
                and user_id not in self._dm_watch and self._dm_pending(room_id, user_id)):
            self._dm_watch[user_id] = self._spawn(self._watch_dm_invite(room_id, user_id),
                                                  f"DM invite {user_id}")

    def _dm_pending(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is invited to (but has not joined) the direct room."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return room_id in self._dm_invited_at
        return user_id in room.invited_users or user_id not in room.users

    def _dm_unaccepted_for(self, room_id: str, user_id: str) -> float:
        """Seconds the member's invitation to the direct room has been waiting (0: joined)."""
        invited = self._dm_invited_at.get(room_id)
        if invited is None:
            return 0.0
        if not self._dm_pending(room_id, user_id):
            del self._dm_invited_at[room_id]
            self._dm_pointed.discard(room_id)
            self._spawn(self._save_dms(), "save DMs")
            return 0.0
        return time.time() - invited

    async def _watch_dm_invite(self, room_id: str, user_id: str) -> None:
        """After the bound, point a member who has not accepted the invitation to it."""
        try:
            invited = self._dm_invited_at.get(room_id, time.time())
            deadline = invited + self.dm_invite_timeout
            while time.time() < deadline:
                await self._sleep_unless_closing(min(1.0, max(0.05, deadline - time.time())))
                if self._closing.is_set() or not self._dm_pending(room_id, user_id):
                    return
            self._dm_pointed.add(room_id)
            await self._save_dms()
            await self._point_to_dm(user_id)
        finally:
            self._dm_watch.pop(user_id, None)

    async def _point_to_dm(self, user_id: str) -> None:
        """Post the ``dm_not_accepted`` note in the welcome room (or where they were seen)."""
        core = self._core()
        templates = getattr(core, "templates", None)
        place = self.config.channels.welcome or self._last_room.get(user_id)
        if templates is None or not place:
            log.warning("member %s has not accepted Haven's direct chat invitation and there "
                        "is no welcome room to tell them in", user_id)
            return
        text = templates.render("dm_not_accepted", member=self.user_mention(user_id))
        log.info("member %s has not accepted Haven's direct chat invitation; telling them in %s",
                 user_id, place)
        try:
            await self.send(self.community_id, place, Outgoing(text, mention_users=(user_id,)))
        except PlatformError as exc:
            log.warning("could not point %s to their direct chat: %s", user_id, exc)

    async def _dm_room(self, user_id: str) -> str:
        async with self._dm_lock:
            room_id = self._dms.get(user_id)
            if room_id is not None:
                room = self.client.rooms.get(room_id)
                if room is None or user_id in room.users or user_id in room.invited_users \
                        or await self._dm_member_still_there(room_id, user_id):
                    return room_id
                # They left: forget it and start a new one.
                self._dm_rooms.pop(room_id, None)
                self._dms.pop(user_id, None)
            initial_state = []
            if self.encryption:
                initial_state.append({"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
            try:
                resp = await self._call(
                    "starting a direct chat", user_id, self.client.room_create,
                    is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
                    initial_state=initial_state)
            except (MissingPermission, NotFound) as exc:
                raise PrivateMessagesClosed(f"{user_id} does not accept direct chats: {exc}") from exc
            assert isinstance(resp, RoomCreateResponse)
            room_id = str(resp.room_id)
            self._dms[user_id] = room_id
            self._dm_rooms[room_id] = user_id
            self._dm_invited_at[room_id] = time.time()
            await self._save_dms()
            if self.encryption:
                await self._wait_for_room(room_id, user_id)
            return room_id

    async def _dm_member_still_there(self, room_id: str, user_id: str) -> bool:
        """Whether the homeserver has ``user_id`` joined or invited in direct room ``room_id``.

        nio's view of a direct room can lack its member (seen by the Synapse chaos test
        after a restart soon after the room was made). Starting a new room then would
        repeat a message in it, where its transaction id no longer dedupes it: only a
        membership the server reports as gone counts as gone.
        """
        try:
            resp = await self._call("reading a membership", room_id,
                                    self.client.room_get_state_event, room_id, "m.room.member",
                                    user_id)
        except NotFound:
            return False
        except PlatformError as exc:
            log.info("could not read %s's membership of %s (%s); keeping the room", user_id,
                     room_id, exc)
            return True
        return isinstance(resp, RoomGetStateEventResponse) and \
            resp.content.get("membership") in ("join", "invite")

    async def _wait_for_room(self, room_id: str, member: str, timeout: float = 15.0) -> None:
        """Wait until sync shows the new encrypted room with ``member`` invited.

        Synapse may answer a sync half-way through creating a room; encrypting
        before the invite is known would share the keys with nobody.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            room = self.client.rooms.get(room_id)
            if room is not None and room.encrypted and member in room.users:
                return
            await asyncio.sleep(0.05)
        log.warning("direct room %s with %s not synced after %.0fs", room_id, member, timeout)

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text of a message the bot sent (``m.replace``)."""
        new = render(msg, prefix=self.mx.command_prefix,
                     names={u: self._display(u, ref.channel_id) for u in msg.mention_users})
        content = {
            "msgtype": "m.text",
            "body": "* " + new["body"],
            "format": HTML_FORMAT,
            "formatted_body": "* " + new["formatted_body"],
            "m.new_content": new,
            "m.mentions": {},
            "m.relates_to": {"rel_type": "m.replace", "event_id": ref.message_id},
        }
        await self._send_content(ref.channel_id, content)

    async def hide(self, ref: MessageRef, reason: str) -> None:
        """Redact a message (and any edits of it Haven has seen), with a reason."""
        where = self._room_name(ref.channel_id)
        await self._call("removing a message (redact)", where, self.client.room_redact,
                         ref.channel_id, ref.message_id, reason=reason, tx_id=str(uuid.uuid4()))
        known = self._seen.get(ref.message_id)
        for edit_id in known.edits if known else []:
            with contextlib.suppress(PlatformError):
                await self._call("removing an edit (redact)", where, self.client.room_redact,
                                 ref.channel_id, edit_id, reason=reason, tx_id=str(uuid.uuid4()))

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        """Matrix messages have no tags (Discord forum tags): nothing to do."""
        return None

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        """Mute through power levels in every community room, restored after ``seconds``."""
        until = self._now() + seconds
        await self.mute(community_id, user_id, reason, until=until)

    def _now(self) -> float:
        clock = getattr(self.core, "clock", None)
        return float(clock.now()) if clock is not None else time.time()

    async def mute(self, community_id: str, user_id: str, reason: str,
                   until: float | None = None) -> int:
        """Set ``user_id`` below ``events_default`` in each room they are in; returns rooms muted.

        The previous explicit level is remembered in the store and restored by
        :meth:`unmute` (called automatically once ``until`` has passed).
        """
        muted = 0
        failure: PlatformError | None = None
        for room_id in self._community_rooms():
            room = self.client.rooms[room_id]
            if user_id not in room.users:
                continue
            where = self._room_name(room_id)
            try:
                state = await self._fresh_power(room_id)
                content, old = muted_power_levels(state, user_id, self.user_id)
            except PermissionError as exc:
                failure = failure or MissingPermission(f"muting ({exc})", where)
                continue
            except PlatformError as exc:
                failure = failure or exc
                continue
            key = f"{room_id}|{user_id}"
            previous = self._mutes.get(key)
            # Remember the level first, so a crash right after muting still restores it.
            self._mutes[key] = {"old": previous["old"] if previous else old, "until": until,
                                "reason": reason}
            await self._save_mutes()
            try:
                await self._call("muting a member (power levels)", where,
                                 self.client.room_put_state, room_id, "m.room.power_levels",
                                 content)
            except PlatformError as exc:
                if previous is None:
                    del self._mutes[key]
                    await self._save_mutes()
                failure = failure or exc
                continue
            muted += 1
        if muted == 0:
            if failure is not None:
                raise failure
            raise NotFound(f"{user_id} is not in any room Haven moderates")
        return muted

    async def unmute(self, community_id: str, user_id: str) -> int:
        """Give ``user_id`` back the power level they had before :meth:`mute`; returns rooms."""
        restored = 0
        for key in [k for k in self._mutes if k.endswith(f"|{user_id}")]:
            room_id = key.split("|", 1)[0]
            entry = self._mutes[key]
            if room_id in self.client.rooms:
                state = await self._fresh_power(room_id)
                content = unmuted_power_levels(state, user_id, entry.get("old"))
                await self._call("unmuting a member (power levels)", self._room_name(room_id),
                                 self.client.room_put_state, room_id, "m.room.power_levels",
                                 content)
                restored += 1
            del self._mutes[key]
            await self._save_mutes()
        return restored

    async def unmute_due(self) -> int:
        """Unmute every member whose timeout has ended; returns how many were unmuted."""
        now = self._now()
        due = {k.split("|", 1)[1] for k, v in self._mutes.items()
               if v.get("until") is not None and v["until"] <= now}
        count = 0
        for user_id in sorted(due):
            try:
                await self.unmute(self.community_id, user_id)
                count += 1
            except PlatformError as exc:
                log.warning("could not unmute %s yet: %s", user_id, exc)
        return count

    async def _unmute_loop(self, interval: float = 5.0) -> None:
        while not self._closing.is_set():
            await self.unmute_due()
            await self._sleep_unless_closing(interval)

    async def _save_mutes(self) -> None:
        await self._core().store.set_kv(MUTES_KEY, json.dumps(self._mutes, sort_keys=True))

    async def _fresh_power(self, room_id: str) -> PowerState:
        """Power state with the current power levels fetched from the server."""
        resp = await self._call("reading power levels", self._room_name(room_id),
                                self.client.room_get_state_event, room_id, "m.room.power_levels")
        assert isinstance(resp, RoomGetStateEventResponse)
        power = self._rooms.setdefault(room_id, _RoomPower())
        power.power_levels = dict(resp.content)
        return power.state()

    async def kick(self, community_id: str, user_id: str, reason: str) -> None:
        """Kick ``user_id`` from every community room they are in."""
        rooms = [r for r in self._community_rooms() if user_id in self.client.rooms[r].users]
        if not rooms:
            raise NotFound(f"{user_id} is not in any room Haven moderates")
        await self._each_room("removing a member (kick)", rooms, self.client.room_kick,
                              user_id, reason)

    async def ban(self, community_id: str, user_id: str, reason: str) -> None:
        """Ban ``user_id`` from every community room (and configured spaces)."""
        rooms = self._community_rooms()
        for space in self.mx.spaces:
            space_id = self._resolve_cached(space)
            if space_id and space_id in self.client.rooms and space_id not in rooms:
                rooms.append(space_id)
        await self._each_room("banning a member", rooms, self.client.room_ban, user_id, reason)

    async def _each_room(self, action: str, rooms: list[str], fn: Callable[..., Awaitable[Any]],
                         user_id: str, reason: str) -> None:
        done = 0
        first_error: PlatformError | None = None
        for room_id in rooms:
            try:
                await self._call(action, self._room_name(room_id), fn, room_id, user_id,
                                 reason=reason)
                done += 1
            except PlatformError as exc:
                log.warning("%s failed in %s: %s", action, room_id, exc)
                first_error = first_error or exc
        if done == 0 and first_error is not None:
            raise first_error

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        """Post on the author's behalf, naming them (Matrix has no webhooks)."""
        room_id = await self.resolve_room(channel)
        header = f"Posted on behalf of {user_pill(author.id, author.name)}:"
        return await self._deliver(room_id, msg, header=header, extra_mentions=(author.id,),
                                   commands=False)

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """A member of the community's rooms by user id, pill, local name or display name.

        ``query`` may be ``@bob:example.org``, a matrix.to link, ``bob`` or ``@bob``
        (the local part), ``Bob Smith`` (a display name, any case) or nio's
        disambiguated form ``Bob (@bob:example.org)``. Only people who have joined
        a community room count (not invitees, not those who left, not Haven).
        ``None`` when nobody matches or the name fits more than one member. The
        answer's :attr:`Member.name` is the member's display name.
        """
        q = query.strip()
        if q.startswith(MATRIX_TO):
            q = unquote(q[len(MATRIX_TO):]).split("?", 1)[0]
        if q.endswith(")") and "(@" in q:
            q = q[q.rindex("(@") + 1:-1]
        rooms = [r for r in self._community_rooms() if r in self.client.rooms]

        def joined(room_id: str) -> dict[str, Any]:
            room = self.client.rooms[room_id]
            return {uid: user for uid, user in room.users.items()
                    if uid not in room.invited_users and uid != self.user_id}

        if q.startswith("@") and ":" in q:
            for room_id in rooms:
                if q in joined(room_id):
                    return self.member(room_id, q)
            return None
        key = " ".join(q.lstrip("@").split()).casefold()
        if not key:
            return None
        found: dict[str, str] = {}
        for room_id in rooms:
            for uid, user in joined(room_id).items():
                display = " ".join((user.display_name or "").split()).casefold()
                if key in (localpart(uid).casefold(), display):
                    found.setdefault(uid, room_id)
        if len(found) != 1:
            if found:
                log.info("member name %r is ambiguous (%d members)", query, len(found))
            return None
        uid, room_id = next(iter(found.items()))
        return self.member(room_id, uid)

    def user_mention(self, user_id: str) -> str:
        """A pill (Markdown link to matrix.to) that :func:`render` turns into a mention."""
        return user_pill(user_id, self._display(user_id))

    def _role_users(self, roles: tuple[str, ...]) -> tuple[str, ...]:
        users: list[str] = []
        for role in roles:
            users.extend(self.role_members(role))
        return tuple(dict.fromkeys(u for u in users if u != self.user_id))

    def role_members(self, role: str) -> list[str]:
        """Users a role-like group names on Matrix.

        A user id is itself; the name of a configured group (``moderators``,
        ``peer_supporters``, ``greeters`` or a name listed in them) gives the user
        ids listed in that group; moderator names also give the members of the
        moderators' room whose power level reaches ``moderator_power_level``.
        """
        if role.startswith("@") and ":" in role:
            return [role]
        roles = self.config.roles
        groups = {"moderators": roles.moderators, "peer_supporters": roles.peer_supporters,
                  "greeters": roles.greeters}
        users: list[str] = []
        for key, entries in groups.items():
            if role == key or role in entries:
                users.extend(e for e in entries if e.startswith("@") and ":" in e)
                if key == "moderators":
                    mods = self._moderators_room_id()
                    room = self.client.rooms.get(mods) if mods else None
                    if room is not None:
                        users.extend(self.power_state(mods).users_at_least(
                            self.mx.moderator_power_level, room.users))
        return list(dict.fromkeys(u for u in users if u != self.user_id))

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """The users a group names (:meth:`role_members`); ``None`` when it names nobody."""
        users = self.role_members(role)
        return tuple(users) if users else None

    def role_mention(self, community_id: str, role: str) -> str:
        """Pills of the group's users when config names them, else a plain label."""
        users = self.role_members(role)
        if users:
            return " ".join(user_pill(u, self._display(u)) for u in users)
        return f"@{role}"

    def channel_mention(self, community_id: str, channel: str) -> str:
        """A link to a room named in config."""
        room_id = self._resolve_cached(channel) or channel
        room = self.client.rooms.get(room_id)
        target = (room.canonical_alias if room is not None and room.canonical_alias else room_id)
        label = self._config_name(room_id) or (room.display_name if room is not None else channel)
        label = label if label.startswith("#") else f"#{label}"
        return f"[{label}]({room_link(target, via=server_name(self.user_id))})"

    def community_name(self, community_id: str) -> str:
        """The community's name from config, else the space's name, else the server name."""
        if self.config.community.name:
            return self.config.community.name
        for space in self.mx.spaces:
            space_id = self._resolve_cached(space)
            room = self.client.rooms.get(space_id) if space_id else None
            if room is not None:
                return str(room.display_name)
        return server_name(self.user_id)


async def _upload_call(client: AsyncClient, provider: Callable[[int, int], io.BytesIO],
                       content_type: str, filename: str, encrypt: bool,
                       size: int) -> Any:
    """``client.upload`` returns a tuple; give :meth:`MatrixAdapter._call` the response first."""
    resp, keys = await client.upload(provider, content_type=content_type, filename=filename,
                                     encrypt=encrypt, filesize=size)
    if isinstance(resp, ErrorResponse):
        return resp
    assert isinstance(resp, UploadResponse)
    return resp, keys


def _source(event: Any) -> dict[str, Any]:
    """The raw dict of a nio event (with id, sender and time filled in after decryption)."""
    source = dict(getattr(event, "source", None) or {})
    for key, attr in (("event_id", "event_id"), ("sender", "sender"),
                      ("origin_server_ts", "server_timestamp"), ("content", "content")):
        if key not in source and getattr(event, attr, None) is not None:
            source[key] = getattr(event, attr)
    return source


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (payload fields can be anything)."""
    return value if isinstance(value, dict) else {}


def _short(value: Any) -> str:
    """An id or type for a log line: a string, cut short (never message text)."""
    return value[:80] if isinstance(value, str) else type(value).__name__


def _timestamp(event: Any) -> float | None:
    """An event's server time in epoch seconds, if it has a sane one."""
    ts = _source(event).get("origin_server_ts")
    return ts / 1000.0 if isinstance(ts, int | float) and not isinstance(ts, bool) else None


def _when(epoch: float) -> str:
    """``2026-11-30 22:15 UTC`` for moderators."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _parses(text: str) -> bool:
    """Whether ``text`` is a complete, valid command."""
    try:
        parse_command_text(text)
    except CommandError:
        return False
    return True


def _names_a_command(text: str) -> bool:
    """Whether ``text`` starts with a command's name (or is empty: help)."""
    words = text.lower().split()
    if not words:
        return True
    return (find(" ".join(words[:2])) is not None or find(words[0]) is not None
            or any(c.name.startswith(words[0] + " ") for c in COMMANDS))


def _thread_root(content: dict[str, Any]) -> str | None:
    rel = content.get("m.relates_to")
    if isinstance(rel, dict) and rel.get("rel_type") == "m.thread":
        root = rel.get("event_id")
        return root if isinstance(root, str) else None
    return None


__all__ = ["LoginFailed", "MatrixAdapter", "e2e_available", "translate_error"]


def _transaction_id(dedupe_key: str | None) -> str | None:
    """A Matrix transaction id for a send that must happen once (``None``: a fresh one)."""
    if not dedupe_key:
        return None
    return "haven-" + hashlib.sha256(dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

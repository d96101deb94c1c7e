"""The Matrix session: login, the sync loop, sync checkpoints, start-up checks, closing.

* **Sync.** Haven runs its own sync loop instead of ``sync_forever`` so it
  controls exactly when the sync token is saved. The token lives in kv
  (``matrix:next_batch``) and is saved only after the events of that batch have
  been handed to the core *and* the core has finished them (``core.drain()``),
  so a crash means re-delivery, never loss. The very first start syncs with a
  timeline limit of 0 (room history is never acted on); a restart syncs
  ``since`` the saved token with ``full_state`` so member lists and power levels
  are right (the catch-up itself is :mod:`bot.adapters.matrix.inbound`).
* **Ready.** Once the first sync (with its catch-up) is queued and invited rooms
  are joined, ``core.mark_ready()`` lets the core's timers start.
* **Encryption.** With ``matrix-nio[e2e]`` installed and ``matrix.store_path``
  set, the housekeeping ``sync_forever`` would do is done after every sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp
from nio import LoginResponse, SyncResponse, WhoamiResponse

from bot.adapters.matrix.api import Api, LoginFailed, login_failed, translate_error
from bot.adapters.matrix.checks import Checks
from bot.adapters.matrix.context import MatrixContext
from bot.adapters.matrix.dm import DirectChats
from bot.adapters.matrix.inbound import Inbound
from bot.adapters.matrix.moderation import MatrixModeration
from bot.adapters.matrix.rooms import Rooms
from bot.core.errors import PlatformError

log = logging.getLogger(__name__)

TOKEN_KEY = "matrix:next_batch"

TOKEN_AT_KEY = "matrix:next_batch_at"
"""When the sync token was saved (epoch seconds): the start of an unread gap."""

COLD_START_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 0}}}
"""First start ever: state only, so room history is never acted on."""

SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 50}}}
"""Later syncs; a longer gap is fetched with ``/messages``."""


class Session:
    """Login, sync loop and checkpoints (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, api: Api, rooms: Rooms, inbound: Inbound,
                 dms: DirectChats, moderation: MatrixModeration, checks: Checks, *,
                 access_token: str | None, password: str | None,
                 sync_timeout_ms: int = 30000) -> None:
        self.ctx = ctx
        self.api = api
        self.rooms = rooms
        self.inbound = inbound
        self.dms = dms
        self.moderation = moderation
        self.checks = checks
        self.client = ctx.client
        self._access_token = access_token
        self._password = password
        self.sync_timeout_ms = sync_timeout_ms
        self.ready = asyncio.Event()
        """Set once the first sync has been processed (tests wait on it)."""
        self._sync_task: asyncio.Task[Any] | None = None
        self._saved_token: str | None = None
        self._pending_token: str | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------
    # login
    # ------------------------------------------------------------------

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
        user_id = self.ctx.user_id
        try:
            if self._access_token:
                self.client.access_token = self._access_token
                who = await self.client.whoami()
                if not isinstance(who, WhoamiResponse):
                    raise login_failed(user_id, secret, who)
                if who.user_id != user_id:
                    raise LoginFailed(
                        f"Matrix login failed: HAVEN_MATRIX_TOKEN belongs to {who.user_id}, "
                        f"not matrix.user_id {user_id}")
                self.client.restore_login(who.user_id, who.device_id or self.ctx.mx.device_id,
                                          self._access_token)
            elif self._password:
                resp = await self.client.login(self._password, device_name="Haven", token=None)
                if not isinstance(resp, LoginResponse):
                    raise login_failed(user_id, secret, resp)
            else:
                raise LoginFailed("Matrix login failed: set HAVEN_MATRIX_TOKEN or "
                                  "HAVEN_MATRIX_PASSWORD")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PlatformError(f"Matrix login for {user_id} could not reach "
                                f"{self.ctx.mx.homeserver}: {exc!r}") from exc
        if self.ctx.encryption and self.client.should_upload_keys:
            await self.api.call("uploading encryption keys", "", self.client.keys_upload)
        profile = await self.client.get_displayname(user_id)
        self.ctx.display_name = getattr(profile, "displayname", None)
        log.info("Matrix: logged in as %s with %s", user_id, secret)

    async def _login_until_done(self) -> None:
        """Log in; a refused secret stops Haven with the reason, network trouble is retried."""
        background = self.ctx.background
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
                await background.sleep_unless_closing(backoff)
                if background.closing.is_set():
                    raise
                backoff = min(backoff * 2, 60.0)

    # ------------------------------------------------------------------
    # life cycle
    # ------------------------------------------------------------------

    async def run(self) -> None:
        """Log in, then sync until :meth:`close`; network errors lead to reconnection."""
        self.ctx.core()  # fails at once, with the reason, if attach() was not called
        background = self.ctx.background
        if not self.client.access_token:
            await self._login_until_done()
        await self._load_state()
        first = True
        backoff = 1.0
        while not background.closing.is_set():
            try:
                await self._sync_once(first)
                first = False
                backoff = 1.0
                if not self.ready.is_set():
                    self.ready.set()
                    background.spawn(self.after_first_sync(), "matrix start-up checks")
                if self.inbound.unread:
                    background.spawn(self.inbound.report_unread(), "report unread catch-up")
            except asyncio.CancelledError:
                if background.closing.is_set():
                    break
                raise
            except PlatformError as exc:
                if not exc.retryable:
                    log.error("Matrix sync stopped: %s", exc)
                    raise
                log.warning("Matrix sync failed (%s); retrying in %.0fs", exc, backoff)
                await background.sleep_unless_closing(backoff)
                backoff = min(backoff * 2, 60.0)
        await self._flush_checkpoint()

    def _mark_core_ready(self) -> None:
        """Tell the core we are connected and caught up, so its timers start now."""
        self.ctx.core().mark_ready()
        log.info("Matrix: connected as %s and caught up (%d rooms)", self.ctx.user_id,
                 len(self.client.rooms))

    async def close(self) -> None:
        """Stop syncing, save the sync token, cancel background work, close the client."""
        self.ctx.background.closing.set()
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush_checkpoint(), 30)
        await self.ctx.background.cancel_all()
        await self.client.close()

    async def _load_state(self) -> None:
        kv = self.ctx.services.kv
        self._saved_token = await kv.get(TOKEN_KEY)
        saved_at = await kv.get(TOKEN_AT_KEY)
        with contextlib.suppress(TypeError, ValueError):
            self.inbound.synced_at = float(saved_at) if saved_at else None
        await self.dms.load()
        await self.moderation.load()

    async def after_first_sync(self) -> None:
        """Resolve config references, warn about rooms Haven cannot see or read, and check
        that the moderators' room is private (:meth:`Checks.check_moderators_room`)."""
        rooms = self.rooms
        try:
            joins = [t for t in self.ctx.background.tasks if t.get_name().startswith("invite ")]
            if joins:
                await asyncio.wait(joins, timeout=30)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(
                    r not in self.client.rooms for r in self.inbound.joined_by_invite):
                await asyncio.sleep(0.2)
        finally:
            # Caught up (the first sync and its catch-up are queued) and in the rooms we
            # were invited to: the core's timers may start.
            self._mark_core_ready()
        for room_id in list(self.ctx.dm.invited_at):
            member = self.ctx.dm.rooms.get(room_id)
            if member is not None:
                self.dms.watch(room_id, member)  # invitations still waiting from before a restart
        self.moderation.resume_legacy()
        for ref in rooms.config_refs() + list(self.ctx.mx.spaces):
            try:
                await rooms.resolve_room(ref)
            except PlatformError:
                log.warning("config names Matrix room %r but Haven is not in it", ref)
        mods = rooms.moderators_room_id()
        if mods is None or mods not in self.client.rooms:
            log.error("Haven is not in the moderators' room %r (config key channels.moderators): "
                      "invite it there", self.ctx.config.channels.moderators)
            return
        await self.checks.check_moderators_room(mods)

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
        self._sync_task = asyncio.ensure_future(self.request_sync(kwargs))
        try:
            resp = await self._sync_task
        finally:
            self._sync_task = None
        await self.inbound.process(resp, since=None if cold else since, cold=cold)
        if self.ctx.encryption:
            await self._encryption_housekeeping()
        self.inbound.synced_at = time.time()
        self._checkpoint(resp.next_batch)

    async def request_sync(self, kwargs: dict[str, Any]) -> SyncResponse:
        """One ``/sync`` request; network trouble and error responses become Haven's errors."""
        try:
            resp = await self.client.sync(**kwargs)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PlatformError(f"sync: network error: {exc!r}") from exc
        if not isinstance(resp, SyncResponse):
            raise translate_error(resp, "sync")
        # Without awaiting: nio has just updated its rooms, and a task that wakes before
        # process() runs must not find a room whose power levels Haven has not read.
        self.inbound.note_states(resp)
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
        core = self.ctx.core()
        kv = core.services.kv
        while self._pending_token is not None and self._pending_token != self._saved_token:
            token = self._pending_token
            await core.drain()
            await kv.set(TOKEN_KEY, token)
            await kv.set(TOKEN_AT_KEY, str(time.time()))
            self._saved_token = token

    async def _flush_checkpoint(self) -> None:
        if self._checkpoint_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        if self._pending_token and self._pending_token != self._saved_token:
            await self._checkpointer()

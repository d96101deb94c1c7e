"""What Haven receives: a sync's rooms and timelines -> neutral events for the core.

* **Catch-up.** A restart syncs ``since`` the saved token; a *limited* (gappy)
  timeline is completed with ``/messages``, page by page until the saved
  position, so every missed event is processed once. Should a safety limit
  ever stop that, the moderators are told which rooms and time span were not read.
* **History is not acted on**: a newly joined room's events from before Haven
  joined are dropped, except in a direct chat a member opened.
* **Direct chats** are delivered as posts in a ``dm`` channel (the core runs
  crisis detection on them), including what was written before Haven joined.
* **Never blocking the sync.** Events go to ``core.submit`` (non-blocking);
  commands, joins and notices run in tasks.
* **Encryption.** A room is encrypted when it has ``m.room.encryption`` state;
  a stray ``m.room.encrypted`` event elsewhere is junk. Rooms Haven cannot read
  are reported to the moderators once.
* **Invites** are accepted from configured rooms and spaces, their children and
  allowed servers only.
* **Malformed events** are logged by type and id and skipped, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from nio import MegolmEvent, MessageDirection, RoomMessagesResponse, SyncResponse

from bot.adapters.matrix.api import Api, translate_error
from bot.adapters.matrix.commands import MatrixCommands
from bot.adapters.matrix.context import MatrixContext, server_name
from bot.adapters.matrix.dm import DirectChats
from bot.adapters.matrix.events import as_dict, short, source_of, translate
from bot.adapters.matrix.rooms import Rooms
from bot.core.errors import MissingPermission, PlatformError, RateLimited
from bot.core.events import Outgoing

log = logging.getLogger(__name__)

ENCRYPTED = "m.room.encrypted"

BACKFILL_PAGE = 100
"""Events asked for per ``/messages`` request when catching up after downtime."""

BACKFILL_MAX_EVENTS = 1_000_000
"""Safety limit of missed events read per room; reaching it is reported to moderators."""

BACKFILL_ATTEMPTS = 3
"""Tries per ``/messages`` page before the rest of that room's gap is reported unread."""

BACKFILL_RETRY_DELAY = 0.5
"""Seconds before the first retry of a failed ``/messages`` page (then longer)."""


def timestamp(event: Any) -> float | None:
    """An event's server time in epoch seconds, if it has a sane one."""
    ts = source_of(event).get("origin_server_ts")
    return ts / 1000.0 if isinstance(ts, int | float) and not isinstance(ts, bool) else None


def when(epoch: float) -> str:
    """``2026-11-30 22:15 UTC`` for moderators."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


class Inbound:
    """Sync responses to core events (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, api: Api, rooms: Rooms, dms: DirectChats,
                 commands: MatrixCommands, backfill_page: int = BACKFILL_PAGE,
                 backfill_max: int = BACKFILL_MAX_EVENTS, max_rate_wait: float = 10.0) -> None:
        self.ctx = ctx
        self.api = api
        self.rooms = rooms
        self.dms = dms
        self.commands = commands
        self.client = ctx.client
        self.backfill_page = backfill_page
        self.backfill_max = backfill_max
        self.max_rate_wait = max_rate_wait
        self.unread: list[tuple[str, float | None, float | None]] = []
        """Rooms whose catch-up stopped early: (room, unread from, unread until)."""
        self.synced_at: float | None = None
        """When the last sync was handled (from the store at start): where a gap begins."""
        self.joined_by_invite: set[str] = set()
        self._encrypted_reported: set[str] = set()

    def note_states(self, resp: SyncResponse) -> None:
        """Note the create/power-levels/member state of every joined room in ``resp``.

        Called in the same step as nio's own update of its rooms (see
        :meth:`~bot.adapters.matrix.session.Session.request_sync`), so no other task
        ever sees a room in ``client.rooms`` whose power levels Haven has not read.
        """
        for room_id, info in resp.rooms.join.items():
            for event in (*info.state, *info.timeline.events):
                self.rooms.note_state_safely(room_id, source_of(event))

    async def process(self, resp: SyncResponse, since: str | None, cold: bool) -> None:
        """Hand one sync response to the core: invites, state, timelines (with catch-up)."""
        spawn = self.ctx.background.spawn
        for room_id, info in resp.rooms.invite.items():
            spawn(self.on_invite(room_id, info.invite_state), f"invite {room_id}")
        for room_id, info in resp.rooms.join.items():
            events: list[Any] = list(info.timeline.events)
            if info.timeline.limited and since and not cold:
                missed = await self.backfill(room_id, info.timeline.prev_batch, since)
                for event in missed:
                    self.rooms.note_state_safely(room_id, source_of(event), older=True)
                events = missed + events
            # A room's history from before Haven joined is not acted on, except in a direct
            # chat a member opened: everything there was written to Haven.
            if room_id not in self.ctx.dm.rooms:
                events = self.after_own_join(events)
            for event in events:
                if isinstance(event, MegolmEvent) or source_of(event).get("type") == ENCRYPTED:
                    self.on_undecrypted(room_id, source_of(event))
                    continue
                if not cold:
                    self.on_timeline(room_id, source_of(event))
            room = self.client.rooms.get(room_id)
            if room is not None and room.encrypted and not self.ctx.encryption:
                self.report_encrypted(room_id)
        for room_id in resp.rooms.leave:
            self.rooms.forget(room_id)
            self.dms.forget_room(room_id)

    def after_own_join(self, events: list[Any]) -> list[Any]:
        """Drop what happened before the bot joined: a newly joined room's history is not acted on."""
        for index in range(len(events) - 1, -1, -1):
            source = source_of(events[index])
            content = as_dict(source.get("content"))
            if (source.get("type") == "m.room.member" and source.get("state_key") == self.ctx.user_id
                    and content.get("membership") == "join"):
                prev = as_dict(as_dict(source.get("unsigned")).get("prev_content"))
                if prev.get("membership") != "join":
                    return events[index + 1:]
        return events

    # ------------------------------------------------------------------
    # catch-up after downtime
    # ------------------------------------------------------------------

    async def backfill(self, room_id: str, start: str | None, since: str) -> list[Any]:
        """Every event between the saved token and a limited timeline's start (oldest first).

        Pages ``/messages`` back until the saved position, however many pages that
        takes. Only if the safety limit (:attr:`backfill_max`) is reached or the
        server keeps failing does reading stop; the unread span is then noted in
        :attr:`unread` and reported to the moderators (:meth:`report_unread`).
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
            oldest = timestamp(out[0]) if out else None
            self.unread.append((room_id, self.synced_at, oldest))
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

    async def report_unread(self) -> None:
        """Tell the moderators plainly which rooms and time span catch-up could not read."""
        gaps, self.unread = self.unread, []
        if not gaps:
            return
        services = self.ctx.services
        lines = []
        for room_id, since, until in gaps:
            start = when(since) if since else "when Haven stopped"
            end = when(until) if until else "now"
            lines.append((self.rooms.room_name(room_id), f"{start} to {end}"))
        channel = ", ".join(name for name, _ in lines)
        span = "; ".join(f"{name}: {span}" for name, span in lines)
        text = services.templates.render("catchup_incomplete", channel=channel, span=span)
        await services.notices.send(self.ctx.community_id, self.ctx.config.channels.moderators,
                                    Outgoing(text))

    # ------------------------------------------------------------------
    # timeline events
    # ------------------------------------------------------------------

    def on_timeline(self, room_id: str, source: dict[str, Any]) -> None:
        """Translate one timeline event and hand it to the core (never blocks, never raises).

        An event Haven cannot make sense of (missing or wrongly-typed fields) is
        logged by type and id, never by content, and skipped: one odd payload
        must not stop the sync loop or the events after it.
        """
        try:
            self._timeline_event(room_id, source)
        except Exception as exc:
            log.warning("skipping a malformed %r event %r in %s (%s)", short(source.get("type")),
                        short(source.get("event_id")), room_id, type(exc).__name__)

    def _timeline_event(self, room_id: str, source: dict[str, Any]) -> None:
        core = self.ctx.core()
        user_id = self.ctx.user_id
        sender = source.get("sender")
        if isinstance(sender, str) and room_id not in self.ctx.dm.rooms and sender != user_id:
            self.ctx.dm.last_room[sender] = room_id
        if source.get("type") == "m.room.member" and source.get("state_key") == user_id:
            return
        content = source.get("content")
        if (source.get("type") == "m.room.message" and source.get("sender") != user_id
                and isinstance(content, dict) and isinstance(source.get("sender"), str)
                and isinstance(source.get("event_id"), str)
                and "m.new_content" not in content
                and self.commands.maybe_command(room_id, source)):
            return
        event = translate(source, room_id, self.rooms, self.ctx.seen)
        if event is not None:
            core.submit(event)

    def on_undecrypted(self, room_id: str, source: dict[str, Any]) -> None:
        """An ``m.room.encrypted`` event Haven could not (or need not) read.

        In an unencrypted room it is junk (anyone can send one): logged and
        ignored, and moderators are not told anything. Only in a really
        encrypted room does a failure to decrypt mean Haven is missing keys.
        """
        if not self.rooms.room_encrypted(room_id):
            log.info("ignoring an encrypted event in unencrypted room %s (sender %s, event %s)",
                     room_id, source.get("sender"), source.get("event_id"))
            return
        self.report_encrypted(room_id, undecryptable=True)

    def report_encrypted(self, room_id: str, undecryptable: bool = False) -> None:
        """Tell admins (log + moderators' room, once) that a room cannot be read."""
        encryption = self.ctx.encryption
        if room_id in self._encrypted_reported or (encryption and not undecryptable):
            return
        self._encrypted_reported.add(room_id)
        dm = room_id in self.ctx.dm.rooms
        name = "direct chats with members" if dm else self.rooms.channel(room_id).name
        if encryption:
            what = "decrypt some messages (missing keys)"
        else:
            what = ("read end-to-end encrypted rooms (install matrix-nio[e2e] and set "
                    "matrix.store_path, or use an unencrypted room)")
        if room_id == self.rooms.moderators_room_id():
            log.error("The moderators' room %s is end-to-end encrypted: Haven cannot %s, so it "
                      "cannot post alerts there", room_id, what)
            return
        log.error("Haven cannot %s in %s (%s)", what, name, room_id)
        if self.ctx.sink is not None:
            notices = self.ctx.services.notices
            self.ctx.background.spawn(
                notices.report_missing(self.ctx.community_id, MissingPermission(what, name)),
                f"report encrypted {room_id}")

    # ------------------------------------------------------------------
    # invites
    # ------------------------------------------------------------------

    def _allowed_servers(self) -> set[str]:
        return set(self.ctx.mx.allowed_servers) or {server_name(self.ctx.user_id)}

    def invite_allowed(self, room_id: str, inviter: str | None) -> bool:
        """Whether to accept an invite: configured rooms/spaces, their children, allowed servers."""
        rooms = self.rooms
        configured = {rooms.resolve_cached(r) for r in (*rooms.config_refs(), *self.ctx.mx.spaces)}
        if room_id in configured:
            return True
        for space in self.ctx.mx.spaces:
            space_id = rooms.resolve_cached(space)
            room = self.client.rooms.get(space_id) if space_id else None
            if room is not None and room_id in room.children:
                return True
        allowed = self._allowed_servers()
        room_server = room_id.split(":", 1)[1] if ":" in room_id else None
        if room_server is not None and room_server not in allowed:
            return False
        return inviter is not None and server_name(inviter) in allowed

    async def on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        """Join an allowed room (a direct chat is known as one before the join); else decline."""
        inviter = None
        is_direct = False
        for event in invite_state:
            source = source_of(event)
            if source.get("type") == "m.room.member" and source.get("state_key") == self.ctx.user_id:
                inviter = source.get("sender")
                is_direct = bool((source.get("content") or {}).get("is_direct"))
        if not self.invite_allowed(room_id, inviter):
            log.warning("declining invite to %s from %s: not an allowed server or space",
                        room_id, inviter)
            await self.client.room_leave(room_id)
            return
        direct = is_direct and isinstance(inviter, str)
        book = self.ctx.dm
        if direct:
            # Known as a direct chat before the join, so the sync that brings the room
            # treats it as one (what the member wrote before Haven joined is read).
            book.rooms[room_id] = str(inviter)
        try:
            await self.api.call("joining a room", room_id, self.client.join, room_id)
        except PlatformError:
            if direct:
                book.rooms.pop(room_id, None)
            raise
        self.joined_by_invite.add(room_id)
        log.info("joined %s (invited by %s)", room_id, inviter)
        if direct:
            book.users.setdefault(str(inviter), room_id)
            await self.dms.save()

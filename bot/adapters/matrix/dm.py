"""Direct chats: ``send_private``, the member's direct room and Haven's invitation to it.

Haven writes to a member in a direct room it creates once and then reuses
(kv ``matrix:dms``). A member who has not accepted the invitation within
:data:`DM_INVITE_TIMEOUT` is treated like one whose private messages are closed
(the core then uses its fallback), and is pointed to the invitation once, in the
welcome room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nio import RoomCreateResponse, RoomGetStateEventResponse, RoomPreset

from bot.adapters.matrix.api import Api
from bot.adapters.matrix.context import MatrixContext
from bot.adapters.matrix.outbound import Outbound
from bot.adapters.matrix.rooms import Rooms
from bot.core.errors import MissingPermission, NotFound, PlatformError, PrivateMessagesClosed
from bot.core.events import MessageRef, Outgoing

log = logging.getLogger(__name__)

DMS_KEY = "matrix:dms"

DM_INVITE_TIMEOUT = 600.0
"""Seconds a member has to accept Haven's direct chat invitation before Haven treats
their private messages as closed and points them to it in the welcome room."""


class DirectChats:
    """Private messages to members (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, api: Api, rooms: Rooms, outbound: Outbound,
                 invite_timeout: float = DM_INVITE_TIMEOUT) -> None:
        self.ctx = ctx
        self.api = api
        self.rooms = rooms
        self.outbound = outbound
        self.client = ctx.client
        self.book = ctx.dm
        self.invite_timeout = invite_timeout
        self._watch: dict[str, asyncio.Task[Any]] = {}
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Read the direct chats from kv (at start)."""
        self.book.load(await self.ctx.services.kv.get(DMS_KEY))

    async def save(self) -> None:
        """Store the direct chats in kv."""
        await self.ctx.services.kv.set(DMS_KEY, self.book.dump())

    async def send_private(self, user_id: str, msg: Outgoing) -> MessageRef:
        """Send in the member's direct room with the bot (created once, then reused).

        A member who has not accepted Haven's invitation to that room within
        :attr:`invite_timeout` is treated like a member whose private messages
        are closed (:class:`PrivateMessagesClosed`, so the core uses its
        fallback, as for closed DMs); when they accept, private messages work again.
        A message sent into a still-unaccepted invitation is followed, after that
        bound, by a short note in the welcome room asking them to accept it.
        """
        room_id = await self.dm_room(user_id)
        if self.unaccepted_for(room_id, user_id) > self.invite_timeout:
            raise PrivateMessagesClosed(
                f"{user_id} has not accepted Haven's direct chat invitation")
        ref = await self.outbound.deliver(room_id, msg)
        self.watch(room_id, user_id)
        return ref

    def watch(self, room_id: str, user_id: str) -> None:
        """Start the invitation watcher for a direct room (once per member, and only once
        per room ever: the note is not repeated, also not after a restart)."""
        if (room_id in self.book.invited_at and room_id not in self.book.pointed
                and user_id not in self._watch and self.pending(room_id, user_id)):
            self._watch[user_id] = self.ctx.background.spawn(
                self._watch_invite(room_id, user_id), f"DM invite {user_id}")

    def pending(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is invited to (but has not joined) the direct room."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return room_id in self.book.invited_at
        return user_id in room.invited_users or user_id not in room.users

    def unaccepted_for(self, room_id: str, user_id: str) -> float:
        """Seconds the member's invitation to the direct room has been waiting (0: joined)."""
        invited = self.book.invited_at.get(room_id)
        if invited is None:
            return 0.0
        if not self.pending(room_id, user_id):
            del self.book.invited_at[room_id]
            self.book.pointed.discard(room_id)
            self.ctx.background.spawn(self.save(), "save DMs")
            return 0.0
        return time.time() - invited

    async def _watch_invite(self, room_id: str, user_id: str) -> None:
        """After the bound, point a member who has not accepted the invitation to it."""
        background = self.ctx.background
        try:
            invited = self.book.invited_at.get(room_id, time.time())
            deadline = invited + self.invite_timeout
            while time.time() < deadline:
                await background.sleep_unless_closing(min(1.0, max(0.05, deadline - time.time())))
                if background.closing.is_set() or not self.pending(room_id, user_id):
                    return
            self.book.pointed.add(room_id)
            await self.save()
            await self._point_to_dm(user_id)
        finally:
            self._watch.pop(user_id, None)

    async def _point_to_dm(self, user_id: str) -> None:
        """Post the ``dm_not_accepted`` note in the welcome room (or where they were seen)."""
        place = self.ctx.config.channels.welcome or self.book.last_room.get(user_id)
        if not place:
            log.warning("member %s has not accepted Haven's direct chat invitation and there "
                        "is no welcome room to tell them in", user_id)
            return
        text = self.ctx.services.templates.render("dm_not_accepted",
                                                  member=self.rooms.user_mention(user_id))
        log.info("member %s has not accepted Haven's direct chat invitation; telling them in %s",
                 user_id, place)
        try:
            await self.outbound.send(place, Outgoing(text, mention_users=(user_id,)))
        except PlatformError as exc:
            log.warning("could not point %s to their direct chat: %s", user_id, exc)

    async def dm_room(self, user_id: str) -> str:
        """The member's direct room with Haven: the known one, or a new one."""
        async with self._lock:
            room_id = self.book.users.get(user_id)
            if room_id is not None:
                room = self.client.rooms.get(room_id)
                if room is None or user_id in room.users or user_id in room.invited_users \
                        or await self._member_still_there(room_id, user_id):
                    return room_id
                # They left: forget it and start a new one.
                self.book.rooms.pop(room_id, None)
                self.book.users.pop(user_id, None)
            initial_state = []
            if self.ctx.encryption:
                initial_state.append({"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
            try:
                resp = await self.api.call(
                    "starting a direct chat", user_id, self.client.room_create,
                    is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
                    initial_state=initial_state)
            except (MissingPermission, NotFound) as exc:
                raise PrivateMessagesClosed(f"{user_id} does not accept direct chats: {exc}") from exc
            assert isinstance(resp, RoomCreateResponse)
            room_id = str(resp.room_id)
            self.book.users[user_id] = room_id
            self.book.rooms[room_id] = user_id
            self.book.invited_at[room_id] = time.time()
            await self.save()
            if self.ctx.encryption:
                await self._wait_for_room(room_id, user_id)
            return room_id

    async def _member_still_there(self, room_id: str, user_id: str) -> bool:
        """Whether the homeserver has ``user_id`` joined or invited in direct room ``room_id``.

        nio's view of a direct room can lack its member (seen by the Synapse chaos test
        after a restart soon after the room was made). Starting a new room then would
        repeat a message in it, where its transaction id no longer dedupes it: only a
        membership the server reports as gone counts as gone.
        """
        try:
            resp = await self.api.call("reading a membership", room_id,
                                       self.client.room_get_state_event, room_id,
                                       "m.room.member", user_id)
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

    def forget_room(self, room_id: str) -> None:
        """Haven left a room: if it was a direct chat, forget it."""
        if room_id in self.book.rooms:
            del self.book.rooms[room_id]
            self.book.users = {u: r for u, r in self.book.users.items() if r != room_id}
            self.ctx.background.spawn(self.save(), "save DMs")

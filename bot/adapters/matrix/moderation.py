"""Timeouts on Matrix: muting through power levels, and lifting the mute.

Matrix has no timeouts that end by themselves, so the adapter does not declare
``Capability.TIMEOUT_EXPIRES``: a timeout mutes the member (power level below
``events_default``) in every community room, and the core schedules a durable
``lift_timeout`` job that calls :meth:`MatrixModeration.lift_timeout` when the
time is up. The member's previous explicit level is kept in kv
(``matrix:mutes``) first, so a crash right after muting still restores it.

Mutes stored by a Haven from before the core's ``lift_timeout`` jobs carry their end
(``until``) and have no job: :meth:`MatrixModeration.resume_legacy` lifts them when due.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from nio import RoomGetStateEventResponse

from bot.adapters.matrix.api import Api
from bot.adapters.matrix.context import MatrixContext
from bot.adapters.matrix.power import PowerState, muted_power_levels, unmuted_power_levels
from bot.adapters.matrix.rooms import RoomPower, Rooms
from bot.core.errors import MissingPermission, NotFound, PlatformError

log = logging.getLogger(__name__)

MUTES_KEY = "matrix:mutes"


class MatrixModeration:
    """Mute and unmute members by power levels (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, api: Api, rooms: Rooms) -> None:
        self.ctx = ctx
        self.api = api
        self.rooms = rooms
        self.client = ctx.client
        self.mutes: dict[str, dict[str, Any]] = {}
        """``room|user`` -> the member's old explicit level (``old``) and the reason."""

    async def load(self) -> None:
        """Read the mutes from kv (at start)."""
        raw_mutes = await self.ctx.services.kv.get(MUTES_KEY)
        self.mutes = dict(json.loads(raw_mutes)) if raw_mutes else {}

    async def _save(self) -> None:
        await self.ctx.services.kv.set(MUTES_KEY, json.dumps(self.mutes, sort_keys=True))

    async def timeout(self, user_id: str, reason: str) -> None:
        """Mute through power levels in every community room (the core lifts it later)."""
        await self.mute(user_id, reason)

    async def lift_timeout(self, user_id: str) -> None:
        """End a timeout: give the member back their power level (:meth:`unmute`)."""
        await self.unmute(user_id)

    async def mute(self, user_id: str, reason: str) -> int:
        """Set ``user_id`` below ``events_default`` in each room they are in; returns rooms muted.

        The previous explicit level is remembered in the store and restored by
        :meth:`unmute`.
        """
        muted = 0
        failure: PlatformError | None = None
        for room_id in self.rooms.community_rooms():
            room = self.client.rooms[room_id]
            if user_id not in room.users:
                continue
            where = self.rooms.room_name(room_id)
            try:
                state = await self._fresh_power(room_id)
                content, old = muted_power_levels(state, user_id, self.ctx.user_id)
            except PermissionError as exc:
                failure = failure or MissingPermission(f"muting ({exc})", where)
                continue
            except PlatformError as exc:
                failure = failure or exc
                continue
            key = f"{room_id}|{user_id}"
            previous = self.mutes.get(key)
            # Remember the level first, so a crash right after muting still restores it.
            self.mutes[key] = {"old": previous["old"] if previous else old, "reason": reason}
            await self._save()
            try:
                await self.api.call("muting a member (power levels)", where,
                                    self.client.room_put_state, room_id, "m.room.power_levels",
                                    content)
            except PlatformError as exc:
                if previous is None:
                    del self.mutes[key]
                    await self._save()
                failure = failure or exc
                continue
            muted += 1
        if muted == 0:
            if failure is not None:
                raise failure
            raise NotFound(f"{user_id} is not in any room Haven moderates")
        return muted

    async def unmute(self, user_id: str) -> int:
        """Give ``user_id`` back the power level they had before :meth:`mute`; returns rooms."""
        restored = 0
        for key in [k for k in self.mutes if k.endswith(f"|{user_id}")]:
            room_id = key.split("|", 1)[0]
            entry = self.mutes[key]
            if room_id in self.client.rooms:
                state = await self._fresh_power(room_id)
                content = unmuted_power_levels(state, user_id, entry.get("old"))
                await self.api.call("unmuting a member (power levels)",
                                    self.rooms.room_name(room_id), self.client.room_put_state,
                                    room_id, "m.room.power_levels", content)
                restored += 1
            del self.mutes[key]
            await self._save()
        return restored

    def resume_legacy(self) -> int:
        """Lift, when due, the mutes of an older Haven (entries with ``until``, no job).

        Those already over are lifted now, later ones by a one-shot timer; returns how
        many members that concerns. Only for data written before timeouts were lifted
        by the core's durable jobs: new mutes carry no ``until``.
        """
        ends: dict[str, float] = {}
        for key, entry in self.mutes.items():
            until = entry.get("until")
            if isinstance(until, int | float) and not isinstance(until, bool):
                user_id = key.split("|", 1)[1]
                ends[user_id] = max(float(until), ends.get(user_id, float(until)))
        for user_id, until in sorted(ends.items()):
            self.ctx.background.spawn(self._lift_when_due(user_id, until),
                                      f"lift an older timeout of {user_id}")
        return len(ends)

    async def _lift_when_due(self, user_id: str, until: float) -> None:
        background = self.ctx.background
        await background.sleep_unless_closing(max(0.0, until - time.time()))
        if background.closing.is_set():
            return
        try:
            await self.unmute(user_id)
        except PlatformError as exc:
            log.warning("could not lift the timeout of %s: %s", user_id, exc)

    async def _fresh_power(self, room_id: str) -> PowerState:
        """Power state with the current power levels fetched from the server."""
        resp = await self.api.call("reading power levels", self.rooms.room_name(room_id),
                                   self.client.room_get_state_event, room_id,
                                   "m.room.power_levels")
        assert isinstance(resp, RoomGetStateEventResponse)
        power = self.rooms.power.setdefault(room_id, RoomPower())
        power.power_levels = dict(resp.content)
        return power.state()

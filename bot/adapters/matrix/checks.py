"""Checks: ``haven check --online`` on Matrix, and the private moderators' room.

After the first sync Haven checks that the moderators' room is neither public to
join nor world-readable; if it is, it logs an error and says so once in the room
(alerts then leave out excerpts). ``check --online`` logs in, syncs room state
once and reports every configured room Haven is not in or lacks power in.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nio import RoomResolveAliasResponse, SyncResponse

from bot.adapters.matrix.context import MatrixContext, server_name
from bot.adapters.matrix.events import source_of
from bot.adapters.matrix.outbound import Outbound
from bot.adapters.matrix.rooms import Rooms
from bot.core.errors import PlatformError
from bot.core.events import Outgoing

log = logging.getLogger(__name__)

PUBLIC_MODERATORS_WARNING = (
    "**This room is visible to everyone**; Haven will not post crisis details here until it is "
    "made private. Alerts still arrive here, but without the member's words.\n"
    "To fix it: Room settings > Security & Privacy: make access private (invite only) and let "
    "only members read the history."
)
"""Posted once (per start) in a moderators' room that is not private."""

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


class Checks:
    """The moderators' room privacy and the online check (see the module docstring)."""

    def __init__(self, ctx: MatrixContext, rooms: Rooms, outbound: Outbound) -> None:
        self.ctx = ctx
        self.rooms = rooms
        self.outbound = outbound
        self.client = ctx.client

    def moderators_channel_is_private(self) -> bool | None:
        """Whether the moderators' room (``channels.moderators``) is private (see
        :func:`room_is_private`).

        ``None`` when unknown (Haven is not in the room). One deployment is one
        community, so no community id is needed. Read from nio's room state,
        which every sync keeps current, so fixing the room takes effect at once.
        """
        room_id = self.rooms.moderators_room_id()
        room = self.client.rooms.get(room_id) if room_id else None
        if room is None:
            return None
        return room_is_private(room.join_rule, room.history_visibility)

    async def check_moderators_room(self, room_id: str) -> bool | None:
        """Log an error and post one warning in the moderators' room if it is not private.

        Alerts then leave out the member's words (see
        :meth:`bot.features.alerts.feature.Alerts.render`). Returns the privacy found.
        """
        private = self.moderators_channel_is_private()
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
                  self.rooms.room_name(room_id), room_id, " and ".join(reasons))
        try:
            await self.outbound.deliver(room_id, Outgoing(PUBLIC_MODERATORS_WARNING))
        except PlatformError as exc:
            log.error("could not post the privacy warning in the moderators' room: %s", exc)
        return False

    # ------------------------------------------------------------------
    # haven check --online
    # ------------------------------------------------------------------

    def config_places(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(config key, room reference, what Haven must be able to do there)``."""
        c = self.ctx.config
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

    async def check_online(self, login: Callable[[], Awaitable[None]],
                           sync: Callable[[dict[str, Any]], Awaitable[SyncResponse]]) -> list[str]:
        """Connect with the real secret and report what is missing, without running Haven.

        Logs in, syncs room state once (no history, nothing acted on, no invites
        accepted, the sync position is not saved) and checks every configured
        room and space: that Haven is in it, that it may post there, that it can
        hide posts and mute in every room it moderates, and that the
        moderators' room is private and readable. Returns the problems found
        (empty: all is well) and closes the connection.
        """
        problems: list[str] = []
        try:
            try:
                await login()
            except PlatformError as exc:
                return [str(exc)]
            try:
                # A filter no other request uses: Synapse briefly caches identical syncs,
                # and a check must see the rooms as they are now.
                nonce = f"!havencheck{uuid.uuid4().hex}:{server_name(self.ctx.user_id)}"
                fresh = {"room": {"timeline": {"limit": 0}, "not_rooms": [nonce]}}
                resp = await sync({"timeout": 0, "full_state": True, "sync_filter": fresh})
            except PlatformError as exc:
                return [f"the first sync failed: {exc}"]
            for room_id, info in resp.rooms.join.items():
                for event in info.state:
                    self.rooms.note_state(room_id, source_of(event))
            invited = set(resp.rooms.invite)
            problems += await self._check_places(invited)
            problems += self.check_moderated_rooms()
            problems += self._check_roles()
        finally:
            await self.client.close()
        return problems

    async def _check_places(self, invited: set[str]) -> list[str]:
        problems: list[str] = []
        user_id = self.ctx.user_id
        for key, ref, needs in self.config_places():
            room_id = self.rooms.resolve_cached(ref)
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
            state = self.rooms.power_state(room_id)
            name = self.rooms.room_name(room_id)
            if "send" in needs and state.user_level(user_id) < state.event_level(
                    "m.room.message"):
                problems.append(f"{key}: Haven may not post in {name} (power level "
                                f"{state.user_level(user_id)}, needs "
                                f"{state.event_level('m.room.message')})")
            if "redact" in needs and not state.can(user_id, "redact"):
                problems.append(f"{key}: Haven cannot hide posts in {name} (redact needs power "
                                f"level {state.action_level('redact')})")
            if key == "channels.moderators":
                problems += self.check_moderators(room_id, name)
            elif self.rooms.room_encrypted(room_id) and not self.ctx.encryption:
                problems.append(f"{key}: {name} is end-to-end encrypted: install matrix-nio[e2e] "
                                "and set matrix.store_path, or Haven cannot read it")
        for space in self.ctx.mx.spaces:
            space_id = self.rooms.resolve_cached(space)
            if space_id is None or space_id not in self.client.rooms:
                problems.append(f"matrix.spaces: Haven is not in the space {space!r}: invite it")
        return problems

    def check_moderators(self, room_id: str, name: str) -> list[str]:
        """What is wrong with the moderators' room: privacy, encryption, nobody to moderate."""
        problems = []
        room = self.client.rooms[room_id]
        if not room_is_private(room.join_rule, room.history_visibility):
            problems.append(
                f"channels.moderators: {name} is not private (join rule {room.join_rule}, "
                f"history {room.history_visibility}): make it invite-only, members-only history")
        if self.rooms.room_encrypted(room_id) and not self.ctx.encryption:
            problems.append(f"channels.moderators: {name} is end-to-end encrypted and Haven has "
                            "no encryption (matrix-nio[e2e] and matrix.store_path): it cannot "
                            "post alerts there")
        if not self.rooms.role_members("moderators"):
            problems.append(
                f"channels.moderators: nobody in {name} has power level "
                f"{self.ctx.mx.moderator_power_level} (matrix.moderator_power_level) and "
                "roles.moderators names no user ids: nobody could run moderator commands")
        return problems

    def check_moderated_rooms(self) -> list[str]:
        """Hiding and muting need power in every community room Haven is in (Haven does
        not kick or ban, so it does not ask for that power)."""
        problems = []
        user_id = self.ctx.user_id
        for room_id in self.rooms.community_rooms():
            state = self.rooms.power_state(room_id)
            name = self.rooms.room_name(room_id)
            missing = [f"{action} (needs {state.action_level(action)})"
                       for action in ("redact",) if not state.can(user_id, action)]
            if not state.can_send_state(user_id, "m.room.power_levels"):
                missing.append("mute: change power levels (needs "
                               f"{state.event_level('m.room.power_levels', state=True)})")
            if missing:
                problems.append(f"{name} ({room_id}): Haven's power level "
                                f"{state.user_level(user_id)} is too low to "
                                + ", ".join(missing))
        return problems

    def _check_roles(self) -> list[str]:
        roles = self.ctx.config.roles
        problems = []
        for key, entries in (("roles.peer_supporters", roles.peer_supporters),
                             ("roles.greeters", roles.greeters)):
            for entry in entries:
                if not (entry.startswith("@") and ":" in entry):
                    problems.append(f"{key}: {entry!r} is not a Matrix user id "
                                    "(like @sam:example.org): nobody is pinged for it")
        return problems

"""Rooms as Haven sees them: power levels, members, channels, names, mentions, role members.

Power levels are computed here (:mod:`bot.adapters.matrix.power`) from the raw
``m.room.create`` and ``m.room.power_levels`` state, because nio's
``has_permission`` is unreliable and room version 12 gives creators unlimited
power. In private chats (DMs) a member's level is taken from the moderators'
room: whoever creates a DM is its creator with unlimited power there.
:class:`Rooms` is also the :class:`~bot.adapters.matrix.events.RoomContext`
that event translation uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from nio import RoomResolveAliasResponse

from bot.adapters.matrix.context import MatrixContext, localpart, server_name
from bot.adapters.matrix.events import short
from bot.adapters.matrix.format import MATRIX_TO, room_link, user_pill
from bot.adapters.matrix.power import PowerState
from bot.core.errors import NotFound
from bot.core.events import Channel, Member

log = logging.getLogger(__name__)


@dataclass
class RoomPower:
    """Raw state that power levels depend on, per room."""

    create_sender: str | None = None
    create_content: dict[str, Any] | None = None
    power_levels: dict[str, Any] | None = None
    joined_at: dict[str, float] = field(default_factory=dict)

    def state(self) -> PowerState:
        return PowerState(self.create_sender, self.create_content, self.power_levels)


class Rooms:
    """Room state, members, names and mentions (see the module docstring)."""

    def __init__(self, ctx: MatrixContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.mx = ctx.mx
        self.client = ctx.client
        self.community_id = ctx.community_id
        self.user_id = ctx.user_id
        self.power: dict[str, RoomPower] = {}
        """Raw power state per room (from sync state and fresh reads)."""
        self.aliases: dict[str, str] = {}

    # ------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------

    def note_state_safely(self, room_id: str, source: dict[str, Any], older: bool = False) -> None:
        """:meth:`note_state`, logging and skipping a malformed event."""
        try:
            self.note_state(room_id, source, older)
        except Exception as exc:
            log.warning("skipping malformed state %r in %s (%s)", short(source.get("type")),
                        room_id, type(exc).__name__)

    def note_state(self, room_id: str, source: dict[str, Any], older: bool = False) -> None:
        """Keep the raw create/power-levels state and join times for power and newcomer checks.

        ``older`` events (fetched after downtime) never replace newer state.
        """
        etype = source.get("type")
        if source.get("state_key") is None:
            return
        raw_content = source.get("content")
        content = raw_content if isinstance(raw_content, dict) else {}
        power = self.power.setdefault(room_id, RoomPower())
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

    def forget(self, room_id: str) -> None:
        """Drop what is known about a room Haven left."""
        self.power.pop(room_id, None)

    def room_encrypted(self, room_id: str) -> bool:
        """Whether the room really is end-to-end encrypted: it has ``m.room.encryption`` state.

        nio sets ``MatrixRoom.encrypted`` only from that state event (which needs
        power to send), never from an ``m.room.encrypted`` message anyone can send.
        """
        room = self.client.rooms.get(room_id)
        return bool(room is not None and room.encrypted)

    # ------------------------------------------------------------------
    # RoomContext for translation
    # ------------------------------------------------------------------

    def power_state(self, room_id: str | None) -> PowerState:
        """The power-level state of a room (empty when unknown)."""
        if room_id is None:
            return PowerState()
        known = self.power.get(room_id)
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
        if room_id in self.ctx.dm.rooms:
            power_room = self.moderators_room_id()
        state = self.power_state(power_room)
        name = self.display(user_id, room_id)
        known = self.power.get(room_id)
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
        kind = "dm" if room_id in self.ctx.dm.rooms else "room"
        name = self.config_name(room_id) or (room.display_name if room is not None else room_id)
        parent_id = parent_name = None
        for space in self.mx.spaces:
            space_id = self.resolve_cached(space)
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

    def config_refs(self) -> list[str]:
        """Every room reference in config (channels, content warnings, unanswered places)."""
        c = self.config
        refs = [c.channels.moderators, c.channels.welcome, c.channels.rules, c.channels.nudges,
                c.content_warnings.redirect_to, *c.content_warnings.channels,
                *(p.channel for p in c.unanswered.places)]
        return [r for r in refs if r]

    def config_name(self, room_id: str) -> str | None:
        """The name config gives a room (without ``#``), if config names it."""
        for ref in self.config_refs():
            if not ref.startswith("!") and self.resolve_cached(ref) == room_id:
                return ref[1:] if ref.startswith("#") else ref
        return None

    def resolve_cached(self, ref: str) -> str | None:
        """A room id for a config reference without network calls (``None`` if unknown)."""
        if ref.startswith("!"):
            return ref
        if ref in self.aliases:
            return self.aliases[ref]
        wanted = ref.lower()
        bare = wanted[1:] if wanted.startswith("#") else wanted
        for room_id, room in self.client.rooms.items():
            if room_id in self.ctx.dm.rooms:
                continue  # members name their private chats; never match those
            alias = (room.canonical_alias or "").lower()
            if alias and (alias == wanted or alias[1:].split(":", 1)[0] == bare):
                return room_id
            if ":" not in bare and (room.name or "").lower() in (bare, wanted):
                return room_id
        return None

    async def resolve_room(self, ref: str) -> str:
        """A room id for a config reference (id, ``#alias:server``, name or ``#name``)."""
        found = self.resolve_cached(ref)
        if found:
            return found
        if ref.startswith("#") and ":" in ref:
            resp = await self.client.room_resolve_alias(ref)
            if isinstance(resp, RoomResolveAliasResponse):
                self.aliases[ref] = resp.room_id
                return str(resp.room_id)
        raise NotFound(f"no Matrix room {ref!r} (is Haven invited to it?)")

    def moderators_room_id(self) -> str | None:
        """The moderators' room (``channels.moderators``), if Haven knows it."""
        return self.resolve_cached(self.config.channels.moderators)

    def community_rooms(self) -> list[str]:
        """Rooms (not DMs, not spaces) the bot is in: where hides and mutes apply."""
        return [
            room_id for room_id, room in self.client.rooms.items()
            if room_id not in self.ctx.dm.rooms and room.room_type != "m.space"
        ]

    def display(self, user_id: str, room_id: str | None = None) -> str:
        """A user's display name (from ``room_id`` first, then any room), else the local part."""
        rooms = [self.client.rooms[room_id]] if room_id in self.client.rooms else []
        rooms += list(self.client.rooms.values())
        for room in rooms:
            user = room.users.get(user_id)
            if user is not None and user.display_name:
                return str(user.display_name)
        return localpart(user_id)

    def room_name(self, room_id: str) -> str:
        """A room's name for logs and errors: config's name, else its display name."""
        room = self.client.rooms.get(room_id)
        return self.config_name(room_id) or (room.display_name if room is not None else room_id)

    # ------------------------------------------------------------------
    # members, roles and mentions
    # ------------------------------------------------------------------

    def resolve_member(self, query: str) -> Member | None:
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
        rooms = [r for r in self.community_rooms() if r in self.client.rooms]

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
        """A pill (Markdown link to matrix.to) that ``render`` turns into a mention."""
        return user_pill(user_id, self.display(user_id))

    def role_users(self, roles: tuple[str, ...]) -> tuple[str, ...]:
        """The users of several role-like groups, once each, without Haven."""
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
                    mods = self.moderators_room_id()
                    room = self.client.rooms.get(mods) if mods else None
                    if room is not None:
                        users.extend(self.power_state(mods).users_at_least(
                            self.mx.moderator_power_level, room.users))
        return list(dict.fromkeys(u for u in users if u != self.user_id))

    def role_mention(self, role: str) -> str:
        """Pills of the group's users when config names them, else a plain label."""
        users = self.role_members(role)
        if users:
            return " ".join(user_pill(u, self.display(u)) for u in users)
        return f"@{role}"

    def channel_mention(self, channel: str) -> str:
        """A link to a room named in config."""
        room_id = self.resolve_cached(channel) or channel
        room = self.client.rooms.get(room_id)
        target = (room.canonical_alias if room is not None and room.canonical_alias else room_id)
        label = self.config_name(room_id) or (room.display_name if room is not None else channel)
        label = label if label.startswith("#") else f"#{label}"
        return f"[{label}]({room_link(target, via=server_name(self.user_id))})"

    def community_name(self) -> str:
        """The community's name from config, else the space's name, else the server name."""
        if self.config.community.name:
            return self.config.community.name
        for space in self.mx.spaces:
            space_id = self.resolve_cached(space)
            room = self.client.rooms.get(space_id) if space_id else None
            if room is not None:
                return str(room.display_name)
        return server_name(self.user_id)

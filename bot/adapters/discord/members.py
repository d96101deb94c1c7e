"""Finding members: by id, mention or name, and who holds a role."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable

import discord
from discord.http import Route

from bot.adapters.discord.errors import platform_errors
from bot.adapters.discord.state import DiscordState, to_member
from bot.core.errors import NotFound
from bot.core.events import Member

log = logging.getLogger(__name__)

_USER_MENTION_RE = re.compile(r"^<@!?(\d+)>$")
_DISCRIMINATOR_RE = re.compile(r"#\d{1,4}$")


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


class Members:
    """Who is who: members by id, mention or name, and the holders of a role."""

    def __init__(self, state: DiscordState) -> None:
        self.state = state

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
        guild = self.state.guild(community_id)
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
        resolved = self.state.resolved.get((guild.id, user_id))
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
            data = await self.state.client.http.request(route, params={"query": key[:100], "limit": 25})
        out = []
        for item in data or []:
            try:
                out.append(discord.Member(data=item, guild=guild, state=self.state.client._connection))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipped an unreadable member in a search answer (%s)",
                            type(exc).__name__)
        return out

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """Ids of the people holding ``role`` (for a nudge that must leave one of them out).

        ``None`` when the role does not exist or the member list is not complete (the
        guild is not chunked and chunking fails): the caller then pings the role itself.
        """
        guild = self.state.guild(community_id)
        found = self.state.resolve_role(guild, role)
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

"""Checks: the moderators' channel is private, and ``haven check --online``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
import discord

from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.discord.env import TOKEN_ENV, run_token
from bot.adapters.discord.invite import HAVEN_PERMISSIONS
from bot.adapters.discord.state import CHANNEL_MENTION_RE, DiscordState
from bot.core.errors import HavenError, NotFound
from bot.core.events import MessageRef, Outgoing

log = logging.getLogger(__name__)

Send = Callable[[str, str, Outgoing], Awaitable[MessageRef]]
"""``send(community_id, channel, msg)``: the Platform verb."""


def _find_channel(channels: Iterable[Any], ref: str) -> Any:
    """The channel of ``channels`` named by id, ``<#id>``, ``#name`` or name (any case)."""
    ref = ref.strip()
    m = CHANNEL_MENTION_RE.match(ref)
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


class Checks:
    """Whether the moderators' channel is private (checked at every start and on demand),
    and everything ``haven check --online`` reports."""

    members_roles_ttl: float = 60.0
    """Seconds the roles every member holds are remembered (counting them walks every member)."""

    def __init__(self, state: DiscordState, send: Send) -> None:
        self.state = state
        self.send = send
        self._all_hold: dict[int, tuple[float, list[int]]] = {}

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """Whether the moderators' channel (``channels.moderators``) is hidden from @everyone.

        ``None`` when unknown: Haven is not in that server or the channel cannot be
        found. Read from discord.py's cache, which channel updates keep current, so
        fixing the permissions takes effect at once, without a restart.
        """
        guild = self.state.client.get_guild(int(community_id)) if community_id.isdigit() else None
        if guild is None:
            return None
        try:
            channel = self.state.resolve_channel(guild, self.state.config.channels.moderators)
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
        for ref in getattr(self.state.config.roles, "members", ()) or ():
            role = self.state.resolve_role(guild, ref)
            if role is None:
                self.state.warn_once(f"members-role:{guild.id}:{ref}", "No role %r in %s (config key "
                                "roles.members)", ref, guild.name)
            elif role not in out:
                out.append(role)
        mods = {r.casefold() for r in self.state.config.roles.moderators}
        for role_id in self._roles_all_hold(guild):
            role = guild.get_role(role_id)
            if role is None or role.is_default() or role.managed or role in out:
                continue
            if role.name.casefold() in mods or str(role.id) in mods:
                continue
            out.append(role)
        return out

    def _roles_all_hold(self, guild: discord.Guild) -> list[int]:
        """Ids of the roles every human member of ``guild`` holds; only when Haven knows
        every member (and there are at least two). Counted once per :attr:`members_roles_ttl`."""
        now = self.state.now()
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
        ref = self.state.config.channels.moderators
        for guild in self.state.client.guilds:
            if not self.state.allowed_guild(guild.id):
                continue
            try:
                channel = self.state.resolve_channel(guild, ref)
            except NotFound:
                log.error("No moderators' channel %r in %s (config key channels.moderators): "
                          "crisis alerts cannot be delivered there", ref, guild.name)
                continue
            key = f"public-moderators:{channel.id}"
            if self.moderators_channel_is_private(str(guild.id)) is not False:
                self.state.warned.discard(key)
                continue
            if key in self.state.warned:
                continue
            self.state.warned.add(key)
            role = self._members_viewing_role(guild, channel) or guild.default_role
            history = channel.permissions_for(role).read_message_history
            log.error("The moderators' channel #%s in %s is visible to everyone (%s can "
                      "view it%s): crisis alerts will be sent there without the member's words "
                      "until it is made private", channel.name, guild.name, role.name,
                      " and read its history" if history else "")
            try:
                await self.send(str(guild.id), str(channel.id),
                                Outgoing(self.state.text("public_moderators_channel",
                                                         role=role.name)))
            except HavenError as exc:
                log.error("could not post the privacy warning in #%s: %s", channel.name, exc)

    async def check_online(self, token: str | None = None) -> list[str]:
        """Check the configured servers, channels, roles and permissions; return the problems.

        An empty list means everything Haven needs is there. When Haven is running
        the cache is used; otherwise this logs in over REST with
        ``HAVEN_DISCORD_TOKEN`` (no gateway connection: the bot is not started, no
        events are handled) and fetches each server, its channels and Haven's member.
        """
        if self.state.client.is_ready():
            problems: list[str] = []
            guilds = [g for g in self.state.client.guilds if self.state.allowed_guild(g.id)]
            for guild in guilds:
                problems += self.check_guild(guild, list(guild.channels), guild.me)
            return problems or ([] if guilds else ["Haven is in no Discord server it is "
                                                   "configured for (discord.guild_ids)"])
        try:
            token = run_token(token, os.environ)
        except HavenError as exc:
            return [str(exc)]
        http = self.state.client.http
        try:
            return await self._check_over_rest(token)
        finally:
            with contextlib.suppress(Exception):
                await http.close()

    async def _check_over_rest(self, token: str) -> list[str]:
        http = self.state.client.http
        await self.state.client._async_setup_hook()  # what Client.login does first (binds the loop)
        try:
            me = await http.static_login(token)
        except discord.LoginFailure:
            return [f"Discord refused the bot token in {TOKEN_ENV}; check it in the developer "
                    "portal (Bot > Reset Token)"]
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return [f"Could not reach Discord to log in ({type(exc).__name__})"]
        self.state.client._connection.user = discord.ClientUser(state=self.state.client._connection, data=me)
        ids = [g for g in self.state.config.get(DISCORD_SECTION).guild_ids if str(g).isdigit()]
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
                guild = await self.state.client.fetch_guild(int(guild_id))
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
        roles = self.state.config.roles
        mention_all = have.mention_everyone
        for key, refs in (("roles.moderators", roles.moderators),
                          ("roles.peer_supporters", roles.peer_supporters),
                          ("roles.greeters", roles.greeters),
                          ("roles.members", getattr(roles, "members", ()))):
            for ref in refs:
                role = self.state.resolve_role(guild, ref)
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
        c = self.state.config
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

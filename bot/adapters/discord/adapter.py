"""The Discord adapter: discord.py events in, Haven's actions out.

:class:`DiscordAdapter` is a thin facade (it implements :class:`bot.core.ports.Adapter`)
over parts that each do one job; it wires them together and runs the connection.

Inbound, gateway events become neutral events (:mod:`bot.core.events`) for the core:
messages and edits (``MessagePosted``), deletions, member joins, AutoMod actions
(``AutomodActed``), slash commands (``CommandInvoked``) and alert buttons
(``ButtonPressed``); reactions are not read. Outbound, every
:class:`bot.core.ports.Platform` verb maps to a REST call, with discord.py's
exceptions translated into :mod:`bot.core.errors`.

Things worth knowing:

* **Mentions** ping exactly ``Outgoing.mention_users`` / ``mention_roles``
  (``allowed_mentions``), never ``@everyone``.
* **Alert buttons** are persistent :class:`discord.ui.DynamicItem` s
  (:mod:`bot.adapters.discord.views`): they keep working after a restart.
* **Catch-up** (:mod:`~bot.adapters.discord.catchup`): on ready, support channels (and
  their threads / forum posts) are read from the last message Haven handled, in order,
  with their original timestamps, before live events are let through. The last handled
  id per support place is kept in the core's key-value store
  (``discord:last_seen:<channel id>``).
* **Private moderators' channel**: on ready, before catch-up, Haven checks that
  @everyone cannot see ``channels.moderators``; if they can, it logs an error and
  says so once in the channel (:meth:`bot.adapters.discord.checks.Checks.check_moderators_channels`).
* **Slash commands** are built from the commands the core hands over
  (``services.commands``, :mod:`bot.adapters.discord.commands`); the core checks
  permissions.
* The token comes from ``HAVEN_DISCORD_TOKEN`` (:mod:`bot.adapters.discord.env`) and is
  never logged.
* The adapter talks to the core only through :class:`bot.core.ports.CoreSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.adapters.discord.catchup import CatchUp
from bot.adapters.discord.checks import Checks
from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.discord.env import TOKEN_ENV, run_token
from bot.adapters.discord.errors import error_place, traceback_without_message
from bot.adapters.discord.inbound import Inbound, guard_parsers
from bot.adapters.discord.interactions import Interactions
from bot.adapters.discord.invite import intents
from bot.adapters.discord.members import Members
from bot.adapters.discord.outbound import Outbound
from bot.adapters.discord.reader import MessageReader
from bot.adapters.discord.state import DiscordState
from bot.adapters.discord.views import make_alert_button_class
from bot.core.errors import HavenError
from bot.core.events import Member, MessageRef, Outgoing
from bot.core.ports import Capability, CoreSink

if TYPE_CHECKING:
    from bot.core.config import Config

log = logging.getLogger(__name__)

ClientFactory = Callable[[discord.Intents], discord.Client]
"""Builds the discord.py client (tests inject one that never connects)."""


class DiscordAdapter:
    """Runs Haven on Discord (implements :class:`bot.core.ports.Adapter`).

    The parts: :attr:`state` (client, caches, resolving), :attr:`outbound` (the
    Platform verbs), :attr:`members`, :attr:`reader` and :attr:`inbound` (gateway
    events), :attr:`catchup`, :attr:`interactions` and :attr:`checks`.
    """

    name = "discord"
    capabilities = frozenset({Capability.ATTACHMENTS, Capability.BUTTONS, Capability.FORUM_TAGS,
                              Capability.REPOST_AS_AUTHOR, Capability.ROLE_MEMBERS,
                              Capability.CHANNEL_PRIVACY, Capability.SLOW_MODE,
                              Capability.TIMEOUT_EXPIRES})
    command_prefix = "/"

    restart_delays: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0)
    """Seconds to wait before reconnecting after an unexpected error (the last one repeats)."""

    catch_up_timeout: float = 900.0
    """Seconds catch-up may take before live posts are let through anyway (what was not
    read yet is read at the next start)."""

    def __init__(self, config: Config, token: str | None = None, *,
                 client_factory: ClientFactory | None = None) -> None:
        self.config = config
        self._token = token
        self._closing = False
        factory = client_factory or self._default_client
        self.client: discord.Client = factory(intents())
        self.state = DiscordState(config, self.client)
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self.client)
        self.interactions = Interactions(self.state, self.tree)
        self.button_class = make_alert_button_class(self.interactions.on_button)
        self.client.add_dynamic_items(self.button_class)
        self.outbound = Outbound(self.state, self.button_class)
        self.members = Members(self.state)
        self.reader = MessageReader(self.state)
        self.catchup = CatchUp(self.state, self.reader.to_event)
        self.inbound = Inbound(self.state, self.reader, self.catchup)
        self.checks = Checks(self.state, self.outbound.send)
        self.parse_failures = 0
        """How many gateway payloads discord.py could not read (logged and skipped)."""
        guard_parsers(self.client, self.interactions.accept_event, self._count_failure)
        self.inbound.install(self.client)
        self.client.on_ready = self._on_ready  # type: ignore[attr-defined]
        self.client.setup_hook = self.interactions.setup_hook  # type: ignore[method-assign]
        self.client.on_error = self._on_error  # type: ignore[method-assign]

    def _default_client(self, intents: discord.Intents) -> discord.Client:
        options: dict[str, Any] = {
            "intents": intents,
            "chunk_guilds_at_startup": False,
            "max_ratelimit_timeout": 60.0,
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        dc = self.config.get(DISCORD_SECTION)
        if dc.shard_count:
            if dc.shard_ids:
                options["shard_ids"] = list(dc.shard_ids)
            return discord.AutoShardedClient(shard_count=dc.shard_count, **options)
        return discord.Client(**options)

    # ----------------------------------------------------------------- lifecycle

    def attach(self, core: CoreSink) -> None:
        """Give the adapter the core it feeds (before :meth:`run`); the slash commands are
        built from the core's command list."""
        self.state.attach(core)
        self.interactions.install(core.services.commands)

    def communities(self) -> set[str] | None:
        """The servers whose jobs this process claims: with shards, those on this process's
        shards (``None``, any server's, when one process runs every shard)."""
        if not self.config.get(DISCORD_SECTION).shard_count:
            return None
        return {str(guild.id) for guild in self.client.guilds}

    def shard_of(self, community_id: str) -> str:
        """The shard a server lives on (Discord's rule: ``(id >> 22) % shard_count``)."""
        count = self.config.get(DISCORD_SECTION).shard_count or 1
        return str((int(community_id) >> 22) % count) if community_id.isdigit() else "0"

    async def sync_commands(self, force: bool = False) -> None:
        """Register the slash commands with Discord when they differ from the last sync."""
        await self.interactions.sync_commands(force)

    def _token_or_error(self) -> str:
        return run_token(self._token, os.environ)

    async def run(self) -> None:
        """Log in with ``HAVEN_DISCORD_TOKEN`` and deliver events until closed.

        discord.py reconnects by itself after network errors. Any other error that
        ends the client (one the gateway guard did not catch) is logged with its type
        and Haven connects again after a back-off (:attr:`restart_delays`); only a
        refused token or refused privileged intents end :meth:`run`.
        """
        token = self._token_or_error()
        failures = 0
        while True:
            try:
                await self.client.start(token, reconnect=True)
            except discord.LoginFailure as exc:
                raise HavenError(f"Discord refused the bot token in {TOKEN_ENV}; check it in the "
                                 "developer portal (Bot > Reset Token)") from exc
            except discord.PrivilegedIntentsRequired as exc:
                raise HavenError("Discord refused the privileged intents: switch on SERVER MEMBERS "
                                 "INTENT and MESSAGE CONTENT INTENT in the developer portal "
                                 "(Bot > Privileged Gateway Intents)") from exc
            except Exception as exc:
                if self._closing:
                    return
                delay = self.restart_delays[min(failures, len(self.restart_delays) - 1)]
                failures += 1
                log.error("The Discord connection ended with %s at %s; reconnecting in %.0fs "
                          "(attempt %d)", type(exc).__name__, error_place(exc), delay, failures)
                with contextlib.suppress(Exception):
                    await self.client.close()
                with contextlib.suppress(Exception):  # "re-open" the client (discord.py's clear)
                    self.client.clear()
                await asyncio.sleep(delay)
                continue
            return  # closed on purpose

    async def close(self) -> None:
        """Disconnect from Discord."""
        self._closing = True
        self.inbound.gate.set()  # let handlers waiting for catch-up finish
        await self.client.close()

    async def _on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """An event handler raised: log the event, error type and place (discord.py's own
        handler logs the exception message, which may quote member text) and carry on."""
        exc = sys.exc_info()[1]
        if exc is None:
            log.error("error in the Discord %s handler", event_method)
            return
        log.error("error in the Discord %s handler (%s at %s); carrying on\n%s", event_method,
                  type(exc).__name__, error_place(exc), traceback_without_message(exc))

    def _count_failure(self, event: str) -> None:
        self.parse_failures += 1

    async def _on_ready(self) -> None:
        me = self.client.user
        log.info("Connected to Discord as %s (%s) in %d server(s)", me, me.id if me else "?",
                 len(self.client.guilds))
        self.inbound.gate.clear()
        try:
            await self.checks.check_moderators_channels()
        except Exception:
            log.exception("checking the moderators' channels failed")
        try:
            await asyncio.wait_for(self.catchup.catch_up(), self.catch_up_timeout)
        except TimeoutError:
            self.catchup.hold_all()
            log.error("catching up took longer than %.0fs; handling new posts now and reading "
                      "the rest at the next start", self.catch_up_timeout)
        except Exception as exc:
            log.error("catching up on support channels failed (%s at %s)", type(exc).__name__,
                      error_place(exc))
        finally:
            self.inbound.gate.set()
            self._mark_core_ready()

    def _mark_core_ready(self) -> None:
        """Tell the core Haven is connected and caught up, so its timers start now."""
        if self.state.sink is None:
            return
        try:
            self.state.sink.mark_ready()
        except Exception:
            log.exception("the core's mark_ready failed")

    # ----------------------------------------------------------------- Platform verbs

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        """Post ``msg`` in a channel (a forum gets a new post titled by the first line)."""
        return await self.outbound.send(community_id, channel, msg)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        """Reply to a message (inside its thread when it is in one)."""
        return await self.outbound.reply(to, msg)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Send a direct message; raises ``PrivateMessagesClosed`` on Discord error 50007."""
        return await self.outbound.send_private(community_id, user_id, msg)

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        """Replace the text (and buttons) of a message Haven sent."""
        await self.outbound.edit(ref, msg)

    async def hide(self, ref: MessageRef, reason: str) -> None:
        """Delete a message, with ``reason`` in the audit log."""
        await self.outbound.hide(ref, reason)

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        """Time a member out (at most 28 days; 0 lifts the timeout)."""
        await self.outbound.timeout(community_id, user_id, seconds, reason)

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        """Post ``msg`` under the author's name and avatar (a Haven webhook)."""
        return await self.outbound.repost(community_id, channel, author, msg)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        """Add and remove forum tags (by name) on a forum post."""
        await self.outbound.tag_post(ref, add, remove)

    async def set_slow_mode(self, community_id: str, channel: str, seconds: int) -> None:
        """Capability ``SLOW_MODE``: one post per ``seconds`` per member (``0``: off)."""
        await self.outbound.set_slow_mode(community_id, channel, seconds)

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """A member of the server by id, ``<@id>``, user name or display name."""
        return await self.members.resolve_member(community_id, query)

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        """Capability ``ROLE_MEMBERS``: ids of the people holding ``role``."""
        return await self.members.role_member_ids(community_id, role)

    def user_mention(self, user_id: str) -> str:
        """``<@id>`` (a proxied author: their name in bold)."""
        return self.state.user_mention(user_id)

    def role_mention(self, community_id: str, role: str) -> str:
        """``<@&id>`` for a role named by id or name."""
        return self.state.role_mention(community_id, role)

    def channel_mention(self, community_id: str, channel: str) -> str:
        """``<#id>`` for a channel named by id or name."""
        return self.state.channel_mention(community_id, channel)

    def community_name(self, community_id: str) -> str:
        """The server's name."""
        return self.state.community_name(community_id)

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        """Capability ``CHANNEL_PRIVACY``: whether @everyone cannot see the moderators' channel."""
        return self.checks.moderators_channel_is_private(community_id)

    async def check_online(self) -> list[str]:
        """``haven check --online``: the problems with the configured servers (empty: none)."""
        return await self.checks.check_online(self._token)

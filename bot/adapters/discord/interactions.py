"""Slash commands and alert buttons: interactions in, the core's answers out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

import discord
from discord import app_commands

from bot.adapters.discord.commands import commands_fingerprint, install_commands
from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.discord.errors import error_place
from bot.adapters.discord.outbound import files_of
from bot.adapters.discord.render import split_text
from bot.adapters.discord.state import DiscordState, remember, to_channel, to_member
from bot.core.commandspec import CommandSpec
from bot.core.events import ButtonPressed, Channel, CommandInvoked, CommandResult, Event

log = logging.getLogger(__name__)

COMMANDS_KEY = "discord:commands:{}:{}"
"""Store key of the fingerprint of the slash commands last synced, per application and
scope (``global`` or a guild id)."""


class Interactions:
    """Slash commands and alert buttons: each becomes an event the core answers.

    The core's answer is shown to the member; if the core takes longer than
    :attr:`defer_after`, the interaction is deferred first.
    """

    defer_after: float = 2.0
    """Seconds to wait for the core before deferring an interaction (Discord allows 3)."""

    def __init__(self, state: DiscordState, tree: app_commands.CommandTree[Any]) -> None:
        self.state = state
        self.tree = tree
        self._interactions: OrderedDict[str, None] = OrderedDict()
        tree.on_error = self.on_tree_error  # type: ignore[method-assign]

    def install(self, specs: tuple[CommandSpec, ...]) -> None:
        """Put the slash commands for ``specs`` (the core's commands) in the tree."""
        install_commands(self.tree, self.on_command, specs, self.remember_resolved)

    def accept_event(self, event: str, data: Any) -> bool:
        """Before discord.py parses a gateway event: drop redelivered interactions.

        Discord may deliver the same INTERACTION_CREATE more than once; Haven acts
        on (and answers) each interaction id once. The core also de-duplicates by
        :attr:`CommandInvoked.delivery_id`.
        """
        if event != "INTERACTION_CREATE" or not isinstance(data, dict):
            return True
        interaction_id = str(data.get("id") or "")
        if not interaction_id:
            return True
        if interaction_id in self._interactions:
            log.info("interaction %s delivered again; ignored", interaction_id)
            return False
        remember(self._interactions, interaction_id)
        return True

    async def setup_hook(self) -> None:
        """After login, before connecting: sync slash commands if they changed.

        Nothing here may stop Haven starting: a failed sync is logged and the
        previously registered commands keep working.
        """
        try:
            await self.sync_commands()
        except Exception as exc:
            log.error("Could not register slash commands (%s at %s); starting anyway with the "
                      "commands Discord already has", type(exc).__name__, error_place(exc))

    async def sync_commands(self, force: bool = False) -> None:
        """Register the slash commands with Discord when they differ from the last sync.

        With ``discord.guild_ids`` configured the commands are registered per
        guild (instant); otherwise globally.
        """
        fingerprint = commands_fingerprint(self.tree)
        scopes: list[discord.Object | None] = [
            discord.Object(int(g)) for g in self.state.config.get(DISCORD_SECTION).guild_ids if str(g).isdigit()
        ] or [None]
        for guild in scopes:
            key = COMMANDS_KEY.format(self.state.client.application_id, guild.id if guild else "global")
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            if not force and await self.state.kv_get(key) == fingerprint:
                continue
            try:
                await self.tree.sync(guild=guild)
            except discord.Forbidden:
                log.error("Discord refused to register slash commands in guild %s: re-invite "
                          "Haven with the applications.commands scope (haven invite-url)",
                          guild.id if guild else "(global)")
                continue
            except discord.HTTPException as exc:
                log.error("Could not register slash commands: %s %s", exc.status, exc.text)
                continue
            except Exception as exc:  # e.g. a KeyError on a reply discord.py did not expect
                log.error("Could not register slash commands in %s (%s at %s); the commands "
                          "Discord already has keep working", guild.id if guild else "(global)",
                          type(exc).__name__, error_place(exc))
                continue
            await self.state.kv_set(key, fingerprint)

    # ----------------------------------------------------------------- commands and buttons

    async def on_command(self, interaction: discord.Interaction[Any], spec: CommandSpec,
                          options: dict[str, str]) -> None:
        """A slash command: ``CommandInvoked`` for the core, its answer shown to the member."""
        guild = interaction.guild
        if guild is None or not self.state.allowed_guild(guild.id):
            await interaction.response.send_message(
                self.state.text("commands_outside_server"), ephemeral=True)
            return
        event = CommandInvoked(
            community_id=str(guild.id),
            at=interaction.created_at.timestamp(),
            channel=to_channel(interaction.channel) if interaction.channel else Channel(
                str(interaction.channel_id), str(interaction.channel_id)),
            invoker=to_member(interaction.user, guild),
            name=spec.name,
            args=(),
            options=dict(options),
            delivery_id=str(interaction.id),
        )
        await self._answer(interaction, event)

    def remember_resolved(self, guild_id: int, user: discord.abc.User) -> None:
        """Keep a member a slash command option named (Discord sends it resolved, with
        nickname and roles), so :meth:`resolve_member` knows their display name."""
        if isinstance(user, discord.Member):
            key = (guild_id, user.id)
            self.state.resolved[key] = to_member(user)
            self.state.resolved.move_to_end(key)
            while len(self.state.resolved) > 1000:
                self.state.resolved.popitem(last=False)

    async def on_button(self, interaction: discord.Interaction[Any], action: str, alert_id: int) -> None:
        """An alert's Claim or Resolve button: ``ButtonPressed`` for the core."""
        guild = interaction.guild
        if guild is None or not self.state.allowed_guild(guild.id):
            return
        event = ButtonPressed(
            community_id=str(guild.id),
            at=interaction.created_at.timestamp(),
            channel=to_channel(interaction.channel) if interaction.channel else Channel(
                str(interaction.channel_id), str(interaction.channel_id)),
            member=to_member(interaction.user, guild),
            action=action,
            alert_id=alert_id,
            delivery_id=str(interaction.id),
        )
        await self._answer(interaction, event)

    async def _answer(self, interaction: discord.Interaction[Any], event: Event) -> None:
        """Pass an interaction's event to the core and show its result.

        If the core takes longer than :attr:`defer_after`, the interaction is
        deferred (ephemerally) so Discord's three-second limit never loses it.
        """
        task: asyncio.Future[Any] = asyncio.ensure_future(self.state.core.handle(event))
        deferred = False
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done:
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
                deferred = True
            except discord.HTTPException as exc:
                log.warning("could not defer interaction: %s %s", exc.status, exc.text)
        try:
            result = await task
        except Exception:
            log.exception("the core failed on %s", type(event).__name__)
            result = CommandResult(self.state.text("command_crashed"), ephemeral=True, ok=False)
        if not isinstance(result, CommandResult):
            result = CommandResult(self.state.text("command_done"), ephemeral=True)
        try:
            await self._respond(interaction, result, deferred)
        except discord.HTTPException as exc:
            log.warning("could not answer interaction: %s %s", exc.status, exc.text)

    async def _respond(self, interaction: discord.Interaction[Any], result: CommandResult,
                       deferred: bool) -> None:
        chunks = split_text(result.text or self.state.text("command_done"))
        files = files_of(result)
        none = discord.AllowedMentions.none()
        ephemeral = True if deferred else result.ephemeral
        for i, chunk in enumerate(chunks):
            kwargs: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": none}
            if i == len(chunks) - 1 and files:
                kwargs["files"] = files
            if i == 0 and not deferred:
                await interaction.response.send_message(chunk, **kwargs)
            else:
                await interaction.followup.send(chunk, **kwargs)

    async def on_tree_error(self, interaction: discord.Interaction[Any],
                             error: app_commands.AppCommandError) -> None:
        """discord.py could not run a slash command: logged, and the member told so."""
        log.error("slash command failed: %r", error, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            if not interaction.response.is_done():
                await interaction.response.send_message(self.state.text("command_failed"),
                                                        ephemeral=True)

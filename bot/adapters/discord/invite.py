"""What Haven asks Discord for: gateway intents, permissions and the invite URL."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import discord
from discord.utils import MISSING

from bot.features.raid.config import RAID_SECTION

if TYPE_CHECKING:
    from bot.core.config import Config

HAVEN_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    manage_messages=True,
    manage_webhooks=True,
    manage_threads=True,
    moderate_members=True,
    use_application_commands=True,
)
"""Exactly the permissions Haven asks for when invited (see :func:`invite_url`).
Haven never kicks or bans, so it does not ask to."""

SLOW_MODE_PERMISSIONS = discord.Permissions(manage_channels=True)
"""Added when raid mode may slow channels down (``raid.slow_channels``)."""

PERMISSIONS_VALUE: int = HAVEN_PERMISSIONS.value
"""The integer of :data:`HAVEN_PERMISSIONS` (1394253884416)."""


def intents() -> discord.Intents:
    """The gateway intents Haven needs (``members`` and ``message_content`` are privileged)."""
    return discord.Intents(
        guilds=True,
        members=True,
        message_content=True,
        guild_messages=True,
        dm_messages=True,
        auto_moderation_execution=True,
    )


def permissions_for(config: Config | None) -> discord.Permissions:
    """What this configuration needs: :data:`HAVEN_PERMISSIONS`, plus Manage Channels
    only when raid mode is set to slow channels down."""
    needed = discord.Permissions(HAVEN_PERMISSIONS.value)
    if config is not None and config.get(RAID_SECTION).slow_channels:
        needed.value |= SLOW_MODE_PERMISSIONS.value
    return needed


def invite_url(client_id: str, config: Config | None = None) -> str:
    """The OAuth2 URL that invites Haven with exactly the permissions it needs
    (:func:`permissions_for`).

    Scopes are ``bot`` and ``applications.commands``. When the config names
    exactly one guild, the URL preselects it.
    """
    guild: discord.abc.Snowflake | Any = MISSING
    guild_ids = tuple(getattr(getattr(config, "discord", None), "guild_ids", ()) or ())
    if len(guild_ids) == 1 and str(guild_ids[0]).isdigit():
        guild = discord.Object(int(guild_ids[0]))
    return discord.utils.oauth_url(
        str(client_id),
        permissions=permissions_for(config),
        guild=guild,
        scopes=("bot", "applications.commands"),
    )


def client_id_from_token(token: str) -> str | None:
    """The application (client) id encoded in the first part of a bot token, if readable.

    Lets ``haven invite-url`` work without ``discord.application_id`` in the config.
    The token itself is never logged or returned.
    """
    head = token.strip().split(".", 1)[0]
    if not head:
        return None
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None

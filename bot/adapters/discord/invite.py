"""What Haven asks Discord for: gateway intents, permissions and the invite URL."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import discord
from discord.utils import MISSING

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
    kick_members=True,
    ban_members=True,
    use_application_commands=True,
)
"""Exactly the permissions Haven asks for when invited (see :func:`invite_url`)."""

PERMISSIONS_VALUE: int = HAVEN_PERMISSIONS.value
"""The integer of :data:`HAVEN_PERMISSIONS` (1394253884422)."""


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


def invite_url(client_id: str, config: Config | None = None) -> str:
    """The OAuth2 URL that invites Haven with exactly :data:`HAVEN_PERMISSIONS`.

    Scopes are ``bot`` and ``applications.commands``. When the config names
    exactly one guild, the URL preselects it.
    """
    guild: discord.abc.Snowflake | Any = MISSING
    guild_ids = tuple(getattr(getattr(config, "discord", None), "guild_ids", ()) or ())
    if len(guild_ids) == 1 and str(guild_ids[0]).isdigit():
        guild = discord.Object(int(guild_ids[0]))
    return discord.utils.oauth_url(
        str(client_id),
        permissions=HAVEN_PERMISSIONS,
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

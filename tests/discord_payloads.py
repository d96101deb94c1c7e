"""Discord gateway and REST payload factories (API v10, checked against discord.py 2.7.1).

Every JSON shape the Discord tests feed into discord.py or answer REST calls with
is built here, so when Discord or discord.py changes a payload there is one place
to fix. Known drift handled here: ``Interaction`` needs ``attachment_size_limit``
(2.7), reactions need ``type`` (2.4), roles carry ``colors`` (2.6).

Ids are snowflakes whose timestamp part is the time passed in, so
``message.created_at`` in discord.py matches the virtual clock of a test.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

TEXT, DM, FORUM, PUBLIC_THREAD = 0, 1, 15, 11
DISCORD_EPOCH_MS = 1420070400000
_seq = itertools.count(1)

# A fixed cast for most tests.
GUILD_ID = "900000000000000001"
APP_ID = "900000000000000002"
BOT_ID = APP_ID
OWNER_ID = "900000000000000003"
MOD_ID = "900000000000000004"
MEMBER_ID = "900000000000000005"
NEWCOMER_ID = "900000000000000006"
OTHER_BOT_ID = "900000000000000007"
EVERYONE_ROLE = GUILD_ID
MOD_ROLE = "910000000000000001"
PEER_ROLE = "910000000000000002"
GREETER_ROLE = "910000000000000003"
GENERAL = "920000000000000001"
SUPPORT = "920000000000000002"
MODS = "920000000000000003"
VENTING = "920000000000000004"
SUPPORT_FORUM = "920000000000000005"
WELCOME = "920000000000000006"
NUDGES = "920000000000000007"

VIEW_CHANNEL = 1 << 10
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_MESSAGES = 1 << 13
ADMINISTRATOR = 1 << 3
MEMBER_PERMS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 6)  # view, send, history, reactions


def snowflake(at: float) -> str:
    """A unique snowflake whose timestamp is ``at`` (epoch seconds)."""
    ms = int(at * 1000) - DISCORD_EPOCH_MS
    return str((ms << 22) | (next(_seq) % (1 << 22)))


def iso(at: float) -> str:
    """ISO-8601 timestamp as Discord sends it."""
    return datetime.fromtimestamp(at, UTC).isoformat()


def user(user_id: str, username: str, *, bot: bool = False, avatar: str | None = None,
         global_name: str | None = None) -> dict[str, Any]:
    """A user object."""
    return {
        "id": user_id,
        "username": username,
        "global_name": global_name,
        "discriminator": "0",
        "avatar": avatar,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def role(role_id: str, name: str, *, permissions: int = 0, position: int = 1,
         mentionable: bool = False) -> dict[str, Any]:
    """A role object (with the ``colors`` field added in discord.py 2.6)."""
    return {
        "id": role_id,
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": mentionable,
        "flags": 0,
    }


def member(u: dict[str, Any], *, roles: tuple[str, ...] = (), joined_at: float = 1.7e9,
           nick: str | None = None, permissions: int | None = None) -> dict[str, Any]:
    """A guild member object (with ``user``)."""
    data: dict[str, Any] = {
        "user": u,
        "nick": nick,
        "avatar": None,
        "roles": list(roles),
        "joined_at": iso(joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def text_channel(channel_id: str, name: str, *, guild_id: str = GUILD_ID, position: int = 0,
                 last_message_id: str | None = None, overwrites: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """A guild text channel."""
    return {
        "id": channel_id,
        "type": TEXT,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "permission_overwrites": overwrites or [],
        "nsfw": False,
        "topic": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "last_message_id": last_message_id,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def overwrite(target_id: str, *, member: bool = False, allow: int = 0, deny: int = 0
              ) -> dict[str, Any]:
    """A channel permission overwrite for a role (the guild id is @everyone) or a member."""
    return {"id": target_id, "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}


def forum_tag(tag_id: str, name: str) -> dict[str, Any]:
    """One of a forum channel's available tags."""
    return {"id": tag_id, "name": name, "moderated": False, "emoji_id": None, "emoji_name": None}


def forum_channel(channel_id: str, name: str, *, guild_id: str = GUILD_ID, position: int = 0,
                  last_message_id: str | None = None,
                  tags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A guild forum channel (``tags``: its available tags, see :func:`forum_tag`)."""
    return {
        "id": channel_id,
        "type": FORUM,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "last_message_id": last_message_id,
        "default_auto_archive_duration": 1440,
        "available_tags": tags or [],
        "default_reaction_emoji": None,
        "default_thread_rate_limit_per_user": 0,
        "default_sort_order": None,
        "default_forum_layout": 0,
        "flags": 0,
    }


def thread(thread_id: str, name: str, parent_id: str, *, owner_id: str = MEMBER_ID,
           guild_id: str = GUILD_ID, at: float = 1.7e9, last_message_id: str | None = None,
           archived: bool = False, newly_created: bool = False) -> dict[str, Any]:
    """A public thread (in a text channel) or forum post (in a forum channel)."""
    data: dict[str, Any] = {
        "id": thread_id,
        "type": PUBLIC_THREAD,
        "guild_id": guild_id,
        "parent_id": parent_id,
        "owner_id": owner_id,
        "name": name,
        "last_message_id": last_message_id or thread_id,
        "rate_limit_per_user": 0,
        "message_count": 1,
        "member_count": 1,
        "total_message_sent": 1,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": archived,
            "auto_archive_duration": 1440,
            "archive_timestamp": iso(at),
            "locked": False,
            "create_timestamp": iso(at),
        },
    }
    if newly_created:
        data["newly_created"] = True
    return data


def guild(*, guild_id: str = GUILD_ID, name: str = "Safe Harbour", owner_id: str = OWNER_ID,
          roles: list[dict[str, Any]] | None = None, channels: list[dict[str, Any]] | None = None,
          threads: list[dict[str, Any]] | None = None, members: list[dict[str, Any]] | None = None
          ) -> dict[str, Any]:
    """A GUILD_CREATE payload."""
    return {
        "id": guild_id,
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": owner_id,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": roles or [role(guild_id, "@everyone", permissions=MEMBER_PERMS, position=0)],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "stickers": [],
        "joined_at": iso(1.7e9),
        "large": False,
        "unavailable": False,
        "member_count": len(members or []),
        "voice_states": [],
        "members": members or [],
        "channels": channels or [],
        "threads": threads or [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def ready(bot: dict[str, Any], *, application_id: str = APP_ID,
          guilds: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A READY payload."""
    return {
        "v": 10,
        "user": {**bot, "verified": True, "mfa_enabled": False, "email": None},
        "guilds": guilds or [],
        "session_id": "session",
        "resume_gateway_url": "wss://gateway.discord.gg",
        "shard": [0, 1],
        "application": {"id": application_id, "flags": 0},
        "private_channels": [],
        "relationships": [],
    }


def attachment(filename: str, *, at: float, spoiler: bool = False) -> dict[str, Any]:
    """An attachment on a message (``SPOILER_`` file names are spoilers)."""
    att_id = snowflake(at)
    name = f"SPOILER_{filename}" if spoiler else filename
    return {
        "id": att_id,
        "filename": name,
        "size": 1234,
        "url": f"https://cdn.discordapp.com/attachments/1/{att_id}/{name}",
        "proxy_url": f"https://media.discordapp.net/attachments/1/{att_id}/{name}",
        "content_type": "image/png",
        "flags": 0,
    }


def message(channel_id: str, author: dict[str, Any], content: str, *, at: float,
            message_id: str | None = None, guild_id: str | None = GUILD_ID,
            roles: tuple[str, ...] = (), reply_to: str | None = None,
            attachments: list[dict[str, Any]] | None = None, edited_at: float | None = None,
            webhook_id: str | None = None, application_id: str | None = None,
            msg_type: int | None = None, components: list[dict[str, Any]] | None = None,
            joined_at: float = 1.7e9) -> dict[str, Any]:
    """A MESSAGE_CREATE / MESSAGE_UPDATE payload (also a REST message object)."""
    data: dict[str, Any] = {
        "id": message_id or snowflake(at),
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": iso(at),
        "edited_timestamp": iso(edited_at) if edited_at is not None else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": [],
        "pinned": False,
        "type": msg_type if msg_type is not None else (19 if reply_to else 0),
        "flags": 0,
        "components": components or [],
    }
    if guild_id is not None:
        data["guild_id"] = guild_id
        if webhook_id is None:
            data["member"] = {k: v for k, v in member(author, roles=roles, joined_at=joined_at).items()
                              if k != "user"}
    if reply_to is not None:
        data["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel_id,
                                     "guild_id": guild_id}
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
    if application_id is not None:
        data["application_id"] = application_id
    return data


def message_delete(channel_id: str, message_id: str, *, guild_id: str = GUILD_ID) -> dict[str, Any]:
    """A MESSAGE_DELETE payload."""
    return {"id": message_id, "channel_id": channel_id, "guild_id": guild_id}


def member_add(u: dict[str, Any], *, at: float, guild_id: str = GUILD_ID,
               roles: tuple[str, ...] = ()) -> dict[str, Any]:
    """A GUILD_MEMBER_ADD payload."""
    return {**member(u, roles=roles, joined_at=at), "guild_id": guild_id}


def reaction_add(channel_id: str, message_id: str, u: dict[str, Any], emoji: str, *,
                 guild_id: str = GUILD_ID, roles: tuple[str, ...] = ()) -> dict[str, Any]:
    """A MESSAGE_REACTION_ADD payload (with ``type``, needed since discord.py 2.4)."""
    return {
        "user_id": u["id"],
        "channel_id": channel_id,
        "message_id": message_id,
        "guild_id": guild_id,
        "member": member(u, roles=roles),
        "emoji": {"id": None, "name": emoji},
        "burst": False,
        "type": 0,
        "message_author_id": None,
    }


def automod_execution(*, user_id: str, channel_id: str, keyword: str = "badword",
                      guild_id: str = GUILD_ID, at: float = 1.7e9) -> dict[str, Any]:
    """An AUTO_MODERATION_ACTION_EXECUTION payload (a blocked message)."""
    return {
        "guild_id": guild_id,
        "action": {"type": 1, "metadata": {}},
        "rule_id": snowflake(at),
        "rule_trigger_type": 1,
        "user_id": user_id,
        "channel_id": channel_id,
        "message_id": None,
        "alert_system_message_id": None,
        "content": "",
        "matched_keyword": keyword,
        "matched_content": "",
    }


def dm_channel(channel_id: str, recipient: dict[str, Any]) -> dict[str, Any]:
    """A DM channel object (answer to POST /users/@me/channels)."""
    return {"id": channel_id, "type": DM, "last_message_id": None, "recipients": [recipient]}


def webhook(webhook_id: str, channel_id: str, *, owner: dict[str, Any], name: str = "Haven",
            token: str = "webhook-token", guild_id: str = GUILD_ID,
            application_id: str | None = APP_ID) -> dict[str, Any]:
    """A channel webhook object."""
    return {
        "id": webhook_id,
        "type": 1,
        "guild_id": guild_id,
        "channel_id": channel_id,
        "user": owner,
        "name": name,
        "avatar": None,
        "token": token,
        "application_id": application_id,
    }


def _interaction_base(kind: int, *, at: float, channel: dict[str, Any], invoker: dict[str, Any],
                      roles: tuple[str, ...], permissions: int, guild_id: str) -> dict[str, Any]:
    return {
        "id": snowflake(at),
        "application_id": APP_ID,
        "type": kind,
        "token": f"interaction-token-{next(_seq)}",
        "version": 1,
        "guild_id": guild_id,
        "guild": {"id": guild_id, "locale": "en-US", "features": []},
        "channel_id": channel["id"],
        "channel": channel,
        "member": member(invoker, roles=roles, permissions=permissions),
        "app_permissions": str(permissions),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild_id},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }


def slash_command(name: str, options: list[dict[str, Any]] | None = None, *, at: float,
                  channel: dict[str, Any], invoker: dict[str, Any], roles: tuple[str, ...] = (),
                  permissions: int = MEMBER_PERMS, guild_id: str = GUILD_ID,
                  command_id: str | None = None,
                  resolved: dict[str, Any] | None = None) -> dict[str, Any]:
    """An INTERACTION_CREATE for a slash command (``options`` as Discord sends them)."""
    data = _interaction_base(2, at=at, channel=channel, invoker=invoker, roles=roles,
                             permissions=permissions, guild_id=guild_id)
    data["data"] = {
        "id": command_id or snowflake(at),
        "name": name,
        "type": 1,
        "guild_id": guild_id,
        "options": options or [],
    }
    if resolved:
        data["data"]["resolved"] = resolved
    return data


def option(name: str, value: Any, kind: int = 3) -> dict[str, Any]:
    """A command option (3 string, 4 integer, 6 user)."""
    return {"name": name, "type": kind, "value": value}


def subcommand(name: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A subcommand option (``rules test``)."""
    return {"name": name, "type": 1, "options": options or []}


def resolved_user(u: dict[str, Any], *, roles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``resolved`` block for a user option."""
    m = member(u, roles=roles)
    m.pop("user")
    return {"users": {u["id"]: u}, "members": {u["id"]: m}}


def button_press(custom_id: str, *, at: float, channel: dict[str, Any], invoker: dict[str, Any],
                 msg: dict[str, Any], roles: tuple[str, ...] = (), permissions: int = MEMBER_PERMS,
                 guild_id: str = GUILD_ID) -> dict[str, Any]:
    """An INTERACTION_CREATE for a button press on ``msg`` (which carries the components)."""
    data = _interaction_base(3, at=at, channel=channel, invoker=invoker, roles=roles,
                             permissions=permissions, guild_id=guild_id)
    data["message"] = msg
    data["data"] = {"custom_id": custom_id, "component_type": 2}
    return data


def channel_for_interaction(ch: dict[str, Any]) -> dict[str, Any]:
    """The partial channel an interaction carries."""
    return {k: ch[k] for k in ("id", "type", "name", "guild_id", "position", "parent_id",
                               "permission_overwrites", "nsfw", "flags") if k in ch}

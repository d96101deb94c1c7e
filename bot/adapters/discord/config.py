"""The ``discord:`` section: Discord connection settings (the token comes from
``HAVEN_DISCORD_TOKEN``, never from the file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.errors import Problem
from bot.core.sections import Checks, Section, opt


@dataclass(frozen=True)
class DiscordConfig:
    """Discord connection settings (the token comes from HAVEN_DISCORD_TOKEN)."""

    application_id: str | None = None
    guild_ids: tuple[str, ...] = ()
    shard_count: int | None = field(default=None, metadata=opt(between=(1, 100000)))
    shard_ids: tuple[int, ...] | None = field(
        default=None, metadata=opt(between=(0, 100000), items="shard numbers"))


def _check(discord: DiscordConfig, checks: Checks) -> list[Problem]:
    """Shard ids need the shard count, and each is below it."""
    ids, count = discord.shard_ids, discord.shard_count
    if ids is not None and count is None and not checks.failed("discord.shard_count"):
        return [checks.problem("discord.shard_ids", "shard_ids needs shard_count")]
    if ids and count and any(i >= count for i in ids):
        return [checks.problem("discord.shard_ids", "every shard id must be below shard_count")]
    return []


DISCORD_SECTION = Section("discord", DiscordConfig, check=_check)

"""The moderators' channel must be private: Haven checks it on ready and says so if not.

The permission overwrites of the moderators' channel in the guild payload decide:
a deny of View Channel for @everyone makes it private; no overwrite leaves it
visible to every member of the server.
"""

from __future__ import annotations

import logging

from bot.adapters.discord.config import DiscordConfig
from bot.core.config import ChannelsConfig
from tests import discord_payloads as p
from tests.discord_harness import (
    discord_config,
    private_overwrites,
    standard_channels,
    standard_guild,
    started,
)

WARNING = "This channel is visible to everyone"


def guild_with_mods(overwrites: list[dict]) -> dict:
    """The standard server with these overwrites on the moderators' channel."""
    return standard_guild(channels=standard_channels(mods_overwrites=overwrites))


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_discord_private_moderators_channel_passes_quietly(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING):
        h, _core = await started(monkeypatch, guild=guild_with_mods(private_overwrites()))
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is True
    assert h.rest.messages_to(p.MODS) == []
    assert errors(caplog) == []


async def test_discord_public_moderators_channel_is_reported_once(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING):
        h, _core = await started(monkeypatch, guild=guild_with_mods([]))
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is False
    [warning] = h.rest.messages_to(p.MODS)
    assert WARNING in warning.content and "made private" in warning.content
    assert warning.json["allowed_mentions"] == {"parse": [], "users": [], "roles": []}
    [error] = errors(caplog)
    assert "#moderators" in error and "visible to everyone" in error and "history" in error
    # A reconnect fires on_ready again: no second message, no second error.
    await h.adapter._on_ready()
    assert len(h.rest.messages_to(p.MODS)) == 1 and len(errors(caplog)) == 1


async def test_discord_viewable_without_history_is_still_not_private(monkeypatch, caplog):
    # Members could not scroll back, but they would see every new alert arrive.
    no_history = [p.overwrite(p.EVERYONE_ROLE, deny=p.READ_MESSAGE_HISTORY)]
    with caplog.at_level(logging.ERROR):
        h, _core = await started(monkeypatch, guild=guild_with_mods(no_history))
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is False
    assert len(h.rest.messages_to(p.MODS)) == 1
    [error] = errors(caplog)
    assert "can view it)" in error and "history" not in error


async def test_discord_privacy_follows_channel_updates(monkeypatch):
    h, _core = await started(monkeypatch, guild=guild_with_mods([]))
    fixed = p.text_channel(p.MODS, "moderators", position=2, overwrites=private_overwrites())
    await h.feed("CHANNEL_UPDATE", fixed)
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is True
    # Made public again later: the next on_ready warns again.
    await h.feed("CHANNEL_UPDATE", p.text_channel(p.MODS, "moderators", position=2))
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is False
    await h.adapter._on_ready()
    assert len(h.rest.messages_to(p.MODS)) == 1  # still once: the warning stands until fixed
    await h.feed("CHANNEL_UPDATE", fixed)
    await h.adapter._on_ready()
    await h.feed("CHANNEL_UPDATE", p.text_channel(p.MODS, "moderators", position=2))
    await h.adapter._on_ready()
    assert len(h.rest.messages_to(p.MODS)) == 2


async def test_discord_missing_moderators_channel_names_the_config_key(monkeypatch, caplog):
    config = discord_config(channels=ChannelsConfig(moderators="staff-room", nudges="peer-support"))
    with caplog.at_level(logging.ERROR):
        h, _core = await started(monkeypatch, config=config)
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is None
    [error] = errors(caplog)
    assert "channels.moderators" in error and "staff-room" in error
    assert not h.rest.find("POST", r"/channels/\d+/messages")


async def test_discord_unknown_or_unserved_server_is_not_checked(monkeypatch, caplog):
    config = discord_config(discord=DiscordConfig(guild_ids=("42",)))
    with caplog.at_level(logging.ERROR):
        h, _core = await started(monkeypatch, config=config, guild=guild_with_mods([]))
    assert h.rest.messages_to(p.MODS) == []  # not a server Haven serves
    assert errors(caplog) == []
    assert h.adapter.moderators_channel_is_private("123") is None
    assert h.adapter.moderators_channel_is_private("not-an-id") is None


# --------------------------------------------------------------------------- a role every member has

MEMBER_ROLE = "910000000000000009"


def guild_with_member_role(*, everyone_holds_it: bool, member_count: int | None = None) -> dict:
    """@everyone may view nothing server-wide; a "Member" role carries the members'
    permissions, and the moderators' channel only adds the moderators and Haven (the
    classic mistake: "@everyone can't see it, so it is private")."""
    from tests.discord_harness import ALICE, MO, OWNER

    roles = [p.role(p.EVERYONE_ROLE, "@everyone", permissions=0, position=0),
             p.role(p.MOD_ROLE, "Moderators", permissions=p.MEMBER_PERMS | p.MANAGE_MESSAGES, position=3),
             p.role(MEMBER_ROLE, "Member", permissions=p.MEMBER_PERMS, position=1)]
    member_roles = (MEMBER_ROLE,) if everyone_holds_it else ()
    members = [p.member(OWNER, roles=member_roles), p.member(MO, roles=(p.MOD_ROLE, MEMBER_ROLE)),
               p.member(ALICE, roles=member_roles)]
    mods_only = [o for o in private_overwrites() if o["id"] != p.EVERYONE_ROLE]
    guild = p.guild(roles=roles, channels=standard_channels(mods_overwrites=mods_only),
                    members=members)
    if member_count is not None:
        guild["member_count"] = member_count
    return guild


async def test_discord_a_role_every_member_holds_makes_the_channel_public(monkeypatch, caplog):
    with caplog.at_level(logging.ERROR):
        h, _core = await started(monkeypatch, guild=guild_with_member_role(everyone_holds_it=True))
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is False
    [warning] = h.rest.messages_to(p.MODS)
    assert "Permissions > Member > deny" in warning.content
    assert any("Member can view it" in e for e in errors(caplog))


async def test_discord_members_role_named_in_config_makes_the_channel_public(monkeypatch):
    from bot.core.config import RolesConfig

    # Haven knows only 3 of 500 members, so it cannot tell by counting; the config says so.
    guild = guild_with_member_role(everyone_holds_it=True, member_count=500)
    h, _ = await started(monkeypatch, guild=guild)
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is True
    config = discord_config(roles=RolesConfig(moderators=("Moderators",), members=("Member",)))
    h2, _ = await started(monkeypatch, config=config, guild=guild)
    assert h2.adapter.moderators_channel_is_private(p.GUILD_ID) is False


async def test_discord_a_role_only_some_members_hold_does_not_count(monkeypatch):
    h, _ = await started(monkeypatch, guild=guild_with_member_role(everyone_holds_it=False))
    assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is True
    assert h.rest.messages_to(p.MODS) == []


async def test_discord_members_role_check_is_cheap_on_a_large_server(monkeypatch):
    """Asked on every alert: the answer must not walk the member list each time. Measured
    against a small server in the same run (walking 3,000 members would be ~300x slower)."""
    import time

    async def cost(extra: int) -> float:
        guild = guild_with_member_role(everyone_holds_it=True)
        guild["members"] += [p.member(p.user(str(950000000000000000 + i), f"m{i}"),
                                      roles=(MEMBER_ROLE,)) for i in range(extra)]
        guild["member_count"] = len(guild["members"])
        h, _ = await started(monkeypatch, guild=guild)
        best = float("inf")
        for _ in range(3):
            started_at = time.perf_counter()
            for _ in range(200):  # every alert asks
                assert h.adapter.moderators_channel_is_private(p.GUILD_ID) is False
            best = min(best, time.perf_counter() - started_at)
        return best

    small, large = await cost(10), await cost(3000)
    assert large < 10 * small + 0.01

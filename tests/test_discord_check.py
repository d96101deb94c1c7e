"""``DiscordAdapter.check_online``: what ``haven check --online`` reports on Discord.

Run against the cache of a connected client and, as the CLI does, over REST only
(log in with the token, fetch each server, its channels and Haven's member; no
gateway connection).
"""

from __future__ import annotations

from typing import Any

from bot.adapters.discord.config import DiscordConfig
from bot.adapters.discord.invite import HAVEN_PERMISSIONS
from bot.core.config import RolesConfig
from tests import discord_payloads as p
from tests.discord_harness import (
    ALICE,
    MO,
    OWNER,
    discord_config,
    private_overwrites,
    standard_channels,
    started,
)

HAVEN_ROLE = "910000000000000008"


def checked_guild(*, haven_perms: int = HAVEN_PERMISSIONS.value, mentionable: bool = True,
                  channels: list[dict[str, Any]] | None = None,
                  roles: tuple[str, ...] = ("Moderators", "Peer Supporters", "Greeters")
                  ) -> dict[str, Any]:
    """The standard server with Haven as a member holding a role with ``haven_perms``."""
    ids = {"Moderators": p.MOD_ROLE, "Peer Supporters": p.PEER_ROLE, "Greeters": p.GREETER_ROLE}
    role_list = [p.role(p.EVERYONE_ROLE, "@everyone", permissions=p.MEMBER_PERMS, position=0),
                 p.role(HAVEN_ROLE, "Haven", permissions=haven_perms, position=5)]
    for i, name in enumerate(roles):
        perms = p.MEMBER_PERMS | (p.MANAGE_MESSAGES if name == "Moderators" else 0)
        role_list.append(p.role(ids[name], name, permissions=perms, position=3 - i,
                                mentionable=mentionable))
    bot = p.user(p.BOT_ID, "Haven", bot=True)
    return p.guild(roles=role_list, channels=channels or standard_channels(),
                   members=[p.member(OWNER), p.member(MO, roles=(p.MOD_ROLE,)), p.member(ALICE),
                            p.member(bot, roles=(HAVEN_ROLE,))])


async def test_discord_check_online_passes_a_well_set_up_server(monkeypatch):
    h, _ = await started(monkeypatch, guild=checked_guild())
    assert await h.adapter.check_online() == []


async def test_discord_check_online_names_every_problem(monkeypatch):
    channels = [c for c in standard_channels(mods_overwrites=[]) if c["name"] != "peer-support"]
    guild = checked_guild(haven_perms=HAVEN_PERMISSIONS.value & ~(1 << 13),  # no Manage Messages
                          mentionable=False, channels=channels, roles=("Moderators", "Greeters"))
    h, _ = await started(monkeypatch, guild=guild)
    problems = await h.adapter.check_online()
    text = "\n".join(problems)
    assert "lacks the server permission(s) manage_messages" in text
    assert "no channel 'peer-support' (config key channels.nudges)" in text
    assert "lacks manage_messages in #venting (content_warnings.channels)" in text
    assert "#moderators is visible to every member (@everyone can view it)" in text
    assert "no role 'Peer Supporters' (config key roles.peer_supporters)" in text
    assert "cannot ping the role Moderators" in text


async def test_discord_check_online_checks_the_members_role(monkeypatch):
    config = discord_config(roles=RolesConfig(moderators=("Moderators",), members=("Member",)))
    h, _ = await started(monkeypatch, config=config, guild=checked_guild())
    assert await h.adapter.check_online() == [
        "Safe Harbour: no role 'Member' (config key roles.members)"]


async def test_discord_check_online_over_rest_without_starting_the_bot(monkeypatch):
    h, core = await started(monkeypatch, start=False)
    guild = checked_guild(channels=standard_channels(mods_overwrites=private_overwrites()))
    h.rest.know_guild(guild)
    h.client.http.request = h.rest.request  # type: ignore[method-assign]
    assert await h.adapter.check_online() == []
    paths = [c.path for c in h.rest.calls]
    assert paths[:2] == ["/users/@me", "/users/@me/guilds"]
    assert f"/guilds/{p.GUILD_ID}/channels" in paths
    assert core.events == [] and core.ready_calls == 0  # nothing was started
    assert not h.rest.find("PUT", r"/applications/.*")  # no command sync


async def test_discord_check_online_reports_a_refused_token_and_a_missing_server(monkeypatch):
    config = discord_config(discord=DiscordConfig(guild_ids=("990000000000000001",)))
    h, _ = await started(monkeypatch, config=config, start=False)
    h.client.http.request = h.rest.request  # type: ignore[method-assign]
    h.rest.fail("GET", "/users/@me", 401, 0, "401: Unauthorized")
    [problem] = await h.adapter.check_online()
    assert "refused the bot token in HAVEN_DISCORD_TOKEN" in problem
    problems = await h.adapter.check_online()
    assert problems == ["Haven is not in the Discord server 990000000000000001 "
                        "(discord.guild_ids): invite it with the URL from haven invite-url"]


async def test_discord_check_online_without_a_token_says_which_variable(monkeypatch):
    h, _ = await started(monkeypatch, start=False)
    h.adapter._token = None
    monkeypatch.delenv("HAVEN_DISCORD_TOKEN", raising=False)
    assert await h.adapter.check_online() == [
        "set the bot token in the HAVEN_DISCORD_TOKEN environment variable"]


def test_discord_members_role_is_read_from_config(tmp_path):
    from tests.conftest import make_config

    config = make_config(tmp_path, "roles:\n  moderators: [Moderators]\n  members: [Member, '123']\n")
    assert config.roles.members == ("Member", "123")
    assert make_config(tmp_path).roles.members == ()


async def test_discord_check_online_wants_havens_role_above_the_members_roles(monkeypatch):
    guild = checked_guild()
    for role in guild["roles"]:
        if role["id"] == p.PEER_ROLE:
            role["position"] = 9  # above Haven's role (5)
    h, _ = await started(monkeypatch, guild=guild)
    assert await h.adapter.check_online() == [
        "Safe Harbour: Haven's highest role (Haven) is not above Peer Supporters "
        "(roles.peer_supporters): Haven cannot time out or kick members with that role; "
        "move Haven's role up in Server Settings > Roles"]

"""Slash commands and alert buttons through discord.py's CommandTree and view store.

INTERACTION_CREATE payloads go through ``parsers["INTERACTION_CREATE"]``; the
answers are captured at the webhook adapter (interaction callbacks and
follow-ups), so each command runs through the real discord.py object model.
"""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.adapters.discord.commands import MODERATOR_PERMISSIONS, build_commands
from bot.adapters.discord.config import DiscordConfig
from bot.adapters.discord.views import custom_id
from bot.core.events import Attachment, ButtonPressed, CommandInvoked, CommandResult
from tests import discord_payloads as p
from tests.discord_harness import ALICE, MO, discord_config, started
from tests.golden import COMMANDS

MOD_ROLES = (p.MOD_ROLE,)
MOD_PERMS = p.MEMBER_PERMS | p.MANAGE_MESSAGES
MODS_CHANNEL = p.channel_for_interaction(p.text_channel(p.MODS, "moderators"))
GENERAL_CHANNEL = p.channel_for_interaction(p.text_channel(p.GENERAL, "general"))


def callbacks(h):
    """Interaction callbacks recorded at the webhook adapter."""
    return h.rest.find("POST", r"/interactions/\d+/[^/]+/callback", via="webhook")


def followups(h):
    """Follow-up messages (POST /webhooks/<application id>/<token>)."""
    return h.rest.find("POST", rf"/webhooks/{p.APP_ID}/[^/]+", via="webhook")


async def run_slash(h, core, name, options=None, *, invoker=MO, roles=MOD_ROLES, perms=MOD_PERMS,
                    channel=MODS_CHANNEL, resolved=None):
    payload = p.slash_command(name, options, at=core.clock.now(), channel=channel, invoker=invoker,
                              roles=roles, permissions=perms, resolved=resolved)
    await h.feed("INTERACTION_CREATE", payload)
    return payload


# --------------------------------------------------------------------------- the command tree


def test_discord_every_core_command_is_a_slash_command():
    async def handler(*_):
        return None

    top = {c.name: c for c in build_commands(handler, COMMANDS)}
    single = {c.name for c in COMMANDS if " " not in c.name}
    assert single <= set(top)
    rules = top["rules"]
    assert isinstance(rules, discord.app_commands.Group)
    assert {c.name for c in rules.commands} == {"reload", "test"}
    assert rules.default_permissions == MODERATOR_PERMISSIONS
    for spec in COMMANDS:
        if " " in spec.name:
            continue
        cmd = top[spec.name]
        assert cmd.guild_only
        if spec.moderator_only:
            assert cmd.default_permissions == MODERATOR_PERMISSIONS, spec.name
        else:
            assert cmd.default_permissions is None, spec.name
        assert [prm.name for prm in cmd.parameters] == [prm.name for prm in spec.params]
        for prm, param in zip(cmd.parameters, spec.params, strict=True):
            assert prm.required == param.required, (spec.name, prm.name)


def test_discord_option_types_follow_the_spec():
    async def handler(*_):
        return None

    top = {c.name: c for c in build_commands(handler, COMMANDS)}
    kinds = {prm.name: prm.type for prm in top["timeout"].parameters}
    assert kinds == {"member": discord.AppCommandOptionType.user,
                     "minutes": discord.AppCommandOptionType.integer,
                     "reason": discord.AppCommandOptionType.string}
    [state] = top["duty"].parameters
    assert [c.value for c in state.choices] == ["on", "off", "list"]
    payload = top["claim"].to_dict(discord.app_commands.CommandTree(discord.Client(intents=discord.Intents.none())))
    assert payload["options"][0]["min_value"] == 0
    assert str(payload["default_member_permissions"]) == str(MODERATOR_PERMISSIONS.value)
    assert payload["contexts"] == [0]


# --------------------------------------------------------------------------- invocations


async def test_discord_moderator_command_reaches_the_core_and_answers_ephemerally(monkeypatch):
    h, core = await started(monkeypatch)
    await run_slash(h, core, "claim", [p.option("alert", 5, 4)])
    [ev] = core.of(CommandInvoked)
    assert ev.name == "claim" and ev.options == {"alert": "5"} and ev.args == ()
    assert ev.community_id == p.GUILD_ID
    assert ev.invoker.id == p.MOD_ID and "Moderators" in ev.invoker.roles
    assert ev.channel.id == p.MODS and ev.channel.name == "moderators"
    [cb] = callbacks(h)
    assert cb.json["type"] == 4
    assert cb.json["data"]["content"] == "ran claim [('alert', '5')]"
    assert cb.json["data"]["flags"] & 64  # ephemeral
    assert cb.json["data"]["allowed_mentions"] == {"parse": []}


async def test_discord_member_command_refused_by_the_core_is_still_passed_on(monkeypatch):
    h, core = await started(monkeypatch)
    core.answer = lambda ev: CommandResult("Only moderators can use alerts.", ok=False)
    # Discord hides the command from members (default permissions), but a server
    # admin may override that: the core's check is the real one.
    await run_slash(h, core, "alerts", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                    channel=GENERAL_CHANNEL)
    [ev] = core.of(CommandInvoked)
    assert ev.invoker.id == p.MEMBER_ID and "Moderators" not in ev.invoker.roles
    [cb] = callbacks(h)
    assert cb.json["data"]["content"] == "Only moderators can use alerts."
    assert cb.json["data"]["flags"] & 64


async def test_discord_public_result_is_not_ephemeral(monkeypatch):
    h, core = await started(monkeypatch)
    core.answer = lambda ev: CommandResult("Helplines: 988", ephemeral=False)
    await run_slash(h, core, "resources", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                    channel=GENERAL_CHANNEL)
    [cb] = callbacks(h)
    assert cb.json["data"]["content"] == "Helplines: 988"
    assert not cb.json["data"].get("flags", 0) & 64


async def test_discord_two_word_command_and_rest_text(monkeypatch):
    h, core = await started(monkeypatch)
    await run_slash(h, core, "rules", [p.subcommand("test", [p.option("text", "i want to d1e")])])
    [ev] = core.of(CommandInvoked)
    assert ev.name == "rules test" and ev.options == {"text": "i want to d1e"}


async def test_discord_member_option_is_passed_as_the_user_id(monkeypatch):
    h, core = await started(monkeypatch)
    await run_slash(h, core, "timeout",
                    [p.option("member", p.MEMBER_ID, 6), p.option("minutes", 30, 4),
                     p.option("reason", "hostility")],
                    resolved=p.resolved_user(ALICE))
    [ev] = core.of(CommandInvoked)
    assert ev.name == "timeout"
    assert ev.options == {"member": p.MEMBER_ID, "minutes": "30", "reason": "hostility"}


async def test_discord_optional_options_are_left_out(monkeypatch):
    h, core = await started(monkeypatch)
    await run_slash(h, core, "stats")
    await run_slash(h, core, "resolve", [p.option("alert", 7, 4), p.option("note", "called 988 with them")])
    await run_slash(h, core, "duty", [p.option("state", "on")])
    stats, resolve, duty = core.of(CommandInvoked)
    assert stats.options == {}
    assert resolve.options == {"alert": "7", "note": "called 988 with them"}
    assert duty.options == {"state": "on"}


async def test_discord_result_attachments_are_files(monkeypatch):
    h, core = await started(monkeypatch)
    chart = Attachment("stats.png", b"\x89PNG\r\n", "image/png")
    core.answer = lambda ev: CommandResult("Last 30 days", attachments=(chart,))
    await run_slash(h, core, "stats", [p.option("days", 30, 4)])
    [cb] = callbacks(h)
    assert cb.files == ["stats.png"]
    assert cb.json["data"]["content"] == "Last 30 days"


async def test_discord_long_results_continue_in_follow_ups(monkeypatch):
    h, core = await started(monkeypatch)
    text = "\n".join(f"case {i}: " + "y" * 80 for i in range(60))
    core.answer = lambda ev: CommandResult(text)
    await run_slash(h, core, "history", [p.option("member", p.MEMBER_ID, 6)],
                    resolved=p.resolved_user(ALICE))
    [cb] = callbacks(h)
    more = followups(h)
    assert len(more) >= 2
    parts = [cb.json["data"]["content"], *[f.content for f in more]]
    assert all(len(x) <= 2000 for x in parts)
    assert "\n".join(parts) == text
    assert all(f.json["flags"] & 64 for f in more)


async def test_discord_slow_core_defers_then_follows_up(monkeypatch):
    h, core = await started(monkeypatch)
    h.adapter.interactions.defer_after = 0  # do not wait for the core at all
    core.gate = asyncio.Event()
    payload = p.slash_command("unanswered", at=core.clock.now(), channel=MODS_CHANNEL, invoker=MO,
                              roles=MOD_ROLES, permissions=MOD_PERMS)
    h.parsers["INTERACTION_CREATE"](payload)
    for _ in range(20):
        await asyncio.sleep(0)
    [cb] = callbacks(h)
    assert cb.json == {"type": 5, "data": {"flags": 64}}  # "Haven is thinking..." (ephemeral)
    assert followups(h) == []
    core.gate.set()
    await h.settle()
    [fu] = followups(h)
    assert fu.content == "ran unanswered []"


async def test_discord_core_failure_is_answered_politely(monkeypatch):
    h, core = await started(monkeypatch)

    def boom(ev):
        raise RuntimeError("database is locked")

    core.answer = boom
    await run_slash(h, core, "alerts")
    [cb] = callbacks(h)
    assert "something went wrong" in cb.json["data"]["content"]
    assert "database" not in cb.json["data"]["content"]
    assert cb.json["data"]["flags"] & 64


async def test_discord_commands_outside_a_server_are_refused(monkeypatch):
    config = discord_config(discord=DiscordConfig(guild_ids=("999",)))
    h, core = await started(monkeypatch, config=config)
    await run_slash(h, core, "help", invoker=ALICE, roles=())
    assert core.of(CommandInvoked) == []
    [cb] = callbacks(h)
    assert "inside its server" in cb.json["data"]["content"]


# --------------------------------------------------------------------------- buttons


def alert_message(h, core, alert_id: int) -> dict:
    """The alert message as Discord would send it back in a button interaction."""
    view_ids = [custom_id("claim", alert_id), custom_id("resolve", alert_id)]
    components = [{"type": 1, "components": [
        {"type": 2, "style": 1, "label": "Claim", "custom_id": view_ids[0]},
        {"type": 2, "style": 3, "label": "Resolve", "custom_id": view_ids[1]},
    ]}]
    return p.message(p.MODS, h.bot_user, f"Crisis alert #{alert_id}", at=core.clock.now() - 60,
                     components=components)


@pytest.mark.parametrize("action", ["claim", "resolve"])
async def test_discord_alert_buttons_become_button_pressed(monkeypatch, action):
    h, core = await started(monkeypatch)
    msg = alert_message(h, core, 1234567)
    await h.feed("INTERACTION_CREATE", p.button_press(
        custom_id(action, 1234567), at=core.clock.now(), channel=MODS_CHANNEL, invoker=MO, msg=msg,
        roles=MOD_ROLES, permissions=MOD_PERMS))
    [ev] = core.of(ButtonPressed)
    assert ev.action == action and ev.alert_id == 1234567
    assert ev.member.id == p.MOD_ID and "Moderators" in ev.member.roles
    assert ev.channel.id == p.MODS and ev.community_id == p.GUILD_ID
    [cb] = callbacks(h)
    assert cb.json["type"] == 4
    assert cb.json["data"]["content"] == f"{action} alert 1234567"
    assert cb.json["data"]["flags"] & 64


async def test_discord_alert_buttons_sent_before_a_restart_still_work(monkeypatch):
    # An alert sent by one adapter...
    h1, _core1 = await started(monkeypatch)
    from bot.core.events import Outgoing

    await h1.adapter.send(p.GUILD_ID, "moderators", Outgoing("alert", alert_id=77))
    [sent] = h1.rest.messages_to(p.MODS)
    sent_msg = h1.rest.sent[list(h1.rest.sent)[-1]]
    # ...is pressed after a restart, on a fresh adapter that never sent it.
    h2, core2 = await started(monkeypatch)
    await h2.feed("INTERACTION_CREATE", p.button_press(
        sent.custom_ids()[0], at=core2.clock.now(), channel=MODS_CHANNEL, invoker=MO, msg=sent_msg,
        roles=MOD_ROLES, permissions=MOD_PERMS))
    [ev] = core2.of(ButtonPressed)
    assert (ev.action, ev.alert_id) == ("claim", 77)


async def test_discord_unknown_buttons_are_ignored(monkeypatch):
    h, core = await started(monkeypatch)
    msg = p.message(p.MODS, h.bot_user, "x", at=core.clock.now(), components=[
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "?", "custom_id": "other:thing"}]}])
    await h.feed("INTERACTION_CREATE", p.button_press("other:thing", at=core.clock.now(),
                                                      channel=MODS_CHANNEL, invoker=MO, msg=msg))
    assert core.of(ButtonPressed) == []


# --------------------------------------------------------------------------- registration


async def test_discord_commands_are_synced_once_and_again_only_when_changed(monkeypatch):
    h, core = await started(monkeypatch)
    await h.adapter.sync_commands()
    [put] = h.rest.find("PUT", rf"/applications/{p.APP_ID}/commands")
    names = {c["name"] for c in put.json}
    assert {"help", "alerts", "claim", "resolve", "rules", "stats", "duty"} <= names
    claim = next(c for c in put.json if c["name"] == "claim")
    assert str(claim["default_member_permissions"]) == str(MODERATOR_PERMISSIONS.value)
    help_ = next(c for c in put.json if c["name"] == "help")
    assert help_["default_member_permissions"] is None
    assert core.kv.data[f"discord:commands:{p.APP_ID}:global"]
    await h.adapter.sync_commands()
    assert len(h.rest.find("PUT", rf"/applications/{p.APP_ID}/commands")) == 1
    core.kv.data[f"discord:commands:{p.APP_ID}:global"] = "stale"
    await h.adapter.sync_commands()
    assert len(h.rest.find("PUT", rf"/applications/{p.APP_ID}/commands")) == 2


async def test_discord_commands_sync_per_configured_guild(monkeypatch):
    config = discord_config(discord=DiscordConfig(guild_ids=(p.GUILD_ID,)))
    h, core = await started(monkeypatch, config=config)
    await h.adapter.sync_commands()
    assert h.rest.find("PUT", rf"/applications/{p.APP_ID}/guilds/{p.GUILD_ID}/commands")
    assert not h.rest.find("PUT", rf"/applications/{p.APP_ID}/commands")
    # A command invoked in that guild resolves through the guild's copy.
    await run_slash(h, core, "help", invoker=ALICE, roles=())
    assert core.of(CommandInvoked)[-1].name == "help"


async def test_discord_commands_sync_without_the_scope_is_logged_not_fatal(monkeypatch, caplog):
    h, core = await started(monkeypatch)
    h.rest.fail("PUT", rf"/applications/{p.APP_ID}/commands", 403, 50001, "Missing Access")
    await h.adapter.sync_commands()
    assert "applications.commands" in caplog.text
    assert f"discord:commands:{p.APP_ID}:global" not in core.kv.data


async def test_discord_answers_come_from_the_core_templates(monkeypatch):
    h, core = await started(monkeypatch)
    # the adapter renders from the services the core gave it (the admin's `templates:`)
    monkeypatch.setitem(core.services.templates._templates, "command_crashed", "Oje, ein Fehler.")

    def boom(ev):
        raise RuntimeError("database is locked")

    core.answer = boom
    await run_slash(h, core, "alerts")
    [cb] = callbacks(h)
    assert cb.json["data"]["content"] == "Oje, ein Fehler."

"""End to end on Discord: the real core (rules, features, store, virtual time)
driven through the Discord adapter and discord.py's own object model.

Gateway payloads go in through ``ConnectionState`` parsers; what Haven does comes
out as recorded REST calls (and interaction / webhook calls), so these tests
show each feature and command working on Discord as a server would see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import app
from bot.adapters.discord.views import custom_id
from bot.core.clock import VirtualClock
from bot.core.runtime import Haven
from bot.storage.store import Store
from tests import discord_payloads as p
from tests.conftest import make_config
from tests.discord_harness import ALICE, MO, NEWBIE, ROLES, DiscordHarness, private_overwrites

# The channel names of tests/conftest.py's BASE_CONFIG, as a Discord server.
GENERAL, SUPPORT, VENT, MOD_ALERTS = "960000000000000001", "960000000000000002", "960000000000000003", "960000000000000004"
WELCOME, HOUSE_RULES, TEAM, HEAVY = "960000000000000005", "960000000000000006", "960000000000000007", "960000000000000008"
HOUR = 3600.0

MOD_PERMS = p.MEMBER_PERMS | p.MANAGE_MESSAGES


def server(*, last_support: str | None = None) -> dict[str, Any]:
    """The test community as a Discord guild."""
    channels = [
        p.text_channel(GENERAL, "general", position=0),
        p.text_channel(SUPPORT, "support", position=1, last_message_id=last_support),
        p.text_channel(VENT, "vent", position=2),
        p.text_channel(MOD_ALERTS, "mod-alerts", position=3, overwrites=private_overwrites()),
        p.text_channel(WELCOME, "welcome", position=4),
        p.text_channel(HOUSE_RULES, "house-rules", position=5),
        p.text_channel(TEAM, "team", position=6),
        p.text_channel(HEAVY, "heavy-topics", position=7),
    ]
    return p.guild(roles=ROLES, channels=channels,
                   members=[p.member(p.user(p.OWNER_ID, "owner")), p.member(MO, roles=(p.MOD_ROLE,)),
                            p.member(ALICE)])


class DiscordE2E:
    """A real Haven on virtual time, on a temp SQLite store, behind the Discord adapter."""

    def __init__(self, tmp_path: Path, monkeypatch: Any, extra: str = "") -> None:
        self.config = make_config(tmp_path, "platform: discord\n" + extra)
        self.clock = VirtualClock()
        self.monkeypatch = monkeypatch
        self.h: DiscordHarness
        self.core: Haven

    async def start(self, guild: dict[str, Any] | None = None,
                    rest: Any = None) -> DiscordE2E:
        """(Re)start: a new adapter and core on the same database (a restart)."""
        self.h = DiscordHarness(self.config, None, now=self.clock.now, monkeypatch=self.monkeypatch)
        if rest is not None:  # keep Discord's side (history, webhooks) across a restart
            self.h.rest = rest
        store = await Store.open(self.config.database)
        self.core = await app.create(self.config, self.h.adapter, self.clock, store)
        self.h.core = self.core
        self.h.adapter.attach(self.core)
        await self.core.start(run_scheduler=False)
        await self.h.start(guild or server())
        return self

    async def stop(self) -> None:
        await self.core.stop()

    @property
    def rest(self):
        return self.h.rest

    def now(self) -> float:
        return self.clock.now()

    async def post(self, channel_id: str, author: dict[str, Any], text: str, *,
                   roles: tuple[str, ...] = (), **kw: Any) -> dict[str, Any]:
        msg = p.message(channel_id, author, text, at=self.now(), roles=roles, **kw)
        await self.h.feed("MESSAGE_CREATE", msg)
        return msg

    async def slash(self, name: str, options: list | None = None, *, invoker: dict[str, Any] = MO,
                    roles: tuple[str, ...] = (p.MOD_ROLE,), perms: int = MOD_PERMS,
                    channel_id: str = MOD_ALERTS, resolved: dict | None = None) -> dict[str, Any]:
        """Run a slash command; returns the interaction callback's ``data``."""
        before = len(self.callbacks())
        ch = p.channel_for_interaction(p.text_channel(channel_id, "x"))
        await self.h.feed("INTERACTION_CREATE", p.slash_command(
            name, options, at=self.now(), channel=ch, invoker=invoker, roles=roles,
            permissions=perms, resolved=resolved))
        calls = self.callbacks()
        assert len(calls) == before + 1, "the interaction was not answered"
        return calls[-1].json["data"]

    def callbacks(self):
        return self.rest.find("POST", r"/interactions/\d+/[^/]+/callback", via="webhook")

    async def advance(self, seconds: float) -> None:
        await self.core.advance(seconds)
        await self.h.settle()


@pytest.fixture
async def e2e(tmp_path: Path, monkeypatch: Any) -> AsyncIterator[DiscordE2E]:
    env = await DiscordE2E(tmp_path, monkeypatch).start()
    yield env
    await env.stop()


def dm_texts(env: DiscordE2E, user: dict[str, Any]) -> list[str]:
    return [c.content for c in env.rest.dms_to(user["id"])]


# --------------------------------------------------------------------------- crisis


async def test_discord_crisis_post_alerts_moderators_and_signposts_the_member(e2e):
    msg = await e2e.post(VENT, ALICE, "i can't go on, i want to kill myself")
    [alert] = e2e.rest.messages_to(MOD_ALERTS)
    body = alert.json
    # The moderator role is pinged, and nobody else.
    assert f"<@&{p.MOD_ROLE}>" in body["content"]
    assert body["allowed_mentions"]["roles"] == [int(p.MOD_ROLE)]
    assert body["allowed_mentions"]["parse"] == []
    assert set(body["allowed_mentions"]["users"]) <= {int(p.MOD_ID)}
    # Who, where, a link, the rule; Claim / Resolve buttons for this alert.
    assert f"<@{p.MEMBER_ID}>" in body["content"]
    assert f"https://discord.com/channels/{p.GUILD_ID}/{VENT}/{msg['id']}" in body["content"]
    assert "t-crisis" in body["content"]
    assert alert.custom_ids() == [custom_id("claim", 1), custom_id("resolve", 1)]
    # The member is signposted privately, never punished.
    [dm] = dm_texts(e2e, ALICE)
    assert "Samaritans" in dm and "116 123" in dm
    assert not e2e.rest.find("DELETE", r"/channels/\d+/messages/\d+")
    assert not e2e.rest.find("PATCH", r"/guilds/\d+/members/\d+")
    # Crisis text is never quoted in a public channel.
    for call in e2e.rest.find("POST", r"/channels/\d+/messages"):
        if "kill myself" in call.content:
            assert call.path == f"/channels/{MOD_ALERTS}/messages"


async def test_discord_crisis_signposting_falls_back_to_a_reply_when_dms_are_closed(e2e):
    # Only the DM channel (not one of the server's 960... channels) refuses.
    e2e.rest.fail("POST", r"/channels/(?!960)\d+/messages", 403, 50007,
                  "Cannot send messages to this user")
    msg = await e2e.post(VENT, ALICE, "i want to end my life tonight")
    assert e2e.rest.messages_to(MOD_ALERTS)  # moderators still alerted
    assert e2e.rest.dms_to(p.MEMBER_ID)  # the private message was tried...
    replies = e2e.rest.messages_to(VENT)  # ...and the helplines came as a reply instead
    assert len(replies) == 1
    reply = replies[0].json
    assert reply["message_reference"]["message_id"] == int(msg["id"])
    assert "Samaritans" in reply["content"] and "end my life" not in reply["content"]
    assert reply["content"].startswith(f"<@{p.MEMBER_ID}>")
    assert reply["allowed_mentions"] == {"parse": [], "users": [int(p.MEMBER_ID)], "roles": [],
                                         "replied_user": False}


async def test_discord_claim_button_claims_the_alert_and_updates_it(e2e):
    await e2e.post(VENT, ALICE, "i want to end my life")
    [alert_call] = e2e.rest.messages_to(MOD_ALERTS)
    alert_msg = next(m for m in e2e.rest.sent.values()
                     if m["channel_id"] == MOD_ALERTS and m["components"])
    ch = p.channel_for_interaction(p.text_channel(MOD_ALERTS, "mod-alerts"))
    await e2e.h.feed("INTERACTION_CREATE", p.button_press(
        alert_call.custom_ids()[0], at=e2e.now(), channel=ch, invoker=MO, msg=alert_msg,
        roles=(p.MOD_ROLE,), permissions=MOD_PERMS))
    [cb] = e2e.callbacks()
    assert cb.json["data"]["flags"] & 64
    stored = await e2e.core.store.alerts.get_alert(1)
    assert stored.state == "claimed" and stored.claimed_by == p.MOD_ID
    # The alert message itself now says who has it (edited in place).
    edits = e2e.rest.find("PATCH", rf"/channels/{MOD_ALERTS}/messages/{alert_msg['id']}")
    assert edits and f"Claimed by <@{p.MOD_ID}>" in edits[-1].content
    assert edits[-1].custom_ids() == [custom_id("claim", 1), custom_id("resolve", 1)]
    assert edits[-1].json["allowed_mentions"] == {"parse": [], "users": [], "roles": []}


async def test_discord_claim_button_from_a_member_is_refused(e2e):
    await e2e.post(VENT, ALICE, "i want to end my life")
    alert_msg = next(m for m in e2e.rest.sent.values()
                     if m["channel_id"] == MOD_ALERTS and m["components"])
    ch = p.channel_for_interaction(p.text_channel(MOD_ALERTS, "mod-alerts"))
    await e2e.h.feed("INTERACTION_CREATE", p.button_press(
        custom_id("claim", 1), at=e2e.now(), channel=ch, invoker=NEWBIE, msg=alert_msg))
    [cb] = e2e.callbacks()
    assert "Only moderators" in cb.json["data"]["content"] and cb.json["data"]["flags"] & 64
    assert (await e2e.core.store.alerts.get_alert(1)).state == "open"


async def test_discord_edit_into_crisis_is_evaluated_again(e2e):
    msg = await e2e.post(GENERAL, ALICE, "having an ok day")
    assert e2e.rest.messages_to(MOD_ALERTS) == []
    await e2e.h.feed("MESSAGE_UPDATE", {**msg, "content": "actually i want to kill myself",
                                        "edited_timestamp": p.iso(e2e.now() + 60)})
    [alert] = e2e.rest.messages_to(MOD_ALERTS)
    assert "t-crisis" in alert.content


# --------------------------------------------------------------------------- method, hostility


async def test_discord_method_post_is_deleted_and_the_author_gets_their_text(e2e):
    text = "how many pills would it take, asking for real"
    msg = await e2e.post(GENERAL, ALICE, text)
    [delete] = e2e.rest.find("DELETE", f"/channels/{GENERAL}/messages/{msg['id']}")
    assert "t-method" in (delete.reason or "")
    dms = dm_texts(e2e, ALICE)
    assert any(text in d for d in dms), dms
    [alert] = e2e.rest.messages_to(MOD_ALERTS)
    assert alert.custom_ids()  # moderators alerted with buttons
    # The deletion Discord then reports is Haven's own, not the author's.
    await e2e.h.feed("MESSAGE_DELETE", p.message_delete(GENERAL, msg["id"]))


async def test_discord_missing_manage_messages_is_reported_to_moderators_once(e2e):
    e2e.rest.fail("DELETE", r"/channels/\d+/messages/\d+", 403, 50013, "Missing Permissions", times=2)
    await e2e.post(GENERAL, ALICE, "kys loser")
    await e2e.post(GENERAL, ALICE, "kys you idiot")
    reports = [c for c in e2e.rest.messages_to(MOD_ALERTS) if "permission" in c.content]
    assert len(reports) == 1
    assert "manage_messages" in reports[0].content
    # Nothing was hidden, so no "here is your text" message; the warnings still went out.
    assert all("kys" not in d for d in dm_texts(e2e, ALICE))


# --------------------------------------------------------------------------- content warnings


async def test_discord_cw_channel_post_without_label_is_hidden_and_returned(e2e):
    text = "today was awful and I keep thinking about it"
    msg = await e2e.post(HEAVY, ALICE, text)
    assert e2e.rest.find("DELETE", f"/channels/{HEAVY}/messages/{msg['id']}")
    assert any(text in d for d in dm_texts(e2e, ALICE))
    notes = e2e.rest.messages_to(HEAVY)
    assert notes and "content warning" in notes[0].content
    assert notes[0].json["allowed_mentions"]["users"] == [int(p.MEMBER_ID)]


async def test_discord_cw_channel_accepts_labels_and_spoilers(e2e):
    await e2e.post(HEAVY, ALICE, "CW: grief\nmy dad died last year")
    await e2e.post(HEAVY, ALICE, "||my dad died last year||")
    assert not e2e.rest.find("DELETE", r"/channels/\d+/messages/\d+")


async def test_discord_sensitive_post_is_redirected_and_reposted_through_a_webhook(tmp_path, monkeypatch):
    env = await DiscordE2E(tmp_path, monkeypatch, extra=(
        "content_warnings: {channels: [heavy-topics], redirect_to: heavy-topics, repost: true}\n"
    )).start()
    try:
        text = "i cut myself again last night"
        msg = await env.post(GENERAL, ALICE, text)
        assert env.rest.find("DELETE", f"/channels/{GENERAL}/messages/{msg['id']}")
        assert any(text in d for d in dm_texts(env, ALICE))
        [repost] = env.rest.find("POST", r"/webhooks/\d+/[^/]+", via="webhook")
        assert repost.json["username"] == "Alice"
        assert "||" in repost.json["content"] and text in repost.json["content"]
        before = repost.json["content"].partition("||")[0]
        assert text not in before  # the text itself only inside the spoiler
        assert repost.json["allowed_mentions"]["parse"] == []
        assert env.rest.find("POST", f"/channels/{HEAVY}/webhooks")
        # Haven's own repost coming back from the gateway is not judged again.
        hook_id = env.rest.webhooks[HEAVY][0]["id"]
        echo = p.message(HEAVY, p.user(hook_id, "Alice", bot=True), repost.json["content"],
                         at=env.now(), webhook_id=hook_id, application_id=p.APP_ID)
        deletes = len(env.rest.find("DELETE", r"/channels/\d+/messages/\d+"))
        await env.h.feed("MESSAGE_CREATE", echo)
        assert len(env.rest.find("DELETE", r"/channels/\d+/messages/\d+")) == deletes
    finally:
        await env.stop()


# --------------------------------------------------------------------------- welcome


async def test_discord_member_join_is_welcomed_privately(e2e):
    await e2e.h.feed("GUILD_MEMBER_ADD", p.member_add(NEWBIE, at=e2e.now()))
    [dm] = dm_texts(e2e, NEWBIE)
    assert dm.strip()
    assert e2e.rest.messages_to(WELCOME) == []


async def test_discord_closed_dms_fall_back_to_the_welcome_channel(e2e):
    e2e.rest.fail("POST", r"/channels/\d+/messages", 403, 50007, "Cannot send messages to this user")
    await e2e.h.feed("GUILD_MEMBER_ADD", p.member_add(NEWBIE, at=e2e.now()))
    [public] = e2e.rest.messages_to(WELCOME)
    assert public.content.startswith(f"<@{p.NEWCOMER_ID}>")
    assert public.json["allowed_mentions"]["users"] == [int(p.NEWCOMER_ID)]
    assert public.json["allowed_mentions"]["roles"] == []


async def test_discord_a_newcomers_first_post_gets_a_greeting_reply(e2e):
    joined = e2e.now() - 86400  # joined yesterday (the member payload carries joined_at)
    await e2e.post(GENERAL, MO, "morning all", roles=(p.MOD_ROLE,), joined_at=joined)
    msg = await e2e.post(GENERAL, NEWBIE, "hi all, first time posting", joined_at=joined)
    replies = [c for c in e2e.rest.messages_to(GENERAL) if c.json.get("message_reference")]
    assert len(replies) == 1  # the newcomer, not the moderator
    assert replies[0].json["message_reference"]["message_id"] == int(msg["id"])
    assert f"<@{p.NEWCOMER_ID}>" in replies[0].content
    assert replies[0].json["allowed_mentions"]["users"] == [int(p.NEWCOMER_ID)]
    await e2e.post(GENERAL, NEWBIE, "second post", joined_at=joined)
    assert len([c for c in e2e.rest.messages_to(GENERAL) if c.json.get("message_reference")]) == 1
    # A long-standing member's first post seen by Haven is not greeted as new.
    await e2e.post(GENERAL, ALICE, "hello again", joined_at=e2e.now() - 400 * 86400)
    assert len([c for c in e2e.rest.messages_to(GENERAL) if c.json.get("message_reference")]) == 1


# --------------------------------------------------------------------------- unanswered posts


async def test_discord_unanswered_support_post_nudges_peer_supporters(e2e):
    msg = await e2e.post(SUPPORT, ALICE, "does anyone else feel like this at night?")
    await e2e.advance(2 * HOUR + 60)
    nudges = e2e.rest.messages_to(TEAM)
    assert nudges, "no nudge after remind_after"
    nudge = nudges[-1]
    assert f"https://discord.com/channels/{p.GUILD_ID}/{SUPPORT}/{msg['id']}" in nudge.content
    assert nudge.json["allowed_mentions"]["roles"] == [int(p.PEER_ROLE)]
    assert f"<@&{p.PEER_ROLE}>" in nudge.content


async def test_discord_a_reply_in_a_thread_answers_the_post(e2e):
    msg = await e2e.post(SUPPORT, ALICE, "rough week, could use a chat")
    await e2e.h.feed("THREAD_CREATE", p.thread(msg["id"], "rough week", SUPPORT, owner_id=p.MOD_ID,
                                               at=e2e.now(), newly_created=True))
    await e2e.post(msg["id"], MO, "I'm around, want to talk here?", roles=(p.MOD_ROLE,))
    await e2e.advance(3 * HOUR)
    assert e2e.rest.messages_to(TEAM) == []


async def test_discord_posts_made_while_offline_are_caught_up(tmp_path, monkeypatch):
    env = await DiscordE2E(tmp_path, monkeypatch).start()
    seen = await env.core.store.kv.get(f"discord:last_seen:{SUPPORT}")
    assert seen is not None
    rest = env.rest
    await env.stop()
    # Haven is down for three hours; a support post is made an hour into it.
    env.clock.set(env.now() + HOUR)
    missed = p.message(SUPPORT, ALICE, "is anyone here? feeling low", at=env.now())
    rest.history[SUPPORT] = [missed]
    env.clock.set(env.now() + 2 * HOUR)
    await env.start(server(last_support=missed["id"]), rest=rest)
    try:
        # It was handled with its original time: the 2 h reminder is already due.
        await env.advance(1)
        nudges = env.rest.messages_to(TEAM)
        assert nudges and missed["id"] in nudges[-1].content
        assert await env.core.store.kv.get(f"discord:last_seen:{SUPPORT}") == missed["id"]
        assert int(missed["id"]) > int(seen)
    finally:
        await env.stop()


# --------------------------------------------------------------------------- commands


async def test_discord_moderator_slash_command_works(e2e):
    await e2e.post(VENT, ALICE, "i want to end my life")
    data = await e2e.slash("alerts")
    assert data["flags"] & 64
    assert "#1" in data["content"] or "1" in data["content"]
    data = await e2e.slash("claim", [p.option("alert", 1, 4)])
    assert (await e2e.core.store.alerts.get_alert(1)).state == "claimed"
    data = await e2e.slash("resolve", [p.option("alert", 1, 4), p.option("note", "talked it through")])
    assert (await e2e.core.store.alerts.get_alert(1)).state == "resolved"
    # The alert message now shows it resolved, and its buttons are gone.
    assert len(e2e.rest.messages_to(MOD_ALERTS)) == 1
    alert_id = next(i for i, m in e2e.rest.sent.items() if m["channel_id"] == MOD_ALERTS)
    last_edit = e2e.rest.find("PATCH", rf"/channels/{MOD_ALERTS}/messages/{alert_id}")[-1]
    assert "Resolved by" in last_edit.content and last_edit.json["components"] == []


async def test_discord_member_is_refused_a_moderator_command(e2e):
    data = await e2e.slash("alerts", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                           channel_id=GENERAL)
    assert data["flags"] & 64
    assert "moderator" in data["content"].lower()


async def test_discord_member_commands_work_for_members(e2e):
    data = await e2e.slash("resources", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                           channel_id=GENERAL)
    assert "Samaritans" in data["content"]
    data = await e2e.slash("help", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS, channel_id=GENERAL)
    assert "resources" in data["content"] and "rules reload" not in data["content"]


async def test_discord_rules_test_is_a_dry_run(e2e):
    data = await e2e.slash("rules", [p.subcommand("test", [p.option("text", "i want to kill myself")])])
    assert "t-crisis" in data["content"]
    assert e2e.rest.messages_to(MOD_ALERTS) == []
    assert not e2e.rest.find("DELETE", r"/channels/\d+/messages/\d+")


async def test_discord_timeout_command_times_the_member_out(e2e):
    await e2e.slash("timeout", [p.option("member", p.MEMBER_ID, 6), p.option("minutes", 30, 4),
                                p.option("reason", "t-hostility")],
                    resolved=p.resolved_user(ALICE))
    [patch] = e2e.rest.find("PATCH", f"/guilds/{p.GUILD_ID}/members/{p.MEMBER_ID}")
    assert patch.json["communication_disabled_until"]


async def test_discord_stats_chart_is_attached(e2e):
    data = await e2e.slash("stats", [p.option("days", 30, 4)])
    [cb] = e2e.callbacks()
    assert data["content"]
    assert cb.files == [] or cb.files[0].endswith(".png")


async def test_discord_mydata_is_sent_privately(e2e):
    await e2e.post(GENERAL, ALICE, "hello")
    data = await e2e.slash("mydata", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                           channel_id=GENERAL)
    assert data["flags"] & 64
    dms = dm_texts(e2e, ALICE)
    assert any("stores about you" in d for d in dms)
    assert all(len(d) <= 2000 for d in dms)


# --------------------------------------------------------------------------- moderator toolkit


async def test_discord_moderator_toolkit_commands(e2e):
    member_opt = [p.option("member", p.MEMBER_ID, 6)]
    resolved = p.resolved_user(ALICE)
    data = await e2e.slash("warn", [*member_opt, p.option("reason", "t-hostility name-calling")],
                           resolved=resolved)
    assert "case #1" in data["content"] and data["flags"] & 64
    assert any("t-hostility" in d and "be kind" in d for d in dm_texts(e2e, ALICE))
    data = await e2e.slash("note", [*member_opt, p.option("text", "rough week, be gentle")],
                           resolved=resolved)
    assert "case #2" in data["content"]
    data = await e2e.slash("history", member_opt, resolved=resolved)
    assert "2 cases about" in data["content"] and "rough week" in data["content"]
    data = await e2e.slash("case", [p.option("id", 1, 4)])
    assert "warn" in data["content"] and "t-hostility" in data["content"]
    data = await e2e.slash("duty", [p.option("state", "on")])
    assert "on duty" in data["content"]
    data = await e2e.slash("duty", [p.option("state", "list")])
    assert f"<@{p.MOD_ID}>" in data["content"]
    data = await e2e.slash("quiet", [p.option("hours", "22:00-07:00")])
    assert "22:00-07:00" in data["content"]
    data = await e2e.slash("handover", [p.option("text", "Alice may need a check-in")])
    assert "logbook" in data["content"]
    data = await e2e.slash("handover")
    assert "Alice may need a check-in" in data["content"] and "Since" in data["content"]


async def test_discord_on_duty_moderator_is_mentioned_on_alerts(e2e):
    await e2e.slash("duty", [p.option("state", "on")])
    await e2e.post(VENT, ALICE, "i want to kill myself")
    [alert] = e2e.rest.messages_to(MOD_ALERTS)
    assert f"<@{p.MOD_ID}>" in alert.json["content"]
    assert alert.json["allowed_mentions"]["users"] == [int(p.MOD_ID)]
    assert alert.json["allowed_mentions"]["roles"] == []


async def test_discord_stats_chart_png_is_uploaded(e2e):
    await e2e.post(SUPPORT, ALICE, "anyone around?")
    await e2e.slash("stats", [p.option("days", 7, 4)])
    [cb] = e2e.callbacks()
    assert "Community health" in cb.json["data"]["content"]
    assert cb.files and cb.files[0].endswith(".png")


async def test_discord_forgetme_and_member_refusals(e2e):
    await e2e.post(VENT, ALICE, "i want to kill myself")
    data = await e2e.slash("warn", [p.option("member", p.MOD_ID, 6), p.option("reason", "x")],
                           invoker=ALICE, roles=(), perms=p.MEMBER_PERMS, channel_id=GENERAL)
    assert "moderators only" in data["content"] and data["flags"] & 64
    data = await e2e.slash("forgetme", invoker=ALICE, roles=(), perms=p.MEMBER_PERMS,
                           channel_id=GENERAL)
    assert "This would delete" in data["content"] and "choose **confirm**" in data["content"]
    assert (await e2e.core.store.alerts.get_alert(1)).member_id == p.MEMBER_ID
    data = await e2e.slash("forgetme", [p.option("confirm", "confirm")], invoker=ALICE, roles=(),
                           perms=p.MEMBER_PERMS, channel_id=GENERAL)
    assert "deleted" in data["content"] and "still looking after" in data["content"]
    assert (await e2e.core.store.alerts.get_alert(1)).member_id == p.MEMBER_ID  # until resolved
    await e2e.slash("resolve", [p.option("alert", 1, 4)])
    alert = await e2e.core.store.alerts.get_alert(1)
    assert alert.member_id != p.MEMBER_ID and alert.excerpt is None


async def test_discord_public_moderators_channel_withholds_crisis_text(tmp_path, monkeypatch):
    env = DiscordE2E(tmp_path, monkeypatch)
    guild = server()
    for ch in guild["channels"]:
        if ch["id"] == MOD_ALERTS:
            ch["permission_overwrites"] = []
    await env.start(guild)
    try:
        await env.post(VENT, ALICE, "i want to kill myself")
        alerts = [c for c in env.rest.messages_to(MOD_ALERTS) if "alert #1" in c.json["content"]]
        assert alerts and "kill myself" not in alerts[0].json["content"]
        assert "withheld" in alerts[0].json["content"]
    finally:
        await env.stop()


# --------------------------------------------------------------------------- hardening (issue 12)


async def test_discord_redelivered_timeout_interaction_gives_one_timeout_and_one_case(e2e):
    payload = p.slash_command(
        "timeout", [p.option("member", p.MEMBER_ID, 6), p.option("minutes", 30, 4),
                    p.option("reason", "t-hostility")],
        at=e2e.now(), channel=p.channel_for_interaction(p.text_channel(MOD_ALERTS, "mod-alerts")),
        invoker=MO, roles=(p.MOD_ROLE,), permissions=MOD_PERMS, resolved=p.resolved_user(ALICE))
    for _ in range(8):  # Discord delivered the same interaction eight times
        await e2e.h.feed("INTERACTION_CREATE", payload)
    assert len(e2e.rest.find("PATCH", f"/guilds/{p.GUILD_ID}/members/{p.MEMBER_ID}")) == 1
    assert len(e2e.callbacks()) == 1
    cases = await e2e.core.store.cases.cases_for(p.GUILD_ID, p.MEMBER_ID)
    assert len(cases) == 1


async def test_discord_crisis_in_a_proxied_post_is_alerted(e2e):
    hook = "930000000000000011"
    await e2e.post(VENT, p.user(hook, "Ash"), "i can't go on, i want to kill myself", webhook_id=hook)
    [alert] = e2e.rest.messages_to(MOD_ALERTS)
    assert "Ash" in alert.json["content"]
    # No private message is possible to a webhook author: the helplines come as a reply.
    [reply] = e2e.rest.messages_to(VENT)
    assert "Samaritans" in reply.json["content"]


async def test_discord_crisis_in_a_forwarded_message_is_alerted(e2e):
    msg = p.message(GENERAL, ALICE, "", at=e2e.now())
    msg["message_reference"] = {"type": 1, "message_id": "1", "channel_id": SUPPORT,
                                "guild_id": p.GUILD_ID}
    msg["message_snapshots"] = [{"message": {
        "type": 0, "content": "i want to kill myself", "embeds": [], "attachments": [],
        "timestamp": p.iso(e2e.now() - 60), "edited_timestamp": None, "flags": 0,
        "mentions": [], "mention_roles": [], "components": []}}]
    await e2e.h.feed("MESSAGE_CREATE", msg)
    assert e2e.rest.messages_to(MOD_ALERTS)


async def test_discord_core_timers_start_when_the_adapter_is_ready(e2e):
    assert e2e.core._ready.is_set()


async def test_discord_crisis_written_to_haven_in_private_is_alerted(e2e):
    dm_channel = "970000000000000042"
    await e2e.h.feed("MESSAGE_CREATE", p.message(
        dm_channel, ALICE, "I'm going to kill myself tonight, please help", at=e2e.now(),
        guild_id=None))
    assert e2e.rest.messages_to(MOD_ALERTS)  # moderators hear
    # The member gets helplines at once (a reply in the DM or a new private message).
    texts = [c.content for c in e2e.rest.messages_to(dm_channel)] + dm_texts(e2e, ALICE)
    assert any("Samaritans" in t for t in texts)
    assert not e2e.rest.find("DELETE", r"/channels/\d+/messages/\d+")  # nothing punitive


# --------------------------------------------------------------------------- care for moderators


async def test_discord_care_exposure_after_care_and_a_quiet_checkin(e2e):
    await e2e.slash("duty", [p.option("state", "on")])
    await e2e.slash("excerpts", [p.option("mode", "spoiler")])
    await e2e.post(VENT, ALICE, "i want to end my life")
    [alert] = e2e.rest.messages_to(MOD_ALERTS)
    # the words are behind a spoiler warned with the kind of alert; who and where stay plain
    assert "||" in alert.content and "Crisis alert" in alert.content
    assert "end my life" not in alert.content.split("||")[0]
    await e2e.slash("resolve", [p.option("alert", 1, 4)])
    assert any("Thank you for looking after alert #1" in d for d in dm_texts(e2e, MO))
    await e2e.slash("checkin")
    asks = [m for m in e2e.rest.messages_to(MOD_ALERTS) if "checking in" in m.content]
    assert len(asks) == 1 and asks[0].json.get("allowed_mentions", {}).get("roles") in (None, [])

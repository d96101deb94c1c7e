"""Field hardening of the Discord adapter (issue 12), through discord.py's own parsers.

Readiness after catch-up, catch-up that survives every per-item failure, gateway
payloads discord.py cannot read, command sync errors, reconnecting, redelivered
interactions, direct messages, text in embeds and forwarded messages, members
resolved by name, and proxied (webhook) posts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.core.errors import HavenError, NotFound, PrivateMessagesClosed
from bot.core.events import ButtonPressed, CommandInvoked, MessagePosted, Outgoing
from tests import discord_payloads as p
from tests.discord_harness import (
    ALICE,
    MO,
    standard_channels,
    standard_guild,
    started,
)

MODS_CHANNEL = p.channel_for_interaction(p.text_channel(p.MODS, "moderators"))
MOD_PERMS = p.MEMBER_PERMS | p.MANAGE_MESSAGES


async def boot(h: Any, guild: dict[str, Any]) -> None:
    """Start the harness by hand (after the test set up history and the store)."""
    await h.start(guild)


def missed_setup(h: Any, core: Any) -> dict[str, Any]:
    """Positions two hours back, and messages in #support and a thread made since."""
    now = core.clock.now()
    seen = p.snowflake(now - 7200)
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = seen
    core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] = seen
    m1 = p.message(p.SUPPORT, ALICE, "is anyone around?", at=now - 3600)
    thread_id = p.snowflake(now - 3000)
    t1 = p.message(thread_id, ALICE, "in the thread", at=now - 2000)
    h.rest.history[p.SUPPORT] = [m1]
    h.rest.history[thread_id] = [t1]
    thread = p.thread(thread_id, "a thread", p.SUPPORT, at=now - 3000, last_message_id=t1["id"])
    guild = standard_guild(channels=standard_channels(last_support=m1["id"]), threads=[thread])
    return {"seen": seen, "m1": m1, "t1": t1, "thread": thread_id, "guild": guild}


# --------------------------------------------------------------------------- item 1: ready


async def test_discord_marks_the_core_ready_once_connected_and_caught_up(monkeypatch):
    h, core = await started(monkeypatch, start=False)
    setup = missed_setup(h, core)
    await boot(h, setup["guild"])
    assert core.ready_calls == 1
    # Ready came after the caught-up messages were handed over, not before.
    assert core.events_when_ready == 2
    assert [e.text for e in core.of(MessagePosted)] == ["is anyone around?", "in the thread"]


async def test_discord_marks_the_core_ready_even_when_catch_up_fails(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)

    async def broken(key: str) -> str | None:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(core.kv, "get", broken)
    with caplog.at_level(logging.ERROR):
        await boot(h, standard_guild())
    assert core.ready_calls == 1
    assert "catch-up of #support failed (RuntimeError" in caplog.text


async def test_discord_a_stuck_catch_up_does_not_hold_live_posts_forever(monkeypatch, caplog):
    import asyncio

    h, core = await started(monkeypatch, start=False)
    setup = missed_setup(h, core)
    h.adapter.catch_up_timeout = 0.05

    async def stuck(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)

    monkeypatch.setattr(h.adapter.catchup, "_missed", stuck)
    with caplog.at_level(logging.ERROR):
        await boot(h, setup["guild"])
    assert "catching up took longer" in caplog.text and core.ready_calls == 1
    live = p.message(p.SUPPORT, ALICE, "live", at=core.clock.now())
    await h.feed("MESSAGE_CREATE", live)
    assert core.of(MessagePosted)[-1].text == "live"
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == setup["seen"]  # read again next start


# --------------------------------------------------------------------------- item 2: catch-up


async def test_discord_catch_up_survives_archived_threads_404(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    setup = missed_setup(h, core)
    h.rest.fail("GET", rf"/channels/{p.SUPPORT}/threads/archived/public", 404, 10003, "Unknown Channel")
    with caplog.at_level(logging.WARNING):
        await boot(h, setup["guild"])
    # The channel and its active thread are still read.
    assert [e.text for e in core.of(MessagePosted)] == ["is anyone around?", "in the thread"]
    assert "archived threads of #support (NotFound 404)" in caplog.text
    # The place is held where it was, so what could not be listed is read at the next start.
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == setup["seen"]


async def test_discord_catch_up_reads_private_archived_threads_too(monkeypatch):
    h, core = await started(monkeypatch, start=False)
    now = core.clock.now()
    seen = p.snowflake(now - 7200)
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = seen
    core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] = seen
    thread_id = p.snowflake(now - 3000)
    post = p.message(thread_id, ALICE, "in a private thread", at=now - 2000)
    h.rest.history[thread_id] = [post]
    private = p.thread(thread_id, "just us", p.SUPPORT, at=now - 1000, last_message_id=post["id"],
                       archived=True)
    private["type"] = 12  # PRIVATE_THREAD
    h.rest.archived_private[p.SUPPORT] = [private]
    h.rest.channel_guild[thread_id] = p.GUILD_ID
    await boot(h, standard_guild())
    assert [e.text for e in core.of(MessagePosted)] == ["in a private thread"]
    # Forums have no private threads: not asked.
    assert not h.rest.find("GET", rf"/channels/{p.SUPPORT_FORUM}/threads/archived/private")


async def test_discord_catch_up_without_manage_threads_warns_once_and_moves_on(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    setup = missed_setup(h, core)
    h.rest.fail("GET", rf"/channels/{p.SUPPORT}/threads/archived/private", 403, 50013,
                "Missing Permissions")
    with caplog.at_level(logging.WARNING):
        await boot(h, setup["guild"])
    assert "private archived threads of #support (Forbidden 403)" in caplog.text
    assert [e.text for e in core.of(MessagePosted)] == ["is anyone around?", "in the thread"]
    # A missing permission is not a hiccup: the position moves on (no re-reading forever).
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == setup["t1"]["id"]


async def test_discord_catch_up_one_unreadable_thread_does_not_lose_the_channel(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    setup = missed_setup(h, core)
    h.rest.fail("GET", rf"/channels/{setup['thread']}/messages", 500, 0, "Internal Server Error")
    with caplog.at_level(logging.WARNING):
        await boot(h, setup["guild"])
    assert [e.text for e in core.of(MessagePosted)] == ["is anyone around?"]
    assert "catch-up could not read #a thread (DiscordServerError 500)" in caplog.text
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == setup["seen"]
    # A live post is handled; the stored position still waits for a full read.
    live = p.message(p.SUPPORT, ALICE, "live", at=core.clock.now())
    await h.feed("MESSAGE_CREATE", live)
    assert core.of(MessagePosted)[-1].text == "live"
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == setup["seen"]


async def test_discord_a_place_unreadable_for_days_is_let_go(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    now = core.clock.now()
    old = p.snowflake(now - 4 * 86400)
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = old
    core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] = old
    m1 = p.message(p.SUPPORT, ALICE, "hello", at=now - 60)
    h.rest.history[p.SUPPORT] = [m1]
    h.rest.fail("GET", rf"/channels/{p.SUPPORT}/threads/archived/public", 404, 10003, "Unknown")
    with caplog.at_level(logging.ERROR):
        await boot(h, standard_guild(channels=standard_channels(last_support=m1["id"])))
    assert "moves on" in caplog.text
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == m1["id"]


async def test_discord_catch_up_survives_an_unreadable_message_payload(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    setup = missed_setup(h, core)
    broken = p.message(p.SUPPORT, ALICE, "x", at=core.clock.now() - 5000)
    broken["author"] = None  # discord.py fails building this message
    h.rest.history[p.SUPPORT].insert(0, broken)
    with caplog.at_level(logging.WARNING):
        await boot(h, setup["guild"])
    # #support itself could not be read (its page failed), the thread still was.
    assert [e.text for e in core.of(MessagePosted)] == ["in the thread"]
    assert "catch-up could not read #support (TypeError)" in caplog.text
    assert core.ready_calls == 1


async def test_discord_catch_up_reads_everything_after_a_long_outage(monkeypatch):
    h, core = await started(monkeypatch, start=False)
    now = core.clock.now()
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = p.snowflake(now - 90000)
    core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] = p.snowflake(now - 90000)
    msgs = [p.message(p.SUPPORT, ALICE, f"post {i}", at=now - 80000 + i * 30) for i in range(1500)]
    h.rest.history[p.SUPPORT] = msgs
    await boot(h, standard_guild(channels=standard_channels(last_support=msgs[-1]["id"])))
    texts = [e.text for e in core.of(MessagePosted)]
    assert len(texts) == 1500 and texts[0] == "post 0" and texts[-1] == "post 1499"
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == msgs[-1]["id"]


async def test_discord_catch_up_limit_hit_is_an_error_and_holds_the_place(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    h.adapter.catchup.catch_up_limit = 3
    now = core.clock.now()
    seen = p.snowflake(now - 9000)
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = seen
    msgs = [p.message(p.SUPPORT, ALICE, f"post {i}", at=now - 8000 + i) for i in range(5)]
    h.rest.history[p.SUPPORT] = msgs
    with caplog.at_level(logging.ERROR):
        await boot(h, standard_guild(channels=standard_channels(last_support=msgs[-1]["id"])))
    assert "catch-up of #support stopped after 3 messages" in caplog.text
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == seen


# --------------------------------------------------------------------------- item 6: survive


async def test_discord_unreadable_gateway_payload_is_logged_and_skipped(monkeypatch, caplog):
    h, core = await started(monkeypatch)
    bad = p.message(p.GENERAL, ALICE, "secret words", at=core.clock.now())
    bad["author"] = None  # discord.py expects a user object here
    with caplog.at_level(logging.ERROR):
        await h.feed("MESSAGE_CREATE", bad)  # raised out of the parser before
    assert h.adapter.parse_failures == 1
    assert "MESSAGE_CREATE" in caplog.text and "TypeError" in caplog.text
    assert "secret words" not in caplog.text  # field names only, never values
    await h.feed("MESSAGE_CREATE", p.message(p.GENERAL, ALICE, "still here", at=core.clock.now()))
    assert core.of(MessagePosted)[-1].text == "still here"


async def test_discord_unreadable_ready_ends_the_connection_so_run_reconnects(monkeypatch, caplog):
    h, _ = await started(monkeypatch, start=False)
    await h.client._async_setup_hook()
    ready = p.ready(h.bot_user)
    del ready["user"]
    with caplog.at_level(logging.ERROR), pytest.raises(KeyError):
        h.parsers["READY"](ready)
    assert "Could not read a Discord READY event" in caplog.text


async def test_discord_guard_covers_every_parser(monkeypatch):
    h, _ = await started(monkeypatch)
    assert len(h.parsers) > 50
    assert all(getattr(f, "__haven_guarded__", False) for f in h.parsers.values())


async def test_discord_command_sync_error_other_than_http_does_not_stop_start_up(monkeypatch, caplog):
    h, core = await started(monkeypatch)

    async def broken_sync(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("id")

    monkeypatch.setattr(h.adapter.tree, "sync", broken_sync)
    with caplog.at_level(logging.ERROR):
        await h.adapter.interactions.setup_hook()  # raised KeyError before
    assert "Could not register slash commands" in caplog.text and "KeyError" in caplog.text
    assert f"discord:commands:{p.APP_ID}:global" not in core.kv.data


async def test_discord_run_reconnects_after_an_unexpected_error(monkeypatch, caplog):
    h, _ = await started(monkeypatch, start=False)
    h.adapter.restart_delays = (0.0,)
    calls: list[str] = []

    async def start(token: str, *, reconnect: bool = True) -> None:
        calls.append(token)
        if len(calls) < 3:
            raise KeyError("session_id")

    monkeypatch.setattr(h.client, "start", start)
    with caplog.at_level(logging.ERROR):
        await h.adapter.run()
    assert calls == ["test-token"] * 3
    assert "reconnecting" in caplog.text and "KeyError" in caplog.text


async def test_discord_run_stops_on_a_refused_token(monkeypatch):
    h, _ = await started(monkeypatch, start=False)

    async def start(token: str, *, reconnect: bool = True) -> None:
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(h.client, "start", start)
    with pytest.raises(HavenError, match="refused the bot token"):
        await h.adapter.run()


def test_discord_systemd_unit_restarts_and_keeps_secrets_out_of_the_repo():
    unit = (Path(__file__).resolve().parent.parent / "docs" / "haven.service").read_text()
    assert "Restart=on-failure" in unit
    assert "EnvironmentFile=/etc/haven/haven.env" in unit
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit
    settings = [line for line in unit.splitlines() if line.strip() and not line.startswith("#")]
    assert not any("TOKEN" in line or "PASSWORD" in line for line in settings)


# --------------------------------------------------------------------------- item 9: once


async def test_discord_redelivered_interaction_is_acted_on_once(monkeypatch):
    h, core = await started(monkeypatch)
    payload = p.slash_command("timeout", [p.option("member", p.MEMBER_ID, 6), p.option("minutes", 30, 4),
                                          p.option("reason", "hostility")],
                              at=core.clock.now(), channel=MODS_CHANNEL, invoker=MO,
                              roles=(p.MOD_ROLE,), permissions=MOD_PERMS,
                              resolved=p.resolved_user(ALICE))
    for _ in range(8):
        await h.feed("INTERACTION_CREATE", payload)
    [ev] = core.of(CommandInvoked)
    assert ev.delivery_id == payload["id"]
    assert len(h.rest.find("POST", r"/interactions/\d+/[^/]+/callback", via="webhook")) == 1


async def test_discord_button_press_carries_its_delivery_id(monkeypatch):
    from bot.adapters.discord.views import custom_id

    h, core = await started(monkeypatch)
    ref = await h.adapter.send(p.GUILD_ID, "moderators", Outgoing("alert", alert_id=7))
    msg = h.rest.sent[ref.message_id]
    payload = p.button_press(custom_id("claim", 7), at=core.clock.now(), channel=MODS_CHANNEL,
                             invoker=MO, msg=msg, roles=(p.MOD_ROLE,), permissions=MOD_PERMS)
    await h.feed("INTERACTION_CREATE", payload)
    await h.feed("INTERACTION_CREATE", payload)
    [ev] = core.of(ButtonPressed)
    assert ev.delivery_id == payload["id"]


# --------------------------------------------------------------------------- DMs


async def test_discord_direct_message_becomes_a_dm_post_in_the_members_server(monkeypatch):
    h, core = await started(monkeypatch)
    dm = p.message("970000000000000001", ALICE, "please help", at=core.clock.now(), guild_id=None)
    await h.feed("MESSAGE_CREATE", dm)
    [ev] = core.of(MessagePosted)
    assert ev.community_id == p.GUILD_ID
    assert ev.channel.kind == "dm" and ev.channel.id == "970000000000000001"
    assert ev.author.id == p.MEMBER_ID and ev.author.name == "Alice"
    assert ev.text == "please help" and ev.link == ""
    # A reply goes to the DM channel, with no server id in the reference.
    await h.adapter.reply(ev.message, Outgoing("helplines"))
    [call] = h.rest.messages_to("970000000000000001")
    assert call.json["message_reference"].get("guild_id") is None


async def test_discord_bots_direct_messages_are_ignored(monkeypatch):
    h, core = await started(monkeypatch)
    await h.feed("MESSAGE_CREATE", p.message("970000000000000001", h.bot_user, "Haven's own",
                                             at=core.clock.now(), guild_id=None))
    assert core.of(MessagePosted) == []


def test_discord_intents_include_direct_messages():
    from bot.adapters.discord.invite import intents

    assert intents().dm_messages


# --------------------------------------------------------------------------- item 8: text


def rich_embed(**fields: Any) -> dict[str, Any]:
    return {"type": "rich", **fields}


async def test_discord_text_in_member_embeds_is_read(monkeypatch):
    h, core = await started(monkeypatch)
    msg = p.message(p.GENERAL, ALICE, "", at=core.clock.now())
    msg["embeds"] = [
        rich_embed(title="tonight", description="I want to end it",
                   fields=[{"name": "plan", "value": "pills", "inline": False}],
                   footer={"text": "goodbye"}, author={"name": "me"}),
        {"type": "link", "title": "News article about suicide", "url": "https://example.org"},
    ]
    await h.feed("MESSAGE_CREATE", msg)
    [ev] = core.of(MessagePosted)
    for part in ("tonight", "I want to end it", "plan", "pills", "goodbye", "me"):
        assert part in ev.text
    assert "News article" not in ev.text  # a link preview is not the member's words


async def test_discord_forwarded_message_text_is_read(monkeypatch):
    h, core = await started(monkeypatch)
    msg = p.message(p.GENERAL, ALICE, "", at=core.clock.now())
    msg["message_reference"] = {"type": 1, "message_id": "1", "channel_id": p.SUPPORT,
                                "guild_id": p.GUILD_ID}
    msg["message_snapshots"] = [{"message": {
        "type": 0, "content": "i'm going to kill myself tonight", "embeds": [rich_embed(description="bye")],
        "attachments": [], "timestamp": p.iso(core.clock.now() - 60), "edited_timestamp": None,
        "flags": 0, "mentions": [], "mention_roles": [], "components": []}}]
    await h.feed("MESSAGE_CREATE", msg)
    [ev] = core.of(MessagePosted)
    assert "kill myself tonight" in ev.text and "bye" in ev.text
    assert ev.reply_to is None  # a forward is not a reply


async def test_discord_edit_of_embed_text_is_evaluated_again(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    hook = "930000000000000009"
    msg = p.message(p.GENERAL, p.user(hook, "Sam"), "", at=now, webhook_id=hook)
    msg["embeds"] = [rich_embed(description="fine")]
    await h.feed("MESSAGE_CREATE", msg)
    edited = {**msg, "embeds": [rich_embed(description="not fine at all")], "edited_timestamp": p.iso(now + 5)}
    await h.feed("MESSAGE_UPDATE", edited)
    assert [e.text for e in core.of(MessagePosted)] == ["fine", "not fine at all"]


async def test_discord_forum_post_title_poll_and_alt_text_are_read(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    post_id = p.snowflake(now)
    await h.feed("THREAD_CREATE", p.thread(post_id, "I want to die tonight", p.SUPPORT_FORUM,
                                           at=now, newly_created=True))
    starter = p.message(post_id, ALICE, "that's all", at=now, message_id=post_id)
    await h.feed("MESSAGE_CREATE", starter)
    assert core.of(MessagePosted)[-1].text == "I want to die tonight\n\nthat's all"
    # A reply in the post is not given the title again.
    await h.feed("MESSAGE_CREATE", p.message(post_id, MO, "we're here", at=now + 1))
    assert core.of(MessagePosted)[-1].text == "we're here"

    poll = p.message(p.GENERAL, ALICE, "", at=now + 2)
    poll["poll"] = {"question": {"text": "should I end it"},
                    "answers": [{"answer_id": 1, "poll_media": {"text": "yes"}},
                                {"answer_id": 2, "poll_media": {"text": "no"}}],
                    "expiry": p.iso(now + 86400), "allow_multiselect": False, "layout_type": 1}
    await h.feed("MESSAGE_CREATE", poll)
    assert core.of(MessagePosted)[-1].text == "should I end it\n\nyes\n\nno"

    picture = p.message(p.GENERAL, ALICE, "", at=now + 3,
                        attachments=[{**p.attachment("a.png", at=now), "description": "my last note"}])
    await h.feed("MESSAGE_CREATE", picture)
    assert core.of(MessagePosted)[-1].text == "my last note"


# --------------------------------------------------------------------------- item 10: names


async def test_discord_resolve_member_by_id_mention_and_names(monkeypatch):
    h, _ = await started(monkeypatch)
    resolve = h.adapter.resolve_member
    for query in (p.MEMBER_ID, f"<@{p.MEMBER_ID}>", f"<@!{p.MEMBER_ID}>", "alice", "@alice",
                  "Alice", "ALICE", "alice#0"):
        found = await resolve(p.GUILD_ID, query)
        assert found is not None and found.id == p.MEMBER_ID and found.name == "Alice", query


async def test_discord_resolve_member_uses_the_nickname(monkeypatch):
    guild = standard_guild()
    guild["members"].append(p.member(p.user("940000000000000001", "sam_r", global_name="Sam"),
                                     nick="Sammy"))
    h, _ = await started(monkeypatch, guild=guild)
    for query in ("sam_r", "Sammy", "Sam", "940000000000000001"):
        found = await h.adapter.resolve_member(p.GUILD_ID, query)
        assert found is not None and found.name == "Sammy", query


async def test_discord_resolve_member_ambiguous_or_unknown_is_none(monkeypatch):
    guild = standard_guild()
    guild["members"] += [p.member(p.user("940000000000000001", "jo1", global_name="Jo")),
                         p.member(p.user("940000000000000002", "jo2", global_name="Jo"))]
    h, _ = await started(monkeypatch, guild=guild)
    h.rest.search_results = []
    assert await h.adapter.resolve_member(p.GUILD_ID, "Jo") is None  # two members
    assert (await h.adapter.resolve_member(p.GUILD_ID, "jo1")).id == "940000000000000001"
    assert await h.adapter.resolve_member(p.GUILD_ID, "nobody") is None
    h.rest.fail("GET", rf"/guilds/{p.GUILD_ID}/members/\d+", 404, 10007, "Unknown Member")
    assert await h.adapter.resolve_member(p.GUILD_ID, "940000000000000099") is None


async def test_discord_resolve_member_asks_discord_when_not_cached(monkeypatch):
    h, _ = await started(monkeypatch)
    h.rest.search_results = [p.member(p.user("940000000000000005", "river", global_name="River"))]
    found = await h.adapter.resolve_member(p.GUILD_ID, "river")
    assert found is not None and found.id == "940000000000000005" and found.name == "River"
    [call] = h.rest.find("GET", rf"/guilds/{p.GUILD_ID}/members/search")
    assert call.params["query"] == "river"


async def test_discord_slash_member_option_resolves_to_the_display_name(monkeypatch):
    # Bea is not in discord.py's member cache: only the interaction's resolved data knows her.
    h, core = await started(monkeypatch)
    bea = p.user("940000000000000007", "bea_b", global_name="Bea")
    resolved = p.resolved_user(bea)
    resolved["members"][bea["id"]]["nick"] = "Bee"
    payload = p.slash_command("warn", [p.option("member", bea["id"], 6), p.option("reason", "x")],
                              at=core.clock.now(), channel=MODS_CHANNEL, invoker=MO,
                              roles=(p.MOD_ROLE,), permissions=MOD_PERMS, resolved=resolved)
    await h.feed("INTERACTION_CREATE", payload)
    [ev] = core.of(CommandInvoked)
    assert ev.options["member"] == bea["id"]
    found = await h.adapter.resolve_member(p.GUILD_ID, ev.options["member"])
    assert found is not None and found.name == "Bee"
    assert not h.rest.find("GET", rf"/guilds/{p.GUILD_ID}/members/\d+")  # no REST needed


# --------------------------------------------------------------------------- proxied posts


async def test_discord_proxied_post_is_attributed_to_the_member_it_repeats(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    original = p.message(p.SUPPORT, ALICE, "a: I can't do this anymore", at=now)
    await h.feed("MESSAGE_CREATE", original)
    hook = "930000000000000005"
    proxied = p.message(p.SUPPORT, p.user(hook, "Ash (Alice's system)"), "I can't do this anymore",
                        at=now + 1, webhook_id=hook)
    await h.feed("MESSAGE_CREATE", proxied)
    ev = core.of(MessagePosted)[-1]
    assert ev.author.id == p.MEMBER_ID and not ev.author.is_bot
    assert ev.author.name == "Ash (Alice's system)"


async def test_discord_unattributed_proxied_post_keeps_the_webhook_id(monkeypatch):
    h, core = await started(monkeypatch)
    hook = "930000000000000006"
    await h.feed("MESSAGE_CREATE", p.message(p.SUPPORT, p.user(hook, "Ash"), "I want to die",
                                             at=core.clock.now(), webhook_id=hook))
    ev = core.of(MessagePosted)[-1]
    assert ev.author.id == f"webhook:{hook}" and ev.author.name == "Ash (proxied)"
    assert not ev.author.is_bot and ev.text == "I want to die"
    assert h.adapter.user_mention(ev.author.id) == "**Ash**"
    with pytest.raises(PrivateMessagesClosed):
        await h.adapter.send_private(p.GUILD_ID, ev.author.id, Outgoing("hi"))
    with pytest.raises(NotFound, match="webhook"):
        await h.adapter.timeout(p.GUILD_ID, ev.author.id, 60, "x")


async def test_discord_other_apps_replies_and_followed_channels_stay_bots(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    reply = p.message(p.GENERAL, p.user("930000000000000007", "Dice"), "rolled 4", at=now,
                      webhook_id="930000000000000007")
    reply["interaction_metadata"] = {"id": "1", "type": 2, "user": ALICE,
                                     "authorizing_integration_owners": {}}
    news = p.message(p.GENERAL, p.user("930000000000000008", "News"), "headline", at=now,
                     webhook_id="930000000000000008")
    news["flags"] = 1 << 1  # IS_CROSSPOST
    await h.feed("MESSAGE_CREATE", reply)
    await h.feed("MESSAGE_CREATE", news)
    assert [e.author.is_bot for e in core.of(MessagePosted)] == [True, True]

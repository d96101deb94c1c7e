"""The Discord adapter, through discord.py's own parsers and a recorded REST layer.

Inbound: gateway payloads -> neutral events. Outbound: Platform verbs -> the exact
REST calls (routes, allowed_mentions, components, audit-log reasons), and
discord.py's errors -> bot.core.errors. Also catch-up at start-up, invite URL, sharding.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlparse

import discord
import pytest

from bot.adapters.discord import invite as da
from bot.adapters.discord.adapter import DiscordAdapter
from bot.adapters.discord.config import DiscordConfig
from bot.adapters.discord.invite import invite_url
from bot.adapters.discord.render import render_chunks, split_text
from bot.core.errors import (
    MissingPermission,
    NotFound,
    PlatformError,
    PrivateMessagesClosed,
    RateLimited,
)
from bot.core.events import (
    Attachment,
    AutomodActed,
    Member,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    MessageRef,
    Outgoing,
)
from bot.core.ports import Capability
from bot.features.raid.config import RaidConfig
from bot.features.unanswered.config import UNANSWERED_SECTION
from tests import discord_payloads as p
from tests.discord_harness import (
    ALICE,
    MO,
    NEWBIE,
    OTHER_BOT,
    discord_config,
    standard_channels,
    standard_guild,
    started,
)

# --------------------------------------------------------------------------- inbound


async def test_discord_message_becomes_message_posted(monkeypatch):
    h, core = await started(monkeypatch)
    at = core.clock.now() - 30
    payload = p.message(p.GENERAL, MO, "hello everyone", at=at, roles=(p.MOD_ROLE,))
    await h.feed("MESSAGE_CREATE", payload)

    [ev] = core.of(MessagePosted)
    assert ev.community_id == p.GUILD_ID
    assert ev.at == pytest.approx(at, abs=0.001)  # the snowflake's own timestamp
    assert ev.text == "hello everyone"
    assert ev.channel.id == p.GENERAL and ev.channel.name == "general" and ev.channel.kind == "text"
    assert ev.author.id == p.MOD_ID and ev.author.name == "Mo" and not ev.author.is_bot
    assert {p.MOD_ROLE, "Moderators"} <= ev.author.roles
    assert "@everyone" not in ev.author.roles and p.EVERYONE_ROLE not in ev.author.roles
    assert ev.author.power_level is None and not ev.author.is_admin
    assert ev.message == MessageRef(p.GUILD_ID, p.GENERAL, payload["id"], None)
    assert ev.link == f"https://discord.com/channels/{p.GUILD_ID}/{p.GENERAL}/{payload['id']}"
    assert not ev.edited and not ev.spoilered and ev.reply_to is None and ev.thread_root is None


async def test_discord_owner_and_administrator_are_admins(monkeypatch):
    h, core = await started(monkeypatch)
    await h.feed("MESSAGE_CREATE", p.message(p.GENERAL, p.user(p.OWNER_ID, "owner"), "hi",
                                             at=core.clock.now()))
    assert core.of(MessagePosted)[-1].author.is_admin


async def test_discord_ignores_own_messages_and_system_messages_but_passes_other_bots(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    await h.feed("MESSAGE_CREATE", p.message(p.GENERAL, h.bot_user, "I am Haven", at=now))
    await h.feed("MESSAGE_CREATE", p.message(p.GENERAL, ALICE, "", at=now, msg_type=7))  # join notice
    hook_msg = p.message(p.GENERAL, p.user("930000000000000001", "Alice", bot=True), "repost",
                         at=now, webhook_id="930000000000000001", application_id=p.APP_ID)
    await h.feed("MESSAGE_CREATE", hook_msg)  # Haven's own webhook repost
    assert core.of(MessagePosted) == []

    await h.feed("MESSAGE_CREATE", p.message(p.GENERAL, OTHER_BOT, "beep", at=now))
    [ev] = core.of(MessagePosted)
    assert ev.author.is_bot and ev.text == "beep"

    # Another webhook (a proxy such as PluralKit) is read as a post, not skipped as a bot.
    other_hook = p.message(p.GENERAL, p.user("930000000000000002", "Proxy", bot=True), "proxied",
                           at=now, webhook_id="930000000000000002")
    await h.feed("MESSAGE_CREATE", other_hook)
    proxied = core.of(MessagePosted)[-1]
    assert not proxied.author.is_bot and proxied.text == "proxied"
    assert proxied.author.id == "webhook:930000000000000002"


async def test_discord_reply_sets_reply_to(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    first = p.message(p.SUPPORT, ALICE, "rough day", at=now)
    await h.feed("MESSAGE_CREATE", first)
    await h.feed("MESSAGE_CREATE", p.message(p.SUPPORT, MO, "I'm here", at=now + 60,
                                             reply_to=first["id"], roles=(p.MOD_ROLE,)))
    reply = core.of(MessagePosted)[-1]
    assert reply.reply_to == first["id"]


async def test_discord_thread_message_has_thread_root_and_parent(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    root = p.message(p.SUPPORT, ALICE, "can anyone talk?", at=now)
    await h.feed("MESSAGE_CREATE", root)
    # A thread started from the message has the message's id.
    await h.feed("THREAD_CREATE", p.thread(root["id"], "can anyone talk?", p.SUPPORT, at=now + 5,
                                           newly_created=True, owner_id=p.MOD_ID))
    await h.feed("MESSAGE_CREATE", p.message(root["id"], MO, "sure", at=now + 10, roles=(p.MOD_ROLE,)))
    ev = core.of(MessagePosted)[-1]
    assert ev.channel.kind == "thread"
    assert ev.channel.id == root["id"]
    assert (ev.channel.parent_id, ev.channel.parent_name) == (p.SUPPORT, "support")
    assert ev.thread_root == root["id"]
    assert ev.message.thread_id == root["id"]
    assert "support" in ev.channel.names()


async def test_discord_forum_post_starter_message_id_is_the_thread_id(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    post_id = p.snowflake(now)
    await h.feed("THREAD_CREATE", p.thread(post_id, "Struggling tonight", p.SUPPORT_FORUM, at=now,
                                           newly_created=True))
    await h.feed("MESSAGE_CREATE", p.message(post_id, ALICE, "it's been hard", at=now, message_id=post_id))
    ev = core.of(MessagePosted)[-1]
    assert ev.channel.kind == "forum"
    assert ev.channel.name == "Struggling tonight"
    assert ev.channel.parent_name == "support-forum"
    assert ev.thread_root == post_id == ev.message.message_id
    assert h.adapter.config.get(UNANSWERED_SECTION).is_support_place(ev.channel)


async def test_discord_message_in_uncached_thread_fetches_the_channel(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    tid = p.snowflake(now)
    h.rest.channels[tid] = p.thread(tid, "old post", p.SUPPORT_FORUM, at=now)
    await h.feed("MESSAGE_CREATE", p.message(tid, ALICE, "still here", at=now))
    ev = core.of(MessagePosted)[-1]
    assert ev.channel.kind == "forum" and ev.thread_root == tid
    assert h.rest.find("GET", f"/channels/{tid}")


async def test_discord_edit_is_evaluated_again_but_embed_updates_are_not(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    original = p.message(p.GENERAL, ALICE, "fine", at=now)
    await h.feed("MESSAGE_CREATE", original)
    # Discord adds a link preview: MESSAGE_UPDATE without edited_timestamp.
    await h.feed("MESSAGE_UPDATE", {**original, "embeds": []})
    assert len(core.of(MessagePosted)) == 1
    edited = {**original, "content": "not fine at all", "edited_timestamp": p.iso(now + 120)}
    await h.feed("MESSAGE_UPDATE", edited)
    ev = core.of(MessagePosted)[-1]
    assert ev.edited and ev.text == "not fine at all"
    assert ev.at == pytest.approx(now + 120)
    assert ev.message.message_id == original["id"]
    # Same content again (e.g. a pin): not another evaluation.
    await h.feed("MESSAGE_UPDATE", {**edited, "pinned": True})
    assert len(core.of(MessagePosted)) == 2


async def test_discord_edit_of_uncached_message_is_still_seen(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    old = p.message(p.GENERAL, ALICE, "edited later", at=now - 86400, edited_at=now)
    await h.feed("MESSAGE_UPDATE", old)
    [ev] = core.of(MessagePosted)
    assert ev.edited and ev.text == "edited later"
    # A link preview added to an old, uncached message is not an edit.
    preview = p.message(p.GENERAL, ALICE, "see https://example.org", at=now - 86400)
    await h.feed("MESSAGE_UPDATE", preview)
    assert len(core.of(MessagePosted)) == 1


async def test_discord_delete_by_author_and_by_haven(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    msg = p.message(p.SUPPORT, ALICE, "never mind", at=now)
    await h.feed("MESSAGE_CREATE", msg)
    await h.feed("MESSAGE_DELETE", p.message_delete(p.SUPPORT, msg["id"]))
    [ev] = core.of(MessageDeleted)
    assert ev.message == MessageRef(p.GUILD_ID, p.SUPPORT, msg["id"], None)
    assert ev.channel.name == "support" and ev.by_author

    other = p.message(p.GENERAL, ALICE, "bad", at=now)
    await h.feed("MESSAGE_CREATE", other)
    await h.adapter.hide(MessageRef(p.GUILD_ID, p.GENERAL, other["id"]), "Haven: rule x")
    await h.feed("MESSAGE_DELETE", p.message_delete(p.GENERAL, other["id"]))
    assert not core.of(MessageDeleted)[-1].by_author


async def test_discord_bulk_delete_gives_one_event_per_message(monkeypatch):
    h, core = await started(monkeypatch)
    await h.feed("MESSAGE_DELETE_BULK", {"ids": ["5", "6"], "channel_id": p.GENERAL,
                                          "guild_id": p.GUILD_ID})
    assert [e.message.message_id for e in core.of(MessageDeleted)] == ["5", "6"]


async def test_discord_member_join(monkeypatch):
    h, core = await started(monkeypatch)
    at = core.clock.now()
    await h.feed("GUILD_MEMBER_ADD", p.member_add(NEWBIE, at=at))
    [ev] = core.of(MemberJoined)
    assert ev.member.id == p.NEWCOMER_ID and ev.member.name == "newbie"
    assert ev.at == pytest.approx(at) and ev.member.joined_at == pytest.approx(at)


async def test_discord_reactions_produce_no_event(monkeypatch):
    # No feature reads reactions: Haven neither asks for them (no guild_reactions intent)
    # nor turns one into an event if it arrives anyway.
    h, core = await started(monkeypatch)
    now = core.clock.now()
    msg = p.message(p.SUPPORT, ALICE, "help", at=now)
    await h.feed("MESSAGE_CREATE", msg)
    before = list(core.events)
    await h.feed("MESSAGE_REACTION_ADD", p.reaction_add(p.SUPPORT, msg["id"], MO, "💙",
                                                        roles=(p.MOD_ROLE,)))
    assert core.events == before
    assert h.adapter.parse_failures == 0


@pytest.mark.parametrize(("content", "files", "expected"), [
    ("||all hidden||", [], True),
    ("  ||part one|| ||part two||  ", [], True),
    ("||hidden|| but not this", [], False),
    ("nothing hidden", [], False),
    ("", [("pic.png", True)], True),
    ("", [("pic.png", False)], False),
    ("||text||", [("pic.png", False)], False),
])
async def test_discord_spoilered(monkeypatch, content, files, expected):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    atts = [p.attachment(name, at=now, spoiler=sp) for name, sp in files]
    await h.feed("MESSAGE_CREATE", p.message(p.VENTING, ALICE, content, at=now, attachments=atts))
    ev = core.of(MessagePosted)[-1]
    assert ev.spoilered is expected
    assert len(ev.attachments) == len(files)


async def test_discord_other_guilds_are_ignored_and_dms_belong_to_the_configured_one(monkeypatch):
    config = discord_config(discord=DiscordConfig(guild_ids=(p.GUILD_ID,)))
    other = p.guild(guild_id="990000000000000001", name="Elsewhere",
                    channels=[p.text_channel("990000000000000002", "general",
                                             guild_id="990000000000000001")])
    h, core = await started(monkeypatch, config=config, start=False)
    await h.start(standard_guild(), other)
    now = core.clock.now()
    await h.feed("MESSAGE_CREATE", p.message("990000000000000002", ALICE, "hi", at=now,
                                             guild_id="990000000000000001"))
    assert core.of(MessagePosted) == []
    await h.feed("MESSAGE_CREATE", p.message("990000000000000003", ALICE, "dm", at=now, guild_id=None))
    [dm] = core.of(MessagePosted)
    assert dm.community_id == p.GUILD_ID and dm.channel.kind == "dm"
    await h.feed("MESSAGE_CREATE", p.message(p.GENERAL, ALICE, "here", at=now))
    assert len(core.of(MessagePosted)) == 2


async def test_discord_automod_action_is_logged(monkeypatch, caplog):
    h, _core = await started(monkeypatch)
    with caplog.at_level(logging.INFO, logger="bot.adapters.discord.inbound"):
        await h.feed("AUTO_MODERATION_ACTION_EXECUTION",
                     p.automod_execution(user_id=p.MEMBER_ID, channel_id=p.GENERAL))
    assert any("AutoMod block_message" in r.getMessage() and p.MEMBER_ID in r.getMessage()
               for r in caplog.records)


async def test_discord_automod_action_reaches_the_core_as_an_event(monkeypatch):
    h, core = await started(monkeypatch)
    await h.feed("AUTO_MODERATION_ACTION_EXECUTION",
                 p.automod_execution(user_id=p.MEMBER_ID, channel_id=p.GENERAL, keyword="spam"))
    [rec] = core.of(AutomodActed)
    assert rec.user_id == p.MEMBER_ID and rec.keyword == "spam"
    assert rec.action == "block_message" and rec.community_id == p.GUILD_ID
    assert rec.channel_id == p.GENERAL and rec.at == pytest.approx(core.clock.now())


# --------------------------------------------------------------------------- outbound


async def test_discord_send_resolves_channels_and_pings_exactly_the_intended_role(monkeypatch):
    h, _ = await started(monkeypatch)
    for ref in ("moderators", "#moderators", p.MODS, f"<#{p.MODS}>", "Moderators"):
        h.rest.calls.clear()
        out = await h.adapter.send(p.GUILD_ID, ref, Outgoing("Crisis alert", mention_roles=("Moderators",),
                                                              alert_id=12))
        [call] = h.rest.messages_to(p.MODS)
        assert out.channel_id == p.MODS and out.community_id == p.GUILD_ID
    body = call.json
    assert body["content"] == f"<@&{p.MOD_ROLE}> Crisis alert"
    assert body["allowed_mentions"] == {"parse": [], "users": [], "roles": [int(p.MOD_ROLE)]}
    assert call.custom_ids() == ["haven:alert:claim:12", "haven:alert:resolve:12"]


async def test_discord_send_with_a_dedupe_key_enforces_a_stable_nonce(monkeypatch):
    """A send repeated after a crash carries the same nonce, so Discord keeps one message."""
    h, _ = await started(monkeypatch)
    for _ in range(2):
        await h.adapter.send(p.GUILD_ID, "general", Outgoing("your text", dedupe_key="hide:7:text"))
    await h.adapter.send(p.GUILD_ID, "general", Outgoing("your text"))
    first, again, plain = h.rest.messages_to(p.GENERAL)
    assert first.json["nonce"] == again.json["nonce"] and len(first.json["nonce"]) <= 25
    assert first.json["enforce_nonce"] is True
    assert plain.json.get("nonce") != first.json["nonce"]  # discord.py picks a fresh one


async def test_discord_send_does_not_repeat_mentions_already_in_the_text(monkeypatch):
    h, _ = await started(monkeypatch)
    text = f"{h.adapter.role_mention(p.GUILD_ID, 'Peer Supporters')} a post waits; {h.adapter.user_mention(p.MOD_ID)}"
    await h.adapter.send(p.GUILD_ID, "peer-support", Outgoing(text, mention_users=(p.MOD_ID,),
                                                              mention_roles=(p.PEER_ROLE,)))
    [call] = h.rest.messages_to(p.NUDGES)
    assert call.content == f"<@&{p.PEER_ROLE}> a post waits; <@{p.MOD_ID}>"
    assert call.json["allowed_mentions"] == {"parse": [], "users": [int(p.MOD_ID)],
                                             "roles": [int(p.PEER_ROLE)]}
    assert "components" not in call.json or call.json["components"] == []


async def test_discord_send_without_mentions_pings_nobody_and_never_everyone(monkeypatch):
    h, _ = await started(monkeypatch)
    await h.adapter.send(p.GUILD_ID, "general", Outgoing("@everyone look <@&910000000000000001>"))
    [call] = h.rest.messages_to(p.GENERAL)
    assert call.json["allowed_mentions"] == {"parse": [], "users": [], "roles": []}
    # Even a config naming the @everyone role (by id) cannot make Haven ping everyone.
    await h.adapter.send(p.GUILD_ID, "general", Outgoing("hi", mention_roles=(p.EVERYONE_ROLE,)))
    last = h.rest.messages_to(p.GENERAL)[-1]
    assert last.json["allowed_mentions"]["roles"] == [] and last.content == "hi"


async def test_discord_send_to_unknown_channel_is_not_found(monkeypatch):
    h, _ = await started(monkeypatch)
    with pytest.raises(NotFound):
        await h.adapter.send(p.GUILD_ID, "no-such-channel", Outgoing("x"))
    with pytest.raises(NotFound):
        await h.adapter.send("123", "general", Outgoing("x"))


async def test_discord_long_text_is_split_and_buttons_go_on_the_last_part(monkeypatch):
    h, _ = await started(monkeypatch)
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(45))  # ~4500 characters
    ref = await h.adapter.send(p.GUILD_ID, "moderators", Outgoing(text, alert_id=3))
    calls = h.rest.messages_to(p.MODS)
    assert len(calls) == 3
    assert all(len(c.content) <= 2000 for c in calls)
    assert "\n".join(c.content for c in calls) == text
    assert [bool(c.custom_ids()) for c in calls] == [False, False, True]
    assert ref.message_id == list(h.rest.sent)[-1]


def test_discord_render_spoiler_under_a_cw_label():
    [content] = render_chunks("Reposted for Alice:", "self-harm", "it got bad || again")
    assert content == "Reposted for Alice:\nCW: self-harm\n||it got bad |\u200b| again||"
    [content] = render_chunks("", "TW: eating", "text")
    assert content == "TW: eating\n||text||"
    [content] = render_chunks("CW: grief (posted by alice)", "CW: grief", "text")
    assert content == "CW: grief (posted by alice)\n||text||"
    chunks = render_chunks("intro", "grief", "word " * 900)
    assert len(chunks) > 1
    assert all(len(c) <= 2000 for c in chunks)
    spoilers = [c[c.index("||"):] for c in chunks if "||" in c]
    assert all(s.startswith("||") and s.endswith("||") for s in spoilers)


def test_discord_split_text_keeps_everything():
    text = "word " * 1000
    parts = split_text(text, 300)
    assert all(len(x) <= 300 for x in parts)
    assert " ".join(parts).split() == text.split()
    assert split_text("x" * 650, 300) == ["x" * 300, "x" * 300, "x" * 50]


def test_discord_split_text_closes_and_reopens_code_blocks():
    body = "\n".join(f'  "key{i}": "value {i}",' for i in range(200))
    text = f"Your data:\n```json\n{body}\n```\nUse forgetme to delete it."
    parts = split_text(text)
    assert len(parts) >= 3 and all(len(x) <= 2000 for x in parts)
    assert all(x.count("```") % 2 == 0 for x in parts)
    assert parts[1].startswith("```\n")
    joined = "\n".join(parts)
    for i in range(200):
        assert f'"key{i}": "value {i}",' in joined


async def test_discord_attachments_are_uploaded(monkeypatch):
    h, _ = await started(monkeypatch)
    chart = Attachment("stats.png", b"\x89PNG...", "image/png")
    await h.adapter.send(p.GUILD_ID, "moderators", Outgoing("figures", attachments=(chart,)))
    [call] = h.rest.messages_to(p.MODS)
    assert call.files == ["stats.png"] and call.content == "figures"


async def test_discord_send_to_a_forum_creates_a_post(monkeypatch):
    h, _ = await started(monkeypatch)
    ref = await h.adapter.send(p.GUILD_ID, "support-forum", Outgoing("Weekly check-in\nHow are you?"))
    [call] = h.rest.find("POST", f"/channels/{p.SUPPORT_FORUM}/threads")
    assert call.json["name"] == "Weekly check-in"
    assert call.json["message"]["content"] == "Weekly check-in\nHow are you?"
    assert ref.thread_id == ref.channel_id == ref.message_id


async def test_discord_reply_references_the_message_without_pinging_the_author(monkeypatch):
    h, core = await started(monkeypatch)
    msg = p.message(p.SUPPORT, ALICE, "first post!", at=core.clock.now())
    await h.feed("MESSAGE_CREATE", msg)
    to = core.of(MessagePosted)[-1].message
    ref = await h.adapter.reply(to, Outgoing("Welcome, glad you're here"))
    [call] = h.rest.messages_to(p.SUPPORT)
    assert call.json["message_reference"]["message_id"] == int(msg["id"])
    assert call.json["message_reference"]["fail_if_not_exists"] is False
    assert call.json["allowed_mentions"]["replied_user"] is False
    assert ref.channel_id == p.SUPPORT


async def test_discord_reply_in_a_thread_posts_in_the_thread(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    post_id = p.snowflake(now)
    await h.feed("THREAD_CREATE", p.thread(post_id, "post", p.SUPPORT_FORUM, at=now, newly_created=True))
    await h.feed("MESSAGE_CREATE", p.message(post_id, ALICE, "hi", at=now, message_id=post_id))
    ref = await h.adapter.reply(core.of(MessagePosted)[-1].message, Outgoing("hello"))
    assert h.rest.messages_to(post_id)
    assert ref.thread_id == post_id


async def test_discord_send_private_and_closed_dms(monkeypatch):
    h, _ = await started(monkeypatch)
    ref = await h.adapter.send_private(p.GUILD_ID, p.MEMBER_ID, Outgoing("Here are some helplines"))
    [dm] = h.rest.find("POST", "/users/@me/channels")
    assert dm.json == {"recipient_id": int(p.MEMBER_ID)}
    [call] = h.rest.dms_to(p.MEMBER_ID)
    assert call.content == "Here are some helplines"
    assert ref.community_id == p.GUILD_ID and ref.thread_id is None

    h.rest.fail("POST", r"/channels/\d+/messages", 403, 50007, "Cannot send messages to this user")
    with pytest.raises(PrivateMessagesClosed):
        await h.adapter.send_private(p.GUILD_ID, p.NEWCOMER_ID, Outgoing("hello"))


async def test_discord_edit_updates_text_and_buttons(monkeypatch):
    h, _ = await started(monkeypatch)
    ref = await h.adapter.send(p.GUILD_ID, "moderators", Outgoing("alert #4", alert_id=4))
    await h.adapter.edit(ref, Outgoing("alert #4 — claimed by Mo", alert_id=4))
    await h.adapter.edit(ref, Outgoing("alert #4 — resolved"))
    first, second = h.rest.find("PATCH", rf"/channels/{p.MODS}/messages/{ref.message_id}")
    assert first.content == "alert #4 — claimed by Mo"
    assert [c["custom_id"] for c in first.json["components"][0]["components"]] == [
        "haven:alert:claim:4", "haven:alert:resolve:4"]
    assert second.json["components"] == []


async def test_discord_hide_and_timeout(monkeypatch):
    h, core = await started(monkeypatch)
    await h.adapter.hide(MessageRef(p.GUILD_ID, p.GENERAL, "555"), "Haven: hostility")
    [call] = h.rest.find("DELETE", f"/channels/{p.GENERAL}/messages/555")
    assert call.reason == "Haven: hostility"

    await h.adapter.timeout(p.GUILD_ID, p.MEMBER_ID, 600, "cool down")
    [call] = h.rest.find("PATCH", f"/guilds/{p.GUILD_ID}/members/{p.MEMBER_ID}")
    until = discord.utils.parse_time(call.json["communication_disabled_until"])
    assert until.timestamp() == pytest.approx(core.clock.now() + 600)
    assert call.reason == "cool down"

    await h.adapter.timeout(p.GUILD_ID, p.MEMBER_ID, 90 * 86400, "long")
    until = discord.utils.parse_time(h.rest.calls[-1].json["communication_disabled_until"])
    assert until.timestamp() < core.clock.now() + 28 * 86400
    assert not hasattr(h.adapter, "kick") and not hasattr(h.adapter, "ban")  # dead verbs


async def test_discord_repost_through_one_reused_webhook(monkeypatch):
    h, _ = await started(monkeypatch)
    author = Member(id=p.MEMBER_ID, name="alice")
    msg = Outgoing("Reposted for Alice from #general:", spoiler="self-harm", spoiler_text="raw text")
    ref = await h.adapter.repost(p.GUILD_ID, "venting", author, msg)
    await h.adapter.repost(p.GUILD_ID, "venting", author, msg)
    assert len(h.rest.find("POST", f"/channels/{p.VENTING}/webhooks")) == 1
    assert len(h.rest.find("GET", f"/channels/{p.VENTING}/webhooks")) == 1
    first, _second = h.rest.find("POST", r"/webhooks/\d+/webhook-token", via="webhook")
    assert first.json["username"] == "Alice"  # the member's display name
    assert first.json["avatar_url"].startswith("https://cdn.discordapp.com/")
    assert first.json["content"] == "Reposted for Alice from #general:\nCW: self-harm\n||raw text||"
    assert first.json["allowed_mentions"] == {"parse": [], "users": [], "roles": []}
    assert first.params["wait"] in (1, "true")
    assert ref.channel_id == p.VENTING


async def test_discord_repost_keeps_the_post_when_discord_refuses_the_name(monkeypatch):
    h, _ = await started(monkeypatch)
    h.rest.fail("POST", r"/webhooks/\d+/webhook-token", 400, 50035,
                "Invalid Form Body (username: cannot contain 'discord')")
    await h.adapter.repost(p.GUILD_ID, "venting", Member("1", "discord fan"), Outgoing("x"))
    first, second = h.rest.find("POST", r"/webhooks/\d+/webhook-token", via="webhook")
    assert first.json["username"] == "discord fan"
    assert second.json["username"] == "Haven" and second.content == "x"


async def test_discord_repost_reuses_an_existing_haven_webhook_after_restart(monkeypatch):
    h, _ = await started(monkeypatch)
    h.rest.webhooks[p.VENTING] = [
        p.webhook("940000000000000001", p.VENTING, owner=ALICE, name="Haven", token="not-ours"),
        p.webhook("940000000000000002", p.VENTING, owner=h.bot_user, name="Haven", token="ours"),
    ]
    await h.adapter.repost(p.GUILD_ID, "venting", Member(p.MEMBER_ID, "alice"), Outgoing("x"))
    assert not h.rest.find("POST", f"/channels/{p.VENTING}/webhooks")
    assert h.rest.find("POST", "/webhooks/940000000000000002/ours", via="webhook")


async def test_discord_repost_into_a_thread_uses_the_parent_webhook(monkeypatch):
    tid = "950000000000000001"
    guild = standard_guild(threads=[p.thread(tid, "cw thread", p.VENTING)])
    h, _ = await started(monkeypatch, guild=guild)
    ref = await h.adapter.repost(p.GUILD_ID, tid, Member(p.MEMBER_ID, "alice"), Outgoing("x"))
    assert h.rest.find("POST", f"/channels/{p.VENTING}/webhooks")
    [call] = h.rest.find("POST", r"/webhooks/\d+/webhook-token", via="webhook")
    assert call.params["thread_id"] == int(tid)
    assert ref.thread_id == tid


async def test_discord_repost_without_manage_webhooks_falls_back_to_attribution(monkeypatch):
    h, _ = await started(monkeypatch)
    h.rest.fail("GET", rf"/channels/{p.VENTING}/webhooks", 403, 50013, "Missing Permissions")
    ref = await h.adapter.repost(p.GUILD_ID, "venting", Member(p.MEMBER_ID, "alice"),
                                 Outgoing("Reposted:", spoiler="grief", spoiler_text="words"))
    [call] = h.rest.messages_to(p.VENTING)
    assert call.content == "**alice** wrote:\nReposted:\nCW: grief\n||words||"
    assert ref.channel_id == p.VENTING


@pytest.mark.parametrize(("status", "code", "expected", "permission"), [
    (403, 50013, MissingPermission, "send_messages"),
    (403, 50001, MissingPermission, "view_channel"),
    (404, 10003, NotFound, None),
    (429, 0, RateLimited, None),
    (500, 0, PlatformError, None),
])
async def test_discord_errors_are_translated(monkeypatch, status, code, expected, permission):
    h, _ = await started(monkeypatch)
    h.rest.fail("POST", rf"/channels/{p.MODS}/messages", status, code, "nope",
                headers={"Retry-After": "7"})
    with pytest.raises(expected) as info:
        await h.adapter.send(p.GUILD_ID, "moderators", Outgoing("x"))
    if permission:
        assert info.value.permission == permission and "moderators" in info.value.where
    if expected is RateLimited:
        assert info.value.retry_after == 7
    if expected is PlatformError:
        assert info.value.retryable


async def test_discord_bad_request_is_not_retryable_and_missing_permissions_name_the_verb(monkeypatch):
    h, _ = await started(monkeypatch)
    h.rest.fail("POST", rf"/channels/{p.MODS}/messages", 400, 50035, "Invalid Form Body")
    with pytest.raises(PlatformError) as info:
        await h.adapter.send(p.GUILD_ID, "moderators", Outgoing("x"))
    assert not info.value.retryable
    cases = [
        (lambda: h.adapter.hide(MessageRef(p.GUILD_ID, p.GENERAL, "1"), "r"), "DELETE",
         r"/channels/\d+/messages/\d+", "manage_messages"),
        (lambda: h.adapter.timeout(p.GUILD_ID, p.MEMBER_ID, 60, "r"), "PATCH",
         r"/guilds/\d+/members/\d+", "moderate_members"),
    ]
    for call, method, path, permission in cases:
        h.rest.fail(method, path, 403, 50013, "Missing Permissions")
        with pytest.raises(MissingPermission) as info:
            await call()
        assert info.value.permission == permission


async def test_discord_ratelimit_discord_py_gave_up_on_becomes_rate_limited(monkeypatch):
    h, _ = await started(monkeypatch)

    async def too_long(*args, **kwargs):
        raise discord.RateLimited(123.0)

    h.client.http.request = too_long
    with pytest.raises(RateLimited) as info:
        await h.adapter.send(p.GUILD_ID, "moderators", Outgoing("x"))
    assert info.value.retry_after == 123.0


async def test_discord_mentions_and_names(monkeypatch):
    h, _ = await started(monkeypatch)
    a = h.adapter
    assert a.user_mention("42") == "<@42>"
    assert a.role_mention(p.GUILD_ID, "Moderators") == f"<@&{p.MOD_ROLE}>"
    assert a.role_mention(p.GUILD_ID, "moderators") == f"<@&{p.MOD_ROLE}>"
    assert a.role_mention(p.GUILD_ID, p.PEER_ROLE) == f"<@&{p.PEER_ROLE}>"
    assert a.role_mention(p.GUILD_ID, "Nobody") == "@Nobody"
    assert a.channel_mention(p.GUILD_ID, "#support") == f"<#{p.SUPPORT}>"
    assert a.channel_mention(p.GUILD_ID, "missing") == "#missing"
    assert a.community_name(p.GUILD_ID) == "Safe Harbour"
    assert a.name == "discord" and Capability.ATTACHMENTS in a.capabilities


# --------------------------------------------------------------------------- catch-up


async def test_discord_catch_up_first_start_only_records_where_we_are(monkeypatch):
    last = p.snowflake(1.7e9)
    h, core = await started(monkeypatch, guild=standard_guild(
        channels=standard_channels(last_support=last)))
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == last
    assert f"discord:last_seen:{p.SUPPORT_FORUM}" in core.kv.data
    assert f"discord:last_seen:{p.GENERAL}" not in core.kv.data  # not a support place
    assert not h.rest.find("GET", r"/channels/\d+/messages")
    assert core.events == []


async def test_discord_catch_up_feeds_missed_posts_in_order_before_live_ones(monkeypatch):
    h, core = await started(monkeypatch, start=False)
    now = core.clock.now()
    seen = p.snowflake(now - 7200)
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = seen
    core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] = seen
    older = p.message(p.SUPPORT, ALICE, "already handled", at=now - 7300)
    m1 = p.message(p.SUPPORT, ALICE, "is anyone around?", at=now - 3600)
    m2 = p.message(p.SUPPORT, MO, "yes, here", at=now - 1800, reply_to=m1["id"], roles=(p.MOD_ROLE,))
    own = p.message(p.SUPPORT, h.bot_user, "Haven's nudge", at=now - 1000)
    h.rest.history[p.SUPPORT] = [older, m1, m2, own]
    # A forum post made while offline, and a reply inside it.
    post_id = p.snowflake(now - 2000)
    reply = p.message(post_id, MO, "sending support", at=now - 100, roles=(p.MOD_ROLE,))
    h.rest.history[post_id] = [p.message(post_id, ALICE, "new post", at=now - 2000, message_id=post_id),
                               reply]
    guild = standard_guild(channels=standard_channels(last_support=own["id"]),
                           threads=[p.thread(post_id, "new post", p.SUPPORT_FORUM, at=now - 2000,
                                             last_message_id=reply["id"])])
    # A live message arrives while catching up: it must wait and come after.
    core.gate = None
    await h.client._async_setup_hook()
    h.client.http.request = h.rest.request
    h.parsers["READY"](p.ready(h.bot_user))
    h.rest.know_guild(guild)
    h.client._connection._add_guild_from_data(guild)
    live = p.message(p.SUPPORT, ALICE, "live one", at=now)
    h.parsers["MESSAGE_CREATE"](live)
    await h.settle()

    texts = [e.text for e in core.of(MessagePosted)]
    assert texts == ["is anyone around?", "new post", "yes, here", "sending support", "live one"]
    posted = core.of(MessagePosted)
    assert posted[0].at == pytest.approx(now - 3600)  # original timestamps
    assert posted[2].reply_to == m1["id"]
    assert posted[1].channel.kind == "forum" and posted[1].thread_root == post_id
    # Catch-up messages were handled (awaited) one by one; last seen moved to the newest.
    assert core.handled[:4] == posted[:4]
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == live["id"]
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] == reply["id"]
    [hist] = h.rest.find("GET", f"/channels/{p.SUPPORT}/messages")
    assert hist.params["after"] == int(seen)


async def test_discord_catch_up_does_not_deliver_a_message_twice(monkeypatch):
    h, core = await started(monkeypatch, start=False)
    now = core.clock.now()
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = p.snowflake(now - 600)
    core.kv.data[f"discord:last_seen:{p.SUPPORT_FORUM}"] = p.snowflake(now - 600)
    m = p.message(p.SUPPORT, ALICE, "hello?", at=now - 60)
    h.rest.history[p.SUPPORT] = [m]
    await h.client._async_setup_hook()
    h.client.http.request = h.rest.request
    h.parsers["READY"](p.ready(h.bot_user))
    h.rest.know_guild(standard_guild())
    h.client._connection._add_guild_from_data(standard_guild(
        channels=standard_channels(last_support=m["id"])))
    h.parsers["MESSAGE_CREATE"](m)  # the gateway delivers it as well
    await h.settle()
    assert [e.text for e in core.of(MessagePosted)] == ["hello?"]


async def test_discord_live_support_messages_advance_last_seen_after_handling(monkeypatch):
    h, core = await started(monkeypatch)
    now = core.clock.now()
    m = p.message(p.SUPPORT, ALICE, "hi", at=now)
    await h.feed("MESSAGE_CREATE", m)
    assert core.handled[-1].message.message_id == m["id"]
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == m["id"]
    g = p.message(p.GENERAL, ALICE, "not support", at=now + 1)
    await h.feed("MESSAGE_CREATE", g)
    assert core.kv.data[f"discord:last_seen:{p.SUPPORT}"] == m["id"]
    assert core.events[-1].text == "not support" and core.handled[-1].text == "hi"


async def test_discord_catch_up_without_history_permission_warns_and_goes_on(monkeypatch, caplog):
    h, core = await started(monkeypatch, start=False)
    core.kv.data[f"discord:last_seen:{p.SUPPORT}"] = p.snowflake(core.clock.now() - 600)
    h.rest.fail("GET", rf"/channels/{p.SUPPORT}/threads/archived/public", 403, 50001, "Missing Access")
    h.rest.fail("GET", rf"/channels/{p.SUPPORT}/messages", 403, 50001, "Missing Access")
    with caplog.at_level(logging.WARNING):
        await h.start(standard_guild())
    assert any("Read Message History" in r.getMessage() for r in caplog.records)
    await h.feed("MESSAGE_CREATE", p.message(p.SUPPORT, ALICE, "live", at=core.clock.now()))
    assert [e.text for e in core.of(MessagePosted)] == ["live"]


# --------------------------------------------------------------------------- set-up helpers


def test_discord_invite_url_has_exactly_the_permissions_haven_needs():
    url = invite_url("123456789012345678")
    q = parse_qs(urlparse(url).query)
    assert q["client_id"] == ["123456789012345678"]
    assert q["scope"] == ["bot applications.commands"]
    perms = discord.Permissions(int(q["permissions"][0]))
    assert int(q["permissions"][0]) == da.PERMISSIONS_VALUE == 1394253884416
    wanted = {"read_messages", "send_messages", "send_messages_in_threads", "embed_links",
              "attach_files", "read_message_history", "manage_messages", "manage_webhooks", "manage_threads",
              "moderate_members", "use_application_commands"}
    assert {name for name, on in perms if on} == wanted
    assert not perms.administrator and not perms.mention_everyone

    one = discord_config(discord=DiscordConfig(guild_ids=("42",)))
    q = parse_qs(urlparse(invite_url("1", one)).query)
    assert q["guild_id"] == ["42"]
    # Manage Channels only when raid mode may slow channels down
    assert not discord.Permissions(int(q["permissions"][0])).manage_channels
    slowing = discord_config(raid=RaidConfig(enabled=True, slow_channels=("general",)))
    q = parse_qs(urlparse(invite_url("1", slowing)).query)
    assert discord.Permissions(int(q["permissions"][0])).manage_channels


def test_discord_client_id_from_token():
    import base64

    token = base64.b64encode(b"123456789012345678").decode().rstrip("=") + ".GXyz12.abcdefghijk"
    assert da.client_id_from_token(token) == "123456789012345678"
    assert da.client_id_from_token("not a token") is None
    assert da.client_id_from_token("") is None


def test_discord_intents_include_the_privileged_ones_haven_needs():
    intents = da.intents()
    for name in ("guilds", "members", "message_content", "guild_messages", "dm_messages",
                 "auto_moderation_execution"):
        assert getattr(intents, name), name
    assert not intents.presences
    assert not intents.guild_reactions  # no feature reads reactions


async def test_discord_sharding_uses_an_auto_sharded_client():
    config = discord_config(discord=DiscordConfig(shard_count=4, shard_ids=(0, 2)))
    adapter = DiscordAdapter(config, token="x")
    assert isinstance(adapter.client, discord.AutoShardedClient)
    assert adapter.client.shard_count == 4 and adapter.client.shard_ids == [0, 2]
    plain = DiscordAdapter(discord_config(), token="x")
    try:
        assert type(plain.client) is discord.Client
        assert plain.client._connection.max_messages == 1000
    finally:
        await plain.client.close()


async def test_discord_run_without_token_explains(monkeypatch):
    monkeypatch.delenv("HAVEN_DISCORD_TOKEN", raising=False)
    adapter = DiscordAdapter(discord_config())
    with pytest.raises(Exception, match="HAVEN_DISCORD_TOKEN"):
        await adapter.run()
    await adapter.client.close()


async def test_discord_tag_post_sets_forum_tags_by_name(monkeypatch, caplog):
    tags = [p.forum_tag("930000000000000001", "Needs a reply"),
            p.forum_tag("930000000000000002", "Answered")]
    channels = [c if c["id"] != p.SUPPORT_FORUM else
                p.forum_channel(p.SUPPORT_FORUM, "support-forum", position=4, tags=tags)
                for c in standard_channels()]
    h, core = await started(monkeypatch, guild=standard_guild(channels=channels))
    now = core.clock.now()
    post_id = p.snowflake(now)
    thread_payload = p.thread(post_id, "Struggling", p.SUPPORT_FORUM, at=now, newly_created=True)
    thread_payload["applied_tags"] = ["930000000000000001"]
    await h.feed("THREAD_CREATE", thread_payload)
    ref = MessageRef(p.GUILD_ID, post_id, post_id, thread_id=post_id)
    await h.adapter.tag_post(ref, add=("answered", "Missing tag"), remove=("Needs a reply",))
    [patch] = h.rest.find("PATCH", f"/channels/{post_id}")
    assert patch.json["applied_tags"] == ["930000000000000002"]
    assert "no tag named 'Missing tag'" in caplog.text


async def test_discord_tag_post_ignores_plain_channels(monkeypatch):
    h, _ = await started(monkeypatch)
    await h.adapter.tag_post(MessageRef(p.GUILD_ID, p.GENERAL, "1"), add=("x",), remove=())
    assert h.rest.find("PATCH") == []


async def test_discord_role_member_ids_lists_people_holding_a_role(monkeypatch):
    h, _ = await started(monkeypatch)
    assert await h.adapter.role_member_ids(p.GUILD_ID, "Moderators") == (MO["id"],)
    assert await h.adapter.role_member_ids(p.GUILD_ID, f"<@&{p.MOD_ROLE}>") == (MO["id"],)
    assert await h.adapter.role_member_ids(p.GUILD_ID, "No Such Role") is None


async def test_discord_role_member_ids_is_none_when_the_member_list_is_incomplete(monkeypatch):
    guild = standard_guild()
    guild["member_count"] = 500  # only three members are cached
    h, _ = await started(monkeypatch, guild=guild)

    async def no_chunk(*args, **kwargs):
        raise discord.ClientException("the gateway is not connected")

    monkeypatch.setattr(discord.Guild, "chunk", no_chunk)
    assert await h.adapter.role_member_ids(p.GUILD_ID, "Moderators") is None


async def test_discord_shards_decide_which_servers_jobs_a_process_claims():
    sharded = DiscordAdapter(discord_config(discord=DiscordConfig(shard_count=4, shard_ids=(1,))),
                             token="x")
    plain = DiscordAdapter(discord_config(), token="x")
    try:
        guild = (123456789 << 22) | 5  # Discord: a server's shard is (id >> 22) % count
        assert sharded.shard_of(str(guild)) == str(123456789 % 4)
        assert sharded.shard_of("not-a-number") == "0"
        assert sharded.communities() == set()  # no server yet (before the gateway is ready)
        assert plain.communities() is None  # one process runs every shard: any server's jobs
        assert plain.shard_of(str(guild)) == "0"
    finally:
        await plain.client.close()  # (an AutoShardedClient never started has nothing to close)

"""Unit tests of the Matrix adapter's pure parts: power levels, formatting, event translation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nio import ErrorResponse, MatrixRoom

from bot.adapters.matrix.config import MatrixConfig
from bot.adapters.matrix_adapter import (
    MatrixAdapter,
    _RoomPower,
    room_is_private,
    translate_error,
)
from bot.adapters.matrix_events import SeenEvents, thread_and_reply, translate
from bot.adapters.matrix_format import (
    command_text,
    html_text,
    markdown_to_html,
    mentioned_in,
    message_text,
    render,
    strip_reply_fallback,
    user_pill,
)
from bot.adapters.matrix_power import (
    CREATOR_POWER_LEVEL,
    PowerState,
    muted_power_levels,
    privileged_creators,
    unmuted_power_levels,
)
from bot.core.config import ChannelsConfig, Config
from bot.core.errors import MissingPermission, NotFound, PlatformError, RateLimited
from bot.core.events import (
    Channel,
    Member,
    MemberJoined,
    MessageDeleted,
    MessagePosted,
    Outgoing,
    ReactionAdded,
)

BOT = "@haven:example.org"
ALICE = "@alice:example.org"
MOD = "@mod:example.org"
CREATOR = "@creator:example.org"
ROOM = "!room:example.org"

# ---------------------------------------------------------------------------
# power levels
# ---------------------------------------------------------------------------

PL = {"users": {MOD: 50, BOT: 100}, "users_default": 0, "events_default": 0,
      "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
      "events": {"m.room.power_levels": 100}}


def v12(extra_creators: tuple[str, ...] = ()) -> PowerState:
    content: dict[str, Any] = {"room_version": "12"}
    if extra_creators:
        content["additional_creators"] = list(extra_creators)
    return PowerState(CREATOR, content, PL)


def test_room_v12_creators_have_unlimited_power() -> None:
    state = v12(extra_creators=("@co:example.org",))
    assert state.user_level(CREATOR) == CREATOR_POWER_LEVEL
    assert state.user_level("@co:example.org") == CREATOR_POWER_LEVEL
    assert state.is_admin(CREATOR)
    assert state.can(CREATOR, "ban")
    assert state.user_level(MOD) == 50
    assert not state.is_admin(MOD)
    assert state.user_level(ALICE) == 0


def test_older_room_versions_use_the_power_levels_only() -> None:
    state = PowerState(CREATOR, {"room_version": "10", "creator": CREATOR},
                       {**PL, "users": {**PL["users"], CREATOR: 100}})
    assert state.user_level(CREATOR) == 100
    state = PowerState(CREATOR, {"room_version": "11"}, PL)
    assert state.user_level(CREATOR) == 0  # v11: creators get nothing implicit
    assert not state.is_privileged_creator(CREATOR)


def test_no_power_levels_event_gives_the_creator_100() -> None:
    state = PowerState(CREATOR, {"room_version": "10"}, None)
    assert state.user_level(CREATOR) == 100
    assert state.user_level(ALICE) == 0
    assert state.action_level("redact") == 50


@pytest.mark.parametrize(("version", "expected"), [
    ("1", False), ("11", False), ("12", True), ("13", True),
    ("org.matrix.hydra.11", True), ("", False), (None, False),
])
def test_privileged_creator_room_versions(version: str | None, expected: bool) -> None:
    assert privileged_creators(version) is expected


def test_users_default_and_string_levels() -> None:
    state = PowerState(CREATOR, {"room_version": "10"},
                       {"users": {MOD: "75"}, "users_default": 10})
    assert state.user_level(MOD) == 75
    assert state.user_level(ALICE) == 10


def test_mute_sets_the_member_below_events_default_and_unmute_restores() -> None:
    state = v12()
    content, old = muted_power_levels(state, ALICE, BOT)
    assert old is None
    assert content["users"][ALICE] == -1
    assert PL["users"].get(ALICE) is None  # the input is not changed
    restored = unmuted_power_levels(PowerState(CREATOR, {"room_version": "12"}, content), ALICE, old)
    assert ALICE not in restored["users"]
    content, old = muted_power_levels(state, MOD, BOT)
    assert old == 50
    assert unmuted_power_levels(state, MOD, 50)["users"][MOD] == 50


def test_mute_respects_message_overrides() -> None:
    state = PowerState(CREATOR, {"room_version": "12"},
                       {**PL, "users_default": 3, "events_default": 5,
                        "events": {**PL["events"], "m.reaction": 2}})
    content, _ = muted_power_levels(state, ALICE, BOT)
    assert content["users"][ALICE] == 1
    quiet = PowerState(CREATOR, {"room_version": "12"}, {**PL, "events_default": 5})
    content, _ = muted_power_levels(quiet, ALICE, BOT)
    assert ALICE not in content["users"]  # level 0 already cannot post: nothing to change


def test_cannot_mute_creators_or_equals() -> None:
    with pytest.raises(PermissionError):
        muted_power_levels(v12(), CREATOR, BOT)
    state = PowerState(CREATOR, {"room_version": "12"}, {**PL, "users": {MOD: 100, BOT: 100}})
    with pytest.raises(PermissionError):
        muted_power_levels(state, MOD, BOT)
    weak = PowerState(CREATOR, {"room_version": "12"}, {**PL, "users": {BOT: 50}})
    with pytest.raises(PermissionError):
        muted_power_levels(weak, ALICE, BOT)  # may not send m.room.power_levels (100)


def test_users_at_least() -> None:
    assert v12().users_at_least(50, [ALICE, MOD, CREATOR, BOT]) == [CREATOR, BOT, MOD]


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------


def test_markdown_bold_code_links_and_escaping() -> None:
    html = markdown_to_html("**Hi** <b>you</b> `!haven claim 3` [site](https://x.org/a?b=1&c=2)\nnext")
    assert html == ('<strong>Hi</strong> &lt;b&gt;you&lt;/b&gt; <code>!haven claim 3</code> '
                    '<a href="https://x.org/a?b=1&amp;c=2">site</a><br>next')


def test_render_mentions_become_pills_and_m_mentions() -> None:
    text = f"Welcome {user_pill(ALICE, 'Alice')}!"
    content = render(Outgoing(text, mention_users=(ALICE,)))
    assert content["body"] == "Welcome Alice!"
    assert '<a href="https://matrix.to/#/@alice:example.org">Alice</a>' in content["formatted_body"]
    assert content["m.mentions"] == {"user_ids": [ALICE]}
    assert content["format"] == "org.matrix.custom.html"


def test_render_appends_pills_for_mentions_missing_from_text() -> None:
    content = render(Outgoing("New alert", mention_users=(MOD,)), extra_mentions=(ALICE,),
                     names={MOD: "Mod"})
    assert content["m.mentions"] == {"user_ids": [MOD, ALICE]}
    assert mentioned_in(user_pill(MOD)) == {MOD}
    assert "https://matrix.to/#/@mod:example.org" in content["formatted_body"]
    assert content["body"].endswith("Mod @alice:example.org")


def test_render_without_mentions_pings_nobody() -> None:
    assert render(Outgoing("hello"))["m.mentions"] == {}


def test_render_spoiler_hides_text_from_the_plain_body() -> None:
    content = render(Outgoing("CW: self-harm", spoiler="self-harm", spoiler_text="the secret words"))
    assert "the secret words" not in content["body"]
    assert "Spoiler: self-harm" in content["body"]
    assert '<span data-mx-spoiler="self-harm">the secret words</span>' in content["formatted_body"]


def test_render_alert_adds_no_second_hint() -> None:
    """The core's alert text names the commands where there are no buttons; the
    adapter adds nothing (it used to repeat the claim hint)."""
    content = render(Outgoing("Unclaimed: use `!haven claim 7` when you pick it up.",
                              alert_id=7), prefix="!haven")
    assert content["body"].count("!haven claim 7") == 1
    assert "<code>!haven claim 7</code>" in content["formatted_body"]


def test_texts_that_name_commands_show_the_prefix() -> None:
    """Issue 12, item 15: on Matrix `resources` only works typed as `!haven resources`."""
    from bot.core.templates import DEFAULT_TEMPLATES

    welcome = render(Outgoing(DEFAULT_TEMPLATES["welcome"].replace("{command_prefix}", "")),
                     prefix="!haven")  # the prefix also reaches texts without the placeholder
    assert "use the `!haven resources` command" in welcome["body"]
    assert "<code>!haven resources</code>" in welcome["formatted_body"]
    assert "`CW:`" in welcome["body"]  # not a command: untouched
    helped = render(Outgoing("Commands:\n- `warn <member> <rule>`: warn\n- `rules test <text>`: x\n"
                             "Try `help`, or `!haven alerts`."), prefix="!hv")
    assert "`!hv warn <member> <rule>`" in helped["body"]
    assert "`!hv rules test <text>`" in helped["body"] and "`!hv help`" in helped["body"]
    assert "`!haven alerts`" in helped["body"]  # already prefixed (another prefix): left alone
    quoted = render(Outgoing("Here is your text:\n> type `help` to see"), prefix="!haven")
    assert "> type `help` to see" in quoted["body"]  # a member's quoted words are never changed
    repost = render(Outgoing("see `help`"), prefix="!haven", commands=False)
    assert repost["body"] == "see `help`"


def test_message_text_prefers_html_and_strips_reply_fallback() -> None:
    content = {
        "body": "> <@bob:x> earlier\n\nmy answer",
        "format": "org.matrix.custom.html",
        "formatted_body": "<mx-reply><blockquote>earlier</blockquote></mx-reply>my <b>answer</b>",
    }
    assert message_text(content).text == "my answer"
    assert message_text({"body": "> <@bob:x> earlier\n\nplain"}).text == "plain"
    assert strip_reply_fallback("no quote") == "no quote"


def test_full_spoiler_detection() -> None:
    assert html_text('<span data-mx-spoiler="cw">all hidden</span>').spoilered
    assert html_text('<span data-mx-spoiler="">all hidden</span><br> ').spoilered
    partial = html_text('CW: food <span data-mx-spoiler="food">hidden</span>')
    assert not partial.spoilered
    assert partial.text == "CW: food hidden"  # rules still see spoilered words
    assert not html_text("plain").spoilered


def test_command_text_prefix_and_mentions() -> None:
    assert command_text({"body": "!haven rules test hello"}, "!haven", BOT) == "rules test hello"
    assert command_text({"body": "!HAVEN"}, "!haven", BOT) == ""
    assert command_text({"body": "!havenx"}, "!haven", BOT) is None
    assert command_text({"body": "hello"}, "!haven", BOT) is None
    pill = {
        "body": "Haven: alerts",
        "format": "org.matrix.custom.html",
        "formatted_body": '<a href="https://matrix.to/#/@haven:example.org">Haven</a>: alerts',
    }
    assert command_text(pill, "!haven", BOT) == "alerts"
    assert command_text({"body": "Haven, claim 3"}, "!haven", BOT, ("Haven",)) == "claim 3"
    other = {**pill, "formatted_body": pill["formatted_body"].replace("haven", "alice")}
    assert command_text(other, "!haven", BOT) is None


def test_command_arguments_pills_become_user_ids() -> None:
    content = {
        "body": "!haven warn Alice be kind",
        "format": "org.matrix.custom.html",
        "formatted_body": '!haven warn <a href="https://matrix.to/#/@alice:example.org">Alice</a>'
                          " be <b>kind</b>",
    }
    assert command_text(content, "!haven", BOT) == "warn @alice:example.org be kind"


# ---------------------------------------------------------------------------
# event translation
# ---------------------------------------------------------------------------


@dataclass
class Ctx:
    """A RoomContext for tests."""

    community_id: str = "example.org"
    user_id: str = BOT
    dms: set[str] = field(default_factory=set)
    power: PowerState = field(default_factory=v12)

    def channel(self, room_id: str) -> Channel:
        return Channel(room_id, "support", kind="dm" if room_id in self.dms else "room")

    def member(self, room_id: str, user_id: str, joined_at: float | None = None) -> Member:
        return Member(user_id, user_id[1:].split(":")[0],
                      power_level=self.power.user_level(user_id),
                      is_admin=self.power.is_admin(user_id), joined_at=joined_at)

    def link(self, room_id: str, event_id: str) -> str:
        return f"https://matrix.to/#/{room_id}/{event_id}"


def ev(etype: str, content: dict[str, Any], sender: str = ALICE, event_id: str = "$e1",
       **extra: Any) -> dict[str, Any]:
    return {"type": etype, "content": content, "sender": sender, "event_id": event_id,
            "origin_server_ts": 1_700_000_000_000, **extra}


def test_plain_message() -> None:
    out = translate(ev("m.room.message", {"msgtype": "m.text", "body": "hi"}), ROOM, Ctx(),
                    SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.text == "hi" and not out.edited and out.reply_to is None
    assert out.message.message_id == "$e1" and out.message.channel_id == ROOM
    assert out.at == 1_700_000_000.0
    assert out.author.power_level == 0


def test_creator_message_is_admin() -> None:
    out = translate(ev("m.room.message", {"msgtype": "m.text", "body": "hi"}, sender=CREATOR),
                    ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.author.is_admin and out.author.power_level == CREATOR_POWER_LEVEL


def test_reply_and_thread() -> None:
    reply = {"msgtype": "m.text", "body": "yes",
             "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}}}
    out = translate(ev("m.room.message", reply), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted) and out.reply_to == "$orig" and out.thread_root is None
    in_thread = {"msgtype": "m.text", "body": "yes", "m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$latest"}}}
    out = translate(ev("m.room.message", in_thread), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.thread_root == "$root" and out.reply_to is None
    assert out.message.thread_id == "$root"
    assert thread_and_reply({"m.relates_to": {"rel_type": "m.thread", "event_id": "$r",
                                              "m.in_reply_to": {"event_id": "$x"}}}) == ("$r", "$x")


def test_edit_uses_new_content_and_original_id() -> None:
    seen = SeenEvents()
    translate(ev("m.room.message", {"msgtype": "m.text", "body": "old", "m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root"}}, event_id="$orig"), ROOM, Ctx(), seen)
    edit = {"msgtype": "m.text", "body": "* new text",
            "m.new_content": {"msgtype": "m.text", "body": "new text"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}
    out = translate(ev("m.room.message", edit, event_id="$edit"), ROOM, Ctx(), seen)
    assert isinstance(out, MessagePosted)
    assert out.edited and out.text == "new text"
    assert out.message.message_id == "$orig" and out.thread_root == "$root"
    assert seen.get("$orig").edits == ["$edit"]  # type: ignore[union-attr]
    forged = translate(ev("m.room.message", edit, sender=MOD, event_id="$f"), ROOM, Ctx(), seen)
    assert forged is None


def test_spoilered_message() -> None:
    content = {"msgtype": "m.text", "body": "hidden", "format": "org.matrix.custom.html",
               "formatted_body": '<span data-mx-spoiler="sh">hidden</span>'}
    out = translate(ev("m.room.message", content), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted) and out.spoilered and out.text == "hidden"


def test_redaction_reaction_and_notice() -> None:
    seen = SeenEvents()
    translate(ev("m.room.message", {"msgtype": "m.text", "body": "x"}, event_id="$m"), ROOM,
              Ctx(), seen)
    red = translate(ev("m.room.redaction", {"redacts": "$m"}, event_id="$r"), ROOM, Ctx(), seen)
    assert isinstance(red, MessageDeleted) and red.message.message_id == "$m" and red.by_author
    by_mod = translate(ev("m.room.redaction", {}, sender=MOD, redacts="$m"), ROOM, Ctx(), seen)
    assert isinstance(by_mod, MessageDeleted) and not by_mod.by_author
    react = translate(ev("m.reaction", {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": "$m", "key": "👍"}}), ROOM, Ctx(), seen)
    assert isinstance(react, ReactionAdded) and react.emoji == "👍"
    notice = translate(ev("m.room.message", {"msgtype": "m.notice", "body": "beep"}), ROOM,
                       Ctx(), seen)
    assert isinstance(notice, MessagePosted) and notice.text == "beep"
    assert not notice.author.is_bot  # a member's notice is read like text (issue 12, item 8)


@pytest.mark.parametrize(("etype", "content", "text"), [
    ("m.room.message", {"msgtype": "m.notice", "body": "I want to end it"}, "I want to end it"),
    ("m.room.message", {"msgtype": "m.emote", "body": "wants to end it"}, "wants to end it"),
    ("m.room.message", {"msgtype": "m.image", "body": "I want to end it", "filename": "a.png",
                        "url": "mxc://x/y"}, "I want to end it"),
    ("m.room.message", {"msgtype": "m.file", "body": "goodbye everyone", "url": "mxc://x/y"},
     "goodbye everyone"),
    ("m.room.message", {"msgtype": "m.video", "body": "last video", "filename": "v.mp4",
                        "file": {"url": "mxc://x/enc"}}, "last video"),
    ("m.room.message", {"msgtype": "m.audio", "body": "listen", "filename": "a.ogg",
                        "format": "org.matrix.custom.html",
                        "formatted_body": "<b>listen</b> please"}, "listen please"),
    ("m.sticker", {"body": "crying alone", "url": "mxc://x/s", "info": {}}, "crying alone"),
    ("m.room.message", {"msgtype": "org.example.custom", "body": "custom words"},
     "custom words"),
    ("m.room.message", {"msgtype": "m.location", "body": "where I am now",
                        "geo_uri": "geo:1,2"}, "where I am now"),
])
def test_text_in_every_message_type_is_read(etype: str, content: dict[str, Any],
                                            text: str) -> None:
    """Item 8: notices, emotes, captions, stickers and unknown types with a body are text."""
    out = translate(ev(etype, content), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.text == text and not out.author.is_bot


@pytest.mark.parametrize("content", [
    {"msgtype": "m.image", "body": "IMG_0001.jpg", "url": "mxc://x/y"},
    {"msgtype": "m.image", "body": "photo.png", "filename": "photo.png", "url": "mxc://x/y"},
    {"msgtype": "m.file", "body": "Screenshot 2026-11-30 at 10.00.00.png", "url": "mxc://x/y"},
])
def test_media_without_a_caption_has_no_text(content: dict[str, Any]) -> None:
    out = translate(ev("m.room.message", content), ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MessagePosted)
    assert out.text == "" and out.attachments == ("mxc://x/y",)


def test_edited_caption_is_read() -> None:
    seen = SeenEvents()
    edit = {"msgtype": "m.image", "body": "* new caption", "m.new_content": {
        "msgtype": "m.image", "body": "new caption", "filename": "a.png", "url": "mxc://x/y"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}
    out = translate(ev("m.room.message", edit, event_id="$edit"), ROOM, Ctx(), seen)
    assert isinstance(out, MessagePosted) and out.edited and out.text == "new caption"


def test_joins_only_real_ones() -> None:
    join = ev("m.room.member", {"membership": "join"}, state_key=ALICE)
    out = translate(join, ROOM, Ctx(), SeenEvents())
    assert isinstance(out, MemberJoined) and out.member.id == ALICE
    assert out.member.joined_at == 1_700_000_000.0
    rename = {**join, "unsigned": {"prev_content": {"membership": "join"}}}
    assert translate(rename, ROOM, Ctx(), SeenEvents()) is None
    assert translate({**join, "state_key": BOT, "sender": BOT}, ROOM, Ctx(), SeenEvents()) is None
    assert translate(join, "!dm:x", Ctx(dms={"!dm:x"}), SeenEvents()) is None
    invite = ev("m.room.member", {"membership": "invite"}, state_key=ALICE)
    assert translate(invite, ROOM, Ctx(), SeenEvents()) is None


def test_own_events_are_ignored() -> None:
    out = translate(ev("m.room.message", {"msgtype": "m.text", "body": "x"}, sender=BOT), ROOM,
                    Ctx(), SeenEvents())
    assert out is None


# ---------------------------------------------------------------------------
# errors and adapter helpers without a server
# ---------------------------------------------------------------------------


def test_error_translation() -> None:
    limited = translate_error(ErrorResponse("slow down", "M_LIMIT_EXCEEDED", 1500), "sending")
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5
    assert isinstance(translate_error(ErrorResponse("no", "M_FORBIDDEN"), "redact", "#r"),
                      MissingPermission)
    assert isinstance(translate_error(ErrorResponse("gone", "M_NOT_FOUND"), "x"), NotFound)
    other = translate_error(ErrorResponse("boom", "M_UNKNOWN"), "x")
    assert type(other) is PlatformError and other.retryable
    assert not translate_error(ErrorResponse("bad", "M_UNKNOWN_TOKEN"), "x").retryable


def _adapter(backfill_page: int = 100, **matrix: Any) -> MatrixAdapter:
    config = Config(platform="matrix", matrix=MatrixConfig(
        homeserver="http://127.0.0.1:1", user_id=BOT, **matrix))
    return MatrixAdapter(config, access_token="t", backfill_page=backfill_page)


def test_community_id_choice() -> None:
    assert _adapter().community_id == "example.org"
    assert _adapter(spaces=("!space:example.org",)).community_id == "!space:example.org"
    assert _adapter(community_id="harbour").community_id == "harbour"


def test_invites_only_from_allowed_servers() -> None:
    adapter = _adapter()
    assert adapter.invite_allowed("!a:example.org", ALICE)
    assert not adapter.invite_allowed("!a:evil.org", ALICE)
    assert not adapter.invite_allowed("!v12roomid", "@eve:evil.org")
    assert adapter.invite_allowed("!v12roomid", ALICE)
    other = _adapter(allowed_servers=("partner.org",))
    assert other.invite_allowed("!a:partner.org", "@p:partner.org")
    assert not other.invite_allowed("!a:example.org", ALICE)


def test_role_mentions_without_rooms() -> None:
    adapter = _adapter()
    assert adapter.role_mention("c", "@sam:example.org").startswith("[sam](https://matrix.to/#/")
    assert adapter.role_mention("c", "Peer supporters") == "@Peer supporters"


# ---------------------------------------------------------------------------
# the moderators' room must be private
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("join_rule", "history", "private"), [
    ("invite", "shared", True), ("private", "joined", True), (None, "shared", True),
    ("knock", "joined", False), ("restricted", "invited", False),
    ("knock_restricted", "joined", False), ("public", "shared", False), ("invite", "world_readable", False),
    ("public", "world_readable", False),
])
def test_room_privacy_rule(join_rule: str | None, history: str, private: bool) -> None:
    """Also noticed in issue 12: restricted and knock rooms let people in without an invite."""
    assert room_is_private(join_rule, history) is private


def _mods_adapter(join_rule: str | None, history: str = "shared") -> MatrixAdapter:
    """An adapter whose moderators' room is ROOM with this join rule (``None``: not joined)."""
    config = Config(platform="matrix", channels=ChannelsConfig(moderators=ROOM),
                    matrix=MatrixConfig(homeserver="http://127.0.0.1:1", user_id=BOT))
    adapter = MatrixAdapter(config, access_token="t")
    if join_rule is not None:
        room = MatrixRoom(ROOM, BOT)
        room.join_rule, room.history_visibility = join_rule, history
        adapter.client.rooms[ROOM] = room
    return adapter


def test_moderators_room_privacy_is_read_from_the_room_state() -> None:
    assert _mods_adapter("invite").moderators_channel_is_private("any") is True
    assert _mods_adapter("public").moderators_channel_is_private("any") is False
    assert _mods_adapter("invite", "world_readable").moderators_channel_is_private("any") is False
    assert _mods_adapter("restricted").moderators_channel_is_private("any") is False
    assert _mods_adapter("knock").moderators_channel_is_private("any") is False
    assert _mods_adapter(None).moderators_channel_is_private("any") is None  # not in the room


async def test_public_moderators_room_gets_an_error_and_one_warning(caplog) -> None:
    sent: list[tuple[str, Outgoing]] = []

    async def deliver(room_id: str, msg: Outgoing, *_: Any, **__: Any) -> None:
        sent.append((room_id, msg))

    private = _mods_adapter("invite")
    private._deliver = deliver  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        assert await private.check_moderators_room(ROOM) is True
    assert sent == [] and not caplog.records

    public = _mods_adapter("public", "world_readable")
    public._deliver = deliver  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        assert await public.check_moderators_room(ROOM) is False
    [(room_id, msg)] = sent
    assert room_id == ROOM and "visible to everyone" in msg.text and "made private" in msg.text
    assert not msg.mention_users and not msg.mention_roles
    [error] = [r.getMessage() for r in caplog.records]
    assert "not private" in error and "anyone can join" in error and "without joining" in error


def test_check_online_notices_a_moderators_room_without_moderators() -> None:
    adapter = _mods_adapter("invite")
    room = adapter.client.rooms[ROOM]
    room.add_member(ALICE, "alice", None)
    adapter._rooms.setdefault(ROOM, _RoomPower())
    adapter._rooms[ROOM].power_levels = {"users": {ALICE: 0, BOT: 100}}
    [problem] = adapter._check_moderators(ROOM, "Mods")
    assert "nobody in Mods has power level 50" in problem
    adapter._rooms[ROOM].power_levels = {"users": {ALICE: 50, BOT: 100}}
    assert adapter._check_moderators(ROOM, "Mods") == []


async def test_missing_moderators_room_names_the_config_key(caplog) -> None:
    adapter = _mods_adapter(None)  # Haven is not in the room
    with caplog.at_level(logging.ERROR):
        await adapter._after_first_sync()
    [error] = [r.getMessage() for r in caplog.records]
    assert "channels.moderators" in error and ROOM in error


# ---------------------------------------------------------------------------
# commands and direct chats (issue 12, items 7 and 9)
# ---------------------------------------------------------------------------

DM = "!dm:example.org"


@dataclass
class FakeCore:
    """Records what the adapter submits and which commands it runs."""

    submitted: list[Any] = field(default_factory=list)
    handled: list[Any] = field(default_factory=list)

    def submit(self, event: Any) -> None:
        self.submitted.append(event)

    async def handle(self, event: Any) -> Any:
        self.handled.append(event)
        return None


def _dm_adapter() -> tuple[MatrixAdapter, FakeCore]:
    adapter = _mods_adapter("invite")
    adapter.client.rooms[DM] = MatrixRoom(DM, BOT)
    adapter._dm_rooms[DM] = ALICE
    adapter._dms[ALICE] = DM
    core = FakeCore()
    adapter.attach(core)  # type: ignore[arg-type]

    async def answer(*_: Any) -> None:
        return None

    adapter._answer = answer  # type: ignore[method-assign]
    return adapter, core


async def _settle(adapter: MatrixAdapter) -> None:
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)
    if adapter._tasks:
        await asyncio.gather(*adapter._tasks)


async def test_a_replayed_command_runs_once_and_carries_its_event_id() -> None:
    adapter, core = _dm_adapter()
    cmd = ev("m.room.message", {"msgtype": "m.text", "body": "!haven alerts"}, sender=MOD,
             event_id="$cmd")
    adapter._on_timeline(ROOM, cmd)
    adapter._on_timeline(ROOM, cmd)  # a sync or catch-up delivers it again
    await _settle(adapter)
    assert [c.name for c in core.handled] == ["alerts"]
    assert core.handled[0].delivery_id == "$cmd"
    assert core.submitted == []  # a command is not a post


async def test_direct_messages_are_posts_unless_they_start_with_the_prefix() -> None:
    adapter, core = _dm_adapter()
    for i, body in enumerate(("I'm going to kill myself tonight, please help",
                              "Haven, I can't go on", f"{BOT}: help me")):
        adapter._on_timeline(DM, ev("m.room.message", {"msgtype": "m.text", "body": body},
                                    event_id=f"$dm{i}"))
    adapter._on_timeline(DM, ev("m.room.message", {"msgtype": "m.text",
                                                   "body": "!haven resources"}, event_id="$r"))
    await _settle(adapter)
    posts = [e for e in core.submitted if isinstance(e, MessagePosted)]
    assert [p.text for p in posts] == ["I'm going to kill myself tonight, please help",
                                       "Haven, I can't go on", f"{BOT}: help me"]
    assert all(p.channel.kind == "dm" and p.community_id == adapter.community_id for p in posts)
    assert [c.name for c in core.handled] == ["resources"]


async def test_text_that_names_no_command_is_still_read() -> None:
    adapter, core = _dm_adapter()
    adapter._display_name = "Haven"
    adapter._on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "Haven, I want to die"}))
    adapter._on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "!haven I want to die"},
                                  event_id="$e2"))
    adapter._on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "Haven, help me, I want to die"},
                                  event_id="$e3"))
    adapter._on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "Haven: alerts"}, event_id="$e4"))
    adapter._on_timeline(ROOM, ev("m.room.message", {"msgtype": "m.text",
                                                     "body": "!haven claim"}, event_id="$e5"))
    await _settle(adapter)
    assert [p.text for p in core.submitted] == ["Haven, I want to die", "!haven I want to die",
                                                "Haven, help me, I want to die"]
    assert [c.name for c in core.handled] == ["alerts"]  # `!haven claim` only gets a usage hint


# ---------------------------------------------------------------------------
# fuzz: malformed payloads are logged and skipped (issue 12)
# ---------------------------------------------------------------------------

def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=3),
                     st.dictionaries(st.text(max_size=8), inner, max_size=3))


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    _nested, max_leaves=8)
_TYPES = st.sampled_from(["m.room.message", "m.room.member", "m.room.redaction", "m.reaction",
                          "m.sticker", "m.room.create", "m.room.power_levels",
                          "m.room.encrypted", "m.room.name"]) | _ANY
_MSGTYPES = st.sampled_from(["m.text", "m.notice", "m.emote", "m.image", "m.file", "m.video",
                             "m.audio", "m.location", "x.custom"]) | _ANY
_FIELD = st.sampled_from(["body", "msgtype", "format", "formatted_body", "filename", "url",
                          "file", "m.relates_to", "m.new_content", "membership", "redacts",
                          "users", "users_default", "events", "room_version",
                          "additional_creators", "creator", "displayname"])


@st.composite
def _content(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(_ANY)
    content: dict[str, Any] = {"msgtype": draw(_MSGTYPES)}
    for key in draw(st.lists(_FIELD, max_size=5)):
        content[key] = draw(_ANY | st.text(max_size=30))
    if draw(st.booleans()):
        content["m.relates_to"] = draw(st.fixed_dictionaries({}, optional={
            "rel_type": st.sampled_from(["m.replace", "m.thread", "m.annotation"]) | _ANY,
            "event_id": st.just("$e0") | _ANY, "key": _ANY,
            "m.in_reply_to": _ANY | st.fixed_dictionaries({"event_id": _ANY})}))
    if draw(st.booleans()):
        content["body"] = draw(st.sampled_from(["!haven alerts", "!haven", "!haven warn",
                                                f"{BOT}: help", "hi"]) | st.text(max_size=30))
    return content


@st.composite
def _payload(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, value in (("type", _TYPES), ("content", _content()),
                       ("sender", st.sampled_from([ALICE, MOD, BOT]) | _ANY),
                       ("event_id", st.sampled_from(["$e0", "$e1"]) | _ANY),
                       ("origin_server_ts", st.integers() | _ANY),
                       ("state_key", st.sampled_from(["", ALICE, BOT]) | _ANY),
                       ("redacts", _ANY), ("unsigned", _ANY)):
        if draw(st.booleans()):
            raw[key] = draw(value)
    return raw


@pytest.mark.fuzz
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(_payload(), min_size=1, max_size=4))
async def test_fuzz_malformed_matrix_events_never_break_the_sync(
        events: list[dict[str, Any]]) -> None:
    """Missing and wrongly-typed fields: logged and skipped, never an exception out of the
    adapter's event entry points (state, own-join cut, timeline), and whatever is handed
    on to the core is well-formed."""
    adapter, core = _dm_adapter()

    async def no_command(*_: Any) -> None:
        return None

    adapter._run_command = no_command  # type: ignore[method-assign]
    for raw in events:
        for room in (ROOM, DM):
            adapter._note_state_safely(room, raw)
    adapter._after_own_join(events)
    for raw in events:
        for room in (ROOM, DM):
            adapter._on_timeline(room, raw)
    for room in (ROOM, DM):
        adapter.member(room, ALICE)  # power levels noted from junk still compute
    await _settle(adapter)
    for event in core.submitted:
        if isinstance(event, MessagePosted):
            assert isinstance(event.text, str) and isinstance(event.message.message_id, str)
            assert isinstance(event.author.id, str)


@pytest.mark.fuzz
@settings(max_examples=150, deadline=None)
@given(raw=_payload())
def test_fuzz_translation_itself_never_raises(raw: dict[str, Any]) -> None:
    """The pure translation copes with any payload (the entry point's guard is a last resort)."""
    translate(raw, ROOM, Ctx(), SeenEvents())


# ---------------------------------------------------------------------------
# catch-up after downtime (issue 12, item 2)
# ---------------------------------------------------------------------------


@dataclass
class _Raw:
    source: dict[str, Any]


async def test_catch_up_that_keeps_failing_is_reported_not_silently_dropped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nio import RoomMessagesError, RoomMessagesResponse

    import bot.adapters.matrix_adapter as matrix_adapter

    monkeypatch.setattr(matrix_adapter, "BACKFILL_RETRY_DELAY", 0.0)
    adapter = _adapter()
    asked: list[str] = []

    async def room_messages(room_id: str, start: str, **_: Any) -> Any:
        asked.append(start)
        if start == "newest":
            chunk = [_Raw(ev("m.room.message", {"msgtype": "m.text", "body": f"m{i}"},
                             event_id=f"$m{i}")) for i in range(3)]
            return RoomMessagesResponse(room_id, chunk, "newest", "older")
        return RoomMessagesError("server trouble", "M_UNKNOWN")

    adapter.client.room_messages = room_messages  # type: ignore[method-assign]
    adapter._synced_at = 1_699_990_000.0
    got = await adapter._backfill(ROOM, "newest", "saved")
    assert [e.source["event_id"] for e in got] == ["$m2", "$m1", "$m0"]  # oldest first
    assert asked == ["newest"] + ["older"] * matrix_adapter.BACKFILL_ATTEMPTS
    assert adapter._unread == [(ROOM, 1_699_990_000.0, 1_700_000_000.0)]
    sent: list[tuple[str, str]] = []

    class Messenger:
        async def send(self, community: str, channel: str, msg: Outgoing) -> None:
            sent.append((channel, msg.text))

    from bot.core.templates import Templates

    class Core:
        templates = Templates()
        messenger = Messenger()

    adapter.attach(Core())  # type: ignore[arg-type]
    await adapter._report_unread()
    [(channel, text)] = sent
    assert channel == adapter.config.channels.moderators
    assert "could not read everything" in text and "2023-11-14" in text and "UTC" in text
    assert adapter._unread == []


async def test_catch_up_pages_until_the_saved_position() -> None:
    from nio import RoomMessagesResponse

    adapter = _adapter(backfill_page=2)
    pages = {"p0": ("p1", 2), "p1": ("p2", 2), "p2": (None, 1)}
    limits: list[int] = []

    async def room_messages(room_id: str, start: str, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        end, n = pages[start]
        chunk = [_Raw(ev("m.room.message", {"msgtype": "m.text", "body": "x"},
                         event_id=f"${start}-{i}")) for i in range(n)]
        return RoomMessagesResponse(room_id, chunk, start, end)

    adapter.client.room_messages = room_messages  # type: ignore[method-assign]
    got = await adapter._backfill(ROOM, "p0", "saved")
    assert len(got) == 5 and limits == [2, 2, 2] and adapter._unread == []

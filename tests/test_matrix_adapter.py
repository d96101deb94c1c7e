"""Unit tests of the Matrix adapter's pure parts: power levels, formatting, event translation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from nio import ErrorResponse, MatrixRoom

from bot.adapters.matrix_adapter import MatrixAdapter, room_is_private, translate_error
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
from bot.config import ChannelsConfig, Config, MatrixConfig
from bot.errors import MissingPermission, NotFound, PlatformError, RateLimited
from bot.events import (
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


def test_render_alert_adds_command_hints() -> None:
    content = render(Outgoing("Crisis alert", alert_id=7), prefix="!haven")
    assert "!haven claim 7" in content["body"]
    assert "!haven resolve 7" in content["body"]
    assert "<code>!haven claim 7</code>" in content["formatted_body"]


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
    assert isinstance(notice, MessagePosted) and notice.author.is_bot


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


def _adapter(**matrix: Any) -> MatrixAdapter:
    config = Config(platform="matrix", matrix=MatrixConfig(
        homeserver="http://127.0.0.1:1", user_id=BOT, **matrix))
    return MatrixAdapter(config, access_token="t")


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
    ("invite", "shared", True), ("knock", "joined", True), ("restricted", "invited", True),
    ("public", "shared", False), ("invite", "world_readable", False),
    ("public", "world_readable", False),
])
def test_room_privacy_rule(join_rule: str, history: str, private: bool) -> None:
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


async def test_missing_moderators_room_names_the_config_key(caplog) -> None:
    adapter = _mods_adapter(None)  # Haven is not in the room
    with caplog.at_level(logging.ERROR):
        await adapter._after_first_sync()
    [error] = [r.getMessage() for r in caplog.records]
    assert "channels.moderators" in error and ROOM in error

"""bot.features.care: exposure settings, load awareness, break notes and after-care."""

from __future__ import annotations

import pytest

from bot.core.errors import ConfigError
from tests.conftest import Harness
from tests.fakes import command, member, post

MOD2 = member("mod2", "Ren", roles=("Moderators",))
H = 3600.0


async def crisis(harness: Harness, who: str) -> None:
    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member(who)))


async def test_a_moderator_chooses_how_much_alert_text_they_see(harness: Harness) -> None:
    core = harness.core
    r = await core.handle(command("excerpts", harness.clock.now(), mode="spoiler"))
    assert r.ok and "behind a spoiler" in r.text
    care = core.features["care"]
    assert await care.excerpt_mode("c1", ["mod1"]) == "spoiler"
    assert await care.excerpt_mode("c1", ["someone-else"]) == "on"  # the community default
    await core.handle(command("excerpts", harness.clock.now(), invoker=MOD2, mode="off"))
    assert await care.excerpt_mode("c1", ["mod1", "mod2"]) == "off"  # the most protective
    await core.handle(command("excerpts", harness.clock.now(), invoker=MOD2, mode="default"))
    assert await care.excerpt_mode("c1", ["mod2"]) == "on"
    # members cannot set it, and the choice is theirs to see in mydata
    refused = await core.handle(command("excerpts", harness.clock.now(), invoker=member("m"),
                                        mode="off"))
    assert not refused.ok
    data = await core.store.privacy.export("c1", "mod1")
    assert data["duty"][0]["excerpts"] == "spoiler"


async def test_a_break_note_after_several_crisis_alerts(harness: Harness) -> None:
    core = harness.core
    await core.handle(command("duty", harness.clock.now(), invoker=MOD2, state="on"))
    for i in range(3):
        await crisis(harness, f"p{i}")
        await core.handle(command("claim", harness.clock.now(), alert=str(i + 1)))
        await core.handle(command("resolve", harness.clock.now(), alert=str(i + 1)))
        await core.advance(600)
    notes = [c for c in harness.platform.private_to("mod1") if "take a break" in c.text]
    assert len(notes) == 1
    assert "3 crisis alerts" in notes[0].text and "<@mod2> also on duty" in notes[0].text
    # never takes anyone off duty; one note per window
    await crisis(harness, "p9")
    await core.handle(command("claim", harness.clock.now(), alert="4"))
    assert len([c for c in harness.platform.private_to("mod1") if "take a break" in c.text]) == 1


async def test_after_a_crisis_alert_a_word_of_thanks_and_where_to_find_support(
        harness_factory) -> None:
    h = harness_factory("care: {resources: ['Moderators peer group: Thursdays 8pm']}")
    await h.start()
    try:
        await crisis(h, "cas")
        await h.core.handle(command("resolve", h.clock.now(), alert="1"))
        await h.core.handle(command("resolve", h.clock.now(), alert="1"))  # again: no repeat
        [word] = [c for c in h.platform.private_to("mod1") if "Thank you for looking" in c.text]
        assert "Thursdays 8pm" in word.text and "`/checkin`" in word.text
        r = await h.core.handle(command("checkin", h.clock.now()))
        assert r.ok
        [ask] = [c for c in h.platform.sent_to("mod-alerts") if "checking in" in c.text]
        assert "<@mod1>" in ask.text and not ask.msg.mention_roles  # quietly: no role ping
    finally:
        await h.stop()


async def test_a_long_time_on_duty_gets_a_note_once_and_never_an_automatic_off(
        harness: Harness) -> None:
    core = harness.core
    await core.handle(command("duty", harness.clock.now(), state="on"))
    await core.advance(7 * H)
    assert not [c for c in harness.platform.private_to("mod1") if "on duty for" in c.text]
    await core.advance(2 * H)
    [note] = [c for c in harness.platform.private_to("mod1") if "on duty for" in c.text]
    assert "8 hours" in note.text and "`/duty off`" in note.text
    r = await core.handle(command("duty", harness.clock.now(), state="list"))
    assert "<@mod1>" in r.text  # still on duty
    # going off and on again starts a new stint; going off cancels its check
    await core.handle(command("duty", harness.clock.now(), state="off"))
    await core.advance(9 * H)
    assert len([c for c in harness.platform.private_to("mod1") if "on duty for" in c.text]) == 1


async def test_team_figures_per_moderator(harness_factory) -> None:
    h = harness_factory("community: {name: Harbour, countries: [GB], timezone: Europe/London}")
    await h.start()
    try:
        core = h.core
        await crisis(h, "a")
        await core.handle(command("claim", h.clock.now(), alert="1"))
        await core.handle(command("resolve", h.clock.now(), invoker=MOD2, alert="1"))
        r = await core.handle(command("team", h.clock.now()))
        assert "<@mod1>: claimed 1/1, resolved 0/0, crisis 1/1" in r.text
        assert "<@mod2>: claimed 0/0, resolved 1/1, crisis 1/1" in r.text
        await core.advance(2 * 86400)
        r = await core.handle(command("team", h.clock.now()))
        assert "<@mod1>: claimed 0/1" in r.text
        rows = await core.features["care"].load("c1")
        assert {row.user_id for row in rows} == {"mod1", "mod2"}
    finally:
        await h.stop()


async def test_night_is_in_community_time(harness_factory) -> None:
    h = harness_factory("community: {name: Harbour, countries: [GB], timezone: Asia/Tokyo}")
    await h.start()
    try:
        core = h.core  # the virtual clock starts at 09:00 UTC: 18:00 in Tokyo, not night
        await crisis(h, "a")
        await core.handle(command("claim", h.clock.now(), alert="1"))
        await core.advance(5 * H)  # 23:00 in Tokyo
        await crisis(h, "b")
        await core.handle(command("claim", h.clock.now(), alert="2"))
        [row] = await core.features["care"].load("c1")
        assert row.night == (1, 1) and row.claimed == (2, 2)
    finally:
        await h.stop()


@pytest.mark.parametrize(("snippet", "key"), [
    ("care: {excerpts: maybe}", "care.excerpts"),
    ("care: {break_after: 0}", "care.break_after"),
    ("care: {long_duty: soon}", "care.long_duty"),
    ("care: {night_starts: '25:00'}", "care.night_starts"),
])
def test_bad_care_settings_are_refused_with_their_key(harness_factory, snippet: str,
                                                      key: str) -> None:
    with pytest.raises(ConfigError) as info:
        harness_factory(snippet)
    assert [p.key for p in info.value.problems] == [key]


@pytest.mark.parametrize(("mode", "plain", "spoilered"), [
    ("on", True, False), ("spoiler", False, True), ("off", False, False)])
async def test_alerts_show_the_text_as_the_moderator_on_duty_chose(
        harness: Harness, mode: str, plain: bool, spoilered: bool) -> None:
    core = harness.core
    await core.handle(command("duty", harness.clock.now(), state="on"))
    await core.handle(command("excerpts", harness.clock.now(), mode=mode))
    await crisis(harness, "cas")
    [alert] = [c for c in harness.platform.sent_to("mod-alerts") if "New alert" in c.text]
    # who, where and how urgent are always there
    assert "<@mod1>" in alert.text and "<@cas>" in alert.text and "(critical)" in alert.text
    assert ("kill myself" in alert.text) is plain
    assert (alert.msg.spoiler is not None and "kill myself" in alert.msg.spoiler_text) is spoilered
    if spoilered:
        assert alert.msg.spoiler.startswith("Crisis alert")
    if mode == "off":
        assert "not shown here" in alert.text and not alert.msg.spoiler_text
    # the state update keeps the same exposure
    await core.handle(command("claim", harness.clock.now(), alert="1"))
    [edit] = harness.platform.of("edit")
    assert ("kill myself" in edit.text) is plain
    assert ("kill myself" in (edit.msg.spoiler_text or "")) is spoilered


async def test_stats_show_each_moderators_load(harness: Harness) -> None:
    core = harness.core
    await crisis(harness, "a")
    await core.handle(command("claim", harness.clock.now(), alert="1"))
    r = await core.handle(command("stats", harness.clock.now()))
    assert "Moderator load (last 24 hours / 7 days)" in r.text
    assert "- <@mod1>: claimed 1/1, resolved 0/0, crisis 1/1, at night 0/0" in r.text

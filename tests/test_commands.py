"""Platform-neutral commands: permissions in the core, arguments, moderator toolkit."""

from __future__ import annotations

import json

import pytest

from bot.core import commandspec
from bot.core.commands import member_id
from bot.core.commandspec import CommandSpec
from bot.core.errors import CommandError
from bot.core.ports import Capability
from tests.conftest import Harness
from tests.fakes import MOD, channel, command, member, post
from tests.golden import COMMANDS

MEMBER = member("sam", "Sam")


def test_member_id_forms() -> None:
    assert member_id("<@123>") == "123"
    assert member_id("<@!123>") == "123"
    assert member_id("@sam:example.org") == "@sam:example.org"


def _valid_options(spec: CommandSpec) -> dict[str, str]:
    """Options that pass validation for any command, so only the permission check can refuse."""
    sample = {"int": "1", "member": "riley", "text": "some words"}
    return {p.name: p.choices[0] if p.choices else sample[p.kind] for p in spec.params}


def test_only_the_member_commands_are_open_to_everyone() -> None:
    # a new command is moderator-only unless it is deliberately added here
    assert {c.name for c in COMMANDS if not c.moderator_only} == {
        "help", "resources", "mydata", "forgetme"}


@pytest.mark.parametrize("spec", [c for c in COMMANDS if c.moderator_only],
                         ids=lambda c: c.name)
async def test_every_moderator_command_refuses_members(harness: Harness,
                                                       spec: CommandSpec) -> None:
    harness.platform.add_member(member("riley", "Riley"))
    opts = _valid_options(spec)
    commandspec.validate_options(spec, opts)
    result = await harness.core.handle(command(spec.name, harness.clock.now(), invoker=MEMBER,
                                               **opts))
    assert not result.ok and "moderators only" in result.text
    assert harness.platform.calls == []
    # the same command and options from a moderator get past the check
    mod = await harness.core.handle(command(spec.name, harness.clock.now(), **opts))
    assert "moderators only" not in mod.text


async def test_buttons_refuse_members(harness: Harness) -> None:
    from bot.core.events import ButtonPressed

    await harness.core.handle(post("i want to kill myself", harness.clock.now(),
                                   author=member("cas")))
    for action in ("claim", "resolve"):
        r = await harness.core.commands.button(ButtonPressed(
            "c1", harness.clock.now(), channel=channel("mod-alerts"), member=MEMBER,
            alert_id=1, action=action))
        assert not r.ok and "Only moderators" in r.text
    alert = await harness.core.store.alerts.get_alert(1)
    assert alert.state == "open"


async def test_member_commands_work_for_members(harness: Harness) -> None:
    core = harness.core
    help_ = await core.handle(command("help", harness.clock.now(), invoker=MEMBER))
    assert "resources" in help_.text and "claim" not in help_.text
    res = await core.handle(command("resources", harness.clock.now(), invoker=MEMBER))
    assert "116 123" in res.text and "findahelpline.com" in res.text
    mod_help = await core.handle(command("help", harness.clock.now()))
    assert "claim" in mod_help.text


async def test_bad_arguments_get_a_clear_error(harness: Harness) -> None:
    core = harness.core
    r = await core.handle(command("claim", harness.clock.now(), alert="abc"))
    assert not r.ok and "whole number" in r.text
    r = await core.handle(command("duty", harness.clock.now(), state="maybe"))
    assert not r.ok and "on, off, list" in r.text
    r = await core.handle(command("nonsense", harness.clock.now()))
    assert not r.ok and "Unknown command" in r.text
    r = await core.handle(command("claim", harness.clock.now(), alert="99"))
    assert "no alert #99" in r.text
    r = await core.handle(command("quiet", harness.clock.now(), hours="late"))
    assert not r.ok and "HH:MM" in r.text
    r = await core.handle(command("timeout", harness.clock.now(), member="x", minutes="0", reason="r"))
    assert not r.ok


async def test_rules_test_is_a_dry_run(harness: Harness) -> None:
    r = await harness.core.handle(command("rules test", harness.clock.now(),
                                          text="i want to kill myself"))
    assert "t-crisis" in r.text and "Dry run" in r.text and "alert_moderators" in r.text
    assert harness.platform.calls == []
    r = await harness.core.handle(command("rules test", harness.clock.now(), text="nice weather"))
    assert "No rule matches" in r.text


async def test_rules_reload_keeps_old_rules_on_error(tmp_path, harness_factory) -> None:
    import shutil

    from tests.conftest import TEST_RULES, Harness, make_config

    rules = tmp_path / "rules"
    shutil.copytree(TEST_RULES, rules)
    h = Harness(make_config(tmp_path, rules=rules))
    core = await h.start()
    try:
        before = len(core.rulebook.rules)
        (rules / "broken.yaml").write_text("- id: bad\n  category: nope\n")
        r = await core.handle(command("rules reload", h.clock.now()))
        assert not r.ok and "NOT reloaded" in r.text and "broken.yaml" in r.text
        assert len(core.rulebook.rules) == before
        (rules / "broken.yaml").write_text(
            "- id: extra\n  category: spam\n  severity: low\n  description: x\n"
            "  match: {any: [{keywords: [buy now]}]}\n  actions: [log]\n")
        r = await core.handle(command("rules reload", h.clock.now()))
        assert r.ok and len(core.rulebook.rules) == before + 1
    finally:
        await h.stop()


RILEY = member("riley", "Riley")


async def test_warn_note_case_history(harness: Harness) -> None:
    core = harness.core
    harness.platform.add_member(RILEY)
    r = await core.handle(command("warn", harness.clock.now(), member="<@riley>",
                                  reason="t-hostility called someone names"))
    assert "case #1" in r.text and "Riley" in r.text
    [dm] = harness.platform.private_to("riley")
    assert dm.text.startswith("Hi Riley,")  # the display name, never the id
    # the rule's own words, every time
    assert "t-hostility" in dm.text and "be kind" in dm.text
    await core.handle(command("note", harness.clock.now(), member="riley",
                              text="seems to be having a hard week"))
    hist = await core.handle(command("history", harness.clock.now(), member="riley"))
    assert "2 cases about Riley" in hist.text and "warn" in hist.text and "note" in hist.text
    case = await core.handle(command("case", harness.clock.now(), id="2"))
    assert "note" in case.text and "hard week" in case.text
    # the member never sees notes
    assert len(harness.platform.private_to("riley")) == 1


async def test_timeout_command(harness: Harness) -> None:
    core = harness.core
    harness.platform.add_member(RILEY)
    r = await core.handle(command("timeout", harness.clock.now(), member="riley", minutes="30",
                                  reason="cooling off after an argument"))
    assert r.ok and "Timed out Riley" in r.text and "30 minutes" in r.text
    [t] = harness.platform.of("timeout")
    assert t.target == "riley" and t.extra["seconds"] == 1800
    [case] = await core.store.cases.cases_for("c1", "riley")
    assert case.action == "timeout" and case.actor_id == "mod1" and case.target_name == "Riley"
    assert harness.platform.private_to("riley")[0].text.startswith("Hi Riley,")
    assert not harness.platform.of("lift_timeout")  # the platform ends it by itself


async def test_timeout_is_lifted_by_a_durable_job_where_the_platform_cannot(
        harness: Harness) -> None:
    harness.platform.capabilities -= {Capability.TIMEOUT_EXPIRES}
    core = harness.core
    harness.platform.add_member(RILEY)
    await core.handle(command("timeout", harness.clock.now(), member="riley", minutes="30",
                              reason="cooling off"))
    [job] = [j for j in await core.store.jobs.pending_jobs() if j.kind == "lift_timeout"]
    assert job.key == "riley"
    core = await harness.restart()  # durable: survives a restart
    await core.advance(29 * 60)
    assert not harness.platform.of("lift_timeout")
    await core.advance(2 * 60)
    [lift] = harness.platform.of("lift_timeout")
    assert lift.target == "riley"


async def test_duty_and_handover(harness: Harness) -> None:
    core = harness.core
    r = await core.handle(command("duty", harness.clock.now(), state="list"))
    assert "Nobody is on duty" in r.text
    await core.handle(command("duty", harness.clock.now(), state="on"))
    r = await core.handle(command("duty", harness.clock.now(), state="list"))
    assert "<@mod1>" in r.text
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    await core.handle(command("handover", harness.clock.now(), text="Cas needs a check-in"))
    await core.advance(60)
    await core.handle(post("anyone?", harness.clock.now(), author=member("a"), where="support"))
    r = await core.handle(command("handover", harness.clock.now()))
    assert "Cas needs a check-in" in r.text
    assert "1 post waiting" in r.text and "alert #1" in r.text


async def test_stats_with_chart(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("q1", harness.clock.now(), author=member("a"), where="support",
                           msg_id="q1"))
    await core.advance(1800)
    await core.handle(post("answer", harness.clock.now(), author=member("b"), where="support",
                           reply_to="q1"))
    r = await core.handle(command("stats", harness.clock.now(), days="7"))
    assert "Support posts: 1, answered 1" in r.text and "within 2 h: 100%" in r.text
    [png] = r.attachments
    assert png.data.startswith(b"\x89PNG") and png.content_type == "image/png"


async def test_mydata_is_complete_and_private(harness: Harness) -> None:
    core = harness.core
    cas = member("cas")
    await core.handle(post("i want to kill myself", harness.clock.now(), author=cas))
    for i in range(40):  # plenty of data: nothing may be cut off
        await core.handle(post(f"support post number {i} " * 5, harness.clock.now(), author=cas,
                               where="support"))
    r = await core.handle(command("mydata", harness.clock.now(), invoker=cas))
    assert r.ok
    dm = harness.platform.private_to("cas")[-1]
    [attachment] = dm.msg.attachments
    payload = json.loads(attachment.data)
    assert payload["alerts_about_you"][0]["kind"] == "crisis"
    assert len(payload["support_posts"]) == 40
    # without attachments, the JSON comes in parts that join up again
    harness.platform.capabilities -= {Capability.ATTACHMENTS}
    harness.platform.clear()
    await core.handle(command("mydata", harness.clock.now(), invoker=cas))
    parts = [c.text.split("```json\n", 1)[1].rsplit("\n```", 1)[0]
             for c in harness.platform.private_to("cas")[1:]]
    assert json.loads("".join(parts)) == payload


async def test_forgetme_keeps_open_alerts_until_resolved(harness: Harness) -> None:
    core = harness.core
    cas = member("cas")
    await core.handle(post("i want to kill myself", harness.clock.now(), author=cas))
    r = await core.handle(command("forgetme", harness.clock.now(), invoker=cas, confirm="confirm"))
    assert "deleted" in r.text and "still looking after" in r.text
    data = await core.store.privacy.export("c1", "cas")
    assert data["member"] == [] and data["signposting"] == []
    alert = await core.store.alerts.get_alert(1)
    assert alert.member_id == "cas"  # moderators can still reach them
    await core.advance(601)
    assert "<@cas>" in harness.platform.sent_to("mod-alerts")[-1].text  # re-escalation
    await core.handle(command("resolve", harness.clock.now(), alert="1", note="ok"))
    alert = await core.store.alerts.get_alert(1)
    assert alert.member_id.startswith("forgotten-") and alert.excerpt is None
    assert "cas" not in alert.member_id


async def test_mydata_with_closed_dms(harness: Harness) -> None:
    harness.platform.closed_dms.add("sam")
    r = await harness.core.handle(command("mydata", harness.clock.now(), invoker=MEMBER))
    assert not r.ok and "couldn't message you" in r.text


async def test_retention_purges_old_text(harness: Harness) -> None:
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    await core.advance(91 * 86400)
    alert = await core.store.alerts.get_alert(1)
    assert alert.excerpt is None and alert.kind == "crisis"


async def test_moderator_by_admin_flag(harness: Harness) -> None:
    admin = member("owner", admin=True)
    r = await harness.core.handle(command("alerts", harness.clock.now(), invoker=admin))
    assert r.ok
    assert MOD.roles == frozenset({"Moderators"})


@pytest.mark.parametrize("name,opts", [
    ("warn", {"member": "bob", "reason": "be kind"}),
    ("timeout", {"member": "bob", "minutes": "10", "reason": "cool off"}),
    ("note", {"member": "bob", "text": "rough week"}),
    ("history", {"member": "bob"}),
])
async def test_commands_refuse_a_member_who_is_not_here(harness: Harness, name: str,
                                                        opts: dict) -> None:
    # field report: `warn bob` answered "Warned bob (case #10)" but warned nobody
    result = await harness.core.handle(command(name, harness.clock.now(), **opts))
    assert not result.ok
    assert "I can't find a member called 'bob' here" in result.text
    assert harness.platform.calls == []
    assert await harness.core.store.cases.cases_for("c1", "bob") == []


async def test_members_are_resolved_by_name_mention_or_id(harness: Harness) -> None:
    core = harness.core
    harness.platform.add_member(member("1577", "Robin"))
    for query in ("Robin", "<@1577>", "1577", "robin"):
        r = await core.handle(command("warn", harness.clock.now(), member=query, reason="be kind"))
        assert r.ok and "Warned Robin (<@1577>)" in r.text
    dms = harness.platform.private_to("1577")
    assert len(dms) == 4 and all(d.text.startswith("Hi Robin,") for d in dms)
    assert "1577" not in dms[0].text.split("\n")[0]
    r = await core.handle(command("case", harness.clock.now(), id="1"))
    assert "Member: Robin (<@1577>)" in r.text


async def test_history_of_a_member_who_left_is_still_readable(harness: Harness) -> None:
    core = harness.core
    harness.platform.add_member(RILEY)
    await core.handle(command("note", harness.clock.now(), member="riley", text="rough week"))
    del harness.platform.members["riley"]  # they left the community
    r = await core.handle(command("history", harness.clock.now(), member="riley"))
    assert r.ok and "1 case about Riley" in r.text


async def test_stats_names_moderators_not_on_the_roster(harness: Harness) -> None:
    core = harness.core
    harness.platform.add_member(member("9001", "Lee"))
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    await core.handle(command("claim", harness.clock.now(), alert="1",
                              invoker=member("9001", "Lee", roles=("Moderators",))))
    r = await core.handle(command("stats", harness.clock.now(), days="1"))
    assert "Alerts claimed per moderator: Lee: 1" in r.text
    assert "last 1 day**" in r.text and "1 days" not in r.text


async def test_forgetme_asks_for_confirmation_first(harness: Harness) -> None:
    core = harness.core
    cas = member("cas")
    await core.handle(post("i want to kill myself", harness.clock.now(), author=cas))
    await core.handle(post("anyone around?", harness.clock.now(), author=cas, where="support"))
    before = await core.store.privacy.export("c1", "cas")
    r = await core.handle(command("forgetme", harness.clock.now(), invoker=cas))
    assert r.ok and "This would delete" in r.text and "1 support post" in r.text
    assert "1 moderation record about you is kept" in r.text
    assert "`forgetme confirm`" in r.text and "cannot be undone" in r.text
    assert await core.store.privacy.export("c1", "cas") == before  # nothing deleted yet
    r = await core.handle(command("forgetme", harness.clock.now(), invoker=cas, confirm="confirm"))
    assert r.text.startswith("Done: Haven has deleted")
    assert (await core.store.privacy.export("c1", "cas"))["support_posts"] == []


@pytest.mark.parametrize("platform,hint", [
    ("matrix", "send `!haven forgetme confirm`"),
    ("discord", "run `/forgetme` again and choose **confirm**"),
])
async def test_forgetme_hint_fits_the_platform(harness: Harness, platform: str,
                                               hint: str) -> None:
    harness.platform.name = platform
    harness.platform.command_prefix = "!haven" if platform == "matrix" else "/"
    r = await harness.core.handle(command("forgetme", harness.clock.now(), invoker=MEMBER))
    assert hint in r.text


def test_forgetme_confirm_parses_as_text() -> None:
    spec, opts = commandspec.parse_command_text("forgetme confirm", COMMANDS)
    assert spec.name == "forgetme" and opts == {"confirm": "confirm"}
    with pytest.raises(CommandError):
        commandspec.parse_command_text("forgetme now", COMMANDS)


@pytest.mark.parametrize("platform,prefix", [("matrix", "!haven "), ("discord", "/"),
                                             ("fake", "")])
async def test_help_shows_commands_as_they_are_typed_here(harness: Harness, platform: str,
                                                          prefix: str) -> None:
    harness.platform.name = platform
    harness.platform.command_prefix = "!haven" if platform == "matrix" else "/"
    r = await harness.core.handle(command("help", harness.clock.now(), invoker=MEMBER))
    assert f"- `{prefix}resources`" in r.text and f"- `{prefix}forgetme [confirm]`" in r.text
    r = await harness.core.handle(command("mydata", harness.clock.now(), invoker=MEMBER))
    intro = harness.platform.private_to("sam")[0].text
    assert (f"`{prefix}forgetme`" if platform != "discord" else "`/forgetme`") in intro


async def test_a_failing_member_lookup_is_a_clear_refusal(harness: Harness) -> None:
    from tests.fakes import FlakyError

    harness.platform.fail("resolve_member", FlakyError("HTTP 503"))
    r = await harness.core.handle(command("warn", harness.clock.now(), member="riley",
                                          reason="be kind"))
    assert not r.ok and "couldn't look up members" in r.text and "nothing was done" in r.text
    assert await harness.core.store.cases.cases_for("c1", "riley") == []


async def test_counts_read_naturally(harness: Harness) -> None:
    # field report: "last 1 days"; the same for every count Haven prints
    core = harness.core
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    r = await core.handle(command("alerts", harness.clock.now()))
    assert r.text.startswith("**1 alert needs attention:**")
    await core.handle(post("anyone?", harness.clock.now(), author=member("a"), where="support"))
    r = await core.handle(command("unanswered", harness.clock.now()))
    assert r.text.startswith("**1 post waiting for a reply:**")
    assert "(s)" not in (await core.handle(command("handover", harness.clock.now()))).text


async def test_mydata_summary_reads_naturally(harness: Harness) -> None:
    cas = member("cas")
    await harness.core.handle(post("i want to kill myself", harness.clock.now(), author=cas))
    await harness.core.handle(post("anyone?", harness.clock.now(), author=cas, where="support"))
    await harness.core.handle(command("mydata", harness.clock.now(), invoker=cas))
    intro = harness.platform.private_to("cas")[-1].text
    assert "1 support post," in intro and "1 alert about you" in intro
    assert "0 moderation cases about you" in intro and "1 member record" in intro


async def test_command_answers_come_from_templates(harness_factory) -> None:
    h = harness_factory("templates:\n"
                        "  warn_done: 'Verwarnt: {member}, Fall {case}.'\n"
                        "  duty_off: 'Danke!'\n"
                        "  rules_test_none: 'Keine Regel.'\n"
                        "  stats_no_figure: 'k. A.'\n"
                        "  feedback_text_missing: 'Text fehlt.'\n"
                        "  forgetme_nothing: 'nichts'\n")
    core = await h.start()
    try:
        h.platform.add_member(RILEY)
        now = h.clock.now()
        r = await core.handle(command("warn", now, member="<@riley>", reason="be nice"))
        assert r.text == "Verwarnt: Riley (<@riley>), Fall 1."
        assert (await core.handle(command("duty", now, state="off"))).text == "Danke!"
        r = await core.handle(command("rules test", now, text="hello there"))
        assert r.text == "Keine Regel."
        assert "median k. A." in (await core.handle(command("stats", now))).text
        r = await core.handle(command("feedback", now, kind="missed", label="crisis", what=" "))
        assert r.text == "Text fehlt." and not r.ok
        r = await core.handle(command("forgetme", now, invoker=member("new", "New")))
        assert "nichts" in r.text
    finally:
        await h.stop()

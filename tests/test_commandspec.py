"""bot.core.commandspec: the command list and the text-command parser."""

from __future__ import annotations

import re

import pytest

from bot.core.commandspec import CommandSpec, Param, find, parse_command_text, validate_options
from bot.core.errors import CommandError
from tests.golden import COMMANDS

BY_NAME = {c.name: c for c in COMMANDS}


def test_command_names_are_unique_lowercase_and_at_most_two_words() -> None:
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names))
    assert set(BY_NAME) == set(names)
    for name in names:
        assert name == name.lower().strip()
        assert 1 <= len(name.split()) <= 2


def test_every_command_is_described_and_params_are_well_formed() -> None:
    for spec in COMMANDS:
        assert spec.description
        seen_optional = False
        for i, p in enumerate(spec.params):
            assert p.kind in ("text", "member", "int", "choice"), (spec.name, p.name)
            assert p.description, (spec.name, p.name)
            assert (p.kind == "choice") == bool(p.choices), (spec.name, p.name)
            if p.rest:
                assert i == len(spec.params) - 1, f"{spec.name}: a rest param must be last"
            if not p.required:
                seen_optional = True
            else:
                assert not seen_optional, f"{spec.name}: required after optional"


def test_member_commands_are_open_to_everyone_moderator_commands_are_not() -> None:
    open_to_all = {c.name for c in COMMANDS if not c.moderator_only}
    assert open_to_all == {"help", "resources", "mydata", "forgetme"}
    assert BY_NAME["warn"].moderator_only
    assert BY_NAME["rules reload"].moderator_only


def test_usages_render() -> None:
    assert BY_NAME["help"].usage == "help"
    assert BY_NAME["claim"].usage == "claim <alert>"
    assert BY_NAME["resolve"].usage == "resolve <alert> [note]"
    assert BY_NAME["timeout"].usage == "timeout <member> <minutes> <reason>"
    assert BY_NAME["duty"].usage == "duty <on|off|list>"
    assert BY_NAME["rules test"].usage == "rules test <text>"
    assert BY_NAME["stats"].usage == "stats [days]"
    for spec in COMMANDS:
        assert spec.usage.startswith(spec.name)


def test_find_is_case_and_space_insensitive() -> None:
    assert find("RULES   Reload", COMMANDS) is BY_NAME["rules reload"]
    assert find("Help", COMMANDS) is BY_NAME["help"]
    assert find("nope", COMMANDS) is None


def test_empty_text_is_help() -> None:
    assert parse_command_text("", COMMANDS) == (BY_NAME["help"], {})
    assert parse_command_text("   ", COMMANDS) == (BY_NAME["help"], {})


def test_two_word_commands_and_rest_params() -> None:
    spec, opts = parse_command_text("rules test I want to  end it", COMMANDS)
    assert spec.name == "rules test"
    assert opts == {"text": "I want to end it"}
    spec, opts = parse_command_text("Rules Reload", COMMANDS)
    assert (spec.name, opts) == ("rules reload", {})


def test_params_in_order() -> None:
    spec, opts = parse_command_text("timeout @bob 10 spamming the channel", COMMANDS)
    assert spec.name == "timeout"
    assert opts == {"member": "@bob", "minutes": "10", "reason": "spamming the channel"}
    assert parse_command_text("warn u2 hostility-kys", COMMANDS)[1] == {"member": "u2",
                                                              "reason": "hostility-kys"}


def test_optional_params() -> None:
    assert parse_command_text("resolve 5", COMMANDS)[1] == {"alert": "5"}
    assert parse_command_text("resolve #5 called them, safe", COMMANDS)[1] == {
        "alert": "#5", "note": "called them, safe"}
    assert parse_command_text("handover", COMMANDS)[1] == {}
    assert parse_command_text("stats", COMMANDS)[1] == {}
    assert parse_command_text("stats 7", COMMANDS)[1] == {"days": "7"}


def test_unknown_command() -> None:
    with pytest.raises(CommandError, match=re.escape("Unknown command 'frobnicate'. Try `help`.")):
        parse_command_text("frobnicate now", COMMANDS)


def test_group_word_alone_lists_its_commands() -> None:
    with pytest.raises(CommandError) as info:
        parse_command_text("rules", COMMANDS)
    assert "rules reload" in str(info.value)
    assert "rules test <text>" in str(info.value)
    with pytest.raises(CommandError, match="rules reload"):
        parse_command_text("rules tset hello", COMMANDS)


@pytest.mark.parametrize(("text", "message"), [
    ("claim", "Missing alert. Usage: claim <alert>"),
    ("rules test", "Missing text. Usage: rules test <text>"),
    ("timeout @bob", "Missing minutes. Usage: timeout <member> <minutes> <reason>"),
    ("timeout @bob 10", "Missing reason."),
    ("duty", "Missing state."),
])
def test_missing_arguments(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command_text(text, COMMANDS)


@pytest.mark.parametrize("text", ["help me", "alerts now", "claim 1 2", "duty on now",
                                  "stats 7 days", "rules reload all"])
def test_extra_arguments(text: str) -> None:
    with pytest.raises(CommandError, match=r"Too many arguments\. Usage:"):
        parse_command_text(text, COMMANDS)


@pytest.mark.parametrize(("text", "message"), [
    ("claim abc", "alert must be a whole number, not 'abc'"),
    ("case 1.5", "id must be a whole number"),
    ("claim -3", "alert must not be negative"),
    ("timeout @bob ten rude", "minutes must be a whole number"),
    ("duty maybe", "state must be one of: on, off, list."),
])
def test_int_and_choice_validation(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command_text(text, COMMANDS)


def test_valid_ints_and_choices() -> None:
    assert parse_command_text("claim #12", COMMANDS)[1] == {"alert": "#12"}
    assert parse_command_text("case 0", COMMANDS)[1] == {"id": "0"}
    assert parse_command_text("duty ON", COMMANDS)[1] == {"state": "ON"}
    assert parse_command_text("duty list", COMMANDS)[1] == {"state": "list"}


def test_validate_options_for_slash_commands() -> None:
    spec = CommandSpec("x", "test", (Param("n", "int", "a number"),
                                     Param("mode", "choice", "m", required=False,
                                           choices=("a", "b"))))
    validate_options(spec, {"n": "3"})
    validate_options(spec, {"n": "3", "mode": "B"})
    with pytest.raises(CommandError, match=re.escape("Missing n. Usage: x <n> [a|b]")):
        validate_options(spec, {"n": ""})
    with pytest.raises(CommandError, match=re.escape("mode must be one of: a, b.")):
        validate_options(spec, {"n": "1", "mode": "c"})

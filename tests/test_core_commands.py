"""bot.core.commands: the @command decorator, specs_of and the CommandRegistry, on real parts
(a SQLite ledger, the FakePlatform, virtual time)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

import pytest

from bot.core.clock import VirtualClock
from bot.core.commands import (
    Arg,
    CommandRegistry,
    Invocation,
    MemberQuery,
    button,
    command,
    not_found_text,
    specs_of,
)
from bot.core.commandspec import CommandSpec, Param, find, parse_command_text
from bot.core.errors import CommandError, PlatformError
from bot.core.events import ButtonPressed, CommandInvoked, CommandResult, Member
from bot.core.permissions import Permissions
from bot.core.templates import Templates
from bot.storage.database import Database
from bot.storage.repositories.ledger import LedgerRepository
from tests.conftest import make_config
from tests.fakes import COMMUNITY, MOD, FakePlatform, channel, member
from tests.golden import COMMANDS

MEMBER = member("u7", "Sam")


class Cases:
    """A toy group: the shapes of today's case commands."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    @command("resolve", "Close an alert, with an optional note")
    async def resolve(self, inv: Invocation, alert: Annotated[int, Arg("Alert number")],
                      note: Annotated[str | None, Arg("What happened", rest=True)] = None
                      ) -> CommandResult:
        self.calls.append(("resolve", {"alert": alert, "note": note}))
        return CommandResult(f"resolved {alert}")

    @command("timeout", "Stop a member posting for a while")
    async def timeout(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                      minutes: Annotated[int, Arg("How long, in minutes")],
                      reason: Annotated[str, Arg("Rule id or reason", rest=True)]
                      ) -> CommandResult:
        self.calls.append(("timeout", {"member": member, "minutes": minutes, "reason": reason}))
        return CommandResult(f"timed out {member.name}")

    @command("duty", "Go on or off duty", moderator_only=True)
    async def duty(self, inv: Invocation,
                   state: Annotated[Literal["on", "off", "list"], Arg("on, off or list")]
                   ) -> CommandResult:
        self.calls.append(("duty", {"state": state}))
        return CommandResult(state)

    @command("rules reload", "Swap the rules in")
    async def rules_reload(self, inv: Invocation) -> CommandResult:
        self.calls.append(("rules reload", {}))
        return CommandResult(inv.hint("claim", "3"))

    @command("history", "Cases about a member")
    async def history(self, inv: Invocation, member: MemberQuery) -> CommandResult:
        self.calls.append(("history", {"member": member}))
        return CommandResult(member)

    @command("fail", "Always refuses")
    async def fail(self, inv: Invocation) -> CommandResult:
        self.calls.append(("fail", {}))
        raise CommandError("No alert #9 here.")

    @button("claim")
    async def on_claim(self, ev: ButtonPressed) -> CommandResult:
        self.calls.append(("button claim", {"alert": ev.alert_id}))
        return CommandResult(f"claimed {ev.alert_id} by {ev.member.id}")


class Everyone:
    """A toy group of commands for everyone, with optional parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    @command("stats", "Figures", moderator_only=False)
    async def stats(self, inv: Invocation, days: Annotated[int, Arg("How many days")] = 30
                    ) -> CommandResult:
        self.calls.append(("stats", {"days": days}))
        return CommandResult(str(days))

    @command("forgetme", "Delete your data", moderator_only=False)
    async def forgetme(self, inv: Invocation, confirm: Literal["confirm"] | None = None
                       ) -> CommandResult:
        self.calls.append(("forgetme", {"confirm": confirm, "who": inv.invoker.id}))
        return CommandResult(str(confirm))

    @command("whois", "Look someone up", moderator_only=False)
    async def whois(self, inv: Invocation, who: Member | None = None) -> CommandResult:
        self.calls.append(("whois", {"who": who}))
        return CommandResult(who.name if who else "nobody")


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[LedgerRepository]:
    db = await Database.open(tmp_path / "ledger.db")
    yield LedgerRepository(db)
    await db.close()


@pytest.fixture
def platform() -> FakePlatform:
    p = FakePlatform()
    p.add_member(MEMBER, MOD)
    return p


@pytest.fixture
def groups() -> tuple[Cases, Everyone]:
    return Cases(), Everyone()


@pytest.fixture
def registry(tmp_path: Path, groups: tuple[Cases, Everyone], platform: FakePlatform,
             ledger: LedgerRepository) -> CommandRegistry:
    perms = Permissions(make_config(tmp_path))
    return CommandRegistry(groups, perms, platform, ledger, Templates(), VirtualClock(1000.0),
                           lambda name, *args: " ".join([f"/{name}", *args]))


def invoke(name: str, invoker: Member = MOD, delivery: str | None = None,
           **options: str | None) -> CommandInvoked:
    return CommandInvoked(COMMUNITY, 1000.0, channel=channel("mod-alerts"), invoker=invoker,
                          name=name, options=options,  # type: ignore[arg-type]
                          delivery_id=delivery)


def press(action: str, who: Member = MOD, delivery: str | None = None) -> ButtonPressed:
    return ButtonPressed(COMMUNITY, 1000.0, channel=channel("mod-alerts"), member=who,
                         action=action, alert_id=4, delivery_id=delivery)


# -- declaring ------------------------------------------------------------------------------

def test_specs_are_derived_from_signatures_in_declaration_order() -> None:
    specs = specs_of(Cases)
    assert [s.name for s in specs] == ["resolve", "timeout", "duty", "rules reload", "history",
                                       "fail"]
    by = {s.name: s for s in specs}
    assert by["duty"].params == (Param("state", "choice", "on, off or list",
                                       choices=("on", "off", "list")),)
    assert by["rules reload"].params == ()
    assert by["history"].params == (Param("member", "member"),)
    assert all(s.moderator_only for s in specs)
    assert specs_of(Cases()) == specs  # static: an instance gives the same


def test_optional_parameters_and_moderator_only_false() -> None:
    stats, forgetme, whois = specs_of(Everyone)
    assert not stats.moderator_only and not forgetme.moderator_only
    assert stats.params == (Param("days", "int", "How many days", required=False),)
    assert forgetme.params == (Param("confirm", "choice", required=False, choices=("confirm",)),)
    assert whois.params == (Param("who", "member", required=False),)
    assert forgetme.usage == "forgetme [confirm]"


def test_specs_equal_todays_hand_written_resolve_and_timeout() -> None:
    by = {s.name: s for s in specs_of(Cases)}
    assert by["resolve"] == find("resolve", COMMANDS)
    assert by["timeout"] == find("timeout", COMMANDS)


def test_declarations_inherit_and_subclass_additions_come_after() -> None:
    class More(Cases):
        @command("extra", "More")
        async def extra(self, inv: Invocation) -> CommandResult:
            return CommandResult("x")

    assert [s.name for s in specs_of(More)][-2:] == ["fail", "extra"]


# -- bad declarations ----------------------------------------------------------------------

def test_unmappable_parameter_type_is_a_type_error_naming_the_function() -> None:
    with pytest.raises(TypeError, match=r"Bad\.f.*'flag'.*bool"):
        class Bad:
            @command("f", "x")
            async def f(self, inv: Invocation, flag: bool) -> CommandResult:
                return CommandResult("")


def test_missing_inv_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Bad\.f.*inv: Invocation"):
        class Bad:
            @command("f", "x")
            async def f(self, alert: int) -> CommandResult:
                return CommandResult("")


@pytest.mark.parametrize("source", [
    "async def f(self, inv: Invocation, rest: Annotated[str, Arg(rest=True)], n: int)"
    " -> CommandResult: ...",
    "async def f(self, inv: Invocation, n: Annotated[int, Arg(rest=True)]) -> CommandResult: ...",
    "async def f(self, inv: Invocation, n: int | None = None, m: int = 1, k: int = 0)"
    " -> CommandResult: ...\nasync def g(self, inv: Invocation, n: int | None, m: int)"
    " -> CommandResult: ...",
    "def f(self, inv: Invocation) -> CommandResult: ...",
    "async def f(self, inv: Invocation, *words: str) -> CommandResult: ...",
    "async def f(self, inv: Invocation, n) -> CommandResult: ...",
    "async def f(self, inv: Invocation, c: Literal['On']) -> CommandResult: ...",
    "async def f(self, inv: Invocation, c: int | str) -> CommandResult: ...",
    "async def f(self, inv: Invocation, c: Nowhere) -> CommandResult: ...",
])
def test_bad_declarations_are_type_errors(source: str) -> None:
    namespace: dict[str, object] = {"Annotated": Annotated, "Arg": Arg, "Literal": Literal,
                                    "Invocation": Invocation, "CommandResult": CommandResult}
    exec(compile("from __future__ import annotations\n" + source, "<decl>", "exec"), namespace)
    fn = namespace.get("g", namespace["f"])
    with pytest.raises(TypeError, match=r"command 'x' \((f|g)\)"):
        command("x", "y")(fn)  # type: ignore[arg-type]


def test_bad_button_declaration_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="on_press"):
        class Bad:
            @button("claim")
            async def on_press(self) -> CommandResult:
                return CommandResult("")


def test_duplicate_command_names_are_rejected(tmp_path: Path, platform: FakePlatform,
                                              ledger: LedgerRepository) -> None:
    perms = Permissions(make_config(tmp_path))
    with pytest.raises(ValueError, match="'resolve' is declared twice"):
        CommandRegistry([Cases(), Cases()], perms, platform, ledger, Templates(), VirtualClock(),
                        lambda *a: "")


def test_registry_specs_in_group_order(registry: CommandRegistry) -> None:
    assert registry.specs == specs_of(Cases) + specs_of(Everyone)
    assert registry.find("Rules  Reload") == specs_of(Cases)[3]
    assert registry.find("nope") is None


# -- binding -------------------------------------------------------------------------------

async def test_int_with_hash_is_bound_as_int_and_optional_text_defaults(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    result = await registry.run(invoke("resolve", alert="#12"))
    assert result == CommandResult("resolved 12")
    assert groups[0].calls == [("resolve", {"alert": 12, "note": None})]
    await registry.run(invoke("resolve", alert="3", note="it was fine"))
    assert groups[0].calls[-1] == ("resolve", {"alert": 3, "note": "it was fine"})


@pytest.mark.parametrize("value, message", [
    ("-3", "alert must not be negative."),
    ("twelve", "alert must be a whole number, not 'twelve'."),
])
async def test_bad_ints_are_refused_with_todays_messages(
        registry: CommandRegistry, groups: tuple[Cases, Everyone], value: str,
        message: str) -> None:
    result = await registry.run(invoke("resolve", alert=value))
    assert result == CommandResult(message, ok=False)
    assert groups[0].calls == []


async def test_missing_required_option_is_refused(registry: CommandRegistry) -> None:
    result = await registry.run(invoke("timeout", member="u7", reason="spam"))
    assert result == CommandResult("Missing minutes. Usage: timeout <member> <minutes> <reason>",
                                   ok=False)


async def test_member_is_resolved_before_the_handler(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    result = await registry.run(invoke("timeout", member="<@u7>", minutes="10", reason="spam"))
    assert result.text == "timed out Sam"
    assert groups[0].calls == [("timeout", {"member": MEMBER, "minutes": 10, "reason": "spam"})]


async def test_unknown_member_is_refused_and_nothing_done(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    result = await registry.run(invoke("timeout", member=" Nobody ", minutes="10", reason="x"))
    assert result == CommandResult(not_found_text("Nobody"), ok=False)
    assert "I can't find a member called 'Nobody' here." in result.text
    assert groups[0].calls == []


async def test_member_lookup_failure_is_a_clear_refusal(
        registry: CommandRegistry, platform: FakePlatform,
        groups: tuple[Cases, Everyone]) -> None:
    platform.fail("resolve_member", PlatformError("down"))
    result = await registry.run(invoke("timeout", member="u7", minutes="10", reason="x"))
    assert not result.ok and result.text.startswith("I couldn't look up members")
    assert groups[0].calls == []


async def test_member_query_is_passed_unresolved(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    result = await registry.run(invoke("history", member="<@gone>"))
    assert result.text == "<@gone>" and groups[0].calls == [("history", {"member": "<@gone>"})]


async def test_choice_is_case_insensitive_and_lower_cased(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    assert (await registry.run(invoke("duty", state="ON"))).text == "on"
    bad = await registry.run(invoke("duty", state="maybe"))
    assert bad == CommandResult("state must be one of: on, off, list.", ok=False)
    assert groups[0].calls == [("duty", {"state": "on"})]


async def test_optional_missing_gets_its_default(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    assert (await registry.run(invoke("stats", MEMBER))).text == "30"
    assert (await registry.run(invoke("stats", MEMBER, days="#7"))).text == "7"
    assert (await registry.run(invoke("stats", MEMBER, days=None))).text == "30"
    assert (await registry.run(invoke("forgetme", MEMBER))).text == "None"
    assert (await registry.run(invoke("forgetme", MEMBER, confirm="Confirm"))).text == "confirm"
    assert (await registry.run(invoke("whois", MEMBER))).text == "nobody"
    assert (await registry.run(invoke("whois", MEMBER, who="mod1"))).text == "Mo"
    assert groups[1].calls[0] == ("stats", {"days": 30})


async def test_invocation_carries_the_hint(registry: CommandRegistry) -> None:
    assert (await registry.run(invoke("rules  RELOAD"))).text == "/claim 3"


# -- refusals ------------------------------------------------------------------------------

async def test_moderator_only_refused_for_a_member_without_calling_the_handler(
        registry: CommandRegistry, groups: tuple[Cases, Everyone],
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.core.commands"):
        result = await registry.run(invoke("resolve", MEMBER, alert="3", note="secret words"))
    assert result == CommandResult("`resolve` is for moderators only.", ok=False)
    assert groups[0].calls == []
    assert "u7" in caplog.text and "secret words" not in caplog.text


async def test_unknown_command_names_help_with_the_platform_prefix(
        registry: CommandRegistry, platform: FakePlatform) -> None:
    result = await registry.run(invoke("frobnicate"))
    assert result == CommandResult("Unknown command 'frobnicate'. Try `help`.", ok=False)
    platform.name = "matrix"
    platform.command_prefix = "!hv"
    result = await registry.run(invoke("frobnicate"))
    assert result.text == "Unknown command 'frobnicate'. Try `!hv help`."
    platform.name = "discord"
    platform.command_prefix = "/"
    assert (await registry.run(invoke("x"))).text == "Unknown command 'x'. Try `/help`."


async def test_command_error_from_a_handler_is_a_refusal(registry: CommandRegistry) -> None:
    assert await registry.run(invoke("fail")) == CommandResult("No alert #9 here.", ok=False)


async def test_other_exceptions_propagate(registry: CommandRegistry) -> None:
    class Boom:
        @command("boom", "x")
        async def boom(self, inv: Invocation) -> CommandResult:
            raise RuntimeError("bug")

    other = CommandRegistry([Boom()], registry.perms, registry.platform, registry.ledger,
                            registry.templates, registry.clock, registry.hint)
    with pytest.raises(RuntimeError):
        await other.run(invoke("boom", delivery="d-boom"))
    # the delivery is finished even so: a redelivery is answered, not run again
    assert (await other.run(invoke("boom", delivery="d-boom"))).text == \
        Templates().render("already_done")


# -- once per delivery ---------------------------------------------------------------------

async def test_a_delivery_id_runs_once(registry: CommandRegistry,
                                       groups: tuple[Cases, Everyone]) -> None:
    first = await registry.run(invoke("resolve", alert="5", delivery="d1"))
    again = await registry.run(invoke("resolve", alert="5", delivery="d1"))
    assert first.text == "resolved 5"
    assert again == CommandResult(Templates().render("already_done"))
    assert len(groups[0].calls) == 1
    await registry.run(invoke("resolve", alert="5", delivery="d2"))
    await registry.run(invoke("resolve", alert="5"))
    await registry.run(invoke("resolve", alert="5"))
    assert len(groups[0].calls) == 4  # new ids and no id at all run every time


async def test_a_refused_delivery_is_not_run_on_redelivery(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    assert not (await registry.run(invoke("fail", delivery="d3"))).ok
    assert (await registry.run(invoke("fail", delivery="d3"))).ok
    assert len(groups[0].calls) == 1


# -- buttons -------------------------------------------------------------------------------

async def test_buttons_are_routed_to_their_handler(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    assert (await registry.button(press("claim"))).text == "claimed 4 by mod1"
    assert groups[0].calls == [("button claim", {"alert": 4})]
    assert await registry.button(press("snooze")) == CommandResult("Unknown action 'snooze'.",
                                                                    ok=False)


async def test_buttons_are_refused_for_members(registry: CommandRegistry,
                                               groups: tuple[Cases, Everyone]) -> None:
    result = await registry.button(press("claim", MEMBER))
    assert result == CommandResult("Only moderators can claim or resolve alerts.", ok=False)
    assert groups[0].calls == []


async def test_a_button_delivery_runs_once(registry: CommandRegistry,
                                           groups: tuple[Cases, Everyone]) -> None:
    await registry.button(press("claim", delivery="b1"))
    again = await registry.button(press("claim", delivery="b1"))
    assert again.text == Templates().render("already_done")
    assert len(groups[0].calls) == 1


def test_duplicate_button_actions_are_rejected(tmp_path: Path, platform: FakePlatform,
                                               ledger: LedgerRepository) -> None:
    class Other:
        @button("claim")
        async def claim(self, ev: ButtonPressed) -> CommandResult:
            return CommandResult("")

    with pytest.raises(ValueError, match="button 'claim' is handled twice"):
        CommandRegistry([Cases(), Other()], Permissions(make_config(tmp_path)), platform, ledger,
                        Templates(), VirtualClock(), lambda *a: "")


def test_spec_type_is_the_neutral_command_spec() -> None:
    assert all(isinstance(s, CommandSpec) for s in specs_of(Everyone))


class Today:
    """Every command of today's hand-written list, declared with the decorator (signatures
    only): the decorator can say all of them, word for word."""

    @command("help", "What Haven can do and how to use it", moderator_only=False)
    async def help(self, inv: Invocation) -> CommandResult: ...

    @command("resources", "Helplines and support services", moderator_only=False)
    async def resources(self, inv: Invocation) -> CommandResult: ...

    @command("mydata", "See what Haven stores about you (sent privately)", moderator_only=False)
    async def mydata(self, inv: Invocation) -> CommandResult: ...

    @command("forgetme", "Delete what Haven stores about you (says what first; then confirm)",
             moderator_only=False)
    async def forgetme(self, inv: Invocation,
                       confirm: Annotated[Literal["confirm"] | None,
                                          Arg("confirm: really delete it")] = None
                       ) -> CommandResult: ...

    @command("alerts", "Open crisis and safety alerts")
    async def alerts(self, inv: Invocation) -> CommandResult: ...

    @command("claim", "Take an alert so others know you are on it")
    async def claim(self, inv: Invocation, alert: Annotated[int, Arg("Alert number")]
                    ) -> CommandResult: ...

    @command("resolve", "Close an alert, with an optional note")
    async def resolve(self, inv: Invocation, alert: Annotated[int, Arg("Alert number")],
                      note: Annotated[str | None, Arg("What happened", rest=True)] = None
                      ) -> CommandResult: ...

    @command("unanswered", "Support posts still waiting for a reply, longest first")
    async def unanswered(self, inv: Invocation) -> CommandResult: ...

    @command("rules reload", "Validate the rule files and swap them in without a restart")
    async def rules_reload(self, inv: Invocation) -> CommandResult: ...

    @command("rules test", "Dry run: which rules match this text and why (nothing is done)")
    async def rules_test(self, inv: Invocation,
                         text: Annotated[str, Arg("Text to test", rest=True)]
                         ) -> CommandResult: ...

    @command("feedback", "Teach semantic detection: an alert was a false alarm, or a post was "
             "missed (goes to a review file an admin trains on)")
    async def feedback(
        self, inv: Invocation,
        kind: Annotated[Literal["falsealarm", "missed"], Arg("falsealarm or missed")],
        label: Annotated[Literal["crisis", "concern", "method", "hostility", "pii", "distress",
                                 "recovery", "none"], Arg("What it really is")],
        what: Annotated[str, Arg("Alert number (falsealarm) or the post's text (missed)",
                                 rest=True)]) -> CommandResult: ...

    @command("warn", "Warn a member, citing the rule or reason")
    async def warn(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                   reason: Annotated[str, Arg("Rule id or reason", rest=True)]
                   ) -> CommandResult: ...

    @command("note", "Add a private moderator note about a member")
    async def note(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                   text: Annotated[str, Arg("The note", rest=True)]) -> CommandResult: ...

    @command("case", "Show one case")
    async def case(self, inv: Invocation, id: Annotated[int, Arg("Case number")]
                   ) -> CommandResult: ...

    @command("history", "Cases and notes about a member")
    async def history(self, inv: Invocation, member: Annotated[MemberQuery, Arg("Who")]
                      ) -> CommandResult: ...

    @command("timeout", "Stop a member posting for a while")
    async def timeout(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                      minutes: Annotated[int, Arg("How long, in minutes")],
                      reason: Annotated[str, Arg("Rule id or reason", rest=True)]
                      ) -> CommandResult: ...

    @command("duty", "Go on or off duty, or list who is on duty")
    async def duty(self, inv: Invocation,
                   state: Annotated[Literal["on", "off", "list"], Arg("on, off or list")]
                   ) -> CommandResult: ...

    @command("quiet", "Set your own quiet hours (no alert mentions), e.g. 22:00-07:00 or off")
    async def quiet(self, inv: Invocation, hours: Annotated[str, Arg("HH:MM-HH:MM or off")]
                    ) -> CommandResult: ...

    @command("handover", "Add to the shift logbook, or show it and what happened since")
    async def handover(self, inv: Invocation,
                       text: Annotated[str | None,
                                       Arg("Note for the next shift", rest=True)] = None
                       ) -> CommandResult: ...

    @command("stats", "Community health figures")
    async def stats(self, inv: Invocation,
                    days: Annotated[int, Arg("How many days back (default 30)")] = 30
                    ) -> CommandResult: ...


def test_every_one_of_todays_commands_can_be_declared() -> None:
    assert specs_of(Today) == COMMANDS[:len(specs_of(Today))]


async def test_text_commands_parse_against_the_registry_specs(
        registry: CommandRegistry, groups: tuple[Cases, Everyone]) -> None:
    spec, options = parse_command_text("resolve #12 it was fine", registry.specs)
    ev = invoke(spec.name, **options)
    assert (await registry.run(ev)).text == "resolved 12"
    assert groups[0].calls == [("resolve", {"alert": 12, "note": "it was fine"})]

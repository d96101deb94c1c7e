"""The join-wave guard (bot/features/raid): raid mode from waves of joins, held first
posts, slowed channels, the durable end, the ``raid`` command and the ``raid:`` section.

The feature runs on a FeatureContext built here from real parts: a SQLite database
with its repositories, the Messenger, the Scheduler, a VirtualClock and the
FakePlatform. The siblings (moderation's CaseKeeper, members' MemberDirectory) are
small recording fakes. The end-to-end tests on the whole app are added at the join.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot import app
from bot.core.clock import VirtualClock, fmt_time
from bot.core.commands import CommandRegistry, specs_of
from bot.core.config import ChannelsConfig, Config, parse_config
from bot.core.contracts import CaseKeeper, MemberDirectory
from bot.core.errors import ConfigError, MissingPermission
from bot.core.events import CommandResult, Member, MemberJoined, MessagePosted, Outgoing
from bot.core.feature import FeatureContext, MessageOutcome, Siblings
from bot.core.messenger import Messenger
from bot.core.permissions import Permissions
from bot.core.ports import Capability
from bot.core.scheduler import Scheduler
from bot.core.templates import DEFAULT_TEMPLATES, Templates, validate_templates
from bot.core.triage import RulesInForce
from bot.core.yamlsrc import load_text
from bot.features import FEATURES
from bot.features import raid as raid_package
from bot.features.raid import SPEC
from bot.features.raid.commands import RaidCommands
from bot.features.raid.config import RAID_SECTION, RaidConfig
from bot.features.raid.feature import Raid, RaidState, state_key
from bot.features.raid.templates import TEMPLATES
from bot.rules.engine import Rulebook
from bot.rules.helplines import Helplines
from bot.storage.database import Database
from bot.storage.repositories import JobsRepository, KeyValueRepository, LedgerRepository
from tests.conftest import Harness, make_config
from tests.fakes import COMMUNITY, MOD, FakePlatform, FlakyError, command, joined, member, post

MODS = "mod-alerts"
CFG = RaidConfig(enabled=True, joins=3, within=60.0, lasts=900.0)


class FakeCases:
    """Moderation's CaseKeeper: records each hold; hides and returns the text like it."""

    def __init__(self, platform: FakePlatform, templates: Templates) -> None:
        self.platform = platform
        self.templates = templates
        self.holds: list[dict[str, Any]] = []
        self.refuse = False
        """Answer ``None`` (the platform would not hide the post)."""
        self._ids = itertools.count(1)

    async def hold_post(self, ev: MessagePosted, *, rule: str, explain: str,
                        private_text: str) -> int | None:
        self.holds.append({"message": ev.message.message_id, "rule": rule, "explain": explain,
                           "text": ev.text})
        if self.refuse:
            return None
        case = next(self._ids)
        await self.platform.hide(ev.message, f"Haven: {rule}")
        await self.platform.send_private(ev.community_id, ev.author.id, Outgoing(private_text))
        return case


class FakeMembers:
    """Members' MemberDirectory: newcomers are the ids in :attr:`new`."""

    def __init__(self) -> None:
        self.new: set[str] = set()

    async def is_newcomer(self, ev: MessagePosted) -> bool:
        return ev.author.id in self.new


@dataclass
class Failures:
    """The context's ErrorCounter."""

    seen: list[str] = field(default_factory=list)

    def failed(self, what: str) -> None:
        self.seen.append(what)


@dataclass
class Rig:
    db: Database
    clock: VirtualClock
    platform: FakePlatform
    kv: KeyValueRepository
    jobs: JobsRepository
    ledger: LedgerRepository
    scheduler: Scheduler
    ctx: FeatureContext[RaidConfig, None]
    raid: Raid
    cases: FakeCases
    members: FakeMembers

    async def join(self, uid: str, at: float | None = None, *, bot: bool = False) -> None:
        await self.raid.on_join(joined(member(uid, bot=bot), self.clock.now() if at is None else at))

    async def post(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        """Run the raid stage as the pipeline would (its guards first)."""
        (stage,) = self.raid.stages()
        if not stage.skipped(ev, outcome):
            await stage.run(ev, outcome)

    async def state(self) -> RaidState | None:
        return await self.raid.state(COMMUNITY)

    def notices(self) -> list[str]:
        return [c.text for c in self.platform.sent_to(MODS)]

    async def pending(self) -> list[Any]:
        return await self.jobs.pending_jobs(COMMUNITY)


async def make_rig(path: Path, cfg: RaidConfig = CFG, *, clock: VirtualClock | None = None,
                   platform: FakePlatform | None = None) -> Rig:
    db = await Database.open(path)
    clock = clock or VirtualClock()
    platform = platform or FakePlatform()
    kv, jobs, ledger = KeyValueRepository(db), JobsRepository(db), LedgerRepository(db)
    templates = Templates(dict(TEMPLATES))
    core = Config(channels=ChannelsConfig(moderators=MODS))
    scheduler = Scheduler(jobs, clock)
    ctx: FeatureContext[RaidConfig, None] = FeatureContext(
        name="raid", config=cfg, core=core, repo=None,
        messenger=Messenger(platform, ledger, kv, clock, templates, MODS),
        scheduler=scheduler, clock=clock, templates=templates, perms=Permissions(core),
        platform=platform, kv=kv, helplines=Helplines({}, ()), transaction=db.transaction,
        errors=Failures(), hint=lambda name, *args: "/" + " ".join((name, *args)),
        rules=RulesInForce(Rulebook([])), detector=lambda: None, commands=lambda: (),
        publish=lambda event: None)
    cases, members = FakeCases(platform, templates), FakeMembers()
    raid = SPEC.build(ctx, Siblings({"moderation": cases, "members": members}))  # type: ignore[dict-item]
    assert isinstance(raid, Raid)
    for kind in raid.jobs():
        scheduler.register(kind.kind, kind.run)
    return Rig(db, clock, platform, kv, jobs, ledger, scheduler, ctx, raid, cases, members)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(tmp_path / "haven.db")
    yield r
    await r.db.close()


def first_post(text: str, at: float, author_id: str = "new1", **kw: Any) -> tuple[MessagePosted, MessageOutcome]:
    outcome = MessageOutcome(matches=[], first_post=True, **kw)
    return post(text, at, author=member(author_id)), outcome


async def start_by_joins(r: Rig, n: int = 3) -> RaidState:
    for i in range(n):
        await r.join(f"j{i}")
    state = await r.state()
    assert state is not None
    return state


# -- the spec -----------------------------------------------------------------------


async def test_spec_declares_one_stage_the_join_handler_and_the_end_job(rig: Rig) -> None:
    assert (SPEC.name, SPEC.needs, SPEC.commands) == ("raid", ("moderation", "members"), RaidCommands)
    assert SPEC.templates is TEMPLATES
    (stage,) = rig.raid.stages()
    assert (stage.name, stage.order, stage.lane, stage.critical) == ("raid.hold", 35, "follow_up", False)
    assert stage.skip == frozenset({"edited", "hidden", "support"})
    assert set(rig.raid.handlers()) == {MemberJoined}
    assert [k.kind for k in rig.raid.jobs()] == ["raid_end"]
    assert isinstance(rig.cases, CaseKeeper) and isinstance(rig.members, MemberDirectory)


async def test_spec_refuses_a_sibling_that_does_not_keep_cases(rig: Rig) -> None:
    with pytest.raises(TypeError, match="CaseKeeper"):
        SPEC.build(rig.ctx, Siblings({"moderation": object(), "members": rig.members}))  # type: ignore[dict-item]


# -- joins ----------------------------------------------------------------------------


async def test_fewer_joins_than_the_threshold_start_nothing(rig: Rig) -> None:
    await rig.join("a")
    await rig.clock.advance(10)
    await rig.join("b")
    assert await rig.state() is None
    assert rig.notices() == [] and await rig.pending() == []


async def test_n_joins_within_t_start_raid_mode_and_tell_moderators_once(rig: Rig) -> None:
    t0 = rig.clock.now()
    for uid in ("a", "b"):
        await rig.join(uid)
        await rig.clock.advance(20)
    await rig.join("c")  # the third join, 40 s after the first
    state = await rig.state()
    assert state is not None and (state.since, state.until, state.joins) == (t0 + 40, t0 + 940, 3)
    assert rig.notices() == [TEMPLATES["raid_started"].format(
        joins=3, window="1m", until=fmt_time(t0 + 940), command="/raid off")]
    (job,) = await rig.pending()
    assert (job.kind, job.due_at, job.id) == ("raid_end", t0 + 940, state.job)
    for uid in ("d", "e", "f", "g"):  # more joins: counted, no second notice, no second job
        await rig.join(uid)
    assert len(rig.notices()) == 1 and len(await rig.pending()) == 1
    state = await rig.state()
    assert state is not None and state.joins == 7


async def test_joins_spread_over_more_than_t_start_nothing(rig: Rig) -> None:
    for uid in "abcdef":
        await rig.join(uid)
        await rig.clock.advance(31)  # three joins always span 62 s > 60 s
    assert await rig.state() is None and rig.notices() == []


async def test_bots_do_not_count(rig: Rig) -> None:
    for i in range(5):
        await rig.join(f"bot{i}", bot=True)
    await rig.join("a")
    assert await rig.state() is None


async def test_disabled_counts_nothing(tmp_path: Path) -> None:
    r = await make_rig(tmp_path / "h.db", replace(CFG, enabled=False))
    for i in range(10):
        await r.join(f"j{i}")
    assert await r.state() is None and r.notices() == []
    await r.db.close()


async def test_replayed_joins_count_at_their_own_times(rig: Rig) -> None:
    now = rig.clock.now()
    # Delivered after 10 minutes of downtime: three joins 10 minutes ago, within 60 s.
    for i, at in enumerate((now - 600, now - 590, now - 580)):
        await rig.join(f"j{i}", at)
    state = await rig.state()
    assert state is not None and (state.since, state.until) == (now - 580, now - 580 + 900)
    (job,) = await rig.pending()
    assert job.due_at == now + 320


async def test_a_replayed_wave_that_is_already_over_starts_nothing(rig: Rig) -> None:
    now = rig.clock.now()
    for i, at in enumerate((now - 1000, now - 990, now - 980)):  # over 80 s ago
        await rig.join(f"j{i}", at)
    assert await rig.state() is None
    assert rig.notices() == [] and await rig.pending() == []


async def test_replayed_joins_spread_out_start_nothing(rig: Rig) -> None:
    now = rig.clock.now()
    for i, at in enumerate((now - 300, now - 200, now - 100)):
        await rig.join(f"j{i}", at)
    assert await rig.state() is None


async def test_the_state_and_the_end_job_are_stored_together(rig: Rig,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(key: str, value: str) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(rig.kv, "set", broken)
    with pytest.raises(RuntimeError):
        await start_by_joins(rig)
    assert await rig.pending() == []  # the job rolled back with the state
    assert rig.notices() == []


async def test_an_unreadable_state_is_dropped(rig: Rig) -> None:
    await rig.kv.set(state_key(COMMUNITY), "{not json")
    assert await rig.state() is None
    assert await rig.kv.get(state_key(COMMUNITY)) is None


# -- held first posts -------------------------------------------------------------------


async def test_a_newcomers_first_post_is_held_with_a_case_and_their_text(rig: Rig) -> None:
    await start_by_joins(rig)
    rig.members.new.add("new1")
    ev, outcome = first_post("hello everyone, I am new here", rig.clock.now())
    await rig.post(ev, outcome)
    assert outcome.hidden
    assert rig.cases.holds == [{"message": ev.message.message_id, "rule": "raid",
                                "explain": TEMPLATES["raid_explain"], "text": ev.text}]
    assert [c.target for c in rig.platform.of("hide")] == [ev.message.message_id]
    (dm,) = rig.platform.private_to("new1")
    assert dm.text.startswith("Hi new1, a lot of new people arrived at once")
    assert "> hello everyone, I am new here" in dm.text
    state = await rig.state()
    assert state is not None and state.held == [1]


async def test_what_is_not_held(rig: Rig) -> None:
    await start_by_joins(rig)
    rig.members.new.update({"new1", "mod1"})
    now = rig.clock.now()
    second = MessageOutcome(matches=[], first_post=False)
    ev = post("my second post", now, author=member("new1"))
    await rig.post(ev, second)  # not a first post
    regular, outcome = first_post("an established member", now, author_id="old1")
    await rig.post(regular, outcome)  # not a newcomer
    mod_post = post("moderator here", now, author=MOD)
    await rig.post(mod_post, MessageOutcome(matches=[], first_post=True))  # a moderator
    crisis, crisis_outcome = first_post("crisis words", now, crisis=True, concern=True)
    await rig.post(crisis, crisis_outcome)  # support posts keep their alert: never held
    concern, concern_outcome = first_post("concern words", now, concern=True)
    await rig.post(concern, concern_outcome)
    edited = replace(post("edited", now, author=member("new1")), edited=True)
    await rig.post(edited, MessageOutcome(matches=[], first_post=True))
    hidden, hidden_outcome = first_post("already hidden", now, hidden=True)
    await rig.post(hidden, hidden_outcome)
    assert rig.cases.holds == [] and rig.platform.of("hide") == []
    assert not (second.hidden or outcome.hidden or crisis_outcome.hidden or concern_outcome.hidden)


async def test_nothing_is_held_outside_raid_mode(rig: Rig) -> None:
    rig.members.new.add("new1")
    ev, outcome = first_post("hello", rig.clock.now())
    await rig.post(ev, outcome)
    assert rig.cases.holds == [] and not outcome.hidden


async def test_nothing_is_held_once_raid_mode_is_past_its_end(rig: Rig) -> None:
    await start_by_joins(rig)
    rig.members.new.add("new1")
    rig.clock.set(rig.clock.now() + 901)  # the end job has not run yet
    ev, outcome = first_post("hello", rig.clock.now())
    await rig.post(ev, outcome)
    assert rig.cases.holds == [] and not outcome.hidden


async def test_hold_first_posts_off_holds_nothing(tmp_path: Path) -> None:
    r = await make_rig(tmp_path / "h.db", replace(CFG, hold_first_posts=False, slow_channels=("general",)))
    await start_by_joins(r)
    r.members.new.add("new1")
    ev, outcome = first_post("hello", r.clock.now())
    await r.post(ev, outcome)
    assert r.cases.holds == [] and not outcome.hidden
    assert r.notices()[0].startswith("Raid mode is on: 3 people joined within 1m. It lasts until")
    await r.db.close()


async def test_a_post_moderation_could_not_hide_stays_visible(rig: Rig) -> None:
    await start_by_joins(rig)
    rig.members.new.add("new1")
    rig.cases.refuse = True
    ev, outcome = first_post("hello", rig.clock.now())
    await rig.post(ev, outcome)
    assert len(rig.cases.holds) == 1 and not outcome.hidden
    state = await rig.state()
    assert state is not None and state.held == []


# -- slow mode -------------------------------------------------------------------------


async def test_slow_channels_are_slowed_at_the_start_and_restored_at_the_end(tmp_path: Path) -> None:
    r = await make_rig(tmp_path / "h.db", replace(CFG, slow_channels=("general", "vent")))
    state = await start_by_joins(r)
    assert [(c.target, c.extra["seconds"]) for c in r.platform.of("slow_mode")] == [
        ("general", 30), ("vent", 30)]
    assert state.slowed == ["general", "vent"]
    (notice,) = r.notices()
    assert notice.splitlines()[1] == "#general, #vent are slowed to one post every 30 seconds until then."
    r.platform.clear()
    await r.clock.advance(900)
    await r.scheduler.run_due()
    assert [(c.target, c.extra["seconds"]) for c in r.platform.of("slow_mode")] == [
        ("general", 0), ("vent", 0)]
    await r.db.close()


async def test_a_platform_that_cannot_slow_is_not_asked_and_moderators_are_told(tmp_path: Path) -> None:
    platform = FakePlatform()
    platform.capabilities = frozenset(Capability) - {Capability.SLOW_MODE}
    r = await make_rig(tmp_path / "h.db", replace(CFG, slow_channels=("general",)), platform=platform)
    state = await start_by_joins(r)
    assert platform.of("slow_mode") == [] and state.slowed == []
    (notice,) = r.notices()
    assert notice.splitlines()[1] == TEMPLATES["raid_cannot_slow"]
    await r.clock.advance(900)
    await r.scheduler.run_due()
    assert platform.of("slow_mode") == []
    await r.db.close()


async def test_a_channel_haven_may_not_slow_is_reported_and_not_restored(tmp_path: Path) -> None:
    r = await make_rig(tmp_path / "h.db", replace(CFG, slow_channels=("general", "vent")))
    r.platform.fail("set_slow_mode", MissingPermission("Manage Channels", "general"))
    state = await start_by_joins(r)
    assert state.slowed == ["vent"]
    texts = r.notices()
    assert any("Manage Channels" in t for t in texts)
    assert texts[-1].splitlines()[1].startswith("#vent are slowed")
    await r.clock.advance(900)
    await r.scheduler.run_due()
    assert [(c.target, c.extra["seconds"]) for c in r.platform.of("slow_mode")] == [("vent", 30), ("vent", 0)]
    await r.db.close()


# -- the end ----------------------------------------------------------------------------


async def test_raid_mode_ends_by_itself_once_listing_the_held_cases(rig: Rig) -> None:
    await start_by_joins(rig)
    rig.members.new.update({"new1", "new2"})
    for uid in ("new1", "new2"):
        ev, outcome = first_post("hello", rig.clock.now(), author_id=uid)
        await rig.post(ev, outcome)
    await rig.clock.advance(899)
    assert await rig.scheduler.run_due() == 0
    await rig.clock.advance(1)
    assert await rig.scheduler.run_due() == 1
    ended = [t for t in rig.notices() if t.startswith("Raid mode has ended")]
    assert ended == ["Raid mode has ended after 15m: 3 joins, 2 first post(s) held (#1, #2)."]
    assert await rig.state() is None and await rig.pending() == []
    await rig.clock.advance(3600)
    await rig.scheduler.run_due()
    assert len([t for t in rig.notices() if t.startswith("Raid mode has ended")]) == 1


async def test_raid_mode_ends_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    clock = VirtualClock()
    first = await make_rig(path, replace(CFG, slow_channels=("general",)), clock=clock)
    await start_by_joins(first)
    await first.db.close()  # Haven stops; raid mode is in the database only
    clock.set(clock.now() + 3600)
    second = await make_rig(path, replace(CFG, slow_channels=("general",)), clock=clock)
    assert await second.scheduler.run_due() == 1
    assert [(c.target, c.extra["seconds"]) for c in second.platform.of("slow_mode")] == [("general", 0)]
    assert second.notices() == ["Raid mode has ended after 15m: 3 joins, 0 first post(s) held (none)."]
    assert await second.state() is None
    await second.db.close()


async def test_an_end_notice_that_fails_is_retried_and_sent_once(rig: Rig) -> None:
    await start_by_joins(rig)
    await rig.clock.advance(900)
    rig.platform.fail("send", FlakyError("gateway down"))
    await rig.scheduler.run_due()
    assert [t for t in rig.notices() if t.startswith("Raid mode has ended")] == []
    assert await rig.state() is not None  # kept until the notice is out
    for uid in ("x", "y", "z"):  # no new raid while the last one is still ending
        await rig.join(uid)
    (job,) = await rig.pending()
    assert job.attempts == 1
    await rig.clock.advance(60)
    await rig.scheduler.run_due()
    assert len([t for t in rig.notices() if t.startswith("Raid mode has ended")]) == 1
    assert await rig.state() is None and await rig.pending() == []


async def test_a_new_wave_after_the_end_starts_a_new_raid(rig: Rig) -> None:
    await start_by_joins(rig)
    await rig.clock.advance(900)
    await rig.scheduler.run_due()
    await rig.clock.advance(60)
    await start_by_joins(rig)
    assert len([t for t in rig.notices() if t.startswith("Raid mode is on")]) == 2


# -- the command -------------------------------------------------------------------------


def registry(r: Rig) -> CommandRegistry:
    return CommandRegistry([RaidCommands(r.raid, r.ctx)], r.ctx.perms, r.platform, r.ledger,
                           r.ctx.templates, r.clock, r.ctx.hint)


async def ask(r: Rig, state: str, invoker: Member = MOD) -> CommandResult:
    return await registry(r).run(command("raid", r.clock.now(), invoker=invoker, state=state))


async def test_the_command_is_declared_for_moderators_only(rig: Rig) -> None:
    (spec,) = specs_of(RaidCommands)
    assert (spec.name, spec.moderator_only) == ("raid", True)
    (param,) = spec.params
    assert (param.name, param.kind, param.choices, param.required) == (
        "state", "choice", ("status", "on", "off"), True)
    answer = await ask(rig, "on", invoker=member("bob"))
    assert (answer.ok, answer.text) == (False, "`raid` is for moderators only.")
    assert await rig.state() is None and rig.notices() == []


async def test_raid_on_status_and_off(tmp_path: Path) -> None:
    r = await make_rig(tmp_path / "h.db", replace(CFG, slow_channels=("general",)))
    t0 = r.clock.now()
    answer = await ask(r, "status")
    assert answer.text == "Raid mode is off. It starts by itself when 3 people join within 1m."
    answer = await ask(r, "on")
    assert answer.text == f"Raid mode is on until {fmt_time(t0 + 900)}."
    (notice,) = r.notices()
    assert notice.splitlines()[0] == (f"Mo turned raid mode on. New members' first posts are held "
                                      f"for review until {fmt_time(t0 + 900)}. End it early with /raid off.")
    assert [c.extra["seconds"] for c in r.platform.of("slow_mode")] == [30]
    answer = await ask(r, "on")
    assert answer.text == f"Raid mode is already on, until {fmt_time(t0 + 900)}."
    r.members.new.add("new1")
    ev, outcome = first_post("hi", t0)
    await r.post(ev, outcome)
    await r.join("late")
    answer = await ask(r, "status")
    assert answer.text == (f"Raid mode is on since {fmt_time(t0)}, until {fmt_time(t0 + 900)}: "
                           "1 joins, 1 first post(s) held (#1).")
    await r.clock.advance(120)
    answer = await ask(r, "off")
    assert answer.text == "Raid mode has ended."
    assert r.notices()[-1] == "Raid mode has ended after 2m: 1 joins, 1 first post(s) held (#1)."
    assert [c.extra["seconds"] for c in r.platform.of("slow_mode")] == [30, 0]
    assert await r.state() is None and await r.pending() == []
    answer = await ask(r, "off")
    assert answer.text == "Raid mode is not on."
    await r.clock.advance(3600)
    await r.scheduler.run_due()
    assert len([t for t in r.notices() if t.startswith("Raid mode has ended")]) == 1
    await r.db.close()


async def test_raid_off_when_the_notice_fails_says_it_is_ending_and_retries(rig: Rig) -> None:
    await start_by_joins(rig)
    rig.members.new.add("new1")
    rig.platform.fail("send", FlakyError("gateway down"))
    answer = await rig.raid.turn_off(COMMUNITY)
    assert answer == TEMPLATES["raid_answer_ending"]
    ev, outcome = first_post("hello", rig.clock.now())
    await rig.post(ev, outcome)
    assert not outcome.hidden  # holding stopped at once
    await rig.clock.advance(60)
    await rig.scheduler.run_due()
    assert await rig.state() is None
    assert len([t for t in rig.notices() if t.startswith("Raid mode has ended")]) == 1


async def test_raid_on_works_when_not_enabled_and_status_says_so(tmp_path: Path) -> None:
    r = await make_rig(tmp_path / "h.db", replace(CFG, enabled=False))
    assert await r.raid.status(COMMUNITY) == (
        "Raid mode is off. It does not start by itself here (raid.enabled is false); "
        "/raid on turns it on.")
    await r.raid.turn_on(COMMUNITY, MOD)
    assert await r.state() is not None
    await r.db.close()


# -- templates ---------------------------------------------------------------------------


def test_templates_are_new_names_with_known_placeholders() -> None:
    assert not set(TEMPLATES) & set(DEFAULT_TEMPLATES)
    assert validate_templates(TEMPLATES, TEMPLATES) == []
    assert "{text}" in TEMPLATES["raid_held"]  # the author gets their text back


async def test_an_admin_can_override_a_raid_text(rig: Rig) -> None:
    templates = Templates({**TEMPLATES, "raid_started": "RAID: {joins} in {window}."})
    r = replace(rig.ctx, templates=templates)
    raid = Raid(r, cases=rig.cases, members=rig.members)
    state = RaidState(since=0.0, until=900.0, joins=12)
    assert raid.start_text(COMMUNITY, state) == "RAID: 12 in 1m."


# -- config --------------------------------------------------------------------------------


REPO = Path(__file__).parent.parent


def parse(text: str) -> tuple[RaidConfig, list[str]]:
    """``text`` plus the moderators' channel, read by the config loader with the raid
    section and texts (the repository's rules); the section and every problem."""
    root = load_text(text + "channels: {moderators: mods}\n", "config.yaml")
    try:
        sections = app.SECTIONS if LISTED else (*app.SECTIONS, RAID_SECTION)
        config = parse_config(root, "config.yaml", REPO, sections,
                              {**app.template_defaults(), **TEMPLATES})
    except ConfigError as err:
        return RaidConfig(), [str(p) for p in err.problems]
    return config.get(RAID_SECTION), []


def test_config_defaults_are_off() -> None:
    assert parse("platform: console\n") == (RaidConfig(), [])
    assert RaidConfig() == RaidConfig(enabled=False, joins=10, within=60.0, lasts=900.0,
                                      hold_first_posts=True, slow_channels=(), slow_seconds=30)


def test_config_reads_every_key() -> None:
    cfg, problems = parse("raid:\n  enabled: true\n  joins: 20\n  within: 2m\n  lasts: 1h\n"
                          "  hold_first_posts: false\n  slow_channels: [general, vent]\n"
                          "  slow_seconds: 60\n")
    assert problems == []
    assert cfg == RaidConfig(True, 20, 120.0, 3600.0, False, ("general", "vent"), 60)


def test_config_problems_name_file_line_and_key() -> None:
    _, problems = parse("platform: console\nraid:\n  enabled: yes please\n  joins: 1\n"
                        "  within: 0\n  lasts: soon\n  slow_seconds: 99999\n  slow_channel: x\n")
    assert problems == [
        "config.yaml:8: raid.slow_channel: unknown key (did you mean 'slow_channels'?)",
        "config.yaml:3: raid.enabled: expected true or false, got 'yes please'",
        "config.yaml:4: raid.joins: must be between 2 and 10000, got 1",
        "config.yaml:5: raid.within: must be longer than zero",
        "config.yaml:6: raid.lasts: expected a duration like 10m, 2h or 1h30m, got 'soon'",
        "config.yaml:7: raid.slow_seconds: must be between 1 and 21600, got 99999",
    ]


def test_config_refuses_a_raid_mode_that_would_do_nothing() -> None:
    _, problems = parse("raid:\n  joins: 5\n  enabled: true\n  hold_first_posts: false\n")
    assert problems == ["config.yaml:3: raid.enabled: raid mode would do nothing: set "
                        "hold_first_posts or slow_channels"]
    assert parse("raid:\n  enabled: true\n  hold_first_posts: false\n  slow_channels: general\n")[1] == []
    assert parse("raid:\n  hold_first_posts: false\n")[1] == []  # off: nothing to do is fine


def test_config_section_must_be_a_mapping() -> None:
    assert parse("raid: on\n")[1] == ["config.yaml:1: raid: must be a mapping of settings"]


def test_raid_texts_are_overridable_with_their_placeholders() -> None:
    assert parse("templates: {raid_started: 'RAID: {joins} in {window}, until {until}'}\n")[1] == []
    (problem,) = parse("templates: {raid_held: 'held {joins}'}\n")[1]
    assert problem.startswith("config.yaml:1: templates.raid_held: unknown placeholder(s): {joins}")


# -- architecture ---------------------------------------------------------------------------


def test_the_package_imports_only_core_storage_and_rules() -> None:
    package = Path(raid_package.__file__).parent
    allowed = ("bot.core", "bot.storage", "bot.rules", "bot.features.raid")
    for file in package.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("bot"):
                    assert name.startswith(allowed), f"{file.name} imports {name}"


def test_the_commented_example_block_is_valid() -> None:
    text = (Path(__file__).parent.parent / "config.example.yaml").read_text()
    lines = text.splitlines()
    start = lines.index("# raid:")
    block = ["raid:"] + [line[1:] for line in itertools.takewhile(
        lambda line: line.startswith("#   "), lines[start + 1:])]
    cfg, problems = parse("\n".join(block) + "\n")
    assert problems == []
    assert cfg == RaidConfig(enabled=True, slow_channels=("general",))


# -- end to end on the Harness ----------------------------------------------------------------
# The whole Haven (app.create, the pipeline, moderation, members, welcome, unanswered, the
# command registry) with the raid feature added by the fixture until raid.SPEC is in FEATURES
# (then the fixture adds nothing). The loader test needs the section in app.SECTIONS, which
# comes from FEATURES: it runs once the one line is added.

LISTED = any(f.name == "raid" for f in FEATURES)
E2E_CFG = RaidConfig(enabled=True, joins=3, within=60.0, lasts=900.0, slow_channels=("general",))
RAID_YAML = "raid: {enabled: true, joins: 3, within: 60s, lasts: 15m, slow_channels: [general]}"


@pytest.fixture
def raid_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A Harness (not started) whose Haven has the raid feature, configured as E2E_CFG."""
    features = FEATURES if LISTED else (*FEATURES, SPEC)
    create, context = app.create, app.context

    async def create_with_raid(config: Config, platform: Any, clock: Any = None,
                               store: Any = None) -> Any:
        return await create(config, platform, clock, store, features)

    def context_with_raid(core: Any, spec: Any) -> Any:
        ctx = context(core, spec)
        return replace(ctx, config=E2E_CFG) if spec.name == "raid" else ctx

    monkeypatch.setattr(app, "create", create_with_raid)
    monkeypatch.setattr(app, "context", context_with_raid)
    return Harness(make_config(tmp_path))


async def _wave(h: Harness, n: int = 3, first: int = 0) -> None:
    assert h.core is not None
    for i in range(first, first + n):
        await h.core.handle(joined(member(f"w{i}", f"Wave {i}"), h.clock.now()))


def _mods(h: Harness, words: str) -> list[str]:
    return [c.text for c in h.platform.sent_to("mod-alerts") if words in c.text]


async def test_e2e_a_wave_holds_a_newcomers_first_post_and_ends_by_itself(raid_harness: Harness) -> None:
    h = raid_harness
    core = await h.start()
    try:
        await _wave(h, 2)
        assert _mods(h, "Raid mode") == []
        await _wave(h, 1, first=2)
        assert len(_mods(h, "Raid mode is on")) == 1
        await _wave(h, 3, first=3)
        assert len(_mods(h, "Raid mode is on")) == 1  # once per raid
        assert [c.extra["seconds"] for c in h.platform.of("slow_mode")] == [30]
        h.platform.clear()
        sam = member("sam", "Sam", joined_at=h.clock.now())
        await core.handle(post("hi all, I'm new here", h.clock.now(), author=sam, where="support"))
        (case,) = await core.store.cases.cases_for("c1", "sam")
        assert (case.action, case.rule_id) == ("hold", "raid")
        assert case.excerpt is not None and "new here" in case.excerpt
        assert len(h.platform.of("hide")) == 1
        (dm,) = h.platform.private_to("sam")
        assert "first posts are held" in dm.text and "> hi all, I'm new here" in dm.text
        assert h.platform.of("reply") == []  # no greeting
        assert await core.store.posts.open_posts("c1") == []  # not tracked as unanswered
        await core.handle(post("still here?", h.clock.now(), author=sam, where="support"))
        assert len(h.platform.of("hide")) == 1  # the second post is untouched
        old = member("old", "Old", joined_at=h.clock.now() - 90 * 86400)
        await core.handle(post("hello all", h.clock.now(), author=old, where="general"))
        assert len(h.platform.of("hide")) == 1  # an established member's post too
        await core.advance(900)
        (ended,) = _mods(h, "Raid mode has ended")
        assert ended == f"Raid mode has ended after 15m: 6 joins, 1 first post(s) held (#{case.id})."
        assert [c.extra["seconds"] for c in h.platform.of("slow_mode")] == [0]
        await core.advance(3600)
        assert len(_mods(h, "Raid mode has ended")) == 1
    finally:
        await h.stop()


async def test_e2e_a_newcomers_crisis_post_is_not_held_and_alerts(raid_harness: Harness) -> None:
    h = raid_harness
    core = await h.start()
    try:
        await _wave(h)
        kim = member("kim", "Kim", joined_at=h.clock.now())
        await core.handle(post("i want to kill myself", h.clock.now(), author=kim, where="general"))
        await core.drain()
        assert h.platform.of("hide") == []
        assert all(c.action != "hide" for c in await core.store.cases.cases_for("c1", "kim"))
        alert = await core.store.alerts.get_alert(1)
        assert alert is not None and alert.kind == "crisis"
        assert h.platform.private_to("kim") or h.platform.of("reply")  # signposted
    finally:
        await h.stop()


async def test_e2e_raid_mode_ends_across_a_restart(raid_harness: Harness) -> None:
    h = raid_harness
    await h.start()
    try:
        await _wave(h)
        await h.restart(downtime=3600)
        assert len(_mods(h, "Raid mode has ended")) == 1
        assert h.platform.of("slow_mode")[-1].extra["seconds"] == 0
    finally:
        await h.stop()


async def test_e2e_the_raid_command(raid_harness: Harness) -> None:
    h = raid_harness
    core = await h.start()
    try:
        answer = await core.handle(command("raid", h.clock.now(), state="status"))
        assert answer is not None and answer.text.startswith("Raid mode is off.")
        answer = await core.handle(command("raid", h.clock.now(), state="on"))
        assert answer is not None and answer.text.startswith("Raid mode is on until")
        answer = await core.handle(command("raid", h.clock.now(), invoker=member("bob"), state="off"))
        assert answer is not None and not answer.ok and "moderators only" in answer.text
        answer = await core.handle(command("raid", h.clock.now(), state="off"))
        assert answer is not None and answer.text == "Raid mode has ended."
        assert _mods(h, "Raid mode has ended")
    finally:
        await h.stop()


@pytest.mark.skipif(not LISTED, reason="raid.SPEC is not in bot.features.FEATURES yet")
def test_e2e_config_problems_come_from_the_app_loader(tmp_path: Path) -> None:
    assert make_config(tmp_path).get(RAID_SECTION) == RaidConfig()  # off by default
    assert make_config(tmp_path, RAID_YAML).get(RAID_SECTION) == E2E_CFG
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, "raid: {enabled: true, joins: 1}")
    assert "raid.joins: must be between 2 and 10000, got 1" in str(err.value)
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, "raid: {enabled: true, hold_first_posts: false}")
    assert "raid.enabled: raid mode would do nothing" in str(err.value)
    # the raid texts are overridable, with their own placeholders
    cfg = make_config(tmp_path, "templates: {raid_started: 'RAID: {joins} in {window} until {until}'}")
    assert cfg.templates["raid_started"] == "RAID: {joins} in {window} until {until}"

"""bot.core.pipeline: the order in which features see a post is data, and is this."""

from __future__ import annotations

from bot.core.events import MessagePosted
from bot.core.feature import MessageOutcome, Stage
from tests.conftest import Harness
from tests.fakes import member, post

EXPECTED = [
    # (name, order, lane, skipped when, critical)
    ("moderation.act", 10, "urgent", set(), True),
    ("alerts.private", 10, "private", set(), True),
    ("content_warnings.check", 20, "follow_up", {"hidden", "support"}, False),
    ("members.record", 30, "follow_up", {"edited"}, False),
    ("raid.hold", 35, "follow_up", {"edited", "hidden", "support"}, False),
    ("welcome.first_post", 40, "follow_up", {"edited", "hidden", "crisis"}, False),
    ("details.check", 45, "follow_up", {"hidden", "support"}, False),
    ("unanswered.track", 50, "follow_up", set(), False),
    ("digest.schedule", 90, "follow_up", set(), False),
]


def test_the_stage_table_of_the_built_app(harness: Harness) -> None:
    stages = harness.core.pipeline.stages
    table = [(s.name, s.order, s.lane, set(s.skip), s.critical) for s in stages]
    assert sorted(table, key=lambda r: (r[1], r[0])) == sorted(
        [r for r in EXPECTED if r[0] in {s.name for s in stages}], key=lambda r: (r[1], r[0]))
    assert {r[0] for r in EXPECTED} <= {s.name for s in stages}
    # the follow-up runs in order
    follow = [s.order for s in harness.core.pipeline.of("follow_up")]
    assert follow == sorted(follow)


def test_each_lanes_stages_are_listed_once_not_per_post(harness: Harness) -> None:
    """The stages of a lane are sorted and split once (when set), not filtered per post."""
    pipeline = harness.core.pipeline
    assert pipeline.of("urgent") is pipeline.of("urgent")
    for lane in ("urgent", "follow_up", "private"):
        assert list(pipeline.of(lane)) == [s for s in pipeline.stages if s.lane == lane]
    assert pipeline.of("no such lane") == ()
    last = pipeline.stages[-1]
    pipeline.stages = [s for s in pipeline.stages if s is not last]  # set again: split again
    assert last not in pipeline.of(last.lane)
    pipeline.stages = [last, *pipeline.stages]
    assert pipeline.stages[-1] is last and pipeline.of(last.lane)[-1] is last  # sorted


async def test_a_failing_critical_stage_leaves_the_post_unhandled_and_quoted_nowhere(
        harness: Harness) -> None:
    core = harness.core
    seen: list[MessageOutcome] = []

    async def broken(ev: MessagePosted, outcome: MessageOutcome) -> None:
        raise RuntimeError("boom")

    async def watch(ev: MessagePosted, outcome: MessageOutcome) -> None:
        seen.append(outcome)

    core.pipeline.stages = sorted([*core.pipeline.stages,
                                   Stage("test.broken", 5, "urgent", broken, critical=True),
                                   Stage("test.watch", 99, "follow_up", watch)],
                                  key=lambda s: s.order)
    ev = post("hello there", harness.clock.now(), author=member("a"), msg_id="m1")
    await core.handle(ev)
    [outcome] = seen
    assert outcome.failed and not outcome.crisis  # no matches: nothing to treat as crisis
    assert core.errors == 1
    # not marked handled: a repeated delivery runs again
    await core.handle(ev)
    assert len(seen) == 2


async def test_guards_skip_stages(harness: Harness) -> None:
    core = harness.core
    ran: list[str] = []

    async def record(ev: MessagePosted, outcome: MessageOutcome) -> None:
        ran.append(ev.text)

    core.pipeline.stages = sorted([*core.pipeline.stages, Stage(
        "test.newposts", 35, "follow_up", record, skip=frozenset({"edited", "support"}))],
        key=lambda s: s.order)
    await core.handle(post("first", harness.clock.now(), author=member("a"), msg_id="m1"))
    await core.handle(post("first, edited", harness.clock.now(), author=member("a"),
                           msg_id="m1", edited=True))
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("b")))
    assert ran == ["first"]


async def test_a_repeated_version_is_skipped_and_a_new_version_is_not(harness: Harness) -> None:
    core = harness.core
    ran: list[str] = []

    async def record(ev: MessagePosted, outcome: MessageOutcome) -> None:
        ran.append(ev.text)

    core.pipeline.stages = [*core.pipeline.stages, Stage("test.all", 99, "follow_up", record)]
    ev = post("same words", harness.clock.now(), author=member("a"), msg_id="m9")
    await core.handle(ev)
    await core.handle(ev)
    await core.handle(post("new words", harness.clock.now(), author=member("a"), msg_id="m9",
                           edited=True))
    assert ran == ["same words", "new words"]


def test_outcome_of_matches() -> None:
    assert not MessageOutcome.of([]).support

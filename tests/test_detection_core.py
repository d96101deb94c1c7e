"""The semantic stage in the live bot: it adds matches the rules miss, never blocks the
loop, never removes a rule's match, and acts on nothing in shadow mode."""

from __future__ import annotations

import io

import pytest

from bot.detection.corpus import Example, load_corpus
from bot.detection.stage import SemanticStage
from bot.detection.train import TrainOptions, train
from tests.conftest import Harness
from tests.detection_helpers import FakeBackend, write_corpus
from tests.fakes import command, deleted, member, post

# head="net": the tiny corpus is too small for the ensemble's members to agree (it has
# its own test in test_detection_train.py); one network per fold is a stable small head.
FAST = TrainOptions(sparse_iterations=60, folds=2, examples_per_label=3, ngram_dim=1 << 12,
                    hidden=32, epochs=150, gate=0.0, head="net")
CATS = ("crisis", "concern", "method", "hostility", "pii")
MOD = member("mod", roles=("Moderators",))


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = write_corpus(tmp_path_factory.mktemp("corpus"))
    data = [Example(e.text, e.label, e.lang, e.cls, "examples") for e in load_corpus(root)]
    return train(data, FakeBackend(), opts=FAST, out=io.StringIO())[0]


def _with_stage(harness: Harness, detector, mode: str = "on", actions=None) -> SemanticStage:  # type: ignore[no-untyped-def]
    assert harness.core is not None
    stage = SemanticStage(detector, FakeBackend(), mode=mode, thresholds=dict.fromkeys(CATS, 0.5),
                          actions=actions)
    harness.core.triage.semantic = stage
    return stage


def alerts(h: Harness) -> list:  # type: ignore[type-arg]
    return [c for c in h.platform.sent_to("mod-alerts") if "alert" in c.text.lower()]


async def test_semantic_crisis_alerts_moderators(harness: Harness, detector) -> None:  # type: ignore[no-untyped-def]
    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    text = "goodbye everyone, the letters are written and tonight is the night"
    assert core.evaluate(post(text, harness.clock.now())) == []  # the test rules miss it
    core.submit(post(text, harness.clock.now(), author=member("cas"), where="vent"))
    await core.drain()
    [alert] = alerts(harness)
    assert "semantic:crisis" in alert.text
    # the moderators read why: the score and the closest labelled examples (stored with it)
    assert "Why: semantic crisis score" in alert.text and "closest labelled examples" in alert.text
    stored = await core.store.alerts.get_alert(1)
    assert stored is not None and stored.rule_id == "semantic:crisis"
    assert stored.reason is not None and stored.reason.startswith("semantic crisis score")
    assert not harness.platform.of("hide") and not harness.platform.of("timeout")


async def test_a_rules_alert_has_no_semantic_reason(harness: Harness, detector) -> None:  # type: ignore[no-untyped-def]
    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    await core.handle(post("i want to kill myself", harness.clock.now(), author=member("cas")))
    [alert] = alerts(harness)
    assert "Rule: `semantic:" not in alert.text and "Why:" not in alert.text
    stored = await core.store.alerts.get_alert(1)
    assert stored is not None and stored.reason is None


async def test_shadow_mode_acts_on_nothing(harness: Harness, detector) -> None:  # type: ignore[no-untyped-def]
    _with_stage(harness, detector, mode="shadow")
    core = harness.core
    assert core is not None
    ev = post("which bridge is high enough that you would not survive", harness.clock.now(),
              author=member("x"))
    assert core.evaluate(ev) == [] and any(m.rule.shadow for m in await core.detect(ev))
    core.submit(ev)
    await core.drain()
    assert alerts(harness) == [] and not harness.platform.of("hide")


async def test_a_crisis_only_the_stage_sees_is_not_held_up_by_a_hanging_repost(  # type: ignore[no-untyped-def]
        harness: Harness, detector) -> None:
    """Issue 12 item 3 for the semantic stage: it classifies on arrival, so its crisis
    goes to the urgent lane too and never waits behind slow platform work."""
    import asyncio

    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    core.platform.limit = 3.0  # type: ignore[attr-defined]

    async def hanging_repost(*args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(3600)

    harness.platform.repost = hanging_repost  # type: ignore[method-assign]
    core.submit(post("my self harm scars", harness.clock.now(), author=member("sam")))
    await asyncio.sleep(0.2)  # the redirect is now stuck in its repost
    text = "goodbye everyone, the letters are written and tonight is the night"
    assert core.evaluate(post(text, harness.clock.now())) == []  # only the stage sees it
    loop = asyncio.get_running_loop()
    started = loop.time()
    core.submit(post(text, harness.clock.now() + 1, author=member("cas")))
    while not alerts(harness) and loop.time() - started < 2.5:
        await asyncio.sleep(0.005)
    assert alerts(harness), "the semantic crisis waited behind the repost"
    assert loop.time() - started < 1.0
    await core.drain()


async def test_events_after_a_classified_message_keep_their_order(  # type: ignore[no-untyped-def]
        harness: Harness, detector) -> None:
    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    ev = post("does anyone know a good recipe for soup", harness.clock.now(), author=member("ana"),
              where="support", msg_id="o1")
    core.submit(ev)
    core.submit(deleted(ev, harness.clock.now() + 1))  # must run after the post, not before
    await core.drain()
    [tracked] = await core.store.posts.posts_since("c1", 0)
    assert tracked.state == "deleted"


async def test_semantic_method_is_observed_until_the_admin_gives_it_actions(  # type: ignore[no-untyped-def]
        harness: Harness, detector) -> None:
    """A model's guess never hides a member's post by default: method, hostility and pii
    hits are shown (scan, rules test, log) but act only with `detection.actions`."""
    from bot.rules.model import Action

    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    ev = post("which bridge is high enough that you would not survive", harness.clock.now(),
              author=member("x"))
    [m] = [m for m in await core.detect(ev) if m.rule.category == "method"]
    assert m.rule.shadow
    core.submit(ev)
    await core.drain()
    assert not harness.platform.of("hide") and alerts(harness) == []
    # with actions chosen by the admin, the same hit acts
    _with_stage(harness, detector, actions={"method": (Action("hide"),)})
    [m] = [m for m in await core.detect(ev) if m.rule.category == "method"]
    assert not m.rule.shadow


async def test_a_failing_stage_leaves_the_rules_in_charge(harness: Harness, detector) -> None:  # type: ignore[no-untyped-def]
    stage = _with_stage(harness, detector)

    def boom(texts):  # type: ignore[no-untyped-def]
        raise RuntimeError("model crashed")

    stage.analyse = boom  # type: ignore[method-assign]
    core = harness.core
    assert core is not None
    ev = post("I want to kill myself", harness.clock.now(), author=member("cas"))
    rules_only = core.evaluate(ev)
    assert rules_only
    assert await core.detect(ev) == rules_only
    assert core.errors == 1


async def test_rules_test_command_shows_semantic_matches(harness: Harness, detector) -> None:  # type: ignore[no-untyped-def]
    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    result = await core.handle(command("rules test", harness.clock.now(), invoker=MOD,
                                       text="which bridge is high enough that you would not survive"))
    assert result is not None and "semantic:method" in result.text
    assert "semantic method score" in result.text


async def test_feedback_command_writes_the_review_file(harness_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    review = tmp_path / "review" / "haven-review.yaml"
    harness = harness_factory(f"detection: {{semantic: off, review_file: {review}}}\n")
    core = await harness.start()
    result = await core.handle(command("feedback", harness.clock.now(), invoker=MOD, kind="missed",
                                       label="crisis", what="gave my dog to my brother, bye all"))
    assert result is not None and result.ok and "1 item" in result.text
    assert core.config.detection.review_file == review and "gave my dog" in review.read_text()
    refused = await core.handle(command("feedback", harness.clock.now(), invoker=member("x"),
                                        kind="missed", label="none", what="hi"))
    assert refused is not None and not refused.ok
    missing = await core.handle(command("feedback", harness.clock.now(), invoker=MOD,
                                        kind="falsealarm", label="none", what="99"))
    assert missing is not None and not missing.ok and "No alert #99" in missing.text
    await harness.stop()


async def test_demo_shows_a_semantic_catch_and_a_quiet_note(capsys) -> None:  # type: ignore[no-untyped-def]
    from bot.demo import run_demo

    assert await run_demo() == 0
    out = capsys.readouterr().out
    scene = out[out.index("Meaning, not only words"):]
    assert "Crisis (critical)" in scene and "Rule: `semantic:crisis`" in scene
    assert "Concern (medium)" in scene and "Rule: `semantic:concern`" in scene
    assert "Why: semantic crisis score" in scene and "Why: semantic concern score" in scene


async def test_semantic_crisis_in_a_private_message_reaches_moderators(harness: Harness,
                                                                       detector) -> None:  # type: ignore[no-untyped-def]
    from bot.core.events import Channel

    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    who = member("cas", "Casey")
    text = "goodbye everyone, the letters are written and tonight is the night"
    ev = post(text, harness.clock.now(), author=who, chan=Channel("dm-cas", "dm", kind="dm"))
    assert core.evaluate(ev) == []
    await core.handle(ev)
    [alert] = alerts(harness)
    assert "in a private message to Haven" in alert.text and "semantic:crisis" in alert.text
    assert harness.platform.of("hide") == []


async def test_a_deletion_right_after_a_quiet_note_does_not_overtake_its_follow_up(  # type: ignore[no-untyped-def]
        harness: Harness, detector) -> None:
    """A post the stage flags (urgent lane) has its follow-up (tracking it as unanswered)
    run in the normal lane; a deletion that arrives while the urgent part runs keeps its
    place behind that follow-up, so the deleted post is not left tracked (and reminded)."""
    _with_stage(harness, detector)
    core = harness.core
    assert core is not None
    ev = post("sometimes i wish i didn't exist at all", harness.clock.now(), author=member("ana"),
              where="support", msg_id="q1")
    assert core.evaluate(ev) == [] and any(m.rule.category == "concern"
                                           for m in await core.detect(ev))
    core.submit(ev)
    core.submit(deleted(ev, harness.clock.now() + 1))
    await core.drain()
    [tracked] = await core.store.posts.posts_since("c1", 0)
    assert tracked.state == "deleted"
    assert alerts(harness) or harness.platform.sent_to("mod-alerts")

"""Community health statistics and the chart."""

from __future__ import annotations

import pytest

from bot.core.ports import Capability
from bot.features.stats.figures import Stats, StatsSources, compute_stats, percentile, render_chart
from tests.conftest import Harness
from tests.fakes import command, member, post


def test_percentile() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile(list(range(11)), 90) == pytest.approx(9.0)


def test_text_with_no_data() -> None:
    s = Stats(days=7, posts=0, answered=0, reply_times=(), within_2h=0, within_24h=0,
              alerts_opened=0, alerts_resolved=0, claim_times=())
    assert "n/a" in s.as_text()
    png = render_chart(s)
    assert png.data.startswith(b"\x89PNG")


async def test_stats_from_activity(harness: Harness) -> None:
    core = harness.core
    clock = harness.clock
    # three support posts: answered after 30 min, after 5 h, and never
    for i, delay in enumerate((1800, 5 * 3600, None)):
        await core.handle(post(f"q{i}", clock.now(), author=member(f"a{i}"), where="support",
                               msg_id=f"q{i}"))
        if delay:
            await core.advance(delay)
            await core.handle(post("a", clock.now(), author=member("helper"), where="support",
                                   reply_to=f"q{i}"))
    await core.handle(post("i want to kill myself", clock.now(), author=member("cas")))
    await core.advance(300)
    await core.handle(command("claim", clock.now(), alert="1"))
    await core.store.members.touch_member("c1", "lurker", "Lurker", clock.now())
    stats = await compute_stats(StatsSources(core.store.alerts, core.store.posts, core.store.members, core.store.duty), "c1", clock.now(), 30)
    assert stats.posts == 3 and stats.answered == 2
    assert stats.within_2h == 1 and stats.within_24h == 2
    assert stats.median_reply == pytest.approx((1800 + 5 * 3600) / 2)
    assert stats.alerts_opened == 1 and stats.median_claim == pytest.approx(300)
    assert stats.alerts_per_moderator == {"mod1": 1}
    assert stats.readers == 1 and stats.repliers == 1
    text = stats.as_text()
    assert "within 2 h: 33%" in text and "within 24 h: 67%" in text
    png = render_chart(stats, {"mod1": "Mo"})
    assert png.data.startswith(b"\x89PNG") and len(png.data) > 10_000


async def test_text_fallback_when_platform_takes_no_attachments(harness: Harness) -> None:
    harness.platform.capabilities -= {Capability.ATTACHMENTS}
    r = await harness.core.handle(command("stats", harness.clock.now()))
    assert r.attachments == () and "Community health" in r.text


async def _activity(harness: Harness) -> None:
    core, clock = harness.core, harness.clock
    await core.handle(post("q0", clock.now(), author=member("a0"), where="support", msg_id="q0"))
    await core.advance(1800)
    await core.handle(post("a", clock.now(), author=member("helper"), where="support",
                           reply_to="q0"))
    await core.handle(post("i want to kill myself", clock.now(), author=member("cas")))
    await core.advance(300)
    await core.handle(command("claim", clock.now(), alert="1"))


async def test_the_feature_gives_the_dashboard_the_same_figures(harness: Harness) -> None:
    from bot.core.contracts import HealthFigures

    await _activity(harness)
    feature = harness.core.features["stats"]
    assert isinstance(feature, HealthFigures)
    report = await feature.health("c1", 7)
    assert report.days == 7
    assert report.figures["posts"] == "1" and report.figures["within_2h"] == "100%"
    assert report.figures["median_claim"] == "5m" and report.figures["alerts_opened"] == "1"
    assert report.per_moderator == (("mod1", 1),)
    answer = await harness.core.handle(command("stats", harness.clock.now(), days="7"))
    for name in ("posts", "within_2h", "median_reply", "median_claim"):
        assert report.figures[name] in answer.text
    with pytest.raises(ValueError, match="between 1 and 365"):
        await feature.health("c1", 0)


async def test_the_chart_as_svg_wide_and_tall(harness: Harness) -> None:
    await _activity(harness)
    feature = harness.core.features["stats"]
    wide = await feature.health_chart("c1", 30)
    tall = await feature.health_chart("c1", 30, tall=True)
    for svg in (wide, tall):
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg[:2000]
        assert b"<script" not in svg
    assert _height_over_width(tall) > 2 > 1 > _height_over_width(wide)


def _height_over_width(svg: bytes) -> float:
    import re

    found = re.search(rb'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert found, svg[:400]
    return float(found[2]) / float(found[1])


def test_a_chart_format_must_be_known() -> None:
    s = Stats(days=7, posts=0, answered=0, reply_times=(), within_2h=0, within_24h=0,
              alerts_opened=0, alerts_resolved=0, claim_times=())
    with pytest.raises(ValueError, match="unknown chart format"):
        render_chart(s, fmt="gif")


async def test_the_dashboards_chart_is_drawn_off_the_event_loop(harness: Harness,
                                                               monkeypatch) -> None:
    import asyncio
    import threading

    import bot.features.stats.commands as commands

    where: list[str] = []

    def drawing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        where.append(threading.current_thread().name)
        return render_chart(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(commands, "render_chart", drawing)
    feature = harness.core.features["stats"]
    charts = await asyncio.gather(*(feature.health_chart("c1", d, tall=d == 7)
                                    for d in (7, 30, 90)))
    assert all(b"<svg" in c[:2000] for c in charts)
    assert len(where) == 3 and threading.main_thread().name not in where

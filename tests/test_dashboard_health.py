"""The dashboard's Health page: the stats figures and chart for 7/30/90 days."""

from __future__ import annotations

import re

from tests.dashboard_helpers import Dash, dash
from tests.fakes import command, member, post

__all__ = ["dash"]  # the fixture


async def _activity(d: Dash) -> None:
    core, clock = d.core, d.harness.clock
    await core.handle(post("q0", clock.now(), author=member("a0"), where="support", msg_id="q0"))
    await core.advance(1800)
    await core.handle(post("a", clock.now(), author=member("helper"), where="support",
                           reply_to="q0"))
    await core.handle(post("i want to end my life", clock.now(), author=member("cas", "Casey"),
                           where="general"))
    await core.advance(300)
    await core.handle(command("claim", clock.now(), alert="1"))


def _figure(html: str, label: str) -> str:
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd>([^<]*)</dd>", html)
    assert found, f"no figure {label!r}"
    return found.group(1)


async def test_the_figures_are_the_stats_commands(dash: Dash) -> None:
    await _activity(dash)
    await dash.sign_in()
    status, html = await dash.page("/health?days=7")
    assert status == 200
    assert _figure(html, "Posts") == "1" and _figure(html, "Answered within 2 h") == "100%"
    assert _figure(html, "Time to first reply, median") == "30m"
    assert _figure(html, "Opened") == "1" and _figure(html, "Time to claim, median") == "5m"
    assert "Mo: 1" in html  # claimed per moderator, by name
    assert "claimed 1/1" in html  # each moderator's load (the care feature's), 24 h / 7 days
    answer = await dash.core.handle(command("stats", dash.harness.clock.now(), days="7"))
    assert "median 30m" in answer.text and "median time to claim 5m" in answer.text
    assert 'aria-current="true">7 days' in html
    # crisis text is for the Alerts page only
    assert "end my life" not in html and "Casey" not in html


async def test_periods_are_7_30_or_90_days(dash: Dash) -> None:
    await dash.sign_in()
    for asked, shown in (("90", 90), ("30", 30), ("", 30), ("5", 30), ("x", 30), ("-7", 30)):
        status, html = await dash.page(f"/health?days={asked}")
        assert status == 200
        assert f'aria-current="true">{shown} days' in html, asked
        assert f"/health/chart.svg?days={shown}" in html


async def test_older_activity_counts_only_in_the_longer_periods(dash: Dash) -> None:
    await _activity(dash)
    await dash.core.advance(10 * 86400)
    await dash.sign_in()
    _, week = await dash.page("/health?days=7")
    _, month = await dash.page("/health?days=30")
    assert _figure(week, "Posts") == "0" and _figure(week, "Time to claim, median") == "n/a"
    assert _figure(month, "Posts") == "1"


async def test_the_chart_is_svg_wide_and_tall(dash: Dash) -> None:
    await _activity(dash)
    await dash.sign_in()
    _, html = await dash.page("/health")
    assert 'media="(max-width: 40rem)" srcset="/health/chart.svg?days=30&amp;layout=tall"' in html
    bodies = []
    for path in ("/health/chart.svg?days=30", "/health/chart.svg?days=30&layout=tall"):
        status, body = await dash.page(path)
        response = dash.browser.last
        assert status == 200 and response is not None
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert response.headers["Cache-Control"] == "no-store"
        assert "<svg" in body[:2000] and "<script" not in body
        bodies.append(body)
    assert bodies[0] != bodies[1]


async def test_not_signed_in_no_figures_and_no_chart(dash: Dash) -> None:
    for path in ("/health", "/health/chart.svg"):
        status, html = await dash.page(path)
        assert status == 401, path
        assert "<svg" not in html


async def test_without_the_stats_feature_the_page_says_so(dash: Dash) -> None:
    dash.core.features.pop("stats")
    await dash.sign_in()
    status, html = await dash.page("/health")
    assert status == 200 and "no figures to show" in html and "chart.svg" not in html
    status, _ = await dash.page("/health/chart.svg")
    assert status == 404


async def test_a_failing_chart_is_an_error_not_a_crash(dash: Dash, monkeypatch) -> None:
    feature = dash.core.features["stats"]

    async def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("matplotlib fell over")

    monkeypatch.setattr(feature, "health_chart", broken)
    await dash.sign_in()
    status, _ = await dash.page("/health/chart.svg")
    assert status == 500
    status, html = await dash.page("/health")
    assert status == 200 and "Posts" in html

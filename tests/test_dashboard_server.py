"""The dashboard's server: sign-in by a one-time link, refusals, CSRF, headers."""

from __future__ import annotations

from tests.dashboard_helpers import Dash, dash
from tests.fakes import member, post

__all__ = ["dash"]  # the fixture


async def test_a_moderator_signs_in_with_a_link_and_sees_the_pages(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    status, html = await dash.page("/")
    assert status == 200
    for title in ("Alerts", "Unanswered", "Members", "Shift"):
        assert title in html
    assert "Mo" in html


async def test_without_a_session_nothing_is_shown(dash: Dash) -> None:
    await dash.core.handle(post("i want to end my life", dash.harness.clock.now(),
                                author=member("cas", "Casey"), where="vent"))
    for path in ("/", "/alerts", "/members?q=cas", "/shift", "/unanswered"):
        status, html = await dash.page(path)
        assert status == 401, path
        assert "end my life" not in html and "Casey" not in html


async def test_the_alerts_page_shows_the_open_queue(dash: Dash) -> None:
    await dash.core.handle(post("i want to end my life", dash.harness.clock.now(),
                                author=member("cas", "Casey"), where="vent"))
    await dash.sign_in()
    status, html = await dash.page("/alerts")
    assert status == 200
    assert "Casey" in html and "#1" in html and "end my life" in html

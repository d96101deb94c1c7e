"""Live updates: a server-sent event names what changed (never content) when another
moderator acts in chat or a new alert arrives; the stream ends for a demoted moderator."""

from __future__ import annotations

import asyncio

from aiohttp import ClientResponse

from bot.core.events import Member
from tests.dashboard_helpers import Dash, dash
from tests.fakes import MOD, command, member, post

__all__ = ["dash"]  # the fixture


async def _next_event(response: ClientResponse, timeout: float = 5.0) -> str | None:
    """The data of the next ``change`` event, or ``None`` when the stream ends."""
    async def read() -> str | None:
        event = None
        while True:
            line = await response.content.readline()
            if not line:
                return None
            text = line.decode().strip()
            if text == "event: change":
                event = "change"
            elif text.startswith("data: ") and event == "change":
                return text.removeprefix("data: ")
    return await asyncio.wait_for(read(), timeout)


async def _crisis(d: Dash, who: str = "cas") -> None:
    await d.core.handle(post("i want to end my life", d.harness.clock.now(),
                             author=member(who, who.title()), where="vent"))


async def test_another_moderators_claim_in_chat_reaches_the_page(dash: Dash) -> None:
    dash.dashboard.feed.poll = 0.2
    await _crisis(dash)
    assert await dash.sign_in() == 200
    async with dash.browser.session.get("/events") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-store"
        other = member("mod2", "Max", roles=("Moderators",))
        await dash.core.handle(command("claim", dash.harness.clock.now(), invoker=other,
                                       alert="1"))
        assert await _next_event(response) == "alerts"
        await dash.core.handle(command("duty", dash.harness.clock.now(), invoker=other,
                                       state="on"))
        assert await _next_event(response) == "shift"


async def test_a_new_alert_is_noticed(dash: Dash) -> None:
    dash.dashboard.feed.poll = 0.2
    assert await dash.sign_in() == 200
    async with dash.browser.session.get("/events") as response:
        await asyncio.sleep(0.1)
        await _crisis(dash, "dee")
        assert await _next_event(response) == "alerts"


async def test_events_name_a_topic_never_content(dash: Dash) -> None:
    dash.dashboard.feed.poll = 0.2
    assert await dash.sign_in() == 200
    async with dash.browser.session.get("/events") as response:
        await asyncio.sleep(0.1)
        await _crisis(dash, "dee")
        body = b""
        while b"data: alerts" not in body:
            body += await asyncio.wait_for(response.content.readany(), 5)
    assert b"end my life" not in body and b"Dee" not in body


async def test_the_stream_ends_for_a_demoted_moderator(dash: Dash) -> None:
    dash.dashboard.feed.poll = 0.2
    assert await dash.sign_in() == 200
    async with dash.browser.session.get("/events") as response:
        dash.harness.platform.members[MOD.id] = Member(MOD.id, MOD.name)
        dash.harness.clock.set(dash.harness.clock.now() + 61)
        assert await _next_event(response) is None


async def test_the_stream_needs_a_session(dash: Dash) -> None:
    status, _ = await dash.page("/events")
    assert status == 401


async def test_closing_the_dashboard_ends_the_streams(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    async with dash.browser.session.get("/events") as response:
        await asyncio.sleep(0.1)
        dash.dashboard.feed.close()
        assert await _next_event(response) is None

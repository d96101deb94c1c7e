"""What every page shares (bot.dashboard.page): escaping, safe links, the excerpt choice,
and acting as the signed-in moderator once per form."""

from __future__ import annotations

from bot.core.events import CommandInvoked, CommandResult, Event
from bot.dashboard.page import DASHBOARD_CHANNEL, views
from tests.dashboard_helpers import Dash, dash
from tests.fakes import COMMUNITY, MOD, member, post

__all__ = ["dash"]  # the fixture


async def test_names_and_words_are_escaped(dash: Dash) -> None:
    evil = member("x1", "<script>alert(1)</script>")
    await dash.core.handle(post("<img src=x onerror=alert(2)> i want to end my life",
                                dash.harness.clock.now(), author=evil, where="vent"))
    assert await dash.sign_in() == 200
    _, html = await dash.page("/alerts")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html


async def test_only_web_and_matrix_links_are_links(dash: Dash) -> None:
    template = views().from_string('{% import "_macros.html" as m %}{{ m.open_link(link) }}')
    assert 'href="https://chat.example/1"' in template.render(link="https://chat.example/1")
    assert "href" not in template.render(link="javascript:alert(1)")
    assert "href" not in template.render(link="")


async def test_an_unknown_default_shows_the_words(dash: Dash) -> None:
    dash.dashboard.door.excerpts_default = "weird"
    await dash.core.handle(post("i want to end my life", dash.harness.clock.now(),
                                author=member("cas", "Casey"), where="vent"))
    assert await dash.sign_in() == 200
    _, html = await dash.page("/alerts")
    assert "end my life" in html


async def test_an_action_is_the_command_run_as_the_moderator(dash: Dash) -> None:
    seen: list[CommandInvoked] = []
    handle = dash.core.handle

    async def spy(event: Event) -> CommandResult | None:
        if isinstance(event, CommandInvoked):
            seen.append(event)
        return await handle(event)

    dash.core.handle = spy  # type: ignore[method-assign]
    assert await dash.sign_in() == 200
    await dash.post("/shift/handover", {"text": "quiet night"}, "/shift")
    [event] = seen
    assert event.name == "handover" and event.options == {"text": "quiet night"}
    assert event.invoker.id == MOD.id and "Moderators" in event.invoker.roles
    assert event.community_id == COMMUNITY and event.channel == DASHBOARD_CHANNEL
    assert event.delivery_id and event.delivery_id.startswith("dashboard:")

"""The dashboard in a real browser: Debian's headless Chromium signs in by the one-time
link from the ``dashboard`` command, claims and resolves an alert, edits the community's
rules with a mistake and sees the ``file:line`` problem, fixes it, saves, and sees the
test box match. Every page is photographed at phone and desktop width
(``tests/artifacts/screenshots/``), must not scroll sideways on a phone, and must run
without a console error.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.core.runtime import Haven
from bot.dashboard.server import Dashboard
from tests.browser import PHONE, new_page, overflows_horizontally, screenshots
from tests.conftest import Harness
from tests.dashboard_helpers import dash_harness, serve
from tests.fakes import MOD, command, member, post
from tests.test_dashboard_rules import ADMIN, BAD, GOOD, with_community_rules

pytestmark = pytest.mark.browser

LINK = re.compile(r"http://127\.0\.0\.1:8089(/login/[A-Za-z0-9_-]+)")
PAGES = ("alerts", "unanswered", "members", "shift", "review", "health", "rules", "settings")


@dataclass
class Served:
    """A running core, its dashboard on loopback, and the community rule file."""

    harness: Harness
    dashboard: Dashboard
    server: TestServer
    own_rules: Path

    @property
    def core(self) -> Haven:
        assert self.harness.core is not None
        return self.harness.core

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def link(self) -> str:
        """The sign-in link, as the ``dashboard`` command sends it (privately) to Ada."""
        result = await self.core.handle(command("dashboard", self.harness.clock.now(),
                                                invoker=ADMIN))
        assert result is not None and result.ok, result
        [dm] = self.harness.platform.private_to(ADMIN.id)
        found = LINK.search(dm.text)
        assert found, "no link in the private message"
        return self.url(found.group(1))

    async def dashboard_link_for_mo(self) -> str:
        """A one-time link token for Mo, a moderator who is not an admin."""
        return await self.dashboard.repo.create_link("c1", MOD.id, MOD.name,
                                                     self.harness.clock.now(), 600)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    extra, own = with_community_rules(tmp_path)
    harness = dash_harness(tmp_path, extra)
    harness.platform.add_member(ADMIN)
    await harness.start()
    dashboard, server = await serve(harness)
    try:
        yield Served(harness, dashboard, server, own)
    finally:
        await server.close()
        await harness.stop()


async def _some_activity(s: Served) -> None:
    """A crisis post (alert #1), a support post waiting and one answered."""
    core, clock = s.core, s.harness.clock
    await core.handle(post("q0", clock.now(), author=member("a0", "Avery"), where="support",
                           msg_id="q0"))
    await core.advance(1800)
    await core.handle(post("thanks for asking, here's what helped me", clock.now(),
                           author=member("helper", "Hal"), where="support", reply_to="q0"))
    await core.handle(post("anyone around? rough night", clock.now(),
                           author=member("a1", "Bo"), where="support", msg_id="q1"))
    await core.advance(600)
    await core.handle(post("i want to end my life", clock.now(), author=member("cas", "Casey"),
                           where="general"))
    await core.advance(120)


async def test_a_moderator_handles_a_shift_in_the_browser(served: Served, browser) -> None:
    s = served
    await _some_activity(s)
    page = await new_page(browser)

    # sign in by the one-time link: a page with one button, then the landing page
    await page.goto(await s.link())
    await screenshots(page, "signin")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(s.url("/"))
    assert "Signed in as Ada" in await page.inner_text("main")
    await screenshots(page, "landing")

    # claim and resolve the alert
    await page.get_by_label("Pages").get_by_role("link", name="Alerts", exact=True).click()
    await page.wait_for_url(s.url("/alerts"))
    alert = page.locator("#alert-1")
    assert "i want to end my life" in await alert.inner_text()
    await screenshots(page, "alerts")
    await alert.get_by_role("button", name="Claim #1").click()
    await page.wait_for_load_state()
    assert "claimed by Ada" in await page.locator("#alert-1").inner_text()
    await page.locator("#note-1").fill("Talked with Casey in private; they are safe tonight.")
    await page.locator("#alert-1").get_by_role("button", name="Resolve #1").click()
    await page.get_by_text("No open alerts").wait_for()
    done = await s.core.store.alerts.get_alert(1)
    assert done is not None and done.state == "resolved"
    assert done.claimed_by == done.resolved_by == ADMIN.id
    assert done.note == "Talked with Casey in private; they are safe tonight."

    # a rule with a mistake: the live check shows file:line; fixed, saved, and tested
    await page.get_by_label("Pages").get_by_role("link", name="Rules", exact=True).click()
    await page.wait_for_url(s.url("/rules"))  # loaded: the live checks are listening
    await page.locator("#rules-text").fill(BAD)
    problems = page.locator("#rules-problems")
    await problems.get_by_text(f"{s.own_rules}:3: c-swearing: unknown severity 'huge'").wait_for()
    await screenshots(page, "rules-error")
    await page.locator("#rules-text").fill(GOOD)
    await problems.get_by_text("No problems: 1 rule(s), 2 example(s) pass.").wait_for()
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_load_state()
    assert s.own_rules.read_text() == GOOD
    assert s.core.rules.current().get("c-swearing") is not None
    await page.locator("#test-text").fill("oh shut up already")
    results = page.locator("#rules-results")
    await results.locator(".hit", has_text="c-swearing").wait_for()
    assert "Dry run: nothing was done." in await results.inner_text()
    await screenshots(page, "rules")

    # every page: readable on a phone (no sideways scrolling), no script error
    await page.set_viewport_size(PHONE)
    for name in PAGES:
        await page.goto(s.url(f"/{name}"))
        assert not await overflows_horizontally(page), f"/{name} scrolls sideways on a phone"
        if name not in ("alerts", "rules"):
            await screenshots(page, name)
    assert page.errors == []


async def test_the_alerts_page_follows_another_moderator_live(served: Served, browser) -> None:
    s = served
    await _some_activity(s)
    ada = await new_page(browser, PHONE)
    await ada.goto(await s.link())
    await ada.get_by_role("button", name="Sign in").click()
    await ada.wait_for_url(s.url("/"))
    await ada.goto(s.url("/alerts"))
    await ada.evaluate("() => { window.notReloaded = true; }")
    # the keyboard reaches the page first through "Skip to content"
    await ada.keyboard.press("Tab")
    assert await ada.evaluate("() => document.activeElement.textContent") == "Skip to content"

    mo = await new_page(browser)
    token = await s.dashboard_link_for_mo()
    await mo.goto(s.url(f"/login/{token}"))
    await mo.get_by_role("button", name="Sign in").click()
    await mo.wait_for_url(s.url("/"))
    await mo.goto(s.url("/alerts"))
    await mo.locator("#alert-1").get_by_role("button", name="Claim #1").click()
    await mo.get_by_text("claimed by Mo").wait_for()

    await ada.locator("#alert-1").get_by_text("claimed by Mo").wait_for()
    assert await ada.evaluate("() => window.notReloaded === true")  # swapped in, not reloaded
    assert ada.errors == [] and mo.errors == []


async def test_a_phone_gets_one_compact_row_and_a_menu_that_works_without_script(
        served: Served, browser) -> None:
    s = served
    page = await new_page(browser, PHONE, java_script_enabled=False)
    await page.goto(await s.link())
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(s.url("/"))
    nav = page.get_by_label("Pages")
    for name in PAGES:
        await page.goto(s.url(f"/{name}"))
        assert not await overflows_horizontally(page), f"/{name} scrolls sideways on a phone"
        # the brand and the menu share one row: the header is one tap target high
        brand = await page.locator(".top .brand").bounding_box()
        menu = await nav.locator("summary").bounding_box()
        top = await page.locator(".top").bounding_box()
        assert brand and menu and top
        assert abs((brand["y"] + brand["height"] / 2) - (menu["y"] + menu["height"] / 2)) < 12
        assert top["height"] < 70, f"/{name}: the header takes {top['height']}px"
        assert await nav.get_by_role("link").count() == 0  # the pages wait behind "Menu"
    await nav.get_by_text("Menu").click()
    assert await nav.get_by_role("link").count() == len(PAGES)
    assert not await overflows_horizontally(page)
    await screenshots(page, "menu-open")
    await nav.get_by_role("link", name="Shift", exact=True).click()
    await page.wait_for_url(s.url("/shift"))
    await nav.get_by_text("Menu").click()
    assert await nav.locator(".menu a[aria-current=page]").inner_text() == "Shift"
    # wider screens: every page in the row, no menu
    await page.set_viewport_size({"width": 1280, "height": 800})
    assert await nav.get_by_role("link").count() == len(PAGES)
    assert not await nav.locator("summary").is_visible()
    assert page.errors == []


async def test_without_script_the_test_box_keeps_an_unsaved_draft(served: Served,
                                                                  browser) -> None:
    s = served
    page = await new_page(browser, java_script_enabled=False)
    await page.goto(await s.link())
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(s.url("/"))
    await page.goto(s.url("/rules"))
    await page.locator("#rules-text").fill(GOOD)
    await page.locator("#test-text").fill("oh shut up already")
    await page.get_by_label("Try it against my unsaved draft below").check()
    await page.get_by_role("button", name="Test", exact=True).click()
    await page.wait_for_load_state()
    # the whole page came back: the draft as typed (not saved), the text, the draft's match
    assert await page.locator("#rules-text").input_value() == GOOD
    assert await page.locator("#test-text").input_value() == "oh shut up already"
    assert await page.locator("#use-draft").is_checked()
    assert "c-swearing" in await page.locator("#rules-results").inner_text()
    assert not s.own_rules.exists()
    # Check keeps the text being tried, too; Save then saves the draft
    await page.get_by_role("button", name="Check", exact=True).click()
    await page.wait_for_load_state()
    assert await page.locator("#test-text").input_value() == "oh shut up already"
    assert "No problems" in await page.locator("#rules-problems").inner_text()
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.wait_for_load_state()
    assert s.own_rules.read_text() == GOOD
    assert page.errors == []

"""The dashboard's server: sign-in by a one-time link, who is refused, CSRF, sign-out,
and what every answer carries (no-store, CSP) or never carries (a secret)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.core.errors import PlatformError
from bot.core.events import Member
from bot.dashboard.server import Dashboard
from tests.dashboard_helpers import MEMBER, Dash, dash, dash_harness, serve
from tests.fakes import COMMUNITY, MOD, command, member, post

__all__ = ["dash"]  # the fixture

PAGES = ("/", "/alerts", "/unanswered", "/members", "/members?q=cas", "/shift")


async def _crisis(d: Dash, who: str = "cas", name: str = "Casey") -> None:
    await d.core.handle(post("i want to end my life", d.harness.clock.now(),
                             author=member(who, name), where="vent"))


async def test_a_moderator_signs_in_with_a_link_and_sees_the_pages(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    status, html = await dash.page("/")
    assert status == 200
    for title in ("Alerts", "Unanswered", "Members", "Shift"):
        assert f">{title}<" in html
    assert "Signed in as <strong>Mo</strong>" in html
    for path in PAGES:
        assert (await dash.page(path))[0] == 200, path


async def test_the_link_page_spends_nothing_until_the_button_is_pressed(dash: Dash) -> None:
    token = await dash.link()
    for _ in range(3):  # a chat app's preview, then the person
        status, html = await dash.browser.get(f"/login/{token}")
        assert status == 200 and "Sign in" in html
    assert dash.browser.cookie() is None
    assert await dash.browser.open_link(token) == 200
    assert dash.browser.cookie() is not None


async def test_without_a_session_nothing_is_shown(dash: Dash) -> None:
    await _crisis(dash)
    for path in PAGES:
        status, html = await dash.page(path)
        assert status == 401, path
        assert "end my life" not in html and "Casey" not in html
        assert "dashboard" in html  # how to sign in
    status, _ = await dash.browser.post_raw("/alerts/1/claim", {"csrf": "x"})
    assert status == 401
    assert (await dash.core.store.alerts.get_alert(1)).state == "open"


async def test_a_link_expires_after_ten_minutes(dash: Dash) -> None:
    token = await dash.link()
    dash.harness.clock.set(dash.harness.clock.now() + 601)
    status, html = await dash.browser.get(f"/login/{token}")
    assert status == 410 and "expired or was already used" in html
    status, _ = await dash.browser.post_raw("/login", {"token": token})
    assert status == 410
    assert dash.browser.cookie() is None


async def test_a_link_works_once(dash: Dash) -> None:
    token = await dash.link()
    assert await dash.browser.open_link(token) == 200
    other = dash.new_browser()
    assert await other.open_link(token) == 410
    status, _ = await other.post_raw("/login", {"token": token})
    assert status == 410
    assert other.cookie() is None
    assert (await other.get("/"))[0] == 401


async def test_a_made_up_or_huge_token_is_refused(dash: Dash) -> None:
    for token in ("nope", "x" * 5000):
        status, _ = await dash.browser.post_raw("/login", {"token": token})
        assert status == 410
    status, _ = await dash.browser.post_raw("/login", {})
    assert status == 410


async def test_a_member_who_is_not_a_moderator_is_refused(dash: Dash) -> None:
    await _crisis(dash)
    token = await dash.link(MEMBER)
    status, _ = await dash.browser.get(f"/login/{token}")
    assert status == 200
    status, html = await dash.browser.post_raw("/login", {"token": token})
    assert status == 403 and "moderators" in html
    assert dash.browser.cookie() is None
    assert "end my life" not in html
    assert (await dash.page("/alerts"))[0] == 401


class TwoCommunities:
    """Mo moderates c1 only; in c2 they are a plain member."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    async def __call__(self, community_id: str, query: str) -> Member | None:
        found = await self.inner(community_id, query)  # type: ignore[operator]
        if found is not None and community_id != COMMUNITY:
            return Member(found.id, found.name)
        return found


async def test_a_moderator_of_another_community_is_refused(dash: Dash) -> None:
    dash.harness.platform.resolve_member = TwoCommunities(  # type: ignore[method-assign]
        dash.harness.platform.resolve_member)
    status = await dash.sign_in(MOD, community="c2")
    assert status == 403
    assert dash.browser.cookie() is None


async def test_a_session_sees_only_its_own_community(dash: Dash) -> None:
    await dash.core.store.alerts.create_alert(
        "c2", "crisis", "far", "Faraway", "ch", "vent", "m1", "https://x/1", "secret words",
        "t-crisis", "critical", dash.harness.clock.now())
    await _crisis(dash)
    assert await dash.sign_in() == 200
    _, html = await dash.page("/alerts")
    assert "Casey" in html and "Faraway" not in html and "secret words" not in html
    # and c2's alert cannot be claimed from a c1 session
    await dash.post("/alerts/1/claim", form_page="/alerts")  # c2's: refused by the core
    assert (await dash.core.store.alerts.get_alert(1)).state == "open"
    await dash.post("/alerts/2/claim", form_page="/alerts")  # c1's own
    assert (await dash.core.store.alerts.get_alert(2)).state == "claimed"


async def test_a_demoted_moderator_is_refused_within_a_minute(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    dash.harness.platform.members[MOD.id] = Member(MOD.id, MOD.name)  # role taken away
    clock = dash.harness.clock
    clock.set(clock.now() + 59)
    assert (await dash.page("/"))[0] == 200  # the answer of a minute ago still holds
    clock.set(clock.now() + 2)
    status, html = await dash.page("/alerts")
    assert status == 403 and "signed out" in html
    # signed out for good: even with the role back, the old session stays closed
    dash.harness.platform.members[MOD.id] = MOD
    clock.set(clock.now() + 61)
    assert (await dash.page("/"))[0] == 401


async def test_someone_who_left_is_refused(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    del dash.harness.platform.members[MOD.id]
    dash.harness.clock.set(dash.harness.clock.now() + 61)
    assert (await dash.page("/"))[0] == 403


async def test_a_platform_that_cannot_answer_refuses_but_keeps_the_session(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    dash.harness.clock.set(dash.harness.clock.now() + 61)
    dash.harness.platform.fail("resolve_member", PlatformError("down"))
    status, html = await dash.page("/alerts")
    assert status == 503 and "try again" in html.lower()
    assert (await dash.page("/alerts"))[0] == 200


async def test_a_post_without_the_right_csrf_token_changes_nothing(dash: Dash) -> None:
    await _crisis(dash)
    assert await dash.sign_in() == 200
    for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}):
        status, html = await dash.browser.post_raw("/alerts/1/claim", data)
        assert status == 403 and "expired" in html
    # another moderator's token does not work in this session either
    other = dash.new_browser()
    assert await dash.sign_in(browser=other) == 200
    _, theirs = await other.get("/alerts")
    token = re.search(r'name="csrf" value="([^"]+)"', theirs)
    assert token is not None
    status, _ = await dash.browser.post_raw("/alerts/1/claim", {"csrf": token.group(1)})
    assert status == 403
    assert (await dash.core.store.alerts.get_alert(1)).state == "open"


async def test_sessions_expire(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    dash.harness.clock.set(dash.harness.clock.now() + 12 * 3600 + 1)
    assert (await dash.page("/"))[0] == 401


async def test_sign_out_ends_the_session(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    cookie = dash.browser.cookie()
    status, html = await dash.post("/logout")
    assert status == 200 and "signed out" in html
    assert dash.browser.cookie() is None
    assert await dash.repo.session(cookie or "", dash.harness.clock.now()) is None


async def test_logout_all_signs_everyone_out(dash: Dash) -> None:
    other = dash.new_browser()
    assert await dash.sign_in() == 200 and await dash.sign_in(browser=other) == 200
    result = await dash.core.handle(command("dashboard", dash.harness.clock.now(),
                                            action="logout-all"))
    assert result is not None and "2 sessions" in result.text
    assert (await dash.page("/"))[0] == 401
    assert (await other.get("/"))[0] == 401


async def test_every_answer_is_never_cached_nor_framed(dash: Dash) -> None:
    await _crisis(dash)
    token = await dash.link()
    checked = []
    for path in ("/", f"/login/{token}", "/static/haven.css", "/static/live.js", "/nowhere"):
        await dash.browser.get(path)
        checked.append(dash.browser.last)
    assert await dash.browser.open_link(token) == 200
    for path in (*PAGES, "/nowhere"):
        await dash.browser.get(path)
        checked.append(dash.browser.last)
    await dash.post("/alerts/1/resolve", {"note": "ok"}, form_page="/alerts")
    checked.append(dash.browser.last)
    for response in checked:
        assert response is not None
        h = response.headers
        assert h["Cache-Control"] == "no-store", response.url
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["Referrer-Policy"] == "no-referrer"
        assert h["X-Content-Type-Options"] == "nosniff"


async def test_nothing_secret_is_in_any_page_or_log(dash: Dash, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HAVEN_DISCORD_TOKEN", "discord-secret-value")
    caplog.set_level(logging.DEBUG)
    await _crisis(dash)
    token = await dash.link()
    assert await dash.browser.open_link(token) == 200
    cookie = dash.browser.cookie()
    assert cookie
    pages = [(await dash.page(p))[1] for p in PAGES]
    await dash.post("/members/cas/note", {"text": "private words about casey"},
                    form_page="/members?q=cas")
    pages.append((await dash.page("/members?q=cas"))[1])
    for html in pages:
        assert token not in html and cookie not in html
        assert "discord-secret-value" not in html
        assert str(dash.core.config.database) not in html
    logged = "\n".join(r.getMessage() for r in caplog.records
                        if not r.name.startswith("aiosqlite"))  # its DEBUG shows all SQL
    for secret in (token, cookie, "end my life", "private words about casey"):
        assert secret not in logged


async def test_other_methods_are_refused(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    async with dash.browser.session.put("/alerts") as response:
        assert response.status == 405


async def test_an_https_address_makes_the_cookie_secure(tmp_path: Path) -> None:
    harness = dash_harness(tmp_path, 'dashboard: {listen: "127.0.0.1:1", '
                                     'public_url: "https://haven.example.org"}')
    await harness.start()
    dashboard, server = await serve(harness)
    try:
        assert isinstance(dashboard, Dashboard) and dashboard.settings.secure
        token = await dashboard.repo.create_link(COMMUNITY, MOD.id, MOD.name,
                                                 harness.clock.now(), 600)
        from aiohttp import ClientSession

        async with ClientSession() as s, s.post(server.make_url("/login"), data={"token": token},
                                                allow_redirects=False) as response:
            cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        await server.close()
        await harness.stop()


async def test_the_landing_page_counts_what_waits(dash: Dash) -> None:
    await _crisis(dash)
    await dash.core.handle(command("duty", dash.harness.clock.now(), state="on"))
    assert await dash.sign_in() == 200
    _, html = await dash.page("/")
    for title, count in (("Alerts", 1), ("Unanswered", 0), ("Shift", 1)):
        assert re.search(rf">{title}</strong></a> <span class=\"badge[^\"]*\">{count}<", html), \
            title

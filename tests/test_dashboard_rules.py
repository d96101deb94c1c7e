"""The dashboard's Rules page through aiohttp's test client, signed in by a one-time link."""

from __future__ import annotations

import html
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.rule_edits import RuleEditor
from bot.dashboard.pages.rules import FRAGMENT_HEADER, editor_of
from bot.detection.triage import SemanticMatch, semantic_rule
from bot.rules.model import Match
from tests.conftest import TEST_RULES
from tests.dashboard_helpers import CSRF, Dash, dash_harness, serve
from tests.fakes import MOD, member, post
from tests.test_rules_editing import ADMIN, BAD_SEVERITY, GOOD

BAD = BAD_SEVERITY


def with_community_rules(tmp_path: Path) -> tuple[str, Path]:
    """Config YAML for a copy of the test rules with a community rule file (not yet
    written), and that file's path (the browser tests use this too)."""
    rules = tmp_path / "rules"
    shutil.copytree(TEST_RULES, rules)
    own = rules / "community.yaml"
    return (f"rules: {{dir: {rules}, helplines: {rules}/helplines.yaml, community: {own}}}\n",
            own)


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[tuple[Dash, Path]]:
    """A core with the dashboard, a community rule file configured, an admin known."""
    extra, own = with_community_rules(tmp_path)
    harness = dash_harness(tmp_path, extra)
    harness.platform.add_member(ADMIN)
    await harness.start()
    dashboard, server = await serve(harness)
    d = Dash(harness, dashboard, server)
    try:
        yield d, own
    finally:
        for browser in d.browsers:
            await browser.close()
        await server.close()
        await harness.stop()


async def fragment(d: Dash, path: str, data: dict[str, str]) -> tuple[int, str]:
    """POST a form of the Rules page as rules.js does (the answer alone, not the page)."""
    _, page = await d.page("/rules")
    token = CSRF.search(page)
    assert token
    async with d.browser.session.post(path, data={"csrf": token.group(1), **data},
                                      headers={FRAGMENT_HEADER: "1"}) as response:
        return response.status, await response.text()


async def test_the_page_shows_the_packs_rules_and_examples(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    assert await d.sign_in() == 200
    status, page = await d.page("/rules")
    assert d.browser.last is not None
    assert status == 200 and d.browser.last.headers["Cache-Control"] == "no-store"
    page = html.unescape(page)
    assert 'href="/rules" aria-current="page"' in page
    assert "t-crisis" in page and "Test crisis intent" in page and "alert_moderators" in page
    assert "i want to kill myself" in page  # an example
    assert str(own) in page and "Only a community admin may save" in page
    assert 'id="rules-save"' not in page  # a moderator who is not an admin
    assert '<script src="/static/rules.js"' in page
    assert (await d.page("/static/rules.js"))[0] == 200


async def test_the_test_box_says_which_rule_and_why_without_script(dash: tuple[Dash, Path]) -> None:
    d, _ = dash
    await d.sign_in()
    status, page = await d.post("/rules/test", {"sample": "i want to end my life"}, "/rules")
    page = html.unescape(page)
    assert status == 200 and "t-crisis" in page and 'keyword "end my life"' in page
    assert "Matched: “end my life”" in page and "nothing was done" in page
    assert "i want to end my life" in page  # the text stays in the box
    assert d.harness.platform.calls == []  # a dry run: nothing sent, nothing hidden


async def test_live_validation_returns_file_line_errors(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in()
    status, answer = await fragment(d, "/rules/validate", {"draft": BAD})
    answer = html.unescape(answer)
    assert status == 200 and "<html" not in answer
    assert (f"{own}:3: c-swearing: unknown severity 'huge' (one of: info, low, medium, high, "
            "critical)") in answer
    _, answer = await fragment(d, "/rules/validate", {"draft": GOOD})
    assert "No problems: 1 rule(s), 2 example(s) pass." in answer
    _, answer = await fragment(d, "/rules/test", {"sample": "i want to end my life"})
    assert "t-crisis" in answer and "<html" not in answer


async def test_a_member_who_is_not_an_admin_cannot_save(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in(MOD)
    status, page = await d.post("/rules/save", {"draft": GOOD}, "/rules")
    assert status == 403 and "Only a community admin may change the rules." in page
    assert not own.exists()
    assert d.core.rules.current().get("c-swearing") is None


async def test_csrf_is_required(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in(ADMIN)
    status, _ = await d.browser.post_raw("/rules/save", {"csrf": "forged", "draft": GOOD})
    assert status == 403 and not own.exists()
    status, _ = await d.browser.post_raw("/rules/test", {"sample": "i want to end my life"})
    assert status == 403


async def test_a_bad_save_shows_the_errors_keeps_the_draft_and_saves_nothing(
        dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in(ADMIN)
    status, page = await d.post("/rules/save", {"draft": BAD}, "/rules")
    page = html.unescape(page)
    assert status == 422 and "NOT saved: 1 problem(s)" in page
    assert f"{own}:3: c-swearing: unknown severity 'huge'" in page
    assert "severity: huge" in page  # the draft is kept in the editor
    assert not own.exists() and d.core.rules.current().get("c-swearing") is None
    failing = GOOD.replace('no_match: ["shut the door"]', 'no_match: ["shut up already"]')
    status, page = await d.post("/rules/save", {"draft": failing}, "/rules")
    assert status == 422 and "example(s) failed" in page and not own.exists()


async def test_an_admin_saves_the_change_is_recorded_and_works(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in(ADMIN)
    _, page = await d.page("/rules")
    assert 'id="rules-save"' in page
    status, page = await d.post("/rules/save", {"draft": GOOD}, "/rules")
    page = html.unescape(page)
    assert status == 200 and "Saved: change #1" in page  # followed the redirect
    assert own.read_text() == GOOD
    assert "Change #1" in page and "Ada" in page and "+- id: c-swearing" in page
    [case] = await d.core.store.cases.cases_since("c1", 0)
    assert (case.action, case.actor_id) == ("rules_edit", "ada")
    # The test box now matches, and so does the next message.
    _, page = await d.post("/rules/test", {"sample": "oh shut up already"}, "/rules")
    assert "c-swearing" in page
    ev = post("oh shut up already", d.harness.clock.now(), author=member("riley"))
    await d.core.handle(ev)
    await d.core.drain()
    assert [c.target for c in d.harness.platform.of("hide")] == [ev.message.message_id]


async def test_the_test_box_tries_an_unsaved_draft(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in()
    _, fragment = await d.post("/rules/test", {"sample": "oh shut up already", "use_draft": "1",
                                               "draft": GOOD}, "/rules")
    assert "c-swearing" in fragment and "with your draft" in fragment and not own.exists()
    _, fragment = await d.post("/rules/test", {"sample": "oh shut up already", "use_draft": "1",
                                               "draft": BAD}, "/rules")
    assert "The draft has 1 problem(s)" in fragment


async def test_without_script_each_button_keeps_what_the_rest_of_the_page_held(
        dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in(ADMIN)
    _, page = await d.page("/rules")
    base = html.unescape(page).split('name="base" value="', 1)[1].split('"', 1)[0]
    # Test (no script: the whole page comes back) keeps the unsaved draft in the editor
    status, page = await d.post("/rules/test", {"sample": "oh shut up already",
                                                "draft": GOOD, "base": base}, "/rules")
    page = html.unescape(page)
    assert status == 200 and not own.exists()
    assert f">\n{GOOD}</textarea>" in page and f'name="base" value="{base}"' in page
    assert "No rule matches this text" in page  # the draft is not tried unless asked
    _, page = await d.post("/rules/test", {"sample": "oh shut up already", "draft": GOOD,
                                           "use_draft": "1", "base": base}, "/rules")
    page = html.unescape(page)
    assert "c-swearing" in page and "with your draft" in page
    assert 'id="use-draft" name="use_draft" value="1" checked' in page
    # Check keeps the text being tried
    _, page = await d.post("/rules/validate", {"sample": "oh shut up already", "draft": BAD,
                                               "base": base}, "/rules")
    page = html.unescape(page)
    assert "unknown severity 'huge'" in page and ">\noh shut up already</textarea>" in page
    assert not own.exists()


async def test_a_stale_editor_cannot_overwrite_a_newer_save(dash: tuple[Dash, Path]) -> None:
    d, own = dash
    await d.sign_in(ADMIN)
    _, page = await d.page("/rules")
    ed = editor_of(d.dashboard.door)
    assert isinstance(ed, RuleEditor)
    base = ed.read().sha
    assert (await ed.save(GOOD, ADMIN, "c1", base)).ok  # someone else, meanwhile
    status, page = await d.post("/rules/save", {"draft": GOOD.replace("medium", "high"),
                                                "base": base}, "/rules")
    assert status == 409 and "someone saved the file since you opened it" in page
    assert own.read_text() == GOOD


async def test_no_community_file_configured(tmp_path: Path) -> None:
    harness = dash_harness(tmp_path)
    await harness.start()
    dashboard, server = await serve(harness)
    d = Dash(harness, dashboard, server)
    try:
        await d.sign_in()
        status, page = await d.page("/rules")
        assert status == 200 and "No community rule file is configured" in page
        assert 'id="rules-editor"' not in page and "t-crisis" in page
    finally:
        await d.browser.close()
        await server.close()
        await harness.stop()


async def test_the_test_box_shows_the_semantic_stage_and_its_reason(dash: tuple[Dash, Path]
                                                                   ) -> None:
    d, _ = dash

    class Stage:
        async def detect_async(self, text: str, existing: list[Match]) -> list[Match]:
            return [SemanticMatch(semantic_rule("concern"), "semantic concern score 0.74 "
                                  "(threshold 0.60)", "(semantic concern)", 0.74)]

        def close(self) -> None:
            pass

    d.core.triage.semantic = Stage()
    await d.sign_in()
    _, page = await d.post("/rules/test", {"sample": "i just want to disappear"}, "/rules")
    assert "semantic:concern" in page and ">semantic</span>" in page
    assert "Why: semantic concern score 0.74 (threshold 0.60)" in html.unescape(page)

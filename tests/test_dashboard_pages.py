"""The dashboard's pages: what they show, and every action run as the signed-in moderator
through the commands' own core operations (recorded with the actor)."""

from __future__ import annotations

from bot.core.events import AlertClaimed, AlertResolved, Member
from bot.dashboard.pages.alerts import queue_order
from bot.storage.repositories.digest import DigestRepository
from tests.dashboard_helpers import CSRF, Dash, dash, flashes
from tests.fakes import COMMUNITY, MOD, command, member, post, record_published

__all__ = ["dash"]  # the fixture

CASEY = member("cas", "Casey")


async def _crisis(d: Dash, who: Member = CASEY, text: str = "i want to end my life") -> None:
    await d.core.handle(post(text, d.harness.clock.now(), author=who, where="vent"))


async def test_claim_and_resolve_are_the_commands_own_with_the_actor(dash: Dash) -> None:
    await _crisis(dash)
    claimed = record_published(dash.core, AlertClaimed)
    resolved = record_published(dash.core, AlertResolved)
    assert await dash.sign_in() == 200
    status, html = await dash.post("/alerts/1/claim", form_page="/alerts")
    assert status == 200
    assert flashes(html) == ["You have claimed alert #1. Thank you."]
    alert = await dash.core.store.alerts.get_alert(1)
    assert alert.state == "claimed" and alert.claimed_by == MOD.id
    assert [e.by for e in claimed] == [MOD.id]
    # the alert message in the moderators' channel says who, as after the button
    assert any(c.verb == "edit" for c in dash.harness.platform.calls)
    status, html = await dash.post("/alerts/1/resolve", {"note": "called them, safe tonight"},
                                   form_page="/alerts")
    alert = await dash.core.store.alerts.get_alert(1)
    assert alert.state == "resolved" and alert.resolved_by == MOD.id
    assert alert.note == "called them, safe tonight"
    await dash.core.drain()  # published events are queued: handled after the answer
    assert [e.by for e in resolved] == [MOD.id]
    assert flashes(html) == ["Alert #1 resolved. Note saved."]
    assert "No open alerts" in html


async def test_a_form_sent_twice_acts_once(dash: Dash) -> None:
    await _crisis(dash)
    assert await dash.sign_in() == 200
    _, page = await dash.page("/shift")
    found = CSRF.search(page)
    assert found is not None
    form = {"csrf": found.group(1), "nonce": "same-press", "text": "Casey needs a follow-up"}
    await dash.browser.post_raw("/shift/handover", form)
    _, html = await dash.browser.post_raw("/shift/handover", form)
    entries = await dash.core.store.duty.latest_handover(COMMUNITY)
    assert [e.text for e in entries] == ["Casey needs a follow-up"]
    assert "carried out once" in flashes(html)[0]


async def test_each_form_on_a_page_has_its_own_nonce(dash: Dash) -> None:
    await _crisis(dash)
    await _crisis(dash, member("dee", "Dee"))
    assert await dash.sign_in() == 200
    await dash.post("/alerts/1/claim", form_page="/alerts")
    await dash.post("/alerts/2/claim", form_page="/alerts")
    assert (await dash.core.store.alerts.get_alert(2)).claimed_by == MOD.id


async def test_the_queue_is_unclaimed_first_then_oldest_first(dash: Dash) -> None:
    clock = dash.harness.clock
    await _crisis(dash, CASEY)
    clock.set(clock.now() + 60)
    await _crisis(dash, member("dee", "Dee"))
    clock.set(clock.now() + 60)
    await _crisis(dash, member("eve", "Eve"))
    await dash.core.handle(command("claim", clock.now(), alert="1"))
    alerts = await dash.core.store.alerts.alerts_by_state(COMMUNITY, ("open", "claimed"))
    assert [a.id for a in queue_order(alerts)] == [2, 3, 1]
    assert await dash.sign_in() == 200
    _, html = await dash.page("/alerts")
    assert html.index("Dee") < html.index("Eve") < html.index("Casey")
    assert "claimed by Mo" in html and "critical" in html and "waiting 2m" in html


async def test_crisis_words_follow_the_moderators_excerpt_choice(dash: Dash) -> None:
    await _crisis(dash)
    assert await dash.sign_in() == 200
    _, html = await dash.page("/alerts")
    assert "end my life" in html and "Show the words" not in html
    duty = dash.core.store.duty
    await duty.set_excerpts(COMMUNITY, MOD.id, MOD.name, "spoiler")
    _, html = await dash.page("/alerts")
    assert "<details class=\"words\">" in html and "Show the words" in html
    await duty.set_excerpts(COMMUNITY, MOD.id, MOD.name, "off")
    _, html = await dash.page("/alerts")
    assert "end my life" not in html and "hidden" in html


async def test_the_community_default_applies_without_a_choice(dash: Dash) -> None:
    await _crisis(dash)
    dash.dashboard.door.excerpts_default = "off"
    assert await dash.sign_in() == 200
    _, html = await dash.page("/alerts")
    assert "end my life" not in html


async def test_a_handover_note_from_an_alert_goes_to_the_logbook(dash: Dash) -> None:
    await _crisis(dash)
    assert await dash.sign_in() == 200
    status, html = await dash.post("/shift/handover",
                                   {"text": "Alert #1: called Casey", "back": "/alerts"},
                                   form_page="/alerts")
    assert status == 200 and "<h1>Alerts</h1>" in html
    [entry] = await dash.core.store.duty.latest_handover(COMMUNITY)
    assert entry.author_id == MOD.id and entry.text == "Alert #1: called Casey"
    _, shift = await dash.page("/shift")
    assert "Alert #1: called Casey" in shift and "1 open" in shift


async def test_unanswered_lists_the_longest_waiting_first_with_links(dash: Dash) -> None:
    clock = dash.harness.clock
    await dash.core.handle(post("anyone around tonight?", clock.now(),
                                author=member("a1", "Ann"), where="support"))
    clock.set(clock.now() + 600)
    await dash.core.handle(post("first week back at work", clock.now(),
                                author=member("b1", "Bo"), where="support"))
    assert await dash.sign_in() == 200
    _, html = await dash.page("/unanswered")
    assert html.index("waiting 10m") < html.index("waiting 0s")
    assert 'href="https://chat.example/' in html and "2 waiting" in html


async def test_members_history_and_the_three_actions_are_cases_with_the_actor(
        dash: Dash) -> None:
    dash.harness.platform.add_member(CASEY)
    assert await dash.sign_in() == 200
    status, html = await dash.page("/members?q=Casey")
    assert status == 200 and "Casey" in html and "None." in html
    back = "/members?q=cas"
    _, html = await dash.post("/members/cas/note", {"text": "seemed low today"}, back)
    assert "note" in flashes(html)[0].lower()
    _, html = await dash.post("/members/cas/warn", {"reason": "be kind"}, back)
    _, html = await dash.post("/members/cas/timeout", {"minutes": "30", "reason": "cool off"},
                              back)
    cases = await dash.core.store.cases.cases_for(COMMUNITY, "cas")
    assert [(c.action, c.actor_id) for c in cases] == [
        ("note", MOD.id), ("warn", MOD.id), ("timeout", MOD.id)]
    assert [c.target for c in dash.harness.platform.of("timeout")] == ["cas"]
    _, html = await dash.page(back)
    assert "seemed low today" in html and "be kind" in html and "cool off" in html


async def test_a_bad_value_is_the_commands_own_refusal(dash: Dash) -> None:
    dash.harness.platform.add_member(CASEY)
    assert await dash.sign_in() == 200
    _, html = await dash.post("/members/cas/timeout", {"minutes": "lots", "reason": "x"},
                              "/members?q=cas")
    assert "whole number" in flashes(html)[0]
    _, html = await dash.post("/members/nobody/warn", {"reason": "x"}, "/members?q=cas")
    assert "can&#39;t find" in flashes(html)[0]  # escaped like every text
    assert await dash.core.store.cases.cases_for(COMMUNITY, "cas") == []


async def test_someone_who_left_still_has_their_history(dash: Dash) -> None:
    await dash.core.store.cases.add_case(COMMUNITY, "warn", None, "old warning", MOD.id,
                                         MOD.name, "gone1", "Gone", dash.harness.clock.now())
    assert await dash.sign_in() == 200
    _, html = await dash.page("/members?q=gone1")
    assert "Not a member here now" in html and "old warning" in html
    assert "Warn" not in html  # nobody to act on


async def test_shift_duty_quiet_hours_and_the_roster(dash: Dash) -> None:
    assert await dash.sign_in() == 200
    _, html = await dash.post("/shift/duty", {"state": "on"}, "/shift")
    assert "Go off duty" in html and "on duty since" in html
    _, html = await dash.post("/shift/quiet", {"hours": "22:00-07:00"}, "/shift")
    assert "quiet 22:00–07:00 UTC" in html
    [row] = await dash.core.store.duty.duty_roster(COMMUNITY)
    assert row.on_duty and row.quiet_start == 22 * 60
    _, html = await dash.post("/shift/quiet", {"hours": "nonsense"}, "/shift")
    assert flashes(html) and "22:00–07:00" in html


async def test_review_lists_reports_and_marks_them_reviewed_as_the_moderator(
        dash: Dash) -> None:
    clock = dash.harness.clock
    for n in (1, 2):
        result = await dash.core.handle(command(
            "report", clock.now(), invoker=member("mem1", "Mel"), where="general",
            link=f"https://chat.example/general/m{n}", reason=f"they keep messaging me {n}"))
        assert result is not None and result.ok
    assert await dash.sign_in() == 200
    _, landing = await dash.page("/")
    assert ">Review</strong></a> <span class=\"badge busy\">2<" in landing
    _, html = await dash.page("/review")
    assert "Reported by a member" in html and "2 waiting" in html
    assert 'href="https://chat.example/general/m1"' in html
    _, html = await dash.post("/review/1", form_page="/review")
    assert flashes(html) and "1 waiting" in html
    repo = DigestRepository(dash.core.store.database)
    reviewed = await repo.db.all("SELECT id, reviewed_by FROM digest_items ORDER BY id")
    assert [(r["id"], r["reviewed_by"]) for r in reviewed] == [(1, MOD.id), (2, None)]
    _, html = await dash.post("/review/all", form_page="/review")
    assert "Nothing is waiting for review" in html

"""Identifying details across posts (bot/features/details): the feature on the Harness."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.core.events import Flagged
from bot.features.details.config import DETAILS_SECTION
from bot.features.details.feature import span
from bot.storage.database import Database
from bot.storage.privacy import Privacy, member_data_parts
from bot.storage.repositories.details import DETAILS_MIGRATIONS, DetailsRepository
from tests.conftest import Harness, make_config
from tests.fakes import command, member, post, record_published

DAY = 86400.0
JO = member("jo", "Jo")

NAME = "my name is Jo Bloggs"
SCHOOL = "I go to Oakwood Academy and exams are hard"
TOWN = "I live in Harrogate, it rains a lot"
CLINIC = "my therapist Dr Okafor says I should rest"


@pytest.fixture
async def h(harness_factory: Callable[[str], Harness]) -> AsyncIterator[Harness]:
    harness = harness_factory("")
    # the tables exist before the core starts (as the generic feature migrations will do)
    db = await Database.open(harness.config.database, DETAILS_MIGRATIONS)
    await db.close()
    await harness.start()
    yield harness
    await harness.stop()


async def rows(h: Harness) -> list[dict[str, object]]:
    assert h.core is not None
    cur = await h.core.store.database.all("SELECT * FROM identifying_details ORDER BY at")
    return [dict(r) for r in cur]


def notes(h: Harness) -> list[str]:
    return [c.text for c in h.platform.private_to("jo")]


async def say(h: Harness, text: str, **kw: object) -> None:
    assert h.core is not None
    await h.core.handle(post(text, h.clock.now(), author=JO, **kw))  # type: ignore[arg-type]
    await h.core.drain()  # what it published (the flag) is handled in order, after it


async def test_two_kinds_do_nothing_the_third_sends_one_note_and_one_flag(h: Harness) -> None:
    assert h.core is not None
    flagged = record_published(h.core, Flagged)
    await say(h, NAME)
    h.clock.set(h.clock.now() + DAY)
    await say(h, SCHOOL)
    assert notes(h) == [] and flagged == []
    h.clock.set(h.clock.now() + DAY)
    await say(h, TOWN, msg_id="third")
    [note] = notes(h)
    assert "your full name" in note and "your school, college or university" in note
    assert "your town or street" in note and "edit or delete" in note
    for detail in ("Bloggs", "Oakwood", "Harrogate"):
        assert detail not in note
    [flag] = flagged
    assert flag.kind == "details" and flag.member_id == "jo" and flag.key == "third:details"
    assert "3 kinds" in flag.summary and "your town or street" in flag.summary
    assert "Harrogate" not in flag.summary and flag.link.endswith("/third")
    # a fourth kind in the same window: no second note
    await say(h, CLINIC)
    assert len(notes(h)) == 1 and len(flagged) == 1


async def test_kinds_outside_the_window_do_not_add_up(h: Harness) -> None:
    await say(h, NAME)
    await say(h, SCHOOL)
    h.clock.set(h.clock.now() + 31 * DAY)
    await say(h, TOWN)
    assert notes(h) == []


async def test_a_new_window_after_the_note_may_note_again(h: Harness) -> None:
    for text in (NAME, SCHOOL, TOWN):
        await say(h, text)
    h.clock.set(h.clock.now() + 31 * DAY)
    for text in (NAME, SCHOOL, CLINIC):
        await say(h, text)
    assert len(notes(h)) == 2


async def test_a_post_counts_each_kind_once_and_edits_do_not_double_count(h: Harness) -> None:
    await say(h, f"{NAME}. {NAME}. {SCHOOL}", msg_id="m1")
    assert sorted(r["kind"] for r in await rows(h)) == ["full_name", "school"]
    # the same post, edited twice (still naming the school): nothing new
    await say(h, f"{NAME} {SCHOOL}", msg_id="m1", edited=True)
    await say(h, f"{SCHOOL} {NAME}", msg_id="m1", edited=True)
    assert len(await rows(h)) == 2 and notes(h) == []
    # an edit that removes a detail removes its row
    await say(h, "never mind", msg_id="m1", edited=True)
    assert await rows(h) == []
    # an edit that adds a third kind adds up like a new post
    await say(h, f"{NAME} {SCHOOL} {TOWN}", msg_id="m1", edited=True)
    assert len(notes(h)) == 1


async def test_a_crisis_post_is_not_counted_or_answered(h: Harness) -> None:
    await say(h, NAME)
    await say(h, SCHOOL)
    await say(h, f"i want to kill myself. {TOWN}")
    assert not any("privacy" in t for t in notes(h))
    assert {r["kind"] for r in await rows(h)} == {"full_name", "school"}


async def test_ignored_channels_are_not_looked_at(harness_factory: Callable[[str], Harness]
                                                  ) -> None:
    h = harness_factory("details: {ignore_channels: [introductions], kinds: 2}")
    await h.start()
    try:
        await say(h, NAME, where="introductions")
        await say(h, SCHOOL, where="introductions")
        assert await rows(h) == [] and notes(h) == []
        await say(h, NAME)
        await say(h, SCHOOL)
        assert len(notes(h)) == 1  # kinds: 2
    finally:
        await h.stop()


async def test_disabled_does_nothing(harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory("details: {enabled: false}")
    await h.start()
    try:
        for text in (NAME, SCHOOL, TOWN):
            await say(h, text)
        assert notes(h) == [] and await rows(h) == []
    finally:
        await h.stop()


async def test_closed_dms_no_public_fallback_flag_says_so(h: Harness) -> None:
    assert h.core is not None
    flagged = record_published(h.core, Flagged)
    h.platform.closed_dms.add("jo")
    for text in (NAME, SCHOOL, TOWN):
        await say(h, text)
    assert not [c for c in h.platform.calls if c.verb in ("send", "reply")
                and "privacy" in c.text]
    [flag] = flagged
    assert "no note was sent" in flag.summary
    h.platform.closed_dms.discard("jo")
    await say(h, CLINIC)  # once per window, even when it could not be delivered
    assert notes(h) == []


async def test_a_repeated_delivery_after_a_crash_sends_the_note_once(h: Harness) -> None:
    assert h.core is not None
    await say(h, NAME)
    await say(h, SCHOOL)
    ev = post(TOWN, h.clock.now(), author=JO, msg_id="again")
    await h.core.handle(ev)
    # as if the note was sent but the crash came before it was remembered
    await h.core.store.database.write("DELETE FROM identifying_notes")
    await h.core.handle(post(TOWN, h.clock.now(), author=JO, msg_id="again", edited=True))
    assert len(notes(h)) == 1


async def test_stored_rows_hold_no_text(h: Harness) -> None:
    await say(h, NAME)
    await say(h, SCHOOL)
    await say(h, TOWN)
    assert h.core is not None
    db = h.core.store.database
    for table in ("identifying_details", "identifying_notes"):
        for row in await db.all(f"SELECT * FROM {table}"):
            dumped = json.dumps(dict(row))
            for detail in ("Bloggs", "Oakwood", "Harrogate", "rains"):
                assert detail not in dumped
    assert {tuple(sorted(dict(r))) for r in await db.all("SELECT * FROM identifying_details")} \
        == {("at", "community_id", "kind", "link", "member_id", "message_id")}


async def test_mydata_shows_them_and_forgetme_removes_them(h: Harness) -> None:
    assert h.core is not None
    await say(h, NAME)
    await say(h, SCHOOL)
    await h.core.handle(command("mydata", h.clock.now(), invoker=JO))
    dm = h.platform.private_to("jo")[-1]
    assert "2 identifying-detail records" in dm.text
    payload = json.loads(dm.msg.attachments[0].data)
    assert [r["kind"] for r in payload["identifying_details"]] == ["full_name", "school"]
    assert set(payload["identifying_details"][0]) == {"kind", "at", "link"}
    r = await h.core.handle(command("forgetme", h.clock.now(), invoker=JO))
    assert "2 identifying-detail records" in r.text
    await h.core.handle(command("forgetme", h.clock.now(), invoker=JO, confirm="confirm"))
    assert await rows(h) == []


async def test_rows_past_the_window_are_pruned_when_the_community_posts_details(
        h: Harness) -> None:
    await say(h, NAME)
    h.clock.set(h.clock.now() + 10 * DAY)
    await say(h, SCHOOL)
    h.clock.set(h.clock.now() + 25 * DAY)
    await h.core.handle(post(TOWN, h.clock.now(), author=member("kim")))  # type: ignore[union-attr]
    assert [(r["member_id"], r["kind"]) for r in await rows(h)] == [
        ("jo", "school"), ("kim", "place")]


async def test_the_retention_period_prunes_when_shorter_than_the_window(
        harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory("moderation: {retention_days: 7}")
    await h.start()
    try:
        await say(h, NAME)
        h.clock.set(h.clock.now() + 8 * DAY)
        await say(h, SCHOOL)
        assert [r["kind"] for r in await rows(h)] == ["school"]
    finally:
        await h.stop()


async def test_privacy_composition_purges_by_retention(db_target: str) -> None:
    from bot.storage.store import member_data_migrations

    db = await Database.open(db_target, member_data_migrations())  # on both engines
    try:
        repo = DetailsRepository(db)
        await repo.record("c1", "jo", "m1", {"school", "place"}, 100.0, "https://x/m1")
        await repo.record("c1", "jo", "m2", {"handle"}, 500.0, "https://x/m2")
        await repo.noted("c1", "jo", 500.0, ["school", "place", "handle"])
        privacy = Privacy(db, member_data_parts(db))
        assert any(isinstance(p, DetailsRepository) for p in privacy.parts)
        assert await privacy.purge_text(200.0) == 2
        data = await privacy.export("c1", "jo")
        assert [r["kind"] for r in data["identifying_details"]] == ["handle"]
        assert await repo.last_note("c1", "jo") == 500.0
        assert (await privacy.forget("c1", "jo", "x"))["identifying_details"] == 1
        assert await repo.last_note("c1", "jo") is None
    finally:
        await db.close()


def test_span_in_plain_words() -> None:
    assert span(30 * DAY) == "30 days" and span(DAY) == "1 day"
    assert span(12 * 3600) == "12 hours" and span(90) == "2 minutes"


async def test_the_store_creates_the_details_tables_once(db_target: str) -> None:
    from bot.storage.store import Store

    store = await Store.open(db_target)  # on both engines
    repo = DetailsRepository(store.database)
    await repo.record("c1", "jo", "m1", {"school"}, 1.0, "")
    await store.close()
    store = await Store.open(db_target)  # opened again: nothing applied twice
    try:
        repo = DetailsRepository(store.database)
        assert await repo.kinds_since("c1", "jo", 0.0) == {"school"}
        row = await store.database.one("SELECT version FROM schema_versions "
                                       "WHERE owner = 'details'")
        assert row is not None and row["version"] == 1
    finally:
        await store.close()


async def test_the_note_is_a_template_admins_can_override(
        harness_factory: Callable[[str], Harness]) -> None:
    h = harness_factory("templates: {details_note: 'Heads up {member}: {kinds}', "
                        "details_kind_place: 'where you live'}")
    await h.start()
    try:
        for text in (NAME, SCHOOL, TOWN):
            await say(h, text)
        assert notes(h) == ["Heads up Jo: • your full name\n• your school, college or "
                            "university\n• where you live"]
    finally:
        await h.stop()


def test_config_section_defaults_and_errors(tmp_path: Path) -> None:
    cfg = make_config(tmp_path).get(DETAILS_SECTION)
    assert (cfg.enabled, cfg.window, cfg.kinds, cfg.ignore_channels) == (True, 30 * DAY, 3, ())
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, "details: {kinds: 1, window: soon, colour: blue}")
    text = str(err.value)
    assert "details.kinds" in text and "details.window" in text and "details.colour" in text

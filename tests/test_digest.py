"""bot.features.digest: the twice-daily review digest (issue 14, part 2)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import app
from bot.core.errors import ConfigError
from bot.core.events import ButtonPressed, MessagePosted
from bot.features.digest.feature import next_time
from bot.storage.store import Store
from tests.conftest import Harness, make_config
from tests.fakes import MOD, channel, command, member, post
from tests.test_alerts import rules_harness

NY = "community: {name: Harbour, countries: [GB], timezone: America/New_York}"
"""The test clock starts Monday 2026-01-05 09:00 UTC = 04:00 in New York."""
NINE_NY = datetime(2026, 1, 5, 14, 0, tzinfo=UTC).timestamp()
"""09:00 in New York that day."""


def digests(h: Harness) -> list[str]:
    return [c.text for c in h.platform.sent_to("mod-alerts") if "Review digest" in c.text]


@pytest.fixture
async def ny(tmp_path: Path) -> AsyncIterator[Harness]:
    """The core test rules plus a check-in rule, in New York time."""
    h = rules_harness(tmp_path, NY)
    await h.start()
    yield h
    await h.stop()


async def flag_four(h: Harness, again: list[MessagePosted] | None = None) -> list[MessagePosted]:
    """One post for each kind of flag (shadow, pii, cw redirect, check-in note), or
    the posts ``again`` delivered once more."""
    now = h.clock.now()
    posts = again or [post("get free nitro here", now, author=member("s", "Sol")),
                      post("text me on 555-1234", now, author=member("p", "Pat")),
                      post("my self harm scars itch", now, author=member("j", "Jo")),
                      post("bad day again", now, author=member("k", "Kit"))]
    for ev in posts:
        await h.core.handle(ev)
    return posts


# -- when ----------------------------------------------------------------------------


def test_next_time_is_wall_clock_time_across_dst() -> None:
    zone = ZoneInfo("America/New_York")
    before = datetime(2026, 3, 7, 20, 0, tzinfo=UTC).timestamp()  # 15:00 EST, Saturday
    first = next_time(before, (540, 1260), zone)
    assert datetime.fromtimestamp(first, zone).strftime("%d %H:%M") == "07 21:00"
    second = next_time(first, (540, 1260), zone)  # the clocks go forward that night
    assert datetime.fromtimestamp(second, zone).strftime("%d %H:%M %Z") == "08 09:00 EDT"
    assert second - first == 11 * 3600  # a short night


def test_config_validates_times_and_kinds(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "digest: {times: ['08:30'], max_items: 5, kinds: [pii]}")
    digest = cfg.get(app.SECTIONS[[s.key for s in app.SECTIONS].index("digest")])
    assert digest.times == (510,) and digest.kinds == ("pii",) and digest.max_items == 5
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, "digest: {times: ['25:00', 'nine'], kinds: [gossip]}")
    text = str(err.value)
    assert "digest.times" in text and "25:00" in text and "gossip" in text


# -- collecting and sending --------------------------------------------------------------


async def test_flags_from_real_posts_appear_in_the_next_digest_at_nine_once(ny: Harness) -> None:
    core = ny.core
    await flag_four(ny)
    await core.advance(NINE_NY - ny.clock.now() - 60)
    assert digests(ny) == []  # not before 09:00 community time
    await core.advance(60)
    [text] = digests(ny)
    assert "Review digest 1" in text and "4 to look at" in text
    for words in ("Shadow rule", "Personal details", "Moved to content-warning channel",
                  "Check-in note", "Sol", "Pat", "Jo", "Kit", "https://chat.example/"):
        assert words in text
    for secret in ("nitro", "555", "scars", "bad day"):  # never the text
        assert secret not in text
    await core.advance(12 * 3600)  # 21:00: nothing new, nothing sent
    assert len(digests(ny)) == 1
    # still waiting in `digest` until reviewed
    result = await core.handle(command("digest", ny.clock.now()))
    assert "Waiting for review" in result.text and "Sol" in result.text


async def test_reviewed_items_never_come_back(ny: Harness) -> None:
    core = ny.core
    posts = await flag_four(ny)
    await core.advance(NINE_NY - ny.clock.now())
    done = await core.handle(command("reviewed", ny.clock.now(), item="1"))
    assert "Marked 1" in done.text
    again = await core.handle(command("reviewed", ny.clock.now(), item="1"))
    assert not again.ok and "no unreviewed item 1" in again.text
    await core.handle(command("reviewed", ny.clock.now(), item="all"))
    assert "Nothing is waiting" in (await core.handle(command("digest", ny.clock.now()))).text
    # the same posts handled again (a replay) flag nothing new
    await flag_four(ny, again=posts)
    await core.advance(24 * 3600)
    assert len(digests(ny)) == 1


async def test_an_empty_digest_is_not_sent(ny: Harness) -> None:
    core = ny.core
    await core.handle(post("hello all", ny.clock.now(), author=member("a")))
    await core.advance(2 * 86400)
    assert digests(ny) == []
    assert await core.features["digest"].ctx.repo.digest.digests("c1") == []


async def test_kinds_not_configured_are_ignored(tmp_path: Path) -> None:
    h = rules_harness(tmp_path, NY + "\ndigest: {kinds: [pii]}")
    core = await h.start()
    try:
        await flag_four(h)
        await core.advance(NINE_NY - h.clock.now())
        [text] = digests(h)
        assert "1 to look at" in text and "Pat" in text and "Sol" not in text
    finally:
        await h.stop()


async def test_report_says_so_when_reports_are_not_collected(tmp_path: Path) -> None:
    h = rules_harness(tmp_path, NY + "\ndigest: {kinds: [pii]}")
    core = await h.start()
    try:
        result = await core.handle(command("report", h.clock.now(), invoker=member("kid"),
                                           link="https://chat.example/general/9"))
        assert not result.ok and "message a moderator directly" in result.text
        assert await core.features["digest"].ctx.repo.digest.unreviewed("c1") == []
    finally:
        await h.stop()


async def test_more_items_than_fit_point_to_the_digest_command(tmp_path: Path) -> None:
    h = rules_harness(tmp_path, NY + "\ndigest: {max_items: 2}")
    core = await h.start()
    try:
        await flag_four(h)
        await core.advance(NINE_NY - h.clock.now())
        [text] = digests(h)
        assert "4 to look at" in text and "...and 2 more, see /digest" in text
    finally:
        await h.stop()


async def test_a_dst_change_keeps_nine_oclock(tmp_path: Path) -> None:
    h = rules_harness(tmp_path, NY)
    h.clock.set(datetime(2026, 3, 7, 20, 0, tzinfo=UTC).timestamp())  # Sat 15:00 EST
    core = await h.start()
    try:
        await core.advance(6 * 3600 + 60)  # past 21:00 EST: nothing flagged yet
        await core.handle(post("text me on 555-1234", h.clock.now(), author=member("p", "Pat")))
        nine_edt = datetime(2026, 3, 8, 13, 0, tzinfo=UTC).timestamp()
        await core.advance(nine_edt - h.clock.now() - 1)
        assert digests(h) == []
        await core.advance(1)
        assert len(digests(h)) == 1
    finally:
        await h.stop()


async def test_a_crash_between_storing_and_sending_sends_once(ny: Harness) -> None:
    core = ny.core
    await flag_four(ny)
    feature = core.features["digest"]
    real_deliver = feature._deliver

    async def crash(*args: object) -> None:
        raise RuntimeError("power cut")  # stored, then the process stops before sending

    feature._deliver = crash
    await core.advance(NINE_NY - ny.clock.now())
    repo = feature.ctx.repo.digest
    [stored] = await repo.digests("c1")
    assert stored.sent_at is None and len(await repo.items_of(stored.id)) == 4
    assert digests(ny) == []
    feature._deliver = real_deliver
    core = await ny.restart(downtime=3600)
    [text] = digests(ny)
    assert "Review digest 1" in text and "4 to look at" in text
    await core.advance(86400)
    assert len(digests(ny)) == 1
    repo = core.features["digest"].ctx.repo.digest
    assert [d.sent_at is not None for d in await repo.digests("c1")] == [True]


async def test_a_newcomers_unanswered_first_post_is_listed(ny: Harness) -> None:
    core = ny.core
    await core.handle(post("anyone else struggle with mornings?", ny.clock.now(),
                           author=member("new", "Neo"), where="support"))
    answered = post("first time here", ny.clock.now(), author=member("n2", "Nia"),
                    where="support")
    await core.handle(answered)
    await core.handle(post("welcome!", ny.clock.now() + 60, author=member("helper"),
                           where="support", reply_to=answered.message.message_id))
    await core.advance(NINE_NY - ny.clock.now())
    [text] = digests(ny)
    assert "First post waiting" in text and "Neo" in text and "in #support" in text
    assert "Nia" not in text and "mornings" not in text


async def test_a_member_reports_a_post(ny: Harness) -> None:
    core = ny.core
    kid = member("kid", "Kid")
    bad = await core.handle(command("report", ny.clock.now(), invoker=kid, link="that one"))
    assert not bad.ok and "link" in bad.text
    long = await core.handle(command("report", ny.clock.now(), invoker=kid,
                                     link="https://chat.example/general/9", reason="x" * 301))
    assert not long.ok and "300" in long.text
    ok = await core.handle(command("report", ny.clock.now(), invoker=kid,
                                   link="https://chat.example/general/9",
                                   reason="they keep messaging me"))
    assert ok.ok and "Thank you for telling us" in ok.text and ok.ephemeral
    await core.advance(NINE_NY - ny.clock.now())
    [text] = digests(ny)
    assert "Reported by a member" in text and "they keep messaging me" in text
    assert "https://chat.example/general/9" in text


async def test_members_cannot_run_digest_or_reviewed(ny: Harness) -> None:
    core = ny.core
    await flag_four(ny)
    someone = member("x")
    for name, opts in (("digest", {}), ("reviewed", {"item": "all"})):
        result = await core.handle(command(name, ny.clock.now(), invoker=someone, **opts))
        assert not result.ok
    assert len(await core.features["digest"].ctx.repo.digest.unreviewed("c1")) == 4


async def test_the_reviewed_button(ny: Harness) -> None:
    core = ny.core
    await flag_four(ny)
    result = await core.handle(ButtonPressed("c1", ny.clock.now(), channel=channel("mod-alerts"),
                                             member=MOD, action="reviewed", alert_id=2))
    assert "Marked 1" in result.text
    result = await core.handle(ButtonPressed("c1", ny.clock.now(), channel=channel("mod-alerts"),
                                             member=MOD, action="reviewed", alert_id=0))
    assert "Marked 3" in result.text


# -- privacy and storage ------------------------------------------------------------------


async def test_mydata_forgetme_and_retention(ny: Harness) -> None:
    core = ny.core
    await flag_four(ny)
    mine = await core.store.privacy.export("c1", "p")
    [item] = mine["review_items_about_you"]
    assert item["kind"] == "pii" and "555" not in str(mine)
    await core.store.privacy.forget("c1", "p", "forgotten-1")
    assert "review_items_about_you" not in await core.store.privacy.export("c1", "p")
    repo = core.features["digest"].ctx.repo.digest
    names = {i.member_name for i in await repo.unreviewed("c1")}
    assert "Pat" not in names and "forgotten-1" in names
    await core.handle(command("reviewed", ny.clock.now(), item="all"))
    assert await core.store.privacy.purge_text(ny.clock.now() - 1) == 0  # too recent
    assert await core.store.privacy.purge_text(ny.clock.now() + 1) >= 4
    assert await repo.communities() == []  # the reviewed items are gone


async def test_an_existing_database_gains_the_digest_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # a database from before the digest: base schema only
        from bot.storage.database import BASE_MIGRATIONS
        for number, script in enumerate(BASE_MIGRATIONS, start=1):
            old.executescript(f"{script}\nPRAGMA user_version = {number};")
    cfg = make_config(tmp_path, f"database: {path}")
    h = Harness(cfg)
    core = await h.start()
    try:
        tables = {r[0] for r in await core.store.database.all(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"digest_items", "digests", "schema_versions"} <= tables
        assert app.feature_migrations()  # the digest's, gathered from the specs
    finally:
        await h.stop()
    store = await Store.open(path)  # opened again: nothing applied twice
    await store.close()


async def test_the_composition_root_applies_any_features_migrations(tmp_path: Path) -> None:
    """The generic mechanism: a feature's repository lists MIGRATIONS, app.create applies them
    (to a store opened before, as the harness does) once."""
    from typing import ClassVar

    from bot.core.feature import Feature, FeatureSpec
    from bot.features import FEATURES
    from bot.storage.database import Migration
    from bot.storage.repositories.base import Repository
    from tests.fakes import FakePlatform

    class Probe(Repository):
        MIGRATIONS: ClassVar[tuple[Migration, ...]] = (
            Migration("probe", 1, "CREATE TABLE probe_a (x INTEGER);"),
            Migration("probe", 2, "CREATE TABLE probe_b (y INTEGER);"))

    spec: FeatureSpec[None, Probe] = FeatureSpec(name="probe", repository=Probe,
                                                  build=lambda ctx, s: Feature())
    assert app.feature_migrations((*FEATURES, spec))[-2:] == Probe.MIGRATIONS
    cfg = make_config(tmp_path)
    for _ in range(2):  # the second start applies nothing again
        store = await Store.open(cfg.database)
        core = await app.create(cfg, FakePlatform(), store=store, features=(*FEATURES, spec))
        rows = await core.store.database.all(
            "SELECT owner, version FROM schema_versions ORDER BY owner")
        assert {r["owner"]: r["version"] for r in rows} == {"dashboard": 1, "details": 1,
                                                             "digest": 2, "probe": 2,
                                                             "ruleset": 1, "tracked_posts": 1}
        await store.close()

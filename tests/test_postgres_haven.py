"""A whole Haven on PostgreSQL: end-to-end scenarios of the core suites, run again with
the Harness's store on a real PostgreSQL instead of SQLite (same features, same
assertions; ``database: postgresql://...`` in the config)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.storage.database import PostgresDatabase
from bot.storage.store import Store
from tests import test_alerts, test_core, test_digest, test_moderation, test_unanswered
from tests.conftest import Harness, make_config
from tests.fakes import member, post
from tests.pg import TEMPLATE, PgServer
from tests.test_alerts import rules_harness

Scenario = Callable[[Harness], Awaitable[None]]

SCENARIOS: list[Scenario] = [
    test_alerts.test_crisis_post_alerts_moderators_and_signposts_member,
    test_alerts.test_further_posts_update_the_open_alert_without_repeat_signposting,
    test_alerts.test_claim_stops_reescalation_and_updates_alert_messages,
    test_alerts.test_failed_alert_is_retried_until_sent_also_after_restart,
    test_alerts.test_duty_spreads_alerts_and_respects_quiet_hours,
    test_core.test_a_repeated_delivery_is_handled_once_even_after_restart,
    test_core.test_communities_do_not_block_each_other,
    test_core.test_a_repeated_command_delivery_acts_once,
    test_core.test_lone_surrogates_in_text_and_names_are_checked_and_stored,
    test_core.test_odd_unicode_is_handled,
    test_moderation.test_method_post_is_hidden_returned_and_alerted,
    test_moderation.test_case_and_text_are_stored_before_the_post_is_hidden,
    test_moderation.test_a_hide_interrupted_by_a_crash_is_finished_after_restart,
    test_unanswered.test_unanswered_post_is_nudged_then_escalated,
    test_unanswered.test_reply_by_someone_else_stops_the_timers,
]


@pytest.fixture
async def pg_harness(pg_server: PgServer, tmp_path: Path) -> AsyncIterator[Harness]:
    """A started Harness whose store is a fresh PostgreSQL database."""
    name = await pg_server.create_database(TEMPLATE)
    harness = Harness(make_config(tmp_path, f"database: {pg_server.url(name)}"))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        await pg_server.drop_database(name)


DIGEST_SCENARIOS: list[Scenario] = [  # the digest's own tables, numbers and crash recovery
    test_digest.test_flags_from_real_posts_appear_in_the_next_digest_at_nine_once,
    test_digest.test_reviewed_items_never_come_back,
    test_digest.test_a_crash_between_storing_and_sending_sends_once,
    test_digest.test_mydata_forgetme_and_retention,
]


@pytest.mark.parametrize("scenario", DIGEST_SCENARIOS, ids=[s.__name__ for s in DIGEST_SCENARIOS])
async def test_digest_scenario_on_postgresql(scenario: Scenario, pg_server: PgServer,
                                            tmp_path: Path) -> None:
    name = await pg_server.create_database(TEMPLATE)
    harness = rules_harness(tmp_path, f"{test_digest.NY}\ndatabase: {pg_server.url(name)}")
    await harness.start()
    try:
        assert harness.core is not None
        assert isinstance(harness.core.store.database, PostgresDatabase)
        await scenario(harness)
    finally:
        await harness.stop()
        await pg_server.drop_database(name)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f"{s.__module__.split('.')[-1]}:{s.__name__}"
                                                     for s in SCENARIOS])
async def test_scenario_on_postgresql(scenario: Scenario, pg_harness: Harness) -> None:
    assert pg_harness.core is not None
    assert isinstance(pg_harness.core.store.database, PostgresDatabase)
    await scenario(pg_harness)


async def test_nul_characters_are_stored_on_both_engines(harness: Harness,
                                                       pg_harness: Harness) -> None:
    """PostgreSQL's text cannot hold U+0000 (SQLite's can): a crisis post and a name with
    one are alerted and stored the same way on both engines (NUL kept as U+FFFD)."""
    for h in (harness, pg_harness):
        assert h.core is not None
        await h.core.handle(post("i want to kill myself tonight \x00", h.clock.now(),
                                 author=member("cas", "Ca\x00s")))
        assert h.core.errors == 0
        alert = await h.core.store.alerts.get_alert(1)
        assert alert is not None and alert.kind == "crisis"
        assert alert.member_name == "Ca\ufffds"
        assert (await h.core.store.members.get_member("c1", "cas")).name == "Ca\ufffds"


async def test_nul_in_any_stored_argument_is_kept_as_a_replacement_character(
        db_target: str) -> None:
    store = await Store.open(db_target)
    try:
        await store.kv.set("k", "a\x00b")
        assert await store.kv.get("k") in ("a\x00b", "a\ufffdb")  # SQLite keeps NUL as is
    finally:
        await store.close()

"""DashboardRepository: links and sessions stored only as hashes, spent once, scoped to a
community; its part of mydata, forgetme and the retention purge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.database import Database
from bot.storage.repositories.dashboard import MIGRATIONS, DashboardRepository, token_hash

NOW = 1_000_000.0


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[DashboardRepository]:
    db = await Database.open(tmp_path / "d.db", MIGRATIONS)
    yield DashboardRepository(db)
    await db.close()


async def _all(repo: DashboardRepository, table: str) -> str:
    return "\n".join(str(tuple(r)) for r in await repo.db.all(f"SELECT * FROM {table}"))


async def test_tokens_are_random_and_stored_only_hashed(repo: DashboardRepository) -> None:
    link = await repo.create_link("c1", "mod1", "Mo", NOW, 600)
    session = await repo.create_session("c1", "mod1", "Mo", NOW, 3600)
    assert len(link) >= 40 and len(session) >= 40 and link != session
    links, sessions = await _all(repo, "dashboard_links"), await _all(repo, "dashboard_sessions")
    assert link not in links and token_hash(link) in links
    assert session not in sessions and token_hash(session) in sessions


async def test_a_link_is_spent_once_and_expires(repo: DashboardRepository) -> None:
    link = await repo.create_link("c1", "mod1", "Mo", NOW, 600)
    assert await repo.link_is_valid(link, NOW + 599)
    assert not await repo.link_is_valid(link, NOW + 600)
    assert await repo.use_link(link, NOW + 600) is None  # expired
    fresh = await repo.create_link("c1", "mod1", "Mo", NOW, 600)
    who = await repo.use_link(fresh, NOW + 1)
    assert who is not None and (who.community_id, who.user_id, who.user_name) == (
        "c1", "mod1", "Mo")
    assert await repo.use_link(fresh, NOW + 2) is None
    assert not await repo.link_is_valid(fresh, NOW + 2)
    assert await repo.use_link("made-up", NOW) is None


async def test_two_uses_at_once_open_one_session(repo: DashboardRepository) -> None:
    link = await repo.create_link("c1", "mod1", "Mo", NOW, 600)
    results = await asyncio.gather(*(repo.use_link(link, NOW) for _ in range(5)))
    assert sum(r is not None for r in results) == 1


async def test_a_cancelled_link_cannot_be_used(repo: DashboardRepository) -> None:
    link = await repo.create_link("c1", "mod1", "Mo", NOW, 600)
    await repo.cancel_link(link, NOW)
    assert await repo.use_link(link, NOW) is None


async def test_sessions_expire_and_end(repo: DashboardRepository) -> None:
    token = await repo.create_session("c1", "mod1", "Mo", NOW, 3600)
    found = await repo.session(token, NOW + 10)
    assert found is not None and found.expires_at == NOW + 3600
    assert await repo.session(token, NOW + 3600) is None
    assert await repo.end_session(token, NOW)
    assert await repo.session(token, NOW + 1) is None
    assert not await repo.end_session(token, NOW)


async def test_ending_a_person_or_a_community_touches_no_one_else(
        repo: DashboardRepository) -> None:
    mo = await repo.create_session("c1", "mod1", "Mo", NOW, 3600)
    mo2 = await repo.create_session("c1", "mod1", "Mo", NOW, 3600)
    max_ = await repo.create_session("c1", "mod2", "Max", NOW, 3600)
    far = await repo.create_session("c2", "mod1", "Mo", NOW, 3600)
    assert await repo.end_user_sessions("c1", "mod1", NOW) == 2
    assert await repo.session(mo, NOW) is None and await repo.session(mo2, NOW) is None
    assert await repo.session(max_, NOW) is not None and await repo.session(far, NOW) is not None
    link = await repo.create_link("c1", "mod2", "Max", NOW, 600)
    assert await repo.end_all_sessions("c1", NOW) == 1
    assert await repo.session(max_, NOW) is None and await repo.use_link(link, NOW) is None
    assert await repo.session(far, NOW) is not None


async def test_mydata_forgetme_and_the_purge(repo: DashboardRepository) -> None:
    assert await repo.export("c1", "mod1") == {}
    assert await repo.forget("c1", "mod1", "alias") == {}
    token = await repo.create_session("c1", "mod1", "Mo", NOW, 3600)
    await repo.create_link("c1", "mod1", "Mo", NOW, 600)
    exported = await repo.export("c1", "mod1")
    assert exported == {"dashboard_sessions": [
        {"created_at": NOW, "expires_at": NOW + 3600, "ended_at": None}]}
    assert token not in str(exported) and token_hash(token) not in str(exported)
    assert await repo.forget("c1", "mod1", "alias") == {"dashboard_sessions": 2}
    assert await repo.session(token, NOW) is None
    await repo.create_session("c1", "mod2", "Max", NOW, 3600)
    await repo.create_link("c1", "mod2", "Max", NOW, 600)
    assert await repo.purge_text(NOW + 601) == 1  # the expired link only
    assert await repo.purge_text(NOW + 3601) == 1  # then the expired session

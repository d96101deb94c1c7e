"""Auth: a link becomes a session once; CSRF tokens derived from the session, never stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.clock import VirtualClock
from bot.dashboard.auth import Auth, csrf_ok, csrf_token, session_key
from bot.storage.database import Database
from bot.storage.repositories.dashboard import MIGRATIONS, DashboardRepository


@pytest.fixture
async def auth(tmp_path: Path) -> AsyncIterator[Auth]:
    db = await Database.open(tmp_path / "d.db", MIGRATIONS)
    yield Auth(DashboardRepository(db), VirtualClock(1_000_000.0), session_hours=2)
    await db.close()


async def test_a_link_signs_in_once_for_the_session_length(auth: Auth) -> None:
    clock = auth.clock
    link = await auth.repo.create_link("c1", "mod1", "Mo", clock.now(), 600)
    assert await auth.link_is_valid(link)
    signed = await auth.sign_in(link)
    assert signed is not None
    assert signed.session.expires_at - signed.session.created_at == 2 * 3600
    assert await auth.sign_in(link) is None
    assert await auth.session(signed.token) is not None
    assert await auth.session(None) is None and await auth.session("") is None
    clock.set(clock.now() + 2 * 3600)  # type: ignore[attr-defined]
    assert await auth.session(signed.token) is None


async def test_sign_out_and_sign_out_everywhere(auth: Auth) -> None:
    now = auth.clock.now()
    one = await auth.sign_in(await auth.repo.create_link("c1", "mod1", "Mo", now, 600))
    two = await auth.sign_in(await auth.repo.create_link("c1", "mod1", "Mo", now, 600))
    assert one is not None and two is not None
    await auth.sign_out(one.token)
    assert await auth.session(one.token) is None and await auth.session(two.token) is not None
    await auth.sign_out_everywhere(two.session)
    assert await auth.session(two.token) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    assert csrf_token("a") == csrf_token("a") != csrf_token("b")
    assert "session-secret" not in csrf_token("session-secret")
    assert len(csrf_token("a")) == 64
    assert csrf_ok("a", csrf_token("a"))
    assert not csrf_ok("a", csrf_token("b"))
    assert not csrf_ok("a", None) and not csrf_ok("a", "")


def test_a_session_key_names_it_without_giving_it_away() -> None:
    key = session_key("secret-token")
    assert len(key) == 16 and "secret" not in key and key == session_key("secret-token")

"""Slow mode on Discord (capability ``SLOW_MODE``), checked at the HTTP layer.

A raid guard calls :meth:`DiscordAdapter.set_slow_mode`; on Discord that is a
``PATCH /channels/<id>`` with ``rate_limit_per_user``.
"""

from __future__ import annotations

import pytest

from bot.core.errors import MissingPermission, NotFound, PlatformError, RateLimited
from bot.core.ports import Capability, SlowMode, capability, has
from tests import discord_payloads as p
from tests.discord_harness import started


async def test_discord_declares_slow_mode_and_implements_it(monkeypatch):
    h, _ = await started(monkeypatch)
    assert has(h.adapter, Capability.SLOW_MODE)
    assert capability(h.adapter, Capability.SLOW_MODE, SlowMode) is h.adapter


@pytest.mark.parametrize("ref", ["support", "#support", p.SUPPORT, f"<#{p.SUPPORT}>"])
async def test_discord_slow_mode_patches_the_channel(monkeypatch, ref):
    h, _ = await started(monkeypatch)
    await h.adapter.set_slow_mode(p.GUILD_ID, ref, 30)
    [call] = h.rest.find("PATCH", f"/channels/{p.SUPPORT}")
    assert call.json == {"rate_limit_per_user": 30}


async def test_discord_slow_mode_off_and_beyond_discords_limit(monkeypatch):
    h, _ = await started(monkeypatch)
    await h.adapter.set_slow_mode(p.GUILD_ID, "general", 0)
    await h.adapter.set_slow_mode(p.GUILD_ID, "general", 86400)  # Discord allows 6 hours at most
    await h.adapter.set_slow_mode(p.GUILD_ID, "general", -5)
    sent = [c.json["rate_limit_per_user"] for c in h.rest.find("PATCH", f"/channels/{p.GENERAL}")]
    assert sent == [0, 21600, 0]


async def test_discord_slow_mode_in_a_forum(monkeypatch):
    h, _ = await started(monkeypatch)
    await h.adapter.set_slow_mode(p.GUILD_ID, "support-forum", 60)
    [call] = h.rest.find("PATCH", f"/channels/{p.SUPPORT_FORUM}")
    assert call.json["rate_limit_per_user"] == 60


async def test_discord_slow_mode_without_manage_channels_names_the_permission(monkeypatch):
    h, _ = await started(monkeypatch)
    h.rest.fail("PATCH", rf"/channels/{p.SUPPORT}", 403, 50013, "Missing Permissions")
    with pytest.raises(MissingPermission) as info:
        await h.adapter.set_slow_mode(p.GUILD_ID, "support", 30)
    assert info.value.permission == "manage_channels" and "support" in info.value.where


async def test_discord_slow_mode_errors_are_translated(monkeypatch):
    h, _ = await started(monkeypatch)
    with pytest.raises(NotFound):
        await h.adapter.set_slow_mode(p.GUILD_ID, "no-such-channel", 30)
    with pytest.raises(NotFound):
        await h.adapter.set_slow_mode("123", "support", 30)  # a server Haven is not in
    h.rest.fail("PATCH", rf"/channels/{p.SUPPORT}", 429, 0, "slow down",
                headers={"Retry-After": "4"})
    with pytest.raises(RateLimited):
        await h.adapter.set_slow_mode(p.GUILD_ID, "support", 30)
    h.rest.fail("PATCH", rf"/channels/{p.SUPPORT}", 500, 0, "oops", times=5)
    with pytest.raises(PlatformError) as info:
        await h.adapter.set_slow_mode(p.GUILD_ID, "support", 30)
    assert info.value.retryable

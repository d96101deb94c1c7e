"""The review digest on Discord (the end-to-end harness): its buttons and a press."""

from __future__ import annotations

from typing import Any

from bot.adapters.discord.views import custom_id
from tests import discord_payloads as p
from tests.discord_harness import ALICE, MO
from tests.test_discord_features import GENERAL, MOD_ALERTS, MOD_PERMS, DiscordE2E

HOUR = 3600.0


async def test_discord_digest_has_reviewed_buttons_and_a_press_marks_the_item(
        tmp_path: Any, monkeypatch: Any) -> None:
    e2e = await DiscordE2E(tmp_path, monkeypatch).start()
    try:
        await e2e.post(GENERAL, ALICE, "text me on 555-1234")  # a personal-details nudge
        await e2e.post(GENERAL, ALICE, "get free nitro here")  # a shadow rule
        await e2e.advance(13 * HOUR)  # the clock starts at 09:00 UTC; the digest is at 21:00
        digest_call = next(c for c in e2e.rest.messages_to(MOD_ALERTS)
                           if "Review digest 1" in c.content)
        assert "555" not in digest_call.content and "nitro" not in digest_call.content
        ids = digest_call.custom_ids()
        assert ids == [custom_id("reviewed", 1), custom_id("reviewed", 2),
                       custom_id("reviewed", 0)]
        labels = [c["label"] for row in digest_call.json["components"]
                  for c in row["components"]]
        assert labels == ["Reviewed 1", "Reviewed 2", "All reviewed"]
        digest_msg = next(m for m in e2e.rest.sent.values()
                          if m["channel_id"] == MOD_ALERTS and m["components"])
        ch = p.channel_for_interaction(p.text_channel(MOD_ALERTS, "mod-alerts"))
        await e2e.h.feed("INTERACTION_CREATE", p.button_press(
            custom_id("reviewed", 2), at=e2e.now(), channel=ch, invoker=MO, msg=digest_msg,
            roles=(p.MOD_ROLE,), permissions=MOD_PERMS))
        [cb] = e2e.callbacks()
        assert "Marked 1" in cb.json["data"]["content"] and cb.json["data"]["flags"] & 64
        left = await e2e.core.features["digest"].ctx.repo.digest.unreviewed(p.GUILD_ID)
        assert [i.id for i in left] == [1]
        data = await e2e.slash("reviewed", [{"name": "item", "type": 3, "value": "all"}])
        assert "Marked 1" in data["content"]
    finally:
        await e2e.stop()


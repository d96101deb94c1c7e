"""Identifying details on Discord, end to end: the note arrives as a DM, nothing public."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import discord_payloads as p
from tests.discord_harness import ALICE
from tests.test_discord_features import GENERAL, DiscordE2E, dm_texts


@pytest.fixture
async def e2e(tmp_path: Path, monkeypatch: Any) -> AsyncIterator[DiscordE2E]:
    env = await DiscordE2E(tmp_path, monkeypatch).start()
    yield env
    await env.stop()


async def test_discord_the_third_kind_of_detail_sends_one_private_note(e2e: DiscordE2E) -> None:
    await e2e.post(GENERAL, ALICE, "my name is Alice Marsh, hi everyone")
    await e2e.post(GENERAL, ALICE, "exams at Kingsbridge College are so stressful")
    await e2e.post(GENERAL, ALICE, "I go to Kingsbridge College by bus")
    assert dm_texts(e2e, ALICE) == []  # two kinds: nothing yet
    public_before = len(e2e.rest.messages_to(GENERAL))
    await e2e.post(GENERAL, ALICE, "I live in Tadcaster, it's tiny")
    [note] = dm_texts(e2e, ALICE)
    assert "your full name" in note and "your town or street" in note
    assert "edit or delete" in note
    for detail in ("Marsh", "Kingsbridge", "Tadcaster"):
        assert detail not in note
    assert len(e2e.rest.messages_to(GENERAL)) == public_before  # nothing said in public
    await e2e.post(GENERAL, ALICE, "my therapist Dr Osei is great")
    assert len(dm_texts(e2e, ALICE)) == 1  # once per window


async def test_discord_closed_dms_get_no_public_fallback(e2e: DiscordE2E) -> None:
    e2e.rest.fail("POST", r"/channels/(?!960)\d+/messages", 403, 50007,
                  "Cannot send messages to this user")
    for text in ("my name is Alice Marsh", "I go to Kingsbridge College",
                 "I live in Tadcaster"):
        await e2e.post(GENERAL, ALICE, text)
    assert e2e.rest.dms_to(p.MEMBER_ID)  # the private note was tried
    for call in e2e.rest.messages_to(GENERAL):
        assert "privacy" not in call.content

"""``haven demo`` runs end to end and shows every feature."""

from __future__ import annotations

from bot.demo import run_demo


async def test_demo_shows_every_feature(capsys) -> None:
    assert await run_demo() == 0
    out = capsys.readouterr().out
    for expected in (
        "Haven privately to Sam",                # welcome
        "Haven posts in #welcome",               # DM fallback
        "thank you for your first post",         # greeting
        "New alert #1: Crisis",                  # crisis alert
        "Alert updated: another post",           # further posts update the alert
        "still unclaimed after 10m",             # re-escalation
        "Claimed by",                            # claim button
        "Haven hides message",                   # method / hostility hiding
        "Here is your text so nothing is lost",  # nothing lost
        "need a content warning",                # CW channel
        "Haven reposts in #heavy-topics",        # sensitive redirect with repost
        "@Peer Supporters",                      # unanswered nudge
        "Unanswered for",                        # escalation after restart
        "is for moderators only",                # permission check in the core
        "Dry run",                               # rules test
        "Shift logbook",                         # handover
        "Community health",                      # stats
    ):
        assert expected in out, expected
    assert "Traceback" not in out

"""Chaos: the real core and store, killed with SIGKILL at random points, restarted each time.

Afterwards every crisis post has exactly one alert (and its alert reached the
moderators once), every hidden post's text is stored (and reached its author
once), and every due reminder fired exactly once. See ``tests/chaos_worker.py``.

Sends repeated after a kill carry the same dedupe key; the recorder honours keys the
way a platform with idempotent sends does (Matrix transaction ids), so "once" is
counted over what members and moderators would see.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.storage.store import Store
from tests.chaos_worker import COMMUNITY, TEXTS, workload

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[1]
SEED = 12
SIZE = 40
KILLS = 16


def _start(workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.chaos_worker", str(workdir)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "worker.log", "ab"))


async def test_sigkill_at_random_points_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rnd = random.Random(SEED)
    (tmp_path / "setup.json").write_text(json.dumps(
        {"seed": SEED, "size": SIZE, "wall_start": time.time()}))
    kills = 0
    for _ in range(KILLS):
        proc = _start(tmp_path)
        time.sleep(rnd.uniform(0.3, 1.6))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    proc = _start(tmp_path)  # the last run is left to finish its work
    assert proc.wait(timeout=90) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert kills >= KILLS // 2, "the worker finished too early to be killed often"

    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()
             if line.endswith("}")]
    delivered = [c for c in calls if not c["dup"]]
    posts = workload(SEED, SIZE)
    store = await Store.open(tmp_path / "haven.db")
    try:
        assert await store.kv.get("chaos:position") == str(SIZE)
        new_alerts = Counter(c["alert_id"] for c in delivered
                             if c["verb"] == "send" and c["target"] == "mod-alerts"
                             and "New alert" in c["text"])
        reminded = 0
        for i, (kind, _) in enumerate(posts):
            author = f"{kind}{i}"
            alerts = await store.alerts.alerts_since(COMMUNITY, 0)
            mine = [a for a in alerts if a.member_id == author]
            if kind in ("crisis", "method"):
                assert len(mine) == 1, f"post {i} ({kind}) has {len(mine)} alerts"
                assert new_alerts[mine[0].number] == 1, f"alert of post {i} reached moderators " \
                                                    f"{new_alerts[mine[0].number]} times"
            else:
                assert mine == []
            if kind == "method":
                [case] = [c for c in await store.cases.cases_for(COMMUNITY, author) if c.action == "hide"]
                assert case.excerpt and TEXTS["method"].startswith(case.excerpt[:20])
                returned = [c for c in delivered if c["verb"] == "send_private"
                            and c["target"] == author and "has been hidden" in c["text"]]
                assert len(returned) == 1, f"post {i}: text returned {len(returned)} times"
            if kind == "crisis":
                signposts = [c for c in delivered if c["verb"] == "send_private"
                             and c["target"] == author]
                assert len(signposts) == 1, f"post {i}: signposted {len(signposts)} times"
            if kind == "support":
                link = f"https://chat.example/id-support/p{i}"
                reminders = [c for c in delivered if c["verb"] == "send" and c["target"] == "team"
                             and link in c["text"].split("\n")]
                escalations = [c for c in delivered if c["verb"] == "send"
                               and c["target"] == "mod-alerts" and link in c["text"].split("\n")]
                [tracked] = [t for t in await store.posts.posts_since(COMMUNITY, 0)
                             if t.message_id == f"p{i}"]
                # A reminder overtaken by downtime is skipped for the escalation (by design);
                # every one that fell due fired once, and every escalation fired once.
                assert len(reminders) == (tracked.reminded_at is not None), \
                    f"post {i}: {len(reminders)} reminders"
                assert len(escalations) == 1, f"post {i}: {len(escalations)} escalations"
                reminded += len(reminders)
        assert reminded, "no reminder fell due: the workload did not exercise reminders"
        assert not [j for j in await store.jobs.pending_jobs() if j.kind not in ("purge_text", "digest_send")]
    finally:
        await store.close()

"""Several Haven processes on one database, one of them killed with SIGKILL mid-way.

Three processes (``tests/mp_worker.py``: the real core, features and store with a
scripted platform) share one database (a real PostgreSQL, and SQLite too) and split
twelve communities between them the way Discord processes split shards. Thousands of posts arrive; one process is killed
in the middle and started again (as systemd would), a new holder that takes over the
jobs its predecessor had claimed once their leases run out. Afterwards: every crisis
post has exactly one alert, which reached its community's moderators once; every due
reminder and escalation fired exactly once; no job is left pending.

Sends repeated after a kill carry the same dedupe key, and the recorder honours keys
the way a platform with idempotent sends does, so "once" is counted over what
moderators would see.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.storage.store import Store
from tests.mp_worker import HOUSEKEEPING, community, workload

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[1]
SEED = 7
PROCESSES = 3
COMMUNITIES = 12
POSTS = 200
"""Posts per community: 2,400 in all."""
VICTIM = 1


def _start(workdir: Path, index: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.mp_worker", str(workdir), str(index)],
                            cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=open(workdir / f"worker-{index}.log", "ab"))


def _calls(workdir: Path) -> list[dict]:
    calls = []
    for index in range(PROCESSES):
        path = workdir / f"calls-{index}.jsonl"
        if path.exists():
            calls += [json.loads(line) for line in path.read_text().splitlines()
                      if line.endswith("}")]
    return calls


async def run_processes(workdir: Path, database: str) -> None:
    """Start the processes, kill one mid-way, start it again, wait for all to finish."""
    (workdir / "setup.json").write_text(json.dumps({
        "database": database, "processes": PROCESSES, "communities": COMMUNITIES,
        "posts": POSTS, "seed": SEED}))
    deadline = time.time() + 120
    procs = {0: _start(workdir, 0)}
    while not (workdir / "up-0").exists():  # the first one creates (migrates) the database
        assert time.time() < deadline and procs[0].poll() is None, \
            (workdir / "worker-0.log").read_text()[-3000:]
        time.sleep(0.05)
    procs.update({i: _start(workdir, i) for i in range(1, PROCESSES)})
    while not all((workdir / f"up-{i}").exists() for i in range(PROCESSES)):
        assert time.time() < deadline and all(p.poll() is None for p in procs.values()), \
            (workdir / "worker-0.log").read_text()[-3000:]
        time.sleep(0.05)
    (workdir / "go.json").write_text(json.dumps({"wall_start": time.time() + 0.2}))
    while not (workdir / f"calls-{VICTIM}.jsonl").exists() or \
            len((workdir / f"calls-{VICTIM}.jsonl").read_text().splitlines()) < 40:
        assert time.time() < deadline, (workdir / f"worker-{VICTIM}.log").read_text()[-3000:]
        assert procs[VICTIM].poll() is None, (workdir / f"worker-{VICTIM}.log").read_text()[-3000:]
        time.sleep(0.05)
    os.kill(procs[VICTIM].pid, signal.SIGKILL)  # in the middle of its work
    procs[VICTIM].wait()
    killed_at = len((workdir / f"calls-{VICTIM}.jsonl").read_text().splitlines())
    time.sleep(0.3)
    procs[VICTIM] = _start(workdir, VICTIM)     # started again, as systemd would
    for index, proc in procs.items():
        assert proc.wait(timeout=240) == 0, (workdir / f"worker-{index}.log").read_text()[-3000:]
    after = len((workdir / f"calls-{VICTIM}.jsonl").read_text().splitlines())
    assert after > killed_at + 100, "the killed process had finished most of its work already"


async def check_outcome(workdir: Path, database: str) -> None:
    """Every crisis post one alert, delivered once; every reminder once; nothing pending."""
    delivered = [c for c in _calls(workdir) if not c["dup"]]
    posts = workload(SEED, COMMUNITIES, POSTS)
    store = await Store.open(database)
    try:
        reminded = crises = 0
        for n in range(COMMUNITIES):
            cid = community(n)
            assert await store.kv.get(f"mp:position:{cid}") == str(POSTS)
            alerts = await store.alerts.alerts_since(cid, 0)
            by_member = Counter(a.member_id for a in alerts)
            # numbers per community: 1..n across the processes, none twice
            assert sorted(a.number for a in alerts) == list(range(1, len(alerts) + 1)), cid
            new_alerts = Counter(c["alert_id"] for c in delivered  # numbers are per community
                                 if c["verb"] == "send" and c["target"] == "mod-alerts"
                                 and c.get("community") == cid and "New alert" in c["text"])
            tracked = {t.message_id: t for t in await store.posts.posts_since(cid, 0)}
            for i, kind in enumerate(posts[cid]):
                author = f"{kind}{i}"
                mine = [a for a in alerts if a.member_id == author]
                if kind == "crisis":
                    crises += 1
                    assert by_member[author] == 1, f"{cid} post {i}: {by_member[author]} alerts"
                    assert new_alerts[mine[0].number] == 1, \
                        f"{cid} post {i}: alert reached moderators {new_alerts[mine[0].number]} times"
                else:
                    assert mine == [], f"{cid} post {i} ({kind}) raised an alert"
                if kind == "support":
                    link = f"https://chat.example/{cid}-support/{cid}-p{i}"
                    reminders = [c for c in delivered if c["verb"] == "send"
                                 and c["target"] == "team" and link in c["text"].split("\n")]
                    escalations = [c for c in delivered if c["verb"] == "send"
                                   and c["target"] == "mod-alerts"
                                   and link in c["text"].split("\n")]
                    post = tracked[f"{cid}-p{i}"]
                    assert len(reminders) == (post.reminded_at is not None), \
                        f"{cid} post {i}: {len(reminders)} reminders"
                    if len(escalations) != 1:
                        jobs = await store.database.all(
                            "SELECT * FROM jobs WHERE key LIKE ?", (f"post:{post.id}:%",))
                        raise AssertionError(f"{cid} post {i}: {len(escalations)} escalations; "
                                             f"{post}; jobs {[dict(j) for j in jobs]}")
                    reminded += len(reminders)
        # On a loaded machine the processes fall behind and many reminders are overtaken
        # by their escalation (skipped by design); enough must fire to test them.
        assert crises >= 50 and reminded >= 30, (crises, reminded)
        left = [j for j in await store.jobs.pending_jobs() if j.kind not in HOUSEKEEPING]
        assert left == [], f"{len(left)} jobs left pending"
    finally:
        await store.close()


async def test_three_processes_one_killed_share_one_sqlite_database(tmp_path: Path) -> None:
    database = str(tmp_path / "haven.db")
    await run_processes(tmp_path, database)
    await check_outcome(tmp_path, database)


async def test_three_processes_one_killed_share_one_postgresql_database(
        tmp_path: Path, pg_url: str) -> None:
    await run_processes(tmp_path, pg_url)
    await check_outcome(tmp_path, pg_url)

"""Chaos on the real Synapse harness: ``haven run`` SIGKILLed at random points, restarted.

Haven runs as a separate process (``python -m bot run --config ...``, the access
token in ``HAVEN_MATRIX_TOKEN``) against the session's homeserver, on a fresh set
of rooms (general, support, moderators, team) and a SQLite database in tmp.
Members (each post by its own freshly registered account, so no two alerts are
about the same member) post a seeded workload: ordinary posts, crisis posts,
method posts that get hidden, and support posts nobody answers, so that the
reminder (``remind_after: 6s``) and the escalation (``escalate_after: 15s``)
fall due within the test. The Haven process is killed with SIGKILL at seeded
random points several times and restarted on the same database; posting goes
on while it is down, so catch-up must find those posts.

After a final clean run has let everything settle (polled in the database, then
SIGTERM), what members and moderators would see is read back from the
homeserver with the bot's token:

- every crisis or method post has exactly one alert message in the moderators'
  room (edits of it allowed, a second alert message not);
- every hidden post is redacted, its text is stored (the ``cases`` table) and
  was returned to its author privately exactly once (transaction-id dedupe);
- every reminder that fell due fired once (one downtime may overtake it: then
  the escalation goes out instead, by design) and every escalation fired once;
- no job is left pending but housekeeping and not-yet-due re-escalations.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.synapse_harness import (  # noqa: F401
    Homeserver,
    Registered,
    _die_with_parent,
    homeserver,
)

pytestmark = [pytest.mark.synapse, pytest.mark.chaos, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[1]
TEST_RULES = Path(__file__).parent / "data" / "rules"
SEED = int(os.environ.get("HAVEN_CHAOS_SEED", "1207"))
"""The workload and kill schedule seed (set HAVEN_CHAOS_SEED to explore others)."""
POSTS = 22
KILLS = 6
REMIND = 6
ESCALATE = 15
SETTLE = 90.0
"""Seconds the final run may take to deliver everything (normally a few)."""
TEXTS = {
    "crisis": "i can't do this anymore, i want to kill myself ({n})",
    "method": "how many pills would it take ({n})",
    "support": "rough week, could anyone talk for a bit? ({n})",
    "chatter": "good morning everyone ({n})",
}
ALERT = re.compile(r"\*\*(New alert|Alert updated|Alert upgraded|Alert still unclaimed)")


# ---------------------------------------------------------------------------
# the client-server API, plain HTTP (members need no syncing client here)
# ---------------------------------------------------------------------------

_txn = itertools.count()


def api(server: Homeserver, method: str, path: str, token: str,
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One client-server API call (``path`` after ``/_matrix/client/v3``)."""
    return server._request(method, "/_matrix/client/v3" + path, body, token=token)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def create_room(server: Homeserver, owner: Registered, name: str, bot_id: str,
                public: bool) -> str:
    reply = api(server, "POST", "/createRoom", owner.access_token, {
        "name": name, "preset": "public_chat" if public else "private_chat",
        "invite": [bot_id], "power_level_content_override": {"users": {bot_id: 100}}})
    return str(reply["room_id"])


def send(server: Homeserver, user: Registered, room_id: str, body: str) -> str:
    path = f"/rooms/{q(room_id)}/send/m.room.message/chaos-{os.getpid()}-{next(_txn)}"
    reply = api(server, "PUT", path, user.access_token, {"msgtype": "m.text", "body": body})
    return str(reply["event_id"])


def timeline(server: Homeserver, token: str, room_id: str) -> list[dict[str, Any]]:
    """Every event of a room, oldest first (all pages of ``/messages``)."""
    events: list[dict[str, Any]] = []
    start = ""
    while True:
        page = api(server, "GET", f"/rooms/{q(room_id)}/messages?dir=f&limit=500"
                   + (f"&from={q(start)}" if start else ""), token)
        events += page.get("chunk", [])
        if not page.get("chunk") or not page.get("end"):
            return events
        start = page["end"]


def members(server: Homeserver, token: str, room_id: str) -> dict[str, str]:
    """user id -> membership (join, invite, ...) of a room."""
    reply = api(server, "GET", f"/rooms/{q(room_id)}/members", token)
    return {e["state_key"]: e["content"].get("membership", "") for e in reply.get("chunk", [])}


def is_edit(event: dict[str, Any]) -> bool:
    return (event.get("content", {}).get("m.relates_to") or {}).get("rel_type") == "m.replace"


def bot_messages(events: list[dict[str, Any]], bot_id: str) -> list[str]:
    """Bodies of the bot's messages, edits left out (an edit updates, it is not a message)."""
    return [e["content"].get("body", "") for e in events
            if e.get("type") == "m.room.message" and e.get("sender") == bot_id
            and not is_edit(e)]


# ---------------------------------------------------------------------------
# the Haven process
# ---------------------------------------------------------------------------


@dataclass
class HavenProcess:
    """``haven run`` in a child process, started and SIGKILLed at will."""

    config: Path
    token: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        env = {**os.environ, "HAVEN_MATRIX_TOKEN": self.token, "HAVEN_LOG_LEVEL": "INFO"}
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)], cwd=ROOT,
                env=env, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """A clean stop (SIGTERM, as a supervisor does); the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def cleanup(self) -> None:
        """Make sure no Haven process outlives the test (a failed test included)."""
        if self.running:
            self.kill()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def poll(condition: Callable[[], Any], what: str, timeout: float,
         haven: HavenProcess | None = None, detail: Callable[[], Any] | None = None) -> Any:
    """Poll ``condition`` every 100 ms until it is truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if haven is not None and haven.proc is not None and not haven.running:
            raise AssertionError(f"Haven exited ({haven.proc.returncode}) waiting for {what}:\n"
                                 + haven.tail())
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s; "
                                 f"last: {(detail or condition)()!r}"[:3000]
                                 + ("\n" + haven.tail() if haven else ""))
        time.sleep(0.1)


@contextlib.contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """A short read-only connection to Haven's SQLite database."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------


@dataclass
class Post:
    kind: str
    author: Registered
    room: str
    text: str
    event_id: str = ""


@dataclass
class Rooms:
    general: str
    support: str
    mods: str
    team: str
    all: tuple[str, ...] = field(default=())


def workload(rnd: random.Random) -> list[str]:
    kinds = rnd.choices(["crisis", "method", "support", "chatter"], weights=[3, 2, 3, 2],
                        k=POSTS)
    for kind in ("crisis", "method", "support"):  # every kind at least twice, whatever the seed
        while kinds.count(kind) < 2:
            kinds[rnd.randrange(POSTS)] = kind
    return kinds


def unsettled(db: Path, posts: list[Post]) -> list[str]:
    """What the final run has still to do (empty when everything settled)."""
    if not db.exists():
        return ["no database yet"]
    left: list[str] = []
    with database(db) as conn:
        pending = conn.execute(
            "SELECT kind, key FROM jobs WHERE state = 'pending' AND kind NOT IN "
            "('purge_text', 'alert_reescalate', 'digest_send')").fetchall()
        left += [f"job {kind} {key}" for kind, key in pending]
        left += [f"outbox {k}" for (k,) in conn.execute(
            "SELECT key FROM outbox WHERE state != 'sent'").fetchall()]
        seen = {m for (m,) in conn.execute(
            "SELECT message_id FROM alerts UNION SELECT message_id FROM tracked_posts")}
        escalated = {m for (m,) in conn.execute(
            "SELECT message_id FROM tracked_posts WHERE escalated_at IS NOT NULL")}
    for post in posts:
        if post.kind in ("crisis", "method") and post.event_id not in seen:
            left.append(f"{post.kind} post {post.event_id} not handled")
        if post.kind == "support" and post.event_id not in escalated:
            left.append(f"support post {post.event_id} not escalated")
    return left


def run_chaos(haven: HavenProcess, rnd: random.Random, server: Homeserver, posts: list[Post],
              db: Path) -> int:
    """Post the workload while killing and restarting Haven; then a final run settles it."""
    haven.start()
    # The very first start ignores history (by design): post only once it has caught up.
    poll(lambda: "Haven is running on matrix" in haven.log.read_text(errors="replace"),
         "the first start", 60, haven)
    kills = 0
    next_kill = time.monotonic() + rnd.uniform(1.0, 4.0)
    next_start = 0.0

    def chaos_until(until: float) -> None:
        """Kill and restart Haven on schedule until ``until`` (monotonic)."""
        nonlocal kills, next_kill, next_start
        while time.monotonic() < until:
            now = time.monotonic()
            if haven.running and kills < KILLS and now >= next_kill:
                haven.kill()
                kills += 1
                next_start = now + rnd.uniform(0.3, 2.5)
            elif not haven.running:
                assert haven.proc is not None and haven.proc.returncode == -signal.SIGKILL, \
                    f"Haven exited by itself ({haven.proc.returncode}):\n{haven.tail()}"
                if now >= next_start:
                    haven.start()
                    # up long enough to start (about 1 s) and get some work done, or not
                    next_kill = now + rnd.uniform(0.8, 5.0)
            time.sleep(0.05)  # the pace of the schedule, not a wait for a result

    for post in posts:
        post.event_id = send(server, post.author, post.room, post.text)
        chaos_until(time.monotonic() + rnd.uniform(0.3, 1.0))
    while kills < KILLS:  # the timers (reminders, escalations) get killed too
        chaos_until(time.monotonic() + 0.2)
    if not haven.running:
        haven.start()
    poll(lambda: not unsettled(db, posts), "everything settled", SETTLE + ESCALATE, haven,
         detail=lambda: unsettled(db, posts))
    assert haven.stop() == 0, haven.tail()
    return kills


def test_haven_run_sigkilled_at_random_points_on_synapse(
        homeserver: Homeserver, tmp_path: Path) -> None:  # noqa: F811
    started = time.monotonic()
    rnd = random.Random(SEED)
    server = homeserver
    mod = server.register()
    bot = server.register()
    rooms = Rooms(general=create_room(server, mod, "General", bot.user_id, public=True),
                  support=create_room(server, mod, "Support", bot.user_id, public=True),
                  mods=create_room(server, mod, "Moderators", bot.user_id, public=False),
                  team=create_room(server, mod, "Peer team", bot.user_id, public=False))
    rooms.all = (rooms.general, rooms.support, rooms.mods, rooms.team)
    kinds = workload(rnd)
    posts: list[Post] = []
    for n, kind in enumerate(kinds):
        author = server.register()
        room = rooms.support if kind == "support" else rooms.general
        api(server, "POST", f"/join/{q(room)}", author.access_token, {})
        posts.append(Post(kind, author, room, TEXTS[kind].format(n=n)))

    db = tmp_path / "haven.db"
    config = tmp_path / "haven.yaml"
    config.write_text(yaml.safe_dump({
        "platform": "matrix",
        "database": str(db),
        "community": {"name": "Harbour", "countries": ["GB"]},
        "rules": {"dir": str(TEST_RULES), "helplines": str(TEST_RULES / "helplines.yaml")},
        "channels": {"moderators": rooms.mods, "nudges": rooms.team},
        "unanswered": {"remind_after": f"{REMIND}s", "escalate_after": f"{ESCALATE}s",
                       "places": [rooms.support]},
        "matrix": {"homeserver": server.base_url, "user_id": bot.user_id},
    }))
    haven = HavenProcess(config, bot.access_token, tmp_path / "haven.log")
    try:
        kills = run_chaos(haven, rnd, server, posts, db)
    finally:
        haven.cleanup()
    assert kills == KILLS and haven.starts == KILLS + 1

    # -- what members and moderators see ---------------------------------------
    token = bot.access_token
    mods_view = timeline(server, token, rooms.mods)
    team_view = timeline(server, token, rooms.team)
    general_view = {e["event_id"]: e for e in timeline(server, token, rooms.general)}
    alerts = [b for b in bot_messages(mods_view, bot.user_id) if ALERT.search(b)]
    escalations = [b for b in bot_messages(mods_view, bot.user_id) if "Unanswered for" in b]
    nudges = bot_messages(team_view, bot.user_id)
    private: dict[str, list[str]] = {}  # member -> the bot's messages in their direct rooms
    joined = api(server, "GET", "/joined_rooms", token)["joined_rooms"]
    for room_id in joined:
        if room_id in rooms.all:
            continue
        others = [u for u in members(server, token, room_id) if u != bot.user_id]
        assert len(others) == 1, f"direct room {room_id} has {others}"
        private.setdefault(others[0], []).extend(
            bot_messages(timeline(server, token, room_id), bot.user_id))

    with database(db) as conn:
        hidden_text = dict(conn.execute(
            "SELECT message_id, excerpt FROM cases WHERE action = 'hide'").fetchall())
        # A reminder is due when its job ran before the escalation time; one that a
        # downtime pushed past it is skipped for the escalation (by design).
        reminders = {mid: (reminded_at, done_at is not None and done_at < posted_at + ESCALATE)
                     for mid, reminded_at, posted_at, done_at in conn.execute(
                         "SELECT t.message_id, t.reminded_at, t.posted_at, MIN(j.done_at) "
                         "FROM tracked_posts t LEFT JOIN jobs j ON j.kind = 'post_remind' "
                         "AND j.state = 'done' AND j.key = 'post:' || t.id || ':remind' "
                         "GROUP BY t.id")}

    problems: list[str] = []
    for post in posts:
        eid, who = post.event_id, f"{post.kind} post {post.text!r} ({post.event_id})"
        about = [a for a in alerts if eid in a]
        if post.kind in ("crisis", "method"):
            if len(about) != 1:
                problems.append(f"{who}: {len(about)} alert messages")
        elif about:
            problems.append(f"{who}: alerted")
        if post.kind == "method":
            if "redacted_because" not in general_view.get(eid, {}).get("unsigned", {}):
                problems.append(f"{who}: not redacted")
            if not hidden_text.get(eid) or post.text[:20] not in hidden_text[eid]:
                problems.append(f"{who}: text not stored ({hidden_text.get(eid)!r})")
            back = [m for m in private.get(post.author.user_id, [])
                    if "has been hidden" in m and post.text in m]
            if len(back) != 1:
                problems.append(f"{who}: text returned {len(back)} times")
        if post.kind == "crisis":
            signposts = [m for m in private.get(post.author.user_id, []) if "crisis line" in m]
            if len(signposts) > 1:
                problems.append(f"{who}: signposted {len(signposts)} times")
        if post.kind == "support":
            mine = [n for n in nudges if eid in n]
            reminded_at, due = reminders.get(eid, (None, False))
            # Once at most; once for sure if it fell due or Haven noted it sent. (Sent, then
            # killed before noting it, then retried past the escalation time: sent once,
            # not noted; the retry does not send again.)
            if len(mine) > 1 or (len(mine) == 0 and (due or reminded_at is not None)):
                problems.append(f"{who}: {len(mine)} reminders (due {due}, reminded_at "
                                f"{reminded_at})")
            mine = [e for e in escalations if eid in e]
            if len(mine) != 1:
                problems.append(f"{who}: {len(mine)} escalations")
        elif any(eid in n for n in nudges + escalations):
            problems.append(f"{who}: nudged or escalated")
    assert not problems, "\n".join(problems) + "\n" + haven.tail(6000)
    assert any(due for _, due in reminders.values()), \
        "no reminder fell due: the workload did not exercise reminders"
    with database(db) as conn:
        overdue = conn.execute("SELECT kind, key FROM jobs WHERE state = 'pending' AND due_at < ?",
                               (time.time() - 5,)).fetchall()
    assert not overdue, overdue
    took = time.monotonic() - started
    print(json.dumps({"kills": kills, "posts": len(posts), "seconds": round(took, 1)}))

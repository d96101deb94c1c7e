"""Benchmark the whole pipeline: events per second and latency through the real core.

Ordinary and crisis posts (``--crisis-share``, 5% by default) from many members in several
channels and communities, some of them replies, go through Haven as ``haven run`` builds
it (:func:`bot.app.create`: every feature, the shipped rule packs, the real store) with a
platform that answers at once, in three phases on the same store.

The process is pinned to one CPU (``--all-cores`` to let it use more), as the targets
are for one core; the store's threads share that core. Phases:

* **throughput**: every post submitted at once, then drained; ``events_per_s``;
* **latency**: fresh posts paced at half that rate, each timed from submit until handled
  (an urgent post's follow-up work included): ``p50_ms``, ``p99_ms``;
* **round trips**: posts handled one at a time while every statement reaching the
  database is counted (on SQLite every SQL statement, ``BEGIN`` and ``COMMIT``
  included; elsewhere every call through :class:`bot.storage.database.Database`):
  ``round_trips_per_message`` (ordinary posts) and ``round_trips_per_crisis_message``;
  on SQLite also ``hops_per_message``, the trips to aiosqlite's thread and back (the
  statements of tasks queued together share one), and ``hops_per_event_at_throughput``,
  the same during the throughput phase.

Where the throughput phase's time goes, per post: ``loop_cpu_us_per_event`` (CPU time of
the event loop's thread: the core, the features, the rules), ``other_cpu_us_per_event``
(every other thread: the store's, SQL included), ``loop_turns_per_event`` (turns of the
event loop) and ``idle_us_per_event`` (the rest of the wall time: waiting, or other
processes on the core).

The baseline, timed in the same run on posts of the same mix it has not seen before (as
the pipeline's are), is the rule engine alone (triage: normalise, match, decide; no
store, no features): ``engine_events_per_s``; ``ratio_to_engine`` is the pipeline's share.

    python bench/pipeline.py                       # a readable report
    python bench/pipeline.py --json                # one JSON object
    python bench/pipeline.py --messages 50 --json  # a smoke run
    python bench/pipeline.py --database postgresql://haven@localhost/haven_bench --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bot.app import create, load_config_text  # noqa: E402
from bot.core.config import Config  # noqa: E402
from bot.core.errors import PrivateMessagesClosed  # noqa: E402
from bot.core.events import Channel, Member, MessagePosted, MessageRef, Outgoing  # noqa: E402
from bot.core.ports import Capability  # noqa: E402
from bot.core.runtime import Haven  # noqa: E402
from bot.storage.database import Database  # noqa: E402

WORDS = re.findall(r"\S+", (
    "i you we they it the a and but so because really just feel feeling today tonight week "
    "work school home friend friends family mum dad sister people everyone anyone someone "
    "thanks thank support group chat post reply help helped better worse tired sleep slept "
    "morning evening weekend walk coffee tea dinner lunch music film show game book read talk "
    "talked think thought know want need going went come came hope glad sorry okay fine good "
    "hard easy long time day days little bit lot more less still again maybe also new old "
    "first last next big small quiet kind nice lovely rough anxious calm therapy appointment "
    "doctor session exam job shift bus"
))

CRISIS = (
    "i want to kill myself tonight",
    "honestly i am going to end my life this weekend",
    "i keep thinking about ending it all right now",
    "i am ready to end it all, i can't do this anymore",
    "tonight i'm going to kill myself, i've decided",
)
"""First-person crisis posts the shipped packs alert on (checked by the smoke test)."""

CHANNELS = ("general", "support", "vent", "introductions", "off-topic", "creative")


class InstantPlatform:
    """A platform that answers every call at once and keeps nothing (counts calls only)."""

    name = "bench"
    capabilities = frozenset(Capability)
    command_prefix = "/"

    def __init__(self) -> None:
        self.calls = 0
        self._ids = itertools.count(1)

    def _ref(self, community_id: str, channel: str) -> MessageRef:
        self.calls += 1
        return MessageRef(community_id, channel, f"bench-out-{next(self._ids)}")

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        return self._ref(community_id, channel)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        return self._ref(to.community_id, to.channel_id)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        if user_id.endswith("7"):  # some members keep their DMs closed
            raise PrivateMessagesClosed(f"{user_id} does not take private messages")
        return self._ref(community_id, f"dm-{user_id}")

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        self.calls += 1

    async def hide(self, ref: MessageRef, reason: str) -> None:
        self.calls += 1

    async def timeout(self, community_id: str, user_id: str, seconds: float, reason: str) -> None:
        self.calls += 1

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        return self._ref(community_id, channel)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        self.calls += 1

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        return None

    async def role_member_ids(self, community_id: str, role: str) -> tuple[str, ...] | None:
        return ("mod1", "mod2")

    async def set_slow_mode(self, community_id: str, channel: str, seconds: int) -> None:
        self.calls += 1

    async def lift_timeout(self, community_id: str, user_id: str) -> None:
        self.calls += 1

    def user_mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def role_mention(self, community_id: str, role: str) -> str:
        return f"<@&{role}>"

    def channel_mention(self, community_id: str, channel: str) -> str:
        return f"<#{channel}>"

    def community_name(self, community_id: str) -> str:
        return community_id

    def moderators_channel_is_private(self, community_id: str) -> bool | None:
        return True


@dataclass
class Traffic:
    """Generates the posts: who says what where, some replies, a share of crisis posts."""

    communities: int = 4
    members: int = 200
    crisis_share: float = 0.05
    seed: int = 5
    rng: random.Random = field(init=False)
    _ids: Iterator[int] = field(init=False)
    _recent: dict[tuple[str, str], list[tuple[str, str]]] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._ids = itertools.count(1)
        self._recent = {}

    def post(self, at: float, crisis: bool | None = None) -> MessagePosted:
        """One post; ``crisis`` forces the kind (else drawn with :attr:`crisis_share`)."""
        rng = self.rng
        community = f"guild-{rng.randrange(self.communities)}"
        name = rng.choice(CHANNELS)
        chan = Channel(id=f"{community}-{name}", name=name)
        uid = f"user{rng.randrange(self.members)}"
        author = Member(id=uid, name=f"Member {uid[4:]}", joined_at=at - rng.uniform(0, 90) * 86400)
        if crisis is None:
            crisis = rng.random() < self.crisis_share
        text = rng.choice(CRISIS) if crisis else " ".join(
            rng.choice(WORDS) for _ in range(rng.randint(4, 24)))
        mid = f"m{next(self._ids)}"
        recent = self._recent.setdefault((community, chan.id), [])
        reply_to = None
        others = [m for m, who in recent if who != uid]
        if others and rng.random() < 0.3:
            reply_to = rng.choice(others)
        recent.append((mid, uid))
        del recent[:-20]
        return MessagePosted(community, at, channel=chan, author=author,
                             message=MessageRef(community, chan.id, mid), text=text,
                             link=f"https://chat.example/{chan.id}/{mid}", reply_to=reply_to)

    def posts(self, n: int, start: float) -> list[MessagePosted]:
        """``n`` posts, a millisecond apart (event time; the bench paces them itself)."""
        return [self.post(start + i / 1000) for i in range(n)]


def bench_config(database: str) -> Config:
    """The example config (every feature on) with the shipped packs, the semantic stage
    off (``bench/engine.py`` measures it) and the given database."""
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^database: .*$", f"database: {json.dumps(database)}", text)
    text = re.sub(r"(?m)^(  semantic:) on\b", r"\1 off", text)
    return load_config_text(text, "bench-config.yaml", ROOT)


class StatementCounter:
    """Counts statements reaching the database while :attr:`on`.

    On SQLite it is the connection's trace callback: every SQL statement (``BEGIN``,
    ``COMMIT`` and ``SAVEPOINT`` included). On another engine it wraps the
    :class:`Database` calls (``one``, ``all``, ``execute``, and two per transaction).
    Commits are the database's own count (a transaction, or a write on its own).
    """

    def __init__(self) -> None:
        self.statements = 0
        self.on = False

    def _seen(self, sql: str) -> None:
        if self.on:
            self.statements += 1

    async def attach(self, db: Database) -> None:
        """Start counting on ``db`` (counting is off until :attr:`on` is set)."""
        conn = getattr(db, "connection", None)
        if conn is not None and hasattr(conn, "set_trace_callback"):
            await conn.set_trace_callback(self._seen)
            return
        for name in ("one", "all", "execute", "many"):
            method = getattr(db, name, None)
            if method is not None:
                setattr(db, name, self._wrap(method))
        transaction = db.transaction

        @contextlib.asynccontextmanager
        async def counted() -> Any:
            self._seen("BEGIN")
            async with transaction():
                yield
            self._seen("COMMIT")

        db.transaction = counted  # type: ignore[method-assign]

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self._seen("?")
            return await method(*args, **kwargs)
        return call


@dataclass
class CpuSplit:
    """CPU time of the event loop's thread and of every other thread, wall time and
    turns of the event loop, over a ``with`` block (see :func:`cpu_split`)."""

    loop_s: float = 0.0
    other_s: float = 0.0
    wall_s: float = 0.0
    turns: int = 0


@contextlib.contextmanager
def cpu_split() -> Iterator[CpuSplit]:
    """Measure a block run on the event loop: its thread's CPU, the other threads', the
    wall time and how many turns the loop took (asyncio's ``_run_once``, where present)."""
    loop = asyncio.get_running_loop()
    split = CpuSplit()
    real = getattr(loop, "_run_once", None)

    def counted() -> None:
        split.turns += 1
        real()  # type: ignore[misc]

    if real is not None:
        loop._run_once = counted  # type: ignore[attr-defined]
    thread, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
    try:
        yield split
    finally:
        split.loop_s = time.thread_time() - thread
        split.other_s = max(0.0, time.process_time() - process - split.loop_s)
        split.wall_s = time.perf_counter() - wall
        if real is not None:
            del loop._run_once  # type: ignore[attr-defined]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def throughput(core: Haven, posts: Sequence[MessagePosted]) -> float:
    """Submit every post at once, drain; events per second."""
    started = time.perf_counter()
    for ev in posts:
        core.submit(ev)
    await core.drain()
    return len(posts) / max(time.perf_counter() - started, 1e-9)


async def paced(core: Haven, posts: Sequence[MessagePosted], rate: float,
                crisis: list[float] | None = None) -> list[float]:
    """Submit ``posts`` at ``rate`` per second; each one's latency (s) from submit to handled
    (the crisis posts' also in ``crisis``)."""
    latencies: list[float] = []

    async def one(ev: MessagePosted) -> None:
        t0 = time.perf_counter()
        await core.handle(ev)
        latencies.append(time.perf_counter() - t0)
        if crisis is not None and ev.text in CRISIS:
            crisis.append(latencies[-1])

    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    i = 0
    while i < len(posts):
        due = int((time.perf_counter() - started) * rate) + 1
        while i < min(due, len(posts)):
            tasks.append(asyncio.create_task(one(posts[i])))
            i += 1
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
    await asyncio.gather(*tasks)
    await core.drain()
    return latencies


async def round_trips(core: Haven, counter: StatementCounter,
                      posts: Sequence[MessagePosted]) -> tuple[float, float, float, float]:
    """Handle posts one at a time; mean statements, commits, fsyncs and hops to the
    store's thread (SQLite: statements queued together share one) per post."""
    statements = commits = fsyncs = hops = 0
    db = core.store.database
    for ev in posts:
        counter.statements = 0
        before = getattr(db, "_commits", 0), getattr(db, "fsyncs", 0), getattr(db, "hops", 0)
        counter.on = True
        await core.handle(ev)
        await core.drain()
        counter.on = False
        statements += counter.statements
        commits += getattr(db, "_commits", 0) - before[0]
        fsyncs += getattr(db, "fsyncs", 0) - before[1]
        hops += getattr(db, "hops", 0) - before[2]
    n = max(1, len(posts))
    return statements / n, commits / n, fsyncs / n, hops / n


def engine_rate(core: Haven, traffic: Traffic, n: int, start: float,
                min_seconds: float) -> float:
    """The baseline: the rule engine alone (triage's evaluate) on posts of the same mix it
    has not seen yet (as in the pipeline: its regex automaton warms up on new text)."""
    done = 0
    elapsed = 0.0
    while elapsed < min_seconds or done == 0:
        posts = traffic.posts(n, start + done)
        started = time.perf_counter()
        for ev in posts:
            core.evaluate(ev)
        elapsed += time.perf_counter() - started
        done += len(posts)
    return done / elapsed


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three phases; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
        database = args.database or str(Path(tmp) / "bench.db")
        config = bench_config(database)
        platform = InstantPlatform()
        core = await create(config, platform)
        counter = StatementCounter()
        await counter.attach(core.store.database)
        await core.start(run_scheduler=False)
        try:
            traffic = Traffic(args.communities, args.members, args.crisis_share, args.seed)
            now = time.time()
            warm = traffic.posts(max(10, args.messages // 10), now)
            await throughput(core, warm)
            posts = traffic.posts(args.messages, now + 100)
            hops_before = getattr(core.store.database, "hops", 0)
            with cpu_split() as cpu:
                rate = await throughput(core, posts)
            hops = (getattr(core.store.database, "hops", 0) - hops_before) / len(posts)
            engine = engine_rate(core, traffic, args.messages, now + 150, args.min_seconds)
            crisis_latencies: list[float] = []
            latencies = await paced(core, traffic.posts(args.messages, now + 200),
                                    max(1.0, rate / 2), crisis_latencies)
            ordinary = [traffic.post(now + 300 + i, crisis=False) for i in range(args.sample)]
            crisis = [traffic.post(now + 400 + i, crisis=True) for i in range(args.sample // 4 + 1)]
            trips, commits, fsyncs, trips_hops = await round_trips(core, counter, ordinary)
            crisis_trips, _, crisis_fsyncs, _ = await round_trips(core, counter, crisis)
            alerts = await core.store.database.one("SELECT COUNT(*) AS n FROM alerts")
        finally:
            await core.stop()
    return {
        "database": "postgresql" if args.database else "sqlite",
        "messages": args.messages,
        "communities": args.communities,
        "crisis_share": args.crisis_share,
        "events_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "latency_rate_per_s": round(max(1.0, rate / 2), 1),
        "crisis_p50_ms": round(percentile(crisis_latencies, 0.5) * 1000, 3),
        "crisis_p99_ms": round(percentile(crisis_latencies, 0.99) * 1000, 3),
        "round_trips_per_message": round(trips, 2),
        "commits_per_message": round(commits, 2),
        "fsyncs_per_message": round(fsyncs, 2),
        "fsyncs_per_crisis_message": round(crisis_fsyncs, 2),
        "round_trips_per_crisis_message": round(crisis_trips, 2),
        "hops_per_message": round(trips_hops, 2),
        "hops_per_event_at_throughput": round(hops, 2),
        "loop_cpu_us_per_event": round(cpu.loop_s / len(posts) * 1e6, 1),
        "other_cpu_us_per_event": round(cpu.other_s / len(posts) * 1e6, 1),
        "idle_us_per_event": round(max(0.0, cpu.wall_s - cpu.loop_s - cpu.other_s)
                                   / len(posts) * 1e6, 1),
        "loop_turns_per_event": round(cpu.turns / len(posts), 2),
        "engine_events_per_s": round(engine, 1),
        "ratio_to_engine": round(rate / engine, 4) if engine else None,
        "alerts": int(alerts["n"]) if alerts is not None else 0,
        "platform_calls": platform.calls,
        "errors": core.errors,
    }


def one_core() -> set[int] | None:
    """Pin this process (the loop and every thread) to one CPU; the CPUs it now has, or
    ``None`` where pinning is not available."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is None:
        return None
    first = min(affinity(0))
    os.sched_setaffinity(0, {first})
    return set(affinity(0))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=5000, help="posts per phase")
    p.add_argument("--communities", type=int, default=4)
    p.add_argument("--members", type=int, default=200)
    p.add_argument("--crisis-share", type=float, default=0.05)
    p.add_argument("--sample", type=int, default=200,
                   help="posts handled one at a time to count round trips")
    p.add_argument("--min-seconds", type=float, default=0.5,
                   help="how long the rule-engine baseline runs")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--database", default=None,
                   help="a database URL (postgresql://...); default: a fresh SQLite file")
    p.add_argument("--all-cores", action="store_true",
                   help="do not pin the process to one CPU (the targets are for one core)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores = one_core() if not args.all_cores else None
    try:
        figures = asyncio.run(measure(args))
    finally:
        if cores is not None and before is not None:
            os.sched_setaffinity(0, before)
    figures["cpus"] = len(cores) if cores is not None else None
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"Pipeline on {figures['database']}: {figures['messages']} posts per phase, "
          f"{figures['communities']} communities, {figures['crisis_share']:.0%} crisis")
    print(f"  throughput:  {figures['events_per_s']:>10,.0f} events/s "
          f"({figures['ratio_to_engine']:.1%} of the rule engine alone, "
          f"{figures['engine_events_per_s']:,.0f}/s)")
    print(f"  latency at {figures['latency_rate_per_s']:,.0f}/s: p50 {figures['p50_ms']} ms, "
          f"p99 {figures['p99_ms']} ms (crisis posts alone: p50 {figures['crisis_p50_ms']} ms, "
          f"p99 {figures['crisis_p99_ms']} ms)")
    print(f"  per post at full throughput: {figures['loop_cpu_us_per_event']} us CPU on the "
          f"event loop, {figures['other_cpu_us_per_event']} us on other threads (the store's), "
          f"{figures['idle_us_per_event']} us idle; {figures['loop_turns_per_event']} turns "
          "of the event loop")
    print(f"  round trips: {figures['round_trips_per_message']} per ordinary post "
          f"({figures['commits_per_message']} commits, {figures['fsyncs_per_message']} fsyncs), "
          f"{figures['round_trips_per_crisis_message']} per crisis post; hops to the store's "
          f"thread: {figures['hops_per_message']} per post alone, "
          f"{figures['hops_per_event_at_throughput']} per post at full throughput")
    print(f"  alerts raised: {figures['alerts']}; platform calls: {figures['platform_calls']}; "
          f"errors: {figures['errors']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One of the processes of the multi-process test: the real core on a shared database.

Usage: ``python -m tests.mp_worker WORKDIR INDEX``. ``WORKDIR/setup.json`` holds the
database (a SQLite path or a ``postgresql://`` URL), the number of processes, the
communities, posts per community and the seed; ``WORKDIR/go.json`` the wall-clock start,
written once every process is up (:func:`go`).

Process ``INDEX`` serves the communities whose number modulo the process count is
``INDEX`` (as a Discord process serves the servers on its shards): it delivers their
posts in order, each at its own time, saving each community's position after a post is
handled (like a saved sync token), and claims only their jobs (plus housekeeping). Every
platform call is appended to ``WORKDIR/calls-INDEX.jsonl`` straight to the kernel, so a
SIGKILL loses nothing already recorded; sends honour dedupe keys the way a platform
with idempotent sends does. A process started again after a kill carries on where the
killed one stopped (a new holder: the old one's leased jobs are taken over when their
leases run out). It exits when its communities' posts are handled and none of their
jobs is left but housekeeping.

Time runs :data:`SPEED` times faster than the wall clock, so reminders fall due within
seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import time
from pathlib import Path

from bot import app
from bot.app import load_config_text
from bot.core.events import Channel, Member, MessagePosted, MessageRef
from bot.storage.store import Store
from tests.chaos_worker import RULES, Recorder

SPEED = 600.0
"""One wall second is ten minutes."""
GAP = 60.0
"""Virtual seconds between two posts of one community."""
LEASE = 900.0
"""Virtual seconds a claimed job stays this process's (1.5 s of wall time)."""
HOUSEKEEPING = ("purge_text", "digest_send")

TEXTS = {
    "crisis": "i can't do this anymore, i want to kill myself",
    "support": "rough week, could anyone talk for a bit?",
    "chatter": "good morning everyone",
}

CONFIG = """
platform: console
database: {db}
community: {{name: Harbour, countries: [GB]}}
rules: {{dir: {rules}, helplines: {rules}/helplines.yaml}}
channels: {{moderators: mod-alerts, welcome: welcome, rules: house-rules, nudges: team}}
roles: {{moderators: [Moderators], peer_supporters: [Peer Supporters]}}
unanswered: {{remind_after: 20m, escalate_after: 60m, places: [support]}}
detection: {{semantic: off}}
"""


class ScaledClock:
    """Wall time sped up :data:`SPEED` times from a start shared by every process."""

    def __init__(self, wall_start: float) -> None:
        self.wall_start = wall_start

    def now(self) -> float:
        return self.wall_start + (time.time() - self.wall_start) * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / SPEED)


def community(n: int) -> str:
    """The id of community ``n``."""
    return f"g{n}"


def workload(seed: int, communities: int, posts: int) -> dict[str, list[str]]:
    """Each community's posts, by kind (post ``i`` of community ``g`` is by ``<kind><i>``)."""
    rnd = random.Random(seed)
    return {community(n): rnd.choices(["crisis", "support", "chatter"], weights=[5, 15, 80],
                                      k=posts) for n in range(communities)}


def owner(community_id: str, processes: int) -> int:
    """Which process serves a community (its number modulo the process count)."""
    return int(community_id[1:]) % processes


def post_event(cid: str, i: int, kind: str, at: float) -> MessagePosted:
    """Post ``i`` of community ``cid``."""
    where = "support" if kind == "support" else "general"
    chan = Channel(f"{cid}-{where}", where)
    mid = f"{cid}-p{i}"
    return MessagePosted(cid, at, channel=chan,
                         author=Member(f"{kind}{i}", f"{kind}{i}", joined_at=at - 400 * 86400),
                         message=MessageRef(cid, chan.id, mid), text=TEXTS[kind],
                         link=f"https://chat.example/{chan.id}/{mid}")


async def deliver(core, store: Store, clock: ScaledClock, cid: str,  # type: ignore[no-untyped-def]
                  kinds: list[str]) -> None:
    """Deliver one community's posts in order, from its saved position."""
    position = int(await store.kv.get(f"mp:position:{cid}") or 0)
    for i in range(position, len(kinds)):
        at = clock.wall_start + (i + 1) * GAP
        if clock.now() < at:
            await clock.sleep(at - clock.now())
        await core.handle(post_event(cid, i, kinds[i], at))
        await store.kv.set(f"mp:position:{cid}", str(i + 1))


async def go(workdir: Path, index: int) -> float:
    """Say this process is up, then wait for the wall-clock start every process shares
    (``go.json``, written by the test once all are up; a restarted process finds it)."""
    (workdir / f"up-{index}").touch()
    while not (workdir / "go.json").exists():
        await asyncio.sleep(0.02)
    return float(json.loads((workdir / "go.json").read_text())["wall_start"])


async def main(workdir: Path, index: int) -> int:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{index}] %(name)s: %(message)s")
    setup = json.loads((workdir / "setup.json").read_text())
    clock = ScaledClock(time.time())
    config = load_config_text(CONFIG.format(db=setup["database"], rules=RULES), "mp.yaml")
    platform = Recorder(workdir / f"calls-{index}.jsonl")
    store = await Store.open(config.database)
    core = await app.create(config, platform, clock, store)
    mine = {cid: kinds for cid, kinds in workload(setup["seed"], setup["communities"],
                                                 setup["posts"]).items()
            if owner(cid, setup["processes"]) == index}
    core.scheduler.scope = lambda: set(mine)
    core.scheduler.lease = LEASE
    core.scheduler.set_instance(f"mp-worker-{index}")  # a restart takes back its own jobs
    clock.wall_start = await go(workdir, index)
    await core.start()
    core.mark_ready()
    await asyncio.gather(*(deliver(core, store, clock, cid, kinds) for cid, kinds in mine.items()))
    while True:
        await core.drain()
        left = [j for j in await store.jobs.pending_jobs()
                if j.kind not in HOUSEKEEPING and j.community_id in mine]
        if not left:
            break
        await asyncio.sleep(0.05)
    await core.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]))))

"""The process the chaos test kills: the real core and SQLite store on a scripted workload.

Usage: ``python -m tests.chaos_worker WORKDIR``. ``WORKDIR/setup.json`` holds the
workload seed, size and the wall-clock start. Every platform call is appended to
``WORKDIR/calls.jsonl`` (one line per call, written straight to the kernel, so a
SIGKILL loses nothing already recorded). The recorder honours dedupe keys like a
platform with idempotent sends (Matrix transaction ids): a send repeating a key
is recorded as ``dup`` and not delivered again.

Time runs 3600 times faster than the wall clock (one second is one hour), so
reminders fall due within seconds; posts arrive a quarter of a second apart. The worker plays the platform too: it
delivers the workload's posts in order and saves its position after each one
is handled (like a saved sync token), so after a restart the posts not yet
confirmed are delivered again. It exits by itself when every post was handled
and no timer is left but housekeeping.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from bot import app
from bot.app import load_config_text
from bot.core.events import Channel, Member, MessagePosted, MessageRef, Outgoing
from bot.storage.store import Store
from tests.fakes import FakePlatform

SPEED = 3600.0
COMMUNITY = "c1"
RULES = Path(__file__).parent / "data" / "rules"
TEXTS = {
    "crisis": "i can't do this anymore, i want to kill myself",
    "method": "how many pills would it take",
    "support": "rough week, could anyone talk for a bit?",
    "chatter": "good morning everyone",
}


def workload(seed: int, size: int) -> list[tuple[str, str]]:
    """(kind, channel) of each post; post ``i`` is by member ``<kind><i>``."""
    rnd = random.Random(seed)
    kinds = rnd.choices(["crisis", "method", "support", "chatter"], weights=[3, 2, 3, 2], k=size)
    return [(k, "support" if k == "support" else rnd.choice(["general", "vent-chat"]))
            for k in kinds]


class ScaledClock:
    """Wall time sped up :data:`SPEED` times from a fixed start (shared by every run)."""

    def __init__(self, wall_start: float) -> None:
        self.wall_start = wall_start

    def now(self) -> float:
        return self.wall_start + (time.time() - self.wall_start) * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / SPEED)


class Recorder(FakePlatform):
    """A FakePlatform that appends every call to a file and honours dedupe keys."""

    name = "console"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.keys: set[str] = set()
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    key = json.loads(line).get("key")
                except ValueError:
                    continue  # a line cut by the kill
                if key:
                    self.keys.add(key)
        self._ids = iter(range(int(time.time() * 1000) % 10**9, 10**10))

    def _write(self, verb: str, target: str, msg: Outgoing | None, **extra: Any) -> bool:
        key = msg.dedupe_key if msg is not None else None
        dup = key is not None and key in self.keys
        if key:
            self.keys.add(key)
        line = {"verb": verb, "target": target, "text": msg.text if msg else "", "key": key,
                "dup": dup, "alert_id": msg.alert_id if msg else None, **extra}
        os.write(self.fd, (json.dumps(line) + "\n").encode())
        return not dup

    def _ref(self, community_id: str, channel: str) -> MessageRef:
        return MessageRef(community_id, channel, f"r{next(self._ids)}")

    async def send(self, community_id: str, channel: str, msg: Outgoing) -> MessageRef:
        self._write("send", channel, msg, community=community_id)
        return self._ref(community_id, channel)

    async def reply(self, to: MessageRef, msg: Outgoing) -> MessageRef:
        self._write("reply", to.message_id, msg)
        return self._ref(to.community_id, to.channel_id)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        self._write("send_private", user_id, msg)
        return self._ref(community_id, f"dm-{user_id}")

    async def edit(self, ref: MessageRef, msg: Outgoing) -> None:
        self._write("edit", ref.message_id, None)

    async def hide(self, ref: MessageRef, reason: str) -> None:
        self._write("hide", ref.message_id, None)

    async def repost(self, community_id: str, channel: str, author: Member,
                     msg: Outgoing) -> MessageRef:
        self._write("repost", channel, msg)
        return self._ref(community_id, channel)

    async def tag_post(self, ref: MessageRef, add: tuple[str, ...],
                       remove: tuple[str, ...]) -> None:
        self._write("tag_post", ref.message_id, None)


CONFIG = """
platform: console
database: {db}
community: {{name: Harbour, countries: [GB]}}
rules: {{dir: {rules}, helplines: {rules}/helplines.yaml}}
channels: {{moderators: mod-alerts, welcome: welcome, rules: house-rules, nudges: team}}
roles: {{moderators: [Moderators], peer_supporters: [Peer Supporters]}}
unanswered: {{remind_after: 2h, escalate_after: 12h, places: [support]}}
# the chaos test is about durability, on a clock running 3,600 times real time: the model's
# inference time (seconds of virtual time on a loaded machine) would only blur what it checks
detection: {{semantic: off}}
"""


def post_event(i: int, kind: str, channel: str, at: float) -> MessagePosted:
    chan = Channel(f"id-{channel}", channel)
    mid = f"p{i}"
    return MessagePosted(COMMUNITY, at, channel=chan,
                         author=Member(f"{kind}{i}", f"{kind}{i}", joined_at=at - 400 * 86400),
                         message=MessageRef(COMMUNITY, chan.id, mid), text=TEXTS[kind],
                         link=f"https://chat.example/{chan.id}/{mid}")


async def main(workdir: Path) -> int:
    setup = json.loads((workdir / "setup.json").read_text())
    clock = ScaledClock(setup["wall_start"])
    config = load_config_text(CONFIG.format(db=workdir / "haven.db", rules=RULES), "chaos.yaml")
    platform = Recorder(workdir / "calls.jsonl")
    store = await Store.open(config.database)
    core = await app.create(config, platform, clock, store)
    await core.start()
    core.mark_ready()
    posts = workload(setup["seed"], setup["size"])
    position = int(await store.kv.get("chaos:position") or 0)
    for i in range(position, len(posts)):
        kind, channel = posts[i]
        # posts arrive over time, a quarter of a second (15 minutes) apart; a post's time
        # is fixed (the platform's timestamp), however late it is delivered
        at = clock.wall_start + (i + 1) * 900.0
        if clock.now() < at:
            await clock.sleep(at - clock.now())
        await core.handle(post_event(i, kind, channel, at))
        await store.kv.set("chaos:position", str(i + 1))
    while True:
        await core.drain()
        left = [j for j in await store.jobs.pending_jobs() if j.kind not in ("purge_text", "digest_send")]
        if not left:
            break
        await asyncio.sleep(0.05)
    await core.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]))))

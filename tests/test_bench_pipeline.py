"""A tiny run of the pipeline benchmark (no timing asserts: it proves the bench works)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.app import create

BENCH = Path(__file__).resolve().parents[1] / "bench" / "pipeline.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module
    spec.loader.exec_module(module)
    return module


def test_bench_pipeline_json_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    code = bench.main(["--messages", "50", "--sample", "8", "--min-seconds", "0.01", "--json",
                       "--all-cores"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("events_per_s", "p50_ms", "p99_ms", "round_trips_per_message",
                "round_trips_per_crisis_message", "commits_per_message", "engine_events_per_s",
                "ratio_to_engine"):
        assert figures[key] is not None and figures[key] >= 0, key
    assert figures["events_per_s"] > 0 and figures["engine_events_per_s"] > 0
    assert figures["round_trips_per_message"] > 0  # the counter saw the store at work
    # SQLite: statements share trips to aiosqlite's thread, fewer than one each
    assert 0 < figures["hops_per_message"] < figures["round_trips_per_message"]
    assert 0 < figures["hops_per_event_at_throughput"] < figures["round_trips_per_message"]
    assert figures["alerts"] > 0  # the crisis posts reached the moderators
    assert figures["errors"] == 0
    assert figures["loop_cpu_us_per_event"] > 0 and figures["loop_turns_per_event"] >= 1
    assert figures["other_cpu_us_per_event"] >= 0 and figures["idle_us_per_event"] >= 0


def test_cpu_split_counts_the_loops_turns_and_threads() -> None:
    bench = load_bench()

    async def run() -> object:
        with bench.cpu_split() as split:
            for _ in range(5):
                await asyncio.sleep(0)
            # CPU on another thread, well above the CPU clocks' granularity (a few ms on
            # some virtual machines: 200,000 additions once measured as 0.0)
            await asyncio.to_thread(sum, range(3_000_000))
        assert "_run_once" not in vars(asyncio.get_running_loop())  # put back
        return split

    split = asyncio.run(run())
    assert split.turns >= 5 and split.loop_s > 0 and split.other_s > 0
    assert split.wall_s >= split.loop_s


def test_one_core_pins_and_the_bench_gives_the_cpus_back() -> None:
    bench = load_bench()
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this system")
    before = os.sched_getaffinity(0)
    try:
        assert bench.one_core() == {min(before)}
    finally:
        os.sched_setaffinity(0, before)


def test_crisis_posts_alert_and_ordinary_ones_do_not() -> None:
    bench = load_bench()
    config = bench.bench_config(":memory:")
    async def run() -> tuple[int, int]:
        core = await create(config, bench.InstantPlatform())
        try:
            crisis = sum(bool(core.evaluate(bench.Traffic().post(0.0, crisis=True)))
                         for _ in range(20))
            traffic = bench.Traffic(seed=9)
            ordinary = sum(any(m.rule.category == "crisis"
                               for m in core.evaluate(traffic.post(0.0, crisis=False)))
                           for _ in range(200))
        finally:
            await core.stop()
        return crisis, ordinary

    crisis, ordinary = asyncio.run(run())
    assert crisis == 20
    assert ordinary == 0

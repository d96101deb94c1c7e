"""bot.core.metrics and bot.metrics_http: /metrics scraped from a running core (the
figures move), /healthz, /readyz, the metrics config section, no ids or text in labels."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.errors import ConfigError, PlatformError, RateLimited
from bot.core.metrics import METRICS_SECTION, Metrics, parse_listen
from bot.metrics_http import MetricsServer
from tests.conftest import Harness, make_config
from tests.fakes import member, post

SECRET_TEXT = "i can't go on, i want to kill myself"


def figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def get(port: int, path: str) -> tuple[int, str]:
    """A plain HTTP GET on loopback: (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_scrape_from_a_running_core_moves_with_the_work(harness: Harness) -> None:
    core = harness.core
    assert core is not None
    server = MetricsServer(core, "127.0.0.1", 0)
    await server.start()
    try:
        status, before_text = await get(server.port, "/metrics")
        assert status == 200
        before = figures(before_text)
        assert value(before, "haven_alerts_open", state="open") == 0
        for i in range(3):
            core.submit(post(f"hello everyone {i}", harness.clock.now(), author=member(f"u{i}")))
        await core.drain()
        harness.platform.fail("send", RateLimited(2.5), times=1)  # the alert waits a little
        core.submit(post(SECRET_TEXT, harness.clock.now(), author=member("u9")))
        await core.drain()
        await core.advance(60)  # the alert job runs again after the rate limit
        harness.clock.set(harness.clock.now() + 30)
        status, text = await get(server.port, "/metrics")
        assert status == 200
        after = figures(text)
        assert value(after, "haven_events_handled_total", kind="MessagePosted") >= 4
        assert value(after, "haven_handler_seconds_count", kind="MessagePosted") >= 4
        assert value(after, "haven_events_handled_total", kind="job:alert_send") >= 1
        assert value(after, "haven_alerts_open", state="open") == 1
        assert value(after, "haven_alert_oldest_unclaimed_seconds") >= 30
        assert value(after, "haven_platform_errors_total", verb="send", error="RateLimited") == 1
        assert value(after, "haven_rate_limit_waits_total", verb="send") == 1
        assert value(after, "haven_rate_limit_wait_seconds_total") == 2.5
        assert ("haven_jobs_due", ()) in after and ("haven_jobs_late", ()) in after
        # nothing identifying in any label or value: no text, no member or community id
        for secret in ("kill myself", "u9", "u1", "c1", "mod-alerts", "id-general"):
            assert secret not in text
    finally:
        await server.stop()


async def test_jobs_due_and_late_and_queue_depth(harness: Harness) -> None:
    core = harness.core
    assert core is not None
    now = harness.clock.now()
    start = figures((await core.scrape()).decode())  # housekeeping is due at start-up
    await core.scheduler.schedule("c1", "nothing", "late", now - 600)
    await core.scheduler.schedule("c1", "nothing", "due", now - 1)
    await core.scheduler.schedule("c1", "nothing", "later", now + 600)
    gate = asyncio.Event()
    waiting = asyncio.ensure_future(core.dispatch.run_in_lane("c1", "normal", "blocker",
                                                              gate.wait))
    await asyncio.sleep(0)  # the blocker is in the lane first
    for i in range(3):
        core.submit(post(f"queued {i}", now))
    await asyncio.sleep(0.05)
    found = figures((await core.scrape()).decode())
    gate.set()
    await waiting
    await core.drain()
    assert value(found, "haven_jobs_due") - value(start, "haven_jobs_due") == 2
    assert value(found, "haven_jobs_late") - value(start, "haven_jobs_late") == 1
    assert value(found, "haven_queue_depth", shard="0", lane="normal") >= 3


async def test_healthz_and_readyz(harness: Harness, tmp_path: Path) -> None:
    core = harness.core
    assert core is not None
    server = MetricsServer(core, "127.0.0.1", 0)
    await server.start()
    try:
        assert await get(server.port, "/healthz") == (200, "ok\n")
        status, body = await get(server.port, "/readyz")
        assert status == 503 and "not connected" in body
        core.mark_ready()
        assert await get(server.port, "/readyz") == (200, "ready\n")
        await core.store.close()  # the database goes away
        status, body = await get(server.port, "/readyz")
        assert status == 503 and "database does not answer" in body
        assert (await get(server.port, "/nowhere"))[0] == 404
    finally:
        await server.stop()


def test_platform_errors_are_counted_by_verb_and_type() -> None:
    m = Metrics()
    m.platform_error("send", "PlatformError")
    m.platform_error("hide", "RateLimited", 4.0)
    found = figures(m.exposition().decode())
    assert value(found, "haven_platform_errors_total", verb="send", error="PlatformError") == 1
    assert value(found, "haven_rate_limit_waits_total", verb="hide") == 1
    assert value(found, "haven_rate_limit_wait_seconds_total") == 4.0
    assert PlatformError and RateLimited  # the core's error types are what gets counted


def test_each_core_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.handled("MessagePosted", 0.01, True)
    assert value(figures(b.exposition().decode()), "haven_events_handled_total",
                 kind="MessagePosted") == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), (":9464", ("0.0.0.0", 9464)),
    ("[::1]:9000", ("::1", 9000)), ("localhost:0", ("localhost", 0))])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


def test_metrics_listen_is_checked_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, "metrics: {listen: 'nine thousand'}")
    assert re.search(r"metrics\.listen: expected host:port", str(err.value.problems[0]))
    config = make_config(tmp_path, "metrics: {listen: '127.0.0.1:9464'}")
    assert config.get(METRICS_SECTION).address() == ("127.0.0.1", 9464)
    assert make_config(tmp_path).get(METRICS_SECTION).address() is None  # off by default


def test_each_kinds_figures_are_looked_up_once() -> None:
    """``handled`` runs for every event: the labelled children are made once per kind."""
    m = Metrics()
    made: list[str] = []
    real = m.events.labels

    def labels(*values: str) -> object:
        made.append(values[0])
        return real(*values)

    m.events.labels = labels  # type: ignore[method-assign]
    for _ in range(3):
        m.handled("MessagePosted", 0.01, True)
    m.handled("job:alert", 0.02, False)
    assert made == ["MessagePosted", "job:alert"]
    found = figures(m.exposition().decode())
    assert value(found, "haven_events_handled_total", kind="MessagePosted") == 3
    assert value(found, "haven_handler_seconds_count", kind="MessagePosted") == 3
    assert value(found, "haven_events_failed_total", kind="job:alert") == 1

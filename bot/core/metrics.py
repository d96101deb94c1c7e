"""Operators' metrics (Prometheus) and the ``metrics:`` config section.

Every core has one :class:`Metrics` with its own registry (several cores in one test
process never share figures). The core counts what it handles as it goes (events by
kind and how long each took, platform errors and rate-limit waits); what lives in
the database (open alerts, jobs due and late) and the queue depths are read when
the endpoint is scraped (:meth:`Metrics.refresh`).

Labels are kinds, verbs, lanes and shard numbers only: never message text, never a
member, channel or community id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.core.errors import Problem
from bot.core.sections import Checks, Section

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from bot.storage.repositories.alerts import AlertsRepository
    from bot.storage.repositories.jobs import JobsRepository

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
"""Handler latency buckets, in seconds (a plain post takes milliseconds; a job waiting
on a slow platform can take the core's whole 10 s platform time-out)."""

LATE_AFTER = 60.0
"""A job more than this many seconds past its due time counts as late."""

QueueDepths = Callable[[], Mapping[tuple[str, str], int]]
"""Work waiting per (shard, lane)."""


@dataclass(frozen=True)
class MetricsConfig:
    """``metrics:``: the operators' HTTP endpoint (off unless ``listen`` is given)."""

    listen: str | None = None
    """``host:port`` for ``/metrics``, ``/healthz`` and ``/readyz`` (e.g. ``127.0.0.1:9464``)."""

    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to listen on, or ``None`` when off."""
        return parse_listen(self.listen) if self.listen else None


_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[^:\s\[\]]*):(?P<port>\d{1,5})$")


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6; an empty host means every interface)."""
    found = _LISTEN.match(text.strip())
    if found is None or not 0 <= int(found["port"]) <= 65535:
        raise ValueError(f"expected host:port (like 127.0.0.1:9464), got {text!r}")
    host = found["host"].strip("[]") or "0.0.0.0"
    return host, int(found["port"])


def _check(metrics: MetricsConfig, checks: Checks) -> list[Problem]:
    if metrics.listen is None:
        return []
    try:
        parse_listen(metrics.listen)
    except ValueError as exc:
        return [checks.problem("metrics.listen", str(exc))]
    return []


METRICS_SECTION = Section("metrics", MetricsConfig, check=_check)


class _Depths(Collector):
    """Queue depth per shard and lane, read at scrape time."""

    def __init__(self, source: Callable[[], QueueDepths | None]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("haven_queue_depth", "Work waiting in the per-community "
                                   "queues, by shard and lane", labels=["shard", "lane"])
        depths = self._source()
        for (shard, lane), depth in sorted((depths() if depths else {}).items()):
            family.add_metric([shard, lane], depth)
        yield family

    def describe(self) -> Iterable[Metric]:
        return []


class Metrics:
    """The figures one Haven process exposes (a registry of its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("haven_events_handled", "Events and jobs handled, by kind",
                              ["kind"], registry=r)
        self.failures = Counter("haven_events_failed", "Events and jobs whose handling "
                                "raised (logged), by kind", ["kind"], registry=r)
        self.latency = Histogram("haven_handler_seconds", "Time to handle one event or job "
                                 "(from the start of its turn in the queue)", ["kind"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.platform_errors = Counter("haven_platform_errors", "Platform calls that failed, "
                                       "by verb and error", ["verb", "error"], registry=r)
        self.rate_limits = Counter("haven_rate_limit_waits", "Platform calls refused for a "
                                   "rate limit (then retried later), by verb", ["verb"],
                                   registry=r)
        self.rate_limit_seconds = Counter("haven_rate_limit_wait_seconds", "Seconds the "
                                          "platform asked Haven to wait", registry=r)
        self.alerts_open = Gauge("haven_alerts_open", "Alerts not resolved yet, by state",
                                 ["state"], registry=r)
        self.oldest_unclaimed = Gauge("haven_alert_oldest_unclaimed_seconds", "Age of the "
                                      "oldest urgent alert nobody has claimed (0: none)",
                                      registry=r)
        self.jobs_due = Gauge("haven_jobs_due", "Timers and deliveries due now, not done",
                              registry=r)
        self.jobs_late = Gauge("haven_jobs_late", f"Jobs more than {LATE_AFTER:.0f}s past "
                               "their due time", registry=r)
        self.jobs_lost = Gauge("haven_jobs_taken_over", "Jobs another process took over while "
                               "this one still ran them (its lease ran out)", registry=r)
        self.ready = Gauge("haven_ready", "1 once the platform is connected and caught up",
                           registry=r)
        self.depths: QueueDepths | None = None
        r.register(_Depths(lambda: self.depths))
        self._per_kind: dict[str, tuple[Counter, Histogram]] = {}
        """Each kind's labelled children, made once (``labels()`` on every event costs)."""

    # -- counted as it happens -------------------------------------------------------------

    def handled(self, kind: str, seconds: float, ok: bool) -> None:
        """One event or job of ``kind`` was handled in ``seconds`` (``ok``: without error)."""
        children = self._per_kind.get(kind)
        if children is None:
            children = self._per_kind[kind] = (self.events.labels(kind),
                                               self.latency.labels(kind))
        children[0].inc()
        children[1].observe(seconds)
        if not ok:
            self.failures.labels(kind).inc()

    def platform_error(self, verb: str, error: str, retry_after: float | None = None) -> None:
        """A platform call failed; ``retry_after`` when it was a rate limit."""
        self.platform_errors.labels(verb, error).inc()
        if retry_after is not None:
            self.rate_limits.labels(verb).inc()
            self.rate_limit_seconds.inc(max(0.0, retry_after))

    # -- read when scraped -----------------------------------------------------------------

    async def refresh(self, now: float, alerts: AlertsRepository, jobs: JobsRepository,
                      ready: bool, lost: int = 0) -> None:
        """Read the figures that live in the database (before a scrape)."""
        open_, claimed, oldest = await alerts.open_summary()
        self.alerts_open.labels("open").set(open_)
        self.alerts_open.labels("claimed").set(claimed)
        self.oldest_unclaimed.set(max(0.0, now - oldest) if oldest is not None else 0.0)
        due, late = await jobs.due_counts(now, LATE_AFTER)
        self.jobs_due.set(due)
        self.jobs_late.set(late)
        self.jobs_lost.set(lost)
        self.ready.set(1 if ready else 0)

    def exposition(self) -> bytes:
        """The Prometheus text format of every figure."""
        return generate_latest(self.registry)

"""The operators' HTTP endpoint (config ``metrics.listen``; off by default).

* ``GET /metrics``: Prometheus text format (:mod:`bot.core.metrics`).
* ``GET /healthz``: ``200 ok`` while the process runs (a liveness probe).
* ``GET /readyz``: ``200 ready`` once the platform is connected and caught up and the
  database answers, else ``503`` with what is missing (a readiness probe).

A small asyncio server of its own (no web framework): it answers one request per
connection and never reads a body. Bind it to loopback or a private network: it has
no authentication, and it shows counts and kinds only (never text or member ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0
"""Seconds a client has to send its request line and headers."""
MAX_HEADER = 16 * 1024

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Observed(Protocol):
    """What the endpoint asks of the core (:class:`bot.core.runtime.Haven`)."""

    async def scrape(self) -> bytes:
        """The metrics in Prometheus text format."""
        ...

    async def readiness(self) -> list[str]:
        """What keeps the process from being ready (empty: ready)."""
        ...


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` for one core."""

    def __init__(self, core: Observed, host: str, port: int) -> None:
        self.core = core
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (``port`` 0 picks a free one: read :attr:`port` afterwards)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics and health on http://%s:%d/metrics (/healthz, /readyz)",
                 self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, ctype, body = await self.answer(head[:MAX_HEADER])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            writer.close()
            return
        except Exception:
            log.exception("metrics endpoint: answering failed")
            status, ctype, body = "500 Internal Server Error", "text/plain", b"error\n"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: "
                     f"{len(body)}\r\nConnection: close\r\n\r\n".encode("ascii") + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def answer(self, head: bytes) -> tuple[str, str, bytes]:
        """(status, content type, body) for a request's head."""
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3:
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method != b"GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if target == b"/metrics":
            return "200 OK", PROMETHEUS_TYPE, await self.core.scrape()
        if target == b"/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if target == b"/readyz":
            problems = await self.core.readiness()
            if problems:
                text = "not ready: " + "; ".join(problems) + "\n"
                return "503 Service Unavailable", "text/plain", text.encode()
            return "200 OK", "text/plain", b"ready\n"
        return "404 Not Found", "text/plain", b"not found (try /metrics, /healthz, /readyz)\n"

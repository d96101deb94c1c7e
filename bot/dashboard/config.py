"""The ``dashboard:`` section: where the moderators' web dashboard listens and is reached.

Off unless ``listen`` is set. ``public_url`` is the address moderators open (the
sign-in links start with it): required when ``listen`` is set, ``https://`` in
production (the session cookie is then ``Secure``), ``http://`` for a local trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.core.sections import Section, SectionReader, as_text, opt

LISTEN_HINT = "write host:port, e.g. 127.0.0.1:8080"


@dataclass(frozen=True)
class DashboardConfig:
    """The web dashboard (off by default)."""

    listen: str | None = field(default=None, metadata=opt(manual=True))
    """``host:port`` to serve on; unset: no dashboard."""
    public_url: str | None = field(default=None, metadata=opt(manual=True))
    """The address moderators open, e.g. ``https://haven.example.org``."""
    session_hours: int = field(default=12, metadata=opt(between=(1, 168)))
    """How long a signed-in session lasts."""

    @property
    def enabled(self) -> bool:
        """Whether the dashboard is served."""
        return self.listen is not None

    @property
    def host(self) -> str:
        """The host part of :attr:`listen`."""
        return split_listen(self.listen or "127.0.0.1:8080")[0]

    @property
    def port(self) -> int:
        """The port part of :attr:`listen`."""
        return split_listen(self.listen or "127.0.0.1:8080")[1]

    @property
    def secure(self) -> bool:
        """Whether the public address is https (the cookie is then ``Secure``)."""
        return (self.public_url or "").lower().startswith("https://")

    def link(self, path: str) -> str:
        """An absolute address on the dashboard (``/login/...``)."""
        return (self.public_url or "").rstrip("/") + path


def split_listen(value: str) -> tuple[str, int]:
    """``'127.0.0.1:8080'`` -> ``('127.0.0.1', 8080)``; ValueError naming the fix."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not an address to listen on ({LISTEN_HINT})")
    return host, int(port)


def check_public_url(value: str) -> str:
    """A public URL: http(s), a host, no query or fragment; ValueError otherwise."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} must be an http:// or https:// address with a host")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{value!r} must be a plain address (no user, query or fragment)")
    return value.strip().rstrip("/")


def _read(s: SectionReader, key: str, check: Callable[[str], object]) -> str | None:
    """``dashboard.<key>`` as text once ``check`` accepts it; a problem at its line if not."""
    raw = s.reader.get(s.node, key, f"dashboard.{key}", None, as_text)
    if raw is None:
        return None
    try:
        check(raw)
    except ValueError as exc:
        s.problem(s.node, key, f"dashboard.{key}", str(exc))
        return None
    return str(raw).strip().rstrip("/")


def _parse(s: SectionReader) -> DashboardConfig:
    values = s.fields()
    listen = _read(s, "listen", split_listen)
    public_url = _read(s, "public_url", check_public_url)
    if listen is not None and public_url is None and "public_url" not in s.node:
        s.problem(s.node, "listen", "dashboard.public_url",
                  "required when listen is set: the address moderators open "
                  "(https://..., or http://127.0.0.1:PORT to try it locally)")
    if public_url is None:
        listen = None  # never serve without a valid address for the sign-in links
    return DashboardConfig(listen=listen, public_url=public_url, **values)


DASHBOARD_SECTION = Section("dashboard", DashboardConfig, parse=_parse)
"""The ``dashboard:`` section (read by the composition root; the feature gets it shared)."""

"""A real Synapse homeserver for end-to-end tests, plus matrix-nio test users.

One homeserver per pytest session (the :func:`homeserver` fixture): the config is
generated in a temporary directory, rate limits are raised, a free loopback port
is picked, ``python -m synapse.app.homeserver`` is started with the same Python
as the tests, and ``/_matrix/client/versions`` is polled until it answers.
Users are registered through the shared-secret admin API (HMAC-SHA1), which
needs no open registration and no interactive auth.

The module is deliberately *not* called ``synapse.py``: when ``tests/`` is on
``sys.path`` (pytest's default import mode) such a file would shadow the real
``synapse`` package.

:class:`TestUser` wraps a matrix-nio ``AsyncClient`` that syncs in the
background and records every timeline event, so a test can
``await alice.wait_for(...)`` what the bot did, with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

SERVER_NAME = "localhost"
START_TIMEOUT = 60.0
"""Seconds to wait for Synapse to answer (it normally takes 2-4 s)."""

_HIGH = {"per_second": 10000, "burst_count": 100000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _HIGH,
    "rc_registration": _HIGH,
    "rc_registration_token_validity": _HIGH,
    "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
    "rc_joins": {"local": _HIGH, "remote": _HIGH},
    "rc_joins_per_room": _HIGH,
    "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
    "rc_room_creation": _HIGH,
    "rc_admin_redaction": _HIGH,
    "rc_3pid_validation": _HIGH,
    "rc_third_party_invite": _HIGH,
    "rc_media_create": _HIGH,
    "rc_federation": {"window_size": 1000, "sleep_limit": 10000, "reject_limit": 10000},
}
"""Every rate limit raised, so tests are never slowed by the server."""


class SynapseUnavailable(RuntimeError):
    """matrix-synapse is not installed or the homeserver did not start."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM when pytest dies, so no homeserver is left behind."""
    import ctypes
    import signal

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check_installed() -> None:
    """Fail loudly (never skip) when matrix-synapse is missing: it is a dev dependency."""
    if importlib.util.find_spec("synapse.app.homeserver") is None:  # pragma: no cover
        raise SynapseUnavailable(
            "matrix-synapse is not installed in this environment; "
            "install the dev extras: pip install -e '.[dev]'"
        )


@dataclass
class Registered:
    """A user registered on the test homeserver."""

    user_id: str
    access_token: str
    device_id: str
    password: str


@dataclass
class Homeserver:
    """A running Synapse process and how to talk to it."""

    base_url: str
    server_name: str
    shared_secret: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _admin: Registered | None = None

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    def start(cls, directory: Path) -> Homeserver:
        """Generate a config in ``directory``, start Synapse and wait until it answers."""
        check_installed()
        directory.mkdir(parents=True, exist_ok=True)
        config_path = directory / "hs.yaml"
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTHONPATH", None)  # never let tests/ shadow the synapse package
        subprocess.run(
            [
                sys.executable, "-m", "synapse.app.homeserver",
                "--server-name", SERVER_NAME,
                "--config-path", str(config_path),
                "--data-directory", str(directory),
                "--generate-config", "--report-stats=no",
            ],
            cwd=directory, env=env, check=True, capture_output=True, timeout=START_TIMEOUT,
        )
        port = free_port()
        config = yaml.safe_load(config_path.read_text())
        secret = secrets.token_hex(16)
        config.update(
            {
                "listeners": [
                    {
                        "port": port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "report_stats": False,
                "enable_registration": True,
                "enable_registration_without_verification": True,
                "registration_shared_secret": secret,
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "bcrypt_rounds": 4,
                "presence": {"enabled": False},
                "url_preview_enabled": False,
                "enable_metrics": False,
                **RATE_LIMITS,
            }
        )
        config_path.write_text(yaml.safe_dump(config))
        log = (directory / "stdout.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "--config-path", str(config_path)],
            cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        server = cls(
            base_url=f"http://127.0.0.1:{port}",
            server_name=SERVER_NAME,
            shared_secret=secret,
            directory=directory,
            process=process,
        )
        try:
            server._wait_until_up()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SynapseUnavailable(
                    f"Synapse exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                self._request("GET", "/_matrix/client/versions", timeout=1.0)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise SynapseUnavailable(f"Synapse did not answer in {START_TIMEOUT:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of Synapse's own log, for failure messages."""
        out = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.directory / name
            if path.exists():
                out.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)

    def stop(self) -> None:
        """Stop the homeserver (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait(timeout=10)

    # -- HTTP --------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return dict(json.loads(response.read() or b"{}"))

    # -- users -------------------------------------------------------------

    def register(self, localpart: str | None = None, *, admin: bool = False) -> Registered:
        """Register a user through ``/_synapse/admin/v1/register`` (shared secret, HMAC-SHA1).

        Without ``localpart`` a unique one is made up, so tests never collide.
        """
        name = localpart or f"user{next(self._counter)}_{secrets.token_hex(3)}"
        password = secrets.token_hex(12)
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([
            nonce.encode(), name.encode(), password.encode(), b"admin" if admin else b"notadmin",
        ]))
        reply = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": name,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return Registered(reply["user_id"], reply["access_token"], reply["device_id"], password)

    @property
    def admin(self) -> Registered:
        """A server admin, registered on first use (for admin APIs in tests)."""
        if self._admin is None:
            self._admin = self.register(f"admin_{secrets.token_hex(3)}", admin=True)
        return self._admin

    def override_ratelimit(self, user_id: str, messages_per_second: int, burst_count: int) -> None:
        """Give one user a (low) message rate limit, to provoke ``M_LIMIT_EXCEEDED``."""
        self._request(
            "POST",
            f"/_synapse/admin/v1/users/{urllib.request.quote(user_id)}/override_ratelimit",
            {"messages_per_second": messages_per_second, "burst_count": burst_count},
            token=self.admin.access_token,
        )

    def clear_ratelimit(self, user_id: str) -> None:
        """Remove a per-user rate limit override."""
        self._request(
            "DELETE",
            f"/_synapse/admin/v1/users/{urllib.request.quote(user_id)}/override_ratelimit",
            token=self.admin.access_token,
        )


@pytest.fixture(scope="session")
def homeserver() -> Iterator[Homeserver]:
    """One Synapse for the whole test session, stopped (and its files removed) at the end."""
    directory = Path(tempfile.mkdtemp(prefix="haven-synapse-"))
    server = Homeserver.start(directory)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------------------
# matrix-nio test users
# ---------------------------------------------------------------------------


class TestUser:
    """A real matrix-nio client for a member or moderator, syncing in the background.

    Every timeline event (as a raw dict with ``room_id`` added) is appended to
    :attr:`events`; :meth:`wait_for` waits for one matching a predicate.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, server: Homeserver, registered: Registered,
                 store_path: Path | None = None) -> None:
        from nio import AsyncClient, AsyncClientConfig

        self.server = server
        self.user_id = registered.user_id
        self.registered = registered
        self.encrypted = store_path is not None
        if store_path is not None:
            store_path.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            server.base_url, registered.user_id, device_id=registered.device_id,
            store_path=str(store_path or ""),
            config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=3,
                                     encryption_enabled=self.encrypted, store_sync_tokens=False),
        )
        if self.encrypted:
            self.client.restore_login(registered.user_id, registered.device_id,
                                      registered.access_token)
        else:
            self.client.access_token = registered.access_token
            self.client.user_id = registered.user_id
        self.events: list[dict[str, Any]] = []
        self.invites: list[str] = []
        self._accepted: set[str] = set()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def create(cls, server: Homeserver, localpart: str | None = None,
                     store_path: Path | None = None) -> TestUser:
        """Register a fresh user and start its background sync.

        With ``store_path`` the client does end-to-end encryption (needs
        ``matrix-nio[e2e]``) and records decrypted events.
        """
        user = cls(server, server.register(localpart), store_path)
        await user.start()
        return user

    async def start(self) -> None:
        """Do a first sync (history is ignored) and keep syncing in a task."""
        first = await self.client.sync(timeout=0, full_state=True,
                                       sync_filter={"room": {"timeline": {"limit": 0}}})
        _check(first)
        await self._crypto()
        self._task = asyncio.create_task(self._loop(), name=f"sync {self.user_id}")

    async def _crypto(self) -> None:
        """Key upload, query, claim and to-device sending, as ``sync_forever`` does."""
        client = self.client
        if not self.encrypted:
            return
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def _loop(self) -> None:
        from nio import SyncResponse

        while True:
            resp = await self.client.sync(timeout=200)
            if not isinstance(resp, SyncResponse):
                await asyncio.sleep(0.1)
                continue
            await self._crypto()
            async with self._changed:
                for room_id in resp.rooms.invite:
                    if room_id not in self.invites:
                        self.invites.append(room_id)
                for room_id, info in resp.rooms.join.items():
                    for event in info.timeline.events:
                        raw = dict(event.source)
                        for key, attr in (("event_id", "event_id"), ("sender", "sender"),
                                          ("origin_server_ts", "server_timestamp")):
                            if key not in raw and getattr(event, attr, None) is not None:
                                raw[key] = getattr(event, attr)
                        raw.setdefault("room_id", room_id)
                        raw["decrypted"] = bool(getattr(event, "decrypted", False))
                        self.events.append(raw)
                self._changed.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 10.0,
        what: str = "event",
    ) -> dict[str, Any]:
        """The first recorded event matching ``predicate``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = json.dumps(self.events[-10:], indent=1)[:4000]
                    raise AssertionError(f"{self.user_id}: no {what} within {timeout}s; last events:\n{seen}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def accept_invite(self, timeout: float = 10.0) -> str:
        """Join the next room this user is invited to (a DM from the bot); returns its id."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [r for r in self.invites if r not in self._accepted]
            if pending:
                room_id = pending[0]
                await self.join(room_id)
                return room_id
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id}: no invite within {timeout}s")
            await asyncio.sleep(0.05)

    def messages(self, room_id: str | None = None, sender: str | None = None) -> list[dict[str, Any]]:
        """Recorded ``m.room.message`` events, optionally filtered by room and sender."""
        return [
            e for e in self.events
            if e.get("type") == "m.room.message"
            and (room_id is None or e.get("room_id") == room_id)
            and (sender is None or e.get("sender") == sender)
        ]

    # -- actions -----------------------------------------------------------

    async def create_room(
        self,
        name: str,
        invite: tuple[str, ...] = (),
        power: dict[str, int] | None = None,
        encrypted: bool = False,
        is_direct: bool = False,
        alias: str | None = None,
    ) -> str:
        """Create a private room (room version 12 by default) and return its id."""
        from nio import RoomCreateResponse

        initial_state = []
        if encrypted:
            initial_state.append(
                {"type": "m.room.encryption", "state_key": "",
                 "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            )
        resp = await self.client.room_create(
            name=name, invite=list(invite), initial_state=initial_state,
            power_level_override={"users": power} if power else None,
            is_direct=is_direct, alias=alias,
        )
        if not isinstance(resp, RoomCreateResponse):
            raise AssertionError(f"room_create failed: {resp}")
        return str(resp.room_id)

    async def join(self, room_id: str) -> None:
        """Join a room (after an invite)."""
        self._accepted.add(room_id)
        _check(await self.client.join(room_id))

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite someone to a room."""
        _check(await self.client.room_invite(room_id, user_id))

    async def send(self, room_id: str, body: str, **extra: Any) -> str:
        """Send a plain text message (``extra`` is merged into the content); returns the event id."""
        content = {"msgtype": "m.text", "body": body, **extra}
        return await self.send_content(room_id, content)

    async def send_content(self, room_id: str, content: dict[str, Any],
                           event_type: str = "m.room.message") -> str:
        """Send any content; returns the event id."""
        from nio import RoomSendResponse

        resp = await self.client.room_send(room_id, event_type, content,
                                           ignore_unverified_devices=True)
        if not isinstance(resp, RoomSendResponse):
            raise AssertionError(f"room_send failed: {resp}")
        return str(resp.event_id)

    async def close(self) -> None:
        """Stop syncing and close the HTTP session."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()


def _check(resp: Any) -> None:
    from nio import ErrorResponse

    if isinstance(resp, ErrorResponse):
        raise AssertionError(f"matrix request failed: {resp}")

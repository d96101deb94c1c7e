"""A real PostgreSQL for the tests: Debian's server, started once per test session.

``initdb`` makes a throw-away cluster in a temp dir (C locale, UTF-8, no fsync: it is
thrown away), ``pg_ctl`` starts it on a free loopback port and a socket in that dir,
and each test gets a database of its own (``CREATE DATABASE .. TEMPLATE``), dropped
after it. PostgreSQL refuses to run as root, so under root (CI) the server runs as the
``postgres`` system user (``runuser``), owning the temp dir.

When the server cannot start, every test that needs it FAILS with the reason (the
binaries are missing: ``make test`` installs Debian's ``postgresql`` package); they are
never skipped.

Fixtures: ``pg_server`` (session), ``engine`` (``sqlite`` and ``postgresql``: a test or
fixture asking for it runs on both) and ``db_target`` (the path or URL for that engine,
a fresh database per test, copied from one Haven already migrated); ``pg_url`` is an
empty PostgreSQL database (for the migration tests).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

SUPERUSER = "haven"
PASSWORD_USER = "haven_pw"
"""A role that must log in with a password (scram-sha-256), for the password tests."""
PASSWORD = "Pw-only-from-the-environment-7Q"
TEMPLATE = "haven_template"
"""A database already migrated by Haven (what ``db_target`` copies)."""
ENGINES = ("sqlite", "postgresql")


class PgUnavailable(RuntimeError):
    """The test server could not be started (the message says why)."""


def pg_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<n>/bin`` with ``initdb``, else ``initdb`` on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One throw-away PostgreSQL cluster: :meth:`start`, :meth:`url`, :meth:`stop`."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.as_root = os.geteuid() == 0
        # under root the postgres user must reach the dir: /tmp, whatever TMPDIR says
        where = "/tmp" if self.as_root and Path("/tmp").is_dir() else None
        self.root = Path(tempfile.mkdtemp(prefix="haven-pg-", dir=where))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._template_made = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:  # postgres refuses root: run it as the postgres system user
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        """initdb + pg_ctl start; :class:`PgUnavailable` with the reason on failure."""
        if self.bindir is None:
            raise PgUnavailable(
                "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
                "run `make test` (it installs Debian's postgresql package) or "
                "`apt-get install postgresql`")
        if self.as_root:
            shutil.chown(self.root, "postgres")
        done = self._run("initdb", "-D", str(self.data), "-E", "UTF8", "--locale=C", "-A", "trust",
                         "-U", SUPERUSER, "--no-sync")
        if done.returncode != 0:
            raise PgUnavailable(f"initdb failed: {done.stderr.strip()[-800:]}")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                       "max_connections = 300\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\n")
        for _ in range(3):  # a free port can be taken between the probe and the start
            self.port = free_port()
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                             "-o", f"-p {self.port}", "start")
            if done.returncode == 0:
                self._admin("psql", "-c", f"CREATE ROLE {PASSWORD_USER} LOGIN CREATEDB "
                            f"PASSWORD '{PASSWORD}'")
                return
        tail = self.log.read_text()[-800:] if self.log.exists() else done.stderr
        raise PgUnavailable(f"pg_ctl start failed: {tail.strip()}")

    def _admin(self, tool: str, *args: str) -> None:
        done = self._run(tool, "-h", str(self.root), "-p", str(self.port), "-U", SUPERUSER,
                         "-d", "postgres", *args)
        if done.returncode != 0:
            raise PgUnavailable(f"{tool} {' '.join(args)} failed: {done.stderr.strip()}")

    async def _make_template(self) -> None:
        """``haven_template``: a database Haven has already migrated (base schema and the
        member-data repositories' tables), so a test's fresh store opens at once."""
        from bot.storage.store import Store

        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        finally:
            await conn.close()
        store = await Store.open(self.url(TEMPLATE))
        await store.close()

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """The URL of ``dbname`` (no password in it)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    async def create_database(self, template: str = "template1", owner: str = SUPERUSER) -> str:
        """A new database (empty, or a copy of ``template``) owned by ``owner``; its name."""
        if template == TEMPLATE and not self._template_made:
            await self._make_template()
            self._template_made = True
        name = f"t{os.getpid()}_{next(self._names)}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER "{owner}"')
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        """Drop ``name`` (connections still open are cut)."""
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self.port:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (started on first use)."""
    server = PgServer()
    try:
        server.start()
    except (PgUnavailable, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        pytest.fail(f"the PostgreSQL test server could not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
async def pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this test; its URL."""
    name = await pg_server.create_database()
    yield pg_server.url(name)
    await pg_server.drop_database(name)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each storage engine in turn: ``sqlite``, ``postgresql``."""
    return str(request.param)


@pytest.fixture
async def db_target(engine: str, tmp_path: Path,
                    request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Where a fresh database of ``engine`` lives: a SQLite file, or a new PostgreSQL
    database's URL (dropped after the test)."""
    if engine == "sqlite":
        yield str(tmp_path / "haven.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = await server.create_database(TEMPLATE)
    yield server.url(name)
    await server.drop_database(name)

"""``haven run``: build the adapter for the configured platform and run the core.

Several processes may share one PostgreSQL database (docs/deploy.md). On Discord each
runs some of the shards (``--shard-ids 0,1 --shard-count 4``): a server lives on one
shard, so its events stay in order in one process, and each process claims only the
jobs of the servers on its shards (plus housekeeping jobs, which belong to none). On
Matrix one process serves one account (one community): its jobs are its community's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from bot import app
from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.matrix.config import MATRIX_SECTION
from bot.app import load_config
from bot.core.config import Config
from bot.core.errors import ConfigError, HavenError, Problem
from bot.core.metrics import METRICS_SECTION, parse_listen
from bot.core.ports import Adapter
from bot.core.runtime import Haven
from bot.dashboard.config import DASHBOARD_SECTION
from bot.features.care.config import CARE_SECTION
from bot.metrics_http import MetricsServer

if TYPE_CHECKING:
    from bot.dashboard.server import Dashboard

log = logging.getLogger(__name__)


def build_adapter(config: Config) -> Adapter:
    """The adapter for ``config.platform``, with secrets from the environment.

    A missing secret is reported at the ``platform:`` line of the config, naming
    the environment variable to set (never its value).
    """
    line = config.line_of("platform")

    def missing(message: str) -> ConfigError:
        return ConfigError([Problem(config.source, line, "platform", message)])

    if config.platform == "discord":
        from bot.adapters.discord.adapter import DiscordAdapter
        from bot.adapters.discord.env import token_from

        return DiscordAdapter(config, token=token_from(os.environ, config.source, line))
    if config.platform == "matrix":
        from bot.adapters.matrix.adapter import MatrixAdapter
        from bot.adapters.matrix.env import credentials_from

        secret = credentials_from(os.environ, config)
        return MatrixAdapter(config, access_token=secret.access_token, password=secret.password)
    raise missing("`haven run` needs platform: discord or matrix "
                  "(the console platform is for `haven demo`)")


STOP_DRAIN_TIMEOUT = 30.0
"""On SIGTERM, how long to let work in progress finish before the adapter is closed."""


def with_shards(config: Config, shard_ids: Sequence[int] | None,
                shard_count: int | None) -> Config:
    """The config with ``--shard-ids``/``--shard-count`` from the command line in its
    ``discord:`` section (the command line wins over the file)."""
    if shard_ids is None and shard_count is None:
        return config
    line = config.line_of("platform")
    if config.platform != "discord":
        raise ConfigError([Problem(config.source, line, "platform", "--shard-ids and "
                                   "--shard-count are for Discord; on Matrix run one process "
                                   "per account (docs/deploy.md)")])
    dc = config.get(DISCORD_SECTION)
    count = shard_count if shard_count is not None else dc.shard_count
    ids = tuple(shard_ids) if shard_ids is not None else dc.shard_ids
    if count is None:
        raise ConfigError([Problem(config.source, line, "discord.shard_count",
                                   "--shard-ids needs --shard-count (or discord.shard_count)")])
    if ids and (len(set(ids)) != len(ids) or any(not 0 <= i < count for i in ids)):
        raise ConfigError([Problem(config.source, line, "discord.shard_ids",
                                   f"shard ids must be different and each in 0..{count - 1}")])
    sections = {**config.sections,
                DISCORD_SECTION.key: dataclasses.replace(dc, shard_count=count, shard_ids=ids)}
    return Config(config.source, config.platform, config.database, config.community,
                  config.rules, config.channels, config.roles, config.moderation,
                  config.templates, config.lines, sections)


def instance_name(config: Config) -> str:
    """What this process serves, stable across its restarts: host, platform and the
    Discord shards or the Matrix account (two processes running at once never share it;
    a restarted one takes back at once the jobs its dead predecessor held)."""
    host = socket.gethostname()
    if config.platform == "discord":
        dc = config.get(DISCORD_SECTION)
        shards = (f"shards {','.join(map(str, dc.shard_ids))} of {dc.shard_count}"
                  if dc.shard_ids else "all shards")
        return f"{host}:discord:{shards}"
    if config.platform == "matrix":
        return f"{host}:matrix:{config.get(MATRIX_SECTION).user_id}"
    return f"{host}:{config.platform}"


def job_scope(adapter: Adapter) -> Collection[str] | None:
    """The communities whose jobs this process may claim, from the adapter (its
    ``communities()``, if it has one); ``None``: any community's."""
    communities = getattr(adapter, "communities", None)
    return communities() if callable(communities) else None


def with_metrics(config: Config, listen: str | None) -> Config:
    """The config with ``--metrics-listen`` from the command line (several processes on
    one machine need a port each)."""
    if listen is None:
        return config
    try:
        parse_listen(listen)
    except ValueError as exc:
        raise ConfigError([Problem(config.source, config.line_of("metrics"), "metrics.listen",
                                   f"--metrics-listen: {exc}")]) from None
    metrics = dataclasses.replace(config.get(METRICS_SECTION), listen=listen)
    return Config(config.source, config.platform, config.database, config.community,
                  config.rules, config.channels, config.roles, config.moderation,
                  config.templates, config.lines,
                  {**config.sections, METRICS_SECTION.key: metrics})


async def run_bot(config_path: str, shard_ids: Sequence[int] | None = None,
                  shard_count: int | None = None, metrics_listen: str | None = None) -> int:
    """Load, validate, connect and run until SIGINT/SIGTERM.

    Stopping finishes the work in progress first (the core's queues are drained
    while the platform connection is still open), then closes the adapter, then
    stops the timers and closes the store.
    """
    config = with_metrics(with_shards(load_config(config_path), shard_ids, shard_count),
                          metrics_listen)
    adapter = build_adapter(config)
    core = await app.create(config, adapter)
    adapter.attach(core)
    core.scheduler.scope = lambda: job_scope(adapter)
    core.scheduler.set_instance(instance_name(config))
    shard_of = getattr(adapter, "shard_of", None)
    if callable(shard_of):
        core.dispatch.shard_of = shard_of
    metrics = await start_metrics(config, core)
    await core.start()
    dashboard = await start_dashboard(core, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info("Haven is starting on %s with %d rules; connecting", config.platform,
             len(core.rulebook.rules))
    runner = asyncio.create_task(adapter.run(), name="haven-adapter")
    stopper = asyncio.create_task(stop.wait())
    announcer = asyncio.create_task(_announce_when_ready(core, config.platform))
    code = 0
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done() and not runner.cancelled() and runner.exception() is not None:
            exc = runner.exception()
            if isinstance(exc, HavenError):
                log.error("Haven stopped: %s", exc)
            else:
                log.error("Haven stopped: the %s connection failed", config.platform,
                          exc_info=exc)
            code = 1
    finally:
        log.info("Haven is stopping: finishing work in progress")
        announcer.cancel()
        if dashboard is not None:
            await dashboard.stop()  # no new actions from the web while finishing
        await core.drain(timeout=STOP_DRAIN_TIMEOUT)  # before the connection goes away
        await adapter.close()
        runner.cancel()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await core.stop()
        if metrics is not None:
            await metrics.stop()
        log.info("Haven has stopped")
    return code


async def start_dashboard(core: Haven, config: Config) -> Dashboard | None:
    """Serve the web dashboard when ``dashboard.listen`` is set; ``None`` when it is off.

    A port that cannot be opened is logged and Haven runs on without the dashboard
    (the bot's safety work does not depend on it).
    """
    settings = config.get(DASHBOARD_SECTION)
    if not settings.enabled:
        return None
    from bot.dashboard.server import Dashboard

    dashboard = Dashboard(core, settings, excerpts_default=config.get(CARE_SECTION).excerpts)
    try:
        await dashboard.start()
    except OSError as exc:
        log.error("dashboard: cannot listen on %s (%s); Haven runs on without it",
                  settings.listen, exc.strerror or type(exc).__name__)
        return None
    return dashboard


async def start_metrics(config: Config, core: Haven) -> MetricsServer | None:
    """Start the operators' endpoint if ``metrics.listen`` is set (else ``None``)."""
    address = config.get(METRICS_SECTION).address()
    if address is None:
        return None
    server = MetricsServer(core, *address)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError([Problem(config.source, config.line_of("metrics"), "metrics.listen",
                                   f"cannot listen on {address[0]}:{address[1]}: "
                                   f"{exc.strerror or exc}")]) from exc
    return server


async def _announce_when_ready(core: Haven, platform: str) -> None:
    """Log that Haven is running only once the adapter has logged in and caught up."""
    await core.wait_ready()
    log.info("Haven is running on %s with %d rules", platform, len(core.rulebook.rules))

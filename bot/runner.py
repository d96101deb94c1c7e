"""``haven run``: build the adapter for the configured platform and run the core."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import TYPE_CHECKING

from bot import app
from bot.app import load_config
from bot.core.config import Config
from bot.core.errors import ConfigError, HavenError, Problem
from bot.core.ports import Adapter
from bot.core.runtime import Haven
from bot.dashboard.config import DASHBOARD_SECTION
from bot.features.care.config import CARE_SECTION

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


async def run_bot(config_path: str) -> int:
    """Load, validate, connect and run until SIGINT/SIGTERM.

    Stopping finishes the work in progress first (the core's queues are drained
    while the platform connection is still open), then closes the adapter, then
    stops the timers and closes the store.
    """
    config = load_config(config_path)
    adapter = build_adapter(config)
    core = await app.create(config, adapter)
    adapter.attach(core)
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


async def _announce_when_ready(core: Haven, platform: str) -> None:
    """Log that Haven is running only once the adapter has logged in and caught up."""
    await core.wait_ready()
    log.info("Haven is running on %s with %d rules", platform, len(core.rulebook.rules))

"""The Discord adapter's environment: where its secret comes from."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.errors import ConfigError, HavenError, Problem

TOKEN_ENV = "HAVEN_DISCORD_TOKEN"
"""Environment variable holding the bot token."""

MISSING_TOKEN = ("platform is discord but the environment variable HAVEN_DISCORD_TOKEN is not set "
                 "(put the bot token there, never in the config file)")
"""The config problem reported at the ``platform:`` line when the token is missing."""


def token_from(environ: Mapping[str, str], source: str = "", line: int = 0) -> str:
    """The bot token from ``environ``; a :class:`ConfigError` at ``source:line`` (the
    config's ``platform:`` line) naming the variable when it is not set.

    The token itself is never logged nor put in an error.
    """
    token = (environ.get(TOKEN_ENV) or "").strip()
    if not token:
        raise ConfigError([Problem(source, line, "platform", MISSING_TOKEN)])
    return token


def run_token(given: str | None, environ: Mapping[str, str]) -> str:
    """The token to log in with: ``given`` (from the runner), else the environment's;
    a :class:`HavenError` naming the variable when there is none."""
    token = given or (environ.get(TOKEN_ENV) or "").strip()
    if not token:
        raise HavenError(f"set the bot token in the {TOKEN_ENV} environment variable")
    return token

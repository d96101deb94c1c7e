"""The Matrix adapter's environment variables: the bot account's secret.

Secrets never go in the config file: ``HAVEN_MATRIX_TOKEN`` (an access token)
or ``HAVEN_MATRIX_PASSWORD`` (the bot account's password). When both are set
the token is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.errors import ConfigError, Problem

if TYPE_CHECKING:
    from bot.core.config import Config

TOKEN_ENV = "HAVEN_MATRIX_TOKEN"
PASSWORD_ENV = "HAVEN_MATRIX_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    """The bot account's secret (at least one of the two is set)."""

    access_token: str | None
    password: str | None

    def __repr__(self) -> str:  # never show a secret in a log or traceback
        return (f"Credentials(access_token={'***' if self.access_token else None}, "
                f"password={'***' if self.password else None})")


def credentials_from(environ: Mapping[str, str], config: Config) -> Credentials:
    """The secret from the environment; a :class:`ConfigError` at the ``platform:`` line
    of the config, naming the variables to set, when neither is set."""
    token = environ.get(TOKEN_ENV) or None
    password = environ.get(PASSWORD_ENV) or None
    if not token and not password:
        raise ConfigError([Problem(
            config.source, config.line_of("platform"), "platform",
            f"platform is matrix but neither of the environment variables {TOKEN_ENV} (an "
            f"access token) nor {PASSWORD_ENV} (the bot account's password) is set")])
    return Credentials(token, password)

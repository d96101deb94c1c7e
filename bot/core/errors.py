"""One small exception tree for Haven.

Start-up problems (config, rules) are :class:`ConfigError` and carry every
problem found, each formatted ``file:line: key: message``. Run-time platform
problems are :class:`PlatformError` subclasses that adapters raise and the core
handles (log, retry or fall back) without ever stopping.
"""

from __future__ import annotations

from dataclasses import dataclass


class HavenError(Exception):
    """Base class of every error Haven raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One validation problem with its location."""

    file: str
    line: int
    key: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file  # no bogus :0
        return f"{where}: {self.key}: {kind}{self.message}"


class ConfigError(HavenError):
    """A config or rule file is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PlatformError(HavenError):
    """A platform call failed. ``retryable`` says whether trying again may help."""

    retryable: bool = True


class MissingPermission(PlatformError):
    """The bot lacks a permission on the platform (retrying will not help)."""

    retryable = False

    def __init__(self, permission: str, where: str = "") -> None:
        self.permission = permission
        self.where = where
        super().__init__(f"missing permission {permission!r}" + (f" in {where}" if where else ""))


class PrivateMessagesClosed(PlatformError):
    """The member does not accept private messages from the bot."""

    retryable = False


class NotFound(PlatformError):
    """The message, channel or member no longer exists."""

    retryable = False


class RateLimited(PlatformError):
    """The platform asked us to slow down; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        self.retry_after = retry_after
        super().__init__(f"{message} (retry after {retry_after:.1f}s)")


class CommandError(HavenError):
    """A command was refused or its arguments are wrong; the text is shown to the user."""


class PermissionDenied(CommandError):
    """The invoker may not run this command."""

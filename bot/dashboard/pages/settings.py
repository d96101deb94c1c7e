"""Settings: the configuration in force, read-only, with what ``haven check`` says now.

Nothing secret is shown. Haven keeps its secrets in environment variables, not in
the config, but this page does not rely on that: a setting whose name says secret
(``token``, ``password``, ``key``...) is hidden, a password inside an address
(``postgresql://user:pw@host``, ``password=pw``) is cut out, and any text equal to
the value of a secret-looking environment variable is hidden wherever it appears,
in settings and in check results alike. The environment itself is never shown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.checkup import CheckReport, check_loaded, run_check
from bot.core.clock import fmt_duration
from bot.core.config import Config
from bot.core.errors import Problem
from bot.core.sections import options
from bot.dashboard.page import Door, Page

HIDDEN = "(hidden)"
"""What a secret is shown as."""
SECRET_WORDS = frozenset({
    "token", "tokens", "secret", "secrets", "password", "passwords", "passwd", "pwd", "pass",
    "passphrase", "credential", "credentials", "key", "keys", "apikey", "dsn", "cookie",
    "auth", "private", "signature"})
"""A setting whose name has one of these words (split at ``_``, ``.``, ``-``) is hidden."""
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")
_ASSIGNED = re.compile(r"(?i)\b(password|passwd|pwd|pass|token|secret|access_token|api_key)"
                       r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,]+)")
CORE_SECTIONS = ("community", "rules", "channels", "roles", "moderation")


@dataclass(frozen=True)
class Setting:
    """One row: the setting's dotted name and its value as shown."""

    name: str
    value: str
    hidden: bool = False


@dataclass(frozen=True)
class Group:
    """One section of the config."""

    name: str
    settings: tuple[Setting, ...]


def secret_name(name: str) -> bool:
    """Whether a setting's name says it holds a secret."""
    return any(part in SECRET_WORDS for part in re.split(r"[_.\-\s]+", name.lower()))


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values never to show: those of secret-named environment variables, and every
    ``HAVEN_*`` value long enough to be a secret. Longest first."""
    found = {value for name, value in environ.items()
             if (secret_name(name) and len(value) >= 6)
             or (name.upper().startswith("HAVEN_") and len(value) >= 8)}
    return tuple(sorted(found, key=len, reverse=True))


class Redactor:
    """Cuts secrets out of text that is about to be shown."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.values = secret_values(os.environ if environ is None else environ)

    def text(self, text: str) -> str:
        """``text`` with passwords in addresses and assignments, and secret values, hidden."""
        for value in self.values:
            text = text.replace(value, HIDDEN)
        text = _USERINFO.sub(lambda m: f"{m[1]}:{HIDDEN}@", text)
        return _ASSIGNED.sub(lambda m: f"{m[1]}{m[2]}{HIDDEN}", text)

    def setting(self, name: str, value: object) -> Setting:
        """One setting as shown: hidden whole if its name says secret and it is set."""
        if secret_name(name) and value not in (None, "", (), []):
            return Setting(name, HIDDEN, hidden=True)
        return Setting(name, self.text(shown(value)))


def shown(value: object) -> str:
    """A setting's value as text."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | Path | int | float):
        return str(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items()) or "none"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ", ".join(f"{f.name}={shown(getattr(value, f.name))}"
                         for f in dataclasses.fields(value))
    if isinstance(value, Iterable):
        return ", ".join(shown(v) for v in value) or "none"
    return str(value)


def _settings(obj: object, redact: Redactor, prefix: str = "") -> list[Setting]:
    rows: list[Setting] = []
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return [redact.setting(prefix.rstrip(".") or "value", obj)]
    for f in dataclasses.fields(obj):
        how = options(f)
        if how.hidden:  # set by a hook, not a key of the file
            continue
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if (dataclasses.is_dataclass(value) and not isinstance(value, type)
                and not secret_name(name)):
            rows += _settings(value, redact, name + ".")
        elif how.duration and isinstance(value, int | float) and not isinstance(value, bool):
            rows.append(Setting(name, fmt_duration(value)))
        elif how.clock and isinstance(value, int) and not isinstance(value, bool):
            rows.append(Setting(name, f"{value // 60:02d}:{value % 60:02d}"))
        else:
            rows.append(redact.setting(name, value))
    return rows


def config_groups(config: Config, redact: Redactor) -> list[Group]:
    """The config in force as groups of settings, secrets hidden."""
    groups = [Group("general", (redact.setting("platform", config.platform),
                                redact.setting("database", config.database),
                                redact.setting("config file", config.source)))]
    for name in CORE_SECTIONS:
        groups.append(Group(name, tuple(_settings(getattr(config, name), redact))))
    for key, value in sorted(config.sections.items()):
        groups.append(Group(key, tuple(_settings(value, redact))))
    return groups


async def checked(config: Config) -> CheckReport:
    """``haven check`` of the config file now on disk (off the event loop), or of the
    loaded config when it came from no file (the demo)."""
    if Path(config.source).is_file():
        return await asyncio.to_thread(run_check, config.source)
    return await asyncio.to_thread(check_loaded, config)


def problem_lines(problems: Sequence[Problem], redact: Redactor) -> list[str]:
    """Each problem as ``file:line: key: message``, secrets hidden."""
    return [redact.text(str(p)) for p in problems]


async def view(door: Door, request: web.Request) -> web.StreamResponse:
    """The settings and the check results."""
    config = door.core.config
    redact = Redactor()
    report = await checked(config)
    templates = sorted((name, redact.text(text)) for name, text in config.templates.items())
    return door.render(
        request, "settings.html", "Settings", groups=config_groups(config, redact),
        templates=templates, report=report, source=redact.text(config.source),
        problems=problem_lines(report.problems, redact),
        warnings=problem_lines(report.warnings, redact),
        summary=redact.text(report.summary), detection=redact.text(report.detection))


def routes(door: Door) -> Sequence[web.RouteDef]:
    """The one read-only page."""
    return (door.get("/settings", view),)


PAGE = Page("settings", "Settings", "The configuration in force (read-only) and haven check.",
            routes)

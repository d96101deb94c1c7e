"""Helplines and services as data (``rules/helplines.yaml``), validated and formatted.

Each service has a source and a last-checked date; :func:`load_helplines`
reports entries not checked for over a year as warnings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigError, Problem
from bot.core.yamlsrc import LineDict, LineList, load_file

TOPICS = ("crisis", "self_harm", "eating_disorders", "abuse")
SERVICE_KEYS = {"name", "phone", "text", "url", "hours", "topics", "source", "checked"}
STALE_AFTER = dt.timedelta(days=365)


@dataclass(frozen=True)
class Service:
    """One helpline or support service."""

    name: str
    phone: str | None
    text: str | None
    url: str | None
    hours: str | None
    topics: tuple[str, ...]
    source: str
    checked: dt.date

    def line(self) -> str:
        """One line for a message: name, how to reach it, hours."""
        ways = []
        if self.phone:
            ways.append(f"call {self.phone}")
        if self.text:
            text = self.text if not self.text.isdigit() else f"text {self.text}"
            ways.append(text[0].lower() + text[1:])
        if self.url:
            ways.append(self.url)
        hours = f" ({self.hours})" if self.hours else ""
        return f"- **{self.name}**: {', '.join(ways)}{hours}"


@dataclass(frozen=True)
class Helplines:
    """Services by country, plus international ones."""

    countries: dict[str, tuple[str, tuple[Service, ...]]]
    international: tuple[Service, ...]
    warnings: tuple[Problem, ...] = ()

    def services(self, countries: tuple[str, ...], topic: str = "crisis") -> list[tuple[str, Service]]:
        """(country name, service) for ``topic`` in the given countries, then international."""
        out = []
        for code in dict.fromkeys(c.upper() for c in countries):
            name, services = self.countries.get(code.upper(), (code, ()))
            out += [(name, s) for s in services if topic in s.topics]
        out += [("International", s) for s in self.international if topic in s.topics]
        return out

    def format(self, countries: tuple[str, ...], topic: str = "crisis") -> str:
        """Helplines for ``topic`` as message lines, grouped by country."""
        lines: list[str] = []
        current = None
        for country, service in self.services(countries, topic):
            if country != current:
                lines.append(f"{country}:")
                current = country
            lines.append(service.line())
        if not lines:
            lines.append("- **Find A Helpline**: https://findahelpline.com")
        return "\n".join(lines)


def load_helplines(path: str | Path, today: dt.date | None = None) -> Helplines:
    """Load and validate the helplines file; raise :class:`ConfigError` on any error."""
    path = Path(path)
    file = str(path)
    root = load_file(path)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    today = today or dt.date.today()
    if not isinstance(root, LineDict):
        raise ConfigError([Problem(file, 1, "helplines", "must be a mapping with `countries`")])
    for key in root:
        if key not in ("countries", "international"):
            problems.append(Problem(file, root.line_of(key), _key_name(key), "unknown key"))

    def service(node: Any, where: str, line: int) -> Service | None:
        if not isinstance(node, LineDict):
            problems.append(Problem(file, line, where, "a service must be a mapping"))
            return None
        for key in node:
            if key not in SERVICE_KEYS:
                problems.append(Problem(file, node.line_of(key), f"{where}.{_key_name(key)}",
                                        "unknown key"))
        name = node.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(file, node.line, f"{where}.name", "required"))
            return None
        label = f"{where} ({name})"
        if not any(node.get(k) for k in ("phone", "text", "url")):
            problems.append(Problem(file, node.line, label, "needs a phone, text or url"))
        topics = node.get("topics") or []
        if not isinstance(topics, list) or not topics:
            problems.append(Problem(file, node.line_of("topics"), f"{label}.topics",
                                    f"needs a list of topics from {', '.join(TOPICS)}"))
            topics = []
        for i, t in enumerate(topics):
            if t not in TOPICS:
                line = topics.line_of(i) if isinstance(topics, LineList) else node.line_of("topics")
                problems.append(Problem(file, line, f"{label}.topics",
                                        f"unknown topic {t!r}; known: {', '.join(TOPICS)}"))
        source = node.get("source")
        if not isinstance(source, str) or not source:
            problems.append(Problem(file, node.line_of("source"), f"{label}.source",
                                    "required: where these details come from"))
        checked = node.get("checked")
        if isinstance(checked, dt.datetime):
            checked = checked.date()
        if isinstance(checked, str):
            try:
                checked = dt.date.fromisoformat(checked)
            except ValueError:
                checked = None
        if not isinstance(checked, dt.date):
            problems.append(Problem(file, node.line_of("checked"), f"{label}.checked",
                                    "required: the date someone last checked it (YYYY-MM-DD)"))
            checked = dt.date(1970, 1, 1)
        elif today - checked > STALE_AFTER:
            warnings.append(Problem(file, node.line_of("checked"), f"{label}.checked",
                                    f"last checked {checked.isoformat()}, over a year ago: "
                                    "please check it is still right", warning=True))
        elif checked - today > dt.timedelta(days=1):
            warnings.append(Problem(file, node.line_of("checked"), f"{label}.checked",
                                    f"checked {checked.isoformat()} is in the future: a typo?",
                                    warning=True))
        return Service(name=name.strip(), phone=_opt(node.get("phone")), text=_opt(node.get("text")),
                       url=_opt(node.get("url")), hours=_opt(node.get("hours")),
                       topics=tuple(t for t in topics if t in TOPICS), source=str(source or ""),
                       checked=checked)

    countries: dict[str, tuple[str, tuple[Service, ...]]] = {}
    raw = root.get("countries") or LineDict()
    if not isinstance(raw, LineDict):
        problems.append(Problem(file, root.line_of("countries"), "countries", "must be a mapping"))
        raw = LineDict()
    for code, entry in raw.items():
        where = f"countries.{code}"
        if not (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha()
                and code.isupper()):
            problems.append(Problem(file, raw.line_of(code), where,
                                    "country codes are two capital letters (ISO 3166), like GB"))
        if not isinstance(entry, LineDict) or not isinstance(entry.get("services"), LineList):
            problems.append(Problem(file, raw.line_of(code), where, "needs name and services"))
            continue
        services = entry["services"]
        parsed = [service(s, f"{where}.services[{i}]", services.line_of(i))
                  for i, s in enumerate(services)]
        countries[str(code)] = (str(entry.get("name") or code),
                                tuple(s for s in parsed if s is not None))
    intl = root.get("international") or []
    if not isinstance(intl, list):
        problems.append(Problem(file, root.line_of("international"), "international",
                                "must be a list of services"))
        intl = []
    parsed_intl = [service(s, f"international[{i}]", getattr(intl, "line_of", lambda _: 0)(i))
                   for i, s in enumerate(intl)]
    if problems:
        raise ConfigError(problems + warnings)
    return Helplines(countries, tuple(s for s in parsed_intl if s is not None), tuple(warnings))


def _key_name(key: Any) -> str:
    """A key as shown in a problem; an empty or odd key is quoted so it stays visible."""
    return key if isinstance(key, str) and key.strip() and key == key.strip() else repr(key)


def _opt(value: Any) -> str | None:
    return str(value).strip() if value not in (None, "") else None

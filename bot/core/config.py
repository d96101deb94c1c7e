"""Load ``config.yaml`` into frozen dataclasses, reporting every mistake at once.

The core owns the top-level settings (``platform``, ``database``) and the sections
every part of Haven reads: ``community``, ``rules``, ``channels``, ``roles``,
``moderation`` and ``templates``. Features and adapters own their sections
(:class:`bot.core.sections.Section` objects next to their dataclasses); the
composition root (:mod:`bot.app`) hands them to :func:`parse_config`.

Each problem is reported as ``file:line: key: message`` (see
:class:`bot.core.errors.Problem`) and loading raises :class:`bot.core.errors.ConfigError`
so Haven refuses to start with a broken config. Secrets never live here: tokens
come from environment variables (``HAVEN_DISCORD_TOKEN``, ``HAVEN_MATRIX_TOKEN``,
``HAVEN_MATRIX_PASSWORD``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import ConfigError, Problem
from bot.core.events import Channel
from bot.core.sections import (
    Checks,
    Reader,
    Section,
    SectionReader,
    as_text,
    choice,
    known_section,
)
from bot.core.templates import DEFAULT_TEMPLATES, validate_templates
from bot.core.yamlsrc import LineDict, LineList, is_dir, is_file
from bot.storage.engine import database_url_problem, is_postgres_url, redact

C = TypeVar("C")

Platform = Literal["console", "discord", "matrix"]
PLATFORMS: tuple[str, ...] = get_args(Platform)
CORE_KEYS = ("platform", "database", "community", "rules", "channels", "roles", "moderation",
             "templates")


@dataclass(frozen=True)
class CommunityConfig:
    """Who the community is."""

    name: str | None = None
    countries: tuple[str, ...] = ("US",)
    newcomer_days: float = 7.0
    timezone: str = "UTC"
    """The community's time zone (an IANA name such as ``Europe/Amsterdam``): digest times
    and "at night" are in this zone."""

    def zone(self) -> ZoneInfo:
        """:attr:`timezone` as a zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class RulesConfig:
    """Where the rule packs and helplines live."""

    dir: Path = Path("rules")
    packs: tuple[str, ...] | None = None
    helplines: Path = Path("rules/helplines.yaml")
    community: Path | None = None
    """The community's own rule file, loaded after the packs and edited on the dashboard's
    Rules page (``None``: no such file, the page only shows the rules)."""


@dataclass(frozen=True)
class ChannelsConfig:
    """Channels Haven posts in (names, ``#names`` or ids)."""

    moderators: str = "moderators"
    welcome: str | None = None
    rules: str | None = None
    nudges: str | None = None


@dataclass(frozen=True)
class RolesConfig:
    """Role groups (names or ids). Matrix uses power levels for moderators."""

    moderators: tuple[str, ...] = ("Moderators",)
    peer_supporters: tuple[str, ...] = ()
    greeters: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    """Roles every member gets (e.g. "Member"): a channel they can view is not private."""


@dataclass(frozen=True)
class ModerationConfig:
    """Moderation and privacy."""

    retention_days: float = 90.0
    explain_in_channel: bool = True


# -- the core sections ----------------------------------------------------------------


def _country_problem(code: str) -> str | None:
    if len(code) == 2 and code.isascii() and code.isalpha() and code.upper() != "UK":
        return None
    if code.upper() == "UK":
        return f"{code!r} is not an ISO country code: the United Kingdom is GB"
    return f"{code!r} is not a two-letter country code like GB"


def _parse_community(s: SectionReader) -> CommunityConfig:
    values = s.fields()
    node = s.node.get("countries")
    for i, code in enumerate(values["countries"]):
        message = _country_problem(code)
        if message is not None:
            line = node.line_of(i) if isinstance(node, LineList) else s.node.line_of("countries")
            s.reader.problems.append(Problem(s.reader.file, line, "community.countries", message))
    values["countries"] = tuple(c.upper() for c in values["countries"])
    try:
        ZoneInfo(values["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        s.problem(s.node, "timezone", "community.timezone",
                  f"unknown time zone {values['timezone']!r} (use a name like Europe/London)")
        values["timezone"] = "UTC"
    return CommunityConfig(**values)


def _parse_rules(s: SectionReader) -> RulesConfig:
    node, base_dir = s.node, s.base_dir
    rules_dir = Path(s.reader.get(node, "dir", "rules", "rules", as_text))
    helplines = Path(s.reader.get(node, "helplines", "rules", str(rules_dir / "helplines.yaml"),
                                  as_text))
    values = s.fields()
    rules = RulesConfig(
        dir=rules_dir if rules_dir.is_absolute() else base_dir / rules_dir,
        packs=values["packs"],
        helplines=helplines if helplines.is_absolute() else base_dir / helplines,
        community=values["community"],
    )
    if rules.community is not None and not is_dir(rules.community.parent):
        s.problem(node, "community", "rules.community",
                  f"the folder of the community rule file {str(rules.community)!r} does not exist")
    if (is_dir(rules.dir) or "helplines" in node) and not is_file(rules.helplines):
        s.problem(node, "helplines", "rules.helplines",
                  f"helplines file {str(rules.helplines)!r} does not exist")
    if not is_dir(rules.dir):
        s.problem(node, "dir", "rules.dir", f"rule directory {str(rules.dir)!r} does not exist")
    elif rules.packs:
        packs = node.get("packs")
        for i, pack in enumerate(rules.packs):
            if not is_file(rules.dir / f"{pack}.yaml"):
                line = packs.line_of(i) if isinstance(packs, LineList) else node.line_of("packs")
                s.reader.problems.append(Problem(s.reader.file, line, "rules.packs",
                                                 f"no rule pack {pack!r} ({pack}.yaml) in {rules.dir}"))
    return rules


def _check_channels(channels: ChannelsConfig, checks: Checks) -> list[Problem]:
    if checks.raw("channels.moderators") is not None or checks.failed("channels"):
        return []
    return [checks.problem("channels.moderators",
                           "required: the private moderators' channel that receives alerts")]


COMMUNITY_SECTION = Section("community", CommunityConfig, parse=_parse_community)
RULES_SECTION = Section("rules", RulesConfig, parse=_parse_rules)
CHANNELS_SECTION = Section("channels", ChannelsConfig, check=_check_channels)
ROLES_SECTION = Section("roles", RolesConfig)
MODERATION_SECTION = Section("moderation", ModerationConfig)
CORE_SECTIONS: tuple[Section[Any], ...] = (COMMUNITY_SECTION, RULES_SECTION, CHANNELS_SECTION,
                                           ROLES_SECTION, MODERATION_SECTION)


# -- the whole configuration -----------------------------------------------------------


@dataclass(frozen=True, init=False)
class Config:
    """The whole validated configuration.

    The core's sections are typed attributes; the sections of features and adapters
    are in ``sections`` (by key) and read with :meth:`get`. Built in code, a section
    can be passed by keyword (``Config(matrix=MatrixConfig(...))``); a section not given
    has its defaults. ``config.unanswered`` still works (attribute access over
    ``sections``) for code not yet using :meth:`get`.
    """

    source: str
    platform: str
    database: str
    community: CommunityConfig
    rules: RulesConfig
    channels: ChannelsConfig
    roles: RolesConfig
    moderation: ModerationConfig
    templates: dict[str, str]
    lines: dict[str, int]
    """The line of each top-level key in the file (for problems found after loading)."""
    sections: Mapping[str, object]
    """The sections of features and adapters, by key."""

    def __init__(self, source: str = "<defaults>", platform: str = "console",
                 database: str = "haven.db", community: CommunityConfig | None = None,
                 rules: RulesConfig | None = None, channels: ChannelsConfig | None = None,
                 roles: RolesConfig | None = None, moderation: ModerationConfig | None = None,
                 templates: dict[str, str] | None = None, lines: dict[str, int] | None = None,
                 sections: Mapping[str, object] | None = None, **more: object) -> None:
        given = {**(sections or {}), **more}
        for key, value in given.items():
            known = known_section(key)
            if known is not None and not isinstance(value, known.type):
                raise TypeError(f"section {key!r} must be a {known.type.__name__}, "
                                f"got {type(value).__name__}")
        init = object.__setattr__
        init(self, "source", source)
        init(self, "platform", platform)
        init(self, "database", database)
        init(self, "community", community or CommunityConfig())
        init(self, "rules", rules or RulesConfig())
        init(self, "channels", channels or ChannelsConfig())
        init(self, "roles", roles or RolesConfig())
        init(self, "moderation", moderation or ModerationConfig())
        init(self, "templates", dict(templates or {}))
        init(self, "lines", dict(lines or {}))
        init(self, "sections", dict(given))

    def get(self, section: Section[C]) -> C:
        """The value of ``section`` (its defaults when the config does not give it)."""
        if section.key in CORE_KEYS:
            return cast(C, getattr(self, section.key))
        value = self.sections.get(section.key)
        return value if isinstance(value, section.type) else section.default()

    def __getattr__(self, name: str) -> Any:
        """``config.<section key>``: the section by key, for code not yet using :meth:`get`."""
        if name.startswith("_") or name in {"sections"}:
            raise AttributeError(name)
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        known = known_section(name)
        if known is None:
            raise AttributeError(f"Config has no setting or section {name!r} (a section is "
                                 "known once the module declaring it is imported, see bot.app)")
        return known.default()

    def line_of(self, key: str) -> int:
        """The line of top-level ``key`` in the config file (0 when it is not there)."""
        return self.lines.get(key, 0)

    def is_moderators_channel(self, channel: Channel) -> bool:
        """Whether ``channel`` is the private moderators' channel."""
        return self.channels.moderators in channel.names()


# -- parsing ---------------------------------------------------------------------------


def _empty_root() -> LineDict:
    root = LineDict()
    root.line = 1
    root.key_lines = {}
    return root


def _top_level(r: Reader, root: LineDict) -> dict[str, Any]:
    platform = r.get(root, "platform", "", "console", choice(PLATFORMS))
    database = r.get(root, "database", "", "haven.db", as_text)
    if is_postgres_url(database):  # PostgreSQL; its password only from the environment
        problem = database_url_problem(database)
        if problem:
            r.problem(root, "database", "database", problem)
            database = redact(database)
    elif database != ":memory:" and not Path(database).is_absolute():
        database = str(r.base_dir / database)
    return {"platform": platform, "database": database}


def _templates(r: Reader, root: LineDict, owned: Mapping[str, str]) -> dict[str, str]:
    """The ``templates:`` overrides: known names (the core's and the features' ``owned``
    defaults), text that renders."""
    templates: dict[str, str] = {}
    t = root.get("templates")
    if t is not None:
        if not isinstance(t, LineDict):
            r.problem(root, "templates", "templates", "must be a mapping of name: text")
        else:
            for name, text in t.items():
                if not isinstance(text, str):
                    r.problem(t, name, f"templates.{name}", "a template must be text")
                else:
                    templates[str(name)] = text
    t_node = t if isinstance(t, LineDict) else root  # templates is empty unless t is a mapping
    known = {**DEFAULT_TEMPLATES, **owned}
    for name in templates:
        if name not in known:
            r.problem(t_node, name, f"templates.{name}",
                      "unknown template; known: " + ", ".join(sorted(known)))
    for name, message in validate_templates(templates, known):
        r.problem(t_node, name, f"templates.{name}", message)
    return templates


def _read_sections(r: Reader, root: LineDict, values: dict[str, Any],
                   sections: tuple[Section[Any], ...]) -> None:
    """Read each section in order, then run its ``finish`` and ``check`` hooks (which
    see the sections read before it)."""
    later = {s.key for s in sections}
    checks = Checks(r, root, values, later)
    for section in sections:
        later.discard(section.key)
        value = r.read(section, root)
        if section.finish is not None:
            value = section.finish(value, checks)
        values[section.key] = value
        if section.check is not None:
            r.problems.extend(section.check(value, checks))


def parse_config(root: Any, file: str, base_dir: Path,
                 sections: Iterable[Section[Any]] = (),
                 templates: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed YAML document into a :class:`Config`: the core's settings,
    ``sections`` (those of the features and adapters, see :data:`bot.app.SECTIONS`) and
    overrides of the core's and the features' (``templates``) default texts."""
    extra = tuple(sections)
    for section in extra:
        if section.key in CORE_KEYS:
            raise ValueError(f"section {section.key!r} belongs to the core")
    r = Reader(file, base_dir)
    if root is None:
        root = _empty_root()
    if not isinstance(root, LineDict):
        raise ConfigError([Problem(file, 1, "config", "the file must be a mapping of settings")])
    r.unknown(root, set(CORE_KEYS) | {s.key for s in extra}, "")
    values = _top_level(r, root)
    _read_sections(r, root, values, CORE_SECTIONS)
    values["templates"] = _templates(r, root, templates or {})
    _read_sections(r, root, values, extra)
    if [p for p in r.problems if not p.warning]:
        raise ConfigError(r.problems)
    core = {key: values.pop(key) for key in CORE_KEYS}
    return Config(source=file, lines={str(k): v for k, v in root.key_lines.items()},
                  sections=values, **core)

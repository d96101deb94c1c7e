"""Load ``config.yaml`` into frozen dataclasses, reporting every mistake at once.

Each problem is reported as ``file:line: key: message`` (see
:class:`bot.core.errors.Problem`) and loading raises :class:`bot.core.errors.ConfigError`
so Haven refuses to start with a broken config. Secrets never live here: tokens
come from environment variables (``HAVEN_DISCORD_TOKEN``, ``HAVEN_MATRIX_TOKEN``,
``HAVEN_MATRIX_PASSWORD``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.durations import parse_clock, parse_clock_range, parse_duration
from bot.core.errors import ConfigError, Problem
from bot.core.events import Channel
from bot.core.yamlsrc import LineDict, LineList, is_dir, is_file, load_file, load_text
from bot.detection.settings import DetectionConfig, parse_detection

PLATFORMS = ("console", "discord", "matrix")
SECRET_KEYS = {"token", "access_token", "password", "secret", "bot_token"}


@dataclass(frozen=True)
class QuietHours:
    """A daily window (UTC minutes after midnight) when nudges wait."""

    start: int
    end: int


@dataclass(frozen=True)
class SupportPlace:
    """A channel, forum or room whose posts are watched for replies."""

    channel: str
    remind_after: float
    escalate_after: float


@dataclass(frozen=True)
class CommunityConfig:
    """Who the community is."""

    name: str | None = None
    countries: tuple[str, ...] = ("US",)
    newcomer_days: float = 7.0


@dataclass(frozen=True)
class RulesConfig:
    """Where the rule packs and helplines live."""

    dir: Path = Path("rules")
    packs: tuple[str, ...] | None = None
    helplines: Path = Path("rules/helplines.yaml")


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
class WelcomeConfig:
    """Welcome on join and greeting on a first post."""

    enabled: bool = True
    privately: bool = True
    message: str = ""
    first_post: str = "greet"  # greet | ping_greeters | off
    greeting: str = ""


@dataclass(frozen=True)
class UnansweredConfig:
    """Unanswered-post watch."""

    enabled: bool = True
    remind_after: float = 2 * 3600
    escalate_after: float = 12 * 3600
    count_next_message: bool = False
    excerpt_chars: int = 120
    quiet_hours: QuietHours | None = None
    places: tuple[SupportPlace, ...] = ()
    waiting_tag: str | None = None
    answered_tag: str | None = None


@dataclass(frozen=True)
class CrisisConfig:
    """Crisis alerts and signposting."""

    signpost: str = "privately"  # privately | reply
    reescalate_after: float = 600.0
    excerpt_chars: int = 200
    signpost_again_after: float = 24 * 3600


@dataclass(frozen=True)
class ContentWarningsConfig:
    """Content-warning channels."""

    labels: tuple[str, ...] = ("CW:", "TW:")
    channels: tuple[str, ...] = ()
    redirect_to: str | None = None
    repost: bool = False
    exempt: tuple[str, ...] = ()
    """Channels whose posts are never redirected (default: the unanswered support places)."""


@dataclass(frozen=True)
class ModerationConfig:
    """Moderation and privacy."""

    retention_days: float = 90.0
    explain_in_channel: bool = True


@dataclass(frozen=True)
class DiscordConfig:
    """Discord connection settings (the token comes from HAVEN_DISCORD_TOKEN)."""

    application_id: str | None = None
    guild_ids: tuple[str, ...] = ()
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class MatrixConfig:
    """Matrix connection settings (HAVEN_MATRIX_TOKEN or HAVEN_MATRIX_PASSWORD)."""

    homeserver: str = ""
    user_id: str = ""
    device_id: str = "HAVEN"
    community_id: str | None = None
    allowed_servers: tuple[str, ...] = ()
    spaces: tuple[str, ...] = ()
    store_path: str | None = None
    moderator_power_level: int = 50
    command_prefix: str = "!haven"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    source: str = "<defaults>"
    platform: str = "console"
    database: str = "haven.db"
    community: CommunityConfig = field(default_factory=CommunityConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    roles: RolesConfig = field(default_factory=RolesConfig)
    welcome: WelcomeConfig = field(default_factory=WelcomeConfig)
    unanswered: UnansweredConfig = field(default_factory=UnansweredConfig)
    crisis: CrisisConfig = field(default_factory=CrisisConfig)
    content_warnings: ContentWarningsConfig = field(default_factory=ContentWarningsConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    templates: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    """The line of each top-level key in the file (for problems found after loading)."""
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    matrix: MatrixConfig = field(default_factory=MatrixConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)

    def support_place(self, channel: Channel) -> SupportPlace | None:
        """The support place covering ``channel`` (or its parent), if any."""
        names = channel.names()
        for place in self.unanswered.places:
            if place.channel in names:
                return place
        return None

    def is_support_place(self, channel: Channel) -> bool:
        """Whether posts in ``channel`` are watched for replies."""
        return self.unanswered.enabled and self.support_place(channel) is not None

    def is_cw_channel(self, channel: Channel) -> bool:
        """Whether ``channel`` (or its parent) requires content warnings."""
        names = channel.names()
        return any(c in names for c in self.content_warnings.channels)

    def line_of(self, key: str) -> int:
        """The line of top-level ``key`` in the config file (0 when it is not there)."""
        return self.lines.get(key, 0)

    def is_cw_exempt(self, channel: Channel) -> bool:
        """Whether sensitive posts in ``channel`` (or its parent) stay where they are."""
        names = channel.names()
        return any(c in names for c in self.content_warnings.exempt)

    def is_moderators_channel(self, channel: Channel) -> bool:
        """Whether ``channel`` is the private moderators' channel."""
        return self.channels.moderators in channel.names()


class _Reader:
    """Reads one mapping, recording problems with file and line."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def problem(self, node: Any, key: str, path: str, message: str, warning: bool = False) -> None:
        line = node.line_of(key) if isinstance(node, LineDict) else getattr(node, "line", 0)
        self.problems.append(Problem(self.file, line, path, message, warning))

    def section(self, root: LineDict, key: str, allowed: set[str], path: str = "") -> LineDict:
        full = f"{path}{key}"
        value = root.get(key)
        if value is None:
            empty = LineDict()
            empty.line = root.line_of(key)
            empty.key_lines = {}
            return empty
        if not isinstance(value, LineDict):
            self.problem(root, key, full, "must be a mapping of settings")
            empty = LineDict()
            empty.line = root.line_of(key)
            empty.key_lines = {}
            return empty
        self.unknown(value, allowed, full)
        return value

    def failed(self, *paths: str) -> bool:
        """Whether any of ``paths`` already has a problem (so checks that compare it
        with other settings would only repeat that problem in other words)."""
        return any(p.key in paths for p in self.problems if not p.warning)

    def unknown(self, node: LineDict, allowed: set[str], path: str) -> None:
        for key in node:
            shown = _key_name(key)
            if key in SECRET_KEYS:
                self.problem(node, key, f"{path}.{shown}" if path else shown,
                             "secrets must not be stored in config files; use the "
                             "HAVEN_DISCORD_TOKEN / HAVEN_MATRIX_TOKEN / HAVEN_MATRIX_PASSWORD "
                             "environment variables")
            elif key not in allowed:
                hint = _closest(str(key), allowed)
                self.problem(node, key, f"{path}.{shown}" if path else shown,
                             "unknown key" + (f" (did you mean {hint!r}?)" if hint else ""))

    def get(self, node: LineDict, key: str, path: str, default: Any,
            convert: Callable[[Any], Any]) -> Any:
        if key not in node or node[key] is None:
            return default
        try:
            return convert(node[key])
        except (ValueError, TypeError) as exc:
            self.problem(node, key, f"{path}.{key}" if path else key, str(exc))
            return default



def _key_name(key: Any) -> str:
    """A key as shown in a problem: itself when it is a plain name, else quoted (``''``,
    ``1``, ``true``) so an empty or odd key is still visible."""
    if isinstance(key, str) and key.strip() and key == key.strip():
        return key
    return repr(key)


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None


def _str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return convert


def _number(value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0):
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return float(value)


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"expected a list of names, got {value!r}")
    return tuple(_str(v) for v in value)


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return str(value)

    return convert


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a template must be text")
    return value


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    return parse_config(load_file(path), str(path), base_dir=path.parent)


def load_config_text(text: str, filename: str = "config.yaml", base_dir: Path | None = None) -> Config:
    """Load and validate config from text (tests, embedded demo)."""
    return parse_config(load_text(text, filename), filename, base_dir=base_dir or Path("."))


def parse_config(root: Any, file: str, base_dir: Path) -> Config:
    """Validate a parsed YAML document into a :class:`Config`."""
    problems: list[Problem] = []
    r = _Reader(file, problems)
    if root is None:
        root = LineDict()
        root.line = 1
        root.key_lines = {}
    if not isinstance(root, LineDict):
        raise ConfigError([Problem(file, 1, "config", "the file must be a mapping of settings")])
    top = {"platform", "database", "community", "rules", "channels", "roles", "welcome",
           "unanswered", "crisis", "content_warnings", "moderation", "templates", "discord",
           "matrix", "detection"}
    r.unknown(root, top, "")

    platform = r.get(root, "platform", "", "console", _choice(*PLATFORMS))
    database = r.get(root, "database", "", "haven.db", _str)
    if database != ":memory:" and not Path(database).is_absolute():
        database = str(base_dir / database)

    s = r.section(root, "community", {"name", "countries", "newcomer_days"})
    countries = r.get(s, "countries", "community", ("US",), _str_list)
    for i, code in enumerate(countries):
        if len(code) == 2 and code.isascii() and code.isalpha() and code.upper() != "UK":
            continue
        node = s.get("countries")
        line = node.line_of(i) if isinstance(node, LineList) else s.line_of("countries")
        message = (f"{code!r} is not an ISO country code: the United Kingdom is GB"
                   if code.upper() == "UK" else f"{code!r} is not a two-letter country code like GB")
        problems.append(Problem(file, line, "community.countries", message))
    community = CommunityConfig(
        name=r.get(s, "name", "community", None, _str),
        countries=tuple(c.upper() for c in countries),
        newcomer_days=r.get(s, "newcomer_days", "community", 7.0, _number),
    )

    s = r.section(root, "rules", {"dir", "packs", "helplines"})
    rules_dir = Path(r.get(s, "dir", "rules", "rules", _str))
    helplines = Path(r.get(s, "helplines", "rules", str(rules_dir / "helplines.yaml"), _str))
    rules = RulesConfig(
        dir=rules_dir if rules_dir.is_absolute() else base_dir / rules_dir,
        packs=r.get(s, "packs", "rules", None, _str_list),
        helplines=helplines if helplines.is_absolute() else base_dir / helplines,
    )
    if (is_dir(rules.dir) or "helplines" in s) and not is_file(rules.helplines):
        r.problem(s, "helplines", "rules.helplines",
                  f"helplines file {str(rules.helplines)!r} does not exist")
    if not is_dir(rules.dir):
        r.problem(s, "dir", "rules.dir", f"rule directory {str(rules.dir)!r} does not exist")
    elif rules.packs:
        for i, pack in enumerate(rules.packs):
            if not is_file(rules.dir / f"{pack}.yaml"):
                node = s.get("packs")
                line = node.line_of(i) if isinstance(node, LineList) else s.line_of("packs")
                problems.append(Problem(file, line, "rules.packs",
                                        f"no rule pack {pack!r} ({pack}.yaml) in {rules.dir}"))

    s = r.section(root, "channels", {"moderators", "welcome", "rules", "nudges"})
    channels = ChannelsConfig(
        moderators=r.get(s, "moderators", "channels", "", _str),
        welcome=r.get(s, "welcome", "channels", None, _str),
        rules=r.get(s, "rules", "channels", None, _str),
        nudges=r.get(s, "nudges", "channels", None, _str),
    )
    if not channels.moderators and s.get("moderators") is None and not r.failed("channels"):
        r.problem(s if "channels" in root else root, "moderators", "channels.moderators",
                  "required: the private moderators' channel that receives alerts")

    s = r.section(root, "roles", {"moderators", "peer_supporters", "greeters", "members"})
    roles = RolesConfig(
        moderators=r.get(s, "moderators", "roles", ("Moderators",), _str_list),
        peer_supporters=r.get(s, "peer_supporters", "roles", (), _str_list),
        greeters=r.get(s, "greeters", "roles", (), _str_list),
        members=r.get(s, "members", "roles", (), _str_list),
    )

    s = r.section(root, "welcome", {"enabled", "privately", "message", "first_post", "greeting"})
    welcome = WelcomeConfig(
        enabled=r.get(s, "enabled", "welcome", True, _bool),
        privately=r.get(s, "privately", "welcome", True, _bool),
        message=r.get(s, "message", "welcome", "", _template),
        first_post=r.get(s, "first_post", "welcome", "greet",
                         _choice("greet", "ping_greeters", "off")),
        greeting=r.get(s, "greeting", "welcome", "", _template),
    )
    if welcome.first_post == "ping_greeters" and not roles.greeters and not r.failed(
            "roles.greeters"):
        r.problem(s, "first_post", "welcome.first_post",
                  "ping_greeters needs roles.greeters to name the greeters role")

    s = r.section(root, "unanswered", {"enabled", "remind_after", "escalate_after",
                                       "count_next_message", "excerpt_chars", "quiet_hours",
                                       "places", "forum_tags"})
    remind = r.get(s, "remind_after", "unanswered", 7200.0, _positive_duration)
    escalate = r.get(s, "escalate_after", "unanswered", 43200.0, _positive_duration)
    quiet = None
    if isinstance(s.get("quiet_hours"), str):
        try:
            start, end = parse_clock_range(s["quiet_hours"])
            if start == end:
                raise ValueError("start and end must differ")
            quiet = QuietHours(start, end)
        except ValueError as exc:
            r.problem(s, "quiet_hours", "unanswered.quiet_hours",
                      f"{exc} (write 23:00-07:00, or start: and end: in UTC)")
    elif isinstance(s.get("quiet_hours"), LineDict):
        q = r.section(s, "quiet_hours", {"start", "end"}, "unanswered.")
        start = r.get(q, "start", "unanswered.quiet_hours", None, parse_clock)
        end = r.get(q, "end", "unanswered.quiet_hours", None, parse_clock)
        for key in ("start", "end"):
            if q.get(key) is None:
                r.problem(q, key, f"unanswered.quiet_hours.{key}",
                          "required: quiet hours need both start and end (HH:MM, UTC)")
        if start is not None and end is not None:
            if start == end:
                r.problem(q, "end", "unanswered.quiet_hours.end",
                          "must differ from start (remove quiet_hours to disable them)")
            else:
                quiet = QuietHours(start, end)
    elif s.get("quiet_hours") is not None:
        r.problem(s, "quiet_hours", "unanswered.quiet_hours",
                  "must be start: and end: times (HH:MM, UTC), or like 23:00-07:00")
    places: list[SupportPlace] = []
    raw_places = s.get("places") or []
    if not isinstance(raw_places, list):
        r.problem(s, "places", "unanswered.places", "must be a list of {channel: ...}")
        raw_places = []
    for i, item in enumerate(raw_places):
        path = f"unanswered.places[{i}]"
        line = raw_places.line_of(i) if hasattr(raw_places, "line_of") else s.line
        if isinstance(item, str | int) and not isinstance(item, bool):
            try:
                places.append(SupportPlace(_str(item), remind, escalate))
            except ValueError as exc:
                problems.append(Problem(file, line, path, str(exc)))
            continue
        if not isinstance(item, LineDict) or item.get("channel") is None:
            problems.append(Problem(file, line, path, "each place needs a channel"))
            continue
        r.unknown(item, {"channel", "remind_after", "escalate_after"}, path)
        p_remind = r.get(item, "remind_after", path, remind, _positive_duration)
        p_escalate = r.get(item, "escalate_after", path, escalate, _positive_duration)
        inherited = [f"unanswered.{k}" for k in ("remind_after", "escalate_after")
                     if k not in item]
        if p_escalate <= p_remind and not r.failed(f"{path}.remind_after",
                                                   f"{path}.escalate_after", *inherited):
            r.problem(item, "escalate_after", f"{path}.escalate_after",
                      "must be later than remind_after")
        places.append(SupportPlace(r.get(item, "channel", path, "", _str), p_remind, p_escalate))
    if escalate <= remind and not r.failed("unanswered.remind_after", "unanswered.escalate_after"):
        r.problem(s, "escalate_after", "unanswered.escalate_after", "must be later than remind_after")
    waiting_tag = answered_tag = None
    if s.get("forum_tags") is not None:
        ft = r.section(s, "forum_tags", {"waiting", "answered"}, "unanswered.")
        waiting_tag = r.get(ft, "waiting", "unanswered.forum_tags", None, _str)
        answered_tag = r.get(ft, "answered", "unanswered.forum_tags", None, _str)
    unanswered = UnansweredConfig(
        enabled=r.get(s, "enabled", "unanswered", True, _bool),
        remind_after=remind,
        escalate_after=escalate,
        count_next_message=r.get(s, "count_next_message", "unanswered", False, _bool),
        excerpt_chars=r.get(s, "excerpt_chars", "unanswered", 120, _int(0, 1000)),
        quiet_hours=quiet,
        places=tuple(places),
        waiting_tag=waiting_tag,
        answered_tag=answered_tag,
    )

    s = r.section(root, "crisis", {"signpost", "reescalate_after", "excerpt_chars",
                                   "signpost_again_after"})
    crisis = CrisisConfig(
        signpost=r.get(s, "signpost", "crisis", "privately", _choice("privately", "reply")),
        reescalate_after=r.get(s, "reescalate_after", "crisis", 600.0, _positive_duration),
        excerpt_chars=r.get(s, "excerpt_chars", "crisis", 200, _int(0, 2000)),
        signpost_again_after=r.get(s, "signpost_again_after", "crisis", 86400.0, parse_duration),
    )

    s = r.section(root, "content_warnings", {"labels", "channels", "redirect_to", "repost",
                                             "exempt"})
    cw = ContentWarningsConfig(
        labels=r.get(s, "labels", "content_warnings", ("CW:", "TW:"), _str_list),
        channels=r.get(s, "channels", "content_warnings", (), _str_list),
        redirect_to=r.get(s, "redirect_to", "content_warnings", None, _str),
        repost=r.get(s, "repost", "content_warnings", False, _bool),
        # Support places are exempt unless the admin lists the exempt channels themselves
        # (an empty list exempts none).
        exempt=r.get(s, "exempt", "content_warnings", (), _str_list) if "exempt" in s
        else tuple(p.channel for p in places),
    )
    if cw.repost and not cw.redirect_to and not r.failed("content_warnings.redirect_to"):
        r.problem(s, "repost", "content_warnings.repost", "repost needs redirect_to")

    s = r.section(root, "moderation", {"retention_days", "explain_in_channel"})
    moderation = ModerationConfig(
        retention_days=r.get(s, "retention_days", "moderation", 90.0, _number),
        explain_in_channel=r.get(s, "explain_in_channel", "moderation", True, _bool),
    )

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

    from bot.core.templates import DEFAULT_TEMPLATES, validate_templates

    t_node = t if isinstance(t, LineDict) else root  # templates is empty unless t is a mapping
    for name in templates:
        if name not in DEFAULT_TEMPLATES:
            problems.append(Problem(file, t_node.line_of(name), f"templates.{name}",
                                    "unknown template; known: " + ", ".join(sorted(DEFAULT_TEMPLATES))))
    for name, message in validate_templates(templates):
        problems.append(Problem(file, t_node.line_of(name), f"templates.{name}", message))
    welcome_node = root.get("welcome")
    for key, text in (("message", welcome.message), ("greeting", welcome.greeting)):
        for _, message in validate_templates({key: text}):
            line = welcome_node.line_of(key) if isinstance(welcome_node, LineDict) else 0
            problems.append(Problem(file, line, f"welcome.{key}", message))

    s = r.section(root, "discord", {"application_id", "guild_ids", "shard_count", "shard_ids"})
    shard_count = r.get(s, "shard_count", "discord", None, _int(1, 100000))
    shard_ids = r.get(s, "shard_ids", "discord", None,
                      lambda v: tuple(_int(0, 100000)(x) for x in v) if isinstance(v, list)
                      else (_ for _ in ()).throw(ValueError("expected a list of shard numbers")))
    if shard_ids is not None and shard_count is None and not r.failed("discord.shard_count"):
        r.problem(s, "shard_ids", "discord.shard_ids", "shard_ids needs shard_count")
    elif shard_ids and shard_count and any(i >= shard_count for i in shard_ids):
        r.problem(s, "shard_ids", "discord.shard_ids", "every shard id must be below shard_count")
    discord = DiscordConfig(
        application_id=r.get(s, "application_id", "discord", None, _str),
        guild_ids=r.get(s, "guild_ids", "discord", (), _str_list),
        shard_count=shard_count,
        shard_ids=shard_ids,
    )

    s = r.section(root, "matrix", {"homeserver", "user_id", "device_id", "community_id",
                                   "allowed_servers", "spaces", "store_path",
                                   "moderator_power_level", "command_prefix"})
    matrix = MatrixConfig(
        homeserver=r.get(s, "homeserver", "matrix", "", _str),
        user_id=r.get(s, "user_id", "matrix", "", _str),
        device_id=r.get(s, "device_id", "matrix", "HAVEN", _str),
        community_id=r.get(s, "community_id", "matrix", None, _str),
        allowed_servers=r.get(s, "allowed_servers", "matrix", (), _str_list),
        spaces=r.get(s, "spaces", "matrix", (), _str_list),
        store_path=r.get(s, "store_path", "matrix", None, _str),
        moderator_power_level=r.get(s, "moderator_power_level", "matrix", 50, _int(1, 100)),
        command_prefix=r.get(s, "command_prefix", "matrix", "!haven", _str),
    )
    if platform == "matrix":
        for key in ("homeserver", "user_id"):
            if not getattr(matrix, key) and not r.failed(f"matrix.{key}"):
                r.problem(s if "matrix" in root else root, key if "matrix" in root else "platform",
                          f"matrix.{key}", "required when platform is matrix")
        if matrix.homeserver and not matrix.homeserver.startswith(("http://", "https://")):
            r.problem(s, "homeserver", "matrix.homeserver", "must start with https:// or http://")
        if matrix.user_id and not (matrix.user_id.startswith("@") and ":" in matrix.user_id):
            r.problem(s, "user_id", "matrix.user_id", "must look like @haven:example.org")

    detection = parse_detection(root.get("detection"), base_dir,
                                lambda node, key, path, msg: r.problem(node, key, path, msg))

    if [p for p in problems if not p.warning]:
        raise ConfigError(problems)
    return Config(
        source=file, platform=platform, database=database, community=community, rules=rules,
        channels=channels, roles=roles, welcome=welcome, unanswered=unanswered, crisis=crisis,
        content_warnings=cw, moderation=moderation, templates=templates, discord=discord,
        matrix=matrix, lines={str(k): v for k, v in root.key_lines.items()},
        detection=detection,
    )

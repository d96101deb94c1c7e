"""bot.core.config and bot.app: the example loads; every mistake is reported as file:line: key, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_config, load_config_text
from bot.core.config import Config
from bot.core.errors import ConfigError, Problem
from bot.core.events import Channel
from bot.features.content_warnings.config import CONTENT_WARNINGS_SECTION
from bot.features.unanswered.config import UNANSWERED_SECTION, QuietHours, SupportPlace

ROOT = Path(__file__).resolve().parent.parent
FILE = "haven.yaml"
MINIMAL = "channels: {moderators: mod-alerts}\n"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A directory with a rules folder holding two packs and a helplines file."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "crisis.yaml").write_text("[]\n")
    (rules / "pii.yaml").write_text("[]\n")
    (rules / "helplines.yaml").write_text("countries: {}\n")
    return tmp_path


def load(text: str, base: Path) -> Config:
    """Load config text as if it were ``haven.yaml`` in ``base``."""
    return load_config_text(text, FILE, base_dir=base)


def problems(text: str, base: Path) -> list[Problem]:
    """The problems loading ``text`` reports (it must fail)."""
    with pytest.raises(ConfigError) as info:
        load(text, base)
    return info.value.problems


def where(text: str, base: Path) -> list[tuple[int, str]]:
    """(line, key) of every problem."""
    return [(p.line, p.key) for p in problems(text, base)]


def only(text: str, base: Path) -> Problem:
    """The single problem loading ``text`` reports."""
    found = problems(text, base)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# -- the example and the defaults ---------------------------------------------------


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    config = load_config("config.example.yaml")
    assert config.source == "config.example.yaml"
    assert config.platform == "console"
    assert config.community.name == "Harbour"
    assert config.community.countries == ("GB", "US")
    assert config.channels.moderators == "mod-alerts"
    assert config.unanswered.remind_after == 2 * 3600
    assert config.unanswered.escalate_after == 12 * 3600
    assert config.unanswered.quiet_hours == QuietHours(23 * 60, 7 * 60)
    assert config.unanswered.places == (
        SupportPlace("support", 7200.0, 43200.0), SupportPlace("vent", 3600.0, 6 * 3600.0))
    assert config.crisis.reescalate_after == 600
    assert config.content_warnings.labels == ("CW:", "TW:")
    assert config.welcome.first_post == "greet"
    assert "{community}" in config.welcome.message
    assert set(config.templates) == {"warning"}
    assert config.matrix.moderator_power_level == 50
    assert config.rules.dir == Path("rules")


def test_example_config_settings_parse_with_any_rules_dir(base: Path) -> None:
    # Independent of which packs exist yet: every other setting in the example parses.
    text = (ROOT / "config.example.yaml").read_text()
    text = text.replace("packs: [crisis, method, hostility, pii, sensitive, signposting, nl, de, es, fr]",
                        "packs: [crisis, pii]")
    config = load(text, base)
    assert config.rules.packs == ("crisis", "pii")
    assert config.database == str(base / "haven.db")
    assert config.discord.application_id == "123456789012345678"
    assert config.matrix.homeserver == "https://matrix.example.org"


def test_minimal_config_has_documented_defaults(base: Path) -> None:
    config = load(MINIMAL, base)
    assert config.platform == "console"
    assert config.database == str(base / "haven.db")
    assert config.community.countries == ("US",)
    assert config.rules.dir == base / "rules"
    assert config.rules.packs is None
    assert config.rules.helplines == base / "rules" / "helplines.yaml"
    assert config.roles.moderators == ("Moderators",)
    assert config.unanswered.remind_after == 7200
    assert config.unanswered.escalate_after == 43200
    assert config.unanswered.quiet_hours is None
    assert config.crisis.signpost == "privately"
    assert config.matrix.moderator_power_level == 50


def test_empty_file_reports_missing_moderators_channel(base: Path) -> None:
    p = only("", base)
    assert (p.file, p.line, p.key) == (FILE, 1, "channels.moderators")
    assert "required" in p.message


def test_database_paths(base: Path) -> None:
    assert load(MINIMAL + "database: ':memory:'\n", base).database == ":memory:"
    assert load(MINIMAL + "database: /var/lib/haven.db\n", base).database == "/var/lib/haven.db"
    assert load(MINIMAL + "database: data/h.db\n", base).database == str(base / "data/h.db")


def test_yaml_1_2_scalars_off_and_unquoted_times(base: Path) -> None:
    # `off` is a documented value, and 23:00 unquoted must not become 1380.
    config = load(MINIMAL + "welcome: {first_post: off}\n"
                  "unanswered: {quiet_hours: {start: 23:00, end: 07:00}}\n", base)
    assert config.welcome.first_post == "off"
    assert config.unanswered.quiet_hours == QuietHours(1380, 420)


def test_quiet_hours_as_a_range_string(base: Path) -> None:
    config = load(MINIMAL + "unanswered: {quiet_hours: 22:30-06:00}\n", base)
    assert config.unanswered.quiet_hours == QuietHours(22 * 60 + 30, 6 * 60)


def test_places_by_name_id_and_mapping(base: Path) -> None:
    config = load(MINIMAL + """\
unanswered:
  remind_after: 1h
  escalate_after: 3h
  places:
    - support
    - 123456789
    - {channel: vent, remind_after: 10m}
""", base)
    assert config.unanswered.places == (
        SupportPlace("support", 3600, 10800), SupportPlace("123456789", 3600, 10800),
        SupportPlace("vent", 600, 10800))


# -- every kind of problem, with its location -----------------------------------------


def test_yaml_syntax_error_has_a_line(base: Path) -> None:
    p = only("channels:\n  moderators: [a, b\nplatform: console\n", base)
    assert p.key == "yaml"
    assert p.file == FILE
    assert p.line == 3


def test_yaml_duplicate_key_is_refused_with_its_line(base: Path) -> None:
    p = only("channels: {moderators: a}\nplatform: console\nplatform: discord\n", base)
    assert (p.line, p.key) == (3, "yaml")
    assert "duplicate key 'platform'" in p.message


def test_top_level_must_be_a_mapping(base: Path) -> None:
    p = only("- a\n- b\n", base)
    assert (p.line, p.key) == (1, "config")


def test_unknown_key_with_did_you_mean(base: Path) -> None:
    p = only(MINIMAL + "unanswered:\n  remind_afer: 2h\n", base)
    assert (p.file, p.line, p.key) == (FILE, 3, "unanswered.remind_afer")
    assert "unknown key" in p.message
    assert "did you mean 'remind_after'?" in p.message


def test_unknown_top_level_key_with_and_without_hint(base: Path) -> None:
    found = problems(MINIMAL + "chanels: {}\nbananas: 3\n", base)
    assert [(p.line, p.key) for p in found] == [(2, "chanels"), (3, "bananas")]
    assert "did you mean 'channels'?" in found[0].message
    assert found[1].message == "unknown key"


def test_unknown_key_inside_a_place(base: Path) -> None:
    p = only(MINIMAL + "unanswered:\n  places:\n    - channel: vent\n      remnd_after: 1h\n", base)
    assert (p.line, p.key) == (5, "unanswered.places[0].remnd_after")
    assert "remind_after" in p.message


@pytest.mark.parametrize(("snippet", "key", "needle"), [
    ("platform: slack\n", "platform", "must be one of console, discord, matrix"),
    ("welcome: {enabled: 'yes'}\n", "welcome.enabled", "expected true or false"),
    ("welcome: {enabled: yes}\n", "welcome.enabled", "expected true or false"),
    ("unanswered: {excerpt_chars: 5000}\n", "unanswered.excerpt_chars", "between 0 and 1000"),
    ("unanswered: {excerpt_chars: 1.5}\n", "unanswered.excerpt_chars", "whole number"),
    ("community: {newcomer_days: -1}\n", "community.newcomer_days", "non-negative"),
    ("moderation: {retention_days: .nan}\n", "moderation.retention_days", "non-negative"),
    ("roles: {moderators: {a: b}}\n", "roles.moderators", "list of names"),
    ("community: {name: ''}\n", "community.name", "must not be empty"),
    ("crisis: {signpost: loudly}\n", "crisis.signpost", "privately, reply"),
    ("matrix: {moderator_power_level: 0}\n", "matrix.moderator_power_level", "between 1 and 100"),
    ("discord: {shard_ids: 3, shard_count: 4}\n", "discord.shard_ids", "list of shard numbers"),
    ("welcome: {message: [a]}\n", "welcome.message", "must be text"),
])
def test_wrong_types(base: Path, snippet: str, key: str, needle: str) -> None:
    p = only(MINIMAL + snippet, base)
    assert (p.file, p.line, p.key) == (FILE, 2, key)
    assert needle in p.message


def test_section_must_be_a_mapping(base: Path) -> None:
    p = only(MINIMAL + "crisis: [a]\n", base)
    assert (p.line, p.key) == (2, "crisis")
    assert "mapping" in p.message


@pytest.mark.parametrize("bad", ["soon", "2 hours", "-5m", "0", "0m", ".inf", "1h30"])
def test_bad_durations(base: Path, bad: str) -> None:
    p = only(MINIMAL + f"crisis:\n  reescalate_after: {bad}\n", base)
    assert (p.line, p.key) == (3, "crisis.reescalate_after")


def test_escalate_not_after_remind(base: Path) -> None:
    p = only(MINIMAL + "unanswered:\n  remind_after: 2h\n  escalate_after: 2h\n", base)
    assert (p.line, p.key) == (4, "unanswered.escalate_after")
    assert "later than remind_after" in p.message


def test_place_escalate_not_after_remind(base: Path) -> None:
    text = MINIMAL + ("unanswered:\n  places:\n"
                      "    - channel: vent\n      remind_after: 3h\n      escalate_after: 1h\n")
    p = only(text, base)
    assert (p.line, p.key) == (6, "unanswered.places[0].escalate_after")


def test_place_without_channel(base: Path) -> None:
    found = problems(MINIMAL + "unanswered:\n  places:\n    - remind_after: 1h\n"
                     "    - channel:\n    - [x]\n", base)
    assert [(p.line, p.key) for p in found] == [
        (4, "unanswered.places[0]"), (5, "unanswered.places[1]"), (6, "unanswered.places[2]")]
    assert all(p.message == "each place needs a channel" for p in found)


def test_places_must_be_a_list(base: Path) -> None:
    p = only(MINIMAL + "unanswered:\n  places: support\n", base)
    assert (p.line, p.key) == (3, "unanswered.places")


def test_quiet_hours_problems(base: Path) -> None:
    p = only(MINIMAL + "unanswered:\n  quiet_hours:\n    start: '25:00'\n    end: '07:00'\n", base)
    assert (p.line, p.key) == (4, "unanswered.quiet_hours.start")
    assert "not a time of day" in p.message
    p = only(MINIMAL + "unanswered:\n  quiet_hours:\n    start: '23:00'\n", base)
    assert (p.line, p.key) == (4, "unanswered.quiet_hours.end")
    assert "required" in p.message
    p = only(MINIMAL + "unanswered:\n  quiet_hours: {start: '07:00', end: '07:00'}\n", base)
    assert (p.line, p.key) == (3, "unanswered.quiet_hours.end")
    p = only(MINIMAL + "unanswered:\n  quiet_hours: nightly\n", base)
    assert (p.line, p.key) == (3, "unanswered.quiet_hours")
    p = only(MINIMAL + "unanswered:\n  quiet_hours: [1, 2]\n", base)
    assert (p.line, p.key) == (3, "unanswered.quiet_hours")


def test_missing_moderators_channel(base: Path) -> None:
    p = only("channels:\n  welcome: hello\n", base)
    assert (p.line, p.key) == (2, "channels.moderators")
    assert "required" in p.message
    p = only("platform: console\n", base)
    assert p.key == "channels.moderators"
    p = only("channels: {moderators: ''}\n", base)  # reported once, not twice
    assert p.key == "channels.moderators"
    assert "must not be empty" in p.message


def test_ping_greeters_needs_greeters(base: Path) -> None:
    p = only(MINIMAL + "welcome:\n  first_post: ping_greeters\n", base)
    assert (p.line, p.key) == (3, "welcome.first_post")
    assert "roles.greeters" in p.message
    config = load(MINIMAL + "roles: {greeters: [Greeters]}\nwelcome: {first_post: ping_greeters}\n",
                  base)
    assert config.welcome.first_post == "ping_greeters"


def test_repost_needs_redirect_to(base: Path) -> None:
    p = only(MINIMAL + "content_warnings:\n  channels: [heavy]\n  repost: true\n", base)
    assert (p.line, p.key) == (4, "content_warnings.repost")
    assert "redirect_to" in p.message


def test_shard_ids_need_shard_count(base: Path) -> None:
    p = only(MINIMAL + "discord:\n  shard_ids: [0, 1]\n", base)
    assert (p.line, p.key) == (3, "discord.shard_ids")
    assert "shard_count" in p.message
    p = only(MINIMAL + "discord:\n  shard_count: 2\n  shard_ids: [0, 2]\n", base)
    assert (p.line, p.key) == (4, "discord.shard_ids")
    assert "below shard_count" in p.message
    config = load(MINIMAL + "discord: {shard_count: 2, shard_ids: [1]}\n", base)
    assert (config.discord.shard_count, config.discord.shard_ids) == (2, (1,))


def test_matrix_platform_needs_homeserver_and_user_id(base: Path) -> None:
    found = problems(MINIMAL + "platform: matrix\nmatrix:\n  device_id: X\n", base)
    assert [(p.line, p.key) for p in found] == [(4, "matrix.homeserver"), (4, "matrix.user_id")]
    assert all("required when platform is matrix" in p.message for p in found)
    # Without a matrix section the problems point at the platform line.
    found = problems(MINIMAL + "platform: matrix\n", base)
    assert [(p.line, p.key) for p in found] == [(2, "matrix.homeserver"), (2, "matrix.user_id")]


def test_matrix_values_must_look_right(base: Path) -> None:
    found = problems(MINIMAL + "platform: matrix\nmatrix:\n  homeserver: matrix.org\n"
                     "  user_id: haven\n", base)
    assert [(p.line, p.key) for p in found] == [(4, "matrix.homeserver"), (5, "matrix.user_id")]
    config = load(MINIMAL + "platform: matrix\nmatrix: {homeserver: 'https://m.org', "
                  "user_id: '@haven:m.org'}\n", base)
    assert config.matrix.user_id == "@haven:m.org"


@pytest.mark.parametrize(("snippet", "line", "key"), [
    ("token: abc\n", 2, "token"),
    ("discord:\n  token: abc\n", 3, "discord.token"),
    ("matrix:\n  password: hunter2\n", 3, "matrix.password"),
    ("matrix:\n  access_token: syt_x\n", 3, "matrix.access_token"),
])
def test_secrets_in_the_file_are_refused(base: Path, snippet: str, line: int, key: str) -> None:
    p = only(MINIMAL + snippet, base)
    assert (p.line, p.key) == (line, key)
    assert "secrets must not be stored" in p.message
    assert "HAVEN_DISCORD_TOKEN" in p.message


def test_unknown_template_name(base: Path) -> None:
    p = only(MINIMAL + "templates:\n  welcom: hi {member}\n", base)
    assert (p.line, p.key) == (3, "templates.welcom")
    assert "unknown template" in p.message
    assert "welcome" in p.message


def test_unknown_placeholder_in_template(base: Path) -> None:
    p = only(MINIMAL + "templates:\n  warning: |\n    Hi {membr}\n", base)
    assert (p.line, p.key) == (3, "templates.warning")
    assert "{membr}" in p.message


def test_template_that_would_crash_at_run_time(base: Path) -> None:
    found = problems(MINIMAL + "templates:\n  greeting: '{member:d}'\n  warning: '{rule.x}'\n"
                     "  timeout: 'for {duration'\n  hidden_post: 7\n", base)
    assert [(p.line, p.key) for p in found] == [
        (6, "templates.hidden_post"), (3, "templates.greeting"), (4, "templates.warning"),
        (5, "templates.timeout")]


def test_templates_must_be_a_mapping(base: Path) -> None:
    p = only(MINIMAL + "templates: [a]\n", base)
    assert (p.line, p.key) == (2, "templates")


def test_unknown_placeholder_in_welcome_message_and_greeting(base: Path) -> None:
    found = problems(MINIMAL + "welcome:\n  message: 'Hi {name}'\n  greeting: 'Yo {who}'\n", base)
    assert [(p.line, p.key) for p in found] == [(3, "welcome.message"), (4, "welcome.greeting")]
    assert "{name}" in found[0].message
    assert "{who}" in found[1].message


def test_missing_rules_pack(base: Path) -> None:
    p = only(MINIMAL + "rules:\n  packs:\n    - crisis\n    - hostility\n", base)
    assert (p.line, p.key) == (5, "rules.packs")
    assert "'hostility'" in p.message


def test_missing_rules_dir_and_helplines(base: Path) -> None:
    p = only(MINIMAL + "rules:\n  dir: nowhere\n", base)
    assert (p.line, p.key) == (3, "rules.dir")
    p = only(MINIMAL + "rules:\n  helplines: rules/nope.yaml\n", base)
    assert (p.line, p.key) == (3, "rules.helplines")


def test_country_codes(base: Path) -> None:
    assert load(MINIMAL + "community: {countries: [gb, ie]}\n", base).community.countries == (
        "GB", "IE")
    # Norway stays Norway (YAML 1.1 would read NO as false).
    assert load(MINIMAL + "community: {countries: [NO]}\n", base).community.countries == ("NO",)
    found = problems(MINIMAL + "community:\n  countries:\n    - UK\n    - USA\n", base)
    assert [(p.line, p.key) for p in found] == [(4, "community.countries"),
                                                (5, "community.countries")]
    assert "GB" in found[0].message


def test_all_problems_are_reported_at_once(base: Path) -> None:
    text = """\
platform: matrix
token: abc
channels:
  welcome: hi
unanswered:
  remind_after: 3h
  escalate_after: 1h
  remind_aftr: 2h
welcome:
  first_post: ping_greeters
  message: "{nope}"
content_warnings: {repost: true}
discord: {shard_ids: [0]}
"""
    found = problems(text, base)
    assert sorted((p.line, p.key) for p in found) == sorted([
        (2, "token"),
        (4, "channels.moderators"),
        (8, "unanswered.remind_aftr"),
        (7, "unanswered.escalate_after"),
        (10, "welcome.first_post"),
        (11, "welcome.message"),
        (12, "content_warnings.repost"),
        (13, "discord.shard_ids"),
        (1, "matrix.homeserver"),
        (1, "matrix.user_id"),
    ])
    message = str(ConfigError(found))
    assert "haven.yaml:2: token: secrets must not be stored" in message
    assert len(message.splitlines()) == len(found)


def test_load_config_from_file_reports_its_path(base: Path) -> None:
    path = base / "haven.yaml"
    path.write_text("channels:\n  moderators: m\n  nudgez: team\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{path}:3: channels.nudgez: unknown key "
                               "(did you mean 'nudges'?)")


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml")
    (p,) = info.value.problems
    assert (p.line, p.key) == (0, "file")
    assert "No such file" in p.message


# -- channel helpers (threads count as their parent channel) ---------------------------


@pytest.fixture
def config(base: Path) -> Config:
    return load(MINIMAL + """\
unanswered:
  remind_after: 2h
  escalate_after: 12h
  places: [support, {channel: "#vent", remind_after: 1h}, "555"]
content_warnings: {channels: [heavy-topics]}
""", base)


def test_support_place_by_name_hash_name_id_and_thread(config: Config) -> None:
    assert config.get(UNANSWERED_SECTION).support_place(Channel("c1", "support")) == SupportPlace("support", 7200, 43200)
    assert config.get(UNANSWERED_SECTION).support_place(Channel("c2", "vent")).remind_after == 3600
    assert config.get(UNANSWERED_SECTION).support_place(Channel("555", "renamed")).channel == "555"
    thread = Channel("t1", "my thread", kind="thread", parent_id="c1", parent_name="support")
    assert config.get(UNANSWERED_SECTION).support_place(thread).channel == "support"
    assert config.get(UNANSWERED_SECTION).support_place(Channel("c3", "general")) is None
    other_thread = Channel("t2", "x", kind="thread", parent_id="c3", parent_name="general")
    assert config.get(UNANSWERED_SECTION).support_place(other_thread) is None


def test_is_support_place_respects_enabled(config: Config, base: Path) -> None:
    assert config.get(UNANSWERED_SECTION).is_support_place(Channel("c1", "support"))
    assert not config.get(UNANSWERED_SECTION).is_support_place(Channel("c3", "general"))
    off = load(MINIMAL + "unanswered: {enabled: false, places: [support]}\n", base)
    assert not off.get(UNANSWERED_SECTION).is_support_place(Channel("c1", "support"))


def test_is_cw_channel_with_threads(config: Config) -> None:
    assert config.get(CONTENT_WARNINGS_SECTION).is_cw_channel(Channel("h", "heavy-topics"))
    assert config.get(CONTENT_WARNINGS_SECTION).is_cw_channel(Channel("t", "a thread", "thread", "h", "heavy-topics"))
    assert not config.get(CONTENT_WARNINGS_SECTION).is_cw_channel(Channel("g", "general"))
    assert not config.get(CONTENT_WARNINGS_SECTION).is_cw_channel(Channel("t", "heavy", "thread", "g", "general"))


def test_is_moderators_channel_with_threads(config: Config) -> None:
    assert config.is_moderators_channel(Channel("m", "mod-alerts"))
    assert config.is_moderators_channel(Channel("t", "case 5", "thread", "m", "mod-alerts"))
    assert not config.is_moderators_channel(Channel("g", "general"))
    assert not config.is_moderators_channel(Channel("t", "mod-alerts-x", "thread", "g", "general"))


# -- one mistake, one problem (no follow-on errors) ----------------------------------


def test_an_unreadable_duration_is_reported_once(base: Path) -> None:
    # field report: `remind_after: 1 minute` gave two follow-on errors besides the real one
    p = only(MINIMAL + "unanswered:\n  remind_after: 1 minute\n  escalate_after: 1h\n"
             "  places: [support, {channel: vent, escalate_after: 30m}]\n", base)
    assert (p.line, p.key) == (3, "unanswered.remind_after")
    p = only(MINIMAL + "unanswered:\n  places:\n    - {channel: vent, remind_after: soon, "
             "escalate_after: 1m}\n", base)
    assert p.key == "unanswered.places[0].remind_after"
    p = only(MINIMAL + "unanswered:\n  escalate_after: [1h]\n  remind_after: 2h\n", base)
    assert p.key == "unanswered.escalate_after"


def test_real_comparisons_are_still_reported(base: Path) -> None:
    p = only(MINIMAL + "unanswered:\n  remind_after: 2h\n  escalate_after: 1h\n", base)
    assert p.key == "unanswered.escalate_after" and "later than remind_after" in p.message


@pytest.mark.parametrize("text,key", [
    ("content_warnings: {redirect_to: '', repost: true}\n", "content_warnings.redirect_to"),
    ("roles: {greeters: {a: 1}}\nwelcome: {first_post: ping_greeters}\n", "roles.greeters"),
    ("discord: {shard_count: many, shard_ids: [0]}\n", "discord.shard_count"),
    ("platform: matrix\nmatrix: {homeserver: [x], user_id: '@h:x.org'}\n", "matrix.homeserver"),
])
def test_settings_that_depend_on_a_broken_one_stay_quiet(base: Path, text: str, key: str) -> None:
    assert only(MINIMAL + text, base).key == key


def test_problems_without_a_line_are_shown_without_one() -> None:
    assert str(Problem("haven.yaml", 0, "platform", "x")) == "haven.yaml: platform: x"
    assert str(Problem("haven.yaml", 4, "platform", "x")) == "haven.yaml:4: platform: x"


def test_config_remembers_top_level_lines(base: Path) -> None:
    config = load("# c\n" + MINIMAL + "platform: console\n", base)
    assert config.line_of("platform") == 3 and config.line_of("channels") == 2
    assert config.line_of("matrix") == 0


def test_paths_the_os_refuses_are_problems_not_crashes(base: Path) -> None:
    # found by the fuzzer: a 5,000-character rules.dir raised OSError (name too long)
    p = only(MINIMAL + f"rules: {{dir: {'a' * 5000}}}\n", base)
    assert p.key == "rules.dir" and "does not exist" in p.message
    p = only(MINIMAL + 'rules: {packs: ["x\\0y"]}\n', base)
    assert p.key == "rules.packs"


def test_odd_keys_are_shown_quoted(base: Path) -> None:
    # found by the fuzzer: an empty key was reported as "haven.yaml:2: : unknown key"
    p = only(MINIMAL + "'': 1\n", base)
    assert str(p) == "haven.yaml:2: '': unknown key"


def test_cw_exempt_defaults_to_the_support_places(base: Path) -> None:
    config = load(MINIMAL + "unanswered: {places: [support, {channel: vent}]}\n", base)
    assert config.content_warnings.exempt == ("support", "vent")
    assert config.get(CONTENT_WARNINGS_SECTION).is_exempt(Channel(id="1", name="support"))
    assert not config.get(CONTENT_WARNINGS_SECTION).is_exempt(Channel(id="2", name="general"))
    config = load(MINIMAL + "unanswered: {places: [support]}\ncontent_warnings: {exempt: []}\n",
                  base)
    assert config.content_warnings.exempt == ()
    p = only(MINIMAL + "content_warnings: {exempt: {a: 1}}\n", base)
    assert p.key == "content_warnings.exempt"


def test_the_community_time_zone(base: Path) -> None:
    config = load("channels: {moderators: mods}\ncommunity: {timezone: Europe/Amsterdam}\n", base)
    assert config.community.timezone == "Europe/Amsterdam"
    assert config.community.zone().key == "Europe/Amsterdam"
    assert load("channels: {moderators: mods}\n", base).community.timezone == "UTC"
    problem = only("channels: {moderators: mods}\ncommunity:\n  timezone: Mars/Olympus\n", base)
    assert (problem.line, problem.key) == (3, "community.timezone")
    assert "unknown time zone 'Mars/Olympus'" in problem.message

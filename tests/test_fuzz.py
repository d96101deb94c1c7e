"""Property-based fuzzing: what members write and what admins write can never crash Haven.

(a) Any Unicode text goes through normalisation and every shipped rule pack without an
    exception and within a bounded time per message.
(b) Malformed config, rule and helpline files (wrong types, unknown keys, bad nesting,
    odd scalars, broken YAML, binary junk) always give a :class:`ConfigError` whose
    problems each name the file and a real line, never a traceback or another exception.

Runs in ``make test`` (marker ``fuzz``); the example counts keep it to a few seconds.
``HAVEN_FUZZ_SCALE=20 .venv/bin/python -m pytest -m fuzz`` runs a longer, random search.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.app import load_config, load_config_text
from bot.core.config import Config
from bot.core.errors import ConfigError
from bot.core.templates import DEFAULT_TEMPLATES
from bot.rules.engine import Rulebook
from bot.rules.helplines import load_helplines
from bot.rules.normalise import normalise_text

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_RULES = ROOT / "rules"
EXAMPLE_CONFIG = (ROOT / "config.example.yaml").read_text()
# HAVEN_FUZZ_SCALE=20 fuzzes 20 times longer with fresh random examples (for a deep run);
# the default is a fixed, quick sample so `make test` stays fast and repeatable.
SCALE = max(1, int(os.environ.get("HAVEN_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=100 * SCALE, deadline=None, derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
MID = settings(FUZZ, max_examples=50 * SCALE)  # whole documents: ~40 ms each
FEW = settings(FUZZ, max_examples=15 * SCALE)  # loading a whole shipped pack takes ~0.3 s
PER_MESSAGE = 0.05  # seconds: generous; a message is handled in well under a millisecond


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return Rulebook.load(SHIPPED_RULES, None, DEFAULT_TEMPLATES)


# -- (a) member text ---------------------------------------------------------------------

# Characters the normaliser treats specially, mixed into arbitrary Unicode.
TRICKY = [*"*.-_ '’!@$013457|\\/()[]{}:;,?\n\t",
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u202e", "\u0301", "\u0336",
    "ſ", "K", "ﬁ", "Ⅸ", "①", "𝐤", "𝔦", "ｌ", "ǉ", "ß", "İ", "ı", "\u0000", "\ud7ff", "💀", "🔪",
]
WORDS = ["kill", "myself", "want", "to", "die", "end", "my", "life", "s u i c i d e", "k i l l",
         "su1c1de", "kms", "not", "never", "years", "ago", "cut", "self", "harm", "i", "im",
         "going", "tonight", "@", "***", "....", "kiiiiill", "lol", "you", "should"]
member_text = st.one_of(
    st.text(max_size=600),
    st.text(alphabet=st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=600),
    st.lists(st.sampled_from(WORDS + TRICKY), max_size=150).map(" ".join),
    st.lists(st.sampled_from(WORDS + TRICKY), max_size=300).map("".join),
)


def _timed(fn: Any, *args: Any) -> float:
    """The best of two runs (the machine is shared: one slow run is not the code)."""
    best = math.inf
    for _ in range(2):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
        if best < PER_MESSAGE:
            break
    return best


@FUZZ
@given(text=member_text)
@example(text="a" * 4000)
@example(text="s u i c i d e " * 150)
@example(text="*" * 2000)
@example(text="k" + "\u200b" * 1500 + "ill myself")
@example(text="\u0301" * 2000)
@example(text="." * 2000)
@example(text="i want to " * 200 + "kill myself")
@example(text="i want to \ud800 kill myself \udfff")  # lone surrogates, as JSON "\ud800" gives
def test_any_text_normalises_and_evaluates_quickly(shipped: Rulebook, text: str) -> None:
    assert isinstance(normalise_text(text), str)
    assert isinstance(shipped.evaluate(text), list)
    elapsed = _timed(lambda t: (normalise_text(t), shipped.evaluate(t)), text)
    assert elapsed < PER_MESSAGE, f"{elapsed * 1000:.1f} ms for {len(text)} chars"


# -- (b) admin files ---------------------------------------------------------------------

CONFIG_KEYS = [
    "platform", "database", "community", "rules", "channels", "roles", "welcome", "unanswered",
    "crisis", "content_warnings", "moderation", "templates", "discord", "matrix", "name",
    "countries", "newcomer_days", "dir", "packs", "helplines", "moderators", "welcome",
    "nudges", "peer_supporters", "greeters", "enabled", "privately", "message", "first_post",
    "greeting", "remind_after", "escalate_after", "count_next_message", "excerpt_chars",
    "quiet_hours", "places", "forum_tags", "waiting", "answered", "start", "end", "channel",
    "signpost", "reescalate_after", "signpost_again_after", "labels", "redirect_to", "repost",
    "exempt", "retention_days", "explain_in_channel", "application_id", "guild_ids",
    "shard_count", "shard_ids", "homeserver", "user_id", "device_id", "community_id",
    "allowed_servers", "spaces", "store_path", "moderator_power_level", "command_prefix",
    "token", "password", "warning", "hidden_post", "unknown_key", "Platform", "",
]
RULE_KEYS = [
    "id", "category", "severity", "priority", "description", "match", "any", "all", "unless",
    "keywords", "regex", "view", "scope", "channels", "include", "exclude", "exempt_roles",
    "actions", "alert_moderators", "urgency", "signpost", "topic", "reply", "template",
    "privately", "hide", "warn", "timeout", "minutes", "redirect_cw", "log", "explain",
    "examples", "no_match", "shadow", "cooldown", "new_members", "unknown",
]
HELPLINE_KEYS = [
    "countries", "international", "name", "services", "phone", "text", "url", "hours",
    "topics", "source", "checked", "US", "GB", "XX", "notes",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "~", "2h", "1 minute", "-5m", "23:00", "25:99", "22:00-07:00", "GB", "UK",
                     "discord", "matrix", "console", "critical", "crisis", "now", "[", "{{", "}",
                     "{member", "{nope}", "{0}", "{member.x}", "(?<", "(a+)+$", "\\", "@x:y",
                     "http://x", "#chan", "*", "é", "\u200b", "x" * 300, "a/" * 3000]),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
    st.binary(max_size=20),
)


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    """Nested YAML-able values whose mapping keys are mostly real setting names."""
    key = st.one_of(st.sampled_from(keys), st.integers(-3, 3), st.booleans(),
                    st.text(max_size=8))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=5),
                                st.dictionaries(key, inner, max_size=6)),
        max_leaves=40)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def assert_config_error(exc: ConfigError, filename: str) -> None:
    """Every problem names the file, a real line (>= 1) and a readable message."""
    assert exc.problems, "a ConfigError must list its problems"
    for problem in exc.problems:
        assert problem.file == filename, str(problem)
        assert isinstance(problem.line, int) and problem.line >= 1, str(problem)
        assert problem.key and problem.message, str(problem)
        assert str(problem).startswith(f"{filename}:{problem.line}: ")


def check_config_text(text: str, base: Path) -> None:
    try:
        config = load_config_text(text, "haven.yaml", base_dir=base)
    except ConfigError as exc:
        assert_config_error(exc, "haven.yaml")
    else:
        assert isinstance(config, Config)


def mutate(text: str, ops: list[tuple[int, int, str]]) -> str:
    """Replace, delete or insert lines of ``text`` (each op: kind, line number, junk)."""
    lines = text.splitlines()
    for kind, index, junk in ops:
        i = index % max(1, len(lines))
        if kind == 0 and lines:
            del lines[i]
        elif kind == 1:
            lines.insert(i, junk)
        elif kind == 2 and lines:
            lines[i] = lines[i][: len(lines[i]) // 2] + junk
        elif lines:
            lines.insert(i, lines[i])  # a duplicated line: often a duplicate key
    return "\n".join(lines) + "\n"


line_ops = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 500),
                              st.one_of(st.text(max_size=20),
                                        st.sampled_from(["  x: [", "\t- a", ": :", "- {", "? ",
                                                         "&a b", "*a", "!!python/object:os.system",
                                                         "%YAML 9.9", "---", "...", "  - - -",
                                                         "key: value: more", '"unterminated',
                                                         "'{{'"]))),
                    min_size=1, max_size=4)


@FUZZ
@given(data=documents(CONFIG_KEYS))
def test_generated_config_structures_give_config_errors(tmp_path: Path, data: Any) -> None:
    check_config_text(dump(data), tmp_path)


@FUZZ
@given(ops=line_ops)
def test_mangled_example_config_gives_config_errors(ops: list) -> None:
    check_config_text(mutate(EXAMPLE_CONFIG, ops), ROOT)


@FUZZ
@given(junk=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
@example(junk=b"\xff\xfe\x00\x00")
@example(junk=b"platform: discord\n\x00\x01")
@example(junk="a: &x [*x]\n")
@example(junk="a: !!binary AAAA\n")
@example(junk="a: !!python/object/apply:os.system ['true']\n")
@example(junk="- a\nb: c\n")
def test_junk_config_files_give_config_errors(tmp_path: Path, junk: bytes | str) -> None:
    path = tmp_path / "haven.yaml"
    if isinstance(junk, str):
        path.write_text(junk, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(junk)
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert_config_error(exc, str(path))
    else:
        assert isinstance(config, Config)


def check_rules_text(text: str) -> None:
    try:
        book = Rulebook.loads(text, "pack.yaml", DEFAULT_TEMPLATES)
    except ConfigError as exc:
        assert_config_error(exc, "pack.yaml")
    else:
        book.evaluate("i want to kill myself")


def rule_like() -> st.SearchStrategy[Any]:
    """Mostly rule-shaped mappings with wrong parts, sometimes anything at all."""
    value = documents(RULE_KEYS)
    base = st.fixed_dictionaries(
        {"id": st.one_of(st.text(max_size=12), scalars)},
        optional={k: value for k in ("category", "severity", "priority", "description",
                                     "match", "scope", "actions", "explain", "examples",
                                     "shadow", "cooldown", "unknown")})
    return st.one_of(base, value)


@FUZZ
@given(rules=st.one_of(st.lists(rule_like(), max_size=4), documents(RULE_KEYS)))
def test_generated_rule_files_give_config_errors(rules: Any) -> None:
    check_rules_text(dump(rules))


@FEW
@given(pack=st.sampled_from(sorted(p.name for p in SHIPPED_RULES.glob("*.yaml")
                                   if p.name != "helplines.yaml")),
       ops=line_ops)
def test_mangled_shipped_rule_packs_give_config_errors(pack: str, ops: list) -> None:
    check_rules_text(mutate((SHIPPED_RULES / pack).read_text(), ops))


@FUZZ
@given(data=st.one_of(documents(HELPLINE_KEYS), st.builds(
    lambda c, s: {"countries": {c: {"name": "X", "services": s}}},
    st.sampled_from(["US", "GB", "uk", "1", ""]), documents(HELPLINE_KEYS))))
def test_generated_helplines_give_config_errors(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "helplines.yaml"
    path.write_text(dump(data), encoding="utf-8")
    try:
        load_helplines(path, today=dt.date(2026, 11, 30))
    except ConfigError as exc:
        assert_config_error(exc, str(path))


def test_the_fuzzers_start_from_valid_files() -> None:
    # the mangling tests start from files that load
    assert isinstance(load_config_text(EXAMPLE_CONFIG, "haven.yaml", base_dir=ROOT), Config)
    Rulebook.loads((SHIPPED_RULES / "crisis.yaml").read_text(), "pack.yaml", DEFAULT_TEMPLATES)


# -- valid files with one part replaced: reaches the validators deep inside ----------------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) into a parsed YAML document."""
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in node.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(node)]


def _plain(node: Any) -> Any:
    """A LineDict/LineList document as plain dicts and lists (for yaml.safe_dump)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


EXAMPLE_DOC = _plain(yaml.safe_load(EXAMPLE_CONFIG))
SMALL_PACKS = {name: _plain(yaml.safe_load((SHIPPED_RULES / name).read_text()))[:3]
               for name in ("crisis.yaml", "method.yaml", "hostility.yaml", "pii.yaml",
                            "sensitive.yaml", "signposting.yaml")}


@MID
@given(data=st.data())
def test_example_config_with_one_value_replaced_gives_config_errors(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(EXAMPLE_DOC)[1:]), label="path")
    value = data.draw(documents(CONFIG_KEYS), label="value")
    check_config_text(dump(_replace(EXAMPLE_DOC, path, value)), ROOT)


@MID
@given(data=st.data())
def test_rules_with_one_value_replaced_give_config_errors(data: st.DataObject) -> None:
    pack = SMALL_PACKS[data.draw(st.sampled_from(sorted(SMALL_PACKS)), label="pack")]
    path = data.draw(st.sampled_from(_paths(pack)[1:]), label="path")
    value = data.draw(documents(RULE_KEYS), label="value")
    check_rules_text(dump(_replace(pack, path, value)))

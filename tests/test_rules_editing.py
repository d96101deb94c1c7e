"""The community rule file edited through the ruleset feature's editor (no web here)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.config import Config
from bot.core.errors import ConfigError
from bot.core.permissions import Permissions
from bot.core.runtime import Haven
from bot.detection.triage import SemanticMatch, semantic_rule
from bot.features.ruleset import RulesetFeature
from bot.features.ruleset.editing import RulesEditor, clean, unified_diff, write_atomic
from bot.rules.engine import Rulebook
from bot.rules.model import Match
from tests.conftest import BASE_CONFIG, TEST_RULES, Harness, make_config
from tests.fakes import MOD, command, member, post

ADMIN = member("ada", "Ada", roles=("Moderators",), admin=True)

GOOD = """\
- id: c-swearing
  category: hostility
  severity: medium
  description: Our own rule about shouting at people
  match:
    any:
      - keywords: ["shut up already"]
  actions:
    - hide
  explain: We keep this place calm, so we hid your post.
  examples:
    match: ["oh shut up already"]
    no_match: ["shut the door"]
"""

BAD_SEVERITY = GOOD.replace("severity: medium", "severity: huge")
FAILING_EXAMPLE = GOOD.replace('no_match: ["shut the door"]', 'no_match: ["shut up already"]')


@pytest.fixture
async def haven(tmp_path: Path) -> AsyncIterator[tuple[Harness, Path]]:
    """A started Haven whose rules folder (a copy) has a community file configured."""
    rules = tmp_path / "rules"
    shutil.copytree(TEST_RULES, rules)
    own = rules / "community.yaml"
    config = make_config(tmp_path, f"rules: {{dir: {rules}, helplines: {rules}/helplines.yaml, "
                                   f"community: {own}}}\n", rules=rules)
    h = Harness(config)
    await h.start()
    yield h, own
    await h.stop()


def editor(core: Haven | None) -> RulesEditor:
    assert core is not None
    feature = core.features["ruleset"]
    assert isinstance(feature, RulesetFeature)
    return feature.editor


async def test_validate_gives_file_line_errors_like_haven_check(haven: tuple[Harness, Path],
                                                                capsys: pytest.CaptureFixture[str]
                                                                ) -> None:
    h, own = haven
    ed = editor(h.core)
    assert ed.validate(GOOD) == []
    [problem] = ed.validate(BAD_SEVERITY)
    assert str(problem) == (f"{own}:3: c-swearing: unknown severity 'huge' "
                            "(one of: info, low, medium, high, critical)")
    # The same line haven check prints for the same file on disk.
    own.write_text(BAD_SEVERITY)
    assert main(["check", "--rules", str(own.parent)]) == 1
    assert str(problem) in capsys.readouterr().err


async def test_yaml_syntax_errors_and_duplicates_of_pack_ids_are_found(
        haven: tuple[Harness, Path]) -> None:
    h, own = haven
    ed = editor(h.core)
    [problem] = ed.validate("- id: x\n  category: [oops\n")
    assert problem.file == str(own) and problem.key == "yaml" and problem.line >= 2
    dup = GOOD.replace("id: c-swearing", "id: t-crisis")
    problems = ed.validate(dup)
    assert [p.key for p in problems] == ["t-crisis"]
    assert "duplicate id (first defined at" in problems[0].message
    assert ed.validate("") == []  # an empty community file holds no rules


async def test_run_examples_lists_the_failures_with_their_lines(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    checked = editor(h.core).run_examples(FAILING_EXAMPLE)
    assert not checked.problems and not checked.ok and checked.examples == 2
    [failure] = checked.failures
    assert failure.startswith(f"{own}:13: c-swearing: expected no match for \"shut up already\"")
    assert editor(h.core).run_examples(GOOD).ok


async def test_dry_run_explains_matches_against_the_rules_in_force_or_a_draft(
        haven: tuple[Harness, Path]) -> None:
    h, _ = haven
    ed = editor(h.core)
    run = await ed.dry_run("honestly I want to kill myself")
    [hit] = run.hits
    assert (hit.rule, hit.category, hit.reason, hit.matched) == (
        "t-crisis", "crisis", 'keyword "kill myself"', "kill myself")
    assert hit.description == "Test crisis intent" and "alert_moderators" in hit.actions
    assert not hit.semantic and run.semantic == "off"
    assert (await ed.dry_run("oh shut up already")).hits == ()
    draft = await ed.dry_run("oh shut up already", draft=GOOD)
    assert [x.rule for x in draft.hits] == ["c-swearing"] and draft.draft
    bad = await ed.dry_run("oh shut up already", draft=BAD_SEVERITY)
    assert bad.hits == () and bad.problems


async def test_dry_run_shows_the_semantic_stage_and_its_reason(haven: tuple[Harness, Path]) -> None:
    h, _ = haven

    class Stage:
        async def detect_async(self, text: str, existing: list[Match]) -> list[Match]:
            return [SemanticMatch(semantic_rule("crisis"), "semantic crisis score 0.91 "
                                  "(threshold 0.60)", "(semantic crisis)", 0.91)]

        def close(self) -> None:
            pass

    class Broken(Stage):
        async def detect_async(self, text: str, existing: list[Match]) -> list[Match]:
            raise RuntimeError("model gone")

    assert h.core is not None
    h.core.triage.semantic = Stage()
    run = await editor(h.core).dry_run("i have made my peace, goodbye everyone")
    [hit] = run.hits
    assert hit.semantic and hit.score == pytest.approx(0.91) and run.semantic == "on"
    assert hit.reason.startswith("semantic crisis score 0.91") and hit.file == "semantic"
    h.core.triage.semantic = Broken()
    run = await editor(h.core).dry_run("i want to kill myself")
    assert run.semantic == "failed" and [x.rule for x in run.hits] == ["t-crisis"]


async def test_save_refuses_invalid_text_and_keeps_the_old_rules(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    assert h.core is not None
    ed = editor(h.core)
    before = h.core.rules.current()
    saved = await ed.save(BAD_SEVERITY, ADMIN, "c1")
    assert saved.status == "invalid" and not saved.ok
    assert "NOT saved" in saved.message and saved.checked.problems
    assert h.core.rules.current() is before and not own.exists()
    assert await ed.history("c1") == []


async def test_failing_examples_block_the_save(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    assert h.core is not None
    own.write_text("# our rules\n")
    before = h.core.rules.current()
    saved = await editor(h.core).save(FAILING_EXAMPLE, ADMIN, "c1")
    assert saved.status == "examples_failed" and len(saved.checked.failures) == 1
    assert own.read_text() == "# our rules\n" and h.core.rules.current() is before


async def test_only_an_admin_may_save(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    saved = await editor(h.core).save(GOOD, MOD, "c1")
    assert saved.status == "forbidden" and not own.exists()


async def test_save_records_the_change_and_the_rule_works_on_the_next_message(
        haven: tuple[Harness, Path]) -> None:
    h, own = haven
    core = h.core
    assert core is not None
    ed = editor(core)
    h.clock.set(1_000_000.0)
    saved = await ed.save(GOOD.replace("\n", "\r\n"), ADMIN, "c1", base=ed.read().sha)
    assert saved.status == "saved" and saved.change_id and saved.case_id
    assert own.read_text() == GOOD  # browser line ends cleaned
    [change] = await ed.history("c1")
    assert (change.actor_id, change.actor_name, change.changed_at) == ("ada", "Ada", 1_000_000.0)
    assert change.added == GOOD.count("\n") and change.removed == 0
    assert "+++ b/community.yaml" in change.diff and "+- id: c-swearing" in change.diff
    case = await core.store.cases.get_case("c1", saved.case_id)
    assert case is not None and (case.action, case.actor_id) == ("rules_edit", "ada")
    assert f"change #{saved.change_id}" in case.reason
    assert core.rules.current().get("c-swearing") is not None
    # The next message meets the new rule.
    ev = post("oh shut up already", h.clock.now(), author=member("riley"))
    await core.handle(ev)
    await core.drain()
    assert [c.target for c in h.platform.of("hide")] == [ev.message.message_id]
    # A restart loads the community file after the packs.
    core = await h.restart()
    assert core.rules.current().get("c-swearing") is not None


async def test_a_second_editor_does_not_overwrite_the_first(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    ed = editor(h.core)
    opened = ed.read().sha
    assert (await ed.save(GOOD, ADMIN, "c1", base=opened)).status == "saved"
    late = await ed.save(GOOD.replace("medium", "high"), ADMIN, "c1", base=opened)
    assert late.status == "conflict" and own.read_text() == GOOD
    assert (await ed.save(GOOD, ADMIN, "c1")).status == "unchanged"


async def test_a_failed_write_records_nothing_and_keeps_the_rules(
        haven: tuple[Harness, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    h, own = haven
    assert h.core is not None
    before = h.core.rules.current()

    def refuse(path: Path, text: str) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr("bot.features.ruleset.editing.write_atomic", refuse)
    saved = await editor(h.core).save(GOOD, ADMIN, "c1")
    assert saved.status == "write_failed" and not own.exists()
    assert h.core.rules.current() is before
    assert await editor(h.core).history("c1") == []
    assert await h.core.store.cases.cases_since("c1", 0) == []


async def test_packs_list_the_files_in_force_with_the_community_file_last(
        haven: tuple[Harness, Path]) -> None:
    h, _ = haven
    ed = editor(h.core)
    assert (await ed.save(GOOD, ADMIN, "c1")).ok
    packs = ed.packs()
    assert [p.name for p in packs] == ["core", "community"] and packs[-1].community
    rule = packs[-1].rules[0]
    assert (rule.description, rule.category, [a.name for a in rule.actions],
            rule.examples_match) == ("Our own rule about shouting at people", "hostility",
                                     ["hide"], ("oh shut up already",))


async def test_no_community_file_configured(tmp_path: Path) -> None:
    h = Harness(make_config(tmp_path))
    await h.start()
    try:
        ed = editor(h.core)
        assert ed.path is None
        assert (await ed.save(GOOD, ADMIN, "c1")).status == "not_configured"
        assert ed.run_examples(GOOD).problems
    finally:
        await h.stop()


def test_rulebook_loads_the_community_file_once_even_inside_the_rules_folder(tmp_path: Path
                                                                              ) -> None:
    shutil.copytree(TEST_RULES, tmp_path / "rules")
    own = tmp_path / "rules" / "community.yaml"
    own.write_text(GOOD)
    book = Rulebook.load(tmp_path / "rules", None, None, own)
    assert [r.id for r in book.rules].count("c-swearing") == 1
    missing = Rulebook.load(tmp_path / "rules", ["core"], None, tmp_path / "nope.yaml")
    assert missing.get("c-swearing") is None


def test_helpers(tmp_path: Path) -> None:
    assert clean("a\r\nb\r\n\r\n") == "a\nb\n" and clean("  \n") == ""
    diff, added, removed = unified_diff("a\nb\n", "a\nc\n", "x.yaml")
    assert (added, removed) == (1, 1) and "-b\n+c\n" in diff
    target = tmp_path / "f.yaml"
    write_atomic(target, "one\n")
    write_atomic(target, "two\n")
    assert target.read_text() == "two\n" and [p.name for p in tmp_path.iterdir()] == ["f.yaml"]


def test_config_names_the_community_file_relative_to_the_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"rules: {{dir: {TEST_RULES}, helplines: "
                                   f"{TEST_RULES}/helplines.yaml, community: ours.yaml}}\n")
    assert config.rules.community == Path("ours.yaml")  # test configs sit in "."
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, f"rules: {{dir: {TEST_RULES}, helplines: "
                              f"{TEST_RULES}/helplines.yaml, community: nowhere/ours.yaml}}\n")
    [problem] = err.value.problems
    assert problem.key == "rules.community" and "does not exist" in problem.message


async def test_a_moderator_forgotten_stays_in_the_history_as_an_alias(
        haven: tuple[Harness, Path]) -> None:
    h, _ = haven
    assert h.core is not None
    assert (await editor(h.core).save(GOOD, ADMIN, "c1")).ok
    mine = await h.core.store.privacy.export("c1", "ada")
    assert [row["file"] for row in mine["rule_changes_by_you"]] == ["community.yaml"]
    await h.core.store.privacy.forget("c1", "ada", "forgotten-1")
    [change] = await editor(h.core).history("c1")
    assert (change.actor_id, change.actor_name) == ("forgotten-1", "forgotten-1")
    assert "rule_changes_by_you" not in await h.core.store.privacy.export("c1", "ada")


def test_only_admins_are_admins() -> None:
    perms = Permissions(Config())
    assert perms.is_admin(ADMIN) and not perms.is_admin(MOD)
    assert not perms.is_admin(member("b", bot=True, admin=True))


async def test_rules_reload_reads_the_community_file_too(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    assert h.core is not None
    own.write_text(GOOD)
    result = await h.core.handle(command("rules reload", h.clock.now()))
    assert result is not None and result.ok and "rules in force" in result.text
    assert h.core.rules.current().get("c-swearing") is not None


async def test_a_pack_changed_on_disk_is_read_again(haven: tuple[Harness, Path]) -> None:
    h, own = haven
    ed = editor(h.core)
    assert ed.validate(GOOD) == []
    core_pack = own.parent / "core.yaml"
    core_pack.write_text(core_pack.read_text() + "\n" + GOOD.replace("medium", "low"))
    [problem] = ed.validate(GOOD)
    assert problem.key == "c-swearing" and f"first defined at {core_pack}:" in problem.message


async def test_haven_check_with_the_config_checks_the_community_file(
        haven: tuple[Harness, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, own = haven
    config = tmp_path / "haven.yaml"
    rules = own.parent
    config.write_text(BASE_CONFIG.format(db=tmp_path / "check.db", rules=rules).replace(
        f"rules: {{dir: {rules}, helplines: {rules}/helplines.yaml}}",
        f"rules: {{dir: {rules}, helplines: {rules}/helplines.yaml, community: {own}}}"))
    assert main(["check", "--config", str(config)]) == 0
    own.write_text(BAD_SEVERITY)
    assert main(["check", "--config", str(config)]) == 1
    assert f"{own}:3: c-swearing: unknown severity 'huge'" in capsys.readouterr().err

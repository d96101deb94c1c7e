"""``haven check`` as a function (the CLI prints it, the dashboard's Settings page shows it)."""

from __future__ import annotations

from pathlib import Path

from bot.checkup import run_check

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_config_passes() -> None:
    report = run_check(ROOT / "config.example.yaml")
    assert report.ok and report.problems == ()
    assert report.summary.startswith("OK: config ") and " rules from " in report.summary
    assert report.detection.startswith("Semantic detection:")
    assert report.config is not None and report.config.community.name == "Harbour"


def test_every_problem_is_returned_with_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("platform: console\ncommunity: {name: Harbour}\nchannels: {}\n"
                   "detection: {semantic: off}\n")
    report = run_check(bad)
    assert not report.ok and report.summary == "" and report.config is None
    places = [f"{p.file}:{p.line}" for p in report.problems]
    assert f"{bad}:3" in places, places
    assert any(p.key == "channels.moderators" for p in report.problems)


def test_rules_only(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("- id: x\n  category: hostility\n"
                                          "  match: {nonsense: 1}\n")
    report = run_check(None, tmp_path)
    assert not report.ok
    where = f"{tmp_path / 'broken.yaml'}:3: x: match: unknown key 'nonsense'"
    assert any(str(p).startswith(where) for p in report.problems)

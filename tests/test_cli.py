"""The ``haven`` command line: check, rules test, scan, demo, invite-url."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_check_passes_on_example_config(capsys) -> None:
    assert main(["check", "--config", str(ROOT / "config.example.yaml")]) == 0
    assert "OK:" in capsys.readouterr().out


def test_check_lists_every_problem(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("platform: telegram\nchannels:\n  moderators: mods\n  welcom: x\n"
                   "unanswered:\n  remind_after: soon\n")
    assert main(["check", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}:1: platform:" in err
    assert f"{cfg}:4: channels.welcom: unknown key (did you mean 'welcome'?)" in err
    assert f"{cfg}:6: unanswered.remind_after:" in err
    assert "refuse to start" in err


def test_check_reports_broken_rules(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.yaml").write_text("- id: x\n  category: crisis\n  severity: critical\n"
                                       "  description: d\n  match: {any: [{regex: '(unclosed'}]}\n"
                                       "  actions: [hide]\n")
    (tmp_path / "helplines.yaml").write_text((ROOT / "rules" / "helplines.yaml").read_text())
    assert main(["check", "--rules", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and ": x:" in err


def test_rules_test_passes_on_shipped_packs(capsys) -> None:
    assert main(["rules", "test"]) == 0


def test_scan_over_stdin(monkeypatch, capsys) -> None:
    lines = [json.dumps({"text": "i want to kill myself"}), json.dumps({"text": "nice day"})]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["scan"]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[0]["text"] == "i want to kill myself"
    assert any(m["category"] == "crisis" for m in out[0]["matches"])
    assert out[1]["matches"] == []


def test_run_refuses_console_platform(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n")
    assert main(["run", "--config", str(cfg)]) == 1
    assert "needs platform: discord or matrix" in capsys.readouterr().err


def test_run_needs_token_from_environment(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("HAVEN_DISCORD_TOKEN", raising=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"platform: discord\nchannels: {{moderators: mods}}\n"
                   f"rules: {{dir: {ROOT / 'rules'}}}\n")
    assert main(["run", "--config", str(cfg)]) == 1
    assert "HAVEN_DISCORD_TOKEN" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "haven"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "demo" in out.stdout


def test_check_online_needs_a_config_and_the_secret(tmp_path: Path, capsys, monkeypatch) -> None:
    """`haven check --online` (issue 12): it connects with the real secret, so it needs both."""
    assert main(["check", "--online"]) == 1
    assert "--online needs --config" in capsys.readouterr().err
    for name in ("HAVEN_DISCORD_TOKEN", "HAVEN_MATRIX_TOKEN", "HAVEN_MATRIX_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    cfg = tmp_path / "haven.yaml"
    cfg.write_text(f"platform: matrix\nrules: {{dir: '{ROOT / 'rules'}'}}\n"
                   "channels: {moderators: '!mods:example.org'}\n"
                   "matrix: {homeserver: 'http://127.0.0.1:9', user_id: '@haven:example.org'}\n")
    assert main(["check", "--config", str(cfg), "--online"]) == 1
    err = capsys.readouterr().err
    assert "HAVEN_MATRIX_TOKEN" in err and "HAVEN_MATRIX_PASSWORD" in err and "is set" in err

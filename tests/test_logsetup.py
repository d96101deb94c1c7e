"""bot.logsetup: secrets from the environment never reach log output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logsetup import RedactSecrets, setup_logging

SECRET = "MTIzNDU2Nzg5MDEy.GhAbCd.sEcReT_tOkEn-value"


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records go through setup_logging's handler into a buffer."""
    monkeypatch.setenv("HAVEN_DISCORD_TOKEN", SECRET)
    monkeypatch.setenv("HAVEN_MATRIX_PASSWORD", "correct horse battery")
    monkeypatch.delenv("HAVEN_MATRIX_TOKEN", raising=False)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging("DEBUG")
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield logging.getLogger("haven.test"), buffer
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_secret_in_message_is_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture
    log.info(f"connecting with token {SECRET}")
    text = out.getvalue()
    assert SECRET not in text
    assert "connecting with token [redacted]" in text
    assert " INFO haven.test: " in text


def test_secret_in_percent_args_is_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture
    log.warning("header %s=%r for %d", "Authorization", f"Bot {SECRET}", 3)
    log.error("password %(pw)s", {"pw": "correct horse battery"})
    text = out.getvalue()
    assert SECRET not in text
    assert "correct horse battery" not in text
    assert "header Authorization='Bot [redacted]' for 3" in text
    assert "password [redacted]" in text


def test_secret_in_a_traceback_is_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture
    try:
        raise RuntimeError(f"login failed for {SECRET}")
    except RuntimeError:
        log.exception("could not connect")
    log.info("stack here %s", SECRET, stack_info=True)
    text = out.getvalue()
    assert "Traceback" in text
    assert "RuntimeError: login failed for [redacted]" in text
    assert SECRET not in text


def test_other_messages_are_untouched(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture
    log.info("%d%% done, 100%% sure", 50)
    assert "50% done, 100% sure" in out.getvalue()


def test_a_malformed_log_call_does_not_raise(capture: tuple[logging.Logger, io.StringIO],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    log, _ = capture
    monkeypatch.setattr(logging, "raiseExceptions", False)
    log.info("two args %s %s", "only one")  # logging reports it; the caller goes on


def test_short_or_empty_secrets_are_ignored() -> None:
    assert RedactSecrets(["", "abc", "longenough"]).secrets == ["longenough"]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "abc is fine", None, None)
    assert RedactSecrets(["", "abc"]).filter(record)
    assert record.getMessage() == "abc is fine"


def test_filter_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAVEN_MATRIX_TOKEN", "syt_matrix_secret")
    monkeypatch.delenv("HAVEN_DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("HAVEN_MATRIX_PASSWORD", raising=False)
    f = RedactSecrets()
    assert f.secrets == ["syt_matrix_secret"]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "t=%s", ("syt_matrix_secret",),
                               None)
    assert f.filter(record) is True
    assert record.getMessage() == "t=[redacted]"


def test_setup_logging_sets_levels(capture: tuple[logging.Logger, io.StringIO]) -> None:
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("discord").level == logging.INFO


@pytest.mark.parametrize(("level", "nio_level"), [("INFO", logging.WARNING),
                                                  ("WARNING", logging.WARNING),
                                                  ("DEBUG", logging.DEBUG)])
def test_matrix_nio_info_lines_are_quiet_unless_debug(level: str, nio_level: int) -> None:
    """Issue 12, item 15: nio's per-event INFO lines must not drown Haven's own."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging(level)
        assert logging.getLogger("nio").getEffectiveLevel() == nio_level
        assert logging.getLogger("nio.rooms").getEffectiveLevel() == nio_level
        assert logging.getLogger("bot.core.runtime").getEffectiveLevel() == logging.getLevelName(level)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        logging.getLogger("nio").setLevel(logging.NOTSET)

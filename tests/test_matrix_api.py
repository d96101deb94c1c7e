"""bot.adapters.matrix.api: nio error responses become Haven's errors."""

from __future__ import annotations

from nio import ErrorResponse

from bot.adapters.matrix.api import translate_error
from bot.core.errors import MissingPermission, NotFound, PlatformError, RateLimited


def test_error_translation() -> None:
    limited = translate_error(ErrorResponse("slow down", "M_LIMIT_EXCEEDED", 1500), "sending")
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5
    assert isinstance(translate_error(ErrorResponse("no", "M_FORBIDDEN"), "redact", "#r"),
                      MissingPermission)
    assert isinstance(translate_error(ErrorResponse("gone", "M_NOT_FOUND"), "x"), NotFound)
    other = translate_error(ErrorResponse("boom", "M_UNKNOWN"), "x")
    assert type(other) is PlatformError and other.retryable
    assert not translate_error(ErrorResponse("bad", "M_UNKNOWN_TOKEN"), "x").retryable

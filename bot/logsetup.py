"""Logging set-up: readable lines, and secrets never appear in them."""

from __future__ import annotations

import logging
import os

NOISY_LIBRARIES = ("nio", "peewee")
"""Libraries whose INFO lines are per event: shown only at DEBUG."""

SECRET_ENV = ("HAVEN_DISCORD_TOKEN", "HAVEN_MATRIX_TOKEN", "HAVEN_MATRIX_PASSWORD")


class RedactSecrets(logging.Filter):
    """Replace the values of secret environment variables in every log record."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        values = secrets if secrets is not None else [os.environ.get(k, "") for k in SECRET_ENV]
        self.secrets = [s for s in values if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[redacted]``."""
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            # A malformed log call: let the handler report it as logging does,
            # rather than raising into the code that logged.
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        # Tracebacks and stacks are formatted separately from the message.
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_PLAIN = logging.Formatter()


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps; redact secrets on every handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
    # matrix-nio logs a line per event at INFO, drowning Haven's own lines: only its
    # warnings unless HAVEN_LOG_LEVEL=DEBUG.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)

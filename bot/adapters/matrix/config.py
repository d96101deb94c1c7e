"""The ``matrix:`` section: Matrix connection settings (``HAVEN_MATRIX_TOKEN`` or
``HAVEN_MATRIX_PASSWORD`` come from the environment, never from the file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.errors import Problem
from bot.core.sections import Checks, Section, opt


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
    moderator_power_level: int = field(default=50, metadata=opt(between=(1, 100)))
    command_prefix: str = "!haven"


def _check(matrix: MatrixConfig, checks: Checks) -> list[Problem]:
    """With ``platform: matrix``, the homeserver and the bot's user id are needed and
    must look right (without a ``matrix:`` section, reported at the platform line)."""
    if checks.setting("platform") != "matrix":
        return []
    found = []
    for key in ("homeserver", "user_id"):
        if not getattr(matrix, key) and not checks.failed(f"matrix.{key}"):
            found.append(checks.problem(f"matrix.{key}", "required when platform is matrix",
                                        at=None if checks.given("matrix") else "platform"))
    if matrix.homeserver and not matrix.homeserver.startswith(("http://", "https://")):
        found.append(checks.problem("matrix.homeserver", "must start with https:// or http://"))
    if matrix.user_id and not (matrix.user_id.startswith("@") and ":" in matrix.user_id):
        found.append(checks.problem("matrix.user_id", "must look like @haven:example.org"))
    return found


MATRIX_SECTION = Section("matrix", MatrixConfig, check=_check)

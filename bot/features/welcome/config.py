"""The ``welcome:`` section: welcome on join and a greeting on a member's first post."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.core.config import ROLES_SECTION
from bot.core.errors import Problem
from bot.core.sections import Checks, Section, opt

FirstPost = Literal["greet", "ping_greeters", "off"]


@dataclass(frozen=True)
class WelcomeConfig:
    """Welcome on join and greeting on a first post."""

    enabled: bool = True
    privately: bool = True
    message: str = field(default="", metadata=opt(template=True))
    first_post: FirstPost = "greet"
    greeting: str = field(default="", metadata=opt(template=True))


def _check(welcome: WelcomeConfig, checks: Checks) -> list[Problem]:
    """``ping_greeters`` needs a greeters role to ping."""
    if (welcome.first_post == "ping_greeters" and not checks.get(ROLES_SECTION).greeters
            and not checks.failed("roles.greeters")):
        return [checks.problem("welcome.first_post",
                               "ping_greeters needs roles.greeters to name the greeters role")]
    return []


WELCOME_SECTION = Section("welcome", WelcomeConfig, check=_check)

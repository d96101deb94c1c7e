"""The ``crisis:`` section: crisis alerts to moderators and signposting to the member."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.core.sections import Section, opt

Signpost = Literal["privately", "reply"]


@dataclass(frozen=True)
class CrisisConfig:
    """Crisis alerts and signposting."""

    signpost: Signpost = "privately"
    reescalate_after: float = field(default=600.0, metadata=opt(duration=True, positive=True))
    excerpt_chars: int = field(default=200, metadata=opt(between=(0, 2000)))
    signpost_again_after: float = field(default=24 * 3600.0, metadata=opt(duration=True))


CRISIS_SECTION = Section("crisis", CrisisConfig)

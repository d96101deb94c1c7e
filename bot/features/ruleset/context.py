"""What the ruleset feature receives: detection's section (for feedback) and its
repositories (alerts for feedback, its change history, the case log)."""

from __future__ import annotations

from typing import ClassVar, Protocol

from bot.core.feature import FeatureContext
from bot.storage.database import Database, Migration
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.cases import CasesRepository
from bot.storage.repositories.rule_changes import RuleChangesRepository


class ReviewSettings(Protocol):
    """Where feedback goes: the ``detection:`` section's ``review_file`` (the composition
    root hands that section to this feature)."""

    review_file: str


class RulesetRepos:
    """What the ruleset feature reads and writes: alerts (feedback), the history of rule
    changes and the case log."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = RuleChangesRepository.MIGRATIONS
    """The history's own table (applied by the composition root)."""

    def __init__(self, db: Database) -> None:
        self.alerts = AlertsRepository(db)
        self.changes = RuleChangesRepository(db)
        self.cases = CasesRepository(db)


RulesetContext = FeatureContext[ReviewSettings, RulesetRepos]

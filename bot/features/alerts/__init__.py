"""Crisis and safety alerts for moderators, and signposting for members."""

from bot.core.feature import FeatureSpec
from bot.features.alerts.commands import AlertCommands
from bot.features.alerts.config import CRISIS_SECTION, CrisisConfig
from bot.features.alerts.feature import Alerts, AlertsRepos
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository

SPEC: FeatureSpec[CrisisConfig, AlertsRepos] = FeatureSpec(
    name="alerts", commands=AlertCommands, section=CRISIS_SECTION,
    repository=lambda db: AlertsRepos(AlertsRepository(db), DutyRepository(db)),
    build=lambda ctx, siblings: Alerts(ctx),
)

"""Crisis and safety alerts for moderators, and signposting for members."""

from bot.config import CrisisConfig
from bot.core.feature import FeatureSpec
from bot.features.alerts.feature import Alerts, AlertsRepos
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository

SPEC: FeatureSpec[CrisisConfig, AlertsRepos] = FeatureSpec(
    name="alerts", section=None,
    repository=lambda db: AlertsRepos(AlertsRepository(db), DutyRepository(db)),
    build=lambda ctx, siblings: Alerts(ctx),
)

"""What the alerts feature receives: its section and the repositories it reads."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.feature import FeatureContext
from bot.features.alerts.config import CrisisConfig
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository


@dataclass(frozen=True)
class AlertsRepos:
    """What the alerts feature stores and reads: alerts, and the duty roster to mention."""

    alerts: AlertsRepository
    duty: DutyRepository


AlertsContext = FeatureContext[CrisisConfig, AlertsRepos]

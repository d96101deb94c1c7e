"""Unanswered-post watch: nudges about support posts nobody answered."""

from bot.core.contracts import WarningLabels
from bot.core.feature import FeatureSpec
from bot.features.unanswered.commands import UnansweredCommands
from bot.features.unanswered.config import UNANSWERED_SECTION, UnansweredConfig
from bot.features.unanswered.feature import Unanswered
from bot.storage.repositories.posts import TrackedPostsRepository

SPEC: FeatureSpec[UnansweredConfig, TrackedPostsRepository] = FeatureSpec(
    name="unanswered", section=UNANSWERED_SECTION, commands=UnansweredCommands, repository=TrackedPostsRepository, needs=("content_warnings",),
    build=lambda ctx, siblings: Unanswered(
        ctx, labels=siblings.get("content_warnings", WarningLabels)),
)

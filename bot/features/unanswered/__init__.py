"""Unanswered-post watch: nudges about support posts nobody answered."""

from bot.config import UnansweredConfig
from bot.core.contracts import WarningLabels
from bot.core.feature import FeatureSpec
from bot.features.unanswered.feature import Unanswered
from bot.storage.repositories.posts import TrackedPostsRepository

SPEC: FeatureSpec[UnansweredConfig, TrackedPostsRepository] = FeatureSpec(
    name="unanswered", repository=TrackedPostsRepository, needs=("content_warnings",),
    build=lambda ctx, siblings: Unanswered(
        ctx, labels=siblings.get("content_warnings", WarningLabels)),
)

"""Unanswered-post watch: nudges about support posts nobody answered."""

from types import MappingProxyType

from bot.core.contracts import WarningLabels
from bot.core.feature import FeatureSpec
from bot.features.unanswered.commands import UnansweredCommands
from bot.features.unanswered.config import UNANSWERED_SECTION, UnansweredConfig
from bot.features.unanswered.feature import Unanswered
from bot.storage.repositories.posts import TrackedPostsRepository

TEMPLATES = MappingProxyType({
    "unanswered_nudge": "{mentions} A post in #{channel} has waited {waited} for a reply. "
                        "Could someone take a look?",
    "unanswered_escalation": "{mentions} **Unanswered for {waited}**: a post in #{channel} "
                             "still has no reply.",
    "unanswered_escalation_nudged": "{mentions} **Unanswered for {waited}**: a post in "
                                    "#{channel} still has no reply (peer supporters were nudged).",
    "unanswered_none": "Every support post has had a reply.",
    "unanswered_heading_one": "**{count} post waiting for a reply:**",
    "unanswered_heading": "**{count} posts waiting for a reply:**",
    "unanswered_item": "- #{channel}: waiting {waited} {link}",
})
"""The nudge to peer supporters, the escalation to moderators, the ``unanswered`` answer."""

SPEC: FeatureSpec[UnansweredConfig, TrackedPostsRepository] = FeatureSpec(
    name="unanswered", section=UNANSWERED_SECTION, commands=UnansweredCommands, repository=TrackedPostsRepository, needs=("content_warnings",),
    build=lambda ctx, siblings: Unanswered(
        ctx, labels=siblings.get("content_warnings", WarningLabels)),
    templates=TEMPLATES,
)

"""Duty: the on-duty roster, moderators' own quiet hours, and the shift logbook."""

from types import MappingProxyType

from bot.core.feature import Feature, FeatureSpec
from bot.features.duty.commands import DutyCommands, ShiftSources
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.cases import CasesRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.posts import TrackedPostsRepository

TEMPLATES = MappingProxyType({
    "duty_nobody": "Nobody is on duty: alerts mention the whole moderator role.",
    "duty_list": "On duty: {moderators}",
    "duty_list_item": "{moderator} (since {since})",
    "duty_on": "You are on duty: alerts will mention you (shared with others on duty). Use "
               "`duty off` when you finish.",
    "duty_off": "You are off duty. Thank you for your shift.",
    "quiet_cleared": "Quiet hours cleared.",
    "quiet_invalid": "{problem}. Example: `quiet 22:00-07:00` (UTC) or `quiet off`.",
    "quiet_set": "Quiet hours set to {hours} UTC: alerts won't mention you then.",
    "handover_added": "Added to the logbook (entry {entry}).",
    "handover_heading": "**Shift logbook**",
    "handover_item": "- {at} {moderator}: {text}",
    "handover_empty": "- (no entries yet; add one with `handover <text>`)",
    "handover_since": "**Since {since}:** {new_alerts}, {open_alerts} still open, {posts} "
                      "waiting for a reply, {cases}.",
    "handover_alert": "- alert #{alert} {kind} ({state}) {member} {link}",
    "handover_case": "- case #{case} {action} {member} ({reason})",
})
"""The answers to ``duty``, ``quiet`` and ``handover``."""

SPEC: FeatureSpec[None, ShiftSources] = FeatureSpec(
    name="duty", build=lambda ctx, siblings: Feature(), commands=DutyCommands,
    repository=lambda db: ShiftSources(DutyRepository(db), AlertsRepository(db),
                                       TrackedPostsRepository(db), CasesRepository(db)),
    templates=TEMPLATES,
)

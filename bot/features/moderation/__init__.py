"""Acting on the rules (hide, warn, time out, signpost, reply) and the case log."""

from types import MappingProxyType

from bot.core.contracts import AlertRaiser
from bot.core.feature import FeatureSpec
from bot.features.moderation.commands import ModerationCommands
from bot.features.moderation.feature import Moderation
from bot.storage.repositories.cases import CasesRepository

_HID = "Case #{case}: hid a post by {member} in #{channel} (rule `{rule}`)."
_NO_DM = " The author could not be messaged privately; their text is in case #{case}."
TEMPLATES = MappingProxyType({
    # a warning or timeout sent to a member ({text}: the `warning` or `timeout` template)
    "member_case_note": "{text}\n(Case #{case})",
    # the case log line in the moderators' channel when Haven hid a post
    "case_hidden_log": _HID,
    "case_hidden_log_link": _HID + " {link}",
    "case_hidden_log_no_dm": _HID + _NO_DM,
    "case_hidden_log_link_no_dm": _HID + " {link}" + _NO_DM,
    # answers to the moderators' commands
    "member_named": "{name} ({mention})",
    "member_lookup_failed": "I couldn't look up members on the platform just now; nothing was "
                            "done. Please try again in a moment.",
    "warn_done": "Warned {member} (case #{case}).",
    "note_done": "Note about {member} saved as case #{case}.",
    "case_unknown": "There is no case #{case}.",
    "case_header": "**Case #{case}: {action}** ({at})",
    "case_member": "Member: {member}",
    "case_by": "By: {moderator}",
    "case_rule": "Rule: `{rule}`",
    "case_reason": "Reason: {reason}",
    "history_none": "No cases about {member}.",
    "history_heading_one": "**{count} case about {member}:**",
    "history_heading": "**{count} cases about {member}:**",
    "history_item": "- #{case} {at} {action} by {moderator}: {reason}",
    "history_item_rule": "- #{case} {at} {action} `{rule}` by {moderator}: {reason}",
    "timeout_minutes": "minutes must be between 1 and 40320 (28 days).",
    "timeout_failed": "The timeout failed (missing permission or platform error); see the log.",
    "timeout_done_one": "Timed out {member} for {minutes} minute (case #{case}).",
    "timeout_done": "Timed out {member} for {minutes} minutes (case #{case}).",
})
"""Texts of the case log, the case number under a warning or timeout, and the answers to
``warn``, ``note``, ``case``, ``history`` and ``timeout``."""

SPEC: FeatureSpec[None, CasesRepository] = FeatureSpec(
    name="moderation", commands=ModerationCommands, repository=CasesRepository, needs=("alerts",),
    build=lambda ctx, siblings: Moderation(ctx, alerts=siblings.get("alerts", AlertRaiser)),
    templates=TEMPLATES,
)

"""Ruleset: reload the rules without a restart, dry-run a text, and collect feedback.

Its settings are semantic detection's (``detection.review_file``); the composition
root gives it that section.
"""

from types import MappingProxyType

from bot.core.feature import Feature, FeatureSpec
from bot.features.ruleset.commands import ReviewSettings, RulesetCommands
from bot.storage.repositories.alerts import AlertsRepository

_NOT_RELOADED = ("The rules were NOT reloaded; the old rules stay in force. "
                 "Problems:\n```\n{problems}\n```")
TEMPLATES = MappingProxyType({
    "rules_reload_failed": _NOT_RELOADED,
    "rules_reload_failed_more": _NOT_RELOADED + "\n...and {more} more.",
    "rules_reloaded": "Rules reloaded: {count} rules in force.",
    "rules_test_none": "No rule matches that text. (Dry run: nothing was done.)",
    "rules_test_heading": "Dry run, nothing was done. Matching rules:",
    "rules_test_item": "- `{rule}` ({category}, {severity}): {reason}; actions: {actions}",
    "rules_test_item_shadow": "- `{rule}` ({category}, {severity}) [shadow]: {reason}; "
                              "actions: {actions}",
    "rules_test_no_actions": "none",
    "feedback_alert_number": "Give the alert number, e.g. `feedback falsealarm none 12`.",
    "feedback_alert_unknown": "No alert #{alert} here.",
    "feedback_alert_purged": "Alert #{alert} no longer holds the post's text; use "
                             "`feedback missed <label> <text>` with the text instead.",
    "feedback_text_missing": "Give the post's text, e.g. `feedback missed crisis <text>`.",
    "feedback_write_failed": "Could not write the review file; nothing was saved.",
    "feedback_saved": "Saved for review as `{label}` ({count} item(s) waiting). An admin reviews "
                      "the file and retrains with `haven train --examples`.",
})
"""The answers to ``rules reload``, ``rules test`` and ``feedback``."""

SPEC: FeatureSpec[ReviewSettings, AlertsRepository] = FeatureSpec(
    name="ruleset", build=lambda ctx, siblings: Feature(), commands=RulesetCommands,
    repository=AlertsRepository, templates=TEMPLATES,
)

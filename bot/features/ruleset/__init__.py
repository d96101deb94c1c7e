"""Ruleset: reload the rules without a restart, dry-run a text, collect feedback, and
edit the community's own rule file (the dashboard's Rules page uses the built feature's
:attr:`RulesetFeature.editor`).

Its settings are semantic detection's (``detection.review_file``); the composition
root gives it that section.
"""

from types import MappingProxyType

from bot.core.feature import Feature, FeatureSpec, Siblings
from bot.features.ruleset.commands import RulesetCommands
from bot.features.ruleset.context import ReviewSettings, RulesetContext, RulesetRepos
from bot.features.ruleset.editing import RulesEditor

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
    "rules_edit_saved": "Saved: change #{change} (case #{case}); {count} rules in force now.",
    "rules_edit_unchanged": "Nothing to save: the file is unchanged.",
    "rules_edit_invalid": "NOT saved: {count} problem(s) in the rules; the old rules stay in "
                          "force.",
    "rules_edit_examples_failed": "NOT saved: {count} example(s) failed; the old rules stay in "
                                  "force.",
    "rules_edit_conflict": "NOT saved: someone saved the file since you opened it. Copy your "
                           "changes, reload the page and apply them again.",
    "rules_edit_forbidden": "Only a community admin may change the rules.",
    "rules_edit_not_configured": "No community rule file is configured (set `rules.community` "
                                 "in the config).",
    "rules_edit_write_failed": "NOT saved: the rule file could not be written; the old rules "
                               "stay in force.",
    "rules_edit_case": "Rule file {file} edited: {added} line(s) added, {removed} removed "
                       "(change #{change}).",
})
"""The answers to ``rules reload``, ``rules test``, ``feedback`` and the rule editor."""


class RulesetFeature(Feature):
    """The ruleset feature as built: its commands, and the editor the dashboard uses."""

    def __init__(self, ctx: RulesetContext) -> None:
        self.editor = RulesEditor(ctx)
        """The community rule file, checked, tried and saved."""


def _build(ctx: RulesetContext, siblings: Siblings) -> RulesetFeature:
    return RulesetFeature(ctx)


SPEC: FeatureSpec[ReviewSettings, RulesetRepos] = FeatureSpec(
    name="ruleset", build=_build, commands=RulesetCommands,
    repository=RulesetRepos, templates=TEMPLATES,
)

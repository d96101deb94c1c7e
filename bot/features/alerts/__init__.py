"""Crisis and safety alerts for moderators, and signposting for members."""

from types import MappingProxyType

from bot.core.contracts import ExcerptPolicy
from bot.core.feature import FeatureSpec
from bot.features.alerts.commands import AlertCommands
from bot.features.alerts.config import CRISIS_SECTION, CrisisConfig
from bot.features.alerts.context import AlertsRepos
from bot.features.alerts.feature import Alerts
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository

TEMPLATES = MappingProxyType({
    # the alert message for moderators: header, one line per part, status line
    "alert_header": "{mentions} **{title} #{alert}: {kind} ({severity})** [{state}]",
    "alert_title_new": "New alert",
    "alert_title_quiet": "Check in when you can",
    "alert_title_update": "Alert updated: another post",
    "alert_title_upgrade": "Alert upgraded: now urgent",
    "alert_title_reescalate": "Alert still unclaimed after {waited}",
    "alert_title_status": "Alert",
    "alert_state_open": "OPEN",
    "alert_state_claimed": "CLAIMED",
    "alert_state_resolved": "RESOLVED",
    "alert_excerpt_off": "_The post's words are not shown here (the moderators' choice); the "
                         "link opens it._",
    "alert_excerpt_spoiler": "{kind} alert: the post's words",
    "alert_withheld": "_Details withheld: this channel is not private (members can see it). Use "
                      "`{alerts_command}` (answered only to you) for who and where, and make this "
                      "channel private to moderators and Haven._",
    "alert_member": "Member: {mention} ({member})",
    "alert_where": "Where: {place}",
    "alert_where_many": "Where ({count} posts):\n{places}",
    "alert_place": "#{channel} {link}",
    "alert_place_private": "in a private message to Haven",
    "alert_place_item": "- {place}",
    "alert_places_earlier": "- ... {count} earlier post(s)",
    "alert_rule": "Rule: `{rule}`",
    "alert_rule_posts": "Rule: `{rule}` | posts: {count}",
    "alert_reason": "Why: {reason}",
    "alert_quiet_note": "A quiet note, no need to drop everything: someone may be struggling. "
                        "Please check in with them when you can.",
    "alert_hiding": "Haven was hiding this post when this alert was sent: please check that it "
                    "is gone.",
    "alert_hiding_case": "Haven was hiding this post (case #{case}) when this alert was sent: "
                         "please check that it is gone.",
    "alert_hidden": "The post was hidden; the member was sent their text privately.",
    "alert_hidden_case": "The post was hidden (case #{case}); the member was sent their text "
                         "privately.",
    "alert_hidden_no_dm": "The post was hidden, but the member could not be messaged privately: "
                          "please send them their text (see `{case_command}`).",
    "alert_hidden_no_dm_case": "The post was hidden (case #{case}), but the member could not be "
                               "messaged privately: please send them their text (see "
                               "`{case_command}`).",
    "alert_claimed_by": "Claimed by {moderator}.",
    "alert_resolved_by": "Resolved by {moderator}.",
    "alert_resolved_by_note": "Resolved by {moderator}. Note: {note}",
    "alert_someone": "a moderator",
    "alert_unclaimed_buttons": "Unclaimed: press Claim (or use `{claim_command}`) when you pick "
                               "it up.",
    "alert_unclaimed": "Unclaimed: use `{claim_command}` when you pick it up, `{resolve_command}` "
                       "when done.",
    # answers to claim and resolve (commands and buttons)
    "alert_unknown": "There is no alert #{alert}.",
    "alert_already_resolved": "Alert #{alert} is already resolved.",
    "alert_already_claimed": "Alert #{alert} is already claimed by {moderator}.",
    "alert_claim_done": "You have claimed alert #{alert}. Thank you.",
    "alert_resolve_done": "Alert #{alert} resolved.",
    "alert_resolve_done_note": "Alert #{alert} resolved. Note saved.",
    # the alerts command
    "alerts_none": "No open alerts.",
    "alerts_heading_one": "**{count} alert needs attention:**",
    "alerts_heading": "**{count} alerts need attention:**",
    "alerts_item_claimed": "- #{alert} {kind} ({severity}) {member} in #{channel}, {age} ago, "
                           "claimed by {moderator} {link}",
    "alerts_item": "- #{alert} {kind} ({severity}) {member} in #{channel}, {age} ago, "
                   "UNCLAIMED {link}",
})
"""The alert texts moderators read, and the answers to their alert commands."""

SPEC: FeatureSpec[CrisisConfig, AlertsRepos] = FeatureSpec(
    name="alerts", commands=AlertCommands, section=CRISIS_SECTION,
    repository=lambda db: AlertsRepos(AlertsRepository(db), DutyRepository(db)),
    wants=("care",),
    build=lambda ctx, siblings: Alerts(ctx, exposure=siblings.find("care", ExcerptPolicy)), templates=TEMPLATES,
)

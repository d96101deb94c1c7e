"""Care for the moderators: exposure settings, load awareness, break notes, after-care."""

from types import MappingProxyType

from bot.core.feature import FeatureSpec
from bot.features.care.commands import CareCommands
from bot.features.care.config import CARE_SECTION, CareConfig
from bot.features.care.feature import Care, CareSources
from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.duty import DutyRepository

TEMPLATES = MappingProxyType({
    "care_break": "You have handled {count} crisis alerts in the last {window}. That is a "
                  "lot to carry: please take a break if you can. {others} A note in the "
                  "logbook (`{handover}`) helps whoever picks up next. Thank you for what "
                  "you do.",
    "care_long_duty": "You have been on duty for {hours}. Thank you. When you can, take a "
                      "break: {others} Leave a note for the next shift with `{handover}` "
                      "and go off duty with `{off}`.",
    "care_others_on_duty": "{others} also on duty.",
    "care_nobody_else_on_duty": "Nobody else is on duty right now; alerts will reach the "
                                "whole moderator team if you step away.",
    "care_after_crisis": "Thank you for looking after alert #{alert}. Crisis alerts can stay "
                         "with you: be kind to yourself today.{resources} If you would like "
                         "someone from the team to check in with you, use `{checkin}`; it "
                         "asks quietly.",
    "care_resources": "\nSupport for moderators here:\n{resources}\n",
    "care_excerpts_on": "Alerts will show you the post's words (unless another moderator "
                        "they mention chose less).",
    "care_excerpts_spoiler": "Alerts will keep the post's words behind a spoiler, with what "
                             "kind of alert it is as the warning.",
    "care_excerpts_off": "Alerts will not show you the post's words, only who, where and how "
                         "urgent, with the link.",
    "care_team_empty": "No alerts were handled in the last 7 days.",
    "care_team_header": "**Who handled what** (last 24 hours / last 7 days):",
    "care_team_line": "- {moderator}: claimed {claimed}, resolved {resolved}, crisis "
                      "{crisis}, at night {night}",
    "care_checkin_request": "{moderator} would appreciate someone checking in with them "
                            "when you have a moment. No rush, and no need to reply here.",
    "care_checkin_sent": "I've asked the team, quietly, to check in with you. Take care.",
    "care_checkin_failed": "I couldn't post in the moderators' channel just now; please "
                           "message a colleague directly.",
})

SPEC: FeatureSpec[CareConfig, CareSources] = FeatureSpec(
    name="care", section=CARE_SECTION, commands=CareCommands, templates=TEMPLATES,
    repository=lambda db: CareSources(DutyRepository(db), AlertsRepository(db)),
    build=lambda ctx, siblings: Care(ctx),
)

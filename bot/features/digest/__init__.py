"""The review digest: flags that did not alert, reports and waiting first posts, twice a day."""

from types import MappingProxyType

from bot.core.feature import FeatureSpec
from bot.features.digest.commands import DigestCommands
from bot.features.digest.config import DIGEST_SECTION, DigestConfig
from bot.features.digest.feature import DigestFeature, DigestRepos

TEMPLATES = MappingProxyType({
    "digest_header": "**Review digest {number}**: {count} to look at. When done: {hint}",
    "digest_now": "**Waiting for review**: {count}. When done: {hint}",
    "digest_line": "{number}. **{kind}**: {who}{where}: {summary} {link}",
    "digest_where": " in #{channel}",
    "digest_more": "...and {count} more, see {hint}",
    "digest_nothing": "Nothing is waiting for review.",
    "digest_marked": "Marked {count} as reviewed. Thank you.",
    "digest_no_item": "There is no unreviewed item {item}. See {hint} for the numbers.",
    "digest_first_post": "a newcomer's first post, no reply for {waited}",
    "digest_kind_checkin": "Check-in note",
    "digest_kind_pii": "Personal details",
    "digest_kind_cw_redirect": "Moved to content-warning channel",
    "digest_kind_shadow": "Shadow rule",
    "digest_kind_report": "Reported by a member",
    "digest_kind_details": "Identifying details adding up",
    "digest_kind_first_post": "First post waiting",
    "report_thanks": "Thank you for telling us. The moderators will look at it privately; "
                     "nobody else sees your report.",
    "report_needs_link": "Please give the link to the post (copy it from the post's menu), "
                         "then a reason if you like.",
    "report_too_long": "Please keep the reason under {limit} characters.",
    "report_no_reason": "(no reason given)",
    "report_off": "Reports are not collected here. Please message a moderator directly; "
                  "they will be glad you did.",
})

SPEC: FeatureSpec[DigestConfig, DigestRepos] = FeatureSpec(
    name="digest", section=DIGEST_SECTION, repository=DigestRepos,
    commands=DigestCommands, templates=TEMPLATES,
    build=lambda ctx, siblings: DigestFeature(ctx),
)

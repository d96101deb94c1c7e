"""The alert message: one template per line, as moderators read it.

Never tells a channel other members can read who is in crisis or what they wrote;
shows the post's words as the moderators chose (plainly, behind a spoiler, or not at
all, see the care feature).
"""

from __future__ import annotations

import logging

from bot.core.clock import fmt_duration
from bot.core.events import Outgoing
from bot.core.messenger import quote
from bot.core.ports import Capability, ChannelPrivacy, capability, has
from bot.features.alerts.context import AlertsContext
from bot.storage.rows import Alert

log = logging.getLogger(__name__)

MAX_PLACES = 5
"""An alert shows the places of at most this many (latest) posts."""


class AlertView:
    """Renders alert messages for the moderators' channel."""

    def __init__(self, ctx: AlertsContext) -> None:
        self.ctx = ctx

    def render(self, alert: Alert, mode: str, users: tuple[str, ...] = (),
               roles: tuple[str, ...] = (), hidden: bool = False,
               returned: bool = True, case_number: int | None = None,
               hiding: bool = False, excerpts: str = "on") -> Outgoing:
        """The alert message for moderators (private channel only).

        When the adapter reports the moderators' channel as not private, the
        alert still goes out but the member's words are replaced by a note.
        A quiet alert (a concern) is a "check in when you can" note.
        """
        ctx = self.ctx
        t = ctx.templates
        platform = ctx.platform
        spoiler: tuple[str, str] | None = None
        who = " ".join([*(platform.user_mention(u) for u in users),
                        *(platform.role_mention(alert.community_id, r) for r in roles)])
        quiet = alert.urgency == "quiet"
        title = t.render(_title_template(mode, quiet),
                         waited=fmt_duration(ctx.clock.now() - alert.created_at))
        header = t.render("alert_header", mentions=who, title=title, alert=alert.number,
                          kind=alert.kind.capitalize(), severity=alert.severity,
                          state=t.render(f"alert_state_{alert.state}")).strip()
        if self._channel_not_private(alert.community_id):
            # Never tell a channel other members can read who is in crisis, or what they wrote.
            lines = [header, t.render("alert_withheld", alerts_command=ctx.hint("alerts"))]
        else:
            lines = [
                header,
                t.render("alert_member", mention=platform.user_mention(alert.member_id),
                         member=alert.member_name),
                *self.where_lines(alert),
                t.render("alert_rule_posts" if alert.count > 1 else "alert_rule",
                         rule=alert.rule_id, count=alert.count),
            ]
            if alert.reason:
                lines.append(t.render("alert_reason", reason=alert.reason))
            if quiet and alert.state == "open":
                lines.append(t.render("alert_quiet_note"))
            case = "_case" if case_number else ""
            if hiding and not hidden:
                lines.append(t.render(f"alert_hiding{case}", case=case_number))
            elif hidden:
                lines.append(t.render(f"alert_hidden{case}" if returned
                                      else f"alert_hidden_no_dm{case}", case=case_number,
                                      case_command=ctx.hint("case", str(case_number or ""))))
            if alert.excerpt and excerpts == "off":
                lines.append(t.render("alert_excerpt_off"))
            elif alert.excerpt and excerpts == "spoiler":
                spoiler = (t.render("alert_excerpt_spoiler", kind=alert.kind.capitalize()),
                           quote(alert.excerpt, ctx.config.excerpt_chars))
            elif alert.excerpt:
                lines.append(quote(alert.excerpt, ctx.config.excerpt_chars))
        lines.append(self.status_line(alert))
        return Outgoing("\n".join(lines), mention_users=users, mention_roles=roles,
                        spoiler=spoiler[0] if spoiler else None,
                        spoiler_text=spoiler[1] if spoiler else "",
                        alert_id=alert.number if alert.state != "resolved" else None)

    def where_lines(self, alert: Alert) -> list[str]:
        """Where the member posted: one line per post (channel and link), newest last.

        A private message to Haven is named as such, without a link.
        """
        t = self.ctx.templates
        places = alert.places_list() or [{"channel_name": alert.channel_name,
                                          "link": alert.link, "private": False}]

        def place(p: dict[str, object]) -> str:
            if p.get("private"):
                return t.render("alert_place_private")
            return t.render("alert_place", channel=p.get("channel_name") or "?",
                            link=p.get("link") or "").rstrip()

        if len(places) == 1:
            return [t.render("alert_where", place=place(places[0]))]
        shown = places[-MAX_PLACES:]
        items = []
        if len(places) > len(shown):
            items.append(t.render("alert_places_earlier", count=len(places) - len(shown)))
        items += [t.render("alert_place_item", place=place(p)) for p in shown]
        return t.render("alert_where_many", count=len(places),
                        places="\n".join(items)).split("\n")

    def _channel_not_private(self, community_id: str) -> bool:
        """Whether the platform reports the moderators' channel as visible to members.

        Only a definite ``False`` from the adapter's optional
        ``moderators_channel_is_private`` counts; platforms without it (console)
        and an unknown answer (``None``) keep the excerpt.
        """
        check = capability(self.ctx.platform, Capability.CHANNEL_PRIVACY, ChannelPrivacy)
        if check is None:
            return False
        try:
            return check.moderators_channel_is_private(community_id) is False
        except Exception:
            log.exception("checking whether the moderators' channel is private failed")
            return False

    def status_line(self, alert: Alert) -> str:
        """Who holds the alert now."""
        platform = self.ctx.platform
        t = self.ctx.templates
        if alert.state == "claimed" and alert.claimed_by:
            return t.render("alert_claimed_by", moderator=platform.user_mention(alert.claimed_by))
        if alert.state == "resolved":
            by = (platform.user_mention(alert.resolved_by) if alert.resolved_by
                  else t.render("alert_someone"))
            return t.render("alert_resolved_by_note" if alert.note else "alert_resolved_by",
                            moderator=by, note=alert.note or "")
        claim = self.ctx.hint("claim", str(alert.number))
        if has(self.ctx.platform, Capability.BUTTONS):
            return t.render("alert_unclaimed_buttons", claim_command=claim)
        resolve = self.ctx.hint("resolve", str(alert.number), "[note]")
        return t.render("alert_unclaimed", claim_command=claim, resolve_command=resolve)

def _title_template(mode: str, quiet: bool) -> str:
    """The template of an alert message's title, by why it is sent (``mode``)."""
    if quiet and mode in ("new", "status"):
        return "alert_title_quiet"
    if mode in ("new", "update", "upgrade", "reescalate"):
        return f"alert_title_{mode}"
    return "alert_title_status"

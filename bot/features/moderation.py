"""Turn matched rules into actions: plan (pure), then act.

Crisis language is never punished: when a crisis rule matches, every hide,
warn, timeout or redirect from other rules is dropped, except hiding method
details (which protects readers and is explained to the author). Every action
cites its rule, shows the member the rule's explanation, and is recorded as a case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.clock import fmt_duration
from bot.events import MessagePosted, Outgoing
from bot.messenger import quote
from bot.rules.rulebook import Match

if TYPE_CHECKING:
    from bot.core import Haven

log = logging.getLogger(__name__)

PUNITIVE = ("hide", "warn", "timeout", "redirect_cw")


@dataclass
class Plan:
    """What to do about one message, decided from its matches."""

    crisis: Match | None = None
    alert: Match | None = None
    hide: Match | None = None
    warn: list[Match] = field(default_factory=list)
    timeout: tuple[Match, float] | None = None
    signposts: list[tuple[str, bool | None, Match]] = field(default_factory=list)
    replies: list[tuple[str, bool, Match]] = field(default_factory=list)
    redirect_cw: Match | None = None
    logged: list[Match] = field(default_factory=list)
    shadow: list[Match] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What happened: whether the post is hidden and whether it raised a crisis alert."""

    hidden: bool = False
    crisis: bool = False
    alert_id: int | None = None


def plan(matches: list[Match]) -> Plan:
    """Decide the actions for a message's matches (pure; highest severity first)."""
    p = Plan()
    for m in matches:
        if m.rule.shadow:
            p.shadow.append(m)
            continue
        if m.rule.category == "crisis" and p.crisis is None:
            p.crisis = m
        for action in m.rule.actions:
            params = action.params
            if action.name == "alert_moderators" and p.alert is None:
                p.alert = m
            elif action.name == "hide" and p.hide is None:
                p.hide = m
            elif action.name == "warn" and not p.warn:
                p.warn.append(m)
            elif action.name == "timeout" and p.timeout is None:
                p.timeout = (m, float(params.get("minutes", 10)) * 60)
            elif action.name == "signpost":
                topic = str(params.get("topic", "crisis"))
                if all(t != topic for t, _, _ in p.signposts):
                    privately = params.get("privately")  # None: as config crisis.signpost says
                    p.signposts.append((topic, None if privately is None else bool(privately), m))
            elif action.name == "reply":
                p.replies.append((str(params["template"]), bool(params.get("privately", True)), m))
            elif action.name == "redirect_cw" and p.redirect_cw is None:
                p.redirect_cw = m
            elif action.name == "log":
                p.logged.append(m)
    if p.crisis is not None:
        # Never punish someone in crisis; only method details are still hidden.
        if p.hide is not None and p.hide.rule.category != "method":
            p.hide = None
        p.warn, p.timeout, p.redirect_cw = [], None, None
        p.replies = [r for r in p.replies if r[2].rule.category in ("crisis", "signpost")]
    if p.hide is not None:
        # A hidden post needs no "you may want to edit it" nudges; support still goes out.
        p.redirect_cw = None
        p.replies = [r for r in p.replies if r[2].rule.category in ("crisis", "signpost")]
        if p.hide.rule.category == "method" and all(t != "crisis" for t, _, _ in p.signposts):
            p.signposts.append(("crisis", True, p.hide))
    return p


class Moderation:
    """Carries out a :class:`Plan` for a message."""

    def __init__(self, core: Haven) -> None:
        self.core = core

    async def act(self, ev: MessagePosted, matches: list[Match]) -> Outcome:
        """Act on a message's matches; returns what happened."""
        core = self.core
        p = plan(matches)
        for m in p.shadow:
            log.info("shadow rule %s matched message %s (%s); nothing done", m.rule.id,
                     ev.message.message_id, m.reason)
        # Cooldowns: a rule that acted on this member recently stays quiet (alerts excepted).
        for m in [*p.warn, *(x[2] for x in p.replies)]:
            if await self._cooling(ev, m):
                p.warn = [w for w in p.warn if w is not m]
                p.replies = [r for r in p.replies if r[2] is not m]
        hidden = returned = False
        alert_id = case_id = None
        if p.hide is not None:
            hidden, returned, case_id = await self._hide(ev, p.hide, log_case=p.alert is None)
        if p.alert is not None:
            kind = "crisis" if p.crisis is not None else p.alert.rule.category
            urgency = next((str(a.params.get("urgency", "now")) for a in p.alert.rule.actions
                            if a.name == "alert_moderators"), "now")
            alert_id = await core.alerts.raise_alert(ev, p.crisis or p.alert, kind, hidden=hidden,
                                                     returned=returned, urgent=urgency == "now",
                                                     case_id=case_id)
        for topic, privately, m in p.signposts:
            await core.alerts.signpost(ev, topic, privately=privately, rule=m)
        for template, privately, m in p.replies:
            await self._reply(ev, template, privately, m)
        for m in p.warn:
            await self.warn(ev.community_id, ev.author.id, ev.author.name, m.rule.id,
                            m.rule.explain or m.rule.description, actor=None,
                            channel_id=ev.channel.id, message_id=ev.message.message_id)
        if p.timeout is not None:
            m, seconds = p.timeout
            await self.timeout(ev.community_id, ev.author.id, ev.author.name, seconds, m.rule.id,
                               m.rule.explain or m.rule.description, actor=None)
        for m in p.logged:
            await self._case(ev, "log", m, excerpt=None)
        for m in [*p.warn, *(r[2] for r in p.replies)]:
            if m.rule.cooldown:
                await core.store.start_cooldown(ev.community_id, m.rule.id, ev.author.id,
                                                ev.at + m.rule.cooldown)
        return Outcome(hidden=hidden, crisis=p.crisis is not None, alert_id=alert_id)

    async def _cooling(self, ev: MessagePosted, m: Match) -> bool:
        return bool(m.rule.cooldown) and await self.core.store.cooldown_active(
            ev.community_id, m.rule.id, ev.author.id, ev.at)

    async def _case(self, ev: MessagePosted, action: str, m: Match, excerpt: str | None) -> int:
        return await self.core.store.add_case(
            ev.community_id, action, m.rule.id, m.rule.explain or m.rule.description,
            "haven", "Haven", ev.author.id, ev.author.name, ev.at, ev.channel.id,
            ev.message.message_id, excerpt)

    async def _hide(self, ev: MessagePosted, m: Match,
                    log_case: bool) -> tuple[bool, bool, int | None]:
        """Hide a post and send it back; returns (hidden, returned, case number)."""
        core = self.core
        explain = m.rule.explain or m.rule.description
        values = dict(member=ev.author.name, channel=f"#{ev.channel.name}", rule=m.rule.id,
                      explain=explain, text=quote(ev.text))
        hidden, returned = await core.messenger.hide_and_return(
            ev, rule=m.rule.id, explain=explain,
            private_text=core.templates.render("hidden_post", **values),
            notice=core.templates.render("hidden_notice", **{**values, "member": _mention(core, ev)}),
            notice_no_dm=core.templates.render("hidden_notice_no_dm",
                                               **{**values, "member": _mention(core, ev)}))
        case_id = None
        if hidden:
            # The full text is kept in the case (retention-limited) when it could not be
            # returned privately, so a moderator can send it back; otherwise a short excerpt.
            keep = ev.text if not returned else ev.text[:200]
            case_id = await self._case(ev, "hide", m, excerpt=keep)
            if log_case:
                await core.messenger.send(ev.community_id, core.config.channels.moderators, Outgoing(
                    f"Case #{case_id}: hid a post by {ev.author.name} in #{ev.channel.name} "
                    f"(rule `{m.rule.id}`). {ev.link}".rstrip()
                    + ("" if returned else " The author could not be messaged privately; "
                       f"their text is in case #{case_id}.")))
        return hidden, returned, case_id

    async def _reply(self, ev: MessagePosted, template: str, privately: bool, m: Match) -> None:
        core = self.core
        text = core.templates.render(template, member=ev.author.name, channel=f"#{ev.channel.name}",
                                     rule=m.rule.id, explain=m.rule.explain or m.rule.description,
                                     community=core.platform.community_name(ev.community_id))
        if privately:
            await core.messenger.private(ev.community_id, ev.author.id, Outgoing(text))
        else:
            await core.messenger.reply(ev.message, Outgoing(text, mention_users=(ev.author.id,)))

    async def warn(self, community_id: str, user_id: str, name: str, rule: str, explain: str,
                   actor: tuple[str, str] | None, channel_id: str | None = None,
                   message_id: str | None = None) -> int:
        """Warn a member (same words every time), record a case; returns the case number."""
        core = self.core
        actor_id, actor_name = actor or ("haven", "Haven")
        case_id = await core.store.add_case(community_id, "warn", rule, explain, actor_id,
                                            actor_name, user_id, name, core.clock.now(),
                                            channel_id, message_id)
        text = core.templates.render("warning", member=name, rule=rule, explain=explain,
                                     community=core.platform.community_name(community_id))
        await core.messenger.private(community_id, user_id, Outgoing(f"{text}\n(Case #{case_id})"))
        return case_id

    async def timeout(self, community_id: str, user_id: str, name: str, seconds: float, rule: str,
                      explain: str, actor: tuple[str, str] | None) -> int | None:
        """Time a member out, tell them why, record a case; ``None`` if the platform refused."""
        from bot.errors import MissingPermission, PlatformError

        core = self.core
        try:
            await core.platform.timeout(community_id, user_id, seconds, f"Haven: {rule}")
        except MissingPermission as exc:
            await core.messenger.report_missing(community_id, exc)
            return None
        except PlatformError as exc:
            log.warning("timeout of %s failed: %s", user_id, exc)
            return None
        actor_id, actor_name = actor or ("haven", "Haven")
        case_id = await core.store.add_case(community_id, "timeout", rule,
                                            f"{explain} ({fmt_duration(seconds)})", actor_id,
                                            actor_name, user_id, name, core.clock.now())
        text = core.templates.render("timeout", member=name, rule=rule, explain=explain,
                                     duration=fmt_duration(seconds),
                                     community=core.platform.community_name(community_id))
        await core.messenger.private(community_id, user_id, Outgoing(f"{text}\n(Case #{case_id})"))
        return case_id


def _mention(core: Haven, ev: MessagePosted) -> str:
    return core.platform.user_mention(ev.author.id)

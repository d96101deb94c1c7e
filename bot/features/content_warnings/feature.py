"""Content-warning channels: warnings before distressing content.

In a channel marked as a CW channel, a post must start with a label such as
``CW:`` or ``TW:`` or be wholly in spoilers. Elsewhere, a post matching a
``redirect_cw`` rule (the ``sensitive`` pack) is redirected to the CW channel.
Either way the post is hidden, its author gets their text back with how to
repost it, and the channel gets a short note saying what happened (moved, or
hidden and sent back). Edits are checked like new posts. Channels listed in
``content_warnings.exempt`` (by default the support places) are never redirected:
someone asking for support there is not sent elsewhere.
"""

from __future__ import annotations

import logging
import re

from bot.core.events import Channel, Flagged, MessagePosted, Outgoing
from bot.core.feature import Feature, FeatureContext, MessageOutcome, Stage
from bot.core.messenger import quote
from bot.features.content_warnings.config import ContentWarningsConfig
from bot.rules.model import Match
from bot.rules.planner import plan
from bot.storage.repositories.cases import CasesRepository

ContentWarningsContext = FeatureContext[ContentWarningsConfig, CasesRepository]

log = logging.getLogger(__name__)


def label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    """A pattern for a post that starts with one of ``labels`` (``CW:``, ``[TW]``, ``cw -``)."""
    words = sorted({re.sub(r"[\s:\-\[\]]+$", "", lab).strip("[").lower() for lab in labels},
                   key=len, reverse=True)
    alternation = "|".join(re.escape(w) for w in words if w)
    return re.compile(rf"^\W{{0,3}}(?:{alternation})(?:\s*/\s*(?:{alternation}))?\s*[:\-–—\]|]",
                      re.IGNORECASE)


class ContentWarnings(Feature):
    """Enforces CW channels and redirects sensitive posts to them."""

    def __init__(self, ctx: ContentWarningsContext) -> None:
        self.ctx = ctx
        self._label = label_pattern(ctx.config.labels)

    def stages(self) -> list[Stage]:
        """First of the follow-up; crisis and concern posts are never redirected or hidden."""
        return [Stage("content_warnings.check", 20, "follow_up", self._check_stage,
                      skip=frozenset({"hidden", "support"}))]

    async def _check_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        if await self.check(ev, outcome.matches):
            outcome.hidden = True

    def in_warning_channel(self, channel: Channel) -> bool:
        """Whether ``channel`` is a content-warning channel."""
        return self.ctx.config.is_cw_channel(channel)

    def has_warning(self, ev: MessagePosted) -> bool:
        """Whether the post starts with a CW label or is wholly in spoilers."""
        return ev.spoilered or bool(self._label.match(ev.text.strip()))

    async def check(self, ev: MessagePosted, matches: list[Match]) -> bool:
        """Enforce CW rules on a post; returns whether it was hidden."""
        ctx = self.ctx
        cfg = ctx.config
        label = cfg.labels[0] if cfg.labels else "CW:"
        mention = ctx.platform.user_mention(ev.author.id)
        if ctx.config.is_cw_channel(ev.channel):
            if self.has_warning(ev):
                return False
            text = ctx.templates.render("cw_missing", member=ev.author.name,
                                         channel=f"#{ev.channel.name}", label=label,
                                         text=quote(ev.text))
            notice = ctx.templates.render("cw_missing_notice", member=mention, label=label)
            hidden, returned = await ctx.messenger.hide_and_return(
                ev, rule="cw-required", explain="content warning missing", private_text=text,
                notice=notice, notice_no_dm=ctx.templates.render(
                    "cw_missing_notice_no_dm", member=mention, label=label))
            if hidden:
                await self._record(ev, "hide", "cw-required", "content warning missing", returned)
            return hidden
        redirect = plan(matches).redirect_cw
        target = cfg.redirect_to or (cfg.channels[0] if cfg.channels else None)
        if (redirect is None or target is None or self.has_warning(ev)
                or ctx.config.is_exempt(ev.channel)):
            return False
        topic = redirect.rule.description or redirect.rule.id
        cw_channel = ctx.platform.channel_mention(ev.community_id, target)
        values = dict(member=ev.author.name, channel=f"#{ev.channel.name}", label=label,
                      cw_channel=cw_channel, explain=redirect.rule.explain or topic,
                      text=quote(ev.text), rule=redirect.rule.id)
        # Hide first: if that is refused, the post stays where it is and is not copied.
        if not await ctx.messenger.hide(ev, f"Haven: {redirect.rule.id}"):
            return False
        reposted = False
        if cfg.repost:
            try:
                await ctx.platform.repost(ev.community_id, target, ev.author, Outgoing(
                    ctx.templates.render("cw_repost", **values, topic=topic),
                    spoiler=f"{label} {topic}", spoiler_text=ev.text))
                reposted = True
            except Exception as exc:
                log.warning("could not repost into the CW channel: %s", exc)
        template = "cw_reposted" if reposted else "cw_redirect"
        returned = await ctx.messenger.private(
            ev.community_id, ev.author.id,
            Outgoing(ctx.templates.render(template, **values))) == "private"
        # Say what really happened: moved (reposted there) or hidden and sent back.
        notice_template = ("cw_notice" if reposted else
                           "cw_notice_hidden" if returned else "cw_notice_no_dm")
        notice = ctx.templates.render(notice_template, member=mention, cw_channel=cw_channel,
                                       label=label)
        if ctx.core.moderation.explain_in_channel:
            await ctx.messenger.send(ev.community_id, ev.channel.id,
                                      Outgoing(notice, mention_users=(ev.author.id,)))
        await self._record(ev, "redirect", redirect.rule.id, values["explain"], returned)
        ctx.publish(Flagged(ev.community_id, ev.at, kind="cw_redirect",
                            key=f"{ev.message.message_id}:cw_redirect",
                            member_id=ev.author.id, member_name=ev.author.name,
                            channel_name=ev.channel.name, link=ev.link,
                            summary=f"moved to the content-warning channel ({redirect.rule.id})"))
        return True

    async def _record(self, ev: MessagePosted, action: str, rule: str, explain: str,
                      returned: bool) -> None:
        """Record the case; if the author did not get their text, keep all of it there and
        tell the moderators so someone can send it."""
        ctx = self.ctx
        case = await ctx.repo.record_case(
            ev.community_id, action, rule, explain, "haven", "Haven", ev.author.id,
            ev.author.name, ev.at, ev.channel.id, ev.message.message_id,
            ev.text[:200] if returned else ev.text)
        if not returned:
            await ctx.messenger.send(ev.community_id, ctx.core.channels.moderators, Outgoing(
                ctx.templates.render("cw_case_no_dm", case=case.number, member=ev.author.name,
                                     channel=ev.channel.name, rule=rule)))

"""A warm first contact: a welcome on join and a greeting on a member's first post.

Each member is welcomed once and greeted once, also across restarts (the store
remembers). A welcome that cannot be sent privately falls back to the welcome
channel.
"""

from __future__ import annotations

import logging

from bot.core.commandspec import command_prefix
from bot.core.contracts import MemberDirectory
from bot.core.events import MemberJoined, MessagePosted, Outgoing
from bot.core.feature import EventHandler, Feature, FeatureContext, MessageOutcome, Stage
from bot.core.templates import render
from bot.features.welcome.config import WelcomeConfig
from bot.storage.repositories.members import MembersRepository

WelcomeContext = FeatureContext[WelcomeConfig, MembersRepository]

log = logging.getLogger(__name__)


class Welcome(Feature):
    """Welcomes newcomers and greets first posts."""

    def __init__(self, ctx: WelcomeContext, members: MemberDirectory) -> None:
        self.ctx = ctx
        self.members = members

    def stages(self) -> list[Stage]:
        """Greet a newcomer's first post (not an edit, not a hidden or crisis post)."""
        return [Stage("welcome.first_post", 40, "follow_up", self._first_post_stage,
                      skip=frozenset({"edited", "hidden", "crisis"}))]

    def handlers(self) -> dict[type, EventHandler]:
        """Welcome on join."""
        return {MemberJoined: self.on_join}

    async def _first_post_stage(self, ev: MessagePosted, outcome: MessageOutcome) -> None:
        if outcome.first_post and await self.members.is_newcomer(ev):
            await self.on_first_post(ev)

    def welcome_text(self, community_id: str, member_name: str) -> str:
        """The welcome message, filled in for this community and member."""
        ctx = self.ctx
        template = ctx.config.message or ctx.templates.get("welcome")
        rules = ctx.core.channels.rules
        return render(template, {
            "member": member_name,
            "community": ctx.platform.community_name(community_id),
            "rules_channel": ctx.platform.channel_mention(community_id, rules) if rules
            else ctx.templates.render("welcome_no_rules_channel"),
            # "use `!haven resources`" on Matrix, "`/resources`" on Discord
            "command_prefix": command_prefix(ctx.platform.name, ctx.platform.command_prefix),
        })

    async def on_join(self, ev: MemberJoined) -> None:
        """Welcome a newcomer, once."""
        ctx = self.ctx
        cfg = ctx.config
        if not cfg.enabled or ev.member.is_bot:
            return
        if not await ctx.repo.mark_welcomed(ev.community_id, ev.member.id, ev.member.name, ev.at):
            log.info("member %s was welcomed before; not again", ev.member.id)
            return
        text = self.welcome_text(ev.community_id, ev.member.name)
        public = Outgoing(ctx.templates.render("welcome_in_channel", text=text,
                                               mention=ctx.platform.user_mention(ev.member.id)),
                          mention_users=(ev.member.id,))
        channel = ctx.core.channels.welcome or (ev.channel.id if ev.channel else None)
        if cfg.privately:
            result = await ctx.messenger.private(ev.community_id, ev.member.id, Outgoing(text),
                                                  fallback=public, fallback_channel=channel)
        else:
            sent = await ctx.messenger.send(ev.community_id, channel, public) if channel else None
            result = "fallback" if sent else "failed"
        if result == "failed":
            log.warning("could not welcome member %s anywhere", ev.member.id)

    async def on_first_post(self, ev: MessagePosted) -> None:
        """Greet a member's first post (or ping the greeters), once."""
        ctx = self.ctx
        cfg = ctx.config
        if not cfg.enabled or cfg.first_post == "off":
            return
        if not await ctx.repo.mark_greeted(ev.community_id, ev.author.id, ev.at):
            return
        mention = ctx.platform.user_mention(ev.author.id)
        if cfg.first_post == "ping_greeters":
            roles = ctx.core.roles.greeters
            greeters = " ".join(ctx.platform.role_mention(ev.community_id, r) for r in roles)
            text = ctx.templates.render("greeter_ping", greeters=greeters, member=mention)
            await ctx.messenger.reply(ev.message, Outgoing(text, mention_roles=tuple(roles)))
        else:
            template = cfg.greeting or ctx.templates.get("greeting")
            text = render(template, {"member": mention,
                                     "community": ctx.platform.community_name(ev.community_id)})
            await ctx.messenger.reply(ev.message, Outgoing(text, mention_users=(ev.author.id,)))

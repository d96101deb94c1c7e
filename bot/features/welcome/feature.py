"""A warm first contact: a welcome on join and a greeting on a member's first post.

Each member is welcomed once and greeted once, also across restarts (the store
remembers). A welcome that cannot be sent privately falls back to the welcome
channel.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.core.commandspec import command_prefix
from bot.core.events import MemberJoined, MessagePosted, Outgoing

if TYPE_CHECKING:
    from bot.core.runtime import Haven

log = logging.getLogger(__name__)


class Welcome:
    """Welcomes newcomers and greets first posts."""

    def __init__(self, core: Haven) -> None:
        self.core = core

    def welcome_text(self, community_id: str, member_name: str) -> str:
        """The welcome message, filled in for this community and member."""
        core = self.core
        template = core.config.welcome.message or core.templates.get("welcome")
        rules = core.config.channels.rules
        from bot.core.templates import render

        return render(template, {
            "member": member_name,
            "community": core.platform.community_name(community_id),
            "rules_channel": core.platform.channel_mention(community_id, rules) if rules
            else "the house rules",
            # "use `!haven resources`" on Matrix, "`/resources`" on Discord
            "command_prefix": command_prefix(core.platform.name, core.config.matrix.command_prefix),
        })

    async def on_join(self, ev: MemberJoined) -> None:
        """Welcome a newcomer, once."""
        core = self.core
        cfg = core.config.welcome
        if not cfg.enabled or ev.member.is_bot:
            return
        if not await core.store.mark_welcomed(ev.community_id, ev.member.id, ev.member.name, ev.at):
            log.info("member %s was welcomed before; not again", ev.member.id)
            return
        text = self.welcome_text(ev.community_id, ev.member.name)
        public = Outgoing(f"{core.platform.user_mention(ev.member.id)} {text}",
                          mention_users=(ev.member.id,))
        channel = core.config.channels.welcome or (ev.channel.id if ev.channel else None)
        if cfg.privately:
            result = await core.messenger.private(ev.community_id, ev.member.id, Outgoing(text),
                                                  fallback=public, fallback_channel=channel)
        else:
            sent = await core.messenger.send(ev.community_id, channel, public) if channel else None
            result = "fallback" if sent else "failed"
        if result == "failed":
            log.warning("could not welcome member %s anywhere", ev.member.id)

    async def on_first_post(self, ev: MessagePosted) -> None:
        """Greet a member's first post (or ping the greeters), once."""
        core = self.core
        cfg = core.config.welcome
        if not cfg.enabled or cfg.first_post == "off":
            return
        if not await core.store.mark_greeted(ev.community_id, ev.author.id, ev.at):
            return
        mention = core.platform.user_mention(ev.author.id)
        if cfg.first_post == "ping_greeters":
            roles = core.config.roles.greeters
            greeters = " ".join(core.platform.role_mention(ev.community_id, r) for r in roles)
            text = core.templates.render("greeter_ping", greeters=greeters, member=mention)
            await core.messenger.reply(ev.message, Outgoing(text, mention_roles=tuple(roles)))
        else:
            template = cfg.greeting or core.templates.get("greeting")
            from bot.core.templates import render

            text = render(template, {"member": mention,
                                     "community": core.platform.community_name(ev.community_id)})
            await core.messenger.reply(ev.message, Outgoing(text, mention_users=(ev.author.id,)))

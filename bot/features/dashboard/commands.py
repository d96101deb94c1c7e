"""``dashboard``: a private one-time sign-in link, or ``dashboard logout-all``."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from bot.core.commands import Arg, Invocation, command
from bot.core.errors import PlatformError, PrivateMessagesClosed
from bot.core.events import CommandResult, Outgoing
from bot.core.templates import plural
from bot.features.dashboard.feature import LINK_MINUTES, DashboardContext, LinkSettings

log = logging.getLogger(__name__)


class DashboardCommands:
    """Signing in to the web dashboard, and signing everyone out."""

    def __init__(self, feature: object, ctx: DashboardContext) -> None:
        self.ctx = ctx

    @command("dashboard", "Get a private sign-in link to the web dashboard (or logout-all)")
    async def dashboard(self, inv: Invocation,
                        action: Annotated[Literal["link", "logout-all"] | None,
                                          Arg("link (default) or logout-all")] = None
                        ) -> CommandResult:
        """Send the moderator a one-time link by private message, or end every session."""
        ctx = self.ctx
        settings: LinkSettings | None = ctx.config
        t = ctx.templates
        if action == "logout-all":
            ended = await ctx.repo.end_all_sessions(inv.community_id, ctx.clock.now())
            log.info("dashboard: %s signed out %d session(s) of %s", inv.invoker.id, ended,
                     inv.community_id)
            return CommandResult(t.render("dashboard_logged_out",
                                          sessions=plural(ended, "session"),
                                          command=inv.hint("dashboard")))
        if settings is None or not settings.enabled:
            return CommandResult(t.render("dashboard_off"), ok=False)
        return await self._send_link(inv, settings)

    async def _send_link(self, inv: Invocation, settings: LinkSettings) -> CommandResult:
        """Store the link first, then send it privately; if that fails, spend it unseen."""
        ctx, t = self.ctx, self.ctx.templates
        now = ctx.clock.now()
        token = await ctx.repo.create_link(inv.community_id, inv.invoker.id, inv.invoker.name,
                                           now, LINK_MINUTES * 60)
        text = t.render("dashboard_link", link=settings.link(f"/login/{token}"),
                        minutes=LINK_MINUTES,
                        community=ctx.platform.community_name(inv.community_id))
        try:
            await ctx.platform.send_private(inv.community_id, inv.invoker.id, Outgoing(text))
        except PlatformError as exc:
            await ctx.repo.cancel_link(token, now)
            closed = isinstance(exc, PrivateMessagesClosed)
            log.info("dashboard: no link for %s (%s)", inv.invoker.id,
                     "DMs closed" if closed else type(exc).__name__)
            return CommandResult(t.render("dashboard_no_dm" if closed else "dashboard_dm_failed",
                                          command=inv.hint("dashboard")), ok=False)
        log.info("dashboard: sign-in link sent to %s in %s", inv.invoker.id, inv.community_id)
        return CommandResult(t.render("dashboard_link_sent", minutes=LINK_MINUTES))

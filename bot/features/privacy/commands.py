"""``mydata`` and ``forgetme``: a member sees, and can delete, what Haven stores about them."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any, Literal

from bot.core.commands import Arg, Invocation, command
from bot.core.commandspec import command_prefix
from bot.core.events import Attachment, CommandResult, Outgoing
from bot.core.feature import FeatureContext
from bot.core.ports import Capability, has
from bot.core.templates import plural
from bot.storage.privacy import Privacy

FORGET_WHAT: tuple[tuple[str, str], ...] = (
    ("member", "member record"), ("support_posts", "support post"),
    ("signposting", "helpline message record"), ("duty", "duty roster entry"),
    ("identifying_details", "identifying-detail record"),
)
"""What ``forgetme`` deletes, as (export key, noun); alerts and cases are anonymised."""

KINDS_OF_DATA: dict[str, tuple[str, str]] = {
    "alerts_about_you": ("alert about you", "alerts about you"),
    "cases_about_you": ("moderation case about you", "moderation cases about you"),
}
"""Nouns of export keys whose plural is not just an added ``s``."""

PrivacyContext = FeatureContext[None, Privacy]


def count_of(key: str, n: int) -> str:
    """``1 support post``, ``2 alerts about you``: an export key counted."""
    singular, plural_form = KINDS_OF_DATA.get(
        key, (dict(FORGET_WHAT).get(key, key.replace("_", " ")), None))
    return plural(n, singular, plural_form)


def how_to_run(ctx: FeatureContext[Any, Any], name: str, *args: str) -> str:
    """How to run a command here, as an instruction ("run `/forgetme`", "send `...`")."""
    if ctx.platform.name == "discord":
        if args:
            return f"run `/{name}` again and choose **{' '.join(args)}**"
        return f"run `/{name}`"
    prefix = command_prefix(ctx.platform.name, ctx.platform.command_prefix)
    return f"send `{prefix}{' '.join((name, *args))}`"


class PrivacyCommands:
    """A member's own data, on request."""

    def __init__(self, feature: object, ctx: PrivacyContext) -> None:
        self.ctx = ctx

    @command("mydata", "See what Haven stores about you (sent privately)", moderator_only=False)
    async def mydata(self, inv: Invocation) -> CommandResult:
        """Send the member what Haven stores about them, privately and complete.

        A summary in the message, everything as a JSON file where the platform takes
        attachments, else the JSON in as many messages as it needs.
        """
        ctx = self.ctx
        data = await ctx.repo.export(inv.community_id, inv.invoker.id)
        body = json.dumps(data, indent=1, default=str, ensure_ascii=False)
        summary = ", ".join(count_of(k, len(v)) for k, v in data.items())
        intro = ctx.templates.render("mydata_intro", summary=summary,
                                     how=how_to_run(ctx, "forgetme"))
        if has(ctx.platform, Capability.ATTACHMENTS):
            parts = [Outgoing(intro, attachments=(Attachment(
                "haven-mydata.json", body.encode("utf-8"), "application/json"),))]
        else:
            chunks = [body[i:i + 1800] for i in range(0, len(body), 1800)] or ["{}"]
            parts = [Outgoing(intro)] + [
                Outgoing(ctx.templates.render("mydata_part", part=n, parts=len(chunks),
                                              data=chunk))
                for n, chunk in enumerate(chunks, 1)]
        for part in parts:
            if await ctx.messenger.private(inv.community_id, inv.invoker.id, part) != "private":
                return CommandResult(ctx.templates.render("mydata_no_dm"), ok=False)
        return CommandResult(ctx.templates.render("mydata_sent"))

    @command("forgetme", "Delete what Haven stores about you (says what first; then confirm)",
             moderator_only=False)
    async def forgetme(self, inv: Invocation,
                       confirm: Annotated[Literal["confirm"] | None,
                                          Arg("confirm: really delete it")] = None
                       ) -> CommandResult:
        """Say what would be deleted and how to confirm; delete only on ``forgetme confirm``.

        Deleting is for good, so one word typed by mistake never does it.
        """
        ctx = self.ctx
        if confirm != "confirm":
            data = await ctx.repo.export(inv.community_id, inv.invoker.id)
            held = [plural(len(rows), noun) for key, noun in FORGET_WHAT
                    if (rows := data.get(key))]
            kept = len(data.get("alerts_about_you", ())) + len(data.get("cases_about_you", ()))
            keep = ctx.templates.render("forgetme_kept_ask", records=plural(
                kept, "moderation record"), verb="is" if kept == 1 else "are") if kept else ""
            return CommandResult(ctx.templates.render(
                "forgetme_ask", what=", ".join(held) if held else
                ctx.templates.render("forgetme_nothing"), kept=keep,
                how=how_to_run(ctx, "forgetme", "confirm"), see=how_to_run(ctx, "mydata")))
        alias = f"forgotten-{secrets.token_hex(5)}"
        counts = await ctx.repo.forget(inv.community_id, inv.invoker.id, alias)
        kept = counts.get("cases", 0) + counts.get("alerts", 0)
        lines = [ctx.templates.render("forgetme_done")]
        if kept:
            lines.append(ctx.templates.render("forgetme_kept", records=plural(
                kept, "moderation record"), verb="is" if kept == 1 else "are"))
        if counts.get("open_alerts_kept"):
            lines.append(ctx.templates.render("forgetme_open_alert"))
        return CommandResult(" ".join(lines))

"""``rules reload``, ``rules test`` and ``feedback``: the rules in force, tried and taught."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from bot.core.commands import Arg, Invocation, command
from bot.core.errors import CommandError, ConfigError
from bot.core.events import CommandResult
from bot.features.ruleset.context import RulesetContext
from bot.features.ruleset.review import Label, append_review
from bot.rules.engine import Rulebook

log = logging.getLogger(__name__)

class RulesetCommands:
    """Moderators swap rules in without a restart, dry-run text, and report mistakes."""

    def __init__(self, feature: object, ctx: RulesetContext) -> None:
        self.ctx = ctx

    @command("rules reload", "Validate the rule files and swap them in without a restart")
    async def reload(self, inv: Invocation) -> CommandResult:
        """Validate the rule files and swap them in; keep the old ones on error."""
        ctx = self.ctx
        try:
            rules = ctx.core.rules
            new = Rulebook.load(rules.dir, rules.packs, ctx.templates.names(), rules.community)
        except ConfigError as exc:
            shown = "\n".join(str(p) for p in exc.problems[:10])
            more = len(exc.problems) - 10
            return CommandResult(ctx.templates.render(
                "rules_reload_failed_more" if more > 0 else "rules_reload_failed",
                problems=shown, more=more), ok=False)
        ctx.rules.replace(new)
        log.info("rules reloaded by %s: %d rules", inv.invoker.id, len(new.rules))
        return CommandResult(ctx.templates.render("rules_reloaded", count=len(new.rules)))

    @command("rules test", "Dry run: which rules match this text and why (nothing is done)")
    async def test(self, inv: Invocation,
                   text: Annotated[str, Arg("Text to test", rest=True)]) -> CommandResult:
        """Dry run: which rules match and why; nothing is done."""
        t = self.ctx.templates
        matches = self.ctx.rules.current().evaluate(text)
        semantic = self.ctx.detector()
        if semantic is not None:
            matches = [*matches, *await semantic.detect_async(text, matches)]
        if not matches:
            return CommandResult(t.render("rules_test_none"))
        lines = [t.render("rules_test_heading")]
        for m in matches:
            actions = ", ".join(a.name for a in m.rule.actions) or t.render("rules_test_no_actions")
            lines.append(t.render("rules_test_item_shadow" if m.rule.shadow else "rules_test_item",
                                  rule=m.rule.id, category=m.rule.category,
                                  severity=m.rule.severity, reason=m.reason, actions=actions))
        return CommandResult("\n".join(lines))

    @command("feedback", "Teach semantic detection: an alert was a false alarm, or a post was "
             "missed (goes to a review file an admin trains on)")
    async def feedback(
        self, inv: Invocation,
        kind: Annotated[Literal["falsealarm", "missed"], Arg("falsealarm or missed")],
        label: Annotated[Label, Arg("What it really is")],
        what: Annotated[str, Arg("Alert number (falsealarm) or the post's text (missed)",
                                 rest=True)]) -> CommandResult:
        """Add a false alarm or a missed post to the review file (never used unreviewed)."""
        ctx = self.ctx
        t = ctx.templates
        what = what.strip()
        number = rule = None
        if kind == "falsealarm":
            try:
                number = int(what.lstrip("#"))
            except ValueError:
                raise CommandError(t.render("feedback_alert_number")) from None
            alert = await ctx.repo.alerts.alert_by_number(inv.community_id, number)
            if alert is None:
                raise CommandError(t.render("feedback_alert_unknown", alert=number))
            if not alert.excerpt:
                raise CommandError(t.render("feedback_alert_purged", alert=number))
            what, rule = alert.excerpt, alert.rule_id
        elif not what:
            raise CommandError(t.render("feedback_text_missing"))
        try:
            total = append_review(ctx.config.review_file, what, label, kind,
                                  by=inv.invoker.id, at=ctx.clock.now(), alert=number,
                                  rule=rule)
        except OSError as exc:
            log.error("could not write the review file: %s", exc.__class__.__name__)
            raise CommandError(t.render("feedback_write_failed")) from None
        log.info("feedback %s (%s) added to the review file by %s", kind, label, inv.invoker.id)
        return CommandResult(t.render("feedback_saved", label=label, count=total))

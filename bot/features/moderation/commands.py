"""``warn``, ``note``, ``case``, ``history`` and ``timeout``: the case log, by moderators.

Every action is recorded as a case with the moderator who did it; the member gets
the same words every time (the rule's explanation, when a rule id is named).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from bot.core.clock import fmt_time
from bot.core.commands import Arg, Invocation, MemberQuery, command, member_id, not_found_text
from bot.core.errors import CommandError, PlatformError
from bot.core.events import CommandResult, Member
from bot.core.messenger import quote

if TYPE_CHECKING:
    from bot.features.moderation.feature import Moderation, ModerationContext


class ModerationCommands:
    """Cases and notes, warnings and timeouts."""

    def __init__(self, moderation: Moderation, ctx: ModerationContext) -> None:
        self.moderation = moderation
        self.ctx = ctx

    @command("warn", "Warn a member, citing the rule or reason")
    async def warn(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                   reason: Annotated[str, Arg("Rule id or reason", rest=True)]
                   ) -> CommandResult:
        """Warn a member, citing a rule id or a reason."""
        rule, explain = self._rule_and_reason(reason)
        number = await self.moderation.warn(inv.community_id, member.id, member.name, rule,
                                            explain, actor=(inv.invoker.id, inv.invoker.name))
        return CommandResult(self.ctx.templates.render(
            "warn_done", member=self._who(member.id, member.name), case=number))

    @command("note", "Add a private moderator note about a member")
    async def note(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                   text: Annotated[str, Arg("The note", rest=True)]) -> CommandResult:
        """A private moderator note about a member (not shown to them)."""
        ctx = self.ctx
        case = await ctx.repo.record_case(inv.community_id, "note", None, text, inv.invoker.id,
                                          inv.invoker.name, member.id, member.name,
                                          ctx.clock.now())
        return CommandResult(ctx.templates.render(
            "note_done", member=self._who(member.id, member.name), case=case.number))

    @command("case", "Show one case")
    async def case(self, inv: Invocation,
                   id: Annotated[int, Arg("Case number")]) -> CommandResult:
        """Show one case, by its number in this community."""
        t = self.ctx.templates
        case = await self.ctx.repo.case_by_number(inv.community_id, id)
        if case is None:
            return CommandResult(t.render("case_unknown", case=id), ok=False)
        lines = [t.render("case_header", case=case.number, action=case.action,
                          at=fmt_time(case.created_at)),
                 t.render("case_member", member=self._who(case.target_id, case.target_name)),
                 t.render("case_by", moderator=case.actor_name),
                 t.render("case_rule", rule=case.rule_id) if case.rule_id else "",
                 t.render("case_reason", reason=case.reason)]
        if case.excerpt:
            lines.append(quote(case.excerpt, 500))
        return CommandResult("\n".join(x for x in lines if x))

    @command("history", "Cases and notes about a member")
    async def history(self, inv: Invocation,
                      member: Annotated[MemberQuery, Arg("Who")]) -> CommandResult:
        """Every case and note about a member.

        A member who has left can no longer be resolved on the platform, but their
        cases stay readable by the id they were recorded under.
        """
        target = await self._lookup(inv, member)
        target_id = target.id if target is not None else member_id(member)
        cases = await self.ctx.repo.cases_for(inv.community_id, target_id)
        if target is None and not cases:
            raise CommandError(not_found_text(member))
        name = target.name if target is not None else cases[-1].target_name
        who = self._who(target_id, name)
        t = self.ctx.templates
        if not cases:
            return CommandResult(t.render("history_none", member=who))
        lines = [t.render("history_heading_one" if len(cases) == 1 else "history_heading",
                          count=len(cases), member=who)]
        for c in cases[-25:]:
            lines.append(t.render("history_item_rule" if c.rule_id else "history_item",
                                  case=c.number, at=fmt_time(c.created_at), action=c.action,
                                  rule=c.rule_id or "", moderator=c.actor_name, reason=c.reason))
        return CommandResult("\n".join(lines))

    @command("timeout", "Stop a member posting for a while")
    async def timeout(self, inv: Invocation, member: Annotated[Member, Arg("Who")],
                      minutes: Annotated[int, Arg("How long, in minutes")],
                      reason: Annotated[str, Arg("Rule id or reason", rest=True)]
                      ) -> CommandResult:
        """Time a member out for some minutes, citing a rule or reason."""
        if not 1 <= minutes <= 40320:
            raise CommandError(self.ctx.templates.render("timeout_minutes"))
        rule, explain = self._rule_and_reason(reason)
        number = await self.moderation.timeout(inv.community_id, member.id, member.name,
                                               minutes * 60, rule, explain,
                                               actor=(inv.invoker.id, inv.invoker.name))
        if number is None:
            return CommandResult(self.ctx.templates.render("timeout_failed"), ok=False)
        return CommandResult(self.ctx.templates.render(
            "timeout_done_one" if minutes == 1 else "timeout_done",
            member=self._who(member.id, member.name), minutes=minutes, case=number))

    async def _lookup(self, inv: Invocation, query: str) -> Member | None:
        """``platform.resolve_member``; a platform failure is a clear refusal, not a crash."""
        try:
            return await self.ctx.platform.resolve_member(inv.community_id, query)
        except PlatformError:
            raise CommandError(self.ctx.templates.render("member_lookup_failed")) from None

    def _who(self, user_id: str, name: str) -> str:
        """A member for moderators: display name and a mention (``Riley (<@123>)``)."""
        mention = self.ctx.platform.user_mention(user_id)
        if not name or name == user_id or name in mention:
            return mention
        return self.ctx.templates.render("member_named", name=name, mention=mention)

    def _rule_and_reason(self, text: str) -> tuple[str, str]:
        """A reason naming a rule id uses that rule's explanation, the same words every time."""
        first, _, rest = text.strip().partition(" ")
        for rule in self.ctx.rules.current().rules:
            if rule.id == first:
                explain = rule.explain or rule.description
                return rule.id, explain + (f" ({rest.strip()})" if rest.strip() else "")
        return "moderator", text.strip()

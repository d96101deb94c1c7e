"""Platform-neutral commands, with the permission check in the core.

Adapters turn slash commands and ``!haven`` messages into
:class:`bot.core.events.CommandInvoked`; :meth:`Commands.run` checks permission
(moderator-only commands refuse everyone else, whatever the platform's UI
allowed), validates the options and answers with a :class:`CommandResult`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.core import commandspec
from bot.core.clock import fmt_duration, fmt_time
from bot.core.durations import parse_clock_range
from bot.core.errors import CommandError, ConfigError, PermissionDenied, PlatformError
from bot.core.events import (
    Attachment,
    ButtonPressed,
    CommandInvoked,
    CommandResult,
    Member,
    Outgoing,
)
from bot.core.messenger import quote
from bot.core.ports import Capability, has
from bot.core.templates import plural

if TYPE_CHECKING:
    from bot.core.runtime import Haven

log = logging.getLogger(__name__)

FORGET_WHAT: tuple[tuple[str, str], ...] = (
    ("member", "member record"), ("support_posts", "support post"),
    ("signposting", "helpline message record"), ("duty", "duty roster entry"),
)
"""What ``forgetme`` deletes, as (``member_data`` key, noun); alerts and cases are anonymised."""

Handler = Callable[[CommandInvoked, dict[str, str]], Awaitable[CommandResult]]
MEMBER_ID = re.compile(r"^<@!?([^>\s]+)>$")


KINDS_OF_DATA: dict[str, tuple[str, str]] = {
    "alerts_about_you": ("alert about you", "alerts about you"),
    "cases_about_you": ("moderation case about you", "moderation cases about you"),
}
"""Nouns of ``member_data`` keys whose plural is not just an added ``s``."""


def _count(key: str, n: int) -> str:
    """``1 support post``, ``2 alerts about you``: a ``member_data`` key counted."""
    singular, plural_form = KINDS_OF_DATA.get(
        key, (dict(FORGET_WHAT).get(key, key.replace("_", " ")), None))
    return plural(n, singular, plural_form)


def not_found_text(query: str) -> str:
    """The refusal when a moderator names someone who is not a member here."""
    return (f"I can't find a member called {query.strip()!r} here. Use their mention, "
            "their id or their exact display name.")


def member_id(value: str) -> str:
    """A member option as an id: accepts ``<@123>``, ``123`` or ``@user:server``."""
    value = value.strip()
    m = MEMBER_ID.match(value)
    return m.group(1) if m else value


class Commands:
    """Runs Haven's commands."""

    specs = commandspec.COMMANDS

    def __init__(self, core: Haven) -> None:
        self.core = core
        self._handlers: dict[str, Handler] = {
            "help": self.help, "resources": self.resources, "mydata": self.mydata,
            "forgetme": self.forgetme, "alerts": self.alerts, "claim": self.claim,
            "resolve": self.resolve, "unanswered": self.unanswered,
            "rules reload": self.rules_reload, "rules test": self.rules_test, "feedback": self.feedback,
            "warn": self.warn,
            "note": self.note, "case": self.case, "history": self.history,
            "timeout": self.timeout, "duty": self.duty, "quiet": self.quiet,
            "handover": self.handover, "stats": self.stats,
        }
        missing = {c.name for c in commandspec.COMMANDS} - set(self._handlers)
        if missing:
            raise RuntimeError(f"commands without a handler: {sorted(missing)}")

    def _feature(self, name: str) -> Any:
        return self.core.features[name]

    async def run(self, ev: CommandInvoked) -> CommandResult:
        """Run a command once per delivery id; refusals come back as a polite answer."""
        return await self._once(ev, lambda: self._run(ev))

    async def button(self, ev: ButtonPressed) -> CommandResult:
        """An alert button, once per delivery id."""
        return await self._once(ev, lambda: self._button(ev))

    async def _once(self, event: CommandInvoked | ButtonPressed,
                    work: Callable[[], Awaitable[CommandResult]]) -> CommandResult:
        store, delivery = self.core.store, event.delivery_id
        if delivery:
            earlier = await store.begin_delivery(event.community_id, delivery,
                                                 self.core.clock.now())
            if earlier is not None:
                log.info("%s delivery %s arrived again (first one %s); not acting again",
                         type(event).__name__, delivery, earlier)
                return CommandResult(self.core.templates.render("already_done"))
        try:
            return await work()
        except CommandError as exc:
            return CommandResult(str(exc), ok=False)
        finally:
            if delivery:
                await store.finish_delivery(event.community_id, delivery)

    async def _run(self, ev: CommandInvoked) -> CommandResult:
        """Check permission and options, then run the command."""
        spec = commandspec.find(ev.name)
        if spec is None:
            raise CommandError(f"Unknown command {ev.name!r}. Try `{self._prefix()}help`.")
        if spec.moderator_only and not self.core.perms.is_moderator(ev.invoker):
            log.info("refused %s for non-moderator %s", spec.name, ev.invoker.id)
            raise PermissionDenied(f"`{spec.name}` is for moderators only.")
        options = {k: v for k, v in ev.options.items() if v is not None}
        commandspec.validate_options(spec, options)
        return await self._handlers[spec.name](ev, options)

    async def _button(self, ev: ButtonPressed) -> CommandResult:
        """Claim/Resolve buttons on alerts: same check and effect as the commands."""
        if not self.core.perms.is_moderator(ev.member):
            return CommandResult("Only moderators can claim or resolve alerts.", ok=False)
        if ev.action == "claim":
            text = await self._feature("alerts").claim(ev.community_id, ev.alert_id, ev.member.id)
        elif ev.action == "resolve":
            text = await self._feature("alerts").resolve(ev.community_id, ev.alert_id, ev.member.id, None)
        else:
            return CommandResult(f"Unknown action {ev.action!r}.", ok=False)
        return CommandResult(text)

    # -- for everyone ------------------------------------------------------------

    async def help(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """List the commands this member may use."""
        mod = self.core.perms.is_moderator(ev.invoker)
        prefix = self._prefix()
        lines = ["**Haven** keeps this community safe and welcoming. Commands:"]
        for spec in commandspec.COMMANDS:
            if spec.moderator_only and not mod:
                continue
            lines.append(f"- `{prefix}{spec.usage}`: {spec.description}")
        return CommandResult("\n".join(lines))

    async def resources(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Helplines and services for the community's countries."""
        core = self.core
        countries = core.config.community.countries
        parts = ["**If you are in danger right now, call your local emergency number.**",
                 "Crisis and support lines:", core.helplines.format(countries, "crisis")]
        eating = core.helplines.format(countries, "eating_disorders")
        parts += ["Eating disorders:", eating]
        return CommandResult("\n".join(parts))

    async def mydata(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Send the member what Haven stores about them, privately and complete.

        A summary in the message, everything as a JSON file where the platform takes
        attachments, else the JSON in as many messages as it needs.
        """
        core = self.core
        data = await core.store.member_data(ev.community_id, ev.invoker.id)
        body = json.dumps(data, indent=1, default=str, ensure_ascii=False)
        summary = ", ".join(_count(k, len(v)) for k, v in data.items())
        intro = ("This is everything Haven stores about you in this community "
                 f"({summary}). Moderators' private notes are not included. "
                 f"To delete it, {self._command_hint('forgetme')}.")
        if has(core.platform, Capability.ATTACHMENTS):
            parts = [Outgoing(intro, attachments=(Attachment(
                "haven-mydata.json", body.encode("utf-8"), "application/json"),))]
        else:
            chunks = [body[i:i + 1800] for i in range(0, len(body), 1800)] or ["{}"]
            parts = [Outgoing(intro)] + [
                Outgoing(f"Part {n}/{len(chunks)}:\n```json\n{chunk}\n```")
                for n, chunk in enumerate(chunks, 1)]
        for part in parts:
            if await core.messenger.private(ev.community_id, ev.invoker.id, part) != "private":
                return CommandResult("I couldn't message you privately. Please allow direct "
                                     "messages from this community and try again.", ok=False)
        return CommandResult("I've sent you your data privately.")

    async def forgetme(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Say what would be deleted and how to confirm; delete only on ``forgetme confirm``.

        Deleting is for good, so one word typed by mistake never does it.
        """
        if opts.get("confirm", "").lower() != "confirm":
            data = await self.core.store.member_data(ev.community_id, ev.invoker.id)
            held = [plural(len(rows), noun) for key, noun in FORGET_WHAT
                    if (rows := data.get(key))]
            what = ", ".join(held) if held else "nothing yet apart from your name"
            kept = len(data.get("alerts_about_you", ())) + len(data.get("cases_about_you", ()))
            keep = (f" {plural(kept, 'moderation record')} about you "
                    f"{'is' if kept == 1 else 'are'} kept, but will no longer name you or hold "
                    "any text of yours." if kept else "")
            return CommandResult(
                f"This would delete what Haven stores about you in this community: {what}."
                f"{keep} It cannot be undone. To go ahead, "
                f"{self._command_hint('forgetme', 'confirm')}. To see it all first, "
                f"{self._command_hint('mydata')}.")
        alias = f"forgotten-{secrets.token_hex(5)}"
        counts = await self.core.store.forget_member(ev.community_id, ev.invoker.id, alias)
        kept = counts.get("cases", 0) + counts.get("alerts", 0)
        text = "Done: Haven has deleted what it stored about you."
        if kept:
            text += (f" {plural(kept, 'moderation record')} "
                     f"{'is' if kept == 1 else 'are'} kept because moderators may need them, "
                     "but no longer name you and hold no text of yours.")
        if counts.get("open_alerts_kept"):
            text += (" A moderator is still looking after a message you posted; that record "
                     "is removed from your name as soon as they close it.")
        return CommandResult(text)

    def _prefix(self) -> str:
        """What goes before a command name on this platform (``/``, ``!haven ``)."""
        return commandspec.command_prefix(self.core.platform.name,
                                          self.core.config.matrix.command_prefix)

    def _command_hint(self, name: str, *args: str) -> str:
        """How to run a command on this platform, as an instruction ("send `...`")."""
        if self.core.platform.name == "discord":
            if args:
                return f"run `/{name}` again and choose **{' '.join(args)}**"
            return f"run `/{name}`"
        return f"send `{self._prefix()}{' '.join((name, *args))}`"

    # -- alerts and unanswered posts ------------------------------------------------

    async def alerts(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Open and claimed alerts, oldest first."""
        core = self.core
        alerts = await core.store.alerts_by_state(ev.community_id, ("open", "claimed"))
        if not alerts:
            return CommandResult("No open alerts.")
        lines = [f"**{plural(len(alerts), 'alert')} "
                 f"{'needs' if len(alerts) == 1 else 'need'} attention:**"]
        for a in alerts:
            age = fmt_duration(core.clock.now() - a.created_at)
            holder = (f"claimed by {core.platform.user_mention(a.claimed_by)}"
                      if a.state == "claimed" and a.claimed_by else "UNCLAIMED")
            lines.append(f"- #{a.id} {a.kind} ({a.severity}) {a.member_name} in #{a.channel_name}, "
                         f"{age} ago, {holder} {a.link}".rstrip())
        return CommandResult("\n".join(lines))

    async def claim(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Claim an alert."""
        alert_id = int(opts["alert"].lstrip("#"))
        return CommandResult(await self._feature("alerts").claim(ev.community_id, alert_id, ev.invoker.id))

    async def resolve(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Resolve an alert with an optional note."""
        alert_id = int(opts["alert"].lstrip("#"))
        return CommandResult(await self._feature("alerts").resolve(ev.community_id, alert_id,
                                                            ev.invoker.id, opts.get("note")))

    async def unanswered(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Support posts still waiting, longest first."""
        core = self.core
        posts = await core.store.open_posts(ev.community_id)
        if not posts:
            return CommandResult("Every support post has had a reply.")
        lines = [f"**{plural(len(posts), 'post')} waiting for a reply:**"]
        for p in posts[:20]:
            lines.append(f"- #{p.channel_name}: waiting {fmt_duration(core.clock.now() - p.posted_at)}"
                         f" {p.link}".rstrip())
        return CommandResult("\n".join(lines))

    # -- rules ----------------------------------------------------------------------

    async def rules_reload(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Validate the rule files and swap them in; keep the old ones on error."""
        from bot.rules.engine import Rulebook

        core = self.core
        try:
            new = Rulebook.load(core.config.rules.dir, core.config.rules.packs,
                                core.templates.names())
        except ConfigError as exc:
            shown = "\n".join(str(p) for p in exc.problems[:10])
            more = len(exc.problems) - 10
            return CommandResult("The rules were NOT reloaded; the old rules stay in force. "
                                 f"Problems:\n```\n{shown}\n```"
                                 + (f"\n...and {more} more." if more > 0 else ""), ok=False)
        core.rules.replace(new)
        log.info("rules reloaded by %s: %d rules", ev.invoker.id, len(new.rules))
        return CommandResult(f"Rules reloaded: {len(new.rules)} rules in force.")

    async def rules_test(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Dry run: which rules match and why; nothing is done."""
        matches = self.core.rulebook.evaluate(opts["text"])
        semantic = self.core.semantic
        if semantic is not None:
            matches = [*matches, *await semantic.detect_async(opts["text"], matches)]
        if not matches:
            return CommandResult("No rule matches that text. (Dry run: nothing was done.)")
        lines = ["Dry run, nothing was done. Matching rules:"]
        for m in matches:
            actions = ", ".join(a.name for a in m.rule.actions) or "none"
            shadow = " [shadow]" if m.rule.shadow else ""
            lines.append(f"- `{m.rule.id}` ({m.rule.category}, {m.rule.severity}){shadow}: "
                         f"{m.reason}; actions: {actions}")
        return CommandResult("\n".join(lines))

    async def feedback(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Add a false alarm or a missed post to the review file (never used unreviewed)."""
        from bot.detection.feedback import append_review

        core = self.core
        kind, label, what = opts["kind"], opts["label"], opts["what"].strip()
        alert_id = rule = None
        if kind == "falsealarm":
            try:
                alert_id = int(what.lstrip("#"))
            except ValueError:
                raise CommandError("Give the alert number, e.g. `feedback falsealarm none 12`.") from None
            alert = await core.store.get_alert(alert_id)
            if alert is None or alert.community_id != ev.community_id:
                raise CommandError(f"No alert #{alert_id} here.")
            if not alert.excerpt:
                raise CommandError(f"Alert #{alert_id} no longer holds the post's text; use "
                                   "`feedback missed <label> <text>` with the text instead.")
            what, rule = alert.excerpt, alert.rule_id
        elif not what:
            raise CommandError("Give the post's text, e.g. `feedback missed crisis <text>`.")
        path = core.config.detection.review_file
        try:
            total = append_review(path, what, label, kind, by=ev.invoker.id, at=core.clock.now(),
                                  alert=alert_id, rule=rule)
        except OSError as exc:
            log.error("could not write the review file: %s", exc.__class__.__name__)
            raise CommandError("Could not write the review file; nothing was saved.") from None
        log.info("feedback %s (%s) added to the review file by %s", kind, label, ev.invoker.id)
        return CommandResult(f"Saved for review as `{label}` ({total} item(s) waiting). An admin "
                             "reviews the file and retrains with `haven train --examples`.")

    # -- cases ------------------------------------------------------------------------

    async def _member(self, ev: CommandInvoked, query: str) -> Member:
        """The member a moderator named, resolved on the platform first.

        Raises :class:`CommandError` when nobody by that id, mention or (unique)
        name is in the community, so nothing is done to a name that is nobody's.
        """
        found = await self._lookup(ev, query)
        if found is None:
            raise CommandError(not_found_text(query))
        return found

    async def _lookup(self, ev: CommandInvoked, query: str) -> Member | None:
        """``platform.resolve_member``; a platform failure is a clear refusal, not a crash."""
        try:
            return await self.core.platform.resolve_member(ev.community_id, query)
        except PlatformError as exc:
            log.warning("member lookup for %s failed: %s", ev.name, exc)
            raise CommandError("I couldn't look up members on the platform just now; nothing "
                               "was done. Please try again in a moment.") from None

    async def warn(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Warn a member, citing a rule id or a reason."""
        target = await self._member(ev, opts["member"])
        rule, explain = self._rule_and_reason(opts["reason"])
        case_id = await self._feature("moderation").warn(ev.community_id, target.id, target.name, rule,
                                                  explain, actor=(ev.invoker.id, ev.invoker.name))
        return CommandResult(f"Warned {self._who(target.id, target.name)} (case #{case_id}).")

    async def note(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """A private moderator note about a member (not shown to them)."""
        core = self.core
        target = await self._member(ev, opts["member"])
        case_id = await core.store.add_case(ev.community_id, "note", None, opts["text"],
                                            ev.invoker.id, ev.invoker.name, target.id,
                                            target.name, core.clock.now())
        return CommandResult(f"Note about {self._who(target.id, target.name)} saved as "
                             f"case #{case_id}.")

    async def case(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Show one case."""
        core = self.core
        case = await core.store.get_case(ev.community_id, int(opts["id"].lstrip("#")))
        if case is None:
            return CommandResult(f"There is no case #{opts['id']}.", ok=False)
        lines = [f"**Case #{case.id}: {case.action}** ({fmt_time(case.created_at)})",
                 f"Member: {self._who(case.target_id, case.target_name)}",
                 f"By: {case.actor_name}",
                 f"Rule: `{case.rule_id}`" if case.rule_id else "",
                 f"Reason: {case.reason}"]
        if case.excerpt:
            lines.append(quote(case.excerpt, 500))
        return CommandResult("\n".join(x for x in lines if x))

    async def history(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Every case and note about a member.

        A member who has left can no longer be resolved on the platform, but their
        cases stay readable by the id they were recorded under.
        """
        core = self.core
        query = opts["member"]
        target = await self._lookup(ev, query)
        target_id = target.id if target is not None else member_id(query)
        cases = await core.store.cases_for(ev.community_id, target_id)
        if target is None and not cases:
            raise CommandError(not_found_text(query))
        name = target.name if target is not None else cases[-1].target_name
        who = self._who(target_id, name)
        if not cases:
            return CommandResult(f"No cases about {who}.")
        lines = [f"**{plural(len(cases), 'case')} about {who}:**"]
        for c in cases[-25:]:
            rule = f" `{c.rule_id}`" if c.rule_id else ""
            lines.append(f"- #{c.id} {fmt_time(c.created_at)} {c.action}{rule} by {c.actor_name}: "
                         f"{c.reason}")
        return CommandResult("\n".join(lines))

    async def timeout(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Time a member out for some minutes, citing a rule or reason."""
        minutes = int(opts["minutes"].lstrip("#"))
        if not 1 <= minutes <= 40320:
            raise CommandError("minutes must be between 1 and 40320 (28 days).")
        target = await self._member(ev, opts["member"])
        rule, explain = self._rule_and_reason(opts["reason"])
        case_id = await self._feature("moderation").timeout(ev.community_id, target.id, target.name,
                                                     minutes * 60, rule, explain,
                                                     actor=(ev.invoker.id, ev.invoker.name))
        if case_id is None:
            return CommandResult("The timeout failed (missing permission or platform error); "
                                 "see the log.", ok=False)
        return CommandResult(f"Timed out {self._who(target.id, target.name)} for "
                             f"{plural(minutes, 'minute')} (case #{case_id}).")

    def _who(self, user_id: str, name: str) -> str:
        """A member for moderators: display name and a mention (``Riley (<@123>)``)."""
        mention = self.core.platform.user_mention(user_id)
        if not name or name == user_id or name in mention:
            return mention
        return f"{name} ({mention})"

    def _rule_and_reason(self, text: str) -> tuple[str, str]:
        """A reason naming a rule id uses that rule's explanation, the same words every time."""
        first, _, rest = text.strip().partition(" ")
        for rule in self.core.rulebook.rules:
            if rule.id == first:
                explain = rule.explain or rule.description
                return rule.id, explain + (f" ({rest.strip()})" if rest.strip() else "")
        return "moderator", text.strip()

    # -- duty roster and handover ---------------------------------------------------------

    async def duty(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Go on or off duty, or list who is on duty."""
        core = self.core
        state = opts["state"].lower()
        if state == "list":
            roster = [r for r in await core.store.duty_roster(ev.community_id) if r.on_duty]
            if not roster:
                return CommandResult("Nobody is on duty: alerts mention the whole moderator role.")
            return CommandResult("On duty: " + ", ".join(
                f"{core.platform.user_mention(r.user_id)} (since {fmt_time(r.since or 0)})"
                for r in roster))
        await core.store.set_duty(ev.community_id, ev.invoker.id, ev.invoker.name, state == "on",
                                  core.clock.now())
        if state == "on":
            return CommandResult("You are on duty: alerts will mention you (shared with others "
                                 "on duty). Use `duty off` when you finish.")
        return CommandResult("You are off duty. Thank you for your shift.")

    async def quiet(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Set or clear one's own quiet hours (UTC)."""
        core = self.core
        value = opts["hours"].strip().lower()
        if value in ("off", "none", "clear"):
            await core.store.set_quiet_hours(ev.community_id, ev.invoker.id, ev.invoker.name,
                                             None, None)
            return CommandResult("Quiet hours cleared.")
        try:
            start, end = parse_clock_range(value)
        except ValueError as exc:
            raise CommandError(f"{exc}. Example: `quiet 22:00-07:00` (UTC) or `quiet off`.") from None
        await core.store.set_quiet_hours(ev.community_id, ev.invoker.id, ev.invoker.name,
                                         start, end)
        return CommandResult(f"Quiet hours set to {value} UTC: alerts won't mention you then.")

    async def handover(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Add to the shift logbook, or show it and what happened since the last entry."""
        core = self.core
        text = (opts.get("text") or "").strip()
        if text:
            entry = await core.store.add_handover(ev.community_id, ev.invoker.id, ev.invoker.name,
                                                  text, core.clock.now())
            return CommandResult(f"Added to the logbook (entry {entry}).")
        entries = await core.store.latest_handover(ev.community_id)
        # "what happened since": since the previous shift's note, else the last 24 hours
        since = entries[1].created_at if len(entries) > 1 else core.clock.now() - 86400
        lines = ["**Shift logbook**"]
        for e in entries:
            lines.append(f"- {fmt_time(e.created_at)} {e.author_name}: {e.text}")
        if not entries:
            lines.append("- (no entries yet; add one with `handover <text>`)")
        alerts = await core.store.alerts_since(ev.community_id, since)
        open_alerts = await core.store.alerts_by_state(ev.community_id, ("open", "claimed"))
        posts = await core.store.open_posts(ev.community_id)
        cases = await core.store.cases_since(ev.community_id, since)
        lines.append(f"**Since {fmt_time(since)}:** {plural(len(alerts), 'new alert')}, "
                     f"{len(open_alerts)} still open, {plural(len(posts), 'post')} waiting for "
                     f"a reply, {plural(len(cases), 'case')}.")
        for a in open_alerts:
            lines.append(f"- alert #{a.id} {a.kind} ({a.state}) {a.member_name} {a.link}".rstrip())
        for c in cases[-10:]:
            lines.append(f"- case #{c.id} {c.action} {c.target_name} ({c.rule_id or c.reason})")
        return CommandResult("\n".join(lines))

    async def stats(self, ev: CommandInvoked, opts: dict[str, str]) -> CommandResult:
        """Community health figures, with a chart where the platform takes attachments."""
        from bot.features.stats.figures import compute_stats, render_chart

        core = self.core
        days = int(opts.get("days") or 30)
        if not 1 <= days <= 365:
            raise CommandError("days must be between 1 and 365.")
        stats = await compute_stats(core.store, ev.community_id, core.clock.now(), days)
        attachments: tuple[Attachment, ...] = ()
        names = await self._moderator_names(ev.community_id, stats.alerts_per_moderator)
        if has(core.platform, Capability.ATTACHMENTS):
            try:
                attachments = (render_chart(stats, names),)
            except Exception:  # a chart is a bonus: the text has every figure
                log.exception("could not render the stats chart")
        return CommandResult(stats.as_text(names), attachments=attachments)

    async def _moderator_names(self, community_id: str, ids: dict[str, int]) -> dict[str, str]:
        """Display names for moderator ids: the duty roster's, else the platform's.

        A name that cannot be found stays the id; a platform error never stops ``stats``.
        """
        core = self.core
        names = {r.user_id: r.name for r in await core.store.duty_roster(community_id)}
        for user_id in ids:
            if names.get(user_id, user_id) != user_id:
                continue
            try:
                found = await core.platform.resolve_member(community_id, user_id)
            except Exception as exc:  # a name is a nicety; the figures matter
                log.warning("could not look up moderator %s for stats: %s", user_id, exc)
                continue
            if found is not None and found.name:
                names[user_id] = found.name
        return names

"""Editing the community's own rule file: validate, run the examples, dry-run, save.

No web in here: the dashboard's Rules page calls these (and the tests do). The file is
the one ``rules.community`` names; it is loaded after the packs, so a draft is always
checked together with them (an id already used by a pack is a duplicate).

- :meth:`RulesEditor.validate` gives the problems exactly as ``haven check`` and start-up
  give them (``file:line: key: message``).
- :meth:`RulesEditor.run_examples` runs the draft's embedded examples (``haven rules test``).
- :meth:`RulesEditor.dry_run` says which rules match a text and why, and what the
  semantic stage adds with its reason; nothing is done.
- :meth:`RulesEditor.save` saves only a draft that validates and whose examples pass,
  and only for a community admin: the change (who, when, unified diff) and a case are
  recorded, the file is written atomically (temporary file, then rename) in the same
  transaction, then the new rules are put in force. On any error the old rules stay in
  force and the file is untouched.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.core.errors import ConfigError, Problem
from bot.core.events import Member
from bot.core.rule_edits import Checked, Draft, DryRun, Hit, Pack, Saved
from bot.features.ruleset.context import RulesetContext
from bot.rules.engine import Rulebook
from bot.rules.loader import load_dir, load_rules_text
from bot.rules.model import Match, Rule
from bot.storage.repositories.rule_changes import RuleChange

log = logging.getLogger(__name__)

MAX_TEXT = 256 * 1024
"""The largest rule file the editor accepts (characters)."""
SEMANTIC_FILE = "semantic"
"""The ``file`` of the semantic stage's rules (they are not in any rule file)."""


@dataclass(frozen=True)
class _Packs:
    """The packs' rules (or problems) as last loaded, and what they were loaded from."""

    key: tuple[object, ...]
    rules: tuple[Rule, ...]
    problems: tuple[Problem, ...]


def sha256(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean(text: str) -> str:
    """The text as a file: ``\\n`` line ends (browsers send ``\\r\\n``), one final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.rstrip("\n") + "\n" if text.strip() else ""


def unified_diff(old: str, new: str, name: str) -> tuple[str, int, int]:
    """The unified diff of ``old`` to ``new`` and the lines added and removed."""
    lines = list(difflib.unified_diff(old.splitlines(keepends=True),
                                      new.splitlines(keepends=True),
                                      f"a/{name}", f"b/{name}"))
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    text = "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n"
                   for x in lines)
    return text, added, removed


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder and a rename, so
    the file is either the old one or the new one, never half-written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RulesEditor:
    """The community rule file, checked, tried and saved (see the module docstring)."""

    def __init__(self, ctx: RulesetContext) -> None:
        self.ctx = ctx
        self._lock = asyncio.Lock()
        self._cache: _Packs | None = None

    # -- what is in force -------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The community's rule file (``rules.community``), or ``None`` if not configured."""
        return self.ctx.core.rules.community

    def read(self) -> Draft:
        """The file's text now ('' while it does not exist); raises ``OSError``."""
        path = self.path
        if path is None or not path.is_file():
            return Draft("", sha256(""), exists=False)
        text = path.read_text(encoding="utf-8")
        return Draft(text, sha256(text), exists=True)

    def packs(self) -> list[Pack]:
        """The rule files in force, each with its rules in file order (community last)."""
        own = str(self.path) if self.path is not None else None
        by_file: dict[str, list[Rule]] = {}
        for rule in self.ctx.rules.current().rules:
            by_file.setdefault(rule.file, []).append(rule)
        packs = [Pack(Path(f).stem, f, tuple(sorted(rs, key=lambda r: r.line)), f == own)
                 for f, rs in by_file.items()]
        return sorted(packs, key=lambda p: (p.community, p.name))

    async def history(self, community_id: str, limit: int = 20) -> list[RuleChange]:
        """The latest saved changes, newest first."""
        return await self.ctx.repo.changes.recent(community_id, limit)

    # -- checking a draft -------------------------------------------------------------

    def _packs(self) -> _Packs:
        """The packs' rules, loaded again only when a rule file changed on disk (parsing
        YAML is slow, and the editor checks a draft as the admin types)."""
        rules = self.ctx.core.rules
        names = frozenset(self.ctx.templates.names())
        try:
            files = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                                 for p in rules.dir.glob("*.yaml")))
        except OSError:
            files = ()
        key = (str(rules.dir), rules.packs, names, files)
        cached = self._cache
        if cached is not None and cached.key == key:
            return cached
        try:  # the packs alone: an empty community file in place of the real one
            found = _Packs(key, tuple(load_dir(rules.dir, rules.packs, names, self.path, "")),
                           ())
        except ConfigError as exc:
            found = _Packs(key, (), tuple(exc.problems))
        self._cache = found
        return found

    def validate(self, text: str) -> list[Problem]:
        """Every problem of the rules with ``text`` as the community file, as
        ``haven check`` reports them (``str(problem)`` is ``file:line: key: message``)."""
        return list(self.check(text, examples=False).problems)

    def run_examples(self, text: str) -> Checked:
        """Validate ``text``, then run its rules' examples (``haven rules test``)."""
        return self.check(text)

    def check(self, text: str, examples: bool = True) -> Checked:
        """Problems (the packs' first, as ``haven check`` lists them), then the failing
        examples of the draft's rules."""
        path = self.path
        if path is None:
            return Checked(problems=(Problem("rules", 0, "rules.community",
                                             "no community rule file is configured"),))
        if len(text) > MAX_TEXT:
            return Checked(problems=(Problem(str(path), 1, "rules",
                                             f"the file is too long ({len(text)} characters; "
                                             f"at most {MAX_TEXT})"),))
        packs = self._packs()
        try:
            mine = load_rules_text(clean(text), str(path), self.ctx.templates.names(),
                                   {r.id: r.where for r in packs.rules})
        except ConfigError as exc:
            return Checked(problems=(*packs.problems, *exc.problems))
        if packs.problems:
            return Checked(problems=packs.problems)
        count = sum(len(r.examples_match) + len(r.examples_no_match) for r in mine)
        # An example only asks whether its own rule matches: the draft's rules suffice.
        failures = Rulebook(mine).check_examples() if examples and count else []
        return Checked(failures=tuple(failures), examples=count, rules=tuple(mine),
                       packs=packs.rules)

    # -- trying a text ----------------------------------------------------------------

    async def dry_run(self, message: str, draft: str | None = None) -> DryRun:
        """Which rules match ``message`` and why, then what the semantic stage adds
        (with its reason); against ``draft`` as the community file when given, else the
        rules in force. Nothing is done and the text is never logged."""
        matches = self.ctx.rules.current().evaluate(message)
        if draft is not None:
            checked = self.check(draft, examples=False)
            if checked.rules is None:
                return DryRun(problems=checked.problems, draft=True)
            # Rules match one by one: the packs' matches in force, the draft's own.
            own = str(self.path)
            matches = sorted([*(m for m in matches if m.rule.file != own),
                              *Rulebook(checked.rules).evaluate(message)],
                             key=lambda m: (-m.rule.severity_rank, -m.rule.priority, m.rule.id))
        semantic: Literal["on", "off", "failed"] = "off"
        stage = self.ctx.detector()
        if stage is not None and message.strip():
            try:
                matches = [*matches, *await stage.detect_async(message, matches)]
                semantic = "on"
            except Exception as exc:  # the rules' answer still stands
                log.warning("semantic stage failed in a dry run: %s", exc.__class__.__name__)
                semantic = "failed"
        return DryRun(tuple(_hit(m) for m in matches), semantic=semantic,
                      draft=draft is not None)

    # -- saving -----------------------------------------------------------------------

    async def save(self, text: str, actor: Member, community_id: str,
                   base: str | None = None) -> Saved:
        """Save ``text`` as the community file if ``actor`` is an admin, it validates and
        its examples pass, and (with ``base``) nobody saved since the SHA ``base`` was
        read; record the change and a case, then put the new rules in force."""
        t = self.ctx.templates
        path = self.path
        if path is None:
            return Saved("not_configured", t.render("rules_edit_not_configured"))
        if not self.ctx.perms.is_admin(actor):
            return Saved("forbidden", t.render("rules_edit_forbidden"))
        text = clean(text)
        async with self._lock:
            try:
                old = self.read()
            except (OSError, UnicodeDecodeError) as exc:
                log.error("could not read the community rule file: %s", exc.__class__.__name__)
                return Saved("write_failed", t.render("rules_edit_write_failed"))
            if base is not None and base != old.sha:
                return Saved("conflict", t.render("rules_edit_conflict"))
            if text == old.text:
                return Saved("unchanged", t.render("rules_edit_unchanged"))
            checked = await asyncio.to_thread(self.check, text)
            if checked.problems:
                return Saved("invalid", t.render("rules_edit_invalid",
                                                 count=len(checked.problems)), checked)
            if not checked.ok:
                return Saved("examples_failed", t.render("rules_edit_examples_failed",
                                                         count=len(checked.failures)), checked)
            book = await asyncio.to_thread(checked.rulebook)
            return await self._write(path, old, text, checked, book, actor, community_id)

    async def _write(self, path: Path, old: Draft, text: str, checked: Checked, book: Rulebook,
                     actor: Member, community_id: str) -> Saved:
        """Record, write (one transaction: a failed write records nothing), swap."""
        ctx, t = self.ctx, self.ctx.templates
        diff, added, removed = unified_diff(old.text, text, path.name)
        now = ctx.clock.now()
        try:
            async with ctx.transaction():
                change_id = await ctx.repo.changes.add(
                    community_id, path.name, actor.id, actor.name, now, diff, added, removed,
                    old.sha, sha256(text), len(book.rules))
                reason = t.render("rules_edit_case", file=path.name, added=added,
                                  removed=removed, change=change_id)
                case = await ctx.repo.cases.record_case(
                    community_id, "rules_edit", None, reason, actor.id, actor.name,
                    f"rules:{path.name}", path.name, now)
                write_atomic(path, text)
        except Exception as exc:  # nothing recorded, the file and the rules unchanged
            log.error("could not save the community rule file: %s", exc.__class__.__name__)
            return Saved("write_failed", t.render("rules_edit_write_failed"), checked)
        ctx.rules.replace(book)
        log.info("community rule file changed by %s: change #%d, case #%d, %d rules in force",
                 actor.id, change_id, case.number, len(book.rules))
        return Saved("saved", t.render("rules_edit_saved", change=change_id, case=case.number,
                                       count=len(book.rules)), checked, change_id, case.id)


def _hit(m: Match) -> Hit:
    rule = m.rule
    score = getattr(m, "score", None)
    return Hit(rule=rule.id, category=rule.category, severity=rule.severity,
               description=rule.description, reason=m.reason, matched=m.matched,
               actions=tuple(a.name for a in rule.actions), shadow=rule.shadow,
               file=rule.file or SEMANTIC_FILE, line=rule.line,
               score=float(score) if score is not None else None)

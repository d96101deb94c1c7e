"""Member- and moderator-facing message templates, overridable in config.

Templates use ``{placeholder}`` fields. Unknown placeholders in an admin's
template are a config error at start-up, never a crash at run time.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

DEFAULT_TEMPLATES: dict[str, str] = {
    "welcome": (
        "Welcome to **{community}**, {member}. We're glad you found us.\n"
        "This is a peer-support space: people here listen and share what helped them. "
        "We are not a crisis service.\n"
        "- Please read the house rules in {rules_channel} before posting.\n"
        "- Heavier topics go in content-warning channels: start your post with `CW:` and the topic.\n"
        "- If you need help right now, use the `{command_prefix}resources` command for helplines "
        "in your country.\n"
        "When you're ready, say hello and tell us a little about yourself."
    ),
    "greeting": "Welcome, {member}, and thank you for your first post. Someone will be along soon.",
    "greeter_ping": "{greeters}: {member} just made their first post. Could someone say hello?",
    "crisis_signpost": (
        "Hi {member}. What you wrote sounds really hard, and we're glad you shared it. "
        "Our moderators have been let know so a person can check in with you.\n"
        "If you are in danger or might act on these thoughts, please contact a crisis line now:\n"
        "{helplines}"
    ),
    "topic_signpost": "Hi {member}, in case it helps, these services know about this:\n{helplines}",
    "hidden_post": (
        "Hi {member}, your post in {channel} has been hidden.\n"
        "Why: {explain} (rule `{rule}`)\n"
        "Here is your text so nothing is lost:\n{text}"
    ),
    "hidden_notice": "A post by {member} was hidden ({rule}): {explain}",
    "hidden_notice_no_dm": (
        "A post by {member} was hidden ({rule}): {explain} "
        "I couldn't message you privately, so a moderator will send you your text."
    ),
    "cw_missing": (
        "Hi {member}, {channel} is a content-warning channel, so posts there need a label at the "
        "start (for example `{label} self-harm`) or to be wholly in spoilers. "
        "Your post has been hidden for now; here is your text to repost with a label:\n{text}"
    ),
    "cw_redirect": (
        "Hi {member}, your post in {channel} touches on a topic that needs a content warning "
        "({explain}). Please post it in {cw_channel} starting with `{label}` and the topic. "
        "Here is your text so nothing is lost:\n{text}"
    ),
    "cw_reposted": (
        "Hi {member}, your post in {channel} needed a content warning, so I moved it to "
        "{cw_channel} under a `{label}` label. Here is your original text:\n{text}"
    ),
    "cw_repost": "{label} {topic} (posted by {member}, moved from {channel})",
    "cw_notice": "{member}'s post was moved to {cw_channel}: this topic belongs in a "
                 "content-warning channel.",
    "cw_notice_hidden": (
        "{member}'s post was hidden: this topic belongs in {cw_channel}. I've sent them their "
        "text so they can post it there with a content warning."
    ),
    "cw_notice_no_dm": (
        "{member}'s post was hidden: this topic belongs in {cw_channel}. I couldn't message "
        "them privately; a moderator will send them their text."
    ),
    "cw_missing_notice": (
        "{member}: posts here need a content warning (start with `{label}`). "
        "I've sent you your text to repost."
    ),
    "cw_missing_notice_no_dm": (
        "{member}: posts here need a content warning (start with `{label}`). "
        "I couldn't message you privately; a moderator can send you your text."
    ),
    "warning": (
        "Hi {member}, this is a warning from the moderators of {community}.\n"
        "Rule: {rule}\nWhy: {explain}"
    ),
    "timeout": (
        "Hi {member}, you can't post in {community} for {duration}.\nRule: {rule}\nWhy: {explain}"
    ),
    "pii_nudge": "Hi {member}, a gentle note about your post in {channel}: {explain}",
    "private_crisis_reply": (
        "Hi {member}, thank you for telling me. I'm a bot, so I have let the moderators of "
        "{community} know: a person will read this and get back to you.\n"
        "If you are in danger or might act on these thoughts, please contact a crisis line now:\n"
        "{helplines}"
    ),
    "private_crisis_again": (
        "Thank you, {member}. I've passed this on to the moderators too. If you are in danger "
        "now, please call one of the crisis lines in my earlier message."
    ),
    "missing_permission": "**Haven needs a permission it doesn't have:** {permission}{where}. "
                          "Until it is granted, some safety actions cannot be carried out.",
    "already_done": "That request arrived twice; it was carried out once, the first time.",
    "dm_not_accepted": (
        "{member}, Haven sent you a private message. Please accept the direct chat "
        "invitation from Haven to read it."
    ),
    "catchup_incomplete": (
        "**Haven could not read everything posted while it was offline.** "
        "Messages in {channel} were not checked ({span}). "
        "Please read them yourselves: someone may need help."
    ),
    # answers the core and the adapters give to commands and buttons
    "still_starting": "Haven is still starting; try again in a moment.",
    "command_error": "Sorry, something went wrong handling that. It has been logged.",
    "commands_outside_server": "Haven's commands work inside its server.",
    "command_crashed": "Sorry, something went wrong. The moderators can find the details in "
                       "Haven's log.",
    "command_done": "Done.",
    "command_failed": "Sorry, that command failed.",
    "public_moderators_channel": (
        "**This channel is visible to everyone**; Haven will not post crisis details here until "
        "it is made private. Alerts still arrive here, but without the member's words.\n"
        "To fix it: Edit Channel > Permissions > {role} > deny **View Channel**, then allow it "
        "for the moderators' role and for Haven."
    ),
}

PLACEHOLDERS: frozenset[str] = frozenset({
    "member", "community", "rules_channel", "helplines", "channel", "rule", "explain", "text",
    "label", "cw_channel", "greeters", "duration", "span", "command_prefix", "topic", "permission", "where",
    "role",
})


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def placeholders_in(template: str) -> set[str]:
    """The ``{names}`` a template uses; raises ``ValueError`` on broken braces."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return names


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill a template; missing values become empty, never an error."""
    return string.Formatter().vformat(template, (), _Blank({k: str(v) for k, v in values.items()}))


class Templates:
    """Defaults overlaid with the admin's ``templates:`` config section."""

    def __init__(self, overrides: Mapping[str, str] | None = None,
                 defaults: Mapping[str, str] | None = None) -> None:
        self._templates = {**DEFAULT_TEMPLATES, **(defaults or {}), **(overrides or {})}
        """Core defaults, then the features' own defaults, then the admin's overrides."""

    def names(self) -> set[str]:
        """Every template name available to rules."""
        return set(self._templates)

    def get(self, name: str) -> str:
        """The template called ``name``."""
        return self._templates[name]

    def render(self, name: str, /, **values: object) -> str:
        """Fill template ``name`` with ``values`` (a template may use ``{name}`` too)."""
        return render(self._templates[name], values)


def _field_problem(field: str, spec: str | None, conversion: str | None) -> str | None:
    """Why a ``{field!conversion:spec}`` could fail at run time, or ``None`` if it is safe."""
    shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
    if field == "" or field.isdigit():
        return f"{shown}: placeholders need a name, like {{member}}"
    if "." in field or "[" in field:
        return f"{shown}: use plain placeholders like {{member}}, without . or [ ]"
    if conversion not in (None, "s", "r", "a"):
        return f"{shown}: unknown conversion !{conversion}"
    if spec:
        if "{" in spec:
            return f"{shown}: placeholders cannot be nested"
        try:
            format("", spec)
            format("text", spec)
        except ValueError as exc:
            return f"{shown}: {exc}"
    return None


def validate_templates(templates: Mapping[str, str],
                       defaults: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, message) for each template problem that would break rendering at run time.

    Reports broken braces, unknown placeholders, and placeholders that would fail
    when filled with text (positional ``{}``, attribute or index access, bad
    format specs), so admins learn at start-up rather than when a member is waiting.
    """
    problems = []
    for name, text in templates.items():
        known = PLACEHOLDERS
        if defaults is not None and name in defaults:
            # a feature's own template may use the placeholders its default uses
            known = PLACEHOLDERS | placeholders_in(defaults[name])
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)
                      if f is not None]
        except ValueError as exc:
            problems.append((name, f"broken placeholder: {exc}"))
            continue
        unknown: set[str] = set()
        for field, spec, conv in fields:
            message = _field_problem(field, spec, conv)
            if message:
                problems.append((name, message))
            elif field not in known:
                unknown.add(field)
        if unknown:
            problems.append((name, "unknown placeholder(s): " + ", ".join(
                "{" + u + "}" for u in sorted(unknown)) + "; known: " + ", ".join(
                sorted(known))))
    return problems


def plural(count: int | float, singular: str, plural_form: str | None = None) -> str:
    """``1 day``, ``2 days``, ``0 alerts``: a count with its noun in the right number.

    ``plural_form`` is for nouns that do not just take an ``s`` (``1 reply``, ``2 replies``).
    """
    shown = int(count) if float(count).is_integer() else count
    noun = singular if shown == 1 else (plural_form or f"{singular}s")
    return f"{shown} {noun}"

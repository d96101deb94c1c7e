"""Golden values: what must not change by accident.

``COMMANDS`` is the command list as moderators and members know it (names,
parameters, order, help texts). The features declare their commands beside their
code; ``tests/test_app.py`` asserts that together they still give exactly this
list, so a reordering or a renamed parameter is a visible change (and Discord does
not re-sync its slash commands for nothing).
"""

from __future__ import annotations

from bot.core.commandspec import CommandSpec, Param

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "What Haven can do and how to use it", moderator_only=False),
    CommandSpec("resources", "Helplines and support services", moderator_only=False),
    CommandSpec("mydata", "See what Haven stores about you (sent privately)", moderator_only=False),
    CommandSpec("forgetme", "Delete what Haven stores about you (says what first; then confirm)",
                (Param("confirm", "choice", "confirm: really delete it", required=False,
                       choices=("confirm",)),), moderator_only=False),
    CommandSpec("alerts", "Open crisis and safety alerts"),
    CommandSpec("claim", "Take an alert so others know you are on it",
                (Param("alert", "int", "Alert number"),)),
    CommandSpec("resolve", "Close an alert, with an optional note",
                (Param("alert", "int", "Alert number"),
                 Param("note", "text", "What happened", required=False, rest=True))),
    CommandSpec("unanswered", "Support posts still waiting for a reply, longest first"),
    CommandSpec("rules reload", "Validate the rule files and swap them in without a restart"),
    CommandSpec("rules test", "Dry run: which rules match this text and why (nothing is done)",
                (Param("text", "text", "Text to test", rest=True),)),
    CommandSpec("feedback", "Teach semantic detection: an alert was a false alarm, or a post was "
                "missed (goes to a review file an admin trains on)",
                (Param("kind", "choice", "falsealarm or missed", choices=("falsealarm", "missed")),
                 Param("label", "choice", "What it really is",
                       choices=("crisis", "concern", "method", "hostility", "pii", "distress",
                                "recovery", "none")),
                 Param("what", "text", "Alert number (falsealarm) or the post's text (missed)",
                       rest=True))),
    CommandSpec("warn", "Warn a member, citing the rule or reason",
                (Param("member", "member", "Who"),
                 Param("reason", "text", "Rule id or reason", rest=True))),
    CommandSpec("note", "Add a private moderator note about a member",
                (Param("member", "member", "Who"),
                 Param("text", "text", "The note", rest=True))),
    CommandSpec("case", "Show one case", (Param("id", "int", "Case number"),)),
    CommandSpec("history", "Cases and notes about a member", (Param("member", "member", "Who"),)),
    CommandSpec("timeout", "Stop a member posting for a while",
                (Param("member", "member", "Who"),
                 Param("minutes", "int", "How long, in minutes"),
                 Param("reason", "text", "Rule id or reason", rest=True))),
    CommandSpec("duty", "Go on or off duty, or list who is on duty",
                (Param("state", "choice", "on, off or list", choices=("on", "off", "list")),)),
    CommandSpec("quiet", "Set your own quiet hours (no alert mentions), e.g. 22:00-07:00 or off",
                (Param("hours", "text", "HH:MM-HH:MM or off"),)),
    CommandSpec("handover", "Add to the shift logbook, or show it and what happened since",
                (Param("text", "text", "Note for the next shift", required=False, rest=True),)),
    CommandSpec("stats", "Community health figures",
                (Param("days", "int", "How many days back (default 30)", required=False),)),
    CommandSpec("excerpts", "How much of a post's text alerts show you: on, spoiler, off or "
                "default", (Param("mode", "choice", "on, spoiler, off or default",
                                  choices=("on", "spoiler", "off", "default")),)),
    CommandSpec("team", "Who handled what: alerts claimed, resolved, crisis and at night"),
    CommandSpec("checkin", "Ask another moderator, quietly, to check in with you"),
    CommandSpec("raid", "Raid mode: status, on or off",
                (Param("state", "choice", "status, on or off", choices=("status", "on", "off")),)),
    # issue 14: the review digest
    CommandSpec("digest", "What is waiting for review now (flags, reports, first posts)"),
    CommandSpec("reviewed", "Mark a review item (or all) as done",
                (Param("item", "text", "Item number, or all"),)),
    CommandSpec("report", "Tell the moderators privately about a post",
                (Param("link", "text", "Link to the post"),
                 Param("reason", "text", "Why (optional)", required=False, rest=True)),
                moderator_only=False),
    # issue 13: the web dashboard
    CommandSpec("dashboard", "Get a private sign-in link to the web dashboard (or logout-all)",
                (Param("action", "choice", "link (default) or logout-all", required=False,
                       choices=("link", "logout-all")),)),
)

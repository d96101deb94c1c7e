"""The raid guard's texts: whole sentences, each overridable under ``templates:``.

The moderators' notices are sent as lines, one template per line: the start
(``raid_started``, or a variant when first posts are not held or a moderator turned
raid mode on), then what happened to ``slow_channels``. ``raid_held`` goes to a
newcomer whose first post was held, with their text. The ``raid_status_*`` and
``raid_answer_*`` texts answer the ``raid`` command.
"""

from __future__ import annotations

from types import MappingProxyType

TEMPLATES = MappingProxyType({
    "raid_started": (
        "Raid mode is on: {joins} people joined within {window}. New members' first posts are "
        "held for review until {until}. End it early with {command}."
    ),
    "raid_started_no_hold": (
        "Raid mode is on: {joins} people joined within {window}. It lasts until {until}. "
        "End it early with {command}."
    ),
    "raid_started_by": (
        "{member} turned raid mode on. New members' first posts are held for review until "
        "{until}. End it early with {command}."
    ),
    "raid_started_by_no_hold": (
        "{member} turned raid mode on until {until}. End it early with {command}."
    ),
    "raid_slowed": "{channels} are slowed to one post every {seconds} seconds until then.",
    "raid_cannot_slow": "This platform cannot slow channels, so only first posts are held.",
    "raid_cannot_slow_nothing": (
        "This platform cannot slow channels and first posts are not held, so raid mode only "
        "counts joins."
    ),
    "raid_explain": "a lot of new people arrived at once, so first posts wait for a moderator",
    "raid_held": (
        "Hi {member}, a lot of new people arrived at once, so first posts are held for a "
        "moderator to look at. Here is your text so nothing is lost:\n{text}"
    ),
    "raid_ended": (
        "Raid mode has ended after {duration}: {joins} joins, {held} first post(s) held "
        "({cases})."
    ),
    "raid_status_on": (
        "Raid mode is on since {since}, until {until}: {joins} joins, {held} first post(s) held "
        "({cases})."
    ),
    "raid_status_off": (
        "Raid mode is off. It starts by itself when {joins} people join within {window}."
    ),
    "raid_status_off_manual": (
        "Raid mode is off. It does not start by itself here (raid.enabled is false); "
        "{command} turns it on."
    ),
    "raid_answer_on": "Raid mode is on until {until}.",
    "raid_answer_already_on": "Raid mode is already on, until {until}.",
    "raid_answer_off": "Raid mode has ended.",
    "raid_answer_ending": (
        "Raid mode is ending: I could not tell the moderators' channel yet and will keep trying."
    ),
    "raid_answer_already_off": "Raid mode is not on.",
})
"""Default texts of the raid guard (names unique across features)."""

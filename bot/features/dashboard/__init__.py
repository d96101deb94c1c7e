"""Dashboard: the ``dashboard`` command (a private one-time sign-in link for a moderator,
or ``dashboard logout-all``) and the live feed of changes the web pages listen to.

The web server itself is :mod:`bot.dashboard` (started by the runner when
``dashboard.listen`` is set); this feature is its door in chat. Its config section
(``dashboard:``) is :data:`bot.dashboard.config.DASHBOARD_SECTION`, handed to it by the
composition root.
"""

from types import MappingProxyType

from bot.core.feature import FeatureSpec
from bot.features.dashboard.commands import DashboardCommands
from bot.features.dashboard.feature import DashboardFeature
from bot.storage.repositories.dashboard import DashboardRepository

TEMPLATES = MappingProxyType({
    "dashboard_link": "Your sign-in link for Haven's dashboard of {community}:\n{link}\n"
                      "It works once, within {minutes} minutes, and signs you in as yourself: "
                      "please don't pass it on.",
    "dashboard_link_sent": "I've sent you a private message with a sign-in link. It works once, "
                           "within {minutes} minutes.",
    "dashboard_no_dm": "I couldn't message you privately, so no link was sent. Allow direct "
                       "messages from members of this community, then try {command} again.",
    "dashboard_dm_failed": "I couldn't send the private message just now, so no link was sent. "
                           "Please try {command} again in a moment.",
    "dashboard_off": "The dashboard is not switched on here. An admin can turn it on with "
                     "dashboard.listen and dashboard.public_url in the config.",
    "dashboard_logged_out": "Signed out {sessions} of the dashboard for this community; unused "
                            "links no longer work. Everyone signs in again with {command}.",
})

SPEC: FeatureSpec[object, DashboardRepository] = FeatureSpec(
    name="dashboard", build=lambda ctx, siblings: DashboardFeature(ctx),
    repository=DashboardRepository, commands=DashboardCommands, templates=TEMPLATES,
)

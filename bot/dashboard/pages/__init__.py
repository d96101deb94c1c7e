"""The dashboard's pages, in navigation order. Adding a page is its module (exporting
``PAGE``, see :mod:`bot.dashboard.page`), its template, and one line here."""

from bot.dashboard.page import Page
from bot.dashboard.pages import (
    alerts,
    health,
    members,
    review,
    rules,
    settings,
    shift,
    unanswered,
)

PAGES: tuple[Page, ...] = (
    alerts.PAGE,
    unanswered.PAGE,
    members.PAGE,
    shift.PAGE,
    review.PAGE,
    health.PAGE,
    rules.PAGE,
    settings.PAGE,
)

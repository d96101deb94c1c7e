"""Persistent Claim / Resolve buttons for alert messages.

The buttons are :class:`discord.ui.DynamicItem` subclasses: their ``custom_id``
(``haven:alert:claim:<id>`` / ``haven:alert:resolve:<id>``) carries the alert
number, so one registration (``client.add_dynamic_items``) handles the buttons
of every alert ever sent, also after a restart, with no view to rebuild. The review
digest's *Reviewed* buttons (``haven:alert:reviewed:<item>``, item 0: all) are the same
kind of button, asked for with ``Outgoing.buttons``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

CUSTOM_ID_PREFIX = "haven:alert:"
CUSTOM_ID_RE = re.compile(
    r"haven:alert:(?P<action>claim|resolve|reviewed):(?P<alert_id>[0-9]{1,18})")
MAX_BUTTONS = 25
"""Discord's limit of buttons on one message (5 rows of 5)."""

ButtonHandler = Callable[[discord.Interaction[Any], str, int], Awaitable[None]]
"""Called as ``handler(interaction, action, alert_id)`` when a button is pressed."""

_LABELS = {"claim": ("Claim", discord.ButtonStyle.primary), "resolve": ("Resolve", discord.ButtonStyle.success),
           "reviewed": ("Reviewed", discord.ButtonStyle.secondary)}


def label_of(action: str, number: int) -> str:
    """A button's label: ``Claim``, ``Resolve``, ``Reviewed 3`` (a digest item) or
    ``All reviewed`` (number 0)."""
    label = _LABELS[action][0]
    if action == "reviewed":
        return f"{label} {number}" if number else "All reviewed"
    return label


def custom_id(action: str, alert_id: int) -> str:
    """The ``custom_id`` of an alert button."""
    return f"{CUSTOM_ID_PREFIX}{action}:{int(alert_id)}"


def make_alert_button_class(handler: ButtonHandler) -> type[discord.ui.DynamicItem[discord.ui.Button[Any]]]:
    """A DynamicItem class whose callback calls ``handler``.

    A fresh class per adapter keeps the handler out of module globals, so two
    adapters (tests) never share state.
    """

    class AlertButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID_RE):
        """A Claim or Resolve button on one alert."""

        def __init__(self, action: str, alert_id: int) -> None:
            style = _LABELS[action][1]
            super().__init__(discord.ui.Button(label=label_of(action, alert_id), style=style,
                                               custom_id=custom_id(action, alert_id)))
            self.action = action
            self.alert_id = alert_id

        @classmethod
        async def from_custom_id(
            cls,
            interaction: discord.Interaction[Any],
            item: discord.ui.Item[Any],
            match: re.Match[str],
            /,
        ) -> AlertButton:
            return cls(match["action"], int(match["alert_id"]))

        async def callback(self, interaction: discord.Interaction[Any]) -> None:
            await handler(interaction, self.action, self.alert_id)

    return AlertButton


def alert_view(alert_id: int, button_class: type[discord.ui.DynamicItem[Any]]) -> discord.ui.View:
    """A view with the Claim and Resolve buttons of ``alert_id`` (never times out)."""
    view = discord.ui.View(timeout=None)
    for action in ("claim", "resolve"):
        view.add_item(button_class(action, alert_id))  # type: ignore[call-arg]
    return view


def buttons_view(alert_id: int | None, buttons: tuple[tuple[str, int], ...],
                 button_class: type[discord.ui.DynamicItem[Any]]) -> discord.ui.View | None:
    """The alert's buttons (if ``alert_id``) and the message's other ``buttons``, up to
    Discord's limit; ``None`` when there are none."""
    wanted = [*((a, alert_id) for a in ("claim", "resolve") if alert_id is not None), *buttons]
    if not wanted:
        return None
    view = discord.ui.View(timeout=None)
    for action, number in wanted[:MAX_BUTTONS]:
        view.add_item(button_class(action, number))  # type: ignore[call-arg]
    return view

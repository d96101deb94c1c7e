"""Persistent Claim / Resolve buttons for alert messages.

The buttons are :class:`discord.ui.DynamicItem` subclasses: their ``custom_id``
(``haven:alert:claim:<id>`` / ``haven:alert:resolve:<id>``) carries the alert
number, so one registration (``client.add_dynamic_items``) handles the buttons
of every alert ever sent, also after a restart, with no view to rebuild.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

CUSTOM_ID_PREFIX = "haven:alert:"
CUSTOM_ID_RE = re.compile(r"haven:alert:(?P<action>claim|resolve):(?P<alert_id>[0-9]{1,18})")

ButtonHandler = Callable[[discord.Interaction[Any], str, int], Awaitable[None]]
"""Called as ``handler(interaction, action, alert_id)`` when a button is pressed."""

_LABELS = {"claim": ("Claim", discord.ButtonStyle.primary), "resolve": ("Resolve", discord.ButtonStyle.success)}


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
            label, style = _LABELS[action]
            super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id(action, alert_id)))
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

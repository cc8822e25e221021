"""Slack listeners only: parse -> validate -> authorize -> acknowledge -> hand over.

Each module has one `register(app, service)`; `register_all` wires them all. The logic behind
them lives in `bot.incidents.IncidentService`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import actions, commands, events

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.incidents import IncidentService

MODULES = (commands, actions, events)


def register_all(app: AsyncApp, service: IncidentService) -> None:
    for module in MODULES:
        module.register(app, service)

"""Slack listeners only: parse -> validate -> authorize -> acknowledge -> hand over.

Each listener module has one `register(app, service)`; `register_all` wires them all. Parsing
(`parsing`), authorization (`access`), intake (`intake`) and Slack payload reading (`payloads`)
are plain modules the console uses too. The work itself runs in `bot.threads` after the ack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from handlers.intake import Intake


def register_all(app: AsyncApp, intake: Intake) -> None:
    # imported here, so that `handlers.parsing` & co. do not pull in Bolt for the console
    from handlers import actions, alerts, commands, events

    for module in (commands, actions, events, alerts):
        module.register(app, intake)

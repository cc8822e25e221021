"""Slash commands: acknowledge with the one-line answer, then hand the work to the incident service."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import USAGE
from bot.slack import SlackSink
from handlers.intake import Intake


def register(app: AsyncApp, intake: Intake) -> None:
    for name in USAGE:
        app.command(name)(_handler(intake, name))


def _handler(intake: Intake, name: str) -> Any:
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        sink = SlackSink(client, command["channel_id"], response_url=command.get("response_url") or None,
                         patience=intake.settings.slack.patience)
        user = command["user_id"]
        accepted = await intake.accept(name, command.get("text") or "", sink=sink, user=user)
        if accepted.reply is None:
            await ack()
        else:
            await ack(response_type="ephemeral", text=accepted.reply.text, blocks=accepted.reply.blocks or None)
        intake.start(accepted, sink=sink, user=user)

    on_command.__name__ = f"on_{name.lstrip('/')}"
    return on_command

"""Slash commands: acknowledge with the one-line answer, then hand the work to the incident service."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import USAGE
from bot.incidents import IncidentService, SlackSink


def register(app: AsyncApp, service: IncidentService) -> None:
    for name in USAGE:
        app.command(name)(_handler(service, name))


def _handler(service: IncidentService, name: str) -> Any:
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        sink = SlackSink(client, command["channel_id"])
        user = command["user_id"]
        accepted = await service.accept(name, command.get("text") or "", sink=sink, user=user)
        if accepted.reply is None:
            await ack()
        else:
            await ack(response_type="ephemeral", text=accepted.reply.text, blocks=accepted.reply.blocks or None)
        service.start(accepted, sink=sink, user=user)

    on_command.__name__ = f"on_{name.lstrip('/')}"
    return on_command

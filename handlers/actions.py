"""Interactive messages: checklist checkboxes and next-step buttons."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.incidents import IncidentService, SlackSink


def register(app: AsyncApp, service: IncidentService) -> None:
    async def on_action(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        sink = SlackSink(client, body["channel"]["id"])
        user = body["user"]["id"]
        thread_ts = (body.get("message") or {}).get("thread_ts")
        accepted = await service.accept_action(body, sink=sink)
        if accepted.reply is not None:
            await sink.notify(user, accepted.reply, thread_ts=thread_ts)
        service.start(accepted, sink=sink, user=user, thread_ts=thread_ts)

    # Action ids of several buttons in one block must differ, so they share a prefix.
    for action_id in (blocks.ActionId.CHECKLIST, blocks.ActionId.NEXT_STEP):
        app.action(re.compile(f"^{re.escape(action_id)}"))(on_action)

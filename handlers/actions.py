"""Interactive messages: one listener per interaction, as Bolt registers one listener per action id.

A checklist checkbox ticks or unticks items; a next-step button runs a read-only follow-up. Intake
finds the incident, authorizes and (for a tick) commits it to SQLite; then the request is
acknowledged (so a 200 means the tick is stored, whatever happens next); then the work starts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import ActionId
from bot.slack import SlackSink
from handlers.intake import Accepted, Intake

Accept = Callable[..., Awaitable[Accepted]]


def register(app: AsyncApp, intake: Intake) -> None:
    # Action ids of several buttons (or checkbox groups) in one message must differ: they share a prefix.
    app.action(re.compile(f"^{re.escape(ActionId.CHECKLIST)}"))(_listener(intake, intake.accept_tick, "on_tick"))
    app.action(re.compile(f"^{re.escape(ActionId.NEXT_STEP)}"))(
        _listener(intake, intake.accept_next_step, "on_next_step")
    )


def _listener(intake: Intake, accept: Accept, name: str) -> Callable[..., Awaitable[None]]:
    async def on_action(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        sink = SlackSink(client, body["channel"]["id"], response_url=body.get("response_url") or None,
                         patience=intake.settings.slack.patience)
        user = body["user"]["id"]
        thread_ts = (body.get("message") or {}).get("thread_ts")
        accepted = await accept(body, sink=sink)
        await ack()
        if accepted.reply is not None:
            await sink.notify(user, accepted.reply, thread_ts=thread_ts)
        intake.start(accepted, sink=sink, user=user, thread_ts=thread_ts)

    on_action.__name__ = name
    return on_action

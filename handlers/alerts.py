"""The Close button an incident thread offers once its alerts resolved and a recheck found nothing
wrong: the same as `/incident close` in the thread (access checked, a closed incident refused)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import IncidentCommand
from bot.render import ActionId
from bot.slack import SlackSink
from bot.store import Incident
from bot.threads import ThreadSink
from handlers.intake import Accepted, Intake


def register(app: AsyncApp, intake: Intake) -> None:
    async def on_close_button(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        sink = SlackSink(client, body["channel"]["id"], response_url=body.get("response_url") or None,
                         patience=intake.settings.slack.patience)
        user = body["user"]["id"]
        thread_ts = (body.get("message") or {}).get("thread_ts")

        async def plan(incident: Incident, action: dict[str, Any], body: dict[str, Any], sink: ThreadSink,
                       user: str) -> Accepted:
            close = IncidentCommand("close", incident_id=incident.id)
            return Accepted("incident-close", work=lambda: intake.service.close(sink, close, user=user))

        accepted = await intake._accept_action("incident-close", body, sink, plan)
        await ack()
        if accepted.reply is not None:
            await sink.notify(user, accepted.reply, thread_ts=thread_ts)
        intake.start(accepted, sink=sink, user=user, thread_ts=thread_ts)

    app.action(ActionId.INCIDENT_CLOSE.value)(on_close_button)

"""Events: `@opsbot debug SERVICE` in a channel or inside an incident thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import SlackSink
from handlers.intake import Intake


def register(app: AsyncApp, intake: Intake) -> None:
    service = intake.service

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        # Bolt acknowledged already. Slack redelivers events it thinks were lost (same event_id,
        # X-Slack-Retry-Num): only the first delivery may act.
        if not await service.claim_event(str(body.get("event_id") or event.get("event_ts"))):
            return
        sink = SlackSink(client, event["channel"], patience=intake.settings.slack.patience)
        user = event.get("user", "")
        thread_ts = event.get("thread_ts")
        accepted = await intake.accept("mention", event.get("text", ""), sink=sink, user=user, thread_ts=thread_ts)
        intake.start(accepted, sink=sink, user=user, thread_ts=thread_ts)
        # The thread itself shows that a playbook started; only answers and refusals need a line.
        if accepted.reply is not None and (accepted.work is None or accepted.outcome != "ok"):
            # Not the acknowledgement (that carries nothing for events): a line only this person sees.
            service.spawn(
                sink.notify(user, accepted.reply, thread_ts=thread_ts),
                sink=sink,
                user=user,
                command="notify",
                thread_ts=thread_ts,
                count=False,
            )

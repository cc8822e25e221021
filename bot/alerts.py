"""`POST /alertmanager`: Alertmanager's webhook receiver on `opsbot serve`.

The handler stays fast: it checks the credentials (constant time), validates the body (Alertmanager
webhook v4), routes each alert to its service and channel, answers, and leaves the rest to the
`AlertDesk` in the background. Bad credentials: 401; a bad body: 400 with the reason (never the
body's values). Nothing of the payload is logged: only counts.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.alertmanager import Alert, BadPayload, Target, authorized, channel_of, parse_notification, target_of
from bot.config import Settings
from bot.plumbing.metrics import COMMANDS
from bot.slack import SlackSink
from bot.threads import IncidentService
from bot.threads.alerts import AlertDesk

ALERTS_PATH = "/alertmanager"
# A storm's notification carries every alert of its group (max_alerts: 0): 10,000 alerts with their
# labels and annotations run to ~15 MB. The app's 1 MiB cap (Slack's payloads) would refuse it, and
# Alertmanager would retry the same body forever: this route reads up to this much itself.
MAX_ALERTS_BODY = 32 * 1024 * 1024

log = logging.getLogger(__name__)


def _answer(status: int, **body: object) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="opsbot", Bearer'} if status == 401 else None
    return web.Response(status=status, text=json.dumps(body) + "\n", content_type="application/json",
                        headers=headers)


async def _body(request: web.Request) -> bytes | None:
    """The whole body, or None when it is over `MAX_ALERTS_BODY` (said by Content-Length, or read)."""
    if request.content_length is not None and request.content_length > MAX_ALERTS_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_ALERTS_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def add_alert_routes(web_app: web.Application, desk: AlertDesk, settings: Settings) -> None:
    """Mount the webhook (only when a credential is configured: an open door takes nothing)."""
    if not settings.alerts.enabled:
        return

    async def alertmanager(request: web.Request) -> web.Response:
        with desk.service.answering():  # background work waits for this answer, as for Slack's
            return await answer(request)

    async def answer(request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization"), settings):
            COMMANDS.labels(command="alert", outcome="denied").inc()
            log.warning("refused a request to %s: bad or missing credentials", ALERTS_PATH)
            return _answer(401, error="bad or missing credentials")
        body = await _body(request)
        if body is None:
            COMMANDS.labels(command="alert", outcome="usage").inc()
            log.warning("refused a request to %s: body over %d bytes", ALERTS_PATH, MAX_ALERTS_BODY)
            return _answer(413, error=f"body over {MAX_ALERTS_BODY // (1024 * 1024)} MiB: set max_alerts in the"
                                      " webhook_config (Alertmanager then sends the rest as truncatedAlerts)")
        try:
            notification = parse_notification(body)
        except BadPayload as exc:
            COMMANDS.labels(command="alert", outcome="usage").inc()
            log.warning("refused a request to %s: %s", ALERTS_PATH, exc)
            return _answer(400, error=f"not an Alertmanager v4 webhook: {exc}")
        groups: dict[Target, list[Alert]] = {}
        nameless: dict[str, list[Alert]] = {}  # channel -> alerts that name no service
        unrouted = 0
        for alert in notification.alerts:
            target = target_of(alert, settings)
            if target is None:
                unrouted += 1
                channel = channel_of(alert, settings)
                if channel is not None:
                    nameless.setdefault(channel, []).append(alert)
            else:
                groups.setdefault(target, []).append(alert)
        if unrouted:
            log.warning("%d alert(s) name no service (labels %s or alerts.services) or no channel: no thread",
                        unrouted, ", ".join(settings.alerts.service_labels))
        desk.receive(groups)
        for channel, alerts in nameless.items():
            desk.unrouted(channel, alerts)
        if notification.truncated_alerts:
            log.warning("Alertmanager left out %d alert(s) of a group (max_alerts)", notification.truncated_alerts)
            first = notification.alerts[0] if notification.alerts else None
            channel = channel_of(first, settings) if first is not None else settings.alerts.channel
            if channel is not None:
                desk.truncated(channel, notification.group_key, notification.truncated_alerts,
                               len(notification.alerts))
        COMMANDS.labels(command="alert", outcome="ok").inc()
        return _answer(200, accepted=len(notification.alerts) - unrouted, ignored=unrouted,
                       threads=len(groups))

    web_app.router.add_post(ALERTS_PATH, alertmanager)


def mount_alerts(web_app: web.Application, service: IncidentService, client: AsyncWebClient) -> AlertDesk:
    """The desk that lands alerts in Slack threads, and its route (when alerts are configured). The
    runtime's settings: with --demo they hold the sandbox's catalogue (which namespace a service is in)."""
    settings = service.runtime.settings
    desk = AlertDesk(service, settings, lambda channel: SlackSink(client, channel, patience=settings.slack.patience))
    add_alert_routes(web_app, desk, settings)
    return desk

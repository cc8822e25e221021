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

from bot.alertmanager import Alert, BadPayload, Target, authorized, parse_notification, target_of
from bot.config import Settings
from bot.plumbing.metrics import COMMANDS
from bot.slack import SlackSink
from bot.threads import IncidentService
from bot.threads.alerts import AlertDesk

ALERTS_PATH = "/alertmanager"

log = logging.getLogger(__name__)


def _answer(status: int, **body: object) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="opsbot", Bearer'} if status == 401 else None
    return web.Response(status=status, text=json.dumps(body) + "\n", content_type="application/json",
                        headers=headers)


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
        try:
            body = await request.read()
        except web.HTTPException as exc:  # too large: aiohttp's own 413
            return _answer(exc.status, error=exc.reason)
        try:
            notification = parse_notification(body)
        except BadPayload as exc:
            COMMANDS.labels(command="alert", outcome="usage").inc()
            log.warning("refused a request to %s: %s", ALERTS_PATH, exc)
            return _answer(400, error=f"not an Alertmanager v4 webhook: {exc}")
        groups: dict[Target, list[Alert]] = {}
        unrouted = 0
        for alert in notification.alerts:
            target = target_of(alert, settings)
            if target is None:
                unrouted += 1
            else:
                groups.setdefault(target, []).append(alert)
        if unrouted:
            log.warning("%d alert(s) name no service (labels %s or alerts.services) or no channel: ignored",
                        unrouted, ", ".join(settings.alerts.service_labels))
        desk.receive(groups)
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

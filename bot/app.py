"""The Slack app: a slack-bolt `AsyncApp` built by a function, served over HTTP or Socket Mode.

HTTP mode: an aiohttp server on PORT with `/slack/events` (Bolt checks every signature) and the
health routes. Socket Mode (SLACK_APP_TOKEN set): Bolt's `AsyncSocketModeHandler`, and the same
aiohttp server for the health routes only. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts import mount_alerts
from bot.config import Settings
from bot.errors import ConfigError
from bot.guard import RequestGuard
from bot.health import add_health_routes
from bot.plumbing.logs import configure_logging, new_correlation_id
from bot.plumbing.process import SERVE_GC, SWITCH_INTERVAL, cpu_thread, settle_memory
from bot.runtime import open_runtime
from bot.slack import SlackSink, check_tokens, make_client, secret, slack_session
from bot.store import IncidentStore
from bot.threads import IncidentService
from bot.threads.offload import PlaybookWorker
from handlers import register_all
from handlers.intake import Intake
from playbooks.runtime import Runtime

if TYPE_CHECKING:
    from bot.sandbox import Scenario

SLACK_PATH = "/slack/events"
MAX_BODY = 1024 * 1024  # bytes: Slack's payloads are a few KB; a block_actions one with a big message, tens
SHUTDOWN_GRACE = 10.0  # seconds running playbooks get to finish their thread on exit

log = logging.getLogger(__name__)


def check_slack_settings(settings: Settings) -> None:
    """A missing token or secret stops start-up with one line naming the setting."""
    if secret(settings.slack.bot_token) is None:
        raise ConfigError("SLACK_BOT_TOKEN", "is required to serve Slack (the bot token, xoxb-...)")
    if secret(settings.slack.app_token) is None and secret(settings.slack.signing_secret) is None:
        raise ConfigError(
            "SLACK_SIGNING_SECRET",
            "is required in HTTP mode (or set SLACK_APP_TOKEN to use Socket Mode)",
        )


def build_app(
    settings: Settings,
    runtime: Runtime,
    store: IncidentStore,
    client: AsyncWebClient,
    *,
    service: IncidentService | None = None,
) -> AsyncApp:
    """The Bolt app with every listener registered. Pass `service` to reach its tasks (tests)."""
    service = service or IncidentService(runtime, store)
    signing_secret = secret(settings.slack.signing_secret)
    app = AsyncApp(
        name="opsbot",
        client=client,
        signing_secret=signing_secret or "",
        # Socket Mode requests are not signed; Bolt skips them anyway, and without a secret an
        # HTTP request could never be verified (serve does not mount /slack/events then).
        request_verification_enabled=signing_secret is not None,
        # Listeners only acknowledge and start a task, so Bolt may as well wait for them: the
        # acknowledgement then leaves as soon as ack() returns, without Bolt's polling loop.
        process_before_response=True,
        logger=logging.getLogger("opsbot.slack"),
    )

    @app.middleware
    async def correlation(body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        # Tasks started by the listeners copy this context: their log lines carry the same id.
        new_correlation_id()
        return await next()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("listener failed: %s", type(error).__name__, exc_info=error)

    register_all(app, Intake(service))
    return app


def build_web_app(
    app: AsyncApp,
    ready: Callable[[], Awaitable[list[tuple[str, bool, str]]]],
    *,
    guard: RequestGuard | None = None,
    service: IncidentService | None = None,
    slack_path: bool = True,
) -> web.Application:
    """The aiohttp application: POST /slack/events into Bolt, plus /healthz, /readyz, /metrics.

    `guard` checks signature, freshness and replays before the body is parsed (Bolt checks the
    signature again); with `service`, its background work yields to requests being acknowledged."""
    web_app = web.Application(client_max_size=MAX_BODY)

    async def slack_events(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPException as exc:  # too large: aiohttp's own 413
            return web.Response(status=exc.status, text=exc.reason + "\n")
        if guard is not None:
            verdict = guard.check(body, request.headers)
            if verdict is not None:
                if verdict.status != 200:
                    log.warning("refused a request to %s: %s", SLACK_PATH, verdict.reason)
                return web.Response(status=verdict.status, text=verdict.reason + "\n")
        with service.answering() if service is not None else contextlib.nullcontext():
            try:
                bolt_response = await app.async_dispatch(await to_bolt_request(request))
            except Exception as exc:  # a body Bolt cannot parse: the sender's problem, said in one line
                log.warning("malformed request to %s: %s", SLACK_PATH, type(exc).__name__)
                return web.Response(status=400, text=f"malformed request ({type(exc).__name__})\n")
            return await to_aiohttp_response(bolt_response)

    if slack_path:
        web_app.router.add_post(SLACK_PATH, slack_events)
    add_health_routes(web_app, ready)
    return web_app


def readiness(runtime: Runtime, store: IncidentStore) -> Callable[[], Awaitable[list[tuple[str, bool, str]]]]:
    # a thread of its own: in the default executor the check would queue behind a burst's CPU work
    # (one worker, see bot.plumbing.process) and the probe would time out while the bot is merely busy
    probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsbot-ready")

    async def ready() -> list[tuple[str, bool, str]]:
        ok = await asyncio.get_running_loop().run_in_executor(probe, store.healthy)
        checks = [("store", ok, "writable" if ok else f"{store.path} does not take writes")]
        return checks + await runtime.ready()

    return ready


async def run_server(
    settings: Settings,
    *,
    demo: bool,
    stop: asyncio.Event,
    started: Callable[[int], None] | None = None,
    scenario: Scenario | None = None,
) -> None:
    """Serve until `stop` is set; then stop taking requests, let running work finish, close."""
    check_slack_settings(settings)
    app_token = secret(settings.slack.app_token)
    cpu_thread("opsbot-cpu")
    async with open_runtime(settings, demo=demo, scenario=scenario) as runtime, slack_session() as session:
        store = IncidentStore(settings.store.path)
        client = make_client(settings, session=session)
        try:
            # a wrong token is said now, naming it, not at the first command someone types
            log.info("Slack takes the tokens: %s", await check_tokens(client, app_token))
        except BaseException:
            store.close()
            raise
        # playbooks run in a process of their own (bot/worker.py): their CPU work and their garbage
        # would hold this process's GIL, which the event loop needs for every acknowledgement and
        # answer. The demo's sandbox lives in this process: its runs stay here too.
        worker = PlaybookWorker(settings) if not demo and scenario is None else None
        service = IncidentService(runtime, store, worker=worker)
        app = build_app(settings, runtime, store, client, service=service)
        signing_secret = secret(settings.slack.signing_secret)
        guard = RequestGuard(signing_secret) if signing_secret is not None else None
        web_app = build_web_app(app, readiness(runtime, store), guard=guard, service=service,
                                slack_path=app_token is None)
        mount_alerts(web_app, service, client)  # POST /alertmanager, when alerts are configured
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        socket_mode: Any = None
        try:
            site = web.TCPSite(runner, settings.server.host, settings.server.port)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else settings.server.port
            if app_token is not None:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                socket_mode = AsyncSocketModeHandler(app, app_token)
                await socket_mode.connect_async()
                log.info("opsbot connected over Socket Mode; health on port %s", port)
            else:
                log.info("opsbot listening on %s:%s%s", settings.server.host, port, SLACK_PATH)
            resumed = await service.resume(
                lambda channel: SlackSink(client, channel, patience=settings.slack.patience))
            if resumed:
                log.info("running again %d investigation(s) a restart cut short", resumed)
            if worker is not None:
                with contextlib.suppress(Exception):  # a run starts it again (and says why it cannot)
                    await worker.start()
            if started is not None:
                started(port)
            await stop.wait()
        finally:
            if socket_mode is not None:
                await socket_mode.close_async()
            await runner.cleanup()
            await service.shutdown(SHUTDOWN_GRACE)
            if worker is not None:
                await worker.close()
            store.close()


def serve(settings: Settings, *, demo: bool, scenario: Scenario | None = None) -> None:
    """`opsbot serve`: blocks until Ctrl-C or SIGTERM, then exits cleanly."""
    check_slack_settings(settings)
    configure_logging()
    sys.setswitchinterval(SWITCH_INTERVAL)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # once up (a process of its own: tests running servers in theirs keep the collector as it is)
        await run_server(settings, demo=demo, stop=stop, scenario=scenario,
                         started=lambda _port: settle_memory(SERVE_GC))

    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C during shutdown
        asyncio.run(main())

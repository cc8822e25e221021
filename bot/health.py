"""Health and metrics endpoints of `opsbot serve`: `/healthz`, `/readyz`, `/metrics`.

`/healthz` only says the process answers HTTP: Kubernetes restarts the pod when it fails, and a
restart does not fix an unreachable API server, so dependencies are checked by `/readyz` alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.plumbing import metrics
from bot.redact import redact

ReadyCheck = Callable[[], Awaitable[list[tuple[str, bool, str]]]]

# Below the 5 s a Kubernetes readiness probe waits by default (chart: timeoutSeconds 5), so a
# hanging dependency reads as "not ready" with a reason instead of as a probe timeout.
READY_TIMEOUT = 4.0

log = logging.getLogger(__name__)


async def _run_ready(ready: ReadyCheck, timeout: float) -> list[tuple[str, bool, str]]:
    try:
        async with asyncio.timeout(timeout):
            return list(await ready())
    except TimeoutError:
        return [("ready", False, f"the checks did not finish within {timeout:g} s")]
    except Exception as exc:  # a crashing check means "not ready", never a 500 with a traceback
        log.warning("readiness check failed", exc_info=True)
        return [("ready", False, f"{type(exc).__name__}: {exc}")]


def add_health_routes(app: web.Application, ready: ReadyCheck, *, ready_timeout: float = READY_TIMEOUT) -> None:
    """Add GET /healthz, /readyz and /metrics to `app`.

    `ready` returns (check name, ok, detail) tuples, e.g. the store is writable and the
    Kubernetes API answers; /readyz is 200 when every check is ok, else 503 listing the failures.
    """

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        results = await _run_ready(ready, ready_timeout)
        checks = [{"name": name, "ok": bool(ok), "detail": redact(str(detail))} for name, ok, detail in results]
        failing = [check for check in checks if not check["ok"]]
        body = {"status": "unavailable" if failing else "ok", "checks": checks, "failing": failing}
        return web.json_response(body, status=503 if failing else 200)

    async def metrics_view(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        # aiohttp's content_type= refuses parameters, and Prometheus wants the version parameter
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)

"""The Prometheus gateway: instant PromQL queries over Prometheus' HTTP API (httpx), optional.

Off unless `prometheus.url` is set. Errors of httpx and of Prometheus are translated once, in
`PrometheusGateway._get`, into `bot.errors` errors a person can act on; a query's own mistake
(`bad_data`) is a usage error naming Prometheus' message.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Any

import httpx

from bot.config import PrometheusSettings
from bot.errors import ForbiddenError, OpsbotError, UnavailableError, UpstreamTimeoutError, UsageError
from bot.plumbing import tls
from bot.plumbing.httpthread import async_client


class PrometheusGateway:
    """Read-only: `query` (one number, or None when the query has no data)."""

    def __init__(self, client: httpx.AsyncClient | None = None, *, url: str, token: str | None = None,
                 timeout: float = 10.0) -> None:
        self._own_client = client is None
        self.client = client or async_client(timeout=timeout, verify=tls.context())
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json"}
        self._token = token or None
        if self._token:
            self.headers["Authorization"] = f"Bearer {self._token}"

    @classmethod
    def from_settings(cls, settings: PrometheusSettings) -> PrometheusGateway | None:
        if not settings.url:
            return None
        token = settings.token.get_secret_value() if settings.token else None
        return cls(url=settings.url, token=token, timeout=settings.timeout)

    async def close(self) -> None:
        if self._own_client:
            await self.client.aclose()

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            response = await asyncio.wait_for(
                self.client.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=self.timeout),
                self.timeout)
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamTimeoutError(f"Prometheus at {self.url} took longer than {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise UnavailableError(self._scrub(f"Prometheus at {self.url} is not answering "
                                               f"({type(exc).__name__}: {exc})")) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        message = self._scrub(str((body or {}).get("error") or response.reason_phrase or response.status_code)
                              if isinstance(body, dict) else str(response.status_code))[:300]
        if response.status_code in (401, 403):
            raise ForbiddenError(f"Prometheus at {self.url} refused the query (HTTP {response.status_code}): "
                                 "check prometheus.token")
        if response.status_code in (400, 422) and isinstance(body, dict) and body.get("errorType") in (
                "bad_data", "execution"):
            raise UsageError(f"Prometheus rejected the query: {message}")
        if response.status_code == 503 or response.status_code >= 500:
            raise UnavailableError(f"Prometheus at {self.url} answered HTTP {response.status_code}: {message}")
        if not response.is_success or not isinstance(body, dict) or body.get("status") != "success":
            raise UnavailableError(f"Prometheus at {self.url} answered HTTP {response.status_code}: {message}")
        return body.get("data") or {}

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[REDACTED]") if self._token else text

    async def query(self, promql: str, *, at: datetime | None = None) -> float | None:
        """The value of an instant query (at `at`, else now): a scalar, or the sum of a vector's samples
        (queries are written to aggregate to one series); None when there is no data."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        data = await self._get("/api/v1/query", params)
        kind, result = data.get("resultType"), data.get("result")
        try:
            if kind == "scalar":
                values = [float(result[1])]
            elif kind == "vector":
                values = [float(sample["value"][1]) for sample in result or []]
            else:
                raise UsageError(f"Prometheus answered a {kind} to an instant query; aggregate it to one number")
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise UnavailableError(f"Prometheus at {self.url} answered something unexpected ({exc})") from None
        values = [v for v in values if not math.isnan(v)]
        return sum(values) if values else None

    async def ready(self) -> None:
        try:
            await self._get("/api/v1/status/buildinfo", {})
        except OpsbotError as exc:
            raise UnavailableError(str(exc)) from exc

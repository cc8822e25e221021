"""Metrics of a service from Prometheus (optional): each catalogue query now and one hour ago.

The queries are data (`bot.config.METRICS`, overridable per service in `services.NAME.metrics`); this
module fills their placeholders (pure) and reads them through the Prometheus gateway, each on its own:
a query that fails says why in its reading and leaves the others.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.changes import MetricReading
from bot.config import METRICS, ServiceConfig
from bot.errors import OpsbotError

if TYPE_CHECKING:
    from bot.prometheus import PrometheusGateway

HOUR = timedelta(hours=1)


Query = tuple[str, str, str, str, str]  # name, title, unit, PromQL for now, PromQL for an hour ago


def service_queries(config: ServiceConfig, *, namespace: str, deployment: str,
                    pods_now: Sequence[str] = ()) -> list[Query]:
    """Each metric the service has: its own query, else the default; an empty one is off. `{pods}` is
    every pod of the Deployment; with `pods_now` (verify: the pods running the newest revision), the
    "now" query looks at those pods only, so an old pod's last errors do not hide the fix."""
    every = f"{_literal(deployment)}-[a-z0-9]+-[a-z0-9]+"
    current = "|".join(_literal(p) for p in pods_now) or every
    out = []
    for name, (title, unit, default) in METRICS.items():
        query = config.metrics.get(name, default)
        if not query.strip():
            continue
        filled = query.replace("{namespace}", namespace).replace("{deployment}", deployment)
        out.append((name, title, unit, filled.replace("{pods}", current), filled.replace("{pods}", every)))
    return out


def _literal(name: str) -> str:
    """A Kubernetes name as a regex inside a PromQL string: its only special character is '.', escaped
    for the regex and once more for the string (PromQL knows no `\\-`, which re.escape would write);
    anything else is dropped, never passed into the query."""
    return re.sub(r"[^a-z0-9.-]", "", name).replace(".", "\\\\.")


async def read_metrics(prom: PrometheusGateway, queries: Sequence[Query], *, now: datetime) -> list[MetricReading]:
    """Each query at `now` and an hour before, concurrently."""

    async def one(name: str, title: str, unit: str, query: str, query_before: str) -> MetricReading:
        reading = MetricReading(name=name, title=title, query=query, unit=unit)
        try:
            current, before = await asyncio.gather(prom.query(query, at=now),
                                                   prom.query(query_before, at=now - HOUR))
        except OpsbotError as exc:
            return reading.model_copy(update={"error": str(exc)})
        return reading.model_copy(update={"now": current, "hour_ago": before})

    return list(await asyncio.gather(*(one(*q) for q in queries)))

"""Dapr: where a pod's sidecar and app answer (from the injector's annotations), and what the sidecar's
`/v1.0/metadata` or the app's `/dapr/subscribe` say, as `bot.models` Dapr snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.models import (
    ContainerStatus,
    DaprComponent,
    DaprPorts,
    DaprSidecar,
    DaprSubscription,
)

# the annotations Dapr's sidecar injector reads
DAPR_ENABLED = "dapr.io/enabled"  # the annotations Dapr's sidecar injector reads
DAPR_HTTP_PORT = "dapr.io/http-port"
DAPR_APP_PORT = "dapr.io/app-port"
DAPR_APP_ID = "dapr.io/app-id"
DAPR_LISTEN = "dapr.io/sidecar-listen-addresses"
DAPR_DEFAULT_PORT = 3500
_LOOPBACK = {"127.0.0.1", "[::1]", "::1", "localhost"}

def dapr_ports(annotations: Mapping[str, str], containers: Sequence[ContainerStatus]) -> DaprPorts | None:
    """Where the pod's Dapr sidecar and app answer, from the injector's annotations (a daprd container
    without them: the defaults)."""
    injected = str(annotations.get(DAPR_ENABLED, "")).lower() == "true"
    if not injected and not any(c.name == "daprd" for c in containers):
        return None
    listen = [a.strip().rsplit(":", 1)[0] if a.strip().count(":") == 1 else a.strip()
              for a in str(annotations.get(DAPR_LISTEN, "")).split(",") if a.strip()]
    return DaprPorts(
        app_id=annotations.get(DAPR_APP_ID) or None,
        http_port=_port(annotations.get(DAPR_HTTP_PORT)) or DAPR_DEFAULT_PORT,
        api_reachable=any(a not in _LOOPBACK for a in listen),
        app_port=_port(annotations.get(DAPR_APP_PORT)),
    )


def _port(value: object) -> int | None:
    try:
        port = int(str(value))
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def dapr_sidecar(data: dict[str, Any], *, pod: str) -> DaprSidecar:
    """A Dapr sidecar's `GET /v1.0/metadata` answer (Dapr 1.10+ field names)."""
    components = [
        DaprComponent(name=str(c.get("name") or "?"), type=str(c.get("type") or ""),
                      version=str(c.get("version") or ""))
        for c in data.get("components") or [] if isinstance(c, dict)
    ]
    subscriptions = []
    for sub in data.get("subscriptions") or []:
        if not isinstance(sub, dict):
            continue
        rules = sub.get("rules") or []
        routes = [str(r.get("path")) for r in rules if isinstance(r, dict) and r.get("path")]
        subscriptions.append(DaprSubscription(
            pubsub=str(sub.get("pubsubname") or "?"), topic=str(sub.get("topic") or "?"), routes=routes,
            dead_letter_topic=sub.get("deadLetterTopic") or None, kind=sub.get("type") or None,
        ))
    return DaprSidecar(pod=pod, app_id=data.get("id") or None, runtime_version=data.get("runtimeVersion") or None,
                       components=components, subscriptions=subscriptions)


def app_subscriptions(data: Any) -> list[DaprSubscription]:
    """An app's `GET /dapr/subscribe` answer: `[{pubsubname, topic, route | routes: {rules, default}}]`."""
    out = []
    for sub in data if isinstance(data, list) else []:
        if not isinstance(sub, dict):
            continue
        routes_spec: dict[str, Any] = sub["routes"] if isinstance(sub.get("routes"), dict) else {}
        routes = [str(r["path"]) for r in routes_spec.get("rules") or [] if isinstance(r, dict) and r.get("path")]
        routes += [str(p) for p in (sub.get("route"), routes_spec.get("default")) if p]
        out.append(DaprSubscription(pubsub=str(sub.get("pubsubname") or "?"), topic=str(sub.get("topic") or "?"),
                                    routes=list(dict.fromkeys(routes)), dead_letter_topic=sub.get("deadLetterTopic")
                                    or None, kind="PROGRAMMATIC"))
    return out

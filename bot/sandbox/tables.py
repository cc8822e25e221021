"""Server-side Tables: what `kubectl get` prints (the server renders the rows, kubectl only aligns them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sandbox.clock import human_duration
from bot.sandbox.world import pod_condition


def _column(name: str, description: str = "", *, priority: int = 0, type_: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": "name" if name == "Name" else "",
        "description": description,
        "priority": priority,
    }


def _since(ts: str | None, now: datetime) -> str:
    if not ts:
        return "<unknown>"
    return human_duration(now - datetime.fromisoformat(ts.replace("Z", "+00:00")))


def _pod_row(pod: dict[str, Any], now: datetime) -> list[Any]:
    status = pod["status"]
    reason = status.get("reason") or status.get("phase", "Unknown")
    restarts, ready, has_running = 0, 0, False
    last_restart: str | None = None
    statuses = status.get("containerStatuses", [])
    for cs in reversed(statuses):
        restarts += cs.get("restartCount", 0)
        finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif cs.get("ready") and "running" in state:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if pod_condition(pod, "Ready") else "NotReady"
    restarts_cell = f"{restarts} ({_since(last_restart, now)} ago)" if last_restart else str(restarts)
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(statuses)}",
        reason,
        restarts_cell,
        _since(pod["metadata"]["creationTimestamp"], now),
        status.get("podIP", "<none>"),
        pod["spec"].get("nodeName", "<none>"),
        "<none>",
        "<none>",
    ]


def _images(template_spec: dict[str, Any]) -> tuple[str, str]:
    containers = template_spec.get("containers", [])
    return ",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers)


def _selector_text(selector: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.get("matchLabels", {}).items())


def as_table(resource: str, objects: list[dict[str, Any]], now: datetime, include: str, rv: str) -> dict[str, Any]:
    columns: list[dict[str, Any]]
    rows: list[list[Any]] = []
    if resource == "pods":
        columns = [
            _column("Name"),
            _column("Ready"),
            _column("Status"),
            _column("Restarts"),
            _column("Age"),
            _column("IP", priority=1),
            _column("Node", priority=1),
            _column("Nominated Node", priority=1),
            _column("Readiness Gates", priority=1),
        ]
        rows = [_pod_row(o, now) for o in objects]
    elif resource == "deployments":
        columns = [
            _column("Name"),
            _column("Ready"),
            _column("Up-to-date", type_="integer"),
            _column("Available", type_="integer"),
            _column("Age"),
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ]
        for o in objects:
            st = o["status"]
            names, images = _images(o["spec"]["template"]["spec"])
            rows.append(
                [
                    o["metadata"]["name"],
                    f"{st.get('readyReplicas', 0)}/{o['spec']['replicas']}",
                    st.get("updatedReplicas", 0),
                    st.get("availableReplicas", 0),
                    _since(o["metadata"]["creationTimestamp"], now),
                    names,
                    images,
                    _selector_text(o["spec"]["selector"]),
                ]
            )
    elif resource == "replicasets":
        columns = [
            _column("Name"),
            _column("Desired", type_="integer"),
            _column("Current", type_="integer"),
            _column("Ready", type_="integer"),
            _column("Age"),
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ]
        for o in objects:
            names, images = _images(o["spec"]["template"]["spec"])
            rows.append(
                [
                    o["metadata"]["name"],
                    o["spec"]["replicas"],
                    o["status"]["replicas"],
                    o["status"].get("readyReplicas", 0),
                    _since(o["metadata"]["creationTimestamp"], now),
                    names,
                    images,
                    _selector_text(o["spec"]["selector"]),
                ]
            )
    elif resource == "events":
        columns = [
            _column("Last Seen"),
            _column("Type"),
            _column("Reason"),
            _column("Object"),
            _column("Subobject", priority=1),
            _column("Source", priority=1),
            _column("Message"),
            _column("First Seen", priority=1),
            _column("Count", priority=1),
            _column("Name", priority=1),
        ]
        for o in objects:
            inv, src = o["involvedObject"], o["source"]
            source = ", ".join(v for v in (src.get("component"), src.get("host")) if v)
            rows.append(
                [
                    _since(o["lastTimestamp"], now),
                    o["type"],
                    o["reason"],
                    f"{inv['kind'].lower()}/{inv['name']}",
                    inv.get("fieldPath", ""),
                    source,
                    o["message"].strip(),
                    _since(o["firstTimestamp"], now),
                    o["count"],
                    o["metadata"]["name"],
                ]
            )
    elif resource == "namespaces":
        columns = [_column("Name"), _column("Status"), _column("Age")]
        rows = [
            [o["metadata"]["name"], o["status"]["phase"], _since(o["metadata"]["creationTimestamp"], now)]
            for o in objects
        ]
    else:
        columns = [_column("Name"), _column("Created At", type_="date")]
        rows = [[o["metadata"]["name"], o["metadata"]["creationTimestamp"]] for o in objects]
    table_rows = []
    for cells, obj in zip(rows, objects, strict=True):
        row: dict[str, Any] = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        table_rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": table_rows,
    }

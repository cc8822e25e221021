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
    """kubectl's printPod: the STATUS of the first init container not done (`Init:CrashLoopBackOff`,
    `Init:Error`, `Init:0/2`) while the pod initializes, else of the app containers; a native sidecar
    (restartPolicy Always) that started counts as a container, like the app's."""
    status = pod["status"]
    reason = status.get("reason") or status.get("phase", "Unknown")
    spec_inits = {c["name"]: c for c in pod["spec"].get("initContainers", [])}
    sidecars = {n for n, c in spec_inits.items() if c.get("restartPolicy") == "Always"}
    statuses = status.get("containerStatuses", [])
    total = len(pod["spec"].get("containers", [])) + len(sidecars)
    restarts, ready, has_running, initializing = 0, 0, False, False
    last_restart: str | None = None
    side_last: str | None
    side_restarts, side_last = 0, None  # of the native sidecars: what kubectl counts once initialized

    def later(a: str | None, b: str | None) -> str | None:
        return b if b and (a is None or b > a) else a

    for i, cs in enumerate(status.get("initContainerStatuses", [])):
        finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
        restarts += cs.get("restartCount", 0)
        last_restart = later(last_restart, finished)
        if cs["name"] in sidecars:
            side_restarts += cs.get("restartCount", 0)
            side_last = later(side_last, finished)
        state = cs.get("state", {})
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode") == 0:
            continue
        if cs["name"] in sidecars and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if terminated is not None:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec_inits)}"
        initializing = True
        break
    if not initializing or pod_condition(pod, "Initialized"):
        restarts, last_restart = side_restarts, side_last
        for cs in reversed(statuses):
            restarts += cs.get("restartCount", 0)
            last_restart = later(last_restart, cs.get("lastState", {}).get("terminated", {}).get("finishedAt"))
            state = cs.get("state", {})
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif "terminated" in state:
                reason = state["terminated"].get("reason") or f"ExitCode:{state['terminated'].get('exitCode')}"
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if pod_condition(pod, "Ready") else "NotReady"
    restarts_cell = f"{restarts} ({_since(last_restart, now)} ago)" if last_restart else str(restarts)
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
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

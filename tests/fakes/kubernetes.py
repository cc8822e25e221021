"""A Kubernetes API over real HTTP for the gateway tests: kmock's emulator, taught a little more.

kmock 0.8's `KubernetesEmulator` stores objects and serves get/list, but ignores label and field
selectors, serves a pod's JSON for `pods/NAME/log`, and cannot parse `GET /api/v1/namespaces`
(its path parser raises on that URL). `Cluster` adds those three, so the official client talks to
something that answers as an API server would. Seeded with the `taskflow` namespace:

- Deployment `taskflow-api` (selector app=taskflow-api) with two ReplicaSets it owns;
- pod `taskflow-api-7d9f8-abcde`: init container `migrate`, `api` restarted 3 times after OOMKilled
  (137), a `daprd` sidecar; pod `taskflow-api-7d9f8-fghij`: `api` in CrashLoopBackOff;
- a canary Deployment whose selector overlaps (its pod carries app=taskflow-api too);
- `taskflow-api-worker-x1`, whose name shares the prefix but not the labels;
- warning and normal events, and logs (current and previous) for the containers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp.web
import kmock
import pytest_asyncio

from bot.k8s import KubernetesGateway
from bot.sandbox.selectors import field_lookup, parse_selector

NS = "taskflow"
PODS = kmock.resource("v1", "pods")
EVENTS = kmock.resource("v1", "events")
DEPLOYMENTS = kmock.resource("apps/v1", "deployments")
REPLICASETS = kmock.resource("apps/v1", "replicasets")
NOW = datetime.now(UTC).replace(microsecond=0)


def ts(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
        "metadata": {},
    }


# --------------------------------------------------------------------------- selectors, as the API server reads them
# The sandbox's parser (bot.sandbox.selectors) serves here too: one server-side reading of selectors.
# It is deliberately not the gateway's own code (bot.k8s builds selectors; a shared bug would cancel out).


def label_match(selector: str, labels: dict[str, str]) -> bool:
    return all(match(labels.get) for match in parse_selector(selector))


def field_match(selector: str, obj: dict[str, Any]) -> bool:
    get = field_lookup(obj)
    return all(match(get) for match in parse_selector(selector, field=True))


class Cluster(kmock.KubernetesEmulator):
    """kmock's emulator plus selectors, pod logs, /version/ and the namespace list."""

    def setup(self) -> None:
        self.logs: dict[tuple[str, str, str, bool], list[tuple[str, str]]] = {}
        self.namespace_names: list[str] = []
        self.namespaces_status: int = 200
        self[kmock.method.GET, PODS, kmock.subresource("log")] << self.serve_log
        # the official client asks for /version/ (trailing slash), which kmock does not route
        self["get /version/"] << {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if raw_request.method == "GET" and raw_request.path.rstrip("/") == "/api/v1/namespaces":
            if self.namespaces_status != 200:
                code = self.namespaces_status
                return aiohttp.web.json_response(status_body(code, "Forbidden", "no"), status=code)
            items = [{"metadata": {"name": name}} for name in self.namespace_names]
            return aiohttp.web.json_response({"kind": "NamespaceList", "apiVersion": "v1", "items": items})
        return await super().__call__(raw_request)

    async def _serve_list(self, request: kmock.Request) -> Any:
        result = await super()._serve_list(request)
        labels = request.params.get("labelSelector")
        fields = request.params.get("fieldSelector")
        items = result["items"]
        if labels:
            items = [i for i in items if label_match(labels, (i.get("metadata") or {}).get("labels") or {})]
        if fields:
            items = [i for i in items if field_match(fields, i)]
        return {**result, "items": items}

    def serve_log(self, request: kmock.Request) -> Any:
        container = request.params.get("container", "")
        previous = request.params.get("previous") == "true"
        key = (request.namespace or "", request.name or "", container, previous)
        if key not in self.logs:
            message = (
                f'previous terminated container "{container}" in pod "{request.name}" not found'
                if previous
                else f'container "{container}" in pod "{request.name}" is waiting to start: ContainerCreating'
            )
            return kmock.Response(status=400, payload=status_body(400, "BadRequest", message))
        lines = self.logs[key]
        tail = int(request.params.get("tailLines", 0) or 0)
        lines = lines[-tail:] if tail else lines
        stamped = request.params.get("timestamps") == "true"
        body = "".join(f"{stamp} {text}\n" if stamped else f"{text}\n" for stamp, text in lines)
        # Every answer names its status. kmock 0.8 copies the status of a Response a callback returns
        # onto the shared reaction object (Response._render sets it on `self`), so a bare body would
        # be sent with the status of whichever answer came last: after one 400, the next reads of
        # this reaction went out as 400s with their log as body (the "bare 400" flake).
        return kmock.Response(status=200, payload=body.encode())

    def add(self, resource: kmock.resource, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[resource, meta.get("namespace"), meta["name"]] = obj


# --------------------------------------------------------------------------- the seed


def _deployment(name: str, uid: str, labels: dict[str, str], image: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid,
            "creationTimestamp": ts(600),
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": "7"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels, **extra},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "api", "image": image}]}},
        },
        "status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }


def _replicaset(name: str, owner: str, owner_uid: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": owner_uid, "controller": True}
            ],
        },
        "spec": {"selector": {"matchLabels": labels}},
    }


def _pod(
    name: str,
    rs: str,
    labels: dict[str, str],
    *,
    ready: bool,
    init: bool = True,
    statuses: list[dict[str, Any]],
    containers: list[str],
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeName": "node-1",
        "containers": [{"name": c, "image": f"ghcr.io/acme/{c}:3f2c1ab"} for c in containers],
    }
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": statuses,
    }
    if init:
        spec["initContainers"] = [{"name": "migrate", "image": "ghcr.io/acme/migrate:1"}]
        status["initContainerStatuses"] = [
            {
                "name": "migrate",
                "image": "ghcr.io/acme/migrate:1",
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {"terminated": {"reason": "Completed", "exitCode": 0, "finishedAt": ts(59)}},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels,
            "creationTimestamp": ts(60),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}", "controller": True}
            ],
        },
        "spec": spec,
        "status": status,
    }


def _running(name: str, restarts: int = 0, last: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "image": f"ghcr.io/acme/{name}:3f2c1ab",
        "imageID": "",
        "ready": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ts(5)}},
    }
    if last:
        status["lastState"] = {"terminated": last}
    return status


def _event(name: str, type_: str, reason: str, obj: str, message: str, **times: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": NS},
        "type": type_,
        "reason": reason,
        "message": message,
        "involvedObject": {"kind": "Pod", "name": obj, "namespace": NS},
        **times,
    }


def seed(cluster: Cluster) -> None:
    api = {"app": "taskflow-api"}
    cluster.namespace_names = ["default", "monitoring", NS]
    cluster.add(DEPLOYMENTS, _deployment("taskflow-api", "uid-deploy-api", api, "ghcr.io/acme/taskflow-api:3f2c1ab"))
    cluster.add(
        DEPLOYMENTS,
        _deployment(
            "taskflow-worker", "uid-deploy-worker", {"app": "taskflow-worker"}, "ghcr.io/acme/taskflow-worker:v1.2.0"
        ),
    )
    canary = {"app": "taskflow-api", "track": "canary"}
    cluster.add(DEPLOYMENTS, _deployment("taskflow-api-canary", "uid-deploy-canary", canary, "x:latest"))
    cluster.add(REPLICASETS, _replicaset("taskflow-api-7d9f8", "taskflow-api", "uid-deploy-api", api))
    cluster.add(REPLICASETS, _replicaset("taskflow-api-5c4b2", "taskflow-api", "uid-deploy-api", api))
    cluster.add(REPLICASETS, _replicaset("taskflow-api-canary-6b7", "taskflow-api-canary", "uid-deploy-canary", canary))

    oom = {"reason": "OOMKilled", "exitCode": 137, "finishedAt": ts(6), "startedAt": ts(30)}
    cluster.add(
        PODS,
        _pod(
            "taskflow-api-7d9f8-abcde",
            "taskflow-api-7d9f8",
            api,
            ready=True,
            containers=["api", "daprd"],
            statuses=[_running("api", 3, oom), _running("daprd")],
        ),
    )
    crashing = {
        "name": "api",
        "image": "ghcr.io/acme/api:3f2c1ab",
        "imageID": "",
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "finishedAt": ts(2)}},
    }
    cluster.add(
        PODS,
        _pod(
            "taskflow-api-7d9f8-fghij",
            "taskflow-api-7d9f8",
            api,
            ready=False,
            containers=["api", "daprd"],
            statuses=[crashing, _running("daprd")],
        ),
    )
    cluster.add(
        PODS,
        _pod(
            "taskflow-api-canary-6b7-zz",
            "taskflow-api-canary-6b7",
            canary,
            ready=True,
            init=False,
            containers=["api"],
            statuses=[_running("api")],
        ),
    )
    cluster.add(
        PODS,
        _pod(
            "taskflow-api-worker-x1",
            "taskflow-worker-1",
            {"app": "taskflow-worker"},
            ready=True,
            init=False,
            containers=["api"],
            statuses=[_running("api")],
        ),
    )

    cluster.add(
        EVENTS,
        _event(
            "e1",
            "Warning",
            "BackOff",
            "taskflow-api-7d9f8-fghij",
            "Back-off restarting failed container api",
            count=12,
            firstTimestamp=ts(30),
            lastTimestamp=ts(1),
        ),
    )
    # a newer-style event: no first/lastTimestamp, only eventTime and series
    cluster.add(
        EVENTS,
        _event(
            "e2",
            "Warning",
            "Unhealthy",
            "taskflow-api-7d9f8-abcde",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            eventTime=ts(20).replace("Z", ".123456Z"),
            series={"count": 4, "lastObservedTime": ts(3).replace("Z", ".000001Z")},
        ),
    )
    cluster.add(
        EVENTS,
        _event(
            "e3",
            "Normal",
            "Scheduled",
            "taskflow-api-7d9f8-abcde",
            "Successfully assigned",
            firstTimestamp=ts(60),
            lastTimestamp=ts(60),
        ),
    )
    cluster.add(
        EVENTS,
        _event(
            "e4",
            "Warning",
            "BackOff",
            "taskflow-api-worker-x1",
            "not ours",
            firstTimestamp=ts(10),
            lastTimestamp=ts(0.5),
        ),
    )

    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%S")
    abcde, fghij = "taskflow-api-7d9f8-abcde", "taskflow-api-7d9f8-fghij"
    cluster.logs[NS, abcde, "api", False] = [
        (f"{stamp}.123456789Z", "INFO started"),
        (f"{stamp}.223456789Z", "ERROR QueuePool limit of size 5 overflow 10 reached, connection timed out"),
        (f"{stamp}.323456789Z", '{"level": "error", "msg": "json line stays text"}'),
    ]
    cluster.logs[NS, abcde, "api", True] = [(f"{stamp}.000000001Z", "Killed: out of memory")]
    cluster.logs[NS, abcde, "daprd", False] = [(f"{stamp}Z", 'level=warning msg="app channel not ready"')]
    cluster.logs[NS, abcde, "migrate", False] = [(f"{stamp}Z", "migrations applied")]
    cluster.logs[NS, fghij, "api", False] = [(f"{stamp}Z", "Traceback (most recent call last):")]
    cluster.logs[NS, fghij, "api", True] = [(f"{stamp}Z", "sqlalchemy.exc.TimeoutError")]
    cluster.logs[NS, fghij, "daprd", False] = [(f"{stamp}Z", "dapr initialized")]
    # fghij's init container "migrate" has no log on purpose: the API answers 400 (still creating)


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """The seeded fake API server, listening on a local port."""
    async with Cluster() as handler, kmock.Server(handler):
        handler.setup()
        seed(handler)
        yield handler


@pytest_asyncio.fixture
async def gateway(cluster: Cluster) -> AsyncIterator[KubernetesGateway]:
    gw = KubernetesGateway.for_url(str(cluster.url), timeout=5.0, concurrency=16)  # the default: reads overlap
    try:
        yield gw
    finally:
        await gw.close()

"""The Kubernetes gateway: the only module that talks to the Kubernetes API.

It wraps the official (synchronous) `kubernetes` client in an async facade: every call runs in a
bounded thread pool with a per-call timeout, reads the raw JSON (the client's own deserialisation
is slow and mangles logs that happen to be JSON) and returns the pydantic snapshots of
`bot.models`. Errors of the client, urllib3 and the network are translated once, in
`translate_error`, into `bot.errors` errors that tell a person what to do.

The conversion functions (`pod_snapshot`, `deployment_snapshot`, `event_snapshot`, `parse_log`,
`label_selector`) are pure and take either the client's V1 objects or plain Kubernetes JSON.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import kubernetes.client
import kubernetes.config
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTClientObject

from bot.config import KubernetesSettings
from bot.errors import (
    ConfigError,
    ForbiddenError,
    NotFoundError,
    OpsbotError,
    UnavailableError,
    UpstreamTimeoutError,
    UsageError,
)
from bot.models import (
    ContainerKind,
    ContainerStatus,
    DaprComponent,
    DaprPorts,
    DaprSidecar,
    DaprSubscription,
    DeploymentSnapshot,
    EventSnapshot,
    LogLine,
    LogSnapshot,
    PodSnapshot,
)

log = logging.getLogger(__name__)

DEFAULT_SIDECARS: tuple[str, ...] = ("daprd", "istio-proxy", "linkerd-proxy", "envoy", "cloud-sql-proxy")
COMMIT_ANNOTATION = "opsbot.io/commit"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
VERSION_LABEL = "app.kubernetes.io/version"
DAPR_ENABLED = "dapr.io/enabled"  # the annotations Dapr's sidecar injector reads
DAPR_HTTP_PORT = "dapr.io/http-port"
DAPR_APP_PORT = "dapr.io/app-port"
DAPR_APP_ID = "dapr.io/app-id"
DAPR_LISTEN = "dapr.io/sidecar-listen-addresses"
DAPR_DEFAULT_PORT = 3500
_LOOPBACK = {"127.0.0.1", "[::1]", "::1", "localhost"}
RBAC_HINT = "see helm/opsbot RBAC"
CLUSTER_SCOPED = frozenset({"namespaces", "nodes", "version"})

_SHA = re.compile(r"[0-9a-f]{7,40}")
# RFC3339 / RFC3339Nano, as the kubelet prefixes log lines with `timestamps=true`
_PROXY_PATH = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})")

Json = dict[str, Any]


# --------------------------------------------------------------------------- pure conversions


def _as_json(obj: Any) -> Json:
    """Kubernetes JSON (camelCase keys) from a V1 object or a dict."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "model_dump"):  # the client's models are pydantic models
        return obj.model_dump(by_alias=True, exclude_none=True, mode="json")
    raise TypeError(f"expected a Kubernetes object or dict, got {type(obj).__name__}")


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes timestamp (RFC3339, with up to nanoseconds) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    match = _TIMESTAMP.fullmatch(str(value).strip())
    if not match:
        return None
    return _timestamp(match)


def _timestamp(match: re.Match[str]) -> datetime:
    try:  # Python 3.11 reads RFC 3339 with "Z" and nanoseconds itself (keeping microseconds)
        return datetime.fromisoformat(match.group(0))
    except ValueError:  # an unusual fraction length: spelled out below
        pass
    base, fraction, zone = match.groups()
    # datetime keeps microseconds; the kubelet writes nanoseconds
    micros = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}.{micros}{zone}")


def looks_like_sha(value: str | None) -> bool:
    return bool(value) and _SHA.fullmatch(value or "") is not None


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`repo/name:tag@sha256:...` -> `tag`), if it has one."""
    ref = image.split("@", 1)[0]
    name_part = ref.rsplit("/", 1)[-1]
    return name_part.split(":", 1)[1] if ":" in name_part else None


def label_selector(match_labels: Mapping[str, str] | None, match_expressions: Iterable[Mapping[str, Any]] = ()) -> str:
    """A LabelSelector (matchLabels AND matchExpressions) as the string the list calls take."""
    parts = [f"{key}={value}" for key, value in (match_labels or {}).items()]
    for expr in match_expressions or ():
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _owner(meta: Json, kind: str) -> Json | None:
    owners = [ref for ref in meta.get("ownerReferences") or [] if ref.get("kind") == kind]
    # the controller reference is the one that counts when there are several
    return next((ref for ref in owners if ref.get("controller")), owners[0] if owners else None)


def _container_status(spec: Json, status: Json, *, init: bool, sidecars: Collection[str]) -> ContainerStatus:
    name = spec.get("name") or status.get("name") or ""
    if (init and spec.get("restartPolicy") == "Always") or name in sidecars:
        kind = ContainerKind.SIDECAR  # native sidecar, or a known sidecar by name
    else:
        kind = ContainerKind.INIT if init else ContainerKind.APP
    state_obj: Json = status.get("state") or {}
    state = "unknown"
    current: Json = {}
    for candidate in ("running", "waiting", "terminated"):
        if candidate in state_obj and state_obj[candidate] is not None:
            state, current = candidate, state_obj[candidate] or {}
            break
    last: Json = (status.get("lastState") or {}).get("terminated") or {}
    return ContainerStatus(
        name=name,
        kind=kind,
        image=spec.get("image") or status.get("image") or "",
        ready=bool(status.get("ready")),
        restarts=int(status.get("restartCount") or 0),
        state=state,
        reason=current.get("reason"),
        message=current.get("message"),
        started_at=parse_time(current.get("startedAt")),
        last_reason=last.get("reason"),
        last_exit_code=last.get("exitCode"),
        last_finished_at=parse_time(last.get("finishedAt")),
    )


def pod_snapshot(pod: Any, *, now: datetime, sidecars: Collection[str] = DEFAULT_SIDECARS) -> PodSnapshot:
    """What `kubectl describe pod` shows first, from a V1Pod or pod JSON."""
    data = _as_json(pod)
    meta: Json = data.get("metadata") or {}
    spec: Json = data.get("spec") or {}
    status: Json = data.get("status") or {}
    containers: list[ContainerStatus] = []
    for init, spec_key, status_key in (
        (True, "initContainers", "initContainerStatuses"),
        (False, "containers", "containerStatuses"),
    ):
        statuses = {s.get("name"): s for s in status.get(status_key) or []}
        for container in spec.get(spec_key) or []:
            containers.append(
                _container_status(container, statuses.pop(container.get("name"), {}), init=init, sidecars=sidecars)
            )
        for leftover in statuses.values():  # a status without spec (partial JSON): still worth showing
            containers.append(_container_status({}, leftover, init=init, sidecars=sidecars))
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    created = parse_time(meta.get("creationTimestamp"))
    owner = _owner(meta, "ReplicaSet")
    return PodSnapshot(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        phase=status.get("phase") or "Unknown",
        ready=ready,
        restarts=sum(c.restarts for c in containers),
        age_seconds=max(0.0, (now - created).total_seconds()) if created else 0.0,
        created_at=created,
        node=spec.get("nodeName"),
        labels=meta.get("labels") or {},
        owner=owner.get("name") if owner else None,
        containers=containers,
        dapr=dapr_ports(meta.get("annotations") or {}, containers),
    )


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


def dapr_sidecar(data: Json, *, pod: str) -> DaprSidecar:
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
        routes_spec: Json = sub["routes"] if isinstance(sub.get("routes"), dict) else {}
        routes = [str(r["path"]) for r in routes_spec.get("rules") or [] if isinstance(r, dict) and r.get("path")]
        routes += [str(p) for p in (sub.get("route"), routes_spec.get("default")) if p]
        out.append(DaprSubscription(pubsub=str(sub.get("pubsubname") or "?"), topic=str(sub.get("topic") or "?"),
                                    routes=list(dict.fromkeys(routes)), dead_letter_topic=sub.get("deadLetterTopic")
                                    or None, kind="PROGRAMMATIC"))
    return out


def deployment_commit(data: Json) -> str | None:
    """The commit that is running: annotation, else a sha-like version label, else a sha-like image tag."""
    meta: Json = data.get("metadata") or {}
    template: Json = (data.get("spec") or {}).get("template") or {}
    template_meta: Json = template.get("metadata") or {}
    for notes in (meta.get("annotations") or {}, template_meta.get("annotations") or {}):
        if notes.get(COMMIT_ANNOTATION):
            return str(notes[COMMIT_ANNOTATION])
    for labels in (meta.get("labels") or {}, template_meta.get("labels") or {}):
        if looks_like_sha(labels.get(VERSION_LABEL)):
            return str(labels[VERSION_LABEL])
    containers = (template.get("spec") or {}).get("containers") or []
    if containers:
        tag = image_tag(containers[0].get("image") or "")
        if looks_like_sha(tag):
            return tag
    return None


def deployment_snapshot(deployment: Any, *, replicasets: Sequence[str] = ()) -> DeploymentSnapshot:
    data = _as_json(deployment)
    meta: Json = data.get("metadata") or {}
    spec: Json = data.get("spec") or {}
    status: Json = data.get("status") or {}
    selector: Json = spec.get("selector") or {}
    pod_spec: Json = (spec.get("template") or {}).get("spec") or {}
    images = {
        c.get("name", ""): c.get("image", "")
        for c in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
    }
    return DeploymentSnapshot(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        replicas=int(spec.get("replicas", 1) or 0),  # the API defaults an unset count to 1
        ready_replicas=int(status.get("readyReplicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        selector=selector.get("matchLabels") or {},
        selector_expr=label_selector(selector.get("matchLabels"), selector.get("matchExpressions") or ()),
        images=images,
        revision=(meta.get("annotations") or {}).get(REVISION_ANNOTATION),
        commit=deployment_commit(data),
        created_at=parse_time(meta.get("creationTimestamp")),
        replicasets=list(replicasets),
    )


def event_snapshot(event: Any) -> EventSnapshot:
    """A core/v1 Event; newer producers leave first/lastTimestamp empty and set eventTime/series."""
    data = _as_json(event)
    involved: Json = data.get("involvedObject") or data.get("regarding") or {}
    series: Json = data.get("series") or {}
    event_time = parse_time(data.get("eventTime"))
    first = parse_time(data.get("firstTimestamp")) or event_time
    last = parse_time(data.get("lastTimestamp")) or parse_time(series.get("lastObservedTime")) or event_time or first
    return EventSnapshot(
        type=data.get("type") or "Normal",
        reason=data.get("reason") or "",
        message=(data.get("message") or data.get("note") or "").strip(),
        object_kind=involved.get("kind") or "",
        object_name=involved.get("name") or "",
        count=int(data.get("count") or series.get("count") or 1),
        first_seen=first,
        last_seen=last,
    )


def parse_log(text: str) -> list[LogLine]:
    """Log text fetched with `timestamps=true`: each line starts with an RFC3339(Nano) time and a space.

    On the hot path (every line of every container): C calls only for the common line, whose stamp
    `datetime.fromisoformat` reads as is; the regex and the slow path are for anything unusual."""
    lines: list[LogLine] = []
    append, new, read = lines.append, tuple.__new__, datetime.fromisoformat
    for line in text.split("\n") if "\r" not in text else (raw.rstrip("\r") for raw in text.split("\n")):
        if not line:
            continue
        stamp, sep, rest = line.partition(" ")
        ts: datetime | None = None
        if sep and len(stamp) >= 20 and stamp[10] == "T" and stamp[-1] == "Z":
            try:
                ts = read(stamp)
            except ValueError:
                ts = None
        if ts is None:
            match = _TIMESTAMP.fullmatch(stamp) if sep or stamp else None
            try:
                ts = _timestamp(match) if match else None
            except ValueError:  # shaped like a time but not one (month 13): the line as it came
                ts = None
            if ts is None:
                append(new(LogLine, (None, line)))
                continue
        append(new(LogLine, (ts, rest)))
    return lines


def _by_last_seen(events: list[EventSnapshot]) -> list[EventSnapshot]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: e.last_seen or e.first_seen or oldest, reverse=True)


# --------------------------------------------------------------------------- errors


class Call(NamedTuple):
    """What a call tried to do, in RBAC terms, so that a refusal can say what to grant."""

    verb: str  # get, list
    resource: str  # pods, pods/log, deployments...
    namespace: str | None  # None: cluster-wide / all namespaces
    name: str | None = None

    def where(self) -> str:
        if self.namespace:
            return f'in namespace "{self.namespace}"'
        return "(cluster-scoped)" if self.resource in CLUSTER_SCOPED else "across all namespaces"

    def what(self) -> str:
        """`pods/web-1/log in namespace "shop"`: the object, with the subresource after its name."""
        base, _, sub = self.resource.partition("/")
        target = "/".join(part for part in (base, self.name, sub) if part)
        return f"{target} {self.where()}"


def _status_message(exc: ApiException) -> str:
    """The `message` of the Kubernetes Status body, else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message).splitlines()[0][:300]
    return str(exc.reason or f"HTTP {exc.status}")


def _is_timeout(exc: BaseException | None) -> bool:
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return _is_timeout(exc.reason)
    # urllib3 derives NewConnectionError (refused, unreachable) from ConnectTimeoutError
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError)


def translate_error(exc: BaseException, call: Call, *, url: str, timeout: float) -> OpsbotError:
    """The one place where client, urllib3 and network errors become errors a person can act on."""
    if isinstance(exc, OpsbotError):
        return exc
    if isinstance(exc, ApiException) and exc.status:
        status = int(exc.status)
        detail = _status_message(exc)
        if status == 401:
            return ForbiddenError(
                f"credentials rejected by the Kubernetes API at {url}: refresh the kubeconfig credentials "
                "(log in again) or check the service account token"
            )
        if status == 403:
            return ForbiddenError(
                f"forbidden: opsbot may not {call.verb} {call.resource} {call.where()}; grant the verb "
                f'"{call.verb}" on "{call.resource}" ({RBAC_HINT})'
            )
        if status == 404:
            return NotFoundError(f"not found: {call.what()} ({detail})")
        if status == 429:
            return UnavailableError(f"the Kubernetes API at {url} is throttling requests (429); try again shortly")
        if status >= 500:
            return UnavailableError(
                f"Kubernetes API at {url} is not answering properly: HTTP {status} to {call.verb} {call.what()} "
                f"({detail})"
            )
        return UsageError(f"the Kubernetes API refused to {call.verb} {call.what()}: HTTP {status} ({detail})")
    if _is_timeout(exc):
        return UpstreamTimeoutError(f"Kubernetes API at {url}: {call.verb} {call.what()} took longer than {timeout:g}s")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return UnavailableError(f"Kubernetes API at {url} answered {call.verb} {call.resource} with something not JSON")
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(exc, ApiException):  # status 0: the client wraps TLS errors this way
        reason = exc.reason
    return UnavailableError(
        f"Kubernetes API at {url} is not answering ({_short(reason)}); check the cluster address, "
        "the network and the kubeconfig context"
    )


def _short(reason: object) -> str:
    text = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    # urllib3 messages carry the connection object repr; the part after the last colon is the cause
    if "Failed to establish a new connection" in text:
        return "connection refused" if "refused" in text.lower() else "cannot connect"
    return text[:200]


# --------------------------------------------------------------------------- the gateway


def _configure(configuration: kubernetes.client.Configuration, concurrency: int) -> None:
    # urllib3 keeps at most maxsize connections a host; fewer than the calls in flight serialises them
    configuration.connection_pool_maxsize = max(concurrency, configuration.connection_pool_maxsize or 0)
    # the per-call timeout bounds the whole call; urllib3's default of 3 read retries would multiply it
    configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=2)


class ReadOnlyApi:
    """The few read-only endpoints opsbot calls, through the official `ApiClient` (kubeconfig, auth,
    TLS, request building and `ApiException`s all stay the client's own).

    Why not `CoreV1Api`/`AppsV1Api`: since kubernetes 35 the generated classes wrap ~1,000 methods in
    pydantic `validate_call`, which costs about 0.9 s at every process start (most of an `opsbot debug`
    run) and validation on every call, only for us to read the raw JSON anyway (`_preload_content=False`).
    Method names and keyword arguments are those of the generated API, so either can be passed in.
    """

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client

    def _get(self, path: str, path_params: dict[str, str], _request_timeout: float | None = None,
             _preload_content: bool = False, **query: Any) -> Any:
        names = {"label_selector": "labelSelector", "field_selector": "fieldSelector", "tail_lines": "tailLines",
                 "since_seconds": "sinceSeconds"}
        params = [(names.get(k, k), v) for k, v in query.items() if v is not None]
        method, url, headers, body, post = self.api_client.param_serialize(
            method="GET", resource_path=path, path_params=path_params, query_params=params,
            header_params={"Accept": "application/json, */*"}, auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method, url, header_params=headers, body=body, post_params=post,
                                            _request_timeout=_request_timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def get_code(self, **kw: Any) -> Any:
        return self._get("/version", {}, **kw)

    def connect_get_namespaced_pod_proxy_with_path(self, name: str, namespace: str, path: str, **kw: Any) -> Any:
        # the path goes into the URL as is (the generated client would escape its slashes); only
        # fixed, known paths are ever passed
        if not _PROXY_PATH.fullmatch(path):
            raise ValueError(f"not a proxy path opsbot reads: {path!r}")
        return self._get(f"/api/v1/namespaces/{{namespace}}/pods/{{name}}/proxy/{path}",
                         {"namespace": namespace, "name": name}, **kw)

    def list_namespace(self, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces", {}, **kw)

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                         {"namespace": namespace, "name": name}, **kw)

    def list_namespaced_deployment(self, namespace: str, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/namespaces/{namespace}/deployments", {"namespace": namespace}, **kw)

    def list_deployment_for_all_namespaces(self, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/deployments", {}, **kw)

    def list_namespaced_replica_set(self, namespace: str, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/namespaces/{namespace}/replicasets", {"namespace": namespace}, **kw)

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces/{namespace}/pods", {"namespace": namespace}, **kw)

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces/{namespace}/pods/{name}/log", {"namespace": namespace, "name": name},
                         **kw)

    def list_namespaced_event(self, namespace: str, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces/{namespace}/events", {"namespace": namespace}, **kw)


class KubernetesGateway:
    """Async, read-only access to the Kubernetes API, returning `bot.models` snapshots."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        timeout: float = 10.0,
        concurrency: int = 16,
        sidecars: Sequence[str] = DEFAULT_SIDECARS,
    ) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self.concurrency = concurrency
        self.sidecars = frozenset(sidecars)
        configuration = api_client.configuration
        if (configuration.connection_pool_maxsize or 0) < concurrency:
            # the pool is built with the client: rebuild it so that `concurrency` calls can run at once
            _configure(configuration, concurrency)
            api_client.rest_client.close()
            api_client.rest_client = RESTClientObject(configuration)
        self.url = str(configuration.host)
        self.core = self.apps = self.version = ReadOnlyApi(api_client)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="k8s")
        self._slots: asyncio.Semaphore | None = None

    @classmethod
    def from_settings(cls, settings: KubernetesSettings, *, context: str | None = None) -> KubernetesGateway:
        """From a kubeconfig (with the given context), else the in-cluster service account."""
        options: dict[str, Any] = {
            "timeout": settings.timeout,
            "concurrency": settings.concurrency,
            "sidecars": tuple(settings.sidecars),
        }
        configuration = kubernetes.client.Configuration()
        _configure(configuration, settings.concurrency)
        config_file = settings.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        paths = [Path(p).expanduser() for p in config_file.split(os.pathsep) if p]
        chosen = context or settings.context
        setting = "--context" if context else "OPSBOT_CONTEXT"
        if not any(p.is_file() for p in paths):
            if settings.kubeconfig:
                raise ConfigError("KUBECONFIG", f"no kubeconfig file at {settings.kubeconfig}")
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
            except kubernetes.config.ConfigException as exc:
                raise ConfigError(
                    "KUBECONFIG", f"no kubeconfig at {config_file} and not running in a cluster ({exc})"
                ) from None
            if chosen:
                log.warning("ignoring context %s: running with the in-cluster service account", chosen)
            return cls(kubernetes.client.ApiClient(configuration), **options)
        try:
            contexts, _active = kubernetes.config.list_kube_config_contexts(config_file=config_file)
            names = [c["name"] for c in contexts or []]
            if chosen and chosen not in names:
                listed = ", ".join(names) or "none"
                raise ConfigError(setting, f"context {chosen!r} is not in {config_file}; contexts: {listed}")
            api_client = kubernetes.config.new_client_from_config(
                config_file=config_file, context=chosen, persist_config=False, client_configuration=configuration
            )
        except kubernetes.config.ConfigException as exc:
            raise ConfigError("KUBECONFIG", f"{config_file}: {exc}") from None
        return cls(api_client, **options)

    @classmethod
    def for_url(cls, url: str, **kwargs: Any) -> KubernetesGateway:
        """Plain HTTP without credentials: for the sandbox and tests."""
        configuration = kubernetes.client.Configuration(host=url.rstrip("/"))
        _configure(configuration, int(kwargs.get("concurrency", 16)))
        return cls(kubernetes.client.ApiClient(configuration), **kwargs)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.api_client.close)

    # ------------------------------------------------------------------ plumbing

    async def _call(self, call: Call, method: Callable[..., Any], **kwargs: Any) -> bytes:
        """Run one client call in the pool, bounded and timed out; the raw body, or a translated error."""
        if self._slots is None:  # created lazily: it binds to the running loop
            self._slots = asyncio.Semaphore(self.concurrency)
        request = functools.partial(self._fetch, method, kwargs)
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                # copy_context: log lines from the worker thread keep the request's correlation id
                work = loop.run_in_executor(self._pool, contextvars.copy_context().run, request)
                return await asyncio.wait_for(work, self.timeout)
        except Exception as exc:  # includes asyncio.TimeoutError from wait_for
            raise translate_error(exc, call, url=self.url, timeout=self.timeout) from exc

    def _fetch(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> bytes:
        response = method(**kwargs, _preload_content=False, _request_timeout=self.timeout)
        try:
            return bytes(response.data)
        finally:
            response.release_conn()

    async def _json(self, call: Call, method: Callable[..., Any], **kwargs: Any) -> Json:
        return self._parse(call, await self._call(call, method, **kwargs))

    def _parse(self, call: Call, body: bytes) -> Json:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise translate_error(exc, call, url=self.url, timeout=self.timeout) from exc
        if not isinstance(data, dict):
            raise UnavailableError(
                f"Kubernetes API at {self.url} answered {call.verb} {call.resource} with {data!r:.80}"
            )
        return data

    async def _items(self, call: Call, method: Callable[..., Any], **kwargs: Any) -> list[Json]:
        return list((await self._json(call, method, **kwargs)).get("items") or [])

    # ------------------------------------------------------------------ reads

    async def ping(self) -> None:
        """GET /version: the API answers (readiness)."""
        try:
            await self._json(Call("get", "version", None), self.version.get_code)
        except UpstreamTimeoutError as exc:
            raise UnavailableError(f"{exc}: the Kubernetes API is not answering") from exc

    async def get_deployment(self, namespace: str, name: str) -> DeploymentSnapshot:
        call = Call("get", "deployments", namespace, name)
        try:
            data = await self._json(call, self.apps.read_namespaced_deployment, name=name, namespace=namespace)
        except NotFoundError:
            raise NotFoundError(await self._explain_missing(namespace, name)) from None
        snapshot = deployment_snapshot(data)
        replicasets = await self._owned_replicasets(data, snapshot)
        return snapshot.model_copy(update={"replicasets": replicasets})

    async def list_deployments(self, namespace: str) -> list[DeploymentSnapshot]:
        """Every Deployment of a namespace (ReplicaSets not resolved: a listing, not an investigation)."""
        items = await self._items(
            Call("list", "deployments", namespace), self.apps.list_namespaced_deployment, namespace=namespace
        )
        return sorted((deployment_snapshot(d) for d in items), key=lambda d: d.name)

    async def _owned_replicasets(self, data: Json, snapshot: DeploymentSnapshot) -> list[str]:
        if not snapshot.selector_expr:
            return []
        uid = (data.get("metadata") or {}).get("uid")
        try:
            items = await self._items(
                Call("list", "replicasets", snapshot.namespace),
                self.apps.list_namespaced_replica_set,
                namespace=snapshot.namespace,
                label_selector=snapshot.selector_expr,
            )
        except ForbiddenError as exc:
            # without ReplicaSets, pods are still found by the selector; only overlap filtering is lost
            log.warning("cannot list replicasets: %s", exc)
            return []
        names = []
        for rs in items:
            owner = _owner(rs.get("metadata") or {}, "Deployment")
            if owner and (owner.get("uid") == uid if uid and owner.get("uid") else owner.get("name") == snapshot.name):
                names.append(rs["metadata"]["name"])
        return names

    async def _explain_missing(self, namespace: str, name: str) -> str:
        """One line: what exists instead of the deployment asked for."""
        message = f'deployment "{name}" not found in namespace "{namespace}"'
        namespaces: list[str] | None
        try:
            namespaces = sorted(
                ns["metadata"]["name"]
                for ns in await self._items(Call("list", "namespaces", None), self.core.list_namespace)
            )
        except ForbiddenError:
            namespaces = None
        try:
            deployments = await self._items(
                Call("list", "deployments", None), self.apps.list_deployment_for_all_namespaces
            )
            scope = "all namespaces"
        except ForbiddenError:
            try:
                deployments = await self._items(
                    Call("list", "deployments", namespace), self.apps.list_namespaced_deployment, namespace=namespace
                )
                scope = f'namespace "{namespace}"'
            except ForbiddenError:
                deployments, scope = [], ""
        if namespaces is not None and namespace not in namespaces:
            message += f' (namespace "{namespace}" does not exist)'
        found = {
            f"{d['metadata'].get('namespace', '')}/{d['metadata']['name']}": d["metadata"]["name"] for d in deployments
        }
        close = difflib.get_close_matches(name, sorted(set(found.values())), n=5, cutoff=0.6)
        similar = [key for key, value in sorted(found.items()) if value in close]
        if similar:
            message += "; similar deployments: " + ", ".join(similar)
        elif scope:
            message += f"; no similarly named deployment in {scope}"
        else:
            message += "; opsbot may not list deployments, so it cannot suggest similar names"
        if namespaces is None:
            message += "; opsbot may not list namespaces"
        else:
            message += "; namespaces: " + (", ".join(namespaces) or "none")
        return message

    async def list_pods(self, deployment: DeploymentSnapshot) -> list[PodSnapshot]:
        """The Deployment's pods, by its label selector (a name prefix also matches strangers)."""
        if not deployment.selector_expr:
            return []
        items = await self._items(
            Call("list", "pods", deployment.namespace),
            self.core.list_namespaced_pod,
            namespace=deployment.namespace,
            label_selector=deployment.selector_expr,
        )
        now = datetime.now(UTC)
        pods = [pod_snapshot(item, now=now, sidecars=self.sidecars) for item in items]
        if deployment.replicasets:  # selectors of two Deployments can overlap: keep our own pods
            owned = set(deployment.replicasets)
            pods = [p for p in pods if p.owner in owned]
        return sorted(pods, key=lambda p: p.name)

    async def read_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail: int,
        since_seconds: int | None = None,
        previous: bool = False,
    ) -> LogSnapshot:
        call = Call("get", "pods/log", namespace, pod)
        try:
            body = await self._call(
                call,
                self.core.read_namespaced_pod_log,
                name=pod,
                namespace=namespace,
                container=container,
                tail_lines=tail,
                since_seconds=since_seconds,
                previous=previous or None,
                timestamps=True,
            )
        except UsageError as exc:
            # 400: no previous container, or a container still being created; that is an answer, not a failure
            cause = exc.__cause__
            if not (isinstance(cause, ApiException) and cause.status == 400):
                raise
            return LogSnapshot(pod=pod, container=container, previous=previous, error=_status_message(cause))
        text = body.decode("utf-8", "replace")
        # the lines are built and typed right here: validating thousands of them again would only
        # rebuild every LogLine
        return LogSnapshot.model_construct(pod=pod, container=container, previous=previous, lines=parse_log(text))

    async def _pod_proxy(self, namespace: str, pod: str, port: int, path: str, who: str) -> bytes:
        """GET a path on a pod's port through the API server's pod proxy.

        403: the role lacks `get` on pods/proxy. A 502/503 from the proxy means nothing answered on
        that port (`who` did not); it is reported as such, not as the API server being down.
        """
        target = f"{pod}:{port}"
        try:
            return await self._call(Call("get", "pods/proxy", namespace, target),
                                    self.core.connect_get_namespaced_pod_proxy_with_path,
                                    name=target, namespace=namespace, path=path)
        except UnavailableError as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiException) and cause.status in (502, 503):
                raise UnavailableError(
                    f"{who} did not answer on port {port} through the API server proxy ({_status_message(cause)})"
                ) from exc
            raise

    async def dapr_metadata(self, namespace: str, pod: str, port: int = DAPR_DEFAULT_PORT) -> DaprSidecar:
        """The pod's Dapr sidecar metadata (`GET /v1.0/metadata`), through the API server's pod proxy."""
        body = await self._pod_proxy(namespace, pod, port, "v1.0/metadata", f"the Dapr sidecar of {pod}")
        return dapr_sidecar(self._parse(Call("get", "pods/proxy", namespace, f"{pod}:{port}"), body), pod=pod)

    async def dapr_app_subscriptions(self, namespace: str, pod: str, app_port: int) -> DaprSidecar:
        """The subscriptions the app offers its sidecar (`GET /dapr/subscribe` on the app's port, the
        seed's check), through the API server's pod proxy; what is left when the sidecar's own API is
        pod-local."""
        try:
            body = await self._pod_proxy(namespace, pod, app_port, "dapr/subscribe",
                                         f"the app of {pod} (/dapr/subscribe)")
        except NotFoundError:  # an app with no programmatic subscriptions may not serve the path at all
            return DaprSidecar(pod=pod, source="app", subscriptions=[])
        try:
            data = json.loads(body) if body.strip() else []
        except ValueError:
            data = []
        return DaprSidecar(pod=pod, source="app", subscriptions=app_subscriptions(data))

    async def read_logs(
        self, pods: list[PodSnapshot], *, tail: int, since_seconds: int | None = None
    ) -> list[LogSnapshot]:
        """Every container of every pod (app, sidecars, init) and the previous log of restarted ones.

        A refusal (RBAC) raises, as every other log would be refused too; a log that times out or
        fails otherwise is returned with its error so that one slow container hides nothing else.
        """
        jobs: list[tuple[str, str, str, bool]] = []
        for pod in pods:
            for container in pod.containers:
                jobs.append((pod.namespace, pod.name, container.name, False))
                if container.restarts > 0:
                    jobs.append((pod.namespace, pod.name, container.name, True))

        async def one(namespace: str, pod: str, container: str, previous: bool) -> LogSnapshot:
            try:
                return await self.read_log(
                    namespace, pod, container, tail=tail, since_seconds=since_seconds, previous=previous
                )
            except (UpstreamTimeoutError, UnavailableError, NotFoundError) as exc:
                return LogSnapshot(pod=pod, container=container, previous=previous, error=str(exc))

        return list(await asyncio.gather(*(one(*job) for job in jobs)))

    async def warning_events(self, namespace: str, names: Iterable[str]) -> list[EventSnapshot]:
        """Warning events about the given objects (Deployment, ReplicaSets, pods), newest first."""
        wanted = set(names)
        items = await self._items(
            Call("list", "events", namespace),
            self.core.list_namespaced_event,
            namespace=namespace,
            field_selector="type=Warning",
        )
        events = [event_snapshot(item) for item in items]
        return _by_last_seen([e for e in events if e.object_name in wanted and e.type == "Warning"])

    async def pod_events(self, namespace: str, pod: str) -> list[EventSnapshot]:
        """All events about one pod, newest first."""
        items = await self._items(
            Call("list", "events", namespace),
            self.core.list_namespaced_event,
            namespace=namespace,
            field_selector=f"involvedObject.name={pod}",
        )
        events = [event_snapshot(item) for item in items]
        return _by_last_seen([e for e in events if e.object_name == pod])

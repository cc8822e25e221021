"""Pure conversions from Kubernetes JSON (or the client's V1 objects) to the snapshots of `bot.models`:
pods with their containers, Deployments, events, and log text (`parse_log`); plus the label selector."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.changes import Rollout
from bot.config import DEFAULT_SIDECARS
from bot.k8s.dapr import dapr_ports
from bot.models import (
    ContainerKind,
    ContainerStatus,
    DeploymentSnapshot,
    EventSnapshot,
    LogLine,
    PodSnapshot,
)

COMMIT_ANNOTATION = "opsbot.io/commit"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
VERSION_LABEL = "app.kubernetes.io/version"

_SHA = re.compile(r"[0-9a-f]{7,40}")
# RFC3339 / RFC3339Nano, as the kubelet prefixes log lines with `timestamps=true`
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})")

Json = dict[str, Any]

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


def owner_reference(meta: Json, kind: str) -> Json | None:
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
    owner = owner_reference(meta, "ReplicaSet")
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


def rollout_snapshot(replicaset: Any, *, deployment_commit_hint: str | None = None) -> Rollout:
    """A ReplicaSet as a revision of its Deployment: created when that revision rolled out. The newest
    one's commit falls back on the Deployment's (its commit annotation is not on the pod template)."""
    data = _as_json(replicaset)
    meta: Json = data.get("metadata") or {}
    spec: Json = data.get("spec") or {}
    status: Json = data.get("status") or {}
    pod_spec: Json = (spec.get("template") or {}).get("spec") or {}
    revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    return Rollout(
        revision=int(revision) if revision and str(revision).isdigit() else None,
        replicaset=meta.get("name", ""),
        created_at=parse_time(meta.get("creationTimestamp")),
        commit=deployment_commit(data) or deployment_commit_hint,
        images={c.get("name", ""): c.get("image", "") for c in pod_spec.get("containers") or []},
        replicas=int(spec.get("replicas", 0) or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
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


def by_last_seen(events: list[EventSnapshot]) -> list[EventSnapshot]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: e.last_seen or e.first_seen or oldest, reverse=True)

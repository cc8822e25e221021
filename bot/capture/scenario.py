"""A debug report -> a scenario (the sandbox's format, docs/scenarios.md): what /debug read, as data.

Pure: the report (its snapshots and the raw log tails it keeps) in, a plain dict out. Times become
offsets from the capture time (`-1h2m3.25s`), so a replay looks as alive as the incident did.
Every string is redacted on the way in: a snapshot is a file people pass around.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, get_args

from bot.config import Settings
from bot.errors import OpsbotError
from bot.models import (
    ContainerKind,
    ContainerStatus,
    DaprSidecar,
    DeploymentSnapshot,
    EventSnapshot,
    LogSnapshot,
    PodSnapshot,
    Report,
    WorkflowRun,
)
from bot.redact import redact, redact_lines
from bot.sandbox.clock import relative
from bot.sandbox.scenario import SCENARIO_VERSION, RunConclusion, RunStatus

Json = dict[str, Any]
_HASH = re.compile(r"[a-z0-9]{5,10}")
_SHA = re.compile(r"[0-9a-f]{40}")
_RUN_STATUSES = frozenset(get_args(RunStatus))
_RUN_CONCLUSIONS = frozenset(get_args(RunConclusion))


class NothingToSnapshot(OpsbotError):
    """The run read no deployment (the cluster did not answer, a permission is missing): no file."""

    def __init__(self, report: Report) -> None:
        why = f"{report.errors[0].step}: {report.errors[0].message}" if report.errors else "no deployment was read"
        super().__init__(f"nothing to snapshot of {report.service}: {why}")


def scenario_from_report(report: Report, settings: Settings, *, at: datetime) -> Json:
    """The scenario that replays `report` (a debug report, with its raw logs): the service's
    Deployment, ReplicaSets, pods, logs (current and previous), warning events, Dapr metadata and
    runs, plus the services on its request path as they were read."""
    if report.deployment is None:
        raise NothingToSnapshot(report)
    ns = report.namespace
    sidecars = frozenset(settings.kubernetes.sidecars)
    deployments = [_deployment(report.deployment, report.pods, report.logs, report.dapr, at=at, sidecars=sidecars)]
    services = {report.service: _service(settings, report.service, ns)}
    for hop in report.path:
        if hop.deployment is not None:
            deployments.append(_deployment(hop.deployment, hop.pods, hop.logs, [], at=at, sidecars=sidecars))
        services[hop.service] = _service(settings, hop.service, hop.namespace)
    for name in settings.service(report.service).request_path:  # hops not looked at keep their place
        services.setdefault(name, _service(settings, name, settings.namespace_for(name)))
    data: Json = {
        "version": SCENARIO_VERSION,
        "name": f"snapshot-{report.service}",
        "description": f"opsbot snapshot of {report.service} in {ns}, taken {at:%Y-%m-%d %H:%M} UTC",
        "capture": {"service": report.service, "namespace": ns, "context": report.context, "at": at.isoformat()},
        "dapr_metadata": bool(report.dapr) or _dapr_step_ran(report),
        "namespaces": sorted({ns, *(h["namespace"] for h in services.values())}),
        "services": services,
        "dapr_components": _components(report.dapr),
        "deployments": deployments,
        "events": [e for e in (_event(e, ns, at) for e in report.events) if e],
        "repos": _repos(report.runs, settings.service(report.service).repo,
                        settings.service(report.service).workflow, at),
    }
    return data


def _dapr_step_ran(report: Report) -> bool:
    """The Dapr step was on (it answered, failed or found nothing to ask): replay it on."""
    step = next((s for s in report.steps if s.name == "dapr"), None)
    return step is not None and not (step.status == "skipped" and step.summary.startswith("skipped: off"))


def _service(settings: Settings, name: str, namespace: str) -> Json:
    cfg = settings.service(name)
    hint: Json = {"namespace": namespace}
    for key in ("repo", "workflow", "deployment"):
        if getattr(cfg, key):
            hint[key] = getattr(cfg, key)
    if cfg.branch != "main":
        hint["branch"] = cfg.branch
    if cfg.request_path:
        hint["request_path"] = list(cfg.request_path)
    return hint


def _rel(ts: datetime | None, at: datetime, default: str = "now") -> str:
    return relative(ts, at) if ts is not None else default


# ---------------------------------------------------------------- the Deployment and its pods


def _layout(pods: Sequence[PodSnapshot], d: DeploymentSnapshot, sidecars: frozenset[str]) -> tuple[Json, Json]:
    """(init containers, containers) by name, in pod order. A sidecar (kind) is a native sidecar, an
    init container with restartPolicy Always, unless it is a sidecar by name listed after the init
    containers (daprd, istio-proxy as regular containers)."""
    order: dict[str, ContainerStatus] = {}
    for pod in pods:
        for c in pod.containers:
            order.setdefault(c.name, c)
    if not order:
        return {}, {name: {"name": name, "image": image} for name, image in d.images.items()}
    names = list(order)
    last_init = max((i for i, n in enumerate(names) if order[n].kind is ContainerKind.INIT), default=-1)
    init: Json = {}
    regular: Json = {}
    for i, (name, c) in enumerate(order.items()):
        spec: Json = {"name": name, "image": d.images.get(name) or c.image or "unknown"}
        native = c.kind is ContainerKind.SIDECAR and (name not in sidecars or i < last_init)
        if c.kind is ContainerKind.INIT or native:
            if native:
                spec["restart_policy"] = "Always"
            init[name] = spec
        else:
            regular[name] = spec
    return init, regular


def _current_set(d: DeploymentSnapshot, pods: Sequence[PodSnapshot]) -> str | None:
    """The ReplicaSet of the current template: the owner of most pods running the template's images."""
    matching = Counter(p.owner for p in pods if p.owner and all(
        d.images.get(c.name, c.image) == c.image for c in p.containers))
    if matching:
        return matching.most_common(1)[0][0]
    dated = [(p.created_at, p.owner) for p in pods if p.owner and p.created_at]
    if dated:
        return max(dated)[1]
    return d.replicasets[-1] if d.replicasets else None


def _hash_of(name: str | None, deployment: str) -> str | None:
    if not name or not name.startswith(deployment + "-"):
        return None
    suffix = name[len(deployment) + 1:]
    return suffix if _HASH.fullmatch(suffix) else None


def _deployment(d: DeploymentSnapshot, pods: Sequence[PodSnapshot], logs: Sequence[LogSnapshot],
                dapr: Sequence[DaprSidecar], *, at: datetime, sidecars: frozenset[str]) -> Json:
    init, regular = _layout(pods, d, sidecars)
    if not regular:  # the API requires one container; a pod-less Deployment lists its template's
        regular = {n: {"name": n, "image": i} for n, i in d.images.items() if n not in init} or \
            {"app": {"name": "app", "image": "unknown"}}
    current = _current_set(d, pods)
    template_hash = _hash_of(current, d.name) or hashlib.sha256(d.name.encode()).hexdigest()[:10]
    template_images = {**{n: c["image"] for n, c in init.items()}, **{n: c["image"] for n, c in regular.items()}}
    older: dict[str, Json] = {}
    for name in dict.fromkeys([*d.replicasets, *(p.owner for p in pods if p.owner)]):
        rs_hash = _hash_of(name, d.name)
        if rs_hash and rs_hash != template_hash:
            own = [p for p in pods if p.owner == name]
            images = {c.name: c.image for p in own[:1] for c in p.containers if c.image != template_images.get(c.name)}
            created = min((p.created_at for p in own if p.created_at), default=d.created_at)
            older[rs_hash] = {"template_hash": rs_hash, "revision": 0, "created": _rel(created, at, "-1d"),
                              "replicas": len(own), **({"images": images} if images else {})}
    by_key = {(s.pod, s.container, s.previous): s for s in logs}
    out: Json = {
        "name": d.name,
        "namespace": d.namespace,
        "replicas": d.replicas,
        "created": _rel(d.created_at, at, "-1d"),
        "revision": int(d.revision) if d.revision and d.revision.isdigit() else 1,
        "template_hash": template_hash,
        "selector": dict(d.selector) or {"app.kubernetes.io/name": d.name},
        "fill_replicas": False,
        "status": {"ready_replicas": d.ready_replicas, "updated_replicas": d.updated_replicas,
                   "available_replicas": d.available_replicas},
    }
    shared = _shared_labels(pods)
    if shared:
        out["labels"] = shared
    if d.commit:
        out["annotations"] = {"opsbot.io/commit": d.commit}
    ports = next((p.dapr for p in pods if p.dapr is not None), None)
    if ports is not None:
        notes = {"dapr.io/enabled": "true", **({"dapr.io/app-id": ports.app_id} if ports.app_id else {})}
        if ports.http_port != 3500:
            notes["dapr.io/http-port"] = str(ports.http_port)
        if ports.app_port:
            notes["dapr.io/app-port"] = str(ports.app_port)
        if ports.api_reachable:
            notes["dapr.io/sidecar-listen-addresses"] = "0.0.0.0"
        out["pod_annotations"] = notes
    own_pods = {p.name for p in pods}
    subscriptions = [sub for s in dapr if s.pod in own_pods for sub in s.subscriptions]
    if subscriptions:
        out["dapr_subscriptions"] = [
            {"pubsub": sub.pubsub, "topic": sub.topic, "route": sub.routes[0] if sub.routes else "/",
             **({"dead_letter_topic": sub.dead_letter_topic} if sub.dead_letter_topic else {}),
             "kind": sub.kind if sub.kind in ("DECLARATIVE", "PROGRAMMATIC") else "PROGRAMMATIC"}
            for sub in {(s.pubsub, s.topic): s for s in subscriptions}.values()]
    if init:
        out["init_containers"] = list(init.values())
    out["containers"] = list(regular.values())
    if older:
        out["replicasets"] = list(older.values())
    out["pods"] = [_pod(p, template_images, by_key, at=at, template_hash=template_hash, d=d, shared=shared)
                   for p in pods]
    return out


def _shared_labels(pods: Sequence[PodSnapshot]) -> dict[str, str]:
    """The labels every pod carries (the template's), but the ReplicaSet's pod-template-hash."""
    if not pods:
        return {}
    common = dict(pods[0].labels)
    for p in pods[1:]:
        common = {k: v for k, v in common.items() if p.labels.get(k) == v}
    common.pop("pod-template-hash", None)
    return common


def _pod(p: PodSnapshot, images: dict[str, str], logs: dict[tuple[str, str, bool], LogSnapshot], *, at: datetime,
         template_hash: str, d: DeploymentSnapshot, shared: dict[str, str]) -> Json:
    pod: Json = {"name": p.name, "created": _rel(p.created_at, at, "-1h"), "node": p.node or "node-a",
                 "phase": p.phase, "ready": p.ready}
    own = {k: v for k, v in p.labels.items() if k != "pod-template-hash" and shared.get(k) != v}
    if own:
        pod["labels"] = own
    rs_hash = _hash_of(p.owner, d.name)
    if rs_hash and rs_hash != template_hash:
        pod["replicaset"] = rs_hash
    pod["containers"] = {c.name: _container(p.name, c, images, logs, at) for c in p.containers}
    return pod


def _container(pod: str, c: ContainerStatus, images: dict[str, str], logs: dict[tuple[str, str, bool], LogSnapshot],
               at: datetime) -> Json:
    state: Json = {"state": c.state, "ready": c.ready}
    if c.restarts:
        state["restarts"] = c.restarts
    if c.reason:
        state["reason"] = redact(c.reason)
    if c.message:
        state["message"] = redact(c.message)
    if c.state == "terminated":
        state["exit_code"] = 0 if c.reason == "Completed" else 1
    if c.started_at:
        state["started"] = relative(c.started_at, at)
    if c.last_reason:
        state["last_reason"] = c.last_reason
    if c.last_exit_code is not None:
        state["last_exit_code"] = c.last_exit_code
    if c.last_finished_at:
        state["last_finished"] = relative(c.last_finished_at, at)
    if c.image and c.image != images.get(c.name):
        state["image"] = c.image
    for previous, log_key, error_key in ((False, "log", "log_error"), (True, "previous_log", "previous_log_error")):
        snap = logs.get((pod, c.name, previous))
        if snap is None:
            continue
        if snap.error is not None:
            state[error_key] = redact(snap.error)
        else:
            state[log_key] = {"recorded": recorded(snap, at)}
    return state


def recorded(snap: LogSnapshot, at: datetime) -> str:
    """A log as read, redacted line-aware (a key block, a `name:`/`value:` pair), one `OFFSET TEXT` a line."""
    texts = redact_lines(line.text for line in snap.lines)
    # every line has its own time: integer microseconds here, not one timedelta a line. What
    # `offset` writes, made here: its `-1h2m` part once a minute (a log's lines share a few), the
    # seconds a line (a call a line was a sixth of a snapshot's cost)
    base = round(at.timestamp() * 1_000_000)
    heads: dict[int, str] = {}
    last = "now"
    out = []
    for line, text in zip(snap.lines, texts, strict=True):
        ts = line.ts
        if ts is not None:
            micros = round(ts.timestamp() * 1_000_000) - base
            if micros:
                minutes, rest = divmod(-micros if micros < 0 else micros, 60_000_000)
                key = -minutes - 1 if micros < 0 else minutes  # -0 and +0 minutes differ
                head = heads.get(key)
                if head is None:
                    hours, mins = divmod(minutes, 60)
                    head = heads[key] = ("-" if micros < 0 else "+") + (f"{hours}h" if hours else "") + \
                        (f"{mins}m" if mins else "")
                seconds, fraction = divmod(rest, 1_000_000)
                if fraction:
                    last = f"{head}{seconds}.{fraction:06d}".rstrip("0") + "s"
                else:
                    last = f"{head}{seconds}s" if seconds or len(head) == 1 else head
            else:
                last = "now"
        out.append(f"{last} {text}")
    return "\n".join(out) + "\n" if out else ""


# ---------------------------------------------------------------- events, Dapr, runs


def _event(e: EventSnapshot, namespace: str, at: datetime) -> Json | None:
    if not e.object_kind or not e.object_name or "/" in e.object_name:
        return None
    first = e.first_seen or e.last_seen
    out: Json = {"type": e.type if e.type in ("Normal", "Warning") else "Warning", "reason": e.reason or "Unknown",
                 "message": redact(e.message), "object": f"{e.object_kind}/{e.object_name}",
                 "namespace": namespace, "count": max(1, e.count), "first": _rel(first, at)}
    if e.last_seen and e.last_seen != first:
        out["last"] = relative(e.last_seen, at)
    return out


def _components(sidecars: Iterable[DaprSidecar]) -> list[Json]:
    """The components each sidecar said it loaded, scoped to its app id."""
    scoped: dict[tuple[str, str, str], list[str]] = {}
    for s in sidecars:
        for c in s.components or []:
            apps = scoped.setdefault((c.name, c.type or "unknown", c.version or "v1"), [])
            if s.app_id and s.app_id not in apps:
                apps.append(s.app_id)
    return [{"name": n, "type": t, "version": v, **({"scopes": apps} if apps else {})}
            for (n, t, v), apps in scoped.items()]


def _repos(runs: Sequence[WorkflowRun], repo: str | None, workflow: str | None, at: datetime) -> list[Json]:
    if not repo or not runs:
        return []
    workflows: dict[str, Json] = {}
    out_runs = []
    for run in runs:
        if not _SHA.fullmatch(run.head_sha):
            continue
        name = run.name or "workflow"
        if workflow:  # the runs were listed for this one workflow: they are its runs
            key = workflow if not workflow.isdigit() else f"workflow-{workflow}.yml"
            wf_id = int(workflow) if workflow.isdigit() else _stable_id(workflow)
        else:
            key = re.sub(r"[^\w.-]+", "-", name.lower()).strip("-") + ".yml"
            wf_id = _stable_id(key)
        workflows.setdefault(key, {"id": wf_id, "name": name, "file": key})
        out_runs.append({
            "id": run.id, "run_number": run.run_number, "workflow": key, "head_sha": run.head_sha,
            "head_branch": run.head_branch or "main", "event": run.event or "push",
            "status": run.status if run.status in _RUN_STATUSES else "completed",
            "conclusion": run.conclusion if run.conclusion in _RUN_CONCLUSIONS else None, "title": redact(name),
            "created": _rel(run.created_at, at),
        })
    return [{"full_name": repo, "workflows": list(workflows.values()), "runs": out_runs}] if out_runs else []


def _stable_id(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)

"""Evidence for the checklist items the bot completes itself: pure functions over snapshots.

Each returns the one line shown next to the ticked item, or None when the bot could not do the
check (its step failed): an item is never ticked without evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.changes import MetricReading
from bot.models import (
    ContainerKind,
    DaprSidecar,
    DeploymentSnapshot,
    EventSnapshot,
    Finding,
    LogSnapshot,
    PathHop,
    PodSnapshot,
    WorkflowRun,
)
from bot.text import plural
from playbooks.findings import restart_summary


def pods_evidence(pods: Sequence[PodSnapshot] | None) -> str | None:
    """`3 pods, 1 restarting: taskflow-api-7d9f-x2k (api, 4 restarts, OOMKilled)`."""
    if pods is None:
        return None
    if not pods:
        return "0 pods match the Deployment's selector"
    restarting = [p for p in pods if p.restarts]
    not_ready = [p for p in pods if not p.ready]
    head = f"{plural(len(pods), 'pod')}"
    if not_ready:
        head += f", {len(not_ready)} not ready"
    if not restarting:
        return f"{head}, no restarts"
    shown = "; ".join(restart_summary(p) for p in restarting[:2])
    more = f" and {len(restarting) - 2} more" if len(restarting) > 2 else ""
    return f"{head}, {len(restarting)} restarting: {shown}{more}"


def _kind_of(pods: Sequence[PodSnapshot], pod: str, container: str) -> ContainerKind:
    for p in pods:
        if p.name == pod:
            status = p.container(container)
            if status is not None:
                return status.kind
    return ContainerKind.APP


def logs_evidence(
    logs: Sequence[LogSnapshot] | None, pods: Sequence[PodSnapshot], findings: Sequence[Finding], *, sidecars: bool
) -> str | None:
    """How many logs of app (or sidecar) containers were read and what they held."""
    if logs is None:
        return None
    wanted = {ContainerKind.SIDECAR} if sidecars else {ContainerKind.APP, ContainerKind.INIT}
    read = [s for s in logs if s.error is None and _kind_of(pods, s.pod, s.container) in wanted]
    if not read:
        return None
    names = sorted({s.container for s in read})
    previous = sum(s.previous for s in read)
    lines = sum(s.line_count for s in read)
    hits = [f for f in findings if set(f.containers) & set(names) and f.pattern != "restarts"]
    found = ", ".join(f"{f.pattern} ({f.count})" for f in hits[:3]) if hits else "no known error pattern"
    prev = f" ({previous} previous)" if previous else ""
    return f"{len(read)} logs of {', '.join(names)} read{prev}, {lines:,} lines: {found}"


def pattern_evidence(findings: Sequence[Finding]) -> str | None:
    known = [f for f in findings if f.pattern != "restarts"]
    if not known:
        return None
    top = known[0]
    where = f" in {plural(len(top.pods), 'pod')}" if top.pods else ""
    rest = f"; also {', '.join(f.pattern for f in known[1:4])}" if len(known) > 1 else ""
    return f"{top.pattern}: {plural(top.count, 'hit')}{where}{rest}"


def events_evidence(events: Sequence[EventSnapshot] | None) -> str | None:
    if events is None:
        return None
    if not events:
        return "no warning events"
    by_reason: dict[str, int] = {}
    for e in events:
        by_reason[e.reason] = by_reason.get(e.reason, 0) + e.count
    top = sorted(by_reason.items(), key=lambda kv: -kv[1])[:3]
    return f"{plural(len(events), 'warning event')}: " + ", ".join(f"{r} x{n}" for r, n in top)


def rollout_evidence(deployment: DeploymentSnapshot | None) -> str | None:
    if deployment is None:
        return None
    d = deployment
    if d.updated_replicas >= d.replicas and d.ready_replicas >= d.replicas:
        return f"{d.ready_replicas}/{d.replicas} ready, all updated (revision {d.revision or '?'})"
    return None


def restarts_evidence(pods: Sequence[PodSnapshot] | None) -> str | None:
    if not pods or any(p.restarts for p in pods):
        return None
    return f"{plural(len(pods), 'pod')}, 0 restarts"


def commit_evidence(deployment: DeploymentSnapshot | None, runs: Sequence[WorkflowRun] | None) -> str | None:
    if deployment is None or not deployment.commit or not runs:
        return None
    latest_ok = next((r for r in runs if r.conclusion == "success"), None)
    if latest_ok is None or not latest_ok.head_sha.startswith(deployment.commit[:7]):
        return None
    return f"commit {deployment.commit[:7]} from run #{latest_ok.run_number} ({latest_ok.name or 'workflow'})"


def running_run(deployment: DeploymentSnapshot | None, runs: Sequence[WorkflowRun]) -> WorkflowRun | None:
    """The run that built the commit that is running, if any."""
    if deployment is None or not deployment.commit:
        return None
    short = deployment.commit[:7]
    return next((r for r in runs if r.head_sha and (r.head_sha.startswith(short)
                                                     or deployment.commit.startswith(r.head_sha[:7]))), None)


def dapr_evidence(sidecars: Sequence[DaprSidecar] | None) -> str | None:
    """`daprd of taskflow-api: 2 components (taskflow-pubsub, taskflow-store), subscribed to
    taskflow-pubsub/reminders -> /reminders`: what the sidecar runs with, as it says itself."""
    if not sidecars:
        return None
    parts = []
    for s in sidecars:
        subs = ", ".join(f"{sub.pubsub}/{sub.topic} -> {', '.join(sub.routes) or '?'}" for sub in s.subscriptions)
        subscribed = f"subscribed to {subs}" if subs else "no subscriptions"
        if s.components is None:  # read from the app: what it asks its sidecar for
            parts.append(f"app {s.app_id or s.pod} (/dapr/subscribe): {subscribed}")
            continue
        names = ", ".join(c.name for c in s.components)
        loaded = f"{plural(len(s.components), 'component')}" + (f" ({names})" if names else "")
        parts.append(f"daprd of {s.app_id or s.pod}: {loaded}, {subscribed}")
    return "; ".join(dict.fromkeys(parts))


def join(*parts: str | None) -> str | None:
    """The evidence strings that are there, one after the other."""
    present = [p for p in parts if p]
    return "; ".join(present) if present else None


def path_evidence(hops: Sequence[PathHop] | None) -> str | None:
    """`web-dashboard: 2/2 ready, model-schema-mismatch (12); notification-service: 2/2 ready, no known
    error`: the other services on the request path, as their logs say."""
    if not hops:
        return None
    parts = []
    for hop in hops:
        if hop.error:
            parts.append(f"{hop.service}: not checked ({hop.error})")
            continue
        restarts = f", {plural(hop.restarts, 'restart')}" if hop.restarts else ""
        found = ", ".join(f"{f.pattern} ({f.count})" for f in hop.findings) or "no known error"
        parts.append(f"{hop.service}: {hop.ready_replicas}/{hop.replicas} ready{restarts}, {found}")
    return "; ".join(parts)


def metrics_evidence(readings: Sequence[MetricReading]) -> str:
    """`5 metrics read (error rate (HTTP 5xx) 4.1%, an hour ago 0%); 1 not read`: the step's summary."""
    read = [m for m in readings if m.error is None]
    failed = len(readings) - len(read)
    head = f"{plural(len(read), 'metric')} read"
    rate = next((m for m in read if m.name == "error_rate"), None)
    if rate is not None and rate.now is not None:
        head += f" (error rate now {rate.now * 100:.2f}%" + (
            f", an hour ago {rate.hour_ago * 100:.2f}%)" if rate.hour_ago is not None else ")")
    return head + (f"; {failed} not read: {next(m.error for m in readings if m.error)}" if failed else "")

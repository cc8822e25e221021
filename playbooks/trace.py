"""The trace playbook: follow one request across services by its correlation id (the seed's
"Trace the Request Path" and "Include Correlation IDs"): every log line of every container in
the namespace that carries the id, in time order, with the errors among them classified."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import ConfigError, NotFoundError
from bot.inputs import check_correlation_id, check_name
from bot.models import SEVERITY_ORDER, DeploymentSnapshot, LogSnapshot, PodSnapshot, Report, TraceHit, path_summary
from bot.plumbing.metrics import observe_playbook
from bot.text import plural
from playbooks.engine import Progress, Step, run_steps
from playbooks.findings import derive_findings
from playbooks.investigation import redact_report

if TYPE_CHECKING:
    from bot.models import Finding
    from playbooks.runtime import Runtime

MAX_DEPLOYMENTS = 40  # a namespace-wide search stays bounded; the request path is searched first
TRACE_TAIL = 5000  # lines read per container within the time window


def carrying(correlation_id: str, snap: LogSnapshot) -> LogSnapshot:
    """Of a log as it is read, only the lines that carry the id: all a trace shows or classifies, so
    memory holds those, not the namespace's logs (40 deployments x 5,000 lines a container)."""
    if snap.error is not None:
        return snap
    lines = [line for line in snap.lines if correlation_id in line.text]
    return LogSnapshot.model_construct(pod=snap.pod, container=snap.container, previous=snap.previous,
                                       error=None, lines=lines, read_lines=len(snap.lines))


def trace_hits(correlation_id: str, logs: Sequence[LogSnapshot], owners: dict[str, str]) -> list[TraceHit]:
    """Pure: the lines that carry the id, oldest first (lines without a timestamp last, in log order)."""
    hits = [
        TraceHit(ts=line.ts, service=owners.get(snap.pod, "?"), pod=snap.pod, container=snap.container, text=line.text)
        for snap in logs for line in snap.lines if correlation_id in line.text
    ]
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(hits, key=lambda h: h.ts or far_future)


async def run_trace(
    rt: Runtime, correlation_id: str, *, namespace: str | None = None, since_seconds: int = 3600,
    context: str | None = None, on_progress: Progress | None = None,
) -> Report:
    cid = check_correlation_id(correlation_id)
    chosen, source = rt.namespace_of(None, namespace, context)
    ns = check_name(chosen, "namespace")
    k8s = rt.kubernetes(context)
    report = Report(kind="trace", service=cid, correlation_id=cid, namespace=ns, namespace_source=source,
                    context=context, started_at=datetime.now(UTC))
    targets: list[DeploymentSnapshot] = []
    read: list[LogSnapshot] = []
    owners: dict[str, str] = {}

    def search_order(deployments: list[DeploymentSnapshot]) -> list[DeploymentSnapshot]:
        path = [s for cfg in rt.settings.services.values() for s in cfg.request_path]
        rank = {name: i for i, name in reversed(list(enumerate(path)))}
        return sorted(deployments, key=lambda d: (rank.get(d.name, len(rank)), d.name))[:MAX_DEPLOYMENTS]

    fatal: list[ConfigError] = []  # no cluster at that address: the run ends with it, not a report

    async def deployments() -> str:
        try:
            found = await k8s.list_deployments(ns)
        except ConfigError as exc:
            fatal.append(exc)
            raise
        targets[:] = search_order(found)
        if not targets:
            raise NotFoundError(f'no deployments in namespace "{ns}"')
        return f"{plural(len(targets), 'deployment')} in {ns}"

    async def logs() -> str:
        pods_of: list[list[PodSnapshot]] = await asyncio.gather(*(k8s.list_pods(d) for d in targets))
        for d, pods in zip(targets, pods_of, strict=True):
            owners.update({p.name: d.name for p in pods})
        all_pods = [p for pods in pods_of for p in pods]
        read[:] = [s for s in await k8s.read_logs(all_pods, tail=TRACE_TAIL, since_seconds=since_seconds,
                                                  reduce=functools.partial(carrying, cid))
                   if s.error is None]
        report.trace = trace_hits(cid, read, owners)
        carry = "carries" if len(report.trace) == 1 else "carry"
        return (f"{plural(len(read), 'log')} of {plural(len(all_pods), 'pod')} read, "
                f"{plural(len(report.trace), 'line')} {carry} {cid}")

    async def analysis() -> str:
        by_service: dict[str, list[LogSnapshot]] = {}
        for snap in read:
            lines = [line for line in snap.lines if cid in line.text]
            if lines:
                by_service.setdefault(owners.get(snap.pod, "?"), []).append(snap.model_copy(update={"lines": lines}))
        # per service, so each finding's next commands name the service whose log holds the error
        def derive() -> list[Finding]:
            return [f for service, logs in by_service.items()
                    for f in derive_findings(rt.patterns, namespace=ns, service=service, pods=[], logs=logs, events=[])]

        findings = await asyncio.to_thread(derive)  # CPU work: off the event loop
        report.findings = sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], -f.count))
        if not report.trace:
            return f"no log line carries {cid} in the last {since_seconds // 60} min"
        errors = f"; errors: {', '.join(f.pattern for f in report.findings[:3])}" if report.findings else ""
        return f"path: {path_summary(report.trace)}{errors}"

    t = rt.settings.kubernetes.timeout
    steps = [
        Step("deployments", "Deployments in the namespace", deployments, timeout=t + 1),
        Step("logs", "Log lines with the correlation id", logs, needs=("deployments",), timeout=t * 4),
        Step("analysis", "Request path and errors", analysis, needs=("logs",), timeout=30),
    ]
    await run_steps(report, steps, playbook="trace", on_progress=on_progress)
    if fatal:
        raise fatal[0]
    # ticks "Trace request path" in the checklist of the incident thread the trace ran in
    proof = f"{cid}: {path_summary(report.trace)}, {len(report.trace)} lines" if report.trace else None
    report.checklist = rt.checklists.items("trace", {"trace": proof} if proof else {})
    observe_playbook("trace", report.duration_ms / 1000)
    return await asyncio.to_thread(redact_report, report)

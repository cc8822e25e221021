"""The debug playbook: what a senior engineer looks at first, as concurrent steps.

deployment -> pods -> logs (every container, plus the previous log of restarted ones)
                   -> warning events (Deployment, ReplicaSets, pods)
GitHub runs (in parallel from the start)
analysis (after all of them, with whatever succeeded) -> findings, then the checklist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import DNS1123
from bot.errors import NotFoundError, UsageError
from bot.metrics import PLAYBOOK_SECONDS
from bot.models import (
    ContainerKind,
    DeploymentSnapshot,
    EventSnapshot,
    LogSnapshot,
    PodSnapshot,
    Report,
    StepStatus,
    WorkflowRun,
)
from bot.redact import redact_model
from playbooks import evidence as ev
from playbooks.engine import Progress, Step, run_steps
from playbooks.findings import derive_findings

if TYPE_CHECKING:
    from bot.runtime import Runtime


def check_name(value: str, what: str) -> str:
    """Names typed by people become API paths: only DNS-1123 labels get through."""
    if not value or len(value) > 63 or not DNS1123.match(value):
        raise UsageError(f"{what} {value!r} is not a valid Kubernetes name (lowercase letters, digits and '-')")
    return value


@dataclass
class Fetched:
    """What the steps fetched; None where a step did not succeed."""

    deployment: DeploymentSnapshot | None = None
    pods: list[PodSnapshot] | None = None
    logs: list[LogSnapshot] | None = None
    events: list[EventSnapshot] | None = None
    runs: list[WorkflowRun] | None = None
    not_found: NotFoundError | None = None


async def run_debug(
    rt: Runtime,
    service: str,
    *,
    namespace: str | None = None,
    context: str | None = None,
    on_progress: Progress | None = None,
) -> Report:
    check_name(service, "service")
    ns = check_name(rt.settings.namespace_for(service, namespace), "namespace")
    catalogue = rt.settings.service(service)
    k8s = rt.kubernetes(context)
    kcfg = rt.settings.kubernetes
    report = Report(kind="debug", service=service, namespace=ns, context=context, started_at=datetime.now(UTC))
    got = Fetched()

    async def deployment() -> str:
        try:
            got.deployment = await k8s.get_deployment(ns, catalogue.deployment or service)
        except NotFoundError as exc:
            got.not_found = exc
            raise
        d = report.deployment = got.deployment
        commit = f", commit {d.commit[:7]}" if d.commit else ""
        return f"{d.name}: {d.ready_replicas}/{d.replicas} ready, revision {d.revision or '?'}{commit}"

    async def pods() -> str:
        assert got.deployment is not None
        got.pods = report.pods = await k8s.list_pods(got.deployment)
        return ev.pods_evidence(got.pods) or ""

    async def logs() -> str:
        assert got.pods is not None
        got.logs = report.logs = await k8s.read_logs(got.pods, tail=kcfg.log_tail, since_seconds=kcfg.log_since_seconds)
        read = [s for s in got.logs if s.error is None]
        sidecars = sum(
            1 for s in read for p in got.pods if p.name == s.pod
            for c in p.containers if c.name == s.container and c.kind is ContainerKind.SIDECAR
        )
        previous = sum(s.previous for s in read)
        return (f"{len(read)} logs read ({sidecars} sidecar, {previous} previous), "
                f"{sum(len(s.lines) for s in read):,} lines")

    async def events() -> str:
        assert got.deployment is not None
        names = {got.deployment.name, *got.deployment.replicasets, *(p.name for p in got.pods or [])}
        got.events = report.events = await k8s.warning_events(ns, names)
        return ev.events_evidence(got.events) or ""

    async def runs() -> str:
        if rt.github is None:
            raise NotFoundError("no GitHub access configured (GITHUB_TOKEN / github.api_url)")
        if not catalogue.repo:
            raise NotFoundError(f"no GitHub repository for {service}: set services.{service}.repo")
        got.runs = report.runs = await rt.github.list_runs(
            catalogue.repo, workflow=catalogue.workflow, branch=catalogue.branch, limit=rt.settings.github.runs)
        failed = sum(r.conclusion == "failure" for r in got.runs)
        return f"{len(got.runs)} runs of {catalogue.repo} on {catalogue.branch}, {failed} failed"

    async def analysis() -> str:
        running = ev.running_run(got.deployment, got.runs or [])
        for run in got.runs or []:
            run.deployed = run is running
        # classifying thousands of lines is CPU work: off the event loop, so Slack acks keep flowing
        report.findings = await asyncio.to_thread(
            derive_findings, rt.patterns, namespace=ns, service=service, pods=got.pods or [],
            logs=got.logs or [], events=got.events or [], runs=got.runs or [], repo=catalogue.repo,
        )
        if not report.findings:
            return "no known error pattern matched"
        top = report.findings[0]
        return f"{len(report.findings)} findings; top: {top.title} ({top.count})"

    t = kcfg.timeout
    steps = [
        Step("deployment", "Deployment", deployment, timeout=t + 1),
        Step("pods", "Pods and restarts", pods, needs=("deployment",), timeout=t + 1),
        Step("logs", "Container logs", logs, needs=("pods",), timeout=t * 3),
        Step("events", "Warning events", events, needs=("deployment",), after=("pods",), timeout=t + 1),
        Step("runs", "GitHub Actions runs", runs, timeout=rt.settings.github.timeout + 1),
        Step("analysis", "Known bug patterns", analysis, needs=("pods",), after=("logs", "events", "runs"),
             timeout=30),
    ]
    await run_steps(report, steps, playbook="debug", on_progress=on_progress)
    if got.not_found is not None:
        raise got.not_found
    if _step_ok(report, "pods"):
        report.checklist = rt.checklists.items("debug", debug_evidence(report, got))
    else:
        report.checklist = rt.checklists.items("debug", {})
    PLAYBOOK_SECONDS.labels(playbook="debug").observe(report.duration_ms / 1000)
    return redact_report(report)


def redact_report(report: Report) -> Report:
    """Scrub every field people will see. The raw log tails (`report.logs`, never serialised) are left
    as read: scrubbing 100k lines costs more than the whole playbook, and every renderer that shows a
    log line redacts it on the way out."""
    raw = report.logs
    clean = redact_model(report.model_copy(update={"logs": []}))
    clean.logs = raw
    return clean


def _step_ok(report: Report, name: str) -> bool:
    return any(s.name == name and s.status is StepStatus.OK for s in report.steps)


def debug_evidence(report: Report, got: Fetched) -> dict[str, str]:
    pods = got.pods or []
    found = {
        "pods": ev.pods_evidence(got.pods),
        "app-logs": ev.logs_evidence(got.logs, pods, report.findings, sidecars=False),
        "sidecar-logs": ev.logs_evidence(got.logs, pods, report.findings, sidecars=True),
        "events": ev.events_evidence(got.events),
        "pattern": ev.pattern_evidence(report.findings),
    }
    return {k: v for k, v in found.items() if v is not None}

"""The debug playbook: what a senior engineer looks at first, as concurrent steps.

deployment -> pods -> logs (every container, plus the previous log of restarted ones)
                   -> warning events (Deployment, ReplicaSets, pods)
                   -> Dapr sidecar metadata: loaded components, subscriptions (when enabled)
the other services on the request path, in brief (in parallel from the start, when configured)
GitHub runs (in parallel from the start)
analysis (after all of them, with whatever succeeded) -> findings, then the checklist.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.models import ContainerKind, Report
from bot.text import plural
from playbooks import evidence as ev
from playbooks.engine import Progress, Step
from playbooks.findings import derive_findings
from playbooks.investigation import Investigation
from playbooks.logreduce import REDUCE_TIMEOUT
from playbooks.onset import find_onsets, rolled_back_times

if TYPE_CHECKING:
    from playbooks.runtime import Runtime

PATH_TAIL = 100  # log lines read per container of the other services on the request path


async def run_debug(
    rt: Runtime,
    service: str,
    *,
    namespace: str | None = None,
    context: str | None = None,
    on_progress: Progress | None = None,
) -> Report:
    inv = Investigation(rt, "debug", service, namespace=namespace, context=context)
    kcfg = rt.settings.kubernetes

    async def deployment() -> str:
        d = await inv.fetch_deployment()
        commit = f", commit {d.commit[:7]}" if d.commit else ""
        return f"{d.name}: {d.ready_replicas}/{d.replicas} ready, revision {d.revision or '?'}{commit}"

    async def pods() -> str:
        return ev.pods_evidence(await inv.fetch_pods()) or ""

    async def logs() -> str:
        read = [s for s in await inv.fetch_logs(tail=kcfg.log_tail, since_seconds=kcfg.log_since_seconds)
                if s.error is None]
        kinds = {(p.name, c.name): c.kind for p in inv.pods or [] for c in p.containers}
        sidecars = sum(kinds.get((s.pod, s.container)) is ContainerKind.SIDECAR for s in read)
        previous = sum(s.previous for s in read)
        lines = sum(s.line_count for s in read)
        return (f"{plural(len(read), 'log')} read ({sidecars} sidecar, {previous} previous), "
                f"{lines:,} line{'' if lines == 1 else 's'}")

    async def events() -> str:
        return ev.events_evidence(await inv.fetch_events()) or ""

    async def runs() -> str:
        got = await inv.fetch_runs()
        failed = sum(r.conclusion == "failure" for r in got)
        return f"{plural(len(got), 'run')} of {inv.catalogue.repo} on {inv.catalogue.branch}, {failed} failed"

    async def path() -> str:
        return ev.path_evidence(await inv.fetch_path(tail=PATH_TAIL)) or ""

    async def metrics() -> str:
        return ev.metrics_evidence(await inv.fetch_metrics())

    async def dapr() -> str:
        summary = ev.dapr_evidence(await inv.fetch_dapr()) or ""
        if inv.dapr_failures:
            summary += f"; {len(inv.dapr_failures)} more did not answer: {inv.dapr_failures[0]}"
        return summary

    async def analysis() -> str:
        inv.mark_running_build()
        # classifying thousands of lines is CPU work: off the event loop, so Slack acks keep flowing
        findings = inv.report.findings = await asyncio.to_thread(
            derive_findings, rt.patterns, namespace=inv.namespace, service=service, pods=inv.pods or [],
            logs=inv.logs or [], events=inv.events or [], runs=inv.runs or [], repo=inv.catalogue.repo,
            dapr=inv.dapr or [],
        )
        rollouts = rolled_back_times(inv.deployment.rollouts if inv.deployment else [], inv.pods or [])
        inv.report.onsets = find_onsets(service, findings, rollouts, inv.runs or [], now=datetime.now(UTC))
        if not findings:
            return "no known error pattern matched"
        return f"{plural(len(findings), 'finding')}; top: {findings[0].title} ({findings[0].count})"

    def evidence() -> dict[str, str | None]:
        pods, findings = inv.pods or [], inv.report.findings
        return {
            "pods": ev.pods_evidence(inv.pods),
            "app-logs": ev.logs_evidence(inv.logs, pods, findings, sidecars=False),
            "sidecar-logs": ev.join(ev.logs_evidence(inv.logs, pods, findings, sidecars=True),
                                    ev.dapr_evidence(inv.dapr)),
            "events": ev.events_evidence(inv.events),
            "pattern": ev.pattern_evidence(findings),
            "trace": ev.path_evidence(inv.path),
        }

    t = kcfg.timeout
    steps = [
        Step("deployment", "Deployment", deployment, timeout=t + 1),
        Step("pods", "Pods and restarts", pods, needs=("deployment",), timeout=t + 1),
        # a long log is classified as it arrives (playbooks/logreduce.py): the analysis' time moved here
        Step("logs", "Container logs", logs, needs=("pods",), timeout=t * 3 + REDUCE_TIMEOUT),
        Step("events", "Warning events", events, needs=("deployment",), after=("pods",), timeout=t + 1),
        Step("runs", "GitHub Actions runs", runs, timeout=rt.settings.github.timeout + 1),
        Step("dapr", "Dapr components and subscriptions", dapr, needs=("pods",), timeout=t + 1),
        Step("path", "Services on the request path", path, timeout=t * 3),
        Step("metrics", "Metrics (Prometheus, now vs an hour ago)", metrics,
             timeout=rt.settings.prometheus.timeout * 2 + 1),
        Step("analysis", "Known bug patterns", analysis, needs=("pods",), after=("logs", "events", "runs", "dapr"),
             timeout=30),
    ]
    return await inv.run(steps, on_progress, evidence)

"""The verify playbook: the seed's "Verify Deployment" — restarts, pod age, which commit runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.models import DeploymentSnapshot, Finding, NextCommand, PodSnapshot, Report, Severity, WorkflowRun
from bot.text import plural
from playbooks import evidence as ev
from playbooks.engine import Progress, Step
from playbooks.findings import derive_findings, restart_summary
from playbooks.fixcheck import check_fix, log_since_seconds, newest_rollout, since_rollout
from playbooks.investigation import Investigation
from playbooks.logreduce import REDUCE_TIMEOUT
from playbooks.onset import span

if TYPE_CHECKING:
    from playbooks.runtime import Runtime

RECENT_SECONDS = 3600  # a pod younger than this was (re)started by the latest rollout or a crash
VERIFY_TAIL = 10  # the seed's `kubectl logs --tail=10`: enough to see the new code's first lines


def verify_findings(
    *, namespace: str, service: str, deployment: DeploymentSnapshot | None,
    pods: Sequence[PodSnapshot], runs: Sequence[WorkflowRun],
) -> list[Finding]:
    """Pure: what stands between this deployment and "verified"."""
    out: list[Finding] = []
    if deployment is not None and (deployment.updated_replicas < deployment.replicas
                                   or deployment.ready_replicas < deployment.replicas):
        d = deployment
        out.append(Finding(
            pattern="rollout-incomplete", title="Rollout not complete", severity=Severity.ERROR, count=1,
            sample=f"{d.updated_replicas}/{d.replicas} updated, {d.ready_replicas}/{d.replicas} ready",
            cause="New pods are not all up and ready yet, or they fail to become ready.",
            fix="Wait for the rollout, or look at the not-ready pods' events and logs.",
            next_commands=[NextCommand(label="Rollout status",
                                       command=f"kubectl rollout status deploy/{d.name} -n {namespace}")],
        ))
    restarting = [p for p in pods if p.restarts]
    if restarting:
        out.append(Finding(
            pattern="restarts", title="Pods restarted since the rollout", severity=Severity.ERROR,
            count=sum(p.restarts for p in restarting), pods=[p.name for p in restarting],
            containers=sorted({c.name for p in restarting for c in p.containers if c.restarts}),
            sample=restart_summary(restarting[0]),
            cause="Healthy pods have 0 restarts; these crash or are killed.",
            fix=f"Run /debug {service} for the logs and the pattern behind the restarts.",
            evidence=[restart_summary(p) for p in restarting[:5]],
        ))
    if deployment is not None and deployment.commit and runs:
        latest_ok = next((r for r in runs if r.conclusion == "success"), None)
        if latest_ok is not None and not latest_ok.head_sha.startswith(deployment.commit[:7]):
            out.append(Finding(
                pattern="stale-commit", title="Not the latest successful build", severity=Severity.WARNING,
                count=1, sample=f"running {deployment.commit[:7]}, latest success {latest_ok.head_sha[:7]} "
                                f"(run #{latest_ok.run_number})",
                cause="The deploy step did not run, failed, or rolled back.",
                fix="Check the latest run's deploy job and the image tag in the Deployment.",
                next_commands=[NextCommand(label="Latest run", command=f"gh run view {latest_ok.id}")],
            ))
    if runs and runs[0].conclusion == "failure":
        r = runs[0]
        out.append(Finding(
            pattern="ci-failed", title="Latest CI run failed", severity=Severity.WARNING, count=1,
            sample=f"run #{r.run_number} {r.name} on {r.head_sha[:7]}: {r.conclusion}",
            cause="The newest commit did not build or deploy, so it is not what runs.",
            fix="Open the failed job's log, fix, and push again.",
            next_commands=[NextCommand(label="Failed run", command=f"gh run view {r.id} --log-failed")],
        ))
    return out


async def run_verify(
    rt: Runtime, service: str, *, namespace: str | None = None, context: str | None = None,
    on_progress: Progress | None = None, baseline: Report | None = None,
) -> Report:
    """`baseline`: the incident's /debug report, when verify runs in its thread: the findings to compare
    before and since the newest rollout, and what they were when the pods that logged them are gone."""
    inv = Investigation(rt, "verify", service, namespace=namespace, context=context)
    now = datetime.now(UTC)

    async def deployment() -> str:
        d = await inv.fetch_deployment()
        return f"{d.updated_replicas}/{d.replicas} updated, {d.ready_replicas} ready, commit {(d.commit or '?')[:7]}"

    async def pods() -> str:
        got = await inv.fetch_pods()
        youngest = min((p.age_seconds for p in got), default=None)
        age = f", youngest {int(youngest // 60)} min old" if youngest is not None else ""
        recent = sum(p.age_seconds < RECENT_SECONDS for p in got)
        return f"{ev.pods_evidence(got)}{age} ({recent} started in the last hour)"

    async def logs() -> str:
        # both windows of the fix check: since the newest rollout, and as long before it
        rollout = newest_rollout(inv.deployment, inv.pods or [])
        since = log_since_seconds(rollout.created_at if rollout else None, now)
        got = await inv.fetch_logs(tail=max(VERIFY_TAIL, rt.settings.kubernetes.log_tail), since_seconds=since)
        window = f" over the last {span(timedelta(seconds=since))}" if since else ""
        return f"{sum(s.line_count for s in got):,} lines of {sum(s.error is None for s in got)} logs{window}"

    async def events() -> str:
        return ev.events_evidence(await inv.fetch_events()) or ""

    async def metrics() -> str:
        # now: the pods of the newest revision only (an old pod's last errors would hide the fix)
        rollout = newest_rollout(inv.deployment, inv.pods or [])
        current = [p.name for p in inv.pods or [] if rollout is not None and p.owner == rollout.replicaset]
        return ev.metrics_evidence(await inv.fetch_metrics(pods_now=current))

    async def runs() -> str:
        got = await inv.fetch_runs()
        return f"{plural(len(got), 'run')}; latest: {got[0].conclusion or got[0].status}" if got else "no runs"

    async def analysis() -> str:
        inv.mark_running_build()
        rollout = newest_rollout(inv.deployment, inv.pods or [])
        recent = since_rollout(inv.logs or [], inv.pods or [], rollout, now)  # what the running revision logged
        inv.report.findings = verify_findings(
            namespace=inv.namespace, service=service, deployment=inv.deployment, pods=inv.pods or [],
            runs=inv.runs or [],
        ) + derive_findings(rt.patterns, namespace=inv.namespace, service=service, pods=[], logs=recent,
                            events=[])
        if inv.logs is not None:
            inv.report.fix = check_fix(
                rt.patterns, namespace=inv.namespace, service=service, deployment=inv.deployment,
                pods=inv.pods or [], logs=inv.logs, runs=inv.runs or [], now=now,
                baseline=baseline.findings if baseline else (),
                baseline_at=baseline.started_at if baseline else None,
                error_rate=next((m for m in inv.report.metrics if m.name == "error_rate"), None),
                events=inv.events or [],
                baseline_revision=baseline.deployment.revision if baseline and baseline.deployment else None,
            )
        n = len(inv.report.findings)
        return f"{n} problem{'s' if n != 1 else ''}" if n else "verified: no problem found"

    def evidence() -> dict[str, str | None]:
        return {
            "rollout": ev.rollout_evidence(inv.deployment),
            "restarts": ev.restarts_evidence(inv.pods),
            "commit": ev.commit_evidence(inv.deployment, inv.runs),
            "error-rate": inv.report.fix.summary if inv.report.fix and inv.report.fix.confirmed else None,
        }

    t = rt.settings.kubernetes.timeout
    steps = [
        Step("deployment", "Deployment and rollout", deployment, timeout=t + 1),
        Step("pods", "Pods, restarts and age", pods, needs=("deployment",), timeout=t + 1),
        Step("logs", "Latest log lines", logs, needs=("pods",), timeout=t * 2 + REDUCE_TIMEOUT),
        Step("events", "Warning events since the rollout", events, needs=("deployment",), after=("pods",),
             timeout=t + 1),
        Step("runs", "Build of the running commit", runs, timeout=rt.settings.github.timeout + 1),
        Step("metrics", "Error rate (Prometheus)", metrics, after=("pods",),
             timeout=rt.settings.prometheus.timeout * 2 + 1),
        Step("analysis", "Verdict", analysis, needs=("deployment",),
             after=("pods", "logs", "events", "runs", "metrics")),
    ]
    return await inv.run(steps, on_progress, evidence)

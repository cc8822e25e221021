"""What every playbook run shares: checking the names, the report being filled, the fetches the
steps call (each stores its snapshot on the investigation and in the report) and the finish."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from bot.changes import MetricReading
from bot.errors import ConfigError, ForbiddenError, NotFoundError, OpsbotError, UnavailableError
from bot.inputs import check_name
from bot.models import (
    DaprSidecar,
    DeploymentSnapshot,
    EventSnapshot,
    LogSnapshot,
    PathHop,
    PodSnapshot,
    Report,
    WorkflowRun,
)
from bot.plumbing.metrics import observe_playbook
from bot.redact import redact_model
from playbooks import evidence as ev
from playbooks.engine import Progress, Step, StepSkipped, run_steps
from playbooks.findings import derive_findings
from playbooks.logreduce import KEEP_TAIL, reduce_log
from playbooks.metrics import read_metrics, service_queries

if TYPE_CHECKING:
    from playbooks.runtime import Runtime

MAX_HOPS = 6  # services looked at on a request path, besides the one debugged
MAX_HOP_FINDINGS = 3


def redact_report(report: Report) -> Report:
    """Scrub every field people will see. The raw log tails (`report.logs`, never serialised) are left
    as read: scrubbing 100k lines costs more than the whole playbook, and every renderer that shows a
    log line redacts it on the way out."""
    raw = report.logs
    clean = redact_model(report.model_copy(update={"logs": []}))
    clean.logs = raw
    return clean


class Investigation:
    """One playbook run for one service: its report and what its steps fetched (None: not fetched)."""

    def __init__(self, rt: Runtime, kind: Literal["debug", "verify"], service: str, *,
                 namespace: str | None, context: str | None) -> None:
        self.rt = rt
        self.kind = kind
        self.service = check_name(service, "service")
        chosen, source = rt.namespace_of(service, namespace, context)
        self.namespace = check_name(chosen, "namespace")
        self.catalogue = rt.settings.service(service)
        self.k8s = rt.kubernetes(context)
        self.report = Report(kind=kind, service=service, namespace=self.namespace, namespace_source=source,
                             context=context, started_at=datetime.now(UTC))
        self.deployment: DeploymentSnapshot | None = None
        self.pods: list[PodSnapshot] | None = None
        self.logs: list[LogSnapshot] | None = None
        self.events: list[EventSnapshot] | None = None
        self.runs: list[WorkflowRun] | None = None
        self.dapr: list[DaprSidecar] | None = None
        self.dapr_failures: list[str] = []  # sidecars that did not answer while others did
        self.path: list[PathHop] | None = None
        self._not_found: OpsbotError | None = None

    async def fetch_deployment(self) -> DeploymentSnapshot:
        try:
            self.deployment = await self.k8s.get_deployment(self.namespace, self.catalogue.deployment or self.service)
        except (NotFoundError, ConfigError) as exc:  # no such service, or no cluster: the run ends with this
            self._not_found = exc
            raise
        self.report.deployment = self.deployment
        return self.deployment

    async def fetch_pods(self) -> list[PodSnapshot]:
        assert self.deployment is not None, "the pods step needs the deployment step"
        self.pods = self.report.pods = await self.k8s.list_pods(self.deployment)
        return self.pods

    async def fetch_logs(self, *, tail: int, since_seconds: int | None = None) -> list[LogSnapshot]:
        """Every log of the pods. Past KEEP_TAIL lines a log, each is reduced as it arrives to what the
        report will show of it (playbooks/logreduce.py): memory holds a few logs whole at a time."""
        assert self.pods is not None, "the logs step needs the pods step"
        reduce = None
        if tail > KEEP_TAIL:
            reduce = functools.partial(reduce_log, self.rt.patterns, stamps=self.kind == "verify",
                                       dapr_calls=self.rt.settings.kubernetes.dapr_metadata)
        self.logs = self.report.logs = await self.k8s.read_logs(self.pods, tail=tail, since_seconds=since_seconds,
                                                                reduce=reduce)
        return self.logs

    async def fetch_events(self) -> list[EventSnapshot]:
        assert self.deployment is not None, "the events step needs the deployment step"
        d = self.deployment
        names = {d.name, *d.replicasets, *(p.name for p in self.pods or [])}
        self.events = self.report.events = await self.k8s.warning_events(self.namespace, names)
        return self.events

    async def fetch_runs(self) -> list[WorkflowRun]:
        if self.rt.github is None:
            raise StepSkipped("no GitHub access configured (GITHUB_TOKEN / github.api_url)")
        cat = self.catalogue
        if not cat.repo:
            raise StepSkipped(f"no GitHub repository for {self.service}: set services.{self.service}.repo")
        self.runs = self.report.runs = await self.rt.github.list_runs(
            cat.repo, workflow=cat.workflow, branch=cat.branch, limit=self.rt.settings.github.runs)
        return self.runs

    async def fetch_metrics(self, pods_now: Sequence[str] = ()) -> list[MetricReading]:
        """The service's Prometheus metrics, now (of `pods_now` when given) and an hour ago (off unless
        prometheus.url is set)."""
        prom = self.rt.prometheus
        if prom is None:
            raise StepSkipped("off: set prometheus.url (PROMETHEUS_URL) to read metrics")
        queries = service_queries(self.catalogue, namespace=self.namespace,
                                  deployment=self.catalogue.deployment or self.service, pods_now=pods_now)
        if not queries:
            raise StepSkipped(f"every metric of {self.service} is off (services.{self.service}.metrics)")
        got = self.report.metrics = await read_metrics(prom, queries, now=datetime.now(UTC))
        if all(m.error for m in got):  # Prometheus itself failed: the step fails, saying why
            raise UnavailableError(got[0].error or "no metric could be read")
        return got

    async def fetch_dapr(self) -> list[DaprSidecar]:
        """What the Dapr sidecar of one pod per ReplicaSet (replicas share their components and
        subscriptions; a ready pod where there is one) runs with: its own metadata when its API is
        reachable from outside the pod, else the subscriptions the app offers at /dapr/subscribe."""
        if not self.rt.settings.kubernetes.dapr_metadata:
            raise StepSkipped("off: set OPSBOT_DAPR_METADATA=true and allow get on pods/proxy "
                              "(chart: rbac.daprSubscriptionCheck=true)")
        assert self.pods is not None, "the dapr step needs the pods step"
        chosen: dict[str | None, PodSnapshot] = {}
        for pod in sorted(self.pods, key=lambda p: not _sidecar_ready(p)):
            if pod.dapr is not None:
                chosen.setdefault(pod.owner, pod)
        if not chosen:
            raise StepSkipped(f"no Dapr sidecar in the pods of {self.service}")
        askable = [p for p in chosen.values() if p.dapr and (p.dapr.api_reachable or p.dapr.app_port)]
        if not askable:
            raise StepSkipped("the Dapr sidecar's API answers inside the pod only (dapr.io/sidecar-listen-addresses) "
                              "and no dapr.io/app-port names the app's port: nothing to ask from outside")
        answers = await asyncio.gather(*(self._ask_dapr(p) for p in askable), return_exceptions=True)
        got = [a for a in answers if isinstance(a, DaprSidecar)]
        failed = [a for a in answers if isinstance(a, BaseException)]
        for exc in failed:
            if isinstance(exc, ForbiddenError):
                raise ForbiddenError(f"{exc}; with the Helm chart: rbac.daprSubscriptionCheck=true") from exc
        if not got:
            raise failed[0]
        self.dapr = self.report.dapr = got
        self.dapr_failures = [str(exc) for exc in failed]
        return got

    async def _ask_dapr(self, pod: PodSnapshot) -> DaprSidecar:
        ports = pod.dapr
        assert ports is not None
        if ports.api_reachable:
            try:
                return await self.k8s.dapr_metadata(self.namespace, pod.name, ports.http_port)
            except UnavailableError:
                if ports.app_port is None:
                    raise
        assert ports.app_port is not None
        answer = await self.k8s.dapr_app_subscriptions(self.namespace, pod.name, ports.app_port)
        return answer.model_copy(update={"app_id": ports.app_id})

    async def fetch_path(self, *, tail: int) -> list[PathHop]:
        """The other services on this one's request path (services.NAME.request_path), each in brief:
        its replicas, restarts and the most severe findings of its logs' last `tail` lines. Only those
        in the same namespace are looked at: access is granted per namespace."""
        others = [s for s in dict.fromkeys(self.catalogue.request_path) if s != self.service][:MAX_HOPS]
        if not others:
            raise StepSkipped(f"no request path for {self.service}: set services.{self.service}.request_path")
        self.path = self.report.path = list(await asyncio.gather(*(self._hop(s, tail) for s in others)))
        return self.path

    async def _hop(self, service: str, tail: int) -> PathHop:
        namespace = self.rt.settings.namespace_of(service, context_namespace=self.k8s.namespace)[0]
        hop = PathHop(service=service, namespace=namespace)
        if namespace != self.namespace:
            # who asked may look into this namespace (access.namespaces), not necessarily into that one
            return hop.model_copy(update={"error": f"in namespace {namespace}: not looked at from a debug of "
                                                   f"{self.namespace}; debug {service} there"})
        try:
            name = self.rt.settings.service(service).deployment or service
            deployment = await self.k8s.get_deployment(namespace, name)
            pods = await self.k8s.list_pods(deployment)
            logs = await self.k8s.read_logs(pods, tail=tail)
        except OpsbotError as exc:  # not found, forbidden, unavailable: said for this service only
            return hop.model_copy(update={"error": str(exc)})
        findings = await asyncio.to_thread(derive_findings, self.rt.patterns, namespace=namespace, service=service,
                                           pods=pods, logs=logs, events=[])
        return hop.model_copy(update={
            "replicas": deployment.replicas, "ready_replicas": deployment.ready_replicas,
            "restarts": sum(p.restarts for p in pods), "findings": findings[:MAX_HOP_FINDINGS],
            "deployment": deployment, "pods": pods, "logs": logs,
        })

    def mark_running_build(self) -> None:
        """Flag the run that built the commit that is running."""
        running = ev.running_run(self.deployment, self.runs or [])
        for run in self.runs or []:
            run.deployed = run is running

    async def run(self, steps: Sequence[Step], on_progress: Progress | None,
                  evidence: Callable[[], dict[str, str | None]]) -> Report:
        """Run the steps, fill the checklist from the evidence the bot gathered, return the redacted report."""
        await run_steps(self.report, steps, playbook=self.kind, on_progress=on_progress)
        if self._not_found is not None:
            raise self._not_found
        found = {k: v for k, v in evidence().items() if v is not None}
        self.report.checklist = self.rt.checklists.items(self.kind, found)
        observe_playbook(self.kind, self.report.duration_ms / 1000)
        # redacting every string of the report is CPU work: off the event loop, so acks keep flowing
        return await asyncio.to_thread(redact_report, self.report)


def _sidecar_ready(pod: PodSnapshot) -> bool:
    return pod.ready or any(c.name == "daprd" and c.ready for c in pod.containers)

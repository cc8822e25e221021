"""The debug, verify and trace playbooks end to end, in-process, over real HTTP to the sandbox (and
to kmock where a cluster state is needed that the sandbox's scenario does not have)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import kmock
import pytest

from bot.config import load_settings
from bot.errors import NotFoundError, UsageError
from bot.k8s import KubernetesGateway
from bot.models import ActionKind, NextAction, Report, StepStatus
from bot.runtime import open_runtime
from playbooks.checklists import ChecklistCatalogue
from playbooks.debug import run_debug
from playbooks.followups import run_followup
from playbooks.patterns import PatternTable
from playbooks.runtime import Runtime
from playbooks.verify import run_verify
from tests.fakes import kubernetes as k8s_fixtures
from tests.fakes.kubernetes import NS, PODS, Cluster


@pytest.fixture
async def rt() -> AsyncIterator[Runtime]:
    async with open_runtime(load_settings(), demo=True) as runtime:
        yield runtime


async def test_debug_finds_the_pool_exhaustion_in_every_container(rt: Runtime) -> None:
    seen: list[int] = []

    async def progress(report: Report) -> None:
        seen.append(report.steps_done)

    report = await run_debug(rt, "taskflow-api", on_progress=progress)
    # every step ran, but the metrics step: Prometheus is not configured in the demo (tests/test_prometheus.py)
    assert {s.name: s.status for s in report.steps if s.status is not StepStatus.OK} == \
        {"metrics": StepStatus.SKIPPED}
    assert len(report.steps) == 9
    assert seen == sorted(seen) and seen[-1] == 9  # progress only moves forward
    pool = report.findings[0]
    assert pool.pattern == "sqlalchemy-pool-exhausted"
    assert len(pool.pods) == 3 and pool.containers == ["api"]
    assert "Depends(get_db)" in (pool.snippet or "")
    containers = {c for f in report.findings for c in f.containers}
    assert "daprd" in containers  # the sidecar's errors are read too
    oom = next(f for f in report.findings if f.pattern == "oom-killed")
    assert oom.pods == ["taskflow-api-7d9f8c6b5-x2kq9"] and oom.containers == ["api"]
    assert any(r.deployed for r in report.runs)
    ticked = {i.key for i in report.checklist if i.done}
    assert {"pod-status", "app-logs", "sidecar-logs", "pattern"} <= ticked
    assert "reproduce" not in ticked
    assert "s3cr3t" not in report.model_dump_json()


async def test_debug_looks_at_the_other_services_on_the_request_path(rt: Runtime) -> None:
    # the catalogue: taskflow-api's requests go web-dashboard -> taskflow-api -> notification-service
    report = await run_debug(rt, "taskflow-api")
    hops = {h.service: h for h in report.path}
    assert set(hops) == {"web-dashboard", "notification-service"}
    assert hops["web-dashboard"].ready_replicas == hops["web-dashboard"].replicas == 2
    assert "model-schema-mismatch" in {f.pattern for f in hops["web-dashboard"].findings}
    assert {f.pattern for f in hops["notification-service"].findings} >= {"cloudevent-not-unwrapped"}
    assert all(len(h.findings) <= 3 for h in report.path)
    # their findings are theirs: the service's own list is about taskflow-api only
    assert "cloudevent-not-unwrapped" not in {f.pattern for f in report.findings}
    traced = next(i for i in report.checklist if i.key == "trace")
    assert traced.done and "notification-service: 2/2 ready, cloudevent-not-unwrapped" in (traced.evidence or "")


async def test_request_path_step_names_what_it_could_not_look_at(rt: Runtime) -> None:
    services = dict(rt.settings.services)
    path = ["ghost-svc", "taskflow-api", "billing"]
    services["taskflow-api"] = services["taskflow-api"].model_copy(update={"request_path": path})
    services["billing"] = services["taskflow-api"].model_copy(update={"namespace": "payments", "request_path": []})
    rt.settings = rt.settings.model_copy(update={"services": services})
    report = await run_debug(rt, "taskflow-api")
    ghost, billing = report.path
    assert ghost.service == "ghost-svc" and ghost.error and "not found" in ghost.error
    # another namespace: who may debug taskflow may not read payments (access.namespaces), so not looked at
    assert billing.namespace == "payments" and "not looked at" in (billing.error or "")
    assert next(s for s in report.steps if s.name == "path").status is StepStatus.OK
    services["taskflow-api"] = services["taskflow-api"].model_copy(update={"request_path": []})
    rt.settings = rt.settings.model_copy(update={"services": services})
    report = await run_debug(rt, "taskflow-api")
    step = next(s for s in report.steps if s.name == "path")
    assert step.status is StepStatus.SKIPPED and "services.taskflow-api.request_path" in step.summary
    assert not next(i for i in report.checklist if i.key == "trace").done


async def test_dapr_step_reads_the_sidecars_own_metadata_when_its_api_is_open(rt: Runtime) -> None:
    # taskflow-api's pods set dapr.io/sidecar-listen-addresses: 0.0.0.0
    report = await run_debug(rt, "taskflow-api")
    dapr = next(s for s in report.steps if s.name == "dapr")
    assert dapr.status is StepStatus.OK
    (sidecar,) = report.dapr  # one ReplicaSet: one sidecar asked
    assert sidecar.source == "sidecar" and sidecar.app_id == "taskflow-api"
    assert [c.name for c in sidecar.components or []] == ["taskflow-pubsub", "taskflow-store"]
    assert sidecar.subscriptions == []
    assert '"components"' in report.model_dump_json()


async def test_dapr_step_falls_back_to_the_apps_subscriptions_when_the_sidecar_is_pod_local(rt: Runtime) -> None:
    # notification-service's sidecar listens on localhost only (Dapr's default since 1.4): its app is asked
    report = await run_debug(rt, "notification-service")
    (sidecar,) = report.dapr
    assert sidecar.source == "app" and sidecar.app_id == "notification-service"
    assert sidecar.components is None  # unknown, not "none loaded"
    assert {(s.topic, tuple(s.routes)) for s in sidecar.subscriptions} == {
        ("reminders", ("/reminders",)), ("task-events", ("/events",))}
    sidecar_item = next(i for i in report.checklist if i.key == "sidecar-logs")
    assert "subscribed to taskflow-pubsub/reminders -> /reminders" in (sidecar_item.evidence or "")
    assert not any(f.pattern == "dapr-component-missing" for f in report.findings)  # unknown is not missing


async def test_dapr_step_is_skipped_unless_enabled(rt: Runtime) -> None:
    kube = rt.settings.kubernetes.model_copy(update={"dapr_metadata": False})
    rt.settings = rt.settings.model_copy(update={"kubernetes": kube})
    report = await run_debug(rt, "notification-service")
    dapr = next(s for s in report.steps if s.name == "dapr")
    assert dapr.status is StepStatus.SKIPPED and "OPSBOT_DAPR_METADATA" in dapr.summary
    assert report.dapr == [] and report.errors == []


async def test_a_service_without_a_repo_still_gets_its_report(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"services": {}})
    report = await run_debug(rt, "taskflow-api", namespace="taskflow")
    runs = next(s for s in report.steps if s.name == "runs")
    assert runs.status is StepStatus.SKIPPED  # not configured is not a failure
    assert "services.taskflow-api.repo" in runs.summary
    assert report.errors == []
    assert report.findings  # the other steps went on


async def test_unknown_service_and_bad_names_are_errors_not_reports(rt: Runtime) -> None:
    with pytest.raises(NotFoundError, match="namespaces: default, kube-system, taskflow"):
        await run_debug(rt, "no-such-svc")
    with pytest.raises(UsageError):
        await run_debug(rt, "Bad_Name")
    with pytest.raises(UsageError):
        await run_debug(rt, "taskflow-api", namespace="../etc")


async def test_verify_names_restarts_rollout_and_the_failed_build(rt: Runtime) -> None:
    report = await run_verify(rt, "taskflow-api")
    ids = [f.pattern for f in report.findings]
    assert {"rollout-incomplete", "restarts", "ci-failed"} <= set(ids)
    commit = next(i for i in report.checklist if i.key == "commit")
    assert commit.done and commit.evidence and "cd73e1b" in commit.evidence


async def test_verify_of_a_healthy_service_is_clean(rt: Runtime) -> None:
    report = await run_verify(rt, "audit-service")
    assert [f.pattern for f in report.findings if f.pattern in ("restarts", "rollout-incomplete")] == []
    assert next(i for i in report.checklist if i.key == "restarts").done


async def test_next_step_actions_read_the_right_container(rt: Runtime) -> None:
    pod = "taskflow-api-7d9f8c6b5-x2kq9"
    previous = await run_followup(rt, NextAction(kind=ActionKind.PREVIOUS_LOGS, namespace="taskflow", pod=pod,
                                               container="api"))
    assert previous.ok and "QueuePool" in previous.text
    sidecar = await run_followup(rt, NextAction(kind=ActionKind.CONTAINER_LOGS, namespace="taskflow", pod=pod,
                                              container="daprd"))
    assert sidecar.ok and "HTTP API Called" in sidecar.text
    events = await run_followup(rt, NextAction(kind=ActionKind.POD_EVENTS, namespace="taskflow", pod=pod))
    assert "BackOff" in events.text
    missing = await run_followup(rt, NextAction(kind=ActionKind.PREVIOUS_LOGS, namespace="taskflow",
                                              pod="taskflow-api-7d9f8c6b5-m4tnp", container="api"))
    assert not missing.ok and "previous terminated container" in missing.text


async def test_ci_job_action_shows_the_failed_step(rt: Runtime) -> None:
    report = await run_debug(rt, "taskflow-api")
    failed = next(r for r in report.runs if r.conclusion == "failure")
    result = await run_followup(rt, NextAction(kind=ActionKind.CI_JOB, namespace="taskflow", repo="acme/taskflow",
                                             run_id=failed.id))
    assert result.ok and "Run pytest" in result.text


async def test_trace_follows_one_request_across_services_in_time_order(rt: Runtime) -> None:
    from playbooks.trace import path_summary, run_trace

    report = await run_trace(rt, "7f3a9c2e")
    assert report.kind == "trace"
    assert path_summary(report.trace) == "web-dashboard -> taskflow-api"
    stamps = [h.ts for h in report.trace]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert report.trace[-1].service == "web-dashboard" and "502" in report.trace[-1].text
    assert {h.container for h in report.trace} >= {"web", "daprd", "api"}
    pool = next(f for f in report.findings if f.pattern == "sqlalchemy-pool-exhausted")
    assert pool.pods == ["taskflow-api-7d9f8c6b5-q8zrw"]
    assert all("7f3a9c2e" not in c.command for f in report.findings for c in f.next_commands)
    (item,) = report.checklist  # the one item a trace completes, ticked with the path as evidence
    assert item.key == "trace" and item.done and item.evidence == "7f3a9c2e: web-dashboard -> taskflow-api, 6 lines"


async def test_trace_of_an_unknown_id_is_an_empty_path_not_an_error(rt: Runtime) -> None:
    from playbooks.trace import run_trace

    report = await run_trace(rt, "0000dead", since_seconds=600)
    assert report.trace == [] and report.errors == []
    assert [(i.key, i.done) for i in report.checklist] == [("trace", False)]  # nothing found, nothing ticked


async def test_readiness_asks_the_kubernetes_api(rt: Runtime) -> None:
    import socket

    from bot.k8s import KubernetesGateway

    assert await rt.ready() == [("kubernetes", True, "API answers")]
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = Runtime(rt.settings, patterns=rt.patterns, checklists=rt.checklists, github=None,
                   kubernetes={None: KubernetesGateway.for_url(f"http://127.0.0.1:{port}", timeout=2)})
    try:
        [(name, ok, detail)] = await down.ready()
        assert name == "kubernetes" and not ok and "not answering" in detail
    finally:
        await down.close()


async def test_dapr_step_mid_rollout_asks_one_sidecar_per_replicaset_and_says_which_did_not_answer() -> None:
    # kmock: the Deployment has two ReplicaSets (a rollout under way); the new one's sidecar is not up yet
    async with Cluster() as cluster, kmock.Server(cluster):
        cluster.setup()
        k8s_fixtures.seed(cluster)
        open_api = {"dapr.io/enabled": "true", "dapr.io/sidecar-listen-addresses": "0.0.0.0"}
        for name, rs, ready in (("taskflow-api-7d9f8-abcde", "taskflow-api-7d9f8", True),  # replaces the seed's
                                ("taskflow-api-5c4b2-new01", "taskflow-api-5c4b2", False)):
            pod = k8s_fixtures._pod(name, rs, {"app": "taskflow-api"}, ready=ready, init=False,
                                    containers=["api", "daprd"],
                                    statuses=[k8s_fixtures._running("api"), k8s_fixtures._running("daprd")])
            pod["metadata"]["annotations"] = open_api
            cluster.add(PODS, pod)
        base = f"get /api/v1/namespaces/{NS}/pods"
        cluster[f"{base}/taskflow-api-7d9f8-abcde:3500/proxy/v1.0/metadata"] << {
            "id": "taskflow-api", "components": [{"name": "taskflow-pubsub", "type": "pubsub.redis"}]}
        cluster[f"{base}/taskflow-api-5c4b2-new01:3500/proxy/v1.0/metadata"] << 503 << k8s_fixtures.status_body(
            503, "ServiceUnavailable", "error trying to reach service: connection refused")
        settings = load_settings()
        kube = settings.kubernetes.model_copy(update={"namespace": NS, "dapr_metadata": True})
        rt = Runtime(settings.model_copy(update={"kubernetes": kube}), patterns=PatternTable.default(),
                     checklists=ChecklistCatalogue.default(), github=None,
                     kubernetes={None: KubernetesGateway.for_url(str(cluster.url), timeout=5.0, concurrency=16)})
        try:
            report = await run_debug(rt, "taskflow-api", namespace=NS)
        finally:
            await rt.close()
    dapr = next(s for s in report.steps if s.name == "dapr")
    assert dapr.status is StepStatus.OK
    assert [s.pod for s in report.dapr] == ["taskflow-api-7d9f8-abcde"]  # the ready pod of the old ReplicaSet
    assert "1 more did not answer" in dapr.summary and "taskflow-api-5c4b2-new01" in dapr.summary

"""Findings and checklist evidence: pure functions over snapshots, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import (
    ActionKind,
    ContainerKind,
    ContainerStatus,
    DaprComponent,
    DaprSidecar,
    EventSnapshot,
    LogLine,
    LogSnapshot,
    PodSnapshot,
    WorkflowRun,
)
from playbooks import evidence as ev
from playbooks.checklists import ChecklistCatalogue
from playbooks.findings import dapr_component_gaps, derive_findings
from playbooks.patterns import PatternTable

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
POOL = ("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, "
        "connection timed out, timeout 30.00")
DAPR_404 = "HTTP API Called: POST /v1.0/invoke/notification-service/method/api/remind 404 Not Found"


def pod(name: str, *, restarts: int = 0, last_reason: str | None = None, exit_code: int | None = None) -> PodSnapshot:
    api = ContainerStatus(name="api", restarts=restarts, state="waiting" if restarts else "running",
                          reason="CrashLoopBackOff" if restarts else None, last_reason=last_reason,
                          last_exit_code=exit_code, last_finished_at=T0 if restarts else None, ready=not restarts)
    daprd = ContainerStatus(name="daprd", kind=ContainerKind.SIDECAR, state="running", ready=True)
    return PodSnapshot(name=name, namespace="taskflow", phase="Running", ready=not restarts, restarts=restarts,
                       containers=[api, daprd])


def log(pod_name: str, container: str, lines: list[str], *, previous: bool = False, start: datetime = T0
        ) -> LogSnapshot:
    return LogSnapshot(pod=pod_name, container=container, previous=previous,
                       lines=[LogLine(start + timedelta(seconds=i), text) for i, text in enumerate(lines)])


PODS = [pod("api-1"), pod("api-2", restarts=4, last_reason="OOMKilled", exit_code=137)]
LOGS = [
    log("api-1", "api", ["INFO GET /tasks 200 45ms", POOL, "INFO request done error_count=0", POOL]),
    log("api-2", "api", [POOL], previous=True, start=T0 - timedelta(minutes=5)),
    log("api-2", "api", ["INFO starting"]),
    log("api-1", "daprd", ["level=info msg=\"dapr initialized\"", DAPR_404]),
]
EVENTS = [EventSnapshot(reason="Unhealthy", message="Readiness probe failed: HTTP probe failed with statuscode: 503",
                        object_kind="Pod", object_name="api-1", count=7, last_seen=T0)]


def findings():  # type: ignore[no-untyped-def]
    return derive_findings(PatternTable.default(), namespace="taskflow", service="taskflow-api", pods=PODS,
                           logs=LOGS, events=EVENTS, repo="acme/taskflow")


def test_pattern_hits_are_grouped_with_count_pods_containers_and_first_seen() -> None:
    by_id = {f.pattern: f for f in findings()}
    pool = next(f for f in by_id.values() if "QueuePool" in f.sample)
    assert pool.count == 3
    assert pool.pods == ["api-1", "api-2"]
    assert pool.containers == ["api"]
    assert pool.first_seen == T0 - timedelta(minutes=5)  # the previous log of the crashed container
    assert "Depends(get_db)" in (pool.snippet or "") + pool.fix
    assert any("(previous)" in e for e in pool.evidence)


def test_sidecar_errors_are_found_and_named() -> None:
    dapr = next(f for f in findings() if "404" in f.sample)
    assert dapr.containers == ["daprd"]


def test_oomkilled_names_the_container_and_its_restarts() -> None:
    oom = next(f for f in findings() if "OOMKilled" in f.sample or "OOMKilled" in f.title)
    assert oom.pods == ["api-2"]
    assert oom.containers == ["api"]
    assert any("api, 4 restarts, OOMKilled exit 137" in e for e in oom.evidence)
    previous = [c for c in oom.next_commands if c.action and c.action.kind is ActionKind.PREVIOUS_LOGS]
    assert previous and previous[0].action and previous[0].action.pod == "api-2"


def test_probe_event_is_a_finding() -> None:
    assert any("Readiness probe failed" in f.sample for f in findings())


def test_findings_are_sorted_most_severe_first() -> None:
    order = {"critical": 0, "error": 1, "warning": 2, "info": 3}
    ranks = [order[f.severity] for f in findings()]
    assert ranks == sorted(ranks)


def test_harmless_logs_give_no_findings() -> None:
    quiet = [log("api-1", "api", ["INFO request done error_count=0", "INFO GET /errors 200 12ms"])]
    assert derive_findings(PatternTable.default(), namespace="n", service="s", pods=[pod("api-1")], logs=quiet,
                           events=[]) == []


def test_checklist_evidence_ticks_only_what_the_bot_did() -> None:
    found = findings()
    evidence = {
        "pods": ev.pods_evidence(PODS),
        "app-logs": ev.logs_evidence(LOGS, PODS, found, sidecars=False),
        "sidecar-logs": ev.logs_evidence(LOGS, PODS, found, sidecars=True),
        "pattern": ev.pattern_evidence(found),
    }
    assert evidence["pods"] == "2 pods, 1 not ready, 1 restarting: api-2 (api, 4 restarts, OOMKilled exit 137)"
    assert "daprd" in (evidence["sidecar-logs"] or "")
    items = ChecklistCatalogue.default().items("debug", {k: v for k, v in evidence.items() if v})
    done = {i.key: i for i in items if i.done}
    assert set(done) == {"pod-status", "app-logs", "sidecar-logs", "pattern"}
    assert all(i.by == "opsbot" and i.evidence for i in done.values())
    assert not next(i for i in items if i.key == "reproduce").done


def test_no_evidence_when_the_step_failed() -> None:
    assert ev.pods_evidence(None) is None
    assert ev.logs_evidence(None, [], [], sidecars=False) is None


def test_running_run_is_the_one_that_built_the_commit() -> None:
    from bot.models import DeploymentSnapshot

    runs = [WorkflowRun(id=3, head_sha="f" * 40, conclusion="failure"),
            WorkflowRun(id=2, head_sha="abc1234" + "0" * 33, conclusion="success", run_number=41)]
    dep = DeploymentSnapshot(name="d", namespace="n", commit="abc1234" + "0" * 33)
    assert ev.running_run(dep, runs) is runs[1]
    assert ev.commit_evidence(dep, runs) == "commit abc1234 from run #41 (workflow)"


def test_errors_of_an_init_container_that_completed_are_not_findings() -> None:
    init = ContainerStatus(name="wait-for-db", kind=ContainerKind.INIT, state="terminated", reason="Completed")
    failed_init = ContainerStatus(name="migrate", kind=ContainerKind.INIT, state="waiting",
                                  reason="CrashLoopBackOff", restarts=3)
    p = PodSnapshot(name="api-1", namespace="n", containers=[init, failed_init])
    refused = "nc: db (10.96.44.12:5432): Connection refused"
    logs = [log("api-1", "wait-for-db", [refused]), log("api-1", "migrate", [refused])]
    found = derive_findings(PatternTable.default(), namespace="n", service="s", pods=[p], logs=logs, events=[])
    refused_findings = [f for f in found if refused in f.sample or any(refused in e for e in f.evidence)]
    assert [f.containers for f in refused_findings] == [["migrate"]]


STATE_CALL = 'level=info msg="HTTP API Called: GET /v1.0/state/taskflow-store/task-7" app_id=taskflow-api'
PUBLISH_CALL = 'level=info msg="HTTP API Called: POST /v1.0/publish/taskflow-pubsub/task-events" app_id=taskflow-api'
SIDECAR = DaprSidecar(pod="api-1", app_id="taskflow-api", components=[DaprComponent(name="taskflow-pubsub")])


def test_a_dapr_component_used_but_not_loaded_is_a_finding_with_its_evidence() -> None:
    logs = [log("api-1", "daprd", [STATE_CALL, PUBLISH_CALL, STATE_CALL]),
            log("api-1", "api", ["GET /v1.0/state/other-store/x"])]  # the app's own lines are not daprd's API log
    gaps = dapr_component_gaps(logs, [SIDECAR])
    assert [text for text, _ in gaps] == [
        "state store taskflow-store is not configured in the Dapr sidecar: 2 calls to it, "
        "components loaded: taskflow-pubsub"]
    found = derive_findings(PatternTable.default(), namespace="taskflow", service="taskflow-api", pods=PODS,
                            logs=logs, events=[], dapr=[SIDECAR])
    missing = next(f for f in found if f.pattern == "dapr-component-missing")
    assert missing.pods == ["api-1"] and missing.containers == ["daprd"]
    assert any(e.startswith("Dapr metadata of api-1: state store taskflow-store") for e in missing.evidence)


def test_no_dapr_metadata_no_component_finding() -> None:
    logs = [log("api-1", "daprd", [STATE_CALL])]
    assert dapr_component_gaps(logs, []) == []  # without the sidecar's answer nothing is known to be missing
    from_app = SIDECAR.model_copy(update={"components": None, "source": "app"})
    assert dapr_component_gaps(logs, [from_app]) == []  # the app's /dapr/subscribe does not say what is loaded
    loaded = SIDECAR.model_copy(update={"components": [DaprComponent(name="taskflow-store")]})
    assert dapr_component_gaps(logs, [loaded]) == []


def test_dapr_evidence_names_components_and_subscriptions() -> None:
    assert ev.dapr_evidence([SIDECAR]) == "daprd of taskflow-api: 1 component (taskflow-pubsub), no subscriptions"
    assert ev.dapr_evidence([]) is None

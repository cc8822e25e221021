"""The sandbox over real HTTP: the official kubernetes client, httpx for GitHub, and kubectl itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.errors import ConfigError, NotFoundError, UsageError
from bot.sandbox import Sandbox, human_duration, load_scenario, parse_selector, scaled_scenario

NS = "taskflow"
CRASHING = "taskflow-api-7d9f8c6b5-x2kq9"
HEALTHY = "taskflow-api-7d9f8c6b5-m4tnp"
API_SELECTOR = "app.kubernetes.io/name=taskflow-api"
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario("taskflow")).run_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def core(sandbox: Sandbox) -> Iterator[client.CoreV1Api]:
    with client.ApiClient(client.Configuration(host=sandbox.url)) as api:
        yield client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(sandbox: Sandbox) -> Iterator[client.AppsV1Api]:
    with client.ApiClient(client.Configuration(host=sandbox.url)) as api:
        yield client.AppsV1Api(api)


@pytest.fixture(scope="module")
def kubeconfig(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sandbox.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


def status_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


# --- Kubernetes: pods -----------------------------------------------------------------------


def test_pods_listed_by_equality_selector(core: client.CoreV1Api) -> None:
    pods = core.list_namespaced_pod(NS, label_selector=API_SELECTOR).items
    assert sorted(p.metadata.name for p in pods) == sorted([CRASHING, HEALTHY, "taskflow-api-7d9f8c6b5-q8zrw"])
    assert all(p.metadata.owner_references[0].kind == "ReplicaSet" for p in pods)
    assert {p.metadata.owner_references[0].name for p in pods} == {"taskflow-api-7d9f8c6b5"}


def test_pods_listed_by_set_selector_and_across_namespaces(core: client.CoreV1Api) -> None:
    chosen = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name in (web-dashboard, audit-service)")
    assert {p.metadata.labels["app.kubernetes.io/name"] for p in chosen.items} == {"web-dashboard", "audit-service"}
    excluded = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name notin (taskflow-api),!missing")
    assert excluded.items and all("taskflow-api" not in p.metadata.name for p in excluded.items)
    everywhere = core.list_pod_for_all_namespaces().items
    assert {p.metadata.namespace for p in everywhere} == {"taskflow", "kube-system"}
    assert core.list_namespaced_pod("default").items == []


def test_crashing_pod_has_oomkilled_last_state_and_init_container(core: client.CoreV1Api) -> None:
    pod = core.read_namespaced_pod(CRASHING, NS)
    api = next(c for c in pod.status.container_statuses if c.name == "api")
    assert api.restart_count == 4
    assert api.state.waiting.reason == "CrashLoopBackOff"
    assert api.last_state.terminated.reason == "OOMKilled"
    assert api.last_state.terminated.exit_code == 137
    assert not api.ready
    daprd = next(c for c in pod.status.container_statuses if c.name == "daprd")
    assert daprd.ready and daprd.state.running is not None
    assert daprd.image == "daprio/daprd:1.14.4"
    init = pod.status.init_container_statuses[0]
    assert (init.name, init.state.terminated.reason) == ("wait-for-db", "Completed")
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    assert ready.status == "False"


def test_missing_pod_is_a_404_status(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("nope", NS)
    assert info.value.status == 404
    assert status_body(info.value)["message"] == 'pods "nope" not found'


# --- Kubernetes: logs -----------------------------------------------------------------------


def test_log_tail_and_timestamps(core: client.CoreV1Api) -> None:
    text = core.read_namespaced_pod_log(HEALTHY, NS, container="api", tail_lines=5)
    assert len(text.splitlines()) == 5
    stamped = core.read_namespaced_pod_log(HEALTHY, NS, container="api", tail_lines=50, timestamps=True)
    lines = stamped.splitlines()
    assert len(lines) == 50 and all(RFC3339_NANO.match(line) for line in lines)
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times)
    assert datetime.fromisoformat(times[-1][:26] + "+00:00") <= datetime.now(UTC)


def test_logs_show_the_seeded_errors_and_harmless_lines(core: client.CoreV1Api) -> None:
    api = core.read_namespaced_pod_log(HEALTHY, NS, container="api")
    assert "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached" in api
    assert "Traceback (most recent call last):" in api
    assert "INFO request done error_count=0" in api
    assert "postgresql://taskflow:s3cr3t-pass@db:5432/taskflow" in api  # for redaction to catch
    daprd = core.read_namespaced_pod_log(HEALTHY, NS, container="daprd")
    assert "HTTP API Called: POST /v1.0/invoke/notification-service/method/api/remind 404 Not Found" in daprd
    notify = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=notification-service").items[0]
    app = core.read_namespaced_pod_log(notify.metadata.name, NS, container="app")
    assert "sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called" in app
    assert "'event_type': None" in app


def test_previous_log_ends_with_the_crash(core: client.CoreV1Api) -> None:
    current = core.read_namespaced_pod_log(CRASHING, NS, container="api")
    previous = core.read_namespaced_pod_log(CRASHING, NS, container="api", previous=True)
    assert len(current.splitlines()) < 15 < len(previous.splitlines())
    tail = previous.splitlines()[-15:]
    assert any("QueuePool limit" in line for line in tail)
    assert "memory usage high" in tail[-1]


def test_previous_log_of_a_container_that_never_restarted_is_a_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log(HEALTHY, NS, container="api", previous=True)
    assert info.value.status == 400
    assert status_body(info.value)["message"] == f'previous terminated container "api" in pod "{HEALTHY}" not found'


def test_log_needs_a_container_name_when_the_pod_has_several(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log(HEALTHY, NS)
    assert info.value.status == 400
    assert status_body(info.value)["message"] == (
        f"a container name must be specified for pod {HEALTHY}, choose one of: [api daprd]"
        " or one of the init containers: [wait-for-db]"
    )
    with pytest.raises(ApiException) as unknown:
        core.read_namespaced_pod_log(HEALTHY, NS, container="nginx")
    assert unknown.value.status == 400


def test_log_since_seconds_keeps_only_recent_lines(core: client.CoreV1Api) -> None:
    everything = core.read_namespaced_pod_log(HEALTHY, NS, container="api", timestamps=True).splitlines()
    recent = core.read_namespaced_pod_log(HEALTHY, NS, container="api", since_seconds=600, timestamps=True)
    cutoff = (datetime.now(UTC) - timedelta(seconds=601)).strftime("%Y-%m-%dT%H:%M:%S")
    assert 0 < len(recent.splitlines()) < len(everything)
    assert all(line[:19] >= cutoff for line in recent.splitlines())


# --- Kubernetes: deployments, namespaces, events, errors ----------------------------------


def test_deployment_carries_the_running_commit(apps: client.AppsV1Api) -> None:
    dep = apps.read_namespaced_deployment("taskflow-api", NS)
    assert dep.spec.replicas == 3
    assert dep.spec.selector.match_labels == {"app.kubernetes.io/name": "taskflow-api"}
    sha = dep.metadata.annotations["opsbot.io/commit"]
    assert len(sha) == 40
    images = {c.name: c.image for c in dep.spec.template.spec.containers}
    assert images == {"api": f"ghcr.io/acme/taskflow-api:{sha[:7]}", "daprd": "daprio/daprd:1.14.4"}
    assert dep.spec.template.spec.init_containers[0].name == "wait-for-db"
    assert dep.status.ready_replicas == 2
    rs = apps.list_namespaced_replica_set(NS, label_selector=API_SELECTOR).items
    assert [r.metadata.owner_references[0].uid for r in rs] == [dep.metadata.uid]
    assert {d.metadata.namespace for d in apps.list_deployment_for_all_namespaces().items} == {NS, "kube-system"}


def test_missing_deployment_is_a_404_status(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment("taskflow-apii", NS)
    assert info.value.status == 404
    body = status_body(info.value)
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["message"] == 'deployments.apps "taskflow-apii" not found'
    assert body["details"] == {"name": "taskflow-apii", "group": "apps", "kind": "deployments"}


def test_namespaces(core: client.CoreV1Api) -> None:
    names = [n.metadata.name for n in core.list_namespace().items]
    assert names == ["default", "kube-system", "taskflow"]
    assert core.read_namespace("taskflow").status.phase == "Active"
    with pytest.raises(ApiException) as info:
        core.read_namespace("prod")
    assert info.value.status == 404


def test_event_field_selectors(core: client.CoreV1Api) -> None:
    warnings = core.list_namespaced_event(NS, field_selector="type=Warning").items
    assert warnings and all(e.type == "Warning" for e in warnings)
    on_pod = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={CRASHING},involvedObject.kind=Pod,type=Warning"
    ).items
    assert {e.reason for e in on_pod} == {"BackOff", "OOMKilling", "Unhealthy"}
    backoff = next(e for e in on_pod if e.reason == "BackOff")
    assert backoff.count > 1 and backoff.involved_object.field_path == "spec.containers{api}"
    pod_uid = core.read_namespaced_pod(CRASHING, NS).metadata.uid
    assert backoff.involved_object.uid == pod_uid
    normal = core.list_namespaced_event(NS, field_selector="type!=Warning").items
    assert normal and all(e.type == "Normal" for e in normal)
    assert {e.reason for e in normal} >= {"Pulled", "Started", "ScalingReplicaSet"}
    assert len(core.list_event_for_all_namespaces(field_selector="type=Warning").items) == len(warnings)


def test_writes_are_refused_with_405(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.delete_namespaced_pod(HEALTHY, NS)
    assert info.value.status == 405
    assert status_body(info.value)["reason"] == "MethodNotAllowed"


def test_unknown_paths_and_bad_selectors(sandbox: Sandbox) -> None:
    unknown = httpx.get(f"{sandbox.url}/api/v1/namespaces/{NS}/services")
    assert unknown.status_code == 404 and unknown.json()["kind"] == "Status"
    assert httpx.get(f"{sandbox.url}/apis/batch/v1/jobs").status_code == 404
    bad = httpx.get(f"{sandbox.url}/api/v1/namespaces/{NS}/pods", params={"labelSelector": "a in (b"})
    assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"
    bad_tail = httpx.get(f"{sandbox.url}/api/v1/namespaces/{NS}/pods/{HEALTHY}/log?container=api&tailLines=x")
    assert bad_tail.status_code == 400


def test_discovery(sandbox: Sandbox) -> None:
    assert httpx.get(f"{sandbox.url}/version").json()["gitVersion"].startswith("v1.32")
    core = httpx.get(f"{sandbox.url}/api/v1").json()
    assert {r["name"] for r in core["resources"]} >= {"pods", "pods/log", "events", "namespaces"}
    groups = httpx.get(f"{sandbox.url}/apis").json()
    assert [g["name"] for g in groups["groups"]] == ["apps"]
    apps = httpx.get(f"{sandbox.url}/apis/apps/v1").json()
    assert {r["name"] for r in apps["resources"]} == {"deployments", "replicasets"}


def test_table_for_kubectl_get(sandbox: Sandbox) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = httpx.get(
        f"{sandbox.url}/api/v1/namespaces/{NS}/pods",
        params={"labelSelector": API_SELECTOR},
        headers={"Accept": accept},
    ).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    shown = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert shown == ["Name", "Ready", "Status", "Restarts", "Age"]
    crashing = next(r["cells"] for r in table["rows"] if r["cells"][0] == CRASHING)
    assert crashing[1:3] == ["1/2", "CrashLoopBackOff"]
    assert crashing[3].startswith("4 (") and crashing[3].endswith(" ago)")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


# --- GitHub ---------------------------------------------------------------------------------


def test_github_runs_newest_first_with_the_deployed_commit(sandbox: Sandbox, apps: client.AppsV1Api) -> None:
    running = apps.read_namespaced_deployment("taskflow-api", NS).metadata.annotations["opsbot.io/commit"]
    page = httpx.get(
        f"{sandbox.github_url}/repos/acme/taskflow/actions/workflows/deploy.yml/runs",
        params={"branch": "main", "per_page": 5},
    ).json()
    runs = page["workflow_runs"]
    assert page["total_count"] == 3
    assert [r["conclusion"] for r in runs] == ["failure", "success", "success"]
    assert runs[1]["head_sha"] == running
    assert runs[0]["created_at"] > runs[1]["created_at"] > runs[2]["created_at"]
    assert runs[0]["html_url"] == f"https://github.com/acme/taskflow/actions/runs/{runs[0]['id']}"
    by_id = httpx.get(f"{sandbox.github_url}/repos/acme/taskflow/actions/workflows/71234001/runs").json()
    assert by_id["total_count"] == 3


def test_github_run_filters_and_single_run(sandbox: Sandbox) -> None:
    base = f"{sandbox.github_url}/repos/acme/taskflow/actions"
    everything = httpx.get(f"{base}/runs").json()
    assert everything["total_count"] == 5
    assert len(httpx.get(f"{base}/runs", params={"per_page": 2}).json()["workflow_runs"]) == 2
    failed = httpx.get(f"{base}/runs", params={"status": "failure"}).json()["workflow_runs"]
    assert len(failed) == 1
    run = httpx.get(f"{base}/runs/{failed[0]['id']}").json()
    assert run["conclusion"] == "failure" and run["path"] == ".github/workflows/deploy.yml"
    assert httpx.get(f"{base}/runs", params={"branch": "feature/x"}).json()["total_count"] == 0


def test_github_failed_job_steps_and_log(sandbox: Sandbox) -> None:
    base = f"{sandbox.github_url}/repos/acme/taskflow/actions"
    failed = httpx.get(f"{base}/runs", params={"status": "failure"}).json()["workflow_runs"][0]
    jobs = httpx.get(f"{base}/runs/{failed['id']}/jobs").json()["jobs"]
    test_job = next(j for j in jobs if j["conclusion"] == "failure")
    failed_steps = [s["name"] for s in test_job["steps"] if s["conclusion"] == "failure"]
    assert failed_steps == ["Run pytest"]
    assert [s["number"] for s in test_job["steps"]] == list(range(1, len(test_job["steps"]) + 1))
    redirect = httpx.get(f"{base}/jobs/{test_job['id']}/logs")
    assert redirect.status_code == 302
    log = httpx.get(f"{base}/jobs/{test_job['id']}/logs", follow_redirects=True)
    assert log.headers["content-type"].startswith("text/plain")
    assert "FAILED tests/test_tasks.py::test_tasks_endpoint_under_load" in log.text
    assert log.text.splitlines()[-1].endswith("##[error]Process completed with exit code 1.")


@pytest.mark.parametrize(
    "path",
    [
        "/repos/acme/nope/actions/runs",
        "/repos/acme/taskflow/actions/runs/1",
        "/repos/acme/taskflow/actions/runs/1/jobs",
        "/repos/acme/taskflow/actions/jobs/1/logs",
        "/repos/acme/taskflow/actions/workflows/nope.yml/runs",
        "/repos/acme/taskflow/nothing-here",
    ],
)
def test_github_not_found(sandbox: Sandbox, path: str) -> None:
    response = httpx.get(f"{sandbox.github_url}{path}")
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"
    assert response.json()["documentation_url"].startswith("https://docs.github.com/")


async def test_async_context_manager_serves_both_apis() -> None:
    async with Sandbox(load_scenario()) as sb, httpx.AsyncClient() as http:
        pods = (await http.get(f"{sb.url}/api/v1/namespaces/{NS}/pods")).json()
        assert pods["kind"] == "PodList" and len(pods["items"]) == 9
        runs = (await http.get(f"{sb.github_url}/repos/acme/audit-service/actions/runs")).json()
        assert runs["workflow_runs"][0]["conclusion"] == "success"


# --- kubectl --------------------------------------------------------------------------------

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kubectl(sandbox: Sandbox, tmp_path: Path, *args: str, kubeconfig: Path | None = None) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig or tmp_path / "none"), "HOME": str(tmp_path)}
    target = [] if kubeconfig else ["--server", sandbox.url]
    done = subprocess.run(
        ["kubectl", *target, "--cache-dir", str(tmp_path / "cache"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_kubectl
def test_kubectl_get_pods(sandbox: Sandbox, tmp_path: Path) -> None:
    out = kubectl(sandbox, tmp_path, "get", "pods", "-n", NS).splitlines()
    assert out[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    row = next(line.split() for line in out if line.startswith(CRASHING))
    assert row[1:4] == ["1/2", "CrashLoopBackOff", "4"]
    assert len(out) == 10


@needs_kubectl
def test_kubectl_logs_of_the_sidecar(sandbox: Sandbox, tmp_path: Path) -> None:
    out = kubectl(sandbox, tmp_path, "logs", HEALTHY, "-c", "daprd", "-n", NS, "--tail=200")
    assert len(out.splitlines()) == 146  # 6 start-up lines and 140 more: fewer than the tail asked for
    assert "HTTP API Called" in out and "level=warning" in out


@needs_kubectl
def test_kubectl_get_events_and_deployments_with_kubeconfig(sandbox: Sandbox, tmp_path: Path, kubeconfig: Path) -> None:
    events = kubectl(sandbox, tmp_path, "get", "events", "-n", NS)
    assert events.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert re.search(rf"Warning\s+BackOff\s+pod/{CRASHING}\s+Back-off restarting failed container api", events)
    deployments = kubectl(sandbox, tmp_path, "get", "deploy", kubeconfig=kubeconfig)  # context namespace
    assert re.search(r"taskflow-api\s+2/3\s+3\s+2\s+45d", deployments)
    previous = kubectl(sandbox, tmp_path, "logs", CRASHING, "-c", "api", "--previous", kubeconfig=kubeconfig)
    assert "QueuePool limit of size 5 overflow 10 reached" in previous


# --- scenarios ------------------------------------------------------------------------------


def test_relative_times_resolve_against_now() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    scenario = load_scenario("taskflow", now=now)
    api = next(d for d in scenario.deployments if d.name == "taskflow-api")
    assert api.pods[0].created == now - timedelta(hours=2)
    assert api.created == now - timedelta(days=45)
    assert scenario.loaded_at == now


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="known scenarios: taskflow"):
        load_scenario("nope")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\ndeployments: [{name: a}]\n", "deployments.0.namespace"),
        ("name: x\nevents: [{reason: R, message: m, object: Pod/a, first: -2x}]\n", "events.0.first"),
        ("- not a mapping\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_scenario_file_is_a_one_line_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(str(path))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_scaled_scenario_shapes() -> None:
    scenario = scaled_scenario(4, 3, 300)
    (dep,) = scenario.deployments
    assert (dep.name, dep.namespace, len(dep.pods)) == ("taskflow-api", "taskflow", 4)
    assert [c.name for c in dep.containers] == ["api", "daprd", "worker-1"]
    assert {c.log.lines for c in dep.containers} == {300}
    assert scenario.repos[0].runs[0].head_sha == dep.annotations["opsbot.io/commit"]
    with pytest.raises(UsageError):
        scaled_scenario(0, 1, 1)


async def test_scaled_sandbox_serves_the_requested_volume() -> None:
    async with Sandbox(scaled_scenario(2, 2, 2000)) as sb, httpx.AsyncClient(base_url=sb.url) as http:
        pods = (await http.get(f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": API_SELECTOR})).json()
        assert len(pods["items"]) == 2
        name = pods["items"][1]["metadata"]["name"]
        text = (await http.get(f"/api/v1/namespaces/{NS}/pods/{name}/log", params={"container": "api"})).text
        assert len(text.splitlines()) >= 2000
        assert "QueuePool limit" in text and "error_count=0" in text
        tail = await http.get(f"/api/v1/namespaces/{NS}/pods/{name}/log", params={"container": "api", "tailLines": 200})
        assert len(tail.text.splitlines()) == 200


# --- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (7200, "120m"),
        (3 * 3600 + 60, "3h1m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (45 * 86400, "45d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, shown: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == shown


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app=a", {"app": "a"}, True),
        ("app=a,tier=web", {"app": "a"}, False),
        ("app==a,tier!=db", {"app": "a", "tier": "web"}, True),
        ("app in (a, b)", {"app": "b"}, True),
        ("app notin (a,b)", {"app": "b"}, False),
        ("app", {"app": "x"}, True),
        ("!app", {"app": "x"}, False),
        ("", {}, True),
    ],
)
def test_label_selector_parser(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert all(m(labels.get) for m in parse_selector(selector)) is matches


def test_serve_forever_prints_urls_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    code = "from bot.sandbox import serve_forever; serve_forever(port=0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    out = "".join(lines)
    assert "Kubernetes API  http://127.0.0.1:" in out and "/github" in out and "kubectl --server" in out
    config = Path(re.search(r"kubeconfig\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    assert "current-context: sandbox" in config.read_text()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    assert not config.exists()  # the sandbox removes the kubeconfig it wrote when it stops


def test_watch_is_an_open_stream_without_events(sandbox: Sandbox) -> None:
    response = httpx.get(f"{sandbox.url}/api/v1/namespaces/{NS}/pods", params={"watch": "true", "timeoutSeconds": 1})
    assert response.status_code == 200 and response.text == ""


def test_serve_forever_on_a_busy_port_is_one_line(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.sandbox import serve_forever

    with pytest.raises(SystemExit) as info:
        serve_forever("taskflow", port=sandbox.port)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"opsbot: cannot listen on 127.0.0.1:{sandbox.port}") and err.count("\n") == 1


@needs_kubectl
def test_kubectl_reads_a_dapr_sidecars_metadata_through_the_pod_proxy(sandbox: Sandbox, tmp_path: Path) -> None:
    raw = kubectl(sandbox, tmp_path, "get", "--raw", f"/api/v1/namespaces/{NS}/pods/{HEALTHY}:3500/proxy/v1.0/metadata")
    metadata = json.loads(raw)
    assert metadata["id"] == "taskflow-api"
    assert {c["name"] for c in metadata["components"]} == {"taskflow-pubsub", "taskflow-store"}
    assert metadata["subscriptions"] == []
    # another port: nothing listens there, as the API server's proxy would say
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    refused = subprocess.run(["kubectl", "--server", sandbox.url, "get", "--raw",
                              f"/api/v1/namespaces/{NS}/pods/{HEALTHY}:9999/proxy/v1.0/metadata"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0 and "connection refused" in refused.stderr
    # notification-service's sidecar listens on localhost only: its app answers /dapr/subscribe instead
    listed = json.loads(kubectl(sandbox, tmp_path, "get", "pods", "-n", NS, "-o", "json"))
    notify = next(p["metadata"]["name"] for p in listed["items"]
                  if p["metadata"]["name"].startswith("notification-service"))
    subscribe = json.loads(kubectl(sandbox, tmp_path, "get", "--raw",
                                   f"/api/v1/namespaces/{NS}/pods/{notify}:8001/proxy/dapr/subscribe"))
    assert {(s["topic"], s["route"]) for s in subscribe} == {("reminders", "/reminders"), ("task-events", "/events")}


def test_a_sandbox_with_latency_answers_each_request_no_sooner() -> None:
    # benchmarks put a network's round trip between a client and the sandbox; a sleep never ends early,
    # so this lower bound is exact (no upper bound is asserted)
    import time

    with Sandbox(load_scenario("taskflow"), latency=0.05).run_in_thread() as slow, httpx.Client() as http:
        started = time.monotonic()
        answer = http.get(f"{slow.url}/version")
        assert answer.status_code == 200 and time.monotonic() - started >= 0.05

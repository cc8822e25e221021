"""KubernetesGateway over real HTTP (kmock), and its pure conversion functions."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import kmock
import kubernetes.client
import pytest
import yaml

from bot.config import KubernetesSettings
from bot.errors import ConfigError, ForbiddenError, NotFoundError, UnavailableError, UpstreamTimeoutError, UsageError
from bot.k8s import (
    Call,
    KubernetesGateway,
    dapr_ports,
    deployment_snapshot,
    event_snapshot,
    label_selector,
    parse_log,
    pod_snapshot,
    translate_error,
)
from bot.models import ContainerKind
from tests.fakes.kubernetes import NS, PODS, Cluster, status_body

# the shared fixtures (tests/conftest.py belongs to everyone; these are only the gateway's)
PODS_URL = f"/api/v1/namespaces/{NS}/pods"


# --------------------------------------------------------------------------- over HTTP


async def test_get_deployment_fills_selector_commit_and_owned_replicasets(gateway: KubernetesGateway) -> None:
    dep = await gateway.get_deployment(NS, "taskflow-api")
    assert dep.selector == {"app": "taskflow-api"}
    assert dep.selector_expr == "app=taskflow-api"
    assert dep.images == {"api": "ghcr.io/acme/taskflow-api:3f2c1ab"}
    assert dep.revision == "7"
    assert dep.commit == "3f2c1ab"
    assert (dep.replicas, dep.ready_replicas) == (2, 1)
    # the canary's ReplicaSet matches no selector of ours; both of ours are found by owner
    assert sorted(dep.replicasets) == ["taskflow-api-5c4b2", "taskflow-api-7d9f8"]


async def test_list_pods_uses_label_selector_and_owner(gateway: KubernetesGateway, cluster: Cluster) -> None:
    dep = await gateway.get_deployment(NS, "taskflow-api")
    pods = await gateway.list_pods(dep)
    assert [p.name for p in pods] == ["taskflow-api-7d9f8-abcde", "taskflow-api-7d9f8-fghij"]
    # selected by labels at the server, not by the name prefix "taskflow-api-"
    pod_lists = list(cluster[kmock.action.LIST, PODS])
    assert pod_lists[-1].params["labelSelector"] == "app=taskflow-api"


async def test_list_pods_without_known_replicasets_keeps_every_selected_pod(gateway: KubernetesGateway) -> None:
    dep = (await gateway.get_deployment(NS, "taskflow-api")).model_copy(update={"replicasets": []})
    names = [p.name for p in await gateway.list_pods(dep)]
    assert "taskflow-api-canary-6b7-zz" in names  # overlapping selector: only owner filtering removes it
    assert "taskflow-api-worker-x1" not in names  # same prefix, other labels: never selected


async def test_pod_snapshot_over_http_has_oom_sidecar_and_init(gateway: KubernetesGateway) -> None:
    dep = await gateway.get_deployment(NS, "taskflow-api")
    pod = (await gateway.list_pods(dep))[0]
    assert pod.ready and pod.restarts == 3 and pod.owner == "taskflow-api-7d9f8" and pod.node == "node-1"
    api, daprd, migrate = pod.container("api"), pod.container("daprd"), pod.container("migrate")
    assert api and daprd and migrate
    assert (api.kind, api.last_reason, api.last_exit_code) == (ContainerKind.APP, "OOMKilled", 137)
    assert daprd.kind == ContainerKind.SIDECAR
    assert (migrate.kind, migrate.state, migrate.reason) == (ContainerKind.INIT, "terminated", "Completed")


async def test_read_log_parses_timestamps_and_keeps_json_lines_as_text(gateway: KubernetesGateway) -> None:
    snap = await gateway.read_log(NS, "taskflow-api-7d9f8-abcde", "api", tail=2)
    assert snap.error is None
    assert [line.text for line in snap.lines] == [
        "ERROR QueuePool limit of size 5 overflow 10 reached, connection timed out",
        '{"level": "error", "msg": "json line stays text"}',
    ]
    assert snap.lines[0].ts is not None and snap.lines[0].ts.microsecond == 223456


async def test_read_log_of_missing_previous_container_is_an_answer(gateway: KubernetesGateway) -> None:
    snap = await gateway.read_log(NS, "taskflow-api-7d9f8-abcde", "daprd", tail=10, previous=True)
    assert snap.previous and not snap.lines
    assert snap.error and "previous terminated container" in snap.error


async def test_read_logs_reads_every_container_and_previous_of_restarted(gateway: KubernetesGateway) -> None:
    dep = await gateway.get_deployment(NS, "taskflow-api")
    logs = await gateway.read_logs(await gateway.list_pods(dep), tail=50)
    got = {(s.pod[-5:], s.container, s.previous): s for s in logs}
    assert set(got) == {
        ("abcde", "migrate", False),
        ("abcde", "api", False),
        ("abcde", "api", True),
        ("abcde", "daprd", False),
        ("fghij", "migrate", False),
        ("fghij", "api", False),
        ("fghij", "api", True),
        ("fghij", "daprd", False),
    }
    previous = got["abcde", "api", True]
    assert previous.lines, previous.error
    assert previous.lines[0].text == "Killed: out of memory"
    assert got["fghij", "migrate", False].error and "ContainerCreating" in got["fghij", "migrate", False].error


async def test_warning_events_filters_by_object_and_sorts_newest_first(gateway: KubernetesGateway) -> None:
    events = await gateway.warning_events(NS, ["taskflow-api", "taskflow-api-7d9f8-abcde", "taskflow-api-7d9f8-fghij"])
    assert [(e.reason, e.object_name[-5:]) for e in events] == [("BackOff", "fghij"), ("Unhealthy", "abcde")]
    unhealthy = events[1]
    assert unhealthy.count == 4 and unhealthy.first_seen and unhealthy.last_seen
    assert unhealthy.last_seen > unhealthy.first_seen  # series.lastObservedTime, not eventTime


async def test_pod_events_returns_all_types(gateway: KubernetesGateway) -> None:
    events = await gateway.pod_events(NS, "taskflow-api-7d9f8-abcde")
    assert {e.type for e in events} == {"Warning", "Normal"}


async def test_ping(gateway: KubernetesGateway) -> None:
    await gateway.ping()


async def test_missing_deployment_names_similar_ones_and_namespaces(gateway: KubernetesGateway) -> None:
    with pytest.raises(NotFoundError) as err:
        await gateway.get_deployment(NS, "taskflow-apj")
    message = str(err.value)
    assert "\n" not in message
    assert 'deployment "taskflow-apj" not found in namespace "taskflow"' in message
    assert "taskflow/taskflow-api" in message
    assert "namespaces: default, monitoring, taskflow" in message


async def test_missing_deployment_says_when_listing_is_forbidden(gateway: KubernetesGateway, cluster: Cluster) -> None:
    cluster.namespaces_status = 403
    cluster["get /apis/apps/v1/deployments"] << 403 << status_body(403, "Forbidden", "no")
    with pytest.raises(NotFoundError) as err:
        await gateway.get_deployment("nowhere", "taskflow-api")
    message = str(err.value)
    assert "may not list namespaces" in message
    assert "taskflow/taskflow-api" not in message


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, ForbiddenError, ["credentials rejected"]),
        (403, ForbiddenError, ['grant the verb "list" on "pods"', 'namespace "taskflow"', "helm/opsbot"]),
        (404, NotFoundError, ["not found", "pods"]),
        (500, UnavailableError, ["not answering", "HTTP 500"]),
        (503, UnavailableError, ["not answering", "HTTP 503"]),
    ],
)
async def test_failure_statuses_become_actionable_errors(
    gateway: KubernetesGateway, cluster: Cluster, status: int, error: type[Exception], words: list[str]
) -> None:
    dep = await gateway.get_deployment(NS, "taskflow-api")
    cluster[f"get {PODS_URL}"] << status << status_body(status, "Failure", "nope")
    with pytest.raises(error) as err:
        await gateway.list_pods(dep)
    for word in words:
        assert word in str(err.value)


async def test_forbidden_log_names_the_subresource(gateway: KubernetesGateway, cluster: Cluster) -> None:
    # .override: ahead of the fake's own log reaction
    cluster[f"get {PODS_URL}/taskflow-api-7d9f8-abcde/log"].override << 403 << status_body(403, "Forbidden", "no")
    with pytest.raises(ForbiddenError, match=r'grant the verb "get" on "pods/log"'):
        await gateway.read_log(NS, "taskflow-api-7d9f8-abcde", "api", tail=10)


DAPR_METADATA = {
    "id": "taskflow-api", "runtimeVersion": "1.14.4",
    "components": [{"name": "taskflow-pubsub", "type": "pubsub.redis", "version": "v1", "capabilities": []}],
    "subscriptions": [{"pubsubname": "taskflow-pubsub", "topic": "task-events", "deadLetterTopic": "dead",
                       "rules": [{"match": "", "path": "/events"}], "type": "DECLARATIVE"}],
}


async def test_dapr_metadata_through_the_pod_proxy(gateway: KubernetesGateway, cluster: Cluster) -> None:
    cluster[f"get {PODS_URL}/taskflow-api-7d9f8-abcde:3500/proxy/v1.0/metadata"] << DAPR_METADATA
    sidecar = await gateway.dapr_metadata(NS, "taskflow-api-7d9f8-abcde")
    assert sidecar.app_id == "taskflow-api" and sidecar.runtime_version == "1.14.4"
    assert [(c.name, c.type) for c in sidecar.components] == [("taskflow-pubsub", "pubsub.redis")]
    sub = sidecar.subscriptions[0]
    assert (sub.pubsub, sub.topic, sub.routes, sub.dead_letter_topic, sub.kind) == (
        "taskflow-pubsub", "task-events", ["/events"], "dead", "DECLARATIVE")


async def test_dapr_metadata_refused_names_pods_proxy(gateway: KubernetesGateway, cluster: Cluster) -> None:
    url = f"get {PODS_URL}/taskflow-api-7d9f8-abcde:3500/proxy/v1.0/metadata"
    cluster[url] << 403 << status_body(403, "Forbidden", "no")
    with pytest.raises(ForbiddenError, match=r'grant the verb "get" on "pods/proxy"'):
        await gateway.dapr_metadata(NS, "taskflow-api-7d9f8-abcde")


async def test_dapr_sidecar_not_answering_is_not_the_api_being_down(
    gateway: KubernetesGateway, cluster: Cluster
) -> None:
    url = f"get {PODS_URL}/taskflow-api-7d9f8-abcde:3501/proxy/v1.0/metadata"
    cluster[url] << 503 << status_body(503, "ServiceUnavailable", "error trying to reach service: connection refused")
    with pytest.raises(UnavailableError, match=r"Dapr sidecar of taskflow-api-7d9f8-abcde did not answer on port 3501"):
        await gateway.dapr_metadata(NS, "taskflow-api-7d9f8-abcde", 3501)


async def test_app_subscriptions_through_the_pod_proxy(gateway: KubernetesGateway, cluster: Cluster) -> None:
    # both shapes an app may answer: a single route, or routing rules with a default
    cluster[f"get {PODS_URL}/taskflow-api-7d9f8-abcde:8000/proxy/dapr/subscribe"] << [
        {"pubsubname": "pubsub", "topic": "orders", "route": "/orders"},
        {"pubsubname": "pubsub", "topic": "tasks", "deadLetterTopic": "tasks-dead",
         "routes": {"rules": [{"match": 'event.type == "urgent"', "path": "/urgent"}], "default": "/tasks"}},
    ]
    answer = await gateway.dapr_app_subscriptions(NS, "taskflow-api-7d9f8-abcde", 8000)
    assert answer.source == "app" and answer.components is None
    assert [(s.topic, s.routes, s.dead_letter_topic) for s in answer.subscriptions] == [
        ("orders", ["/orders"], None), ("tasks", ["/urgent", "/tasks"], "tasks-dead")]


async def test_an_app_without_dapr_subscribe_has_no_subscriptions(gateway: KubernetesGateway, cluster: Cluster) -> None:
    url = f"get {PODS_URL}/taskflow-api-7d9f8-abcde:8000/proxy/dapr/subscribe"
    cluster[url] << 404 << status_body(404, "NotFound", "404 page not found")
    answer = await gateway.dapr_app_subscriptions(NS, "taskflow-api-7d9f8-abcde", 8000)
    assert answer.subscriptions == []


@pytest.mark.parametrize(
    ("annotations", "reachable", "port", "app_port"),
    [
        ({"dapr.io/enabled": "true", "dapr.io/app-port": "8000"}, False, 3500, 8000),  # Dapr's default: pod-local
        ({"dapr.io/enabled": "true", "dapr.io/sidecar-listen-addresses": "0.0.0.0"}, True, 3500, None),
        ({"dapr.io/enabled": "true", "dapr.io/sidecar-listen-addresses": "[::1],127.0.0.1"}, False, 3500, None),
        ({"dapr.io/enabled": "true", "dapr.io/sidecar-listen-addresses": "::", "dapr.io/http-port": "3600"},
         True, 3600, None),
        ({"dapr.io/enabled": "true", "dapr.io/app-port": "not-a-port"}, False, 3500, None),
    ],
)
def test_dapr_ports_from_the_injectors_annotations(
    annotations: dict[str, str], reachable: bool, port: int, app_port: int | None
) -> None:
    ports = dapr_ports(annotations, [])
    assert ports is not None
    assert (ports.api_reachable, ports.http_port, ports.app_port) == (reachable, port, app_port)
    assert dapr_ports({}, []) is None  # no Dapr at all


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, ForbiddenError), (404, NotFoundError), (500, UnavailableError), (503, UnavailableError),
     (422, UsageError)],
)
async def test_translated_errors_keep_the_status_and_the_apis_message(
    gateway: KubernetesGateway, cluster: Cluster, status: int, error: type[Exception]
) -> None:
    cluster[f"get {PODS_URL}"] << status << status_body(status, "Failure", f"the API said {status}")
    with pytest.raises(error) as raised:
        await gateway.list_pods(
            deployment_snapshot(
                {"metadata": {"name": "x", "namespace": NS}, "spec": {"selector": {"matchLabels": {"app": "x"}}}}
            )
        )
    assert getattr(raised.value, "status", None) == status
    assert getattr(raised.value, "details", None) == f"the API said {status}"


async def test_hung_call_times_out(cluster: Cluster) -> None:
    cluster[f"get {PODS_URL}"] << (lambda: asyncio.sleep(2))
    gw = KubernetesGateway.for_url(str(cluster.url), timeout=0.2)
    try:
        with pytest.raises(UpstreamTimeoutError, match=r"took longer than 0\.2s"):
            await gw.list_pods(
                deployment_snapshot(
                    {"metadata": {"name": "x", "namespace": NS}, "spec": {"selector": {"matchLabels": {"app": "x"}}}}
                )
            )
    finally:
        await gw.close()


async def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = KubernetesGateway.for_url(f"http://127.0.0.1:{port}", timeout=2.0)
    try:
        with pytest.raises(UnavailableError, match=r"is not answering \(connection refused\)"):
            await gw.ping()
    finally:
        await gw.close()


async def test_small_client_pool_is_enlarged_to_concurrency(cluster: Cluster) -> None:
    configuration = kubernetes.client.Configuration(host=str(cluster.url))
    configuration.connection_pool_maxsize = 1
    gw = KubernetesGateway(kubernetes.client.ApiClient(configuration), concurrency=12)
    try:
        # the calls in flight, and the readiness probe's, which never waits for a slot
        assert gw.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] == 12 + 1
        await gw.ping()
    finally:
        await gw.close()


# --------------------------------------------------------------------------- from_settings


def _kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": url}}],
                "users": [{"name": "me", "user": {"token": "t0ken"}}],
                "contexts": [
                    {"name": "staging", "context": {"cluster": "fake", "user": "me"}},
                    {"name": "prod", "context": {"cluster": "fake", "user": "me"}},
                ],
                "current-context": "staging",
            }
        )
    )
    return path


async def test_from_settings_uses_the_kubeconfig_context(tmp_path: Path, cluster: Cluster) -> None:
    path = _kubeconfig(tmp_path, str(cluster.url).rstrip("/"))
    gw = KubernetesGateway.from_settings(KubernetesSettings(kubeconfig=str(path), concurrency=4), context="prod")
    try:
        dep = await gw.get_deployment(NS, "taskflow-api")
        assert dep.name == "taskflow-api"
        assert cluster[kmock.action.FETCH][-1].headers["Authorization"] == "Bearer t0ken"
    finally:
        await gw.close()


def test_from_settings_rejects_an_unknown_context_listing_the_known_ones(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ConfigError) as err:
        KubernetesGateway.from_settings(KubernetesSettings(kubeconfig=str(path), context="qa"))
    assert err.value.setting == "OPSBOT_CONTEXT"
    assert "staging, prod" in str(err.value)


def test_from_settings_without_kubeconfig_or_cluster_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="not running in a cluster"):
        KubernetesGateway.from_settings(KubernetesSettings())


# --------------------------------------------------------------------------- pure functions

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POD_JSON = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "creationTimestamp": "2026-01-01T11:00:00Z",
        "labels": {"app": "web"},
        "ownerReferences": [
            {"kind": "ReplicaSet", "name": "web-abc", "controller": True, "apiVersion": "apps/v1", "uid": "u"}
        ],
    },
    "spec": {
        "initContainers": [
            {"name": "linkerd-init", "image": "init:1"},
            {"name": "vault-agent", "image": "vault:1", "restartPolicy": "Always"},
        ],
        "containers": [{"name": "web", "image": "web:1"}, {"name": "istio-proxy", "image": "istio:1"}],
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "initContainerStatuses": [
            {
                "name": "linkerd-init",
                "image": "init:1",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
            },
            {
                "name": "vault-agent",
                "image": "vault:1",
                "imageID": "",
                "ready": True,
                "restartCount": 1,
                "state": {"running": {"startedAt": "2026-01-01T11:01:00Z"}},
            },
        ],
        "containerStatuses": [
            {
                "name": "web",
                "image": "web:1",
                "imageID": "",
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {
                    "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-01-01T11:58:00Z"}
                },
            },
            {
                "name": "istio-proxy",
                "image": "istio:1",
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-01-01T11:01:00Z"}},
            },
        ],
    },
}


@pytest.mark.parametrize("as_object", [False, True], ids=["dict", "V1Pod"])
def test_pod_snapshot(as_object: bool) -> None:
    pod = kubernetes.client.V1Pod.from_dict(POD_JSON) if as_object else POD_JSON
    snap = pod_snapshot(pod, now=NOW, sidecars={"istio-proxy"})
    assert (snap.phase, snap.ready, snap.restarts, snap.age_seconds, snap.owner) == (
        "Running",
        False,
        5,
        3600.0,
        "web-abc",
    )
    kinds = {c.name: c.kind for c in snap.containers}
    assert kinds == {
        "linkerd-init": ContainerKind.INIT,
        "vault-agent": ContainerKind.SIDECAR,
        "web": ContainerKind.APP,
        "istio-proxy": ContainerKind.SIDECAR,
    }
    web = snap.container("web")
    assert web is not None
    assert (web.state, web.reason, web.message) == ("waiting", "CrashLoopBackOff", "back-off")
    assert (web.last_reason, web.last_exit_code) == ("OOMKilled", 137)
    assert web.last_finished_at == datetime(2026, 1, 1, 11, 58, tzinfo=UTC)


def test_pod_snapshot_of_a_pending_pod_without_statuses() -> None:
    snap = pod_snapshot(
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending"},
        },
        now=NOW,
    )
    assert snap.phase == "Pending" and snap.containers[0].state == "unknown" and snap.containers[0].image == "i"


@pytest.mark.parametrize(
    ("annotations", "labels", "image", "commit"),
    [
        (
            {"opsbot.io/commit": "abc1234def"},
            {"app.kubernetes.io/version": "0123456789ab"},
            "r/i:feedbee",
            "abc1234def",
        ),
        ({}, {"app.kubernetes.io/version": "0123456789ab"}, "r/i:feedbee", "0123456789ab"),
        ({}, {"app.kubernetes.io/version": "1.2.3"}, "reg:5000/team/img:feedbee1@sha256:00", "feedbee1"),
        ({}, {}, "reg:5000/team/img:v1.2.3", None),
        ({}, {}, "img", None),
    ],
)
def test_deployment_commit_sources(annotations: dict, labels: dict, image: str, commit: str | None) -> None:
    dep = deployment_snapshot(
        {
            "metadata": {"name": "d", "namespace": "n", "annotations": annotations, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"spec": {"containers": [{"name": "c", "image": image}]}},
            },
        }
    )
    assert dep.commit == commit


def test_label_selector_with_expressions() -> None:
    expressions = [
        {"key": "tier", "operator": "In", "values": ["api", "web"]},
        {"key": "track", "operator": "NotIn", "values": ["canary"]},
        {"key": "team", "operator": "Exists"},
        {"key": "legacy", "operator": "DoesNotExist"},
    ]
    assert label_selector({"app": "x"}, expressions) == ("app=x,tier in (api,web),track notin (canary),team,!legacy")


def test_event_snapshot_falls_back_to_event_time_and_series() -> None:
    event = event_snapshot(
        {
            "type": "Warning",
            "reason": "FailedScheduling",
            "message": "0/3 nodes available\n",
            "involvedObject": {"kind": "Pod", "name": "p"},
            "eventTime": "2026-01-01T10:00:00.123456Z",
            "series": {"count": 7, "lastObservedTime": "2026-01-01T11:00:00.000000Z"},
        }
    )
    assert event.count == 7 and event.message == "0/3 nodes available"
    assert event.first_seen == datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert event.last_seen == datetime(2026, 1, 1, 11, tzinfo=UTC)


def test_event_snapshot_from_a_v1_event() -> None:
    event = kubernetes.client.CoreV1Event.from_dict(
        {
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"},
            "type": "Warning",
            "reason": "BackOff",
            "count": 3,
            "firstTimestamp": "2026-01-01T10:00:00Z",
            "lastTimestamp": "2026-01-01T10:05:00Z",
        }
    )
    snap = event_snapshot(event)
    assert (snap.reason, snap.count, snap.object_name) == ("BackOff", 3, "p")
    assert snap.last_seen == datetime(2026, 1, 1, 10, 5, tzinfo=UTC)


def test_parse_log_handles_nanoseconds_offsets_and_unstamped_lines() -> None:
    lines = parse_log(
        "2026-01-01T10:00:00.123456789Z first\r\n"
        "2026-01-01T10:00:01+02:00 second  with  spaces\n"
        "no stamp here\n"
        "2026-01-01T10:00:02Z \n"
    )
    assert lines[0].ts == datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC) and lines[0].text == "first"
    assert lines[1].text == "second  with  spaces" and lines[1].ts and lines[1].ts.utcoffset() is not None
    assert lines[2] == (None, "no stamp here")
    assert lines[3].text == "" and lines[3].ts is not None
    odd = parse_log("2026-13-01T10:00:00Z month 13\n2026-01-01T10:00:00.1234567891Z ten digits\n"
                    "2026-01-01T10:00:00.5+0200 no colon\n")
    assert odd[0] == (None, "2026-13-01T10:00:00Z month 13")  # shaped like a time, not one: kept whole
    assert odd[1].ts == datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC) and odd[1].text == "ten digits"
    assert odd[2].ts is not None and odd[2].ts.utcoffset() is not None and odd[2].text == "no colon"


def test_translate_error_never_leaks_a_traceback_and_names_the_scope() -> None:
    exc = kubernetes.client.ApiException(status=403, reason="Forbidden")
    err = translate_error(exc, Call("list", "deployments", None), url="https://k8s", timeout=3)
    assert str(err) == (
        'forbidden: opsbot may not list deployments across all namespaces; grant the verb "list" on '
        '"deployments" (see helm/opsbot RBAC)'
    )


def test_from_settings_merges_kubeconfig_files_each_with_its_own_relative_paths(tmp_path: Path) -> None:
    """KUBECONFIG=a:b as the client merges it: the first of each name wins, and
    a relative certificate path resolved against the file that names it (the files are parsed once)."""
    (tmp_path / "b").mkdir()
    for name in ("ca-a.crt", "b/ca-b.crt"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    first = tmp_path / "a.yaml"
    first.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "a", "cluster": {"server": "https://a.example:6443",
                                               "certificate-authority": "ca-a.crt"}}],
        "users": [{"name": "a", "user": {"token": "token-a"}}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a", "namespace": "team-a"}}],
    }))
    second = tmp_path / "b" / "b.yaml"
    second.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "b",
        "clusters": [{"name": "b", "cluster": {"server": "https://b.example:6443",
                                               "certificate-authority": "ca-b.crt"}},
                     {"name": "a", "cluster": {"server": "https://shadowed.example"}}],
        "users": [{"name": "b", "user": {"token": "token-b"}}],
        "contexts": [{"name": "b", "context": {"cluster": "b", "user": "b", "namespace": "team-b"}}],
    }))
    both = f"{first}{os.pathsep}{second}"
    gw = KubernetesGateway.from_settings(KubernetesSettings(kubeconfig=both), context="b")
    conf = gw.api_client.configuration
    assert (conf.host, conf.ssl_ca_cert, gw.namespace) == ("https://b.example:6443", str(tmp_path / "b" / "ca-b.crt"),
                                                           "team-b")
    assert conf.api_key["BearerToken"] == "Bearer token-b"
    gw = KubernetesGateway.from_settings(KubernetesSettings(kubeconfig=both), context="a")
    conf = gw.api_client.configuration
    assert (conf.host, conf.ssl_ca_cert, gw.namespace) == ("https://a.example:6443", str(tmp_path / "ca-a.crt"),
                                                           "team-a")
    with pytest.raises(ConfigError) as err:
        KubernetesGateway.from_settings(KubernetesSettings(kubeconfig=both), context="c")
    assert "a, b" in str(err.value)

"""Incident snapshots and replay: `opsbot snapshot` writes what /debug read as a scenario file, and
`--scenario FILE` replays it in the sandbox with the same findings, pods and checklist; `opsbot eval`
runs a folder of scenarios against their `expect:` blocks."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.capture import take_snapshot
from bot.config import Settings
from bot.runtime import open_runtime
from bot.sandbox import Sandbox, load_scenario, scaled_scenario
from playbooks.registry import run_command
from tests.test_cli import ROOT, opsbot

SCENARIOS = ROOT / "tests" / "scenarios"
# what the snapshot holds of the demo's secrets (bot/sandbox/scenarios/taskflow.yaml): none of it
SECRETS = ("s3cr3t-pass", "ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz", "ci-only-pass")


# a log line's own date (daprd's time="..."): the demo writes it when it starts, the snapshot keeps it
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?")


def _findings(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["pattern"], f["title"], f["count"], f["pods"], f["containers"], _DATE.sub("<date>", f["sample"]),
             f["signature"]) for f in report["findings"]]


def _pods(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The pods without their ages (the replay runs a moment later: every age is a little older)."""
    out = []
    for pod in report["pods"]:
        pod = {k: v for k, v in pod.items() if k not in ("age_seconds", "created_at")}
        pod["containers"] = [{k: v for k, v in c.items() if k not in ("started_at", "last_finished_at")}
                             for c in pod["containers"]]
        out.append(pod)
    return out


def _checklist(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(i["text"], i["done"], i["evidence"]) for i in report["checklist"]]


def assert_same_report(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert _findings(after) == _findings(before)
    assert _pods(after) == _pods(before)
    assert _checklist(after) == _checklist(before)
    assert [(e["reason"], e["count"], e["object_name"]) for e in after["events"]] == \
        [(e["reason"], e["count"], e["object_name"]) for e in before["events"]]
    assert [(r["id"], r["conclusion"], r["deployed"]) for r in after["runs"]] == \
        [(r["id"], r["conclusion"], r["deployed"]) for r in before["runs"]]


def test_a_snapshot_of_the_demo_replays_to_the_same_report(tmp_path: Path) -> None:
    """The issue's "done when", through the installed `opsbot` script."""
    snap = tmp_path / "s.yaml"
    taken = opsbot("snapshot", "taskflow-api", "--demo", "-o", str(snap))
    assert taken.returncode == 0, taken.stderr
    replay = opsbot("debug", "taskflow-api", "--scenario", str(snap), "--json")
    demo = opsbot("debug", "taskflow-api", "--demo", "--json")
    assert demo.returncode == replay.returncode == 0, replay.stderr
    before, after = json.loads(demo.stdout), json.loads(replay.stdout)
    assert before["findings"] and before["checklist"]
    assert_same_report(before, after)


def test_a_snapshot_is_redacted_and_its_times_are_relative(tmp_path: Path) -> None:
    snap = tmp_path / "s.yaml"
    assert opsbot("snapshot", "taskflow-api", "--demo", "-o", str(snap)).returncode == 0
    text = snap.read_text()
    for secret in SECRETS:
        assert secret not in text
    assert "[REDACTED:" in text
    data = yaml.safe_load(text)
    assert data["version"] == 1 and data["capture"]["service"] == "taskflow-api"
    api = next(d for d in data["deployments"] if d["name"] == "taskflow-api")
    crashing = next(p for p in api["pods"] if p["name"].endswith("x2kq9"))["containers"]["api"]
    assert crashing["last_reason"] == "OOMKilled" and crashing["previous_log"]["recorded"]
    for line in crashing["previous_log"]["recorded"].splitlines():
        assert re.match(r"^(now|[-+](\d+h)?(\d+m)?([\d.]+s)?) ", line), line  # an offset, never a date
    # the services on the request path were read too (/debug's "path" step): they are in the file
    assert {d["name"] for d in data["deployments"]} >= {"taskflow-api", "web-dashboard", "notification-service"}


def test_snapshot_to_stdout_and_a_missing_service(tmp_path: Path) -> None:
    out = opsbot("snapshot", "taskflow-api", "--demo", "-o", "-")
    assert out.returncode == 0 and out.stdout.startswith("# opsbot snapshot of taskflow-api")
    missing = opsbot("snapshot", "no-such-service", "--demo", "-o", str(tmp_path / "x.yaml"))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert 'deployment "no-such-service" not found' in missing.stderr
    assert not (tmp_path / "x.yaml").exists()


BAD = [
    ("version: 2\nname: x\n", "version: unsupported version 2: this opsbot reads version 1"),
    ("version: 2\nname: x\nnodes: [a]\n", "version: unsupported version 2"),  # a newer format's keys: not typos
    ("version: 1\nname: x\ndeploymens: []\n", "deploymens: unknown key; known here: version, name,"),
    ("name: x\ndeployments:\n- {name: api, namespace: a, created: -1d, template_hash: abcde1, selector: {a: b},"
     " containers: [{name: app, image: i, colour: red}]}\n",
     "deployments.0.containers.0.colour (deployment api, container app): unknown key; known here: name, image,"),
    ("name: x\nservices: {api: {namespace: a, repos: x}}\n", "services.api.repos: unknown key; known here: namespace"),
    ("name: x\nloaded_at: 2020-01-01T00:00:00Z\n", "loaded_at: unknown key"),
    ("name: x\ndeployments:\n- {name: api, namespace: a, created: -1d, template_hash: abcde1, selector: {a: b},"
     " containers: [{name: app, image: i}], pods: [{name: p1, created: -1h, containers: {nope: {}}}]}\n",
     "deployments.0 (deployment api): pod p1: unknown container(s) ['nope']"),
    ("name: x\ndeployments:\n- {name: api, namespace: a, created: -1d, template_hash: abcde1, selector: {a: b},"
     " containers: [{name: app, image: i, log: {recorded: 'yesterday boom'}}]}\n",
     "deployments.0.containers.0.log.recorded (deployment api, container app): line 1: starts with 'yesterday'"),
    ("name: x\nexpect: {findings: [oom-killed]}\n", "expect.service: Field required"),
    ("name: x\nsources: [not-a-citation]\n", "sources.0: String should match pattern"),
    ("\xff\xfename: x\n", "not UTF-8 text (byte 0)"),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
@pytest.mark.parametrize("command", ["debug", "eval"])
def test_a_bad_scenario_file_is_one_line_naming_file_entry_and_field(
    tmp_path: Path, text: str, problem: str, command: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    args = ["eval", str(tmp_path)] if command == "eval" else ["debug", "api", "--scenario", str(path)]
    done = opsbot(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"opsbot: scenario {path}: ")
    assert problem in done.stderr


def test_eval_passes_on_the_shipped_scenarios() -> None:
    """`opsbot eval tests/scenarios` is part of `make test`: every shipped scenario's expectations hold."""
    done = opsbot("eval", str(SCENARIOS))
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"scenarios=(\d+) passed=\1 recall=1\.00 false_findings=0", last), last
    assert int(last.split()[0].split("=")[1]) >= 10


def test_every_shipped_scenario_cites_a_public_incident() -> None:
    for path in sorted(SCENARIOS.glob("*.yaml")):
        scenario = load_scenario(str(path))
        assert scenario.sources, f"{path.name} cites no incident"
        for source in scenario.sources:
            assert source in path.read_text().split("sources:", 1)[0], f"{path.name}: {source} is not in its comment"


def test_eval_exits_1_on_a_miss_and_names_it(tmp_path: Path) -> None:
    shutil.copy(SCENARIOS / "sidecar-oomkilled.yaml", tmp_path / "ok.yaml")
    wrong = (SCENARIOS / "rollout-imagepull.yaml").read_text()
    wrong = wrong.replace("absent: [oom-killed, crash-loop-backoff]", "absent: [image-pull-failed]")
    wrong = wrong.replace("findings: [image-pull-failed]", "findings: [oom-killed]")
    (tmp_path / "wrong.yaml").write_text(wrong)
    (tmp_path / "no-expect.yaml").write_text("version: 1\nname: plain\n")  # not part of the suite
    done = opsbot("eval", str(tmp_path))
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "scenarios=2 passed=1 recall=0.50 false_findings=1"
    row = next(line for line in lines if "wrong.yaml" in line)
    assert "oom-killed" in row and "FAIL" in row


async def test_a_namespace_of_100_pods_snapshots_and_replays_with_the_same_findings() -> None:
    """Bounded: 100 pods x 3 containers x 2,000 lines. The snapshot keeps what /debug read (its tail of
    each log), and its replay gives the same report. (Timing lives in bench/snapshot.py.)"""
    settings = Settings()
    async with open_runtime(settings, scenario=scaled_scenario(100, 3, 2000)) as rt:
        report, text = await take_snapshot(rt, "taskflow-api")
    tail = settings.kubernetes.log_tail
    assert len(report.pods) == 100 and len(report.logs) == 301
    assert text.count("\n") < 302 * (tail + 12) + 3_000  # what was read, not the 600,000 lines
    path_free = Settings()
    snapshot = yaml.safe_load(text)
    async with open_runtime(path_free, scenario=_validated(snapshot)) as rt:
        replay = await run_command(rt, _debug("taskflow-api"))
    before, after = report.model_dump(mode="json"), replay.model_dump(mode="json")
    assert before["findings"]
    assert_same_report(before, after)


def _validated(data: dict[str, Any]) -> Any:
    from bot.sandbox.scenario import validate_scenario

    return validate_scenario(data, datetime.now(UTC), "snapshot")


def _debug(service: str) -> Any:
    from bot.commands import ServiceCommand

    return ServiceCommand(service)


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.mark.parametrize(("scenario", "pod", "ready", "restarts"), [
    ("native-sidecar-crashloop.yaml", "reservation-5d8b7f6c4-tq4lz", "0/2", "6 ("),
    ("init-crashloop.yaml", "rtf-app-7c9f6d5b8-2mq7t", "0/1", "16 ("),
])
def test_a_crash_looping_init_container_or_native_sidecar_keeps_its_pod_pending(
        scenario: str, pod: str, ready: str, restarts: str) -> None:
    """As the kubelet and kubectl have it: the pod is Pending, not Initialized, its app containers wait
    (PodInitializing), and `kubectl get pods` says Init:CrashLoopBackOff."""
    with Sandbox(load_scenario(str(SCENARIOS / scenario))).run_in_thread() as sandbox:
        items = httpx.get(f"{sandbox.url}/api/v1/pods").json()["items"]
        table = httpx.get(f"{sandbox.url}/api/v1/pods", headers={"Accept": TABLE}).json()
    status = next(p["status"] for p in items if p["metadata"]["name"] == pod)
    assert status["phase"] == "Pending"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Initialized"] == "False"
    assert all(c["state"]["waiting"]["reason"] == "PodInitializing" for c in status["containerStatuses"])
    cells = next(r["cells"] for r in table["rows"] if r["cells"][0] == pod)
    assert cells[1:3] == [ready, "Init:CrashLoopBackOff"] and cells[3].startswith(restarts)
    # the pods of the older ReplicaSet run, their native sidecar counted among the ready containers
    others = [r["cells"][1:3] for r in table["rows"] if r["cells"][0] != pod]
    if scenario.startswith("native"):
        assert others == [["2/2", "Running"], ["2/2", "Running"]]


def test_a_native_sidecar_crashing_after_the_pod_started_leaves_it_running(tmp_path: Path) -> None:
    text = (SCENARIOS / "native-sidecar-crashloop.yaml").read_text()
    # the app container runs (the pod had initialized): the sidecar's later crash-loop does not undo that
    text = text.replace("          reservation:\n            state: waiting\n            reason: PodInitializing\n",
                        "          reservation:\n            state: running\n")
    (tmp_path / "later.yaml").write_text(text)
    with Sandbox(load_scenario(str(tmp_path / "later.yaml"))).run_in_thread() as sandbox:
        items = httpx.get(f"{sandbox.url}/api/v1/pods").json()["items"]
        table = httpx.get(f"{sandbox.url}/api/v1/pods", headers={"Accept": TABLE}).json()
    status = next(p["status"] for p in items if p["metadata"]["name"] == "reservation-5d8b7f6c4-tq4lz")
    assert status["phase"] == "Running"
    cells = next(r["cells"] for r in table["rows"] if r["cells"][0] == "reservation-5d8b7f6c4-tq4lz")
    assert cells[2] == "Init:CrashLoopBackOff"  # kubectl still names the sidecar's state first


def _modulo_capture_time(text: str) -> str:
    """A snapshot without the lines that say when it was taken."""
    return "\n".join(line for line in text.splitlines()
                     if not line.startswith(("# opsbot snapshot of", "description: opsbot snapshot", "  at: ")))


@pytest.mark.parametrize(("scenario", "service", "namespace"), [
    ("native-sidecar-crashloop.yaml", "reservation", "hotel"),  # no Dapr sidecar: the step ran, found none
    ("sidecar-oomkilled.yaml", None, None),
])
def test_a_snapshot_of_a_replayed_snapshot_is_the_same_file(tmp_path: Path, scenario: str, service: str | None,
                                                            namespace: str | None) -> None:
    """Round trip twice: offsets count from the sandbox's own now (whole seconds, as Kubernetes writes
    object times), log times are kept to the microsecond, the Dapr switch is carried over."""
    source = SCENARIOS / scenario
    expect = yaml.safe_load(source.read_text())["expect"]
    service, namespace = service or expect["service"], namespace or expect.get("namespace")
    files = [source]
    for n in (1, 2, 3):
        out = tmp_path / f"r{n}.yaml"
        done = opsbot("snapshot", service, *(["-n", namespace] if namespace else []), "--scenario", str(files[-1]),
                      "-o", str(out))
        assert done.returncode == 0, done.stderr
        files.append(out)
    first, second, third = (_modulo_capture_time(f.read_text()) for f in files[1:])
    assert first == second == third
    assert yaml.safe_load(first)["dapr_metadata"] is yaml.safe_load(source.read_text()).get("dapr_metadata", True)


def test_a_service_scaled_to_zero_snapshots_and_replays(tmp_path: Path) -> None:
    (tmp_path / "zero.yaml").write_text(
        "version: 1\nname: zero\nnamespaces: [shop]\ndeployments:\n"
        "- {name: cart, namespace: shop, replicas: 0, created: -3d, template_hash: 5d8b7f6c4, selector: {app: cart},"
        " containers: [{name: cart, image: 'shop/cart:1.2'}], pods: []}\n")
    snap = tmp_path / "snap.yaml"
    done = opsbot("snapshot", "cart", "-n", "shop", "--scenario", str(tmp_path / "zero.yaml"), "-o", str(snap))
    assert done.returncode == 0, done.stderr
    assert "0 pods, 0 logs, 0 findings" in done.stderr
    data = yaml.safe_load(snap.read_text())
    assert data["deployments"][0]["replicas"] == 0 and data["deployments"][0]["pods"] == []
    replay = opsbot("debug", "cart", "-n", "shop", "--scenario", str(snap), "--json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["pods"] == []


@pytest.mark.parametrize(("output", "problem"), [
    ("{tmp}/no/such/folder/s.yaml", "no folder {tmp}/no/such/folder"),
    ("{tmp}", "is a directory"),
])
def test_an_unwritable_output_is_one_line_before_anything_runs(tmp_path: Path, output: str, problem: str) -> None:
    done = opsbot("snapshot", "taskflow-api", "--demo", "-o", output.format(tmp=tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"opsbot: cannot write {output.format(tmp=tmp_path)}: ")
    assert problem.format(tmp=tmp_path) in done.stderr and "snapshot of" not in done.stderr


def test_an_unknown_namespace_is_one_line_exit_1(tmp_path: Path) -> None:
    """As README documents for a service that does not exist: one line naming what does, exit 1."""
    done = opsbot("snapshot", "taskflow-api", "-n", "nope", "--demo", "-o", str(tmp_path / "x.yaml"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert 'namespace "nope" does not exist' in done.stderr and "taskflow/taskflow-api" in done.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_eval_of_a_scenario_whose_expected_service_is_not_in_it_names_the_file(tmp_path: Path) -> None:
    shutil.copy(SCENARIOS / "sidecar-oomkilled.yaml", tmp_path / "ok.yaml")
    (tmp_path / "wrong.yaml").write_text("version: 1\nname: x\nexpect: {service: nope, findings: [oom-killed]}\n")
    done = opsbot("eval", str(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"opsbot: scenario {tmp_path / 'wrong.yaml'}: expect.service: ")
    assert 'deployment "nope" not found' in done.stderr


def test_a_cluster_that_does_not_answer_is_one_line_exit_1_and_no_file(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(  # a port nothing listens on: connection refused at once
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: shop}}]\n"
        "users: [{name: u, user: {token: x}}]\n")
    done = opsbot("snapshot", "cart", "-o", str(tmp_path / "s.yaml"), env={"KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("opsbot: nothing to snapshot of cart: deployment: ")
    assert not (tmp_path / "s.yaml").exists()


def test_a_recorded_log_gives_every_line_the_offset_of_its_own_time() -> None:
    """`recorded` makes a second's offset once for all its lines: the same text as `offset` a line,
    before and after the capture time, across minutes and hours, with and without fractions."""
    import random
    from datetime import timedelta

    from bot.capture.scenario import recorded
    from bot.models import LogLine, LogSnapshot
    from bot.redact import redact_lines
    from bot.sandbox.clock import offset

    at = datetime(2026, 11, 29, 4, 0, 0, 250_000, tzinfo=UTC)
    rng = random.Random(20)
    steps = [0, 1, 250_000, 999_999, 1_000_000, 59_000_000, 60_000_000, 3_600_000_000, 3_661_000_001]
    deltas = [sign * d for d in steps for sign in (1, -1)] + [rng.randint(-9_000_000_000, 9_000_000_000)
                                                               for _ in range(2000)]
    lines = [LogLine(None, "before any time")]
    lines += [LogLine(at + timedelta(microseconds=d), f"line {i} password=hunter2") for i, d in enumerate(deltas)]
    lines.append(LogLine(None, "no time: the last offset again"))
    texts = redact_lines(line.text for line in lines)
    base = round(at.timestamp() * 1_000_000)
    want, last = [], "now"
    for line, text in zip(lines, texts, strict=True):
        if line.ts is not None:
            last = offset(round(line.ts.timestamp() * 1_000_000) - base)
        want.append(f"{last} {text}")
    got = recorded(LogSnapshot(pod="p", container="c", lines=lines), at)
    assert got == "\n".join(want) + "\n"
    assert "hunter2" not in got and got.count("\n") == len(lines)

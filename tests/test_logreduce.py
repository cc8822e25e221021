"""A /debug over every line of long logs keeps only what it shows (playbooks/logreduce.py), with the
same findings, counts and times as over the whole logs, and a snapshot of it replays to the same
findings. Every log is served by the sandbox over HTTP and read by the real Kubernetes gateway."""

from __future__ import annotations

import functools
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bot.capture import take_snapshot
from bot.commands import ServiceCommand
from bot.config import KubernetesSettings, Settings
from bot.models import DaprComponent, DaprSidecar, LogSnapshot, Report
from bot.redact import redact_model
from bot.render.findings import findings_messages
from bot.runtime import open_runtime
from bot.sandbox import scaled_scenario
from bot.sandbox.scenario import SCALED_BACKGROUND, SCALED_SIDECAR, validate_scenario
from playbooks import fastscan
from playbooks.findings import derive_findings
from playbooks.fixcheck import check_fix
from playbooks.logreduce import KEEP_TAIL, reduce_log
from playbooks.patterns import PatternTable
from playbooks.registry import run_command
from playbooks.runtime import Runtime
from playbooks.signatures import find_events
from playbooks.unrecognised import classify_lines
from tests.test_cli import ROOT
from tests.test_snapshots import _findings

LINES = 3000  # a container's log: 15 times what is kept of its end
TAIL = 5000  # OPSBOT_LOG_TAIL: every line is read


def _corpus_background() -> list[dict[str, Any]]:
    """The harmless mix of the benchmark, and one in ten of the real errors of the corpus (known, outside
    the table, multi-line stack traces, harmless look-alikes) sprinkled in."""
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "real_errors.jsonl").read_text().splitlines()]
    errors = [{"text": row["text"].replace("${", "$ {"), "weight": 1} for row in rows[::10]]
    other_scripts = [{"text": "INFO commande reçue: 注文 ${n} — état ✓", "weight": 20}]
    return [{**item, "weight": item["weight"] * 10} for item in SCALED_BACKGROUND] + errors + other_scripts


def _scenario() -> Any:
    background = _corpus_background()
    pods = [f"shop-api-6f7c8d9b5-{suffix}" for suffix in ("x2k4q", "b7n9c", "pq5td")]
    data = {
        "name": "long-logs",
        "namespaces": ["default", "shop"],
        "deployments": [{
            "name": "shop-api", "namespace": "shop", "replicas": 3, "created": "-30d", "revision": 4,
            "template_hash": "6f7c8d9b5", "labels": {"app.kubernetes.io/name": "shop-api"},
            "selector": {"app.kubernetes.io/name": "shop-api"},
            "containers": [
                {"name": "api", "image": "ghcr.io/acme/shop-api:1.2.3",
                 "log": {"lines": LINES, "background": background}},
                {"name": "daprd", "image": "daprio/daprd:1.14.4",
                 "log": {"lines": LINES, "background": SCALED_SIDECAR}},
            ],
            "pods": [{"name": name, "created": "-2h", "containers": {"api": {
                "restarts": 2, "last_reason": "Error", "last_exit_code": 1, "last_finished": "-5m",
                "previous_log": {"lines": LINES // 2, "background": background}}} if i == 0 else {}}
                for i, name in enumerate(pods)],
        }],
        "services": {"shop-api": {"namespace": "shop"}},
    }
    return validate_scenario(data, datetime.now(UTC), "long-logs")


def _settings() -> Settings:
    return Settings(kubernetes=KubernetesSettings(log_tail=TAIL))


async def _read(rt: Runtime, *, reduced: bool) -> tuple[list[Any], list[LogSnapshot]]:
    k8s = rt.kubernetes(None)
    pods = await k8s.list_pods(await k8s.get_deployment("shop", "shop-api"))
    reduce = functools.partial(reduce_log, rt.patterns, dapr_calls=True, stamps=True) if reduced else None
    return pods, await k8s.read_logs(pods, tail=TAIL, reduce=reduce)


async def test_reduced_logs_give_the_findings_of_the_whole_logs() -> None:
    """The findings (counts, pods, first and last times, samples, evidence, signatures, the Dapr calls
    counted) of the kept lines are those of every line; and each log's rows are what the whole-log
    classification of `opsbot patterns match` finds."""
    async with open_runtime(_settings(), scenario=_scenario()) as rt:
        pods, whole = await _read(rt, reduced=False)
        _, reduced = await _read(rt, reduced=True)
    assert [(s.pod, s.container, s.previous) for s in reduced] == [(s.pod, s.container, s.previous) for s in whole]
    read = sum(len(s.lines) for s in whole)
    kept = sum(len(s.lines) for s in reduced)
    assert read > 15_000 and [s.line_count for s in reduced] == [len(s.lines) for s in whole]
    assert kept < read / 4  # much less than was read...
    for small, big in zip(reduced, whole, strict=True):
        assert small.lines[-KEEP_TAIL:] == big.lines[-KEEP_TAIL:]  # ...with each log's tail as it ends
    # the sidecar's metadata lacks the state store the app calls: counted over every line
    sidecar = DaprSidecar(pod=pods[0].name, app_id="shop-api", components=[DaprComponent(name="pubsub")])

    def findings(logs: list[LogSnapshot]) -> list[Any]:
        return [f.model_dump() for f in derive_findings(rt.patterns, namespace="shop", service="shop-api",
                                                        pods=pods, logs=logs, events=[], dapr=[sidecar])]

    expected = findings(whole)
    assert any(f["signature"] for f in expected) and any(not f["signature"] for f in expected)
    assert any("is not configured in the Dapr sidecar" in f["sample"] for f in expected)
    assert findings(reduced) == expected
    # the rows against the whole log classified as one text, the way `patterns match` reads a file
    for small, big in zip(reduced, whole, strict=True):
        verdicts = classify_lines(rt.patterns, [line.text for line in big.lines])
        rows = sorted((v.line - 1, v.pattern) for v in verdicts if v.pattern)
        assert sorted(small.matched.items()) == [(small.lines.index(big.lines[i]), p) for i, p in rows] \
            if small.matched is not None else rows == []


async def test_a_debug_of_long_logs_reports_and_replays_as_over_the_whole() -> None:
    """/debug with every line read: its report's findings are those of the whole logs, its line counts
    are those read, and its snapshot (the kept lines) replays to the same findings."""
    settings = _settings()
    async with open_runtime(settings, scenario=_scenario()) as rt:
        pods, whole = await _read(rt, reduced=False)
        report, text = await take_snapshot(rt, "shop-api")
        expected = redact_model(derive_findings(rt.patterns, namespace="shop", service="shop-api", pods=pods,
                                                logs=whole, events=report.events))
    # (the report's next commands are those the playbook offers, chosen after the findings)
    assert [f.model_dump(exclude={"next_commands"}) for f in report.findings] == \
        [f.model_dump(exclude={"next_commands"}) for f in expected]
    evidence = {item.key: item.evidence for item in report.checklist}
    assert f"{sum(len(s.lines) for s in whole if s.container == 'api'):,} lines" in (evidence["app-logs"] or "")
    assert sum(len(s.lines) for s in report.logs) < sum(len(s.lines) for s in whole) / 4
    # the findings file and the log tails attached to the thread: as from the whole logs
    files = [(f.filename, f.content) for m in findings_messages(report) for f in m.files]
    assert len(files) == 2 and files == [(f.filename, f.content) for m in findings_messages(
        report.model_copy(update={"logs": whole})) for f in m.files]
    snapshot = validate_scenario(yaml.safe_load(text), datetime.now(UTC), "snapshot")
    async with open_runtime(settings, scenario=snapshot) as rt:
        replay: Report = await run_command(rt, ServiceCommand("shop-api"))
    assert _findings(replay.model_dump(mode="json")) == _findings(report.model_dump(mode="json"))


async def test_a_debug_reading_every_line_holds_a_bounded_part_of_them() -> None:
    """Not a timing test: the Python heap's peak during a /debug that reads ~45 MB of log (24 pods x 2
    containers x 7,500 lines, every line) stays far below what holding every line costs (~250 bytes a
    parsed line: ~90 MB of lines alone; 146 MB peak without the reduction, ~31 MB with it)."""
    settings = _settings().model_copy(update={"kubernetes": KubernetesSettings(log_tail=10_000)})
    async with open_runtime(settings, scenario=scaled_scenario(24, 2, 7500)) as rt:
        # the sandbox makes each log once and keeps it (it is the cluster here): made before the count starts
        k8s = rt.kubernetes(None)
        pods = await k8s.list_pods(await k8s.get_deployment("taskflow", "taskflow-api"))
        await k8s.read_logs(pods, tail=10_000, reduce=functools.partial(reduce_log, rt.patterns))
        tracemalloc.start()
        try:
            report = await run_command(rt, ServiceCommand("taskflow-api"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    read = sum(s.line_count for s in report.logs)
    assert read > 350_000 and report.findings
    assert peak < 60e6, f"peak {peak / 1e6:.0f} MB for {read:,} lines"


def test_the_fix_check_over_reduced_logs_is_the_fix_check_over_the_whole() -> None:
    """/verify's comparison before and since the rollout counts kept lines and every line read (the
    stamps) as it counted the whole logs: the same windows, counts, rates and verdict."""
    from tests.test_fixloop import NOW, POOL, RUNS, SHA13, _deployment, _log, _pod, rollout

    table = PatternTable.default()
    rev13 = rollout(13, timedelta(minutes=30), SHA13)
    quiet = "INFO GET /tasks 200 12ms"

    def lines(errors_until: int) -> list[tuple[timedelta, str]]:  # one line every 2 s for 100 min
        return [(timedelta(seconds=s), POOL if s % 97 == 0 and s > errors_until else quiet)
                for s in range(6000, 0, -2)]

    for still in (True, False):
        logs = [_log("old", lines(1800)), *(_log(f"new{i}", lines(600 if still else 10**6)) for i in range(2))]
        reduced = [reduce_log(table, s, stamps=True) for s in logs]
        assert sum(len(s.lines) for s in reduced) < sum(len(s.lines) for s in logs) / 4
        pods = [_pod(f"new{i}", "api-rs13") for i in range(2)]
        whole, kept = (check_fix(table, namespace="ns", service="api", deployment=_deployment([rev13], ready=3),
                                 pods=pods, logs=chosen, runs=RUNS, now=NOW) for chosen in (logs, reduced))
        assert kept.model_dump() == whole.model_dump()
        assert whole.confirmed is not still and whole.comparisons[0].before is not None


async def test_a_log_read_in_chunks_gives_the_lines_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The body read and parsed a chunk at a time (here 997 bytes: chunks cut inside lines and inside
    UTF-8 sequences) gives the very lines of the body read whole."""
    from bot.k8s import gateway

    monkeypatch.setattr(gateway, "CHUNK", 997)
    async with open_runtime(_settings(), scenario=_scenario()) as rt:
        _, whole = await _read(rt, reduced=False)
        k8s = rt.kubernetes(None)
        pods = await k8s.list_pods(await k8s.get_deployment("shop", "shop-api"))
        chunked = await k8s.read_logs(pods, tail=TAIL, reduce=lambda snap: snap)
    assert any(not line.text.isascii() for s in whole for line in s.lines)
    assert [s.lines for s in chunked] == [s.lines for s in whole]


async def test_a_trace_keeps_only_the_lines_carrying_its_id() -> None:
    """/trace reads every container of the namespace (up to 5,000 lines each): each log is cut to the
    lines that carry the id as it is read, and the trace (hits, order, findings) is the one the whole
    logs give."""
    from bot.commands import TraceCommand
    from playbooks.trace import TRACE_TAIL, carrying, trace_hits

    cid = "7f3a9c2e"
    async with open_runtime(_settings(), scenario="taskflow") as rt:
        report: Report = await run_command(rt, TraceCommand(cid), namespace="taskflow")
        k8s = rt.kubernetes(None)
        deployments = await k8s.list_deployments("taskflow")
        pods = [p for d in deployments for p in await k8s.list_pods(d)]
        owners = {p.name: d.name for d in deployments for p in await k8s.list_pods(d)}
        whole = [s for s in await k8s.read_logs(pods, tail=TRACE_TAIL, since_seconds=3600) if s.error is None]
        kept = [s for s in await k8s.read_logs(pods, tail=TRACE_TAIL, since_seconds=3600,
                                                reduce=functools.partial(carrying, cid)) if s.error is None]
    assert sum(len(s.lines) for s in kept) < sum(len(s.lines) for s in whole) / 2
    assert all(cid in line.text for s in kept for line in s.lines)
    assert [s.line_count for s in kept] == [len(s.lines) for s in whole]
    expected = trace_hits(cid, whole, owners)
    assert len(expected) >= 3 and report.findings
    assert [(h.service, h.pod, h.container, h.text) for h in report.trace] == \
        [(h.service, h.pod, h.container, redact_model(h).text) for h in expected]


@pytest.mark.skipif(not fastscan.available(), reason="hyperscan is not installed here")
def test_a_short_log_classified_through_hyperscan_gives_what_aho_corasick_gives() -> None:
    """derive_findings hands every log, however short, to hyperscan's passes where it is installed: on
    200-line logs of the corpus's real errors (multi-line traces, other scripts, look-alikes) the rows
    and the error events are those of the Aho-Corasick path."""
    table = PatternTable.default()
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "real_errors.jsonl").read_text().splitlines()]
    texts = [t for row in rows for t in row["text"].split("\n")]
    texts += ["INFO GET /tasks 200 12ms", "INFO commande reçue: 注文 — état ✓", "", "\tat x.y(Z.java:1)"] * 50
    assert len(texts) > 1000
    for start in range(0, len(texts), 200):
        log = texts[start:start + 200]
        encoded = fastscan.encode(log)
        verdicts = table.classify_many(log, "log", encoded=encoded)
        assert verdicts == table.classify_many(log, "log")
        skip = {i for i, v in enumerate(verdicts) if v is not None}
        assert find_events(log, skip, encoded=encoded) == find_events(log, skip)

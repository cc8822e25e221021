"""Findings: pure functions from fetched snapshots to what they mean.

Nothing here does I/O. Every function takes snapshots (bot.models) and the pattern table and
returns findings or evidence strings, so it is tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.models import (
    SEVERITY_ORDER,
    ContainerKind,
    DaprSidecar,
    EventSnapshot,
    Finding,
    LogSnapshot,
    PodSnapshot,
    Severity,
    WorkflowRun,
)
from playbooks import fastscan
from playbooks.next_steps import next_command
from playbooks.patterns import Pattern, PatternTable
from playbooks.unrecognised import UnrecognisedErrors

MAX_EVIDENCE = 5


@dataclass
class _Group:
    """Everything one pattern matched, across logs, events and container states."""

    pattern: Pattern
    count: int = 0
    pods: dict[str, None] = field(default_factory=dict)  # ordered sets
    containers: dict[str, None] = field(default_factory=dict)
    first_seen: datetime | None = None
    sample: str = ""
    evidence: list[str] = field(default_factory=list)
    where: tuple[str, str | None, bool] | None = None  # (pod, container, previous) of the first hit
    places: set[str] = field(default_factory=set)

    def add(self, text: str, *, pod: str | None, container: str | None, ts: datetime | None,
            label: str, previous: bool = False) -> None:
        self.count += 1
        if pod:
            self.pods.setdefault(pod)
        if container:
            self.containers.setdefault(container)
        if ts is not None and (self.first_seen is None or ts < self.first_seen):
            self.first_seen = ts
        if not self.sample:
            self.sample = text.strip()
            self.where = (pod or "", container, previous)
        # one line per place (pod/container) first: five copies of one pod's error say less than five pods
        if len(self.evidence) < MAX_EVIDENCE and label not in self.places:
            self.places.add(label)
            self.evidence.append(f"{label}: {shorten(text)}")


def shorten(text: str, limit: int = 240) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pod_label(pod: str, container: str | None, previous: bool = False) -> str:
    where = f"{pod}/{container}" if container else pod
    return f"{where} (previous)" if previous else where


def restart_summary(pod: PodSnapshot) -> str:
    """`taskflow-api-7d9f-x2k (api, 4 restarts, OOMKilled)`: who restarts, how often, why."""
    parts = []
    for c in pod.containers:
        if c.restarts:
            why = c.last_reason or c.reason or "restarted"
            code = f" exit {c.last_exit_code}" if c.last_exit_code not in (None, 0) else ""
            parts.append(f"{c.name}, {c.restarts} restart{'s' if c.restarts != 1 else ''}, {why}{code}")
    return f"{pod.name} ({'; '.join(parts)})"


def derive_findings(
    table: PatternTable,
    *,
    namespace: str,
    service: str,
    pods: Sequence[PodSnapshot],
    logs: Iterable[LogSnapshot],
    events: Iterable[EventSnapshot],
    runs: Sequence[WorkflowRun] = (),
    repo: str | None = None,
    dapr: Sequence[DaprSidecar] = (),
) -> list[Finding]:
    """Group every classified log line, warning event, container state and Dapr component the app
    uses but its sidecar did not load, by pattern."""
    groups: dict[str, _Group] = {}

    def hit(pattern: Pattern | None, text: str, **where: object) -> None:
        if pattern is None:
            return
        group = groups.get(pattern.id)
        if group is None:
            group = groups[pattern.id] = _Group(pattern)
        group.add(text, **where)  # type: ignore[arg-type]

    # An init container that ran to completion got past whatever it logged (wait-for-db's
    # "Connection refused" until the database was up): its errors are not the incident.
    finished_init = {(p.name, c.name) for p in pods for c in p.containers
                     if c.kind is ContainerKind.INIT and c.state == "terminated" and c.reason == "Completed"}
    logs = list(logs)  # read twice: for the patterns, then for the Dapr components the app calls
    unrecognised = UnrecognisedErrors()
    for snap in logs:
        if (snap.pod, snap.container) in finished_init:
            continue
        label = pod_label(snap.pod, snap.container, snap.previous)
        texts = [line.text for line in snap.lines]
        encoded = _encoded(texts)
        rows = _line_rows(table, snap, texts, encoded)
        for index, row in rows.items():
            line = snap.lines[index]
            hit(row, line.text, pod=snap.pod, container=snap.container, ts=line.ts,
                label=label, previous=snap.previous)
        matched = set(rows)
        # every other error event of the log is accounted for too, as an unrecognised signature
        unrecognised.add_log(snap, matched, encoded=encoded)

    pod_names = {p.name for p in pods}
    for event in events:
        text = f"{event.reason}: {event.message}"
        subject = event.object_name if event.object_name in pod_names else None
        hit(table.classify(text, "event"), text, pod=subject, container=None,
            ts=event.first_seen or event.last_seen, label=f"event on {event.object_kind}/{event.object_name}")

    for text, sidecar in dapr_component_gaps(logs, dapr):
        hit(table.classify(text, "status"), text, pod=sidecar.pod, container="daprd", ts=None,
            label=f"Dapr metadata of {sidecar.pod}")

    unexplained: list[PodSnapshot] = []
    for pod in pods:
        explained = False
        for c in pod.containers:
            for reason in filter(None, (c.last_reason, c.reason)):
                text = f"{reason} (exit code {c.last_exit_code})" if reason == c.last_reason and \
                    c.last_exit_code is not None else reason
                pattern = table.classify(text, "status")
                if pattern is not None:
                    explained = explained or reason == c.last_reason or not c.last_reason
                    hit(pattern, f"{c.name}: {text}", pod=pod.name, container=c.name,
                        ts=c.last_finished_at, label=restart_summary(pod) if c.restarts else pod.name)
        if any(c.restarts for c in pod.containers) and not explained:
            unexplained.append(pod)

    findings = [_finding(g, namespace=namespace, service=service, pods=pods, runs=runs, repo=repo)
                for g in groups.values()]
    if unexplained:
        findings.append(_restart_finding(unexplained, namespace))
    findings += unrecognised.findings(namespace=namespace)
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], -f.count))
    return findings


def _encoded(texts: list[str]) -> bytes | None:
    """The log as one buffer for hyperscan's passes (its rows, then its error events), where it is
    installed. Its databases are built once a process (and kept on disk), so a 200-line log gains too:
    at 30 pods x 200 lines, classifying takes 15 ms instead of 45 with Aho-Corasick, and finding the
    error events' triggers 3.5 ms instead of 43 (the largest CPU items of a burst of /debug)."""
    return fastscan.encode(texts) if texts and fastscan.available() else None


def _line_rows(table: PatternTable, snap: LogSnapshot, texts: list[str], encoded: bytes | None) -> dict[int, Pattern]:
    """{line index: the row it matches}, in line order: as the log's reduction found them
    (playbooks/logreduce.py), else classified (`texts`: the lines' texts; `encoded`: `_encoded(texts)`)."""
    if snap.matched is None:
        return table.classify_hits(texts, "log", encoded=encoded)
    return {index: table.get(pattern_id) for index, pattern_id in sorted(snap.matched.items())}


# The Dapr building-block APIs that name a component, as daprd logs the calls it serves
_DAPR_CALL = re.compile(
    r"\bHTTP API Called: [A-Z]+ /v1\.0(?:-alpha1|-beta1)?/(state|publish|bindings|secrets)/([\w.-]+)"
)
_DAPR_KIND = {"state": "state store", "publish": "pubsub", "bindings": "binding", "secrets": "secret store"}


def dapr_calls(texts: Iterable[str]) -> dict[tuple[str, str], int]:
    """How often daprd's API log names each (building block, component): `("state", "taskflow-store")`."""
    used: dict[tuple[str, str], int] = {}
    for text in texts:
        if "API Called" not in text:
            continue
        match = _DAPR_CALL.search(text)
        if match:
            key = (match.group(1), match.group(2))
            used[key] = used.get(key, 0) + 1
    return used


def dapr_component_gaps(logs: Iterable[LogSnapshot], sidecars: Sequence[DaprSidecar]) -> list[tuple[str, DaprSidecar]]:
    """Components the app calls (from its daprd's API log) that its sidecar's metadata does not list:
    one text per component, worded as Dapr itself words it ("state store X is not configured")."""
    known = [s for s in sidecars if s.components is not None]  # read from the sidecar itself
    if not known:
        return []
    loaded = {c.name for s in known for c in s.components or []}
    used: dict[tuple[str, str], int] = {}
    for snap in logs:
        if snap.container != "daprd":
            continue
        # a reduced log counted its calls as it was read (playbooks/logreduce.py)
        calls = dapr_calls(line.text for line in snap.lines) if snap.dapr_calls is None else snap.dapr_calls
        for (api, name), count in calls.items():
            if name not in loaded:
                used[api, name] = used.get((api, name), 0) + count
    listed = ", ".join(sorted(loaded)) or "none"
    return [(f"{_DAPR_KIND[api]} {name} is not configured in the Dapr sidecar: {count} calls to it, "
             f"components loaded: {listed}", known[0]) for (api, name), count in sorted(used.items())]


def _finding(g: _Group, *, namespace: str, service: str, pods: Sequence[PodSnapshot],
             runs: Sequence[WorkflowRun], repo: str | None) -> Finding:
    pod, container, previous = g.where or ("", None, False)
    if not pod and g.pods:
        pod = next(iter(g.pods))
    snapshot = next((p for p in pods if p.name == pod), None)
    if container is None and snapshot is not None and snapshot.containers:
        app = [c for c in snapshot.containers if c.kind is ContainerKind.APP] or snapshot.containers
        container = app[0].name
    status = snapshot.container(container) if snapshot is not None and container else None
    restarted = bool(status and status.restarts)
    values = {"namespace": namespace, "service": service, "pod": pod or f"deploy/{service}",
              "container": container or "", "repo": repo or "OWNER/REPO"}
    failed = next((r for r in runs if r.conclusion == "failure"), None)
    if failed:
        values["run_id"] = str(failed.id)
    commands = [next_command(command, namespace=namespace, pod=pod, container=container,
                             restarted=restarted or previous, repo=repo, failed_run=failed)
                for command in g.pattern.commands(**values)]
    return Finding(
        pattern=g.pattern.id, title=g.pattern.title, severity=g.pattern.severity, count=g.count,
        pods=list(g.pods), containers=list(g.containers), first_seen=g.first_seen, sample=g.sample,
        cause=g.pattern.cause, fix=g.pattern.fix, snippet=g.pattern.snippet, evidence=g.evidence,
        regression_test=g.pattern.regression_test,
        next_commands=[c for c in commands if c is not None],
    )


def _restart_finding(pods: list[PodSnapshot], namespace: str) -> Finding:
    first = pods[0]
    restarting = next(c for c in first.containers if c.restarts)
    return Finding(
        pattern="restarts", title="Containers restarting", severity=Severity.WARNING,
        count=sum(p.restarts for p in pods), pods=[p.name for p in pods],
        containers=sorted({c.name for p in pods for c in p.containers if c.restarts}),
        first_seen=restarting.last_finished_at, sample=restart_summary(first),
        cause="The container exits and Kubernetes restarts it; the crash is in the previous log.",
        fix="Read the previous container's log for the last lines before the exit.",
        evidence=[restart_summary(p) for p in pods[:MAX_EVIDENCE]],
        next_commands=[c for c in [next_command(
            f"kubectl logs {first.name} -c {restarting.name} -n {namespace} --previous",
            namespace=namespace, pod=first.name, container=restarting.name, restarted=True,
        )] if c is not None],
    )

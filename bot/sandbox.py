"""The embedded sandbox: a local HTTP server that speaks the Kubernetes REST API and the GitHub
Actions REST API, seeded from a scenario file.

Real clients run against it unchanged: the official `kubernetes` client, an `httpx` GitHub client
and `kubectl` itself (discovery, server-side `Table`s for `kubectl get`, logs, events, Status
errors). It is read-only, like the bot. Timestamps in a scenario are relative to when it is
loaded (`-2h`, `-35m`), so ages and log times look alive.

The Kubernetes API is served at `Sandbox.url`, the GitHub API at `Sandbox.github_url`
(`<url>/github`): one port, two base URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Literal, NamedTuple, Self

import yaml
from aiohttp import web
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, ValidationInfo, field_validator

from bot.errors import ConfigError, NotFoundError, OpsbotError, UsageError
from bot.plumbing.yamlio import load_yaml

__all__ = [
    "Sandbox",
    "Scenario",
    "human_duration",
    "load_scenario",
    "parse_selector",
    "scaled_scenario",
    "serve_forever",
]

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
GITHUB_DOCS = "https://docs.github.com/rest/actions/workflow-runs"

# ---------------------------------------------------------------------------------------------
# Time: relative timestamps in scenario files, and the printing kubectl users know.

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`90s`, `35m`, `1h30m`, `2d` -> timedelta. Raises ValueError on anything else."""
    text = text.strip()
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 35m, 2h, 1d2h)")
    return timedelta(seconds=seconds)


def _now_from(info: ValidationInfo | None) -> datetime:
    context = info.context if info is not None else None
    if isinstance(context, dict) and isinstance(context.get("now"), datetime):
        return context["now"]
    return datetime.now(UTC)


def _resolve_time(value: Any, info: ValidationInfo) -> Any:
    """`-2h` means two hours before the scenario was loaded; `now` is now; absolute times pass."""
    if isinstance(value, str):
        text = value.strip()
        if text == "now":
            return _now_from(info)
        if text[:1] in "-+" and text[1:2].isdigit():
            delta = parse_duration(text[1:])
            return _now_from(info) + (delta if text[0] == "+" else -delta)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


RelTime = Annotated[datetime, BeforeValidator(_resolve_time)]


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_duration(delta: timedelta) -> str:
    """The age format of `kubectl get` (apimachinery's duration.HumanDuration)."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


# ---------------------------------------------------------------------------------------------
# The scenario model (what bot/scenarios/*.yaml contain).


class BackgroundLine(BaseModel):
    """A harmless (or recurring) log line, picked at random by weight. `${ms}`-style placeholders
    are filled per line: ms, slow_ms, ip, req, n, task, user, worker."""

    text: str
    weight: float = Field(1.0, gt=0)


class LogEntry(BaseModel):
    """A line (or a multi-line block such as a traceback) at a given time."""

    at: RelTime
    text: str


class LogSpec(BaseModel):
    lines: int = Field(0, ge=0, description="How many background lines to spread over the window")
    start: RelTime | None = Field(None, description="Window start; unset: when the container started")
    end: RelTime | None = Field(None, description="Window end; unset: now (or when the container died)")
    header: list[str] = Field(default_factory=list, description="Start-up lines, logged at the window start")
    background: list[BackgroundLine] = Field(default_factory=list)
    entries: list[LogEntry] = Field(default_factory=list)

    @field_validator("background", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"text": item} if isinstance(item, str) else item for item in value]
        return value


class ContainerSpec(BaseModel):
    name: str
    image: str
    ports: list[int] = Field(default_factory=list)
    log: LogSpec = Field(default_factory=LogSpec)


class ContainerState(BaseModel):
    """Per-pod state of one container; anything unset takes the healthy default."""

    restarts: int = Field(0, ge=0)
    state: Literal["running", "waiting", "terminated"] = "running"
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    ready: bool | None = None
    started: RelTime | None = None
    last_reason: str | None = None
    last_exit_code: int | None = None
    last_started: RelTime | None = None
    last_finished: RelTime | None = None
    log: LogSpec | None = Field(None, description="Replaces the deployment's log for this container")
    extra: list[LogEntry] = Field(default_factory=list, description="Added to the container's log")
    previous_log: LogSpec | None = None


class PodSpec(BaseModel):
    name: str
    created: RelTime
    node: str = "node-a"
    ip: str | None = None
    containers: dict[str, ContainerState] = Field(default_factory=dict)


class DaprComponentSpec(BaseModel):
    name: str
    type: str = Field(description="pubsub.redis, state.postgresql...")
    version: str = "v1"
    scopes: list[str] = Field(default_factory=list, description="App ids that load it; empty: every app")


class DaprSubscriptionSpec(BaseModel):
    pubsub: str
    topic: str
    route: str
    dead_letter_topic: str | None = None
    kind: Literal["DECLARATIVE", "PROGRAMMATIC"] = "PROGRAMMATIC"


class DeploymentSpec(BaseModel):
    name: str
    namespace: str
    replicas: int = Field(1, ge=0)
    created: RelTime
    revision: int = 1
    template_hash: str = Field(pattern=r"^[a-z0-9]{5,10}$")
    labels: dict[str, str] = Field(default_factory=dict)
    selector: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    replicaset_created: RelTime | None = None
    init_containers: list[ContainerSpec] = Field(default_factory=list)
    containers: list[ContainerSpec] = Field(min_length=1)
    pods: list[PodSpec] = Field(default_factory=list)
    nodes: list[str] = Field(default_factory=lambda: ["node-a", "node-b", "node-c"])
    dapr_subscriptions: list[DaprSubscriptionSpec] = Field(
        default_factory=list, description="What the Dapr sidecar of these pods reports as subscribed"
    )


class EventSpec(BaseModel):
    type: Literal["Normal", "Warning"] = "Warning"
    reason: str
    message: str
    object: str = Field(description="kind/name, e.g. Pod/taskflow-api-7d9f8c6b5-x2kq9")
    namespace: str | None = None
    container: str | None = Field(None, description="Sets involvedObject.fieldPath spec.containers{NAME}")
    component: str = "kubelet"
    count: int = Field(1, ge=1)
    first: RelTime
    last: RelTime | None = None

    @field_validator("object")
    @classmethod
    def _kind_name(cls, value: str) -> str:
        if value.count("/") != 1:
            raise ValueError("must be Kind/name")
        return value


class StepSpec(BaseModel):
    name: str
    conclusion: Literal["success", "failure", "skipped", "cancelled"] | None = "success"
    status: Literal["queued", "in_progress", "completed"] = "completed"
    seconds: float = 5.0


class JobSpec(BaseModel):
    id: int
    name: str
    status: Literal["queued", "in_progress", "completed"] = "completed"
    conclusion: Literal["success", "failure", "skipped", "cancelled"] | None = "success"
    steps: list[StepSpec] = Field(default_factory=list)
    log: str = ""


class RunSpec(BaseModel):
    id: int
    run_number: int
    workflow: str = Field(description="Workflow file name, e.g. deploy.yml")
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$")
    head_branch: str = "main"
    event: str = "push"
    status: Literal["queued", "in_progress", "completed"] = "completed"
    conclusion: Literal["success", "failure", "skipped", "cancelled"] | None = "success"
    title: str = ""
    actor: str = "octocat"
    created: RelTime
    minutes: float = 4.0
    jobs: list[JobSpec] = Field(default_factory=list)


class WorkflowSpec(BaseModel):
    id: int
    name: str
    file: str


class RepoSpec(BaseModel):
    full_name: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    workflows: list[WorkflowSpec] = Field(default_factory=list)
    runs: list[RunSpec] = Field(default_factory=list)


class ServiceHint(BaseModel):
    """How the scenario's services map to repos and workflows (the bot's service catalogue in demo)."""

    namespace: str
    repo: str | None = None
    workflow: str | None = None
    branch: str = "main"
    request_path: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    name: str
    description: str = ""
    loaded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    namespaces: list[str] = Field(default_factory=lambda: ["default"])
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    events: list[EventSpec] = Field(default_factory=list)
    repos: list[RepoSpec] = Field(default_factory=list)
    services: dict[str, ServiceHint] = Field(default_factory=dict)
    dapr_components: list[DaprComponentSpec] = Field(
        default_factory=list, description="The Dapr components of the cluster, as the sidecars load them"
    )


def _validate(data: Any, now: datetime, origin: str) -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(origin, "a scenario file must be a YAML mapping")
    data = {**data, "loaded_at": now}
    try:
        return Scenario.model_validate(data, context={"now": now})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(origin, f"{where}: {first['msg']}") from None


def scenario_names() -> list[str]:
    folder = resources.files("bot").joinpath("scenarios")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str = "taskflow", *, now: datetime | None = None) -> Scenario:
    """A packaged scenario by name (`taskflow`) or a YAML file by path, with relative times resolved."""
    now = now or datetime.now(UTC)
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise NotFoundError(f"scenario file {name_or_path} does not exist")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = resources.files("bot").joinpath("scenarios", f"{name_or_path}.yaml")
        if not resource.is_file():
            known = ", ".join(scenario_names()) or "none"
            raise NotFoundError(f"unknown scenario {name_or_path!r}; known scenarios: {known}")
        text, origin = resource.read_text(encoding="utf-8"), f"bot/scenarios/{name_or_path}.yaml"
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(origin, f"not valid YAML: {exc}".replace("\n", " ")) from None
    return _validate(data, now, origin)


_SCALED_BACKGROUND = [
    {"text": 'INFO:     ${ip}:${n} - "GET /tasks HTTP/1.1" 200 OK ${ms}ms', "weight": 30},
    {"text": "INFO request done error_count=0 duration_ms=${ms}", "weight": 20},
    {"text": 'INFO:     ${ip}:${n} - "GET /health HTTP/1.1" 200 OK', "weight": 15},
    {"text": "INFO GET /errors 200 ${ms}ms", "weight": 4},
    {"text": "DEBUG session checkout pool_size=5 checked_out=${worker} task_id=${task}", "weight": 6},
    {"text": "WARNING slow request GET /tasks took 3.4s (threshold 1s)", "weight": 2},
    {
        "text": "ERROR Exception in ASGI application\nTraceback (most recent call last):\n"
        '  File "/app/src/taskflow/routes/tasks.py", line 42, in list_tasks\n'
        "    tasks = await db.execute(select(Task))\n"
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection "
        "timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)",
        "weight": 1,
    },
    {"text": 'INFO:     ${ip}:${n} - "GET /tasks HTTP/1.1" 500 Internal Server Error', "weight": 1},
]
_SCALED_SIDECAR = [
    {
        "text": 'time="${ts}" level=info msg="HTTP API Called: GET /v1.0/state/taskflow-store" '
        "app_id=taskflow-api instance=${pod} scope=dapr.runtime.http-info type=log ver=1.14.4",
        "weight": 20,
    },
    {
        "text": 'time="${ts}" level=info msg="HTTP API Called: POST /v1.0/publish/taskflow-pubsub/task-created" '
        "app_id=taskflow-api instance=${pod} scope=dapr.runtime.http-info type=log ver=1.14.4",
        "weight": 5,
    },
    {
        "text": 'time="${ts}" level=info msg="HTTP API Called: POST /v1.0/invoke/notification-service/method/api/'
        'remind 404 Not Found" app_id=taskflow-api instance=${pod} scope=dapr.runtime.http-info type=log '
        "ver=1.14.4",
        "weight": 1,
    },
]


def scaled_scenario(pods: int, containers: int, lines: int) -> Scenario:
    """One Deployment `taskflow-api` in `taskflow` with pods x containers x lines of log (the benchmark)."""
    if pods < 1 or containers < 1 or lines < 0:
        raise UsageError("pods and containers must be at least 1 and lines at least 0")
    now = datetime.now(UTC)
    sha = "cd73e1b123ee217c1205809c1d5cb52ffaa90f4e"
    names = ["api", "daprd", *[f"worker-{i}" for i in range(1, containers - 1)]][:containers]
    specs = [
        {
            "name": name,
            "image": "daprio/daprd:1.14.4" if name == "daprd" else f"ghcr.io/acme/taskflow-api:{sha[:7]}",
            "log": {"lines": lines, "background": _SCALED_SIDECAR if name == "daprd" else _SCALED_BACKGROUND},
        }
        for name in names
    ]
    rng = random.Random(f"scaled-{pods}")
    pod_names = [f"taskflow-api-7d9f8c6b5-{_suffix(rng)}" for _ in range(pods)]
    data = {
        "name": f"scaled-{pods}x{containers}x{lines}",
        "namespaces": ["default", "kube-system", "taskflow"],
        "deployments": [
            {
                "name": "taskflow-api",
                "namespace": "taskflow",
                "replicas": pods,
                "created": "-30d",
                "revision": 7,
                "template_hash": "7d9f8c6b5",
                "labels": {"app.kubernetes.io/name": "taskflow-api"},
                "selector": {"app.kubernetes.io/name": "taskflow-api"},
                "annotations": {"opsbot.io/commit": sha},
                "containers": specs,
                "pods": [
                    {
                        "name": name,
                        "created": "-2h",
                        "containers": (
                            {
                                "api": {
                                    "restarts": 3,
                                    "state": "waiting",
                                    "reason": "CrashLoopBackOff",
                                    "ready": False,
                                    "last_reason": "OOMKilled",
                                    "last_exit_code": 137,
                                    "last_started": "-9m",
                                    "last_finished": "-4m",
                                    "previous_log": {"lines": min(lines, 500), "background": _SCALED_BACKGROUND},
                                }
                            }
                            if i == 0
                            else {}
                        ),
                    }
                    for i, name in enumerate(pod_names)
                ],
            }
        ],
        "events": [
            {
                "reason": "BackOff",
                "message": f"Back-off restarting failed container api in pod {pod_names[0]}_taskflow(x)",
                "object": f"Pod/{pod_names[0]}",
                "container": "api",
                "count": 12,
                "first": "-40m",
                "last": "-1m",
            },
            {
                "reason": "Unhealthy",
                "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
                "object": f"Pod/{pod_names[-1]}",
                "container": "api",
                "count": 5,
                "first": "-30m",
                "last": "-2m",
            },
            {
                "type": "Normal",
                "reason": "Pulled",
                "message": f'Container image "ghcr.io/acme/taskflow-api:{sha[:7]}" already present on machine',
                "object": f"Pod/{pod_names[0]}",
                "container": "api",
                "first": "-4m",
            },
        ],
        "repos": [
            {
                "full_name": "acme/taskflow",
                "workflows": [{"id": 71234001, "name": "Deploy taskflow-api", "file": "deploy.yml"}],
                "runs": [
                    {
                        "id": 11872634512,
                        "run_number": 412,
                        "workflow": "deploy.yml",
                        "head_sha": sha,
                        "created": "-3h",
                        "title": "Raise request timeout",
                    },
                ],
            }
        ],
        "services": {"taskflow-api": {"namespace": "taskflow", "repo": "acme/taskflow", "workflow": "deploy.yml"}},
    }
    return _validate(data, now, "scaled_scenario")


_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated names


def _suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(length))


# ---------------------------------------------------------------------------------------------
# Logs: rendered once per container, served by slicing.


class RenderedLog:
    """One container log, sorted by time. The timestamped variant is built on first use, and both
    are lists of lines so that tailLines is a slice and sinceSeconds a bisection."""

    __slots__ = ("_stamped", "lines", "times")

    def __init__(self, entries: list[tuple[float, str]]) -> None:
        entries.sort(key=lambda item: item[0])
        self.times = [ts for ts, _ in entries]
        self.lines = [text for _, text in entries]
        self._stamped: list[str] | None = None

    @property
    def stamped(self) -> list[str]:
        if self._stamped is None:
            seconds: dict[int, str] = {}
            out = []
            for ts, text in zip(self.times, self.lines, strict=True):
                whole = int(ts)
                prefix = seconds.get(whole)
                if prefix is None:
                    prefix = seconds[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
                # kubelet's fixed 9-digit fraction (timeFormatOut in kuberuntime_logs.go)
                out.append(f"{prefix}.{int((ts - whole) * 1e6):06d}000Z {text}")
            self._stamped = out
        return self._stamped

    def text(self, *, tail: int | None, since: float | None, timestamps: bool, limit_bytes: int | None) -> str:
        source = self.stamped if timestamps else self.lines
        start = bisect_left(self.times, since) if since is not None else 0
        if tail is not None:
            start = max(start, len(source) - tail)
        chosen = source[start:]
        body = "\n".join(chosen) + "\n" if chosen else ""
        if limit_bytes is not None:
            body = body.encode()[:limit_bytes].decode(errors="ignore")
        return body


_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _render_log(
    spec: LogSpec,
    *,
    seed: str,
    start: datetime,
    end: datetime,
    pod: str,
    app: str,
    extra: Sequence[LogEntry] = (),
) -> RenderedLog:
    rng = random.Random(seed)
    entries: list[tuple[float, str]] = []
    window_start, window_end = (spec.start or start).timestamp(), (spec.end or end).timestamp()
    for i, line in enumerate(spec.header):
        entries.append((window_start + 0.04 * i, line))
    window_start += 0.04 * len(spec.header) + 0.5
    if spec.lines and spec.background:
        weights = [b.weight for b in spec.background]
        picks = rng.choices(spec.background, weights=weights, k=spec.lines)
        step = max(window_end - window_start, 1.0) / spec.lines
        for i, pick in enumerate(picks):
            at = window_start + i * step + rng.random() * step * 0.9
            text = pick.text
            if "${" in text:
                text = _PLACEHOLDER.sub(lambda m, at=at, i=i: _fill(m.group(1), rng, at, i, pod, app), text)  # type: ignore[misc]
            if "\n" in text:
                for offset, line in enumerate(text.split("\n")):
                    entries.append((at + offset * 0.000137, line))
            else:
                entries.append((at, text))
    for entry in [*spec.entries, *extra]:
        at = entry.at.timestamp()
        for offset, line in enumerate(entry.text.rstrip("\n").split("\n")):
            entries.append((at + offset * 0.000211, line))
    return RenderedLog(entries)


def _fill(name: str, rng: random.Random, at: float, index: int, pod: str, app: str) -> str:
    match name:
        case "ms":
            return str(rng.randint(8, 95))
        case "slow_ms":
            return str(rng.randint(2800, 4100))
        case "ip":
            return f"10.244.{rng.randint(0, 3)}.{rng.randint(2, 250)}"
        case "req":
            return f"{rng.getrandbits(32):08x}"
        case "n":
            return str(rng.randint(30000, 60999))
        case "task":
            return str(rng.randint(1000, 9999))
        case "user":
            return rng.choice(["u-ana", "u-ben", "u-chloe", "u-dev", "u-emre"])
        case "worker":
            return str(rng.randint(1, 40))
        case "ts":
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        case "pod":
            return pod
        case "app":
            return app
        case "line":
            return str(index)
    return "${" + name + "}"


# ---------------------------------------------------------------------------------------------
# The world: Kubernetes objects and GitHub objects built once from a scenario.


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _pod_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.244.{digest[0] % 4}.{2 + digest[1] % 250}"


class _Container:
    """A container of one pod: its status JSON inputs and its rendered logs."""

    def __init__(
        self,
        spec: ContainerSpec,
        state: ContainerState,
        *,
        init: bool,
        pod: str,
        app: str,
        created: datetime,
        now: datetime,
    ) -> None:
        self.spec, self.state, self.init = spec, state, init
        self.started = state.started or (created + timedelta(seconds=4 if init else 9))
        log_spec = state.log or spec.log
        end = self.started + timedelta(seconds=3) if init else now
        self.log = _render_log(
            log_spec,
            seed=f"{pod}/{spec.name}",
            start=self.started,
            end=end - timedelta(seconds=2),
            pod=pod,
            app=app,
            extra=state.extra,
        )
        self.previous: RenderedLog | None = None
        if state.restarts > 0:
            prev_start = state.last_started or (self.started - timedelta(minutes=10))
            prev_end = state.last_finished or (self.started - timedelta(seconds=1))
            self.previous = _render_log(
                state.previous_log or spec.log,
                seed=f"{pod}/{spec.name}/previous",
                start=prev_start,
                end=prev_end,
                pod=pod,
                app=app,
            )


class _DaprPod(NamedTuple):
    """What a pod's Dapr sidecar and app answer through the pod proxy."""

    port: int  # the sidecar's HTTP API
    reachable: bool  # listening beyond localhost (dapr.io/sidecar-listen-addresses)
    app_port: int | None
    metadata: dict[str, Any]  # GET /v1.0/metadata
    subscribe: list[dict[str, Any]]  # the app's GET /dapr/subscribe


def _dapr_pod(scenario: Scenario, dep: DeploymentSpec, containers: dict[str, _Container]) -> _DaprPod:
    """A pod's Dapr sidecar as Dapr 1.14 runs it: its API on localhost only unless the annotation opens
    it, `/v1.0/metadata` in Dapr's shape, and the app's programmatic subscriptions at /dapr/subscribe."""
    notes = dep.pod_annotations
    app_id = notes.get("dapr.io/app-id", dep.name)
    daprd = containers.get("daprd")
    version = (daprd.spec.image.rsplit(":", 1)[-1] if daprd and ":" in daprd.spec.image else "1.14.4")
    metadata = {
        "id": app_id,
        "runtimeVersion": version,
        "enabledFeatures": [],
        "actors": [],
        "components": [
            {"name": c.name, "type": c.type, "version": c.version, "capabilities": []}
            for c in scenario.dapr_components if not c.scopes or app_id in c.scopes
        ],
        "httpEndpoints": [],
        "subscriptions": [
            {"pubsubname": s.pubsub, "topic": s.topic, "deadLetterTopic": s.dead_letter_topic or "", "metadata": {},
             "rules": [{"match": "", "path": s.route}], "type": s.kind}
            for s in dep.dapr_subscriptions
        ],
        "appConnectionProperties": {"port": int(notes.get("dapr.io/app-port", "0") or 0), "protocol": "http",
                                    "channelAddress": "127.0.0.1"},
    }
    subscribe = [
        {"pubsubname": s.pubsub, "topic": s.topic, "route": s.route,
         **({"deadLetterTopic": s.dead_letter_topic} if s.dead_letter_topic else {})}
        for s in dep.dapr_subscriptions if s.kind == "PROGRAMMATIC"
    ]
    listen = [a.strip() for a in notes.get("dapr.io/sidecar-listen-addresses", "").split(",") if a.strip()]
    reachable = any(a not in ("127.0.0.1", "[::1]", "localhost") for a in listen)
    app_port = notes.get("dapr.io/app-port")
    return _DaprPod(int(notes.get("dapr.io/http-port", "3500")), reachable,
                    int(app_port) if app_port and app_port.isdigit() else None, metadata, subscribe)


class _World:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        now = scenario.loaded_at
        self._rv = 1000
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.deployments: list[dict[str, Any]] = []
        self.replicasets: list[dict[str, Any]] = []
        self.pods: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.containers: dict[tuple[str, str], dict[str, _Container]] = {}  # (ns, pod) -> name -> container
        self.dapr: dict[tuple[str, str], _DaprPod] = {}  # (ns, pod) -> its sidecar
        cluster_created = now - timedelta(days=120)
        for ns in dict.fromkeys([*scenario.namespaces, *(d.namespace for d in scenario.deployments)]):
            self.namespaces[ns] = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": self._meta(ns, None, cluster_created, labels={"kubernetes.io/metadata.name": ns}),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        for dep in scenario.deployments:
            self._add_deployment(dep, now)
        for event in scenario.events:
            self._add_event(event)
        self.github = _GitHubWorld(scenario)

    def _meta(self, name: str, namespace: str | None, created: datetime, **extra: Any) -> dict[str, Any]:
        self._rv += 1
        meta: dict[str, Any] = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta["uid"] = _uid(namespace or "", name)
        meta["resourceVersion"] = str(self._rv)
        meta["creationTimestamp"] = rfc3339(created)
        meta.update({k: v for k, v in extra.items() if v})
        return meta

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def _add_deployment(self, dep: DeploymentSpec, now: datetime) -> None:
        ns = dep.namespace
        rs_name = f"{dep.name}-{dep.template_hash}"
        template_labels = {**dep.selector, **dep.labels}
        pod_labels = {**template_labels, "pod-template-hash": dep.template_hash}
        rng = random.Random(rs_name)
        pod_specs = list(dep.pods)
        while len(pod_specs) < dep.replicas:
            pod_specs.append(
                PodSpec(
                    name=f"{rs_name}-{_suffix(rng)}",
                    created=dep.replicaset_created or dep.created,
                    node=dep.nodes[len(pod_specs) % len(dep.nodes)],
                )
            )

        def container_json(c: ContainerSpec) -> dict[str, Any]:
            body: dict[str, Any] = {
                "name": c.name,
                "image": c.image,
                "imagePullPolicy": "IfNotPresent",
                "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m"}},
            }
            if c.ports:
                body["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in c.ports]
            body["terminationMessagePath"] = "/dev/termination-log"
            return body

        pod_template_spec = {
            "containers": [container_json(c) for c in dep.containers],
            "restartPolicy": "Always",
            "serviceAccountName": dep.name,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
        }
        if dep.init_containers:
            pod_template_spec["initContainers"] = [container_json(c) for c in dep.init_containers]
        template: dict[str, Any] = {
            "metadata": {"labels": template_labels, "annotations": dep.pod_annotations or None},
            "spec": pod_template_spec,
        }
        if not dep.pod_annotations:
            del template["metadata"]["annotations"]
        dep_uid = _uid(ns, "deployment", dep.name)
        rs_uid = _uid(ns, "replicaset", rs_name)

        pods = [self._pod(dep, p, rs_name, rs_uid, pod_labels, pod_template_spec, now) for p in pod_specs]
        ready = sum(1 for p in pods if _condition(p, "Ready"))
        rs_created = dep.replicaset_created or dep.created
        revision = {"deployment.kubernetes.io/revision": str(dep.revision)}
        rs_meta = self._meta(
            rs_name,
            ns,
            rs_created,
            labels=pod_labels,
            annotations={
                **revision,
                "deployment.kubernetes.io/desired-replicas": str(dep.replicas),
                "deployment.kubernetes.io/max-replicas": str(dep.replicas + 1),
            },
        )
        rs_meta["uid"] = rs_uid
        rs_meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": dep.name,
                "uid": dep_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        self.replicasets.append(
            {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": rs_meta,
                "spec": {
                    "replicas": dep.replicas,
                    "selector": {"matchLabels": {**dep.selector, "pod-template-hash": dep.template_hash}},
                    "template": {**template, "metadata": {**template["metadata"], "labels": pod_labels}},
                },
                "status": {
                    "replicas": len(pods),
                    "fullyLabeledReplicas": len(pods),
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "observedGeneration": 1,
                },
            }
        )
        dep_meta = self._meta(dep.name, ns, dep.created, labels=dep.labels, annotations={**revision, **dep.annotations})
        dep_meta["uid"] = dep_uid
        dep_meta["generation"] = dep.revision
        # the Deployment controller's rule with the default maxUnavailable of 25%, rounded down
        available = ready >= dep.replicas - dep.replicas // 4
        self.deployments.append(
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": dep_meta,
                "spec": {
                    "replicas": dep.replicas,
                    "selector": {"matchLabels": dep.selector},
                    "template": template,
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                    },
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
                "status": {
                    "observedGeneration": dep.revision,
                    "replicas": len(pods),
                    "updatedReplicas": len(pods),
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "unavailableReplicas": len(pods) - ready,
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True" if available else "False",
                            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                            "message": "Deployment has minimum availability."
                            if available
                            else "Deployment does not have minimum availability.",
                            "lastUpdateTime": rfc3339(rs_created),
                            "lastTransitionTime": rfc3339(rs_created),
                        },
                        {
                            "type": "Progressing",
                            "status": "True",
                            "reason": "NewReplicaSetAvailable",
                            "message": f'ReplicaSet "{rs_name}" has successfully progressed.',
                            "lastUpdateTime": rfc3339(rs_created),
                            "lastTransitionTime": rfc3339(dep.created),
                        },
                    ],
                },
            }
        )
        self.pods.extend(pods)

    def _pod(
        self,
        dep: DeploymentSpec,
        spec: PodSpec,
        rs_name: str,
        rs_uid: str,
        labels: dict[str, str],
        pod_spec: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        ns = dep.namespace
        known = {c.name for c in [*dep.containers, *dep.init_containers]}
        unknown = set(spec.containers) - known
        if unknown:
            raise ConfigError(
                f"deployments.{dep.name}.pods.{spec.name}",
                f"unknown container(s) {sorted(unknown)}; the deployment has {sorted(known)}",
            )
        built: dict[str, _Container] = {}
        for c in dep.init_containers:
            built[c.name] = _Container(
                c,
                spec.containers.get(c.name, ContainerState(state="terminated")),
                init=True,
                pod=spec.name,
                app=dep.name,
                created=spec.created,
                now=now,
            )
        for c in dep.containers:
            built[c.name] = _Container(
                c,
                spec.containers.get(c.name, ContainerState()),
                init=False,
                pod=spec.name,
                app=dep.name,
                created=spec.created,
                now=now,
            )
        self.containers[(ns, spec.name)] = built
        if str(dep.pod_annotations.get("dapr.io/enabled", "")).lower() == "true":
            self.dapr[(ns, spec.name)] = _dapr_pod(self.scenario, dep, built)
        statuses = [_container_status(c, spec.name) for c in built.values() if not c.init]
        init_statuses = [_container_status(c, spec.name) for c in built.values() if c.init]
        all_ready = all(s["ready"] for s in statuses)
        scheduled = rfc3339(spec.created)
        ready_since = rfc3339(max(c.started for c in built.values()) + timedelta(seconds=5))
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": scheduled},
            {"type": "Initialized", "status": "True", "lastTransitionTime": scheduled},
            {"type": "Ready", "status": "True" if all_ready else "False", "lastTransitionTime": ready_since},
            {"type": "ContainersReady", "status": "True" if all_ready else "False", "lastTransitionTime": ready_since},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled},
        ]
        if not all_ready:
            waiting = [s["name"] for s in statuses if not s["ready"]]
            for cond in conditions[2:4]:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{' '.join(waiting)}]"
        meta = self._meta(
            spec.name, ns, spec.created, labels=labels, annotations=dep.pod_annotations, generateName=f"{rs_name}-"
        )
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs_name,
                "uid": rs_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        ip = spec.ip or _pod_ip(spec.name)
        status: dict[str, Any] = {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": _pod_ip(spec.node),
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": scheduled,
            "qosClass": "Burstable",
            "containerStatuses": statuses,
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": {**pod_spec, "nodeName": spec.node, "schedulerName": "default-scheduler"},
            "status": status,
        }

    def _add_event(self, spec: EventSpec) -> None:
        kind, name = spec.object.split("/")
        ns = spec.namespace or self._namespace_of(kind, name) or "default"
        api_version = "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1"
        involved: dict[str, Any] = {
            "kind": kind,
            "namespace": ns,
            "name": name,
            "uid": self._uid_of(kind, ns, name),
            "apiVersion": api_version,
        }
        if spec.container:
            involved["fieldPath"] = f"spec.containers{{{spec.container}}}"
        last = spec.last or spec.first
        node = self._node_of(ns, name) if kind == "Pod" else None
        source = {"component": spec.component, **({"host": node} if node and spec.component == "kubelet" else {})}
        digest = hashlib.sha256(f"{spec.object}/{spec.reason}/{spec.message}".encode()).hexdigest()[:16]
        self.events.append(
            {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": self._meta(f"{name}.{digest}", ns, spec.first),
                "involvedObject": involved,
                "reason": spec.reason,
                "message": spec.message,
                "source": source,
                "firstTimestamp": rfc3339(spec.first),
                "lastTimestamp": rfc3339(last),
                "count": spec.count,
                "type": spec.type,
                "eventTime": None,
                "reportingComponent": spec.component,
                "reportingInstance": node or "",
            }
        )
        self.events.sort(key=lambda e: e["lastTimestamp"])

    def _find(self, kind: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
        pool = {"Pod": self.pods, "Deployment": self.deployments, "ReplicaSet": self.replicasets}.get(kind, [])
        return next(
            (o for o in pool if o["metadata"]["name"] == name and (ns is None or o["metadata"]["namespace"] == ns)),
            None,
        )

    def _namespace_of(self, kind: str, name: str) -> str | None:
        found = self._find(kind, name)
        return found["metadata"]["namespace"] if found else None

    def _uid_of(self, kind: str, ns: str, name: str) -> str:
        found = self._find(kind, name, ns)
        return found["metadata"]["uid"] if found else _uid(ns, kind.lower(), name)

    def _node_of(self, ns: str, name: str) -> str | None:
        found = self._find("Pod", name, ns)
        return found["spec"]["nodeName"] if found else None

    def resources(self, group: str, resource: str) -> list[dict[str, Any]] | None:
        return {
            ("", "pods"): self.pods,
            ("", "events"): self.events,
            ("", "namespaces"): list(self.namespaces.values()),
            ("apps", "deployments"): self.deployments,
            ("apps", "replicasets"): self.replicasets,
        }.get((group, resource))


def _condition(pod: dict[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in pod["status"]["conditions"])


def _container_status(c: _Container, pod: str) -> dict[str, Any]:
    s, started = c.state, rfc3339(c.started)
    container_id = "containerd://" + hashlib.sha256(f"{c.spec.name}{started}".encode()).hexdigest()
    state: dict[str, Any]
    if c.init or s.state == "terminated":
        code = s.exit_code if s.exit_code is not None else 0
        state = {
            "terminated": {
                "exitCode": code,
                "reason": s.reason or ("Completed" if code == 0 else "Error"),
                "startedAt": started,
                "finishedAt": rfc3339(c.started + timedelta(seconds=3)),
                "containerID": container_id,
            }
        }
    elif s.state == "waiting":
        waiting: dict[str, Any] = {"reason": s.reason or "ContainerCreating"}
        if s.message or waiting["reason"] == "CrashLoopBackOff":
            waiting["message"] = s.message or (f"back-off 2m40s restarting failed container={c.spec.name} pod={pod}")
        state = {"waiting": waiting}
    else:
        state = {"running": {"startedAt": started}}
    last: dict[str, Any] = {}
    if s.restarts and (s.last_reason or s.last_finished):
        last = {
            "terminated": {
                "exitCode": s.last_exit_code if s.last_exit_code is not None else 1,
                "reason": s.last_reason or "Error",
                "startedAt": rfc3339(s.last_started or c.started - timedelta(minutes=10)),
                "finishedAt": rfc3339(s.last_finished or c.started - timedelta(seconds=1)),
                "containerID": container_id[:-8] + "deadbeef",
            }
        }
    ready = s.ready if s.ready is not None else ("running" in state)
    if c.init:
        ready = True
    digest = hashlib.sha256(c.spec.image.encode()).hexdigest()
    image_ref = c.spec.image.split(":")[0]
    body: dict[str, Any] = {
        "name": c.spec.name,
        "state": state,
        "lastState": last,
        "ready": ready,
        "restartCount": s.restarts,
        "image": c.spec.image,
        "imageID": f"{image_ref}@sha256:{digest}",
        "started": "running" in state and not c.init,
    }
    if "waiting" not in state:
        body["containerID"] = container_id
    return body


# ---------------------------------------------------------------------------------------------
# GitHub


class _GitHubWorld:
    def __init__(self, scenario: Scenario) -> None:
        self.repos: dict[str, RepoSpec] = {r.full_name.lower(): r for r in scenario.repos}
        self.jobs: dict[tuple[str, int], tuple[RunSpec, JobSpec]] = {}
        for repo in scenario.repos:
            for run in repo.runs:
                for job in run.jobs:
                    self.jobs[(repo.full_name.lower(), job.id)] = (run, job)

    def workflow(self, repo: RepoSpec, key: str) -> WorkflowSpec | None:
        return next((w for w in repo.workflows if str(w.id) == key or w.file == key), None)

    def run_json(self, repo: RepoSpec, run: RunSpec, base: str) -> dict[str, Any]:
        wf = self.workflow(repo, run.workflow)
        updated = run.created + timedelta(minutes=run.minutes)
        api = f"{base}/repos/{repo.full_name}/actions/runs/{run.id}"
        return {
            "id": run.id,
            "name": wf.name if wf else run.workflow,
            "node_id": f"WFR_{run.id:x}",
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": f".github/workflows/{run.workflow}",
            "display_title": run.title or run.workflow,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion if run.status == "completed" else None,
            "workflow_id": wf.id if wf else 0,
            "url": api,
            "html_url": f"https://github.com/{repo.full_name}/actions/runs/{run.id}",
            "created_at": rfc3339(run.created),
            "updated_at": rfc3339(updated),
            "run_started_at": rfc3339(run.created),
            "run_attempt": 1,
            "actor": {"login": run.actor, "type": "User"},
            "triggering_actor": {"login": run.actor, "type": "User"},
            "jobs_url": f"{api}/jobs",
            "logs_url": f"{api}/logs",
            "workflow_url": f"{base}/repos/{repo.full_name}/actions/workflows/{wf.id if wf else 0}",
            "head_commit": {
                "id": run.head_sha,
                "tree_id": hashlib.sha1(run.head_sha.encode()).hexdigest(),
                "message": run.title,
                "timestamp": rfc3339(run.created - timedelta(minutes=1)),
                "author": {"name": run.actor, "email": f"{run.actor}@users.noreply.github.com"},
            },
            "repository": {
                "full_name": repo.full_name,
                "name": repo.full_name.split("/")[1],
                "html_url": f"https://github.com/{repo.full_name}",
            },
        }

    def job_json(self, repo: RepoSpec, run: RunSpec, job: JobSpec, base: str) -> dict[str, Any]:
        started = run.created + timedelta(seconds=8)
        steps, at = [], started
        for number, step in enumerate(job.steps, start=1):
            done = at + timedelta(seconds=step.seconds)
            steps.append(
                {
                    "name": step.name,
                    "status": step.status,
                    "conclusion": step.conclusion,
                    "number": number,
                    "started_at": rfc3339(at),
                    "completed_at": rfc3339(done) if step.status == "completed" else None,
                }
            )
            at = done
        return {
            "id": job.id,
            "run_id": run.id,
            "workflow_name": self.run_json(repo, run, base)["name"],
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "run_attempt": 1,
            "url": f"{base}/repos/{repo.full_name}/actions/jobs/{job.id}",
            "run_url": f"{base}/repos/{repo.full_name}/actions/runs/{run.id}",
            "html_url": f"https://github.com/{repo.full_name}/actions/runs/{run.id}/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion if job.status == "completed" else None,
            "created_at": rfc3339(run.created),
            "started_at": rfc3339(started),
            "completed_at": rfc3339(at) if job.status == "completed" else None,
            "name": job.name,
            "steps": steps,
            "labels": ["ubuntu-latest"],
            "runner_name": "GitHub Actions 12",
            "runner_group_name": "GitHub Actions",
        }


# ---------------------------------------------------------------------------------------------
# Selectors


_SET_EXPR = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


Matcher = Callable[[Callable[[str], str | None]], bool]


def parse_selector(text: str, *, field: bool = False) -> list[Matcher]:
    """Label selectors (`a=b,c!=d,k in (x,y),k notin (z),k,!k`) and field selectors (`a=b,c!=d`).
    Each matcher takes a lookup function key -> value (None when absent). ValueError when malformed."""
    matchers: list[Matcher] = []
    for part in _split_selector(text):
        set_match = _SET_EXPR.match(part)
        if set_match and not field:
            key, op, raw = set_match.groups()
            values = {v.strip() for v in raw.split(",") if v.strip()}
            if op == "in":
                matchers.append(lambda get, k=key, vs=values: get(k) in vs)  # type: ignore[misc]
            else:
                matchers.append(lambda get, k=key, vs=values: get(k) not in vs)  # type: ignore[misc]
            continue
        eq = re.fullmatch(r"([\w./-]+)\s*(==|!=|=)\s*([\w./:-]*)", part)
        if eq:
            key, op, value = eq.groups()
            if op == "!=":
                matchers.append(lambda get, k=key, v=value: (get(k) or "") != v if field else get(k) != v)  # type: ignore[misc]
            else:
                matchers.append(lambda get, k=key, v=value: (get(k) or "") == v if field else get(k) == v)  # type: ignore[misc]
            continue
        exists = re.fullmatch(r"(!?)([\w./-]+)", part)
        if exists and not field:
            negate, key = exists.groups()
            matchers.append(lambda get, k=key, n=bool(negate): (get(k) is None) == n)  # type: ignore[misc]
            continue
        raise ValueError(f"unable to parse requirement: {part!r}")
    return matchers


def _field_lookup(obj: dict[str, Any]) -> Callable[[str], str | None]:
    def get(path: str) -> str | None:
        value: Any = obj
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return None if value is None else str(value)

    return get


# ---------------------------------------------------------------------------------------------
# Tables (what `kubectl get` prints: the server renders rows, kubectl only aligns them)


def _column(name: str, description: str = "", *, priority: int = 0, type_: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": "name" if name == "Name" else "",
        "description": description,
        "priority": priority,
    }


def _since(ts: str | None, now: datetime) -> str:
    if not ts:
        return "<unknown>"
    return human_duration(now - datetime.fromisoformat(ts.replace("Z", "+00:00")))


def _pod_row(pod: dict[str, Any], now: datetime) -> list[Any]:
    status = pod["status"]
    reason = status.get("reason") or status.get("phase", "Unknown")
    restarts, ready, has_running = 0, 0, False
    last_restart: str | None = None
    statuses = status.get("containerStatuses", [])
    for cs in reversed(statuses):
        restarts += cs.get("restartCount", 0)
        finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif cs.get("ready") and "running" in state:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if _condition(pod, "Ready") else "NotReady"
    restarts_cell = f"{restarts} ({_since(last_restart, now)} ago)" if last_restart else str(restarts)
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(statuses)}",
        reason,
        restarts_cell,
        _since(pod["metadata"]["creationTimestamp"], now),
        status.get("podIP", "<none>"),
        pod["spec"].get("nodeName", "<none>"),
        "<none>",
        "<none>",
    ]


def _images(template_spec: dict[str, Any]) -> tuple[str, str]:
    containers = template_spec.get("containers", [])
    return ",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers)


def _selector_text(selector: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.get("matchLabels", {}).items())


def _table(resource: str, objects: list[dict[str, Any]], now: datetime, include: str, rv: str) -> dict[str, Any]:
    columns: list[dict[str, Any]]
    rows: list[list[Any]] = []
    if resource == "pods":
        columns = [
            _column("Name"),
            _column("Ready"),
            _column("Status"),
            _column("Restarts"),
            _column("Age"),
            _column("IP", priority=1),
            _column("Node", priority=1),
            _column("Nominated Node", priority=1),
            _column("Readiness Gates", priority=1),
        ]
        rows = [_pod_row(o, now) for o in objects]
    elif resource == "deployments":
        columns = [
            _column("Name"),
            _column("Ready"),
            _column("Up-to-date", type_="integer"),
            _column("Available", type_="integer"),
            _column("Age"),
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ]
        for o in objects:
            st = o["status"]
            names, images = _images(o["spec"]["template"]["spec"])
            rows.append(
                [
                    o["metadata"]["name"],
                    f"{st.get('readyReplicas', 0)}/{o['spec']['replicas']}",
                    st.get("updatedReplicas", 0),
                    st.get("availableReplicas", 0),
                    _since(o["metadata"]["creationTimestamp"], now),
                    names,
                    images,
                    _selector_text(o["spec"]["selector"]),
                ]
            )
    elif resource == "replicasets":
        columns = [
            _column("Name"),
            _column("Desired", type_="integer"),
            _column("Current", type_="integer"),
            _column("Ready", type_="integer"),
            _column("Age"),
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ]
        for o in objects:
            names, images = _images(o["spec"]["template"]["spec"])
            rows.append(
                [
                    o["metadata"]["name"],
                    o["spec"]["replicas"],
                    o["status"]["replicas"],
                    o["status"].get("readyReplicas", 0),
                    _since(o["metadata"]["creationTimestamp"], now),
                    names,
                    images,
                    _selector_text(o["spec"]["selector"]),
                ]
            )
    elif resource == "events":
        columns = [
            _column("Last Seen"),
            _column("Type"),
            _column("Reason"),
            _column("Object"),
            _column("Subobject", priority=1),
            _column("Source", priority=1),
            _column("Message"),
            _column("First Seen", priority=1),
            _column("Count", priority=1),
            _column("Name", priority=1),
        ]
        for o in objects:
            inv, src = o["involvedObject"], o["source"]
            source = ", ".join(v for v in (src.get("component"), src.get("host")) if v)
            rows.append(
                [
                    _since(o["lastTimestamp"], now),
                    o["type"],
                    o["reason"],
                    f"{inv['kind'].lower()}/{inv['name']}",
                    inv.get("fieldPath", ""),
                    source,
                    o["message"].strip(),
                    _since(o["firstTimestamp"], now),
                    o["count"],
                    o["metadata"]["name"],
                ]
            )
    elif resource == "namespaces":
        columns = [_column("Name"), _column("Status"), _column("Age")]
        rows = [
            [o["metadata"]["name"], o["status"]["phase"], _since(o["metadata"]["creationTimestamp"], now)]
            for o in objects
        ]
    else:
        columns = [_column("Name"), _column("Created At", type_="date")]
        rows = [[o["metadata"]["name"], o["metadata"]["creationTimestamp"]] for o in objects]
    table_rows = []
    for cells, obj in zip(rows, objects, strict=True):
        row: dict[str, Any] = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        table_rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": table_rows,
    }


# ---------------------------------------------------------------------------------------------
# Discovery

_RESOURCES: dict[str, list[dict[str, Any]]] = {
    "v1": [
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "shortNames": ["ns"],
        },
        {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "shortNames": ["po"],
            "categories": ["all"],
        },
        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "shortNames": ["ev"]},
    ],
    "apps/v1": [
        {
            "name": "deployments",
            "singularName": "deployment",
            "namespaced": True,
            "kind": "Deployment",
            "shortNames": ["deploy"],
            "categories": ["all"],
        },
        {
            "name": "replicasets",
            "singularName": "replicaset",
            "namespaced": True,
            "kind": "ReplicaSet",
            "shortNames": ["rs"],
            "categories": ["all"],
        },
    ],
}
_KINDS = {
    "pods": "Pod",
    "events": "Event",
    "namespaces": "Namespace",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
}


def _resource_list(group_version: str) -> dict[str, Any]:
    resources_ = [{"verbs": ["get", "list"], **r} for r in _RESOURCES[group_version]]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources_}


# ---------------------------------------------------------------------------------------------
# HTTP


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def _not_found(resource: str, name: str, group: str = "") -> web.Response:
    qualified = f"{resource}.{group}" if group else resource
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return _status(404, "NotFound", f'{qualified} "{name}" not found', details)


def _bad_request(message: str) -> web.Response:
    return _status(400, "BadRequest", message)


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"invalid value for {name}: {raw!r}",
                    "reason": "BadRequest",
                    "code": 400,
                }
            ),
            content_type="application/json",
        ) from None


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


class _Api:
    """aiohttp handlers over a _World."""

    def __init__(self, world: _World) -> None:
        self.world = world
        self.closing = asyncio.Event()  # set on stop, so open watches end at once

    # -- discovery ---------------------------------------------------------------------------
    async def version(self, request: web.Request) -> web.Response:
        return web.json_response(KUBERNETES_VERSION)

    async def api(self, request: web.Request) -> web.Response:
        host = request.host
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        )

    async def api_v1(self, request: web.Request) -> web.Response:
        return web.json_response(_resource_list("v1"))

    async def apis(self, request: web.Request) -> web.Response:
        version = {"groupVersion": "apps/v1", "version": "v1"}
        return web.json_response(
            {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [{"name": "apps", "versions": [version], "preferredVersion": version}],
            }
        )

    async def apis_apps(self, request: web.Request) -> web.Response:
        version = {"groupVersion": "apps/v1", "version": "v1"}
        return web.json_response(
            {"kind": "APIGroup", "apiVersion": "v1", "name": "apps", "versions": [version], "preferredVersion": version}
        )

    async def apis_apps_v1(self, request: web.Request) -> web.Response:
        return web.json_response(_resource_list("apps/v1"))

    # -- objects -----------------------------------------------------------------------------
    def _select(self, request: web.Request, objects: list[dict[str, Any]]) -> list[dict[str, Any]] | web.Response:
        label_text, field_text = request.query.get("labelSelector", ""), request.query.get("fieldSelector", "")
        try:
            labels = parse_selector(label_text)
            fields = parse_selector(field_text, field=True)
        except ValueError as exc:
            return _bad_request(f"unable to parse requirement: {exc}")
        chosen = []
        for obj in objects:
            obj_labels = obj["metadata"].get("labels", {})
            if not all(m(obj_labels.get) for m in labels):
                continue
            if fields and not all(m(_field_lookup(obj)) for m in fields):
                continue
            chosen.append(obj)
        return chosen

    def _respond(
        self, request: web.Request, resource: str, group: str, objects: list[dict[str, Any]], *, single: bool
    ) -> web.Response:
        now = datetime.now(UTC)
        if _wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            return web.json_response(_table(resource, objects, now, include, self.world.resource_version))
        if single:
            return web.json_response(objects[0])
        return web.json_response(
            {
                "kind": f"{_KINDS[resource]}List",
                "apiVersion": f"{group}/v1" if group else "v1",
                "metadata": {"resourceVersion": self.world.resource_version},
                "items": [_strip(o) for o in objects],
            }
        )

    async def collection(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch", "").lower() in ("1", "true"):
            return await self.watch(request)
        group = request.match_info.get("group", "")
        resource = request.match_info["resource"]
        ns = request.match_info.get("namespace")
        objects = self.world.resources(group, resource)
        if objects is None or (ns is not None and resource == "namespaces"):
            return await self.unknown(request)
        if ns is not None:
            objects = [o for o in objects if o["metadata"].get("namespace") == ns]
        selected = self._select(request, objects)
        if isinstance(selected, web.Response):
            return selected
        return self._respond(request, resource, group, selected, single=False)

    async def watch(self, request: web.Request) -> web.StreamResponse:
        """The world never changes, so a watch is an open stream without events until it times out."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        timeout = _int_param(request, "timeoutSeconds") or 1800
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=min(timeout, 1800))
        return response

    async def item(self, request: web.Request) -> web.Response:
        group = request.match_info.get("group", "")
        resource = request.match_info["resource"]
        ns = request.match_info.get("namespace")
        name = request.match_info["name"]
        objects = self.world.resources(group, resource)
        if objects is None or (ns is not None and resource == "namespaces"):
            return await self.unknown(request)
        found = [o for o in objects if o["metadata"]["name"] == name and o["metadata"].get("namespace") == ns]
        if not found:
            return _not_found(resource, name, group)
        return self._respond(request, resource, group, found, single=True)

    async def namespace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        found = self.world.namespaces.get(name)
        if found is None:
            return _not_found("namespaces", name)
        return self._respond(request, "namespaces", "", [found], single=True)

    async def pod_log(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        containers = self.world.containers.get((ns, name))
        if containers is None:
            return _not_found("pods", name)
        container = request.query.get("container")
        app = [n for n, c in containers.items() if not c.init]
        init = [n for n, c in containers.items() if c.init]
        if not container:
            if len(app) == 1 and not init:
                container = app[0]
            else:
                message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(app)}]"
                if init:
                    message += f" or one of the init containers: [{' '.join(init)}]"
                return _bad_request(message)
        chosen = containers.get(container)
        if chosen is None:
            return _bad_request(f"container {container} is not valid for pod {name}")
        previous = request.query.get("previous", "false").lower() in ("true", "1")
        log = chosen.log
        if previous:
            if chosen.previous is None:
                return _bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            log = chosen.previous
        elif chosen.state.state == "waiting" and chosen.state.reason in ("ContainerCreating", "PodInitializing"):
            return _bad_request(f'container "{container}" in pod "{name}" is waiting to start: {chosen.state.reason}')
        tail = _int_param(request, "tailLines")
        since_seconds = _int_param(request, "sinceSeconds")
        since: float | None = None
        if since_seconds is not None:
            since = datetime.now(UTC).timestamp() - since_seconds
        elif request.query.get("sinceTime"):
            try:
                since = datetime.fromisoformat(request.query["sinceTime"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                return _bad_request(f"invalid sinceTime: {request.query['sinceTime']!r}")
        timestamps = request.query.get("timestamps", "false").lower() in ("true", "1")
        body = log.text(tail=tail, since=since, timestamps=timestamps, limit_bytes=_int_param(request, "limitBytes"))
        return web.Response(text=body, content_type="text/plain")

    async def pod_proxy(self, request: web.Request) -> web.Response:
        """GET pods/NAME[:PORT]/proxy/PATH: what answers is a Dapr pod's sidecar (its metadata and
        health, when its API listens beyond localhost) and its app's /dapr/subscribe."""
        ns, target, path = request.match_info["namespace"], request.match_info["name"], request.match_info["path"]
        name, _, port_text = target.partition(":")
        containers = self.world.containers.get((ns, name))
        if containers is None:
            return _not_found("pods", name)
        dapr = self.world.dapr.get((ns, name))
        port = int(port_text) if port_text.isdigit() else None

        def running(names: Iterable[str]) -> bool:
            return any(c.state.state == "running" for n, c in containers.items() if n in names and not c.init)

        if dapr is not None and port == dapr.port and dapr.reachable and running(["daprd"]):
            if path == "v1.0/metadata":
                return web.json_response(dapr.metadata)
            if path == "v1.0/healthz":
                return web.Response(status=204)
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        if dapr is not None and port == dapr.app_port and running(n for n in containers if n != "daprd"):
            if path == "dapr/subscribe":
                return web.json_response(dapr.subscribe)
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        where = f"{name}:{port_text}" if port_text else name
        return _status(503, "ServiceUnavailable",
                       f"error trying to reach service: dial tcp {where}: connect: connection refused", {})

    async def unknown(self, request: web.Request) -> web.Response:
        return _status(404, "NotFound", "the server could not find the requested resource", {})

    # -- GitHub --------------------------------------------------------------------------------
    def _gh_base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}/github"

    def _repo(self, request: web.Request) -> RepoSpec | None:
        key = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        return self.world.github.repos.get(key)

    async def gh_runs(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return _gh_not_found()
        runs = repo.runs
        workflow_key = request.match_info.get("workflow")
        if workflow_key is not None:
            wf = self.world.github.workflow(repo, workflow_key)
            if wf is None:
                return _gh_not_found("actions/workflows#get-a-workflow")
            runs = [r for r in runs if r.workflow == wf.file]
        q = request.query
        if q.get("branch"):
            runs = [r for r in runs if r.head_branch == q["branch"]]
        if q.get("event"):
            runs = [r for r in runs if r.event == q["event"]]
        if q.get("head_sha"):
            runs = [r for r in runs if r.head_sha == q["head_sha"]]
        if q.get("status"):
            runs = [r for r in runs if q["status"] in (r.status, r.conclusion)]
        runs = sorted(runs, key=lambda r: r.created, reverse=True)
        try:
            per_page = max(1, min(int(q.get("per_page", 30)), 100))
            page = max(1, int(q.get("page", 1)))
        except ValueError:
            return web.json_response({"message": "Invalid request.", "documentation_url": GITHUB_DOCS}, status=422)
        chosen = runs[(page - 1) * per_page : page * per_page]
        base = self._gh_base(request)
        return web.json_response(
            {"total_count": len(runs), "workflow_runs": [self.world.github.run_json(repo, r, base) for r in chosen]}
        )

    def _run(self, repo: RepoSpec, raw: str) -> RunSpec | None:
        return next((r for r in repo.runs if str(r.id) == raw), None)

    async def gh_run(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        run = self._run(repo, request.match_info["run_id"]) if repo else None
        if repo is None or run is None:
            return _gh_not_found("actions/workflow-runs#get-a-workflow-run")
        return web.json_response(self.world.github.run_json(repo, run, self._gh_base(request)))

    async def gh_jobs(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        run = self._run(repo, request.match_info["run_id"]) if repo else None
        if repo is None or run is None:
            return _gh_not_found("actions/workflow-jobs#list-jobs-for-a-workflow-run")
        base = self._gh_base(request)
        return web.json_response(
            {"total_count": len(run.jobs), "jobs": [self.world.github.job_json(repo, run, j, base) for j in run.jobs]}
        )

    def _job(self, request: web.Request) -> tuple[RepoSpec, RunSpec, JobSpec] | None:
        repo = self._repo(request)
        if repo is None:
            return None
        try:
            found = self.world.github.jobs.get((repo.full_name.lower(), int(request.match_info["job_id"])))
        except ValueError:
            return None
        return (repo, *found) if found else None

    async def gh_job(self, request: web.Request) -> web.Response:
        found = self._job(request)
        if found is None:
            return _gh_not_found("actions/workflow-jobs#get-a-job-for-a-workflow-run")
        return web.json_response(self.world.github.job_json(*found, self._gh_base(request)))

    async def gh_job_logs(self, request: web.Request) -> web.Response:
        # api.github.com answers 302 with a short-lived blob URL; clients must follow it
        found = self._job(request)
        if found is None:
            return _gh_not_found("actions/workflow-jobs#download-job-logs-for-a-workflow-run")
        repo, _, job = found
        raise web.HTTPFound(f"{self._gh_base(request)}/_blobs/{repo.full_name}/jobs/{job.id}/log")

    async def gh_blob(self, request: web.Request) -> web.Response:
        found = self._job(request)
        if found is None:
            return web.Response(status=404, text="BlobNotFound")
        _, run, job = found
        return web.Response(text=_job_log_text(run, job), content_type="text/plain")

    async def gh_repo(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return _gh_not_found("repos/repos#get-a-repository")
        owner, name = repo.full_name.split("/")
        return web.json_response(
            {
                "id": int(hashlib.sha256(repo.full_name.encode()).hexdigest()[:8], 16),
                "name": name,
                "full_name": repo.full_name,
                "owner": {"login": owner},
                "private": True,
                "html_url": f"https://github.com/{repo.full_name}",
                "default_branch": "main",
            }
        )

    async def gh_workflows(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return _gh_not_found()
        return web.json_response(
            {
                "total_count": len(repo.workflows),
                "workflows": [
                    {
                        "id": w.id,
                        "name": w.name,
                        "path": f".github/workflows/{w.file}",
                        "state": "active",
                        "html_url": f"https://github.com/{repo.full_name}/actions/workflows/{w.file}",
                    }
                    for w in repo.workflows
                ],
            }
        )

    async def gh_rate_limit(self, request: web.Request) -> web.Response:
        core = {"limit": 5000, "used": 1, "remaining": 4999, "reset": int(datetime.now(UTC).timestamp()) + 3600}
        return web.json_response({"resources": {"core": core}, "rate": core})

    async def gh_unknown(self, request: web.Request) -> web.Response:
        return _gh_not_found("")


def _gh_not_found(doc: str = "actions/workflow-runs#list-workflow-runs-for-a-repository") -> web.Response:
    return web.json_response(
        {"message": "Not Found", "documentation_url": f"https://docs.github.com/rest/{doc}", "status": "404"},
        status=404,
    )


def _job_log_text(run: RunSpec, job: JobSpec) -> str:
    if job.log:
        lines = job.log.rstrip("\n").split("\n")
    else:
        lines = []
        for step in job.steps:
            lines += [f"##[group]Run {step.name}", "##[endgroup]"]
    at = run.created + timedelta(seconds=8)
    out = []
    for i, line in enumerate(lines):
        stamp = (at + timedelta(milliseconds=397 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        out.append(f"{stamp} {line}")
    return "\n".join(out) + "\n"


def _build_app(api: _Api) -> web.Application:
    app = web.Application()
    r = app.router
    gh = "/github/repos/{owner}/{repo}"
    routes: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("/version", api.version),
        ("/version/", api.version),  # the official client asks with the slash; real servers answer both
        ("/api", api.api),
        ("/api/v1", api.api_v1),
        ("/apis", api.apis),
        ("/apis/apps", api.apis_apps),
        ("/apis/apps/v1", api.apis_apps_v1),
        ("/api/v1/namespaces/{namespace}/pods/{name}/log", api.pod_log),
        ("/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path:.*}", api.pod_proxy),
        ("/api/v1/namespaces/{name}", api.namespace),
        ("/api/v1/namespaces/{namespace}/{resource}", api.collection),
        ("/api/v1/namespaces/{namespace}/{resource}/{name}", api.item),
        ("/api/v1/{resource}", api.collection),
        ("/apis/{group}/v1/namespaces/{namespace}/{resource}", api.collection),
        ("/apis/{group}/v1/namespaces/{namespace}/{resource}/{name}", api.item),
        ("/apis/{group}/v1/{resource}", api.collection),
        ("/github/rate_limit", api.gh_rate_limit),
        (gh, api.gh_repo),
        (gh + "/actions/workflows", api.gh_workflows),
        (gh + "/actions/runs", api.gh_runs),
        (gh + "/actions/workflows/{workflow}/runs", api.gh_runs),
        (gh + "/actions/runs/{run_id}", api.gh_run),
        (gh + "/actions/runs/{run_id}/jobs", api.gh_jobs),
        (gh + "/actions/jobs/{job_id}", api.gh_job),
        (gh + "/actions/jobs/{job_id}/logs", api.gh_job_logs),
        ("/github/_blobs/{owner}/{repo}/jobs/{job_id}/log", api.gh_blob),
    ]
    for path, handler in routes:
        r.add_get(path, handler, allow_head=False)

    @web.middleware
    async def read_only(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        github = request.path.startswith("/github")
        if request.method != "GET":
            if github:
                return _gh_not_found("")
            return _status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource (the opsbot sandbox is read-only)",
                {},
            )
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return await (api.gh_unknown(request) if github else api.unknown(request))
        except web.HTTPMethodNotAllowed:
            return _status(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
            )

    app.middlewares.append(read_only)
    return app


# ---------------------------------------------------------------------------------------------
# The server


class Sandbox:
    """The sandbox HTTP server. `async with Sandbox(load_scenario()) as sb:` or `with sb.run_in_thread():`."""

    def __init__(self, scenario: Scenario, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.scenario = scenario
        self.host, self.port = host, port
        self.url = ""
        self.github_url = ""
        self._runner: web.AppRunner | None = None
        self._world: _World | None = None
        self._api: _Api | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._world = _World(self.scenario)
        self._api = _Api(self._world)
        runner = web.AppRunner(_build_app(self._api), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self.github_url = f"{self.url}/github"

    async def stop(self) -> None:
        if self._runner is not None:
            if self._api is not None:
                self._api.closing.set()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[Sandbox]:
        """Serve from a background thread with its own event loop (for synchronous clients: kubectl,
        the official kubernetes client)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="opsbot-sandbox", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
            yield self
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()

    def kubeconfig(self) -> dict[str, Any]:
        if not self.url:
            raise UsageError("the sandbox is not started yet")
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {}}],
            "contexts": [
                {"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "taskflow"}}
            ],
            "current-context": "sandbox",
            "preferences": {},
        }

    def write_kubeconfig(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False), encoding="utf-8")
        return path


def serve_forever(scenario: str = "taskflow", host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve the sandbox until Ctrl-C, printing its URLs, a kubeconfig and commands to try.
    A bad scenario or a port in use ends it with one line on stderr and exit status 2."""
    try:
        loaded = load_scenario(scenario)
    except OpsbotError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    async def main() -> None:
        sandbox = Sandbox(loaded, host=host, port=port)
        await sandbox.start()
        try:
            config = sandbox.write_kubeconfig(Path(tempfile.gettempdir()) / f"opsbot-sandbox-{sandbox.port}.yaml")
            pod = next(
                (
                    p["metadata"]["name"]
                    for p in sandbox._world.pods  # type: ignore[union-attr]
                    if p["metadata"]["namespace"] == "taskflow"
                ),
                "POD",
            )
            print(f"opsbot sandbox: scenario {loaded.name!r}")
            print(f"  Kubernetes API  {sandbox.url}")
            print(f"  GitHub API      {sandbox.github_url}")
            print(f"  kubeconfig      {config}  (context 'sandbox')")
            print("try:")
            print(f"  kubectl --server {sandbox.url} get pods -n taskflow")
            print(f"  kubectl --server {sandbox.url} logs {pod} -c daprd -n taskflow --tail=20")
            print(f"  kubectl --server {sandbox.url} get events -n taskflow")
            print(
                f"  KUBECONFIG={config} OPSBOT_CONTEXT=sandbox GITHUB_API_URL={sandbox.github_url} "
                "opsbot debug taskflow-api -n taskflow"
            )
            print(f"  curl {sandbox.github_url}/repos/acme/taskflow/actions/runs")
            print("Ctrl-C stops it.", flush=True)
            await asyncio.Event().wait()
        finally:
            await sandbox.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("sandbox stopped", file=sys.stderr)
    except OpsbotError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

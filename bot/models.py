"""The data every part of opsbot shares.

Gateways return snapshots (what the cluster and GitHub said), playbooks turn snapshots into
findings, and one `Report` feeds every renderer: Slack blocks, the terminal and `--json`.
All models are pydantic so that they validate on the way in and serialise on the way out.

Building a model class is most of what importing this costs, paid by every CLI run, so the modules of
models (this one, bot.changes, bot.config, bot.alertmanager, playbooks.checklists) keep two habits that
pydantic makes slow (tests/test_startup.py holds them to it):
- no `from __future__ import annotations`: a string annotation is compiled and evaluated again by
  pydantic, field by field (~60 µs each);
- `= []` / `= {}` rather than `Field(default_factory=list)`: pydantic reads the factory's signature,
  and a builtin's is parsed from text (~170 µs a field); it copies a mutable default for each
  instance, so `[]` is as safe.
"""

import shlex
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from bot.changes import FixCheck, MetricReading, Onset, Rollout


class ContainerKind(StrEnum):
    APP = "app"
    SIDECAR = "sidecar"  # daprd, istio-proxy... or a native sidecar (init container, restartPolicy Always)
    INIT = "init"


class ContainerStatus(BaseModel):
    """One container of a pod, as `kubectl describe pod` would show it."""

    name: str
    kind: ContainerKind = ContainerKind.APP
    image: str = ""
    ready: bool = False
    restarts: int = 0
    state: Literal["running", "waiting", "terminated", "unknown"] = "unknown"
    reason: str | None = None  # reason of the current state: CrashLoopBackOff, ImagePullBackOff...
    message: str | None = None
    started_at: datetime | None = None
    last_reason: str | None = None  # reason of the last termination: OOMKilled, Error...
    last_exit_code: int | None = None
    last_finished_at: datetime | None = None


class DaprPorts(BaseModel):
    """Where a pod's Dapr sidecar can be asked from outside the pod (through the API server's proxy)."""

    app_id: str | None = None  # dapr.io/app-id
    http_port: int = 3500  # the sidecar's HTTP API
    # since Dapr 1.4 the sidecar's API listens on localhost only, unless dapr.io/sidecar-listen-addresses
    # opens it: only then can its /v1.0/metadata be read from outside the pod
    api_reachable: bool = False
    app_port: int | None = None  # the app's port (dapr.io/app-port), where /dapr/subscribe answers


class PodSnapshot(BaseModel):
    name: str
    namespace: str
    phase: str = "Unknown"
    ready: bool = False
    restarts: int = 0  # sum over all containers
    age_seconds: float = 0.0
    created_at: datetime | None = None
    node: str | None = None
    labels: dict[str, str] = {}
    owner: str | None = None  # the ReplicaSet that owns the pod
    containers: list[ContainerStatus] = []
    dapr: DaprPorts | None = None  # where the pod's Dapr sidecar and its app answer, when it has one

    def container(self, name: str) -> ContainerStatus | None:
        return next((c for c in self.containers if c.name == name), None)


class DeploymentSnapshot(BaseModel):
    name: str
    namespace: str
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    selector: dict[str, str] = {}  # matchLabels
    selector_expr: str = ""  # the label selector string used to list pods
    images: dict[str, str] = {}  # container name -> image
    revision: str | None = None
    commit: str | None = None  # from the image tag or a commit annotation/label, when present
    created_at: datetime | None = None
    replicasets: list[str] = []
    rollouts: list[Rollout] = []  # its ReplicaSets' revisions, newest first


class LogLine(NamedTuple):
    ts: datetime | None  # from the API's `timestamps=true` prefix
    text: str


class LogSnapshot(BaseModel):
    """The tail of one container's log. `previous` is the log of the container before its last restart."""

    pod: str
    container: str
    previous: bool = False
    lines: list[LogLine] = []
    error: str | None = None  # why the log could not be read (e.g. no previous container)
    # a long log reduced as it was read (playbooks/logreduce.py): `lines` holds what it shows, these what
    # it was: how many lines were read, and each line's time (int64 microseconds since the epoch)
    read_lines: int | None = None
    stamps: bytes = b""
    dapr_calls: dict[tuple[str, str], int] | None = None  # daprd: calls per (building block, component)
    matched: dict[int, str] | None = None  # the pattern row each line of `lines` matched, by index, when known

    @property
    def line_count(self) -> int:
        """The lines read, kept or not."""
        return len(self.lines) if self.read_lines is None else self.read_lines


class EventSnapshot(BaseModel):
    type: str = "Warning"
    reason: str = ""
    message: str = ""
    object_kind: str = ""
    object_name: str = ""
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class WorkflowRun(BaseModel):
    id: int
    name: str = ""
    run_number: int = 0
    head_sha: str = ""
    head_branch: str = ""
    event: str = ""
    status: str = ""
    conclusion: str | None = None
    html_url: str = ""
    created_at: datetime | None = None
    deployed: bool = False  # True when head_sha is the commit that is running
    actor: str = ""  # who started it (its actor's login)
    started_at: datetime | None = None  # run_started_at
    updated_at: datetime | None = None  # when it last changed: its end, once completed


class WorkflowJob(BaseModel):
    id: int
    run_id: int
    name: str = ""
    status: str = ""
    conclusion: str | None = None
    html_url: str = ""
    failed_steps: list[str] = []


class ActionKind(StrEnum):
    """Read-only follow-ups that a person can run with one press (a Slack button, a console command)."""

    PREVIOUS_LOGS = "previous_logs"
    CONTAINER_LOGS = "container_logs"
    POD_EVENTS = "pod_events"
    CI_JOB = "ci_job"


class NextAction(BaseModel):
    kind: ActionKind
    namespace: str
    pod: str | None = None
    container: str | None = None
    repo: str | None = None
    run_id: int | None = None
    tail: int | None = None  # logs: lines read from the end (`--tail=N`); None: the configured tail
    grep: list[str] | None = None  # logs: the `| grep ...` of the command, as argv, applied to the lines read

    @property
    def title(self) -> str:
        """What pressing it shows, as a button label and as the heading of its result."""
        match self.kind:
            case ActionKind.PREVIOUS_LOGS:
                return f"Previous log of {self.pod}/{self.container}{self._grep_title}"
            case ActionKind.CONTAINER_LOGS:
                return f"Log of {self.pod}/{self.container}{self._grep_title}"
            case ActionKind.POD_EVENTS:
                return f"Events of {self.pod}"
            case ActionKind.CI_JOB:
                return f"Failed jobs of run {self.run_id} ({self.repo})"

    @property
    def _grep_title(self) -> str:
        return f" | {shlex.join(self.grep)}" if self.grep else ""


class NextCommand(BaseModel):
    """What to run next: the command as a person would type it, and, when read-only, the action the bot can run."""

    label: str
    command: str
    action: NextAction | None = None


class Severity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# most severe first: how findings are sorted and a report's worst severity is found, everywhere
SEVERITY_ORDER: dict[Severity, int] = {s: i for i, s in enumerate(Severity)}


class Finding(BaseModel):
    pattern: str  # pattern id, or a derived finding id such as "restarts"
    title: str
    severity: Severity = Severity.ERROR
    count: int = 0
    pods: list[str] = []
    containers: list[str] = []
    first_seen: datetime | None = None
    sample: str = ""
    cause: str = ""
    fix: str = ""
    snippet: str | None = None
    regression_test: str | None = None  # the pattern's test that keeps the bug from coming back
    evidence: list[str] = []
    next_commands: list[NextCommand] = []
    # an error outside the pattern table: its folded signature, the innermost stack frame, the last time
    signature: str | None = None
    frame: str | None = None
    last_seen: datetime | None = None

    @property
    def unrecognised(self) -> bool:
        """An error event no row of the pattern table explains (pattern `unrecognised-<hash>`)."""
        return self.signature is not None


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"


class StepResult(BaseModel):
    name: str
    title: str
    status: StepStatus = StepStatus.PENDING
    summary: str = ""
    error: str | None = None
    duration_ms: float = 0.0


class StepError(BaseModel):
    step: str
    message: str


class ChecklistItem(BaseModel):
    key: str
    text: str
    done: bool = False
    evidence: str | None = None
    by: str | None = None  # "opsbot" when the bot ticked it, else the Slack user id / console user
    at: datetime | None = None


class DaprComponent(BaseModel):
    name: str
    type: str = ""  # pubsub.redis, state.postgresql...
    version: str = ""


class DaprSubscription(BaseModel):
    pubsub: str
    topic: str
    routes: list[str] = []  # the app paths events are delivered to
    dead_letter_topic: str | None = None
    kind: str | None = None  # DECLARATIVE (a Subscription resource) or PROGRAMMATIC (the app's /dapr/subscribe)


class DaprSidecar(BaseModel):
    """What a Dapr sidecar runs with: the answer to "is the component loaded?" and "what is this app
    subscribed to?". From the sidecar's own `GET /v1.0/metadata` when its API can be reached from
    outside the pod; else from the app's `GET /dapr/subscribe` (its programmatic subscriptions only,
    components unknown)."""

    pod: str
    source: Literal["sidecar", "app"] = "sidecar"
    app_id: str | None = None
    runtime_version: str | None = None
    components: list[DaprComponent] | None = None  # None: not known (the sidecar's API is pod-local)
    subscriptions: list[DaprSubscription] = []


class PathHop(BaseModel):
    """Another service on the request path of the one being debugged (the seed's "trace the request
    path": frontend, API, downstream), in brief: is it up, and what do its logs say."""

    service: str
    namespace: str
    replicas: int = 0
    ready_replicas: int = 0
    restarts: int = 0
    findings: list[Finding] = []  # its most severe few
    error: str | None = None  # why it could not be looked at (not found, forbidden...)
    # what was read to say so: raw material (for a snapshot of the incident), not serialised
    deployment: DeploymentSnapshot | None = Field(None, exclude=True)
    pods: list[PodSnapshot] = Field(default=[], exclude=True)
    logs: list[LogSnapshot] = Field(default=[], exclude=True)


class TraceHit(BaseModel):
    """One log line that carries the correlation id being traced."""

    ts: datetime | None = None
    service: str
    pod: str
    container: str
    text: str


def path_summary(hits: Sequence[TraceHit]) -> str:
    """`web-dashboard -> taskflow-api`: the services in the order the request reached them."""
    order: list[str] = []
    for hit in hits:
        if hit.service not in order:
            order.append(hit.service)
    return " -> ".join(order)


class Report(BaseModel):
    """The one result of a playbook run; every renderer takes this."""

    kind: Literal["debug", "verify", "trace"] = "debug"
    service: str
    namespace: str
    # why that namespace, as kubectl would pick it: "-n", "the catalogue", "the kubeconfig context", "default"
    namespace_source: str | None = None
    context: str | None = None
    started_at: datetime
    duration_ms: float = 0.0
    deployment: DeploymentSnapshot | None = None
    pods: list[PodSnapshot] = []
    findings: list[Finding] = []
    events: list[EventSnapshot] = []
    runs: list[WorkflowRun] = []
    dapr: list[DaprSidecar] = []  # one sidecar per ReplicaSet, when enabled
    path: list[PathHop] = []  # the other services on the request path
    checklist: list[ChecklistItem] = []
    trace: list[TraceHit] = []  # trace reports: the request's path, in time order
    correlation_id: str | None = None  # trace reports: the id followed (`service` holds it too, as the subject)
    steps: list[StepResult] = []
    errors: list[StepError] = []
    logs: list[LogSnapshot] = Field(default=[], exclude=True)  # raw material, not serialised
    onsets: list[Onset] = []  # when each finding began, against the rollouts
    fix: FixCheck | None = None  # verify: did the findings stop since the newest rollout?
    metrics: list[MetricReading] = []  # from Prometheus, when configured

    @property
    def steps_done(self) -> int:
        return sum(s.status not in (StepStatus.PENDING, StepStatus.RUNNING) for s in self.steps)


class FileSnippet(BaseModel):
    """Long text that goes into a thread as a file (a log tail, a trace)."""

    filename: str
    content: str
    title: str


class Message(BaseModel):
    """One message as a sink sends it: the notification/fallback text, Block Kit blocks, files."""

    text: str
    blocks: list[dict[str, Any]]
    files: list[FileSnippet] = []


class ActionResult(BaseModel):
    """What a next-step button (a read-only follow-up) showed: a title and its text."""

    title: str
    text: str
    ok: bool = True


# --- incidents -------------------------------------------------------------------------------------

BOT_USER = "opsbot"  # `by` of what the bot did (ticked an item, wrote a timeline entry); anything else is a person


class Incident(BaseModel):
    id: int
    channel: str
    thread_ts: str
    service: str
    namespace: str
    context: str | None = None
    status: Literal["open", "closed", "report"] = "open"  # report: a thread opsbot filled, not an incident
    opened_by: str
    opened_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None
    summary: str | None = None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    text: str
    by: str | None = None

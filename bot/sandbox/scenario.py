"""The scenario model (what bot/sandbox/scenarios/*.yaml contain), validated at load, and its loading."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError, NotFoundError
from bot.plumbing.yamlio import load_yaml
from bot.sandbox.clock import RelTime, parse_recorded

SCENARIO_VERSION = 1  # the format this opsbot reads and writes; a file without `version:` is taken as 1


class _Spec(BaseModel):
    """Every entry of a scenario: a key it does not know is an error naming it (a typo such as
    `deploymens:` must not replay an empty cluster without a word)."""

    model_config = ConfigDict(extra="forbid")


class BackgroundLine(_Spec):
    """A harmless (or recurring) log line, picked at random by weight. `${ms}`-style placeholders
    are filled per line: ms, slow_ms, ip, req, n, task, user, worker."""

    text: str
    weight: float = Field(1.0, gt=0)


class LogEntry(_Spec):
    """A line (or a multi-line block such as a traceback) at a given time."""

    at: RelTime
    text: str


class LogSpec(_Spec):
    lines: int = Field(0, ge=0, description="How many background lines to spread over the window")
    start: RelTime | None = Field(None, description="Window start; unset: when the container started")
    end: RelTime | None = Field(None, description="Window end; unset: now (or when the container died)")
    header: list[str] = Field(default_factory=list, description="Start-up lines, logged at the window start")
    background: list[BackgroundLine] = Field(default_factory=list)
    entries: list[LogEntry] = Field(default_factory=list)
    recorded: Annotated[list[tuple[float, str]], BeforeValidator(parse_recorded)] = Field(
        default_factory=list,
        description="Lines as they were read (a snapshot): one `OFFSET TEXT` a line, OFFSET relative to load "
        "time (`-1h2m3.25s`); kept as they are, no window, no placeholders",
    )

    @field_validator("background", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"text": item} if isinstance(item, str) else item for item in value]
        return value


class ContainerSpec(_Spec):
    name: str
    image: str
    ports: list[int] = Field(default_factory=list)
    log: LogSpec = Field(default_factory=LogSpec)
    restart_policy: Literal["Always"] | None = Field(
        None, description="On an init container: a native sidecar (Kubernetes 1.29+), running beside the app"
    )


class ContainerState(_Spec):
    """Per-pod state of one container; anything unset takes the healthy default."""

    restarts: int = Field(0, ge=0)
    state: Literal["running", "waiting", "terminated", "unknown"] = "running"
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
    image: str | None = Field(None, description="This pod runs another image than the deployment's template")
    log_error: str | None = Field(None, description="The API refuses the log with this message (400)")
    previous_log_error: str | None = Field(None, description="The API refuses the previous log with this message")


class PodSpec(_Spec):
    name: str
    created: RelTime
    node: str = "node-a"
    ip: str | None = None
    containers: dict[str, ContainerState] = Field(default_factory=dict)
    phase: str | None = Field(None, description="Unset: Pending while an init container has not completed "
                                               "(a native sidecar: not started, no app container ran), else Running")
    ready: bool | None = Field(None, description="Unset: every container ready")
    replicaset: str | None = Field(None, description="template_hash of an older ReplicaSet (replicasets) owning "
                                                    "this pod; unset: the current one")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of this pod only, beside the template's")


class ReplicaSetSpec(_Spec):
    """An older ReplicaSet of a Deployment (mid-rollout, or kept by revisionHistoryLimit)."""

    template_hash: str = Field(pattern=r"^[a-z0-9]{5,10}$")
    revision: int = Field(1, ge=0)
    created: RelTime
    replicas: int | None = Field(None, ge=0, description="Desired replicas; unset: its pods")
    images: dict[str, str] = Field(default_factory=dict, description="container -> image, where they differ")


class DeploymentStatusSpec(_Spec):
    """What the Deployment's status says, when it is not what its pods add up to (a snapshot keeps it)."""

    ready_replicas: int | None = Field(None, ge=0)
    updated_replicas: int | None = Field(None, ge=0)
    available_replicas: int | None = Field(None, ge=0)


class DaprComponentSpec(_Spec):
    name: str
    type: str = Field(description="pubsub.redis, state.postgresql...")
    version: str = "v1"
    scopes: list[str] = Field(default_factory=list, description="App ids that load it; empty: every app")


class DaprSubscriptionSpec(_Spec):
    pubsub: str
    topic: str
    route: str
    dead_letter_topic: str | None = None
    kind: Literal["DECLARATIVE", "PROGRAMMATIC"] = "PROGRAMMATIC"


class DeploymentSpec(_Spec):
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
    replicasets: list[ReplicaSetSpec] = Field(default_factory=list, description="Older ReplicaSets")
    fill_replicas: bool = Field(True, description="Add healthy pods up to `replicas`; a snapshot lists them all")
    status: DeploymentStatusSpec | None = None

    @model_validator(mode="after")
    def _pods_name_what_exists(self) -> DeploymentSpec:
        known = {c.name for c in [*self.init_containers, *self.containers]}
        hashes = {self.template_hash, *(rs.template_hash for rs in self.replicasets)}
        for pod in self.pods:
            unknown = sorted(set(pod.containers) - known)
            if unknown:
                raise ValueError(f"pod {pod.name}: unknown container(s) {unknown}; the deployment has {sorted(known)}")
            if pod.replicaset is not None and pod.replicaset not in hashes:
                raise ValueError(f"pod {pod.name}: replicaset {pod.replicaset} is not among {sorted(hashes)}")
        return self


class EventSpec(_Spec):
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


# what GitHub Actions reports (a snapshot keeps any of them)
RunStatus = Literal["queued", "in_progress", "completed", "waiting", "requested", "pending"]
RunConclusion = Literal["success", "failure", "skipped", "cancelled", "timed_out", "action_required", "neutral",
                        "stale", "startup_failure"]


class StepSpec(_Spec):
    name: str
    conclusion: Literal["success", "failure", "skipped", "cancelled"] | None = "success"
    status: Literal["queued", "in_progress", "completed"] = "completed"
    seconds: float = 5.0


class JobSpec(_Spec):
    id: int
    name: str
    status: Literal["queued", "in_progress", "completed"] = "completed"
    conclusion: Literal["success", "failure", "skipped", "cancelled"] | None = "success"
    steps: list[StepSpec] = Field(default_factory=list)
    log: str = ""


class RunSpec(_Spec):
    id: int
    run_number: int
    workflow: str = Field(description="Workflow file name, e.g. deploy.yml")
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$")
    head_branch: str = "main"
    event: str = "push"
    status: RunStatus = "completed"
    conclusion: RunConclusion | None = "success"
    title: str = ""
    actor: str = "octocat"
    created: RelTime
    minutes: float = 4.0
    jobs: list[JobSpec] = Field(default_factory=list)


class WorkflowSpec(_Spec):
    id: int
    name: str
    file: str


class RepoSpec(_Spec):
    full_name: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    workflows: list[WorkflowSpec] = Field(default_factory=list)
    runs: list[RunSpec] = Field(default_factory=list)


class ServiceHint(_Spec):
    """How the scenario's services map to repos and workflows (the bot's service catalogue in demo)."""

    namespace: str
    repo: str | None = None
    workflow: str | None = None
    branch: str = "main"
    request_path: list[str] = Field(default_factory=list)
    deployment: str | None = None


class CaptureSpec(_Spec):
    """Where a snapshot was taken (`opsbot snapshot`): what to replay it with."""

    service: str
    namespace: str
    context: str | None = None
    at: datetime = Field(description="When it was taken (its times are relative to it)")
    by: str = "opsbot snapshot"


class ExpectSpec(_Spec):
    """What `opsbot eval` checks a scenario's report against."""

    service: str = Field(description="The service the playbook is run for")
    namespace: str | None = None
    playbook: Literal["debug", "verify"] = "debug"
    findings: list[str] = Field(default_factory=list, description="Pattern ids or signatures that must appear")
    absent: list[str] = Field(default_factory=list, description="Pattern ids or signatures that must not appear")
    verdict: str | None = Field(
        None, description="`healthy` (no findings), a severity (the worst finding's), or the pattern id or "
        "signature of the top finding")


class Scenario(_Spec):
    version: int = SCENARIO_VERSION
    name: str
    description: str = ""
    sources: list[Annotated[str, StringConstraints(pattern=r"^[\w.-]+/[\w.-]+#\d+$")]] = Field(
        default_factory=list, description="The public incidents or issues it is modelled on, owner/repo#number")
    capture: CaptureSpec | None = None
    expect: ExpectSpec | None = None
    dapr_metadata: bool = Field(True, description="The bot reads the Dapr sidecars' metadata (a snapshot taken "
                                                  "without it replays without it)")
    loaded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    namespaces: list[str] = Field(default_factory=lambda: ["default"])
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    events: list[EventSpec] = Field(default_factory=list)
    repos: list[RepoSpec] = Field(default_factory=list)
    services: dict[str, ServiceHint] = Field(default_factory=dict)
    dapr_components: list[DaprComponentSpec] = Field(
        default_factory=list, description="The Dapr components of the cluster, as the sidecars load them"
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCENARIO_VERSION:
            raise ValueError(f"version {value} is not read by this opsbot (it reads version {SCENARIO_VERSION})")
        return value


class ScenarioError(ConfigError):
    """A scenario file that cannot be used: one line naming the file, the entry and the field."""

    def __init__(self, origin: str, problem: str) -> None:
        super().__init__(origin, problem)
        self.args = (f"scenario {origin}: {problem}",)


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the entry at `loc` takes (for an unknown key's error): the model's fields, found by
    walking the field types along the path."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:  # a dict's key (a container's name, a service's): the value's model
            continue
        model = _model_in(field.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [name for name in model.model_fields if name != "loaded_at"]


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside `list[X]`, `dict[str, X]`, `X | None`; else the annotation itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


def _entry(data: Any, loc: tuple[int | str, ...]) -> str:
    """The named entries along an error's path: `deployment taskflow-api, pod taskflow-api-x2kq9`."""
    names, node = [], data
    for i, part in enumerate(loc):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(node, dict) and isinstance(node.get("name"), str):
            names.append(f"{_ENTRY_KIND.get(str(loc[i - 1]) if i else '', 'entry')} {node['name']}")
    return f" ({', '.join(names)})" if names else ""


_ENTRY_KIND = {"deployments": "deployment", "pods": "pod", "containers": "container", "init_containers":
               "init container", "repos": "repo", "runs": "run", "jobs": "job", "workflows": "workflow",
               "dapr_components": "component"}


def validate_scenario(data: Any, now: datetime, origin: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(origin, "a scenario file must be a YAML mapping")
    version = data.get("version", SCENARIO_VERSION)
    if version != SCENARIO_VERSION:  # before the rest: a newer format's other keys are not typos
        raise ScenarioError(origin, f"version: unsupported version {str(version)[:20]}: this opsbot reads "
                                    f"version {SCENARIO_VERSION} (docs/scenarios.md)")
    if "loaded_at" in data:
        raise ScenarioError(origin, "loaded_at: unknown key (set when the file is loaded, never in it)")
    data = {**data, "loaded_at": now}
    try:
        return Scenario.model_validate(data, context={"now": now})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ").replace("\n", " ")
        if first["type"] == "extra_forbidden":
            message = f"unknown key; known here: {', '.join(_known_keys(tuple(first['loc'][:-1])))}"
        raise ScenarioError(origin, f"{where}{_entry(data, tuple(first['loc']))}: {message}") from None


def scenario_names() -> list[str]:
    folder = resources.files("bot.sandbox").joinpath("scenarios")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str = "taskflow", *, now: datetime | None = None) -> Scenario:
    """A packaged scenario by name (`taskflow`) or a YAML file by path, with relative times resolved
    against `now`, in whole seconds: Kubernetes writes object times to the second, and a snapshot of
    the replay (whose offsets count from here) then gives back the offsets it was loaded with."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise NotFoundError(f"scenario file {name_or_path} does not exist")
        try:
            text, origin = path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise ScenarioError(str(path), f"not UTF-8 text (byte {exc.start}): a scenario is a YAML file") from None
        except OSError as exc:
            raise ScenarioError(str(path), f"cannot read it: {exc.strerror}") from None
    else:
        resource = resources.files("bot.sandbox").joinpath("scenarios", f"{name_or_path}.yaml")
        if not resource.is_file():
            known = ", ".join(scenario_names()) or "none"
            raise NotFoundError(f"unknown scenario {name_or_path!r}; known scenarios: {known}")
        text, origin = resource.read_text(encoding="utf-8"), f"bot/sandbox/scenarios/{name_or_path}.yaml"
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(origin, f"not valid YAML: {exc}".replace("\n", " ")) from None
    return validate_scenario(data, now, origin)


SCALED_BACKGROUND = [
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
SCALED_SIDECAR = [
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

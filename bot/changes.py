"""What changed and whether it fixed it: the data of "what changed?" and "is the fix confirmed?".

Rollouts (one a ReplicaSet revision), when each finding began against them, each finding's lines
per minute before and since the newest rollout, metrics read from Prometheus, and the listing of
CI runs. Core models like `bot.models` (which the `Report` there carries): no I/O, no logic beyond
a few derived properties.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class Rollout(BaseModel):
    """One revision of a Deployment: its ReplicaSet, created when the revision rolled out."""

    revision: int | None = None  # deployment.kubernetes.io/revision
    replicaset: str
    created_at: datetime | None = None
    commit: str | None = None  # from the pod template (annotation, version label, image tag)
    images: dict[str, str] = {}
    replicas: int = 0  # desired: 0 for an old revision kept by revisionHistoryLimit
    ready_replicas: int = 0


class Onset(BaseModel):
    """When a finding began, against the rollouts: the answer to "did the deploy cause it?"."""

    pattern: str
    title: str
    first_seen: datetime
    relation: Literal["after", "before", "unknown"]  # began after the rollout named, or before the latest one
    revision: int | None = None  # the rollout it is placed against
    rolled_out_at: datetime | None = None
    commit: str | None = None
    run_number: int | None = None
    run_url: str | None = None
    actor: str | None = None
    minutes: float | None = None  # between the rollout and the first line, always >= 0
    text: str  # the sentence shown, times in UTC and marked so


class WindowCount(BaseModel):
    """How often a finding occurred in one window."""

    start: datetime
    end: datetime
    lines: int
    source: Literal["logs", "incident", "prometheus"] = "logs"

    @property
    def minutes(self) -> float:
        return max((self.end - self.start).total_seconds() / 60, 1 / 60)

    @property
    def per_minute(self) -> float:
        return round(self.lines / self.minutes, 3)


class FindingComparison(BaseModel):
    """One finding, before and since the newest rollout, in lines per minute over comparable windows."""

    pattern: str
    title: str
    before: WindowCount | None = None  # None: nothing read reaches before the rollout (see `note`)
    after: WindowCount | None = None  # None: nothing read since the rollout
    before_per_minute: float | None = None
    after_per_minute: float | None = None
    stopped: bool = False  # seen before (or in the incident), not since the rollout
    note: str = ""


class MetricReading(BaseModel):
    """One PromQL query of a service, now and one hour ago."""

    name: str  # error_rate, p95_latency, restarts, memory, db_connections
    title: str
    query: str
    unit: str = ""
    now: float | None = None
    hour_ago: float | None = None
    error: str | None = None  # why it could not be read (no data, a bad query...)


class FixCheck(BaseModel):
    """The walkthrough's Step 5: after the fix rolled out, did the errors stop?"""

    rollout: Rollout | None = None
    rollout_complete: bool = False
    pods_healthy: bool = False
    comparisons: list[FindingComparison] = []
    error_rate: MetricReading | None = None  # from Prometheus, when configured
    confirmed: bool = False
    summary: str = ""  # the evidence when confirmed, else what stands in the way


class RunRow(BaseModel):
    id: int
    workflow: str
    run_number: int = 0
    commit: str = ""
    title: str = ""
    actor: str = ""
    branch: str = ""
    event: str = ""
    status: str = ""
    conclusion: str | None = None
    started_at: datetime | None = None
    duration_seconds: float | None = None  # None while it runs
    url: str = ""
    failed_jobs: list[str] = []  # "job: step" of a failed run, when read

    @property
    def result(self) -> str:
        return self.conclusion or self.status or "unknown"

    @property
    def duration(self) -> str:
        """`3m06s`, `1h02m`; `running` until it ends."""
        if self.duration_seconds is None:
            return "running"
        s = int(self.duration_seconds)
        return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{(s % 3600) // 60:02d}m"


class RunListing(BaseModel):
    """`opsbot runs SERVICE` / `/runs SERVICE`: the newest CI runs behind a service (like `gh run list`)."""

    service: str
    repo: str
    workflow: str | None = None
    branch: str | None = None
    runs: list[RunRow] = []

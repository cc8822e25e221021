"""Onset against rollout: did the errors begin after a deploy, or before it?

"What changed?" is the first question of an incident. A pure function over the snapshots: each
finding's first-seen time, the Deployment's ReplicaSets (one per revision, created when it rolled
out) and the CI runs that built their commits give one sentence per finding, such as
"… began 3 min after taskflow-api rolled out revision 12 at 01:28 UTC (commit cd73e1b, run #411 by
ben-ops)" or "… began 2 h before the latest rollout (revision 13 at 03:10 UTC): not caused by it".
Times are UTC, and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.changes import Onset, Rollout
from bot.models import Finding, PodSnapshot, WorkflowRun

MAX_ONSETS = 6  # the most severe findings get a line; the rest add nothing to "what changed?"
LONG_AFTER = timedelta(days=1)  # a finding that began this long after a rollout is weakly tied to it


def span(delta: timedelta) -> str:
    """`45 s`, `3 min`, `2 h`, `2 h 5 min`, `3 d`: a duration, rounded the way people say it."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest and hours < 6 else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours and days < 3 else f"{days} d"


def utc(at: datetime, *, now: datetime | None = None) -> str:
    """`01:28 UTC`, or `2026-11-27 01:28 UTC` for another day than `now`'s: always marked UTC."""
    at = at.astimezone(UTC)
    if now is not None and at.date() == now.astimezone(UTC).date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")


def run_for(commit: str | None, runs: Sequence[WorkflowRun]) -> WorkflowRun | None:
    """The run that built `commit` (a successful one first), if it is among `runs`."""
    if not commit:
        return None
    short = commit[:7]
    built = [r for r in runs if r.head_sha and (r.head_sha.startswith(short) or commit.startswith(r.head_sha[:7]))]
    return next((r for r in built if r.conclusion == "success"), built[0] if built else None)


def describe_rollout(service: str, rollout: Rollout, runs: Sequence[WorkflowRun], *, now: datetime) -> str:
    """`taskflow-api rolled out revision 12 at 01:28 UTC (commit cd73e1b, run #411 by ben-ops)`."""
    rev = f"revision {rollout.revision}" if rollout.revision is not None else f"ReplicaSet {rollout.replicaset}"
    at = f" at {utc(rollout.created_at, now=now)}" if rollout.created_at else ""
    details = []
    if rollout.commit:
        details.append(f"commit {rollout.commit[:7]}")
    run = run_for(rollout.commit, runs)
    if run is not None:
        details.append(f"run #{run.run_number}" + (f" by {run.actor}" if run.actor else ""))
    extra = f" ({', '.join(details)})" if details else ""
    return f"{service} rolled out {rev}{at}{extra}"


def rolled_back_times(rollouts: Sequence[Rollout], pods: Sequence[PodSnapshot]) -> list[Rollout]:
    """The rollouts with the time each rolled out. A rollback reuses an older ReplicaSet: it gets the
    highest revision but keeps its old creationTimestamp, which would date the rollback days back. Such a
    revision (created before one of a lower revision) is dated by its oldest pod instead, when it has any."""
    out = []
    for r in rollouts:
        lower = [o for o in rollouts if (o.revision or 0) < (r.revision or 0) and o.created_at and r.created_at]
        if r.created_at is not None and any(o.created_at and o.created_at > r.created_at for o in lower):
            started = [p.created_at for p in pods if p.owner == r.replicaset and p.created_at is not None]
            r = r.model_copy(update={"created_at": min(started) if started else None})
        out.append(r)
    return out


def find_onsets(
    service: str, findings: Sequence[Finding], rollouts: Sequence[Rollout], runs: Sequence[WorkflowRun],
    *, now: datetime,
) -> list[Onset]:
    """One `Onset` per finding with a first-seen time (the most severe first, at most MAX_ONSETS)."""
    known = sorted((r for r in rollouts if r.created_at is not None), key=lambda r: r.created_at or now)
    latest = known[-1] if known else None
    out: list[Onset] = []
    for finding in [f for f in findings if f.first_seen is not None][:MAX_ONSETS]:
        first = finding.first_seen
        assert first is not None
        name = finding.title
        if latest is None:
            out.append(Onset(pattern=finding.pattern, title=name, first_seen=first, relation="unknown",
                             text=f"{name} first seen {utc(first, now=now)}; no rollout known "
                                  f"(the Deployment's ReplicaSets could not be read)"))
            continue
        before = [r for r in known if r.created_at is not None and r.created_at <= first]
        placed = before[-1] if before else None
        if latest.created_at is not None and latest.created_at > first:
            gap = latest.created_at - first
            rev = f"revision {latest.revision}" if latest.revision is not None else latest.replicaset
            text = (f"{name} began {span(gap)} before the latest rollout ({rev} at "
                    f"{utc(latest.created_at, now=now)}): not caused by it")
            if placed is not None and placed.created_at is not None:
                text += f"; it began {span(first - placed.created_at)} after " \
                        f"{describe_rollout(service, placed, runs, now=now)}"
            out.append(_onset(finding, "before", latest, runs, gap, text))
            continue
        assert placed is not None and placed.created_at is not None
        gap = first - placed.created_at
        text = f"{name} began {span(gap)} after {describe_rollout(service, placed, runs, now=now)}"
        if gap >= LONG_AFTER:
            text += "; that long after, look for another change too (traffic, data, a dependency)"
        out.append(_onset(finding, "after", placed, runs, gap, text))
    return out


def _onset(finding: Finding, relation: str, rollout: Rollout, runs: Sequence[WorkflowRun], gap: timedelta,
           text: str) -> Onset:
    run = run_for(rollout.commit, runs)
    assert finding.first_seen is not None
    return Onset(
        pattern=finding.pattern, title=finding.title, first_seen=finding.first_seen,
        relation="after" if relation == "after" else "before", revision=rollout.revision,
        rolled_out_at=rollout.created_at, commit=rollout.commit,
        run_number=run.run_number if run else None, run_url=run.html_url if run else None,
        actor=run.actor if run and run.actor else None, minutes=round(gap.total_seconds() / 60, 1), text=text,
    )

"""Is the fix confirmed? The walkthrough's Step 5 ("validate error rate drops to zero"), as a pure
function over the snapshots the verify playbook read.

Each finding is counted before and since the newest rollout, in lines per minute over comparable
windows: since the rollout (its last hour at most), and as long a window just before it. Lines since
the rollout are counted in the pods of the new ReplicaSet only: an old pod still draining says nothing
about the fix. The pods that logged the errors are usually gone after a rollout, so the "before" side
comes from the logs where they still reach back, else from what the incident's /debug saw. "Error
rate back to zero" is confirmed only when the rollout is complete, the pods are healthy, long enough
has passed and no finding occurs since — and, with Prometheus configured, the error rate is zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.changes import FindingComparison, FixCheck, MetricReading, Rollout, WindowCount
from bot.models import DeploymentSnapshot, EventSnapshot, Finding, LogSnapshot, PodSnapshot, WorkflowRun
from bot.text import plural
from playbooks.findings import derive_findings
from playbooks.logreduce import EPOCH, NO_TIME, micros, stamps_of
from playbooks.onset import describe_rollout, rolled_back_times, span
from playbooks.patterns import PatternTable

MAX_WINDOW = timedelta(hours=1)  # each side of the comparison: recent enough to mean "now"
MIN_AFTER = timedelta(minutes=5)  # less than this since the rollout proves nothing either way
ZERO_RATE = 1e-9  # an error rate at or below this is zero (floating point of rate() over no errors)
SHOWN = 4  # comparisons named in the one-line summary


def newest_rollout(deployment: DeploymentSnapshot | None, pods: Sequence[PodSnapshot] = ()) -> Rollout | None:
    """The highest revision, dated when it rolled out (a rollback: by its oldest pod)."""
    if deployment is None or not deployment.rollouts:
        return None
    return max(rolled_back_times(deployment.rollouts, pods), key=lambda r: r.revision or 0)


def windows(rollout_at: datetime, now: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """(before, after): after = since the rollout, its last MAX_WINDOW at most; before = as long, just before."""
    after = (max(rollout_at, now - MAX_WINDOW), now)
    length = after[1] - after[0]
    return (rollout_at - length, rollout_at), after


def log_since_seconds(rollout_at: datetime | None, now: datetime) -> int | None:
    """How far back the verify playbook reads logs: both windows, and a minute of slack."""
    if rollout_at is None:
        return None
    before, _ = windows(rollout_at, now)
    return int((now - before[0]).total_seconds()) + 60


def _slice(logs: Sequence[LogSnapshot], start: datetime, end: datetime, pods: set[str] | None) -> list[LogSnapshot]:
    """The lines of `logs` (of `pods`, when given) stamped within [start, end). Of a reduced log, the
    lines it kept, and how many it read in the window (`read_lines`) from its stamps."""
    out = []
    for snap in logs:
        if snap.error is not None or (pods is not None and snap.pod not in pods):
            continue
        lines = [line for line in snap.lines if line.ts is not None and start <= line.ts < end]
        if snap.read_lines is None:
            if lines:
                out.append(snap.model_copy(update={"lines": lines, "matched": None}))
            continue
        low, high = micros(start), micros(end)
        read = sum(1 for at in stamps_of(snap) if low <= at < high)
        if read:
            out.append(snap.model_copy(update={"lines": lines, "read_lines": read, "stamps": b"", "matched": None}))
    return out


def _earliest(logs: Sequence[LogSnapshot]) -> datetime | None:
    """The time of the oldest line read, kept or not."""
    stamps = [line.ts for s in logs if s.error is None and s.read_lines is None for line in s.lines
              if line.ts is not None]
    reduced = [at for s in logs if s.error is None and s.read_lines is not None for at in stamps_of(s)
               if at != NO_TIME]
    if reduced:
        stamps.append(EPOCH + timedelta(microseconds=min(reduced)))
    return min(stamps, default=None)


def since_rollout(logs: Sequence[LogSnapshot], pods: Sequence[PodSnapshot], rollout: Rollout | None,
                  now: datetime) -> list[LogSnapshot]:
    """The lines logged by the new revision's pods since it rolled out (all lines when that is unknown)."""
    if rollout is None or rollout.created_at is None:
        return list(logs)
    return _slice(logs, rollout.created_at, now + timedelta(seconds=1), _new_pods(pods, rollout))


def _new_pods(pods: Sequence[PodSnapshot], rollout: Rollout) -> set[str] | None:
    owned = {p.name for p in pods if p.owner == rollout.replicaset}
    return owned if owned or any(p.owner for p in pods) else None


def _rate(w: WindowCount | None) -> float | None:
    return w.per_minute if w is not None else None


def compare(
    table: PatternTable, *, namespace: str, service: str, rollout: Rollout, pods: Sequence[PodSnapshot],
    logs: Sequence[LogSnapshot], now: datetime, baseline: Sequence[Finding] = (),
    baseline_at: datetime | None = None, events: Sequence[EventSnapshot] = (), baseline_revision: str | None = None,
) -> list[FindingComparison]:
    """Each finding (of the incident's baseline, or seen in either window) before and since `rollout`.
    Warning events count where they were last seen: a probe failing in a new pod is still occurring."""
    assert rollout.created_at is not None
    (b0, b1), (a0, a1) = windows(rollout.created_at, now)
    earliest = _earliest(logs)
    reach = earliest is not None and earliest < b1  # some log read reaches back before the rollout
    new = [p for p in pods if p.owner == rollout.replicaset] or ([] if any(p.owner for p in pods) else list(pods))
    new_names = {p.name for p in new} | {rollout.replicaset}
    after_found = {f.pattern: f for f in derive_findings(
        table, namespace=namespace, service=service, pods=new,
        events=[e for e in events if e.object_name in new_names and _within(e, a0, a1)],
        logs=_slice(logs, a0, a1 + timedelta(seconds=1), {p.name for p in new}))}
    before_found: dict[str, Finding] = {}
    if reach:
        assert earliest is not None
        b0 = max(b0, earliest)
        before_found = {f.pattern: f for f in derive_findings(
            table, namespace=namespace, service=service, pods=[], logs=_slice(logs, b0, b1, None),
            events=[e for e in events if _within(e, b0, b1)])}
    # what the incident's /debug saw is "before" only if it saw an older revision (or, not knowing which
    # it saw, if it ran before this rollout)
    if baseline_revision:
        earlier = baseline_revision != str(rollout.revision)
    else:
        earlier = baseline_at is None or baseline_at <= rollout.created_at
    known = {f.pattern: f for f in baseline} if earlier else {}
    late = bool(baseline) and not known
    # the incident's findings in its order (most severe first), then what only the windows show
    titles = {**{f.pattern: f.title for f in baseline}, **{k: f.title for k, f in after_found.items()},
              **{k: f.title for k, f in before_found.items()}}
    out: list[FindingComparison] = []
    for pattern in titles:
        note = ""
        before: WindowCount | None = None
        if reach:
            before = WindowCount(start=b0, end=b1, lines=_count(before_found.get(pattern)))
        elif pattern in known and known[pattern].first_seen is not None:
            seen = known[pattern]
            assert seen.first_seen is not None
            # the incident saw it from its first line until /debug ran
            end = baseline_at or rollout.created_at
            before = WindowCount(start=seen.first_seen, end=max(end, seen.first_seen + timedelta(minutes=1)),
                                 lines=seen.count, source="incident")
            note = "before: what the incident's /debug saw (the pods that logged it were replaced)"
        elif late:
            note = "before: the incident's /debug saw this same revision, so what it saw is not from before it"
        else:
            note = "before: no log read reaches back before the rollout (its pods were replaced)"
        after = WindowCount(start=a0, end=a1, lines=_count(after_found.get(pattern)))
        seen_before = (before is not None and before.lines > 0) or pattern in known
        out.append(FindingComparison(
            pattern=pattern, title=titles[pattern], before=before, after=after, before_per_minute=_rate(before),
            after_per_minute=_rate(after), stopped=after.lines == 0 and seen_before, note=note,
        ))
    out.sort(key=lambda c: c.after is None or c.after.lines == 0)  # still occurring first
    return out


def _within(event: EventSnapshot, start: datetime, end: datetime) -> bool:
    seen = event.last_seen or event.first_seen
    return seen is not None and start <= seen <= end


def _count(finding: Finding | None) -> int:
    return finding.count if finding is not None else 0


def check_fix(
    table: PatternTable, *, namespace: str, service: str, deployment: DeploymentSnapshot | None,
    pods: Sequence[PodSnapshot], logs: Sequence[LogSnapshot], runs: Sequence[WorkflowRun], now: datetime,
    baseline: Sequence[Finding] = (), baseline_at: datetime | None = None, error_rate: MetricReading | None = None,
    events: Sequence[EventSnapshot] = (), baseline_revision: str | None = None,
) -> FixCheck:
    """The verdict of Step 5, with its evidence (`summary`) or what stands in the way."""
    rollout = newest_rollout(deployment, pods)
    if rollout is None or rollout.created_at is None:
        return FixCheck(summary="no rollout known (the Deployment's ReplicaSets could not be read): nothing to "
                                "compare before and after", error_rate=error_rate)
    d = deployment
    assert d is not None
    complete = d.updated_replicas >= d.replicas and d.ready_replicas >= d.replicas and \
        rollout.ready_replicas >= rollout.replicas
    new = [p for p in pods if p.owner == rollout.replicaset] or list(pods)
    healthy = bool(new) and all(p.ready for p in new) and not any(p.restarts for p in new)
    comparisons = compare(table, namespace=namespace, service=service, rollout=rollout, pods=pods, logs=logs,
                          now=now, baseline=baseline, baseline_at=baseline_at, events=events,
                          baseline_revision=baseline_revision)
    elapsed = now - rollout.created_at
    what = describe_rollout(service, rollout, runs, now=now)
    still = [c for c in comparisons if c.after is not None and c.after.lines > 0]
    blockers = []
    if not complete:
        blockers.append(f"rollout not complete ({d.updated_replicas}/{d.replicas} updated, "
                        f"{d.ready_replicas}/{d.replicas} ready)")
    if not healthy:
        restarts = sum(p.restarts for p in new)
        ready = sum(p.ready for p in new)
        blockers.append(f"pods not healthy ({ready}/{len(new)} ready, {plural(restarts, 'restart')})")
    if still:
        blockers.append("still occurring since the rollout: " + "; ".join(
            f"{c.title} {c.after.lines} in {span(c.after.end - c.after.start)} ({c.after_per_minute:g}/min)"
            for c in still[:SHOWN] if c.after is not None))
    if elapsed < MIN_AFTER:
        blockers.append(f"too early: {span(elapsed)} since the rollout, verify again after {span(MIN_AFTER)}")
    # Prometheus configured: its error rate must be zero too; failing to read it blocks, having no data
    # for this service (no such metric) does not, and the evidence says so
    if error_rate is not None and (error_rate.error is not None or (
            error_rate.now is not None and error_rate.now > ZERO_RATE)):
        blockers.append(f"error rate {_metric(error_rate)}")
    lines_after = sum(s.line_count for s in since_rollout(logs, pods, rollout, now))
    if not blockers and not lines_after and error_rate is None:
        blockers.append("no log line since the rollout to judge by")
    if blockers:
        return FixCheck(rollout=rollout, rollout_complete=complete, pods_healthy=healthy, comparisons=comparisons,
                        error_rate=error_rate, summary=f"since {what}: " + "; ".join(blockers))
    stopped = [c for c in comparisons if c.stopped]
    parts = [f"since {what}, {span(elapsed)}: {sum(p.ready for p in new)}/{len(new)} pods ready, 0 restarts"]
    if stopped:
        parts.append("stopped: " + "; ".join(
            f"{c.title} 0/min (was {c.before_per_minute:g}/min" + (", per the incident)" if c.before and
                                                                   c.before.source == "incident" else ")")
            for c in stopped[:SHOWN]))
    else:
        parts.append(f"no error pattern in {plural(lines_after, 'line')} logged since")
    if error_rate is not None:
        parts.append(f"error rate {_metric(error_rate)}")
    return FixCheck(rollout=rollout, rollout_complete=True, pods_healthy=True, comparisons=comparisons,
                    error_rate=error_rate, confirmed=True, summary="; ".join(parts))


def _metric(m: MetricReading) -> str:
    """The error rate (a ratio) in per cent, now and an hour ago."""
    if m.error is not None:
        return f"unknown ({m.error})"
    def pct(value: float) -> str:
        return f"{value * 100:.2f}%"
    now = "no data in Prometheus" if m.now is None else pct(m.now)
    was = "" if m.hour_ago is None else f" (an hour ago {pct(m.hour_ago)})"
    return f"{now}{was}"

"""The fix loop: the onset of each finding against the rollouts (/debug) and the fix check (/verify):
pure functions over snapshots, and the CLI end to end against the sandbox (taskflow: errors still occur;
taskflow-fixed: the fix rolled out and they stopped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.changes import Rollout
from bot.models import DeploymentSnapshot, Finding, LogLine, LogSnapshot, PodSnapshot, WorkflowRun
from playbooks.fixcheck import check_fix, windows
from playbooks.onset import find_onsets, span, utc
from playbooks.patterns import PatternTable
from tests.test_cli import opsbot

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POOL = "ERROR sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out"
SHA12, SHA13 = "cd73e1b123ee217c1205809c1d5cb52ffaa90f4e", "9f1c2ab7d4e8f30a6b5c1d2e3f4a5b6c7d8e9f01"
RUNS = [WorkflowRun(id=2, run_number=413, head_sha=SHA13, conclusion="success", actor="ana-dev"),
        WorkflowRun(id=1, run_number=411, head_sha=SHA12, conclusion="success", actor="alice")]


def rollout(revision: int, ago: timedelta, commit: str, *, ready: int = 3) -> Rollout:
    return Rollout(revision=revision, replicaset=f"api-rs{revision}", created_at=NOW - ago, commit=commit,
                   replicas=3, ready_replicas=ready)


def finding(first_seen: datetime, pattern: str = "sqlalchemy-pool-exhausted", count: int = 12) -> Finding:
    return Finding(pattern=pattern, title="Database connection pool exhausted", count=count, first_seen=first_seen)


def test_onset_after_a_rollout_names_revision_commit_run_and_actor_in_utc() -> None:
    rev12 = rollout(12, timedelta(hours=2), SHA12)
    [onset] = find_onsets("taskflow-api", [finding(NOW - timedelta(hours=2) + timedelta(minutes=3))], [rev12],
                          RUNS, now=NOW)
    assert onset.relation == "after" and onset.minutes == 3.0
    assert onset.text == ("Database connection pool exhausted began 3 min after taskflow-api rolled out revision 12 "
                          "at 10:00 UTC (commit cd73e1b, run #411 by alice)")
    assert (onset.revision, onset.run_number, onset.actor) == (12, 411, "alice")


def test_onset_before_the_latest_rollout_is_not_caused_by_it() -> None:
    rollouts = [rollout(13, timedelta(minutes=30), SHA13), rollout(12, timedelta(days=2), SHA12)]
    [onset] = find_onsets("taskflow-api", [finding(NOW - timedelta(hours=2, minutes=30))], rollouts, RUNS, now=NOW)
    assert onset.relation == "before"
    assert "began 2 h before the latest rollout (revision 13 at 11:30 UTC): not caused by it" in onset.text
    assert "after taskflow-api rolled out revision 12 at 2026-11-27 12:00 UTC" in onset.text


def test_onset_without_a_known_rollout_says_so() -> None:
    [onset] = find_onsets("svc", [finding(NOW)], [], [], now=NOW)
    assert onset.relation == "unknown" and "no rollout known" in onset.text and "UTC" in onset.text


def test_spans_and_utc_read_as_people_say_them() -> None:
    assert [span(timedelta(seconds=s)) for s in (45, 180, 7200, 7500, 3 * 86400)] == \
        ["45 s", "3 min", "2 h", "2 h 5 min", "3 d"]
    assert utc(NOW, now=NOW) == "12:00 UTC" and utc(NOW - timedelta(days=1), now=NOW) == "2026-11-28 12:00 UTC"


def _pod(name: str, owner: str, *, ready: bool = True, restarts: int = 0) -> PodSnapshot:
    return PodSnapshot(name=name, namespace="ns", ready=ready, restarts=restarts, owner=owner)


def _log(pod: str, stamps: list[tuple[timedelta, str]]) -> LogSnapshot:
    return LogSnapshot(pod=pod, container="api", lines=[LogLine(NOW - ago, text) for ago, text in stamps])


def _deployment(rollouts: list[Rollout], ready: int = 3) -> DeploymentSnapshot:
    return DeploymentSnapshot(name="api", namespace="ns", replicas=3, ready_replicas=ready, updated_replicas=3,
                              rollouts=rollouts)


def test_fix_confirmed_when_the_errors_stopped_and_the_rollout_is_complete_and_healthy() -> None:
    table = PatternTable.default()
    rev13 = rollout(13, timedelta(minutes=30), SHA13)
    # an old pod still listed (draining) logged the errors before the rollout; the new ones log none since
    logs = [_log("old", [(timedelta(minutes=m), POOL) for m in (55, 50, 45, 40, 35)]),
            *(_log(f"new{i}", [(timedelta(minutes=m), "INFO GET /tasks 200 12ms") for m in (25, 15, 5)])
              for i in range(3))]
    pods = [_pod(f"new{i}", "api-rs13") for i in range(3)]
    fix = check_fix(table, namespace="ns", service="api", deployment=_deployment([rev13]), pods=pods, logs=logs,
                    runs=RUNS, now=NOW)
    assert fix.confirmed, fix.summary
    [pool] = [c for c in fix.comparisons if c.pattern == "sqlalchemy-pool-exhausted"]
    assert pool.stopped and pool.before is not None and pool.before.lines == 5 and pool.after is not None
    # the before window starts where the logs read begin: 5 lines in the 25 min from 55 to 30 min ago
    assert pool.after.lines == 0 and pool.before_per_minute == 0.2 and pool.after_per_minute == 0
    assert "revision 13" in fix.summary and "run #413 by ana-dev" in fix.summary and "0/min (was 0.2/min)" \
        in fix.summary


def test_fix_not_confirmed_while_a_finding_still_occurs_and_it_says_which() -> None:
    table = PatternTable.default()
    rev13 = rollout(13, timedelta(minutes=30), SHA13)
    logs = [_log("new0", [(timedelta(minutes=10), POOL)])]
    fix = check_fix(table, namespace="ns", service="api", deployment=_deployment([rev13]),
                    pods=[_pod("new0", "api-rs13")], logs=logs, runs=RUNS, now=NOW)
    assert not fix.confirmed
    assert "still occurring since the rollout: Database connection pool exhausted (SQLAlchemy QueuePool) 1 in" \
        in fix.summary


def test_fix_not_confirmed_on_an_incomplete_rollout_unhealthy_pods_or_too_early() -> None:
    table = PatternTable.default()
    young = rollout(13, timedelta(minutes=2), SHA13, ready=2)
    pods = [_pod("new0", "api-rs13", ready=False, restarts=2)]
    fix = check_fix(table, namespace="ns", service="api", deployment=_deployment([young], ready=2), pods=pods,
                    logs=[_log("new0", [(timedelta(minutes=1), "INFO ok")])], runs=RUNS, now=NOW)
    assert not fix.confirmed
    for words in ("rollout not complete", "pods not healthy (0/1 ready, 2 restarts)", "too early: 2 min"):
        assert words in fix.summary


def test_the_incidents_findings_are_the_before_side_when_the_pods_were_replaced() -> None:
    table = PatternTable.default()
    rev13 = rollout(13, timedelta(minutes=30), SHA13)
    logs = [_log("new0", [(timedelta(minutes=20), "INFO ok")])]
    seen = finding(NOW - timedelta(hours=2), count=24)
    fix = check_fix(table, namespace="ns", service="api", deployment=_deployment([rev13]),
                    pods=[_pod("new0", "api-rs13")], logs=logs, runs=RUNS, now=NOW, baseline=[seen],
                    baseline_at=NOW - timedelta(hours=1), baseline_revision="12")
    [pool] = fix.comparisons
    assert pool.before is not None and pool.before.source == "incident" and pool.before_per_minute == 0.4
    assert pool.stopped and fix.confirmed and "per the incident" in fix.summary
    # the same report taken on the same revision is not a "before"
    again = check_fix(table, namespace="ns", service="api", deployment=_deployment([rev13]),
                      pods=[_pod("new0", "api-rs13")], logs=logs, runs=RUNS, now=NOW, baseline=[seen],
                      baseline_revision="13")
    assert again.comparisons[0].before is None and "same revision" in again.comparisons[0].note


def test_windows_are_comparable_and_at_most_an_hour() -> None:
    (b0, b1), (a0, a1) = windows(NOW - timedelta(hours=3), NOW)
    assert a1 - a0 == b1 - b0 == timedelta(hours=1) and b1 == NOW - timedelta(hours=3)


def test_debug_demo_shows_the_onset_line() -> None:
    done = opsbot("debug", "taskflow-api", "--demo")
    text = " ".join(done.stdout.split())
    assert "What changed (times UTC)" in text
    assert "Database connection pool exhausted (SQLAlchemy QueuePool) began" in text
    assert "after taskflow-api rolled out revision 12 at" in text and "(commit cd73e1b, run #411 by ben-ops)" in text
    report = json.loads(opsbot("debug", "taskflow-api", "--demo", "--json").stdout)
    assert any(o["pattern"] == "sqlalchemy-pool-exhausted" and o["relation"] == "after" and o["revision"] == 12
               for o in report["onsets"])
    assert report["deployment"]["rollouts"][0]["revision"] == 12


def _item(report: dict[str, object], key: str) -> dict[str, object]:
    return next(i for i in report["checklist"] if i["key"] == key)  # type: ignore[attr-defined,index]


def test_verify_demo_compares_each_finding_and_leaves_the_error_rate_unticked() -> None:
    done = opsbot("verify", "taskflow-api", "--demo", "--json")
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    fix = report["fix"]
    assert not fix["confirmed"] and "still occurring since the rollout" in fix["summary"]
    pool = next(c for c in fix["comparisons"] if c["pattern"] == "sqlalchemy-pool-exhausted")
    assert pool["after"]["lines"] > 0 and pool["after_per_minute"] > 0 and not pool["stopped"]
    assert "before" in pool and pool["note"]
    assert _item(report, "error-rate")["done"] is False


def test_verify_after_the_fix_rolled_out_ticks_error_rate_back_to_zero_with_evidence(tmp_path: Path) -> None:
    before = tmp_path / "before.json"
    before.write_text(opsbot("debug", "taskflow-api", "--demo", "--json").stdout)
    done = opsbot("verify", "taskflow-api", "--scenario", "taskflow-fixed", "--baseline", str(before), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    fix = report["fix"]
    assert fix["confirmed"] and fix["rollout"]["revision"] == 13
    pool = next(c for c in fix["comparisons"] if c["pattern"] == "sqlalchemy-pool-exhausted")
    assert pool["stopped"] and pool["before"]["lines"] > 0 and pool["after"]["lines"] == 0
    item = _item(report, "error-rate")
    assert item["done"] is True and item["by"] == "opsbot"
    assert "revision 13" in str(item["evidence"]) and "run #413 by ana-dev" in str(item["evidence"])
    assert "Database connection pool exhausted (SQLAlchemy QueuePool) 0/min (was" in str(item["evidence"])
    # without the saved report, the ticks still come with the evidence of the logs since the rollout
    alone = json.loads(opsbot("verify", "taskflow-api", "--scenario", "taskflow-fixed", "--json").stdout)
    assert _item(alone, "error-rate")["done"] is True and "no error pattern in" in str(_item(alone, "error-rate")
                                                                                          ["evidence"])


def test_verify_baseline_that_is_not_a_report_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = opsbot("verify", "taskflow-api", "--demo", "--baseline", str(bad))
    assert done.returncode == 2 and done.stderr.startswith("opsbot: ") and len(done.stderr.splitlines()) == 1


def test_a_pattern_row_may_carry_a_regression_test_validated_at_load(tmp_path: Path) -> None:
    from bot.errors import PatternFileError

    row = ("patterns:\n  - id: my-leak\n    title: T\n    severity: error\n    match: ['leak']\n    cause: c\n"
           "    fix: f\n    regression_test: |\n      def test_no_leak(client):\n          assert client.get('/').ok\n")
    path = tmp_path / "mine.yaml"
    path.write_text(row)
    assert PatternTable.load(path).get("my-leak").regression_test == \
        "def test_no_leak(client):\n    assert client.get('/').ok\n"
    path.write_text(row.split("    regression_test")[0] + "    regression_test: ''\n")
    with pytest.raises(PatternFileError, match="field 'regression_test'"):
        PatternTable.load(path)
    seed = PatternTable.default().get("sqlalchemy-pool-exhausted").regression_test
    assert seed is not None and "def test_tasks_endpoint_under_load(client):" in seed


def test_the_regression_test_is_shown_with_the_fix() -> None:
    from bot.render import findings_messages

    report = json.loads(opsbot("debug", "taskflow-api", "--demo", "--json").stdout)
    pool = next(f for f in report["findings"] if f["pattern"] == "sqlalchemy-pool-exhausted")
    assert "test_tasks_endpoint_under_load" in pool["regression_test"]
    text = opsbot("debug", "taskflow-api", "--demo").stdout
    assert text.index("fix") < text.index("regression test") < text.index("def test_tasks_endpoint_under_load")
    from bot.models import Report

    files = findings_messages(Report.model_validate(report))[0].files
    details = next(f for f in files if f.filename.startswith("findings-")).content
    assert "   regression test:\n      # the walkthrough's Step 4" in details
    assert details.index("fix snippet:") < details.index("regression test:")
    assert "What changed (times UTC)" in details and "run #411 by ben-ops" in details


def test_a_rollback_is_dated_by_its_pods_not_its_old_replicaset() -> None:
    """`kubectl rollout undo` reuses revision 12's ReplicaSet as revision 14: its creationTimestamp is two
    days old, its pods are ten minutes old."""
    from playbooks.fixcheck import newest_rollout
    from playbooks.onset import rolled_back_times

    rollouts = [rollout(14, timedelta(days=2), SHA12), rollout(13, timedelta(hours=1), SHA13)]
    pods = [PodSnapshot(name="p", namespace="ns", owner="api-rs14", created_at=NOW - timedelta(minutes=10))]
    dated = {r.revision: r.created_at for r in rolled_back_times(rollouts, pods)}
    assert dated == {14: NOW - timedelta(minutes=10), 13: NOW - timedelta(hours=1)}
    newest = newest_rollout(_deployment(rollouts), pods)
    assert newest is not None and newest.revision == 14 and newest.created_at == NOW - timedelta(minutes=10)
    [onset] = find_onsets("api", [finding(NOW - timedelta(minutes=30))], rolled_back_times(rollouts, pods), RUNS,
                          now=NOW)
    assert onset.relation == "before" and "before the latest rollout (revision 14 at 11:50 UTC)" in onset.text

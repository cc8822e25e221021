"""The step engine: concurrency, per-step timeouts, failures that do not stop the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.errors import ForbiddenError
from bot.models import Report, StepStatus
from playbooks.engine import Step, StepSkipped, run_steps


def new_report() -> Report:
    return Report(service="svc", namespace="ns", started_at=datetime.now(UTC))


async def test_steps_run_concurrently_and_in_dependency_order() -> None:
    order: list[str] = []
    both_started = asyncio.Event()
    started: set[str] = set()

    def step(name: str):
        async def fn() -> str:
            order.append(name)
            started.add(name)
            if {"a", "b"} <= started:
                both_started.set()
            if name in ("a", "b"):
                await both_started.wait()  # deadlocks unless a and b run at the same time
            return f"{name} done"
        return fn

    report = await run_steps(new_report(), [
        Step("a", "A", step("a")), Step("b", "B", step("b")), Step("c", "C", step("c"), needs=("a", "b")),
    ], playbook="test")
    assert order[-1] == "c"
    assert [s.status for s in report.steps] == [StepStatus.OK] * 3
    assert report.steps[2].summary == "c done"
    assert report.errors == []


async def test_a_failed_step_is_reported_and_the_others_go_on() -> None:
    async def forbidden() -> str:
        raise ForbiddenError('opsbot may not list events in namespace "ns"; grant "list" on "events"')

    async def fine() -> str:
        return "ok"

    async def after() -> str:
        return "ran anyway"

    report = await run_steps(new_report(), [
        Step("events", "Events", forbidden),
        Step("pods", "Pods", fine),
        Step("needs-events", "Needs", fine, needs=("events",)),
        Step("after-events", "After", after, after=("events",)),
    ], playbook="test")
    status = {s.name: s for s in report.steps}
    assert status["events"].status is StepStatus.FAILED
    assert "grant \"list\" on \"events\"" in (status["events"].error or "")
    assert status["pods"].status is StepStatus.OK
    assert status["needs-events"].status is StepStatus.SKIPPED
    assert "events" in status["needs-events"].summary
    assert status["after-events"].summary == "ran anyway"
    assert [(e.step, e.message) for e in report.errors] == [("events", status["events"].error)]


async def test_a_step_over_its_timeout_is_cut_off() -> None:
    never = asyncio.Event()

    async def hangs() -> str:
        await never.wait()
        return "unreachable"

    async def quick() -> str:
        return "quick"

    report = await run_steps(new_report(), [Step("slow", "Slow", hangs, timeout=0.05), Step("q", "Q", quick)],
                             playbook="test")
    assert report.steps[0].status is StepStatus.TIMEOUT
    assert "0.05" in (report.steps[0].error or "")
    assert report.steps[1].status is StepStatus.OK


async def test_a_crash_is_an_internal_error_not_an_exception() -> None:
    async def boom() -> str:
        raise KeyError("x")

    report = await run_steps(new_report(), [Step("boom", "Boom", boom)], playbook="test")
    assert report.steps[0].status is StepStatus.FAILED
    assert report.errors[0].message.startswith("internal error: KeyError")


async def test_progress_sees_every_state_and_a_failing_sink_changes_nothing() -> None:
    seen: list[tuple[str, ...]] = []

    async def progress(report: Report) -> None:
        seen.append(tuple(s.status.value for s in report.steps))
        raise RuntimeError("slack is down")

    async def fine() -> str:
        return "ok"

    report = await run_steps(new_report(), [Step("a", "A", fine), Step("b", "B", fine, needs=("a",))],
                             playbook="test", on_progress=progress)
    assert seen[0] == ("pending", "pending")
    assert seen[-1] == ("ok", "ok")
    assert ("running", "pending") in seen
    assert report.steps_done == 2


async def test_unknown_dependency_is_a_programming_error() -> None:
    async def fine() -> str:
        return "ok"

    try:
        await run_steps(new_report(), [Step("a", "A", fine, needs=("nope",))], playbook="test")
    except ValueError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("expected ValueError")


async def test_a_step_that_does_not_apply_is_skipped_not_failed() -> None:
    async def not_configured() -> str:
        raise StepSkipped("no GitHub repository for svc: set services.svc.repo")

    async def after() -> str:
        return "ran"

    report = await run_steps(new_report(), [Step("runs", "Runs", not_configured),
                                            Step("next", "Next", after, needs=("runs",))], playbook="test")
    assert report.steps[0].status is StepStatus.SKIPPED
    assert report.steps[0].summary == "skipped: no GitHub repository for svc: set services.svc.repo"
    assert report.steps[1].status is StepStatus.SKIPPED  # needed a step that did not succeed
    assert report.errors == []


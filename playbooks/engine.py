"""The step engine: runs a playbook's steps concurrently, each with its own timeout.

A step that fails does not stop the others: the report says which step failed and why, steps
that *need* it are skipped with that reason, and steps that only come *after* it still run with
whatever data there is. Progress is reported whenever a step starts or ends, so a Slack thread or
a terminal can fill step by step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot.errors import OpsbotError, UpstreamTimeoutError
from bot.models import Report, StepError, StepResult, StepStatus
from bot.plumbing.metrics import observe_step

log = logging.getLogger(__name__)

Progress = Callable[[Report], Awaitable[None]]


class StepSkipped(Exception):
    """Raised by a step that does not apply here (nothing configured for it): skipped, not failed."""

StepFn = Callable[[], Awaitable[str]]  # does the work, returns a one-line summary


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: StepFn
    needs: tuple[str, ...] = ()  # must have succeeded, else this step is skipped
    after: tuple[str, ...] = ()  # must have ended (in any way) before this one starts
    timeout: float = 30.0


@dataclass
class _Run:
    report: Report
    on_progress: Progress | None
    playbook: str
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def result(self, name: str) -> StepResult:
        return next(s for s in self.report.steps if s.name == name)

    async def notify(self) -> None:
        if self.on_progress is None:
            return
        async with self.lock:  # progress reaches the sink in order, one update at a time
            try:
                await self.on_progress(self.report)
            except Exception:  # a sink that fails must not stop the investigation
                log.exception("progress callback failed")


async def run_steps(
    report: Report, steps: Sequence[Step], *, playbook: str, on_progress: Progress | None = None
) -> Report:
    """Run `steps` into `report` (its `steps` and `errors` are filled in place) and return it."""
    names = {s.name for s in steps}
    for step in steps:
        unknown = set(step.needs + step.after) - names
        if unknown:
            raise ValueError(f"step {step.name} depends on unknown steps {sorted(unknown)}")
    run = _Run(report=report, on_progress=on_progress, playbook=playbook)
    report.steps = [StepResult(name=s.name, title=s.title) for s in steps]
    run.done = {s.name: asyncio.Event() for s in steps}
    started = time.perf_counter()
    await run.notify()
    await asyncio.gather(*(_run_step(run, step) for step in steps))
    report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return report


async def _run_step(run: _Run, step: Step) -> None:
    result = run.result(step.name)
    try:
        for dep in step.needs + step.after:
            await run.done[dep].wait()
        failed = [dep for dep in step.needs if run.result(dep).status is not StepStatus.OK]
        if failed:
            result.status = StepStatus.SKIPPED
            result.summary = f"skipped: needs {', '.join(failed)}, which did not succeed"
            return
        result.status = StepStatus.RUNNING
        await run.notify()
        began = time.perf_counter()
        kind: str | None = None  # the error kind, for the step error metric
        try:
            result.summary = await asyncio.wait_for(step.run(), timeout=step.timeout)
            result.status = StepStatus.OK
        except StepSkipped as exc:
            result.status = StepStatus.SKIPPED
            result.summary = f"skipped: {exc}"
        except (TimeoutError, UpstreamTimeoutError) as exc:
            result.status = StepStatus.TIMEOUT
            result.error = str(exc) or f"took longer than {step.timeout:g}s"
            kind = "timeout"
        except OpsbotError as exc:
            result.status = StepStatus.FAILED
            result.error = str(exc)
            kind = exc.kind
        except Exception as exc:  # a bug of ours: say so plainly, keep the other steps going
            log.exception("step %s crashed", step.name)
            result.status = StepStatus.FAILED
            result.error = f"internal error: {type(exc).__name__}: {exc}"
            kind = "internal"
        result.duration_ms = round((time.perf_counter() - began) * 1000, 1)
        observe_step(run.playbook, step.name, result.duration_ms / 1000, kind)
        if result.error:
            run.report.errors.append(StepError(step=step.name, message=result.error))
    finally:
        run.done[step.name].set()
        await run.notify()

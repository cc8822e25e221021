"""The CI runs behind a service (`opsbot runs`, `/runs`), like `gh run list`, and watching one until it
ends (`/runs SERVICE watch`): which job and step failed.

The rows are a pure function of the runs the GitHub gateway read; watching polls one run with
conditional requests (the gateway sends the ETag of its last answer: a 304 costs no rate limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bot.changes import RunListing, RunRow
from bot.errors import UsageError
from bot.inputs import check_name
from bot.models import WorkflowJob, WorkflowRun

if TYPE_CHECKING:
    from playbooks.runtime import Runtime

WATCH_INTERVAL = 15.0  # seconds between two polls of a running run: GitHub updates a run's status about that often
WATCH_TIMEOUT = 6 * 3600.0  # GitHub cancels a job after 6 h: a watch never outlives its run
DEFAULT_LIMIT = 10


def run_row(run: WorkflowRun, jobs: Sequence[WorkflowJob] = ()) -> RunRow:
    """One line of `gh run list`: workflow, commit, actor, result, duration (once ended), link."""
    duration = None
    if run.status == "completed" and run.started_at and run.updated_at:
        duration = max(0.0, (run.updated_at - run.started_at).total_seconds())
    return RunRow(
        id=run.id, workflow=run.name, run_number=run.run_number, commit=run.head_sha[:7], actor=run.actor,
        branch=run.head_branch, event=run.event, status=run.status, conclusion=run.conclusion,
        started_at=run.started_at or run.created_at, duration_seconds=duration, url=run.html_url,
        failed_jobs=[f"{j.name}: {', '.join(j.failed_steps)}" if j.failed_steps else j.name for j in jobs],
    )


def _repo_of(rt: Runtime, service: str) -> tuple[str, str | None, str | None]:
    check_name(service, "service")
    if rt.github is None:
        raise UsageError("no GitHub access configured (GITHUB_TOKEN / github.api_url)")
    cat = rt.settings.service(service)
    if not cat.repo:
        raise UsageError(f"no GitHub repository for {service}: set services.{service}.repo in the opsbot config")
    return cat.repo, cat.workflow, cat.branch


async def list_service_runs(rt: Runtime, service: str, *, limit: int = DEFAULT_LIMIT) -> RunListing:
    """The newest runs of the service's workflow on its branch, newest first; a failed one names its
    failed jobs and steps."""
    repo, workflow, branch = _repo_of(rt, service)
    assert rt.github is not None
    runs = await rt.github.list_runs(repo, workflow=workflow, branch=branch, limit=limit)
    failed = [r for r in runs if r.conclusion in ("failure", "timed_out", "startup_failure")][:3]
    jobs = await asyncio.gather(*(rt.github.failed_jobs(repo, r.id) for r in failed))
    by_run = {r.id: j for r, j in zip(failed, jobs, strict=True)}
    return RunListing(service=service, repo=repo, workflow=workflow, branch=branch,
                      runs=[run_row(r, by_run.get(r.id, [])) for r in runs])


def run_to_watch(listing: RunListing) -> RunRow | None:
    """The run a watch follows: the newest one still running, else the newest."""
    return next((r for r in listing.runs if r.status != "completed"), listing.runs[0] if listing.runs else None)


async def watch_run(
    rt: Runtime, service: str, run_id: int, *, interval: float = WATCH_INTERVAL, timeout: float = WATCH_TIMEOUT,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> RunRow:
    """Poll one run until it ends (conditional requests: a 304 costs no rate limit) and return it with
    its failed jobs and steps. A run still going after `timeout` is returned as it is."""
    repo, _, _ = _repo_of(rt, service)
    assert rt.github is not None
    waited = 0.0
    run = await rt.github.get_run(repo, run_id)
    while run.status != "completed" and waited < timeout:
        await sleep(interval)
        waited += interval
        run = await rt.github.get_run(repo, run_id)
    jobs = await rt.github.failed_jobs(repo, run.id) if run.conclusion not in (None, "success", "skipped") else []
    return run_row(run, jobs)

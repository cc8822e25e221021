"""Follow-ups: the read-only actions behind "next step" buttons (previous logs, a container's log, a pod's
events, a CI run's failed jobs): one fetch each, one readable result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import OpsbotError, UsageError
from bot.inputs import check_name
from bot.models import ActionKind, ActionResult, EventSnapshot, NextAction
from bot.redact import redact
from playbooks.next_steps import grep_lines

if TYPE_CHECKING:
    from playbooks.runtime import Runtime


def format_events(events: list[EventSnapshot]) -> str:
    """One line an event, its last time in UTC (dated when it is not today's)."""
    if not events:
        return "no events"
    rows = []
    today = datetime.now(UTC).date()
    for e in events:
        at = e.last_seen.astimezone(UTC) if e.last_seen else None
        when = "--:--:--" if at is None else f"{at:%H:%M:%S}" if at.date() == today else f"{at:%Y-%m-%d %H:%M:%S}"
        rows.append(f"{when}  {e.type:<7} {e.reason:<18} x{e.count:<3} {e.message}")
    return "time (UTC)\n" + "\n".join(rows)


async def run_followup(rt: Runtime, action: NextAction, *, context: str | None = None) -> ActionResult:
    """Run one action; errors become a result that says what went wrong (ok=False), never an exception."""
    try:
        result = await _run(rt, action, context)
    except OpsbotError as exc:
        result = ActionResult(title=action.title, text=str(exc), ok=False)
    return ActionResult(title=redact(result.title), text=redact(result.text), ok=result.ok)


async def _run(rt: Runtime, action: NextAction, context: str | None) -> ActionResult:
    ns = check_name(action.namespace, "namespace")
    title = action.title
    if action.kind in (ActionKind.PREVIOUS_LOGS, ActionKind.CONTAINER_LOGS, ActionKind.POD_EVENTS):
        if not action.pod:
            raise UsageError("this action needs a pod")
        k8s = rt.kubernetes(context)
        if action.kind is ActionKind.POD_EVENTS:
            return ActionResult(title=title, text=format_events(await k8s.pod_events(ns, action.pod)))
        if not action.container:
            raise UsageError("this action needs a container")
        snap = await k8s.read_log(ns, action.pod, action.container, tail=action.tail or rt.settings.kubernetes.log_tail,
                                  previous=action.kind is ActionKind.PREVIOUS_LOGS)
        if snap.error:
            return ActionResult(title=title, text=snap.error, ok=False)
        lines = [line.text for line in snap.lines]
        if action.grep:  # what the command shows is the filtered log, so that is what the button shows
            try:
                lines = grep_lines(lines, action.grep)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            return ActionResult(title=title, text="\n".join(lines) or "(no line matches)")
        return ActionResult(title=title, text="\n".join(lines) or "(empty log)")
    if rt.github is None or not action.repo or action.run_id is None:
        raise UsageError("this action needs GitHub access, a repository and a run id")
    jobs = await rt.github.failed_jobs(action.repo, action.run_id)
    if not jobs:
        return ActionResult(title=title, text="no failed jobs in this run")
    parts = []
    for job in jobs[:3]:
        steps = ", ".join(job.failed_steps) or "no step marked failed"
        tail = await rt.github.job_log(action.repo, job.id, tail=60)
        parts.append(f"job {job.name} ({job.conclusion}): failed steps: {steps}\n{job.html_url}\n{tail}")
    return ActionResult(title=title, text="\n\n".join(parts))

"""The thread's root message: the verdict (severity, counts) and where it was looked at."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    HeaderBlock,
    PlainTextObject,
)

from bot.models import (
    SEVERITY_ORDER,
    Incident,
    Message,
    Report,
    Severity,
    StepStatus,
    path_summary,
)
from bot.render.message import MAX_FALLBACK, MAX_HEADER, BlockId
from bot.render.text import clean, clip, context, plain, section, user
from bot.text import plural

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.ERROR: ":large_orange_circle:",
    Severity.WARNING: ":large_yellow_circle:",
    Severity.INFO: ":large_blue_circle:",
}


def running(report: Report) -> bool:
    return any(s.status in (StepStatus.PENDING, StepStatus.RUNNING) for s in report.steps)


def _worst(report: Report) -> Severity | None:
    present = {f.severity for f in report.findings}
    return next((s for s in SEVERITY_ORDER if s in present), None)


def verdict(report: Report) -> str:
    """One line: "3 pods · 1 restarting · 2 findings" (a trace: "6 lines · web -> api · 2 findings")."""
    if report.kind == "trace":
        parts = [plural(len(report.trace), "line")]
        if report.trace:
            parts.append(clip(path_summary(report.trace), 300))
    else:
        parts = [plural(len(report.pods), "pod")]
        not_ready = sum(not p.ready for p in report.pods)
        restarting = sum(p.restarts > 0 for p in report.pods)
        if not_ready:
            parts.append(f"{not_ready} not ready")
        if restarting:
            parts.append(f"{restarting} restarting")
    unrecognised = sum(f.unrecognised for f in report.findings)
    parts.append(plural(len(report.findings) - unrecognised, "finding"))
    if unrecognised:  # errors outside the pattern table: counted apart, never folded into an all-clear
        parts.append(plural(unrecognised, "unrecognised error signature"))
    failed = sum(s.status in (StepStatus.FAILED, StepStatus.TIMEOUT) for s in report.steps)
    if failed:
        parts.append(f"{plural(failed, 'step')} failed")
    return " · ".join(parts)


def headline(report: Report) -> str | None:
    """The top finding in words, for the verdict: "Database connection pool exhausted ×12 in 1 of 3
    pods since 21:37 UTC → kubectl logs ...". None while running or when nothing was found."""
    if running(report) or not report.findings:
        return None
    top = min(report.findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.unrecognised, -f.count))
    words = top.title + (f" ×{top.count}" if top.count else "")
    if top.pods and report.pods:
        words += f" in {len(top.pods)} of {plural(len(report.pods), 'pod')}"
    if top.first_seen:
        words += f" since {top.first_seen:%H:%M} UTC"
    if top.next_commands:
        words += f" → {top.next_commands[0].command}"
    return words


def _status(incident: Incident | None, report: Report) -> str:
    if incident is not None and incident.status == "closed":
        line = f":white_check_mark: *Closed* by {user(incident.closed_by)}"
        return f"{line}: {clean(incident.summary, 500)}" if incident.summary else line
    if running(report):
        return ":hourglass_flowing_sand: *Investigating*"
    if report.kind == "trace" and not report.trace and not report.errors:
        return ":mag: *No log line carries this id*"
    worst = _worst(report)
    if worst is None:
        return ":large_green_circle: *No known problem found*" if not report.errors else ":warning: *Incomplete*"
    return f"{SEVERITY_EMOJI[worst]} *{worst.value.capitalize()}*"


def root_message(incident: Incident | None, report: Report, *, requested_by: str) -> Message:
    title = f"opsbot · {report.kind} {report.service}"
    where = f"*Namespace* `{clean(report.namespace, 100)}`"
    if report.context:
        where += f" · *Cluster* `{clean(report.context, 100)}`"
    where += f" · asked by {user(requested_by)}"
    top = headline(report)
    # while running there is nothing to count yet: "0 pods · 0 findings" would be read as an answer
    empty = running(report) and not report.pods and not report.findings and not report.trace
    line = "investigating: the thread fills in as the steps end" if empty else verdict(report)
    status = f"{_status(incident, report)}" + (f" · {clean(top, 400)}" if top else "")
    blocks = [
        HeaderBlock(text=PlainTextObject(text=plain(title, MAX_HEADER)), block_id=BlockId.ROOT).to_dict(),
        section(f"{status}\n{clean(line)}\n{where}", BlockId.STATUS),
    ]
    notes = []
    if incident is not None:
        notes.append(f"Incident #{incident.id} · opened {incident.opened_at:%Y-%m-%d %H:%M} UTC")
    if report.deployment is not None:
        d = report.deployment
        rollout = f"{d.ready_replicas}/{d.replicas} ready"
        if d.commit:
            rollout += f" · commit `{clean(d.commit[:12])}`"
        notes.append(rollout)
    if notes:
        blocks.append(context(" · ".join(notes)))
    unknown = [f for f in report.findings if f.unrecognised][:3]
    if unknown:
        top = " · ".join(f"`{clean(f.title.removeprefix('Unrecognised error: '), 90)}` ×{f.count}" for f in unknown)
        blocks.append(context(f"Unrecognised errors: {top}"))
    said = " · ".join(part for part in (top, line) if part)
    text = clean(f"{title} ({report.namespace}): {said}", MAX_FALLBACK)
    return Message(text=text, blocks=blocks)


def verdict_note(report: Report, *, requested_by: str) -> Message:
    """Once the run ends, a reply that mentions who asked: Slack notifies on it (edits of the root
    do not), with the verdict in words."""
    worst = _worst(report)
    status = f"{SEVERITY_EMOJI[worst]} {worst.value.capitalize()}" if worst else _status(None, report)
    top = headline(report)
    text = f"{user(requested_by)} {status}: {clean(top, 400) if top else clean(verdict(report))}"
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(text, BlockId.STATUS)])

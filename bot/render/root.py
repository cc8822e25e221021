"""The thread's root message: the verdict (severity, counts) and where it was looked at."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    HeaderBlock,
    PlainTextObject,
)

from bot.models import (
    Incident,
    Message,
    Report,
    Severity,
)
from bot.render.message import MAX_FALLBACK, MAX_HEADER, BlockId
from bot.render.text import clean, clip, context, plain, section, user
from bot.render.verdict import headline, running, status_word, verdict, worst

__all__ = ["headline", "root_message", "running", "verdict", "verdict_note"]

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.ERROR: ":large_orange_circle:",
    Severity.WARNING: ":large_yellow_circle:",
    Severity.INFO: ":large_blue_circle:",
}


def _status(incident: Incident | None, report: Report) -> str:
    if incident is not None and incident.status == "closed":
        line = f":white_check_mark: *Closed* by {user(incident.closed_by)}"
        return f"{line}: {clean(incident.summary, 500)}" if incident.summary else line
    word = status_word(report)
    if running(report):
        return f":hourglass_flowing_sand: *{word}*"
    if report.kind == "trace" and not report.trace and not report.errors:
        return f":mag: *{word}*"
    top = worst(report)
    if top is None:
        return f":large_green_circle: *{word}*" if not report.errors else f":warning: *{word}*"
    return f"{SEVERITY_EMOJI[top]} *{word}*"


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
    if incident is not None and incident.status != "report":
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
    top_severity = worst(report)
    status = f"{SEVERITY_EMOJI[top_severity]} {status_word(report)}" if top_severity else _status(None, report)
    top = headline(report)
    text = f"{user(requested_by)} {status}: {clean(top, 400) if top else clean(verdict(report))}"
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(text, BlockId.STATUS)])

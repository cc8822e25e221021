"""Block Kit rendering of a Report for Slack (slack_sdk.models.blocks), for a phone screen.

Pure functions: Report / ChecklistItem / ActionResult in, `Message` out. Every message respects
Slack's limits (SLACK.md): at most 50 blocks, 3,000 chars a section, 10 options a checkboxes
element, 75 chars an option, about 12,000 chars of text in all. Text that would not fit (a log
tail, a long snippet) is clipped in the message and attached whole as a `FileSnippet`, which the
caller uploads with files_upload_v2. Everything user- or log-derived is redacted, then escaped
for mrkdwn (`&`, `<`, `>`), then clipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
)

from bot.errors import UsageError
from bot.inputs import format_since
from bot.models import (
    ChecklistItem,
    Finding,
    LogSnapshot,
    NextAction,
    Report,
    Severity,
    StepResult,
    StepStatus,
    TraceHit,
)
from playbooks.trace import path_summary

if TYPE_CHECKING:
    from bot.store import Incident
    from playbooks.actions import ActionResult

# Slack's limits, and the margins we keep below the undocumented ones.
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_OPTIONS = 10
MAX_OPTION_TEXT = 75
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_MESSAGE_TEXT = 12_000
TEXT_BUDGET = 11_000  # Slack answers msg_blocks_too_long "near" 12-13k: keep a margin
MAX_FALLBACK = 3000  # the notification text; Slack truncates at 40k but nobody reads that much
BUTTONS_PER_FINDING = 5
BOT_USER = "opsbot"


class ActionId(StrEnum):
    CHECKLIST = "checklist_toggle"  # the checkboxes element of every checklist block
    NEXT_STEP = "next_step"  # buttons are "next_step:<n>" (unique per button): match the prefix


class BlockId(StrEnum):
    ROOT = "root"
    STATUS = "status"
    PROGRESS = "progress"
    FINDINGS = "findings"
    FINDING = "finding"  # "finding:<n>"
    NEXT_STEPS = "next_steps"  # "next_steps:<n>", the buttons of finding n
    CHECKLIST = "checklist"  # "checklist:<chunk>": chunk n holds items [10n, 10n+10)
    ACTION_RESULT = "action_result"
    TRACE = "trace"  # the head of a trace listing; its lines follow in "trace:<n>"
    USAGE = "usage"


class FileSnippet(BaseModel):
    filename: str
    content: str
    title: str


class Message(BaseModel):
    text: str
    blocks: list[dict[str, Any]]
    files: list[FileSnippet] = Field(default_factory=list)


# --- text helpers ---------------------------------------------------------------------------------

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")


def _redact(text: str) -> str:
    # Imported on use: bot.redact is its own module and must not be a hard import-time dependency.
    from bot.redact import redact

    return redact(text)


def escape(text: str) -> str:
    """mrkdwn escaping: Slack reads `<...>` as links/mentions and `&` as an entity."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never leave half an entity (`&am`) behind: Slack would show it raw.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and len(cut) - amp < 5:
        cut = cut[:amp]
    return cut + "…"


def clean(text: str, limit: int | None = None) -> str:
    """Redact, escape for mrkdwn, clip: the path of every piece of user or log text."""
    out = escape(_redact(text))
    return clip(out, limit) if limit is not None else out


def plain(text: str, limit: int) -> str:
    """For plain_text objects (headers, buttons): redacted and clipped; not mrkdwn, so not escaped."""
    return clip(_redact(text), limit)


def code(text: str, limit: int) -> str:
    """A code block; a ``` inside would end it early, so break such runs up."""
    body = clean(text.replace("```", "`\u200b``"), limit - 6)
    return f"```{body}```"


def user(who: str | None) -> str:
    if not who:
        return "someone"
    if who == BOT_USER:
        return "opsbot"
    return f"<@{who}>" if _SLACK_USER.match(who) else clean(who, 40)


def _hhmm(at: datetime | None) -> str:
    return at.strftime("%H:%M") if at else ""


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION)), block_id=block_id).to_dict()


def _context(text: str, block_id: str | None = None) -> dict[str, Any]:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, MAX_SECTION))], block_id=block_id).to_dict()


def text_length(blocks: Iterable[dict[str, Any]]) -> int:
    """Characters of text in blocks: what Slack's msg_blocks_too_long limit counts."""

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            own = len(node["text"]) if node.get("type") in ("plain_text", "mrkdwn") else 0
            return own + sum(walk(v) for k, v in node.items() if k != "text" or not isinstance(v, str))
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return sum(walk(b) for b in blocks)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "output"


# --- root -----------------------------------------------------------------------------------------

_SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.ERROR: ":large_orange_circle:",
    Severity.WARNING: ":large_yellow_circle:",
    Severity.INFO: ":large_blue_circle:",
}
_SEVERITY_ORDER = [Severity.CRITICAL, Severity.ERROR, Severity.WARNING, Severity.INFO]


def _running(report: Report) -> bool:
    return any(s.status in (StepStatus.PENDING, StepStatus.RUNNING) for s in report.steps)


def _worst(report: Report) -> Severity | None:
    present = {f.severity for f in report.findings}
    return next((s for s in _SEVERITY_ORDER if s in present), None)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def verdict(report: Report) -> str:
    """One line: "3 pods · 1 restarting · 2 findings" (a trace: "6 lines · web -> api · 2 findings")."""
    if report.kind == "trace":
        parts = [_plural(len(report.trace), "line")]
        if report.trace:
            parts.append(clip(path_summary(report.trace), 300))
    else:
        parts = [_plural(len(report.pods), "pod")]
        not_ready = sum(not p.ready for p in report.pods)
        restarting = sum(p.restarts > 0 for p in report.pods)
        if not_ready:
            parts.append(f"{not_ready} not ready")
        if restarting:
            parts.append(f"{restarting} restarting")
    parts.append(_plural(len(report.findings), "finding"))
    failed = sum(s.status in (StepStatus.FAILED, StepStatus.TIMEOUT) for s in report.steps)
    if failed:
        parts.append(f"{_plural(failed, 'step')} failed")
    return " · ".join(parts)


def _status(incident: Incident | None, report: Report) -> str:
    if incident is not None and incident.status == "closed":
        line = f":white_check_mark: *Closed* by {user(incident.closed_by)}"
        return f"{line}: {clean(incident.summary, 500)}" if incident.summary else line
    if _running(report):
        return ":hourglass_flowing_sand: *Investigating*"
    if report.kind == "trace" and not report.trace and not report.errors:
        return ":mag: *No log line carries this id*"
    worst = _worst(report)
    if worst is None:
        return ":large_green_circle: *No known problem found*" if not report.errors else ":warning: *Incomplete*"
    return f"{_SEVERITY_EMOJI[worst]} *{worst.value.capitalize()}*"


def root_message(incident: Incident | None, report: Report, *, requested_by: str) -> Message:
    title = f"opsbot · {report.kind} {report.service}"
    where = f"*Namespace* `{clean(report.namespace, 100)}`"
    if report.context:
        where += f" · *Cluster* `{clean(report.context, 100)}`"
    where += f" · asked by {user(requested_by)}"
    line = verdict(report)
    blocks = [
        HeaderBlock(text=PlainTextObject(text=plain(title, MAX_HEADER)), block_id=BlockId.ROOT).to_dict(),
        _section(f"{_status(incident, report)}\n{clean(line)}\n{where}", BlockId.STATUS),
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
        blocks.append(_context(" · ".join(notes)))
    text = clean(f"{title} ({report.namespace}): {line}", MAX_FALLBACK)
    return Message(text=text, blocks=blocks)


# --- progress -------------------------------------------------------------------------------------


def _step_line(step: StepResult) -> str:
    title = clean(step.title or step.name, 80)
    secs = f"({step.duration_ms / 1000:.1f}s)"
    summary = clean(step.summary, 200)
    error = clean(step.error or step.summary or "", 200)
    match step.status:
        case StepStatus.OK:
            return f":white_check_mark: *{title}* {summary} {secs}".replace("  ", " ")
        case StepStatus.FAILED:
            return f":x: *{title}* — failed: {error or 'unknown error'}"
        case StepStatus.TIMEOUT:
            return f":alarm_clock: *{title}* — timed out {secs}"
        case StepStatus.SKIPPED:
            return f":heavy_minus_sign: *{title}* — skipped{': ' + summary if summary else ''}"
        case StepStatus.RUNNING:
            return f":hourglass_flowing_sand: {title}…"
        case _:
            return f":white_small_square: {title}"


def progress_message(report: Report) -> Message:
    total = len(report.steps)
    head = f"*Progress* · {report.steps_done}/{total} steps done"
    if total and not _running(report):
        head += f" · finished in {report.duration_ms / 1000:.1f}s"
    blocks = [_section(head, BlockId.PROGRESS)]
    chunk: list[str] = []
    shown, budget = 0, TEXT_BUDGET - len(head) - 100
    for line in (_step_line(s) for s in report.steps):
        if len(line) + 1 > budget or len(blocks) >= MAX_BLOCKS - 2:
            break
        if chunk and len("\n".join(chunk)) + 1 + len(line) > MAX_SECTION:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        shown += 1
        budget -= len(line) + 1
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    if shown < total:
        blocks.append(_context(f"… {total - shown} more steps"))
    return Message(text=clean(f"{report.service}: {report.steps_done}/{total} steps done", MAX_FALLBACK),
                   blocks=blocks)


# --- findings -------------------------------------------------------------------------------------


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(clean(n, 80) for n in names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


def next_action_value(action: NextAction) -> str | None:
    """The button value: the NextAction as JSON, or None when it would not fit in Slack's 2,000."""
    value = action.model_dump_json(exclude_none=True)
    return value if len(value) <= MAX_BUTTON_VALUE else None


def parse_next_action(value: str) -> NextAction:
    """A pressed button's value back into the action; bad input is a UsageError, not a traceback."""
    try:
        return NextAction.model_validate_json(value)
    except (ValidationError, ValueError) as exc:
        raise UsageError(f"this button carries no valid action ({type(exc).__name__})") from None


def _finding_blocks(
    finding: Finding, index: int, button_start: int
) -> tuple[list[dict[str, Any]], list[FileSnippet], int]:
    """Blocks of one finding (always well under one message's budget), its files, buttons used."""
    emoji = _SEVERITY_EMOJI.get(finding.severity, ":red_circle:")
    head = f"{emoji} *{clean(finding.title, 200)}*"
    if finding.count:
        head += f"  ×{finding.count}"
    blocks = [_section(head, f"{BlockId.FINDING}:{index}")]
    files: list[FileSnippet] = []
    where = []
    if finding.pods:
        where.append(f"pods: {_names(finding.pods)}")
    if finding.containers:
        where.append(f"containers: {_names(finding.containers)}")
    if finding.first_seen:
        where.append(f"first seen {finding.first_seen:%Y-%m-%d %H:%M:%S} UTC")
    if where:
        blocks.append(_context(" · ".join(where)))
    if finding.sample:
        blocks.append(_section(code(finding.sample, 1000)))
    explain = []
    if finding.cause:
        explain.append(f"*Cause* {clean(finding.cause, 1200)}")
    if finding.fix:
        explain.append(f"*Fix* {clean(finding.fix, 1200)}")
    if explain:
        blocks.append(_section("\n".join(explain)))
    if finding.snippet:
        if len(finding.snippet) > 1500:
            files.append(
                FileSnippet(
                    filename=f"fix-{_slug(finding.pattern)}.txt",
                    content=_redact(finding.snippet),
                    title=plain(f"Fix for {finding.title}", 200),
                )
            )
            blocks.append(_section(code(finding.snippet, 1400) + "\n_(whole snippet attached below)_"))
        else:
            blocks.append(_section(code(finding.snippet, 1600)))
    if finding.evidence:
        lines = [f"• {clean(e, 200)}" for e in finding.evidence[:5]]
        if len(finding.evidence) > 5:
            lines.append(f"… {len(finding.evidence) - 5} more")
        blocks.append(_context("*Evidence*\n" + "\n".join(lines)))
    commands = finding.next_commands[:BUTTONS_PER_FINDING]
    if commands:
        blocks.append(
            _section("*Next*\n" + "\n".join(f"`{clean(c.command, 280)}`" for c in commands))
        )
    buttons: list[ButtonElement] = []
    for command in commands:
        if command.action is None:
            continue
        value = next_action_value(command.action)
        if value is None:
            continue
        label = command.label.strip() or command.command.strip() or "Run"
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=plain(label, MAX_BUTTON_TEXT)),
                action_id=f"{ActionId.NEXT_STEP}:{button_start + len(buttons)}",
                value=value,
            )
        )
    if buttons:
        blocks.append(ActionsBlock(elements=buttons, block_id=f"{BlockId.NEXT_STEPS}:{index}").to_dict())
    return blocks, files, len(buttons)


def _logs_file(report: Report) -> FileSnippet | None:
    """The log tails of the containers the findings are about, as one attachable file."""
    def about_a_finding(log: LogSnapshot) -> bool:
        return any(
            log.pod in f.pods and (not f.containers or log.container in f.containers) for f in report.findings
        )

    chosen = [log for log in report.logs if log.lines and about_a_finding(log)]
    if not chosen:
        return None
    parts = []
    for log in chosen[:12]:
        label = f"== {log.pod}/{log.container}{' (previous)' if log.previous else ''} =="
        body = "\n".join(
            f"{line.ts.isoformat() if line.ts else ''} {line.text}".strip() for line in log.lines[-200:]
        )
        parts.append(f"{label}\n{body}")
    return FileSnippet(
        filename=f"logs-{_slug(report.service)}.txt",
        content=_redact("\n\n".join(parts)),
        title=plain(f"Log tails · {report.service}", 200),
    )


def findings_messages(report: Report) -> list[Message]:
    """Findings, most severe first, packed into as few messages as Slack's limits allow.

    A trace without a single line has none to show: its trace message already says so (no message)."""
    if not report.findings and report.kind == "trace":
        if not report.trace:
            return []
        text = (
            f":large_green_circle: No known error pattern in the {_plural(len(report.trace), 'line')}"
            f" carrying `{clean(report.service, 130)}`."
        )
        return [Message(text=text, blocks=[_section(text, BlockId.FINDINGS)])]
    if not report.findings:
        text = f":large_green_circle: No known error pattern in the logs of {_plural(len(report.pods), 'pod')}."
        if report.errors:
            text += f" (but {_plural(len(report.errors), 'step')} failed: see progress)"
        return [Message(text=text, blocks=[_section(text, BlockId.FINDINGS)])]
    ordered = sorted(report.findings, key=lambda f: (_SEVERITY_ORDER.index(f.severity), -f.count))
    counts = {s: sum(f.severity == s for f in ordered) for s in _SEVERITY_ORDER}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    head = f"*Findings* · {len(ordered)} ({summary})"
    fallback = clean(
        f"{_plural(len(ordered), 'finding')} for {report.service}: " + "; ".join(f.title for f in ordered),
        MAX_FALLBACK,
    )
    messages: list[Message] = []
    blocks: list[dict[str, Any]] = [_section(head, BlockId.FINDINGS)]
    files: list[FileSnippet] = []
    buttons = 0
    for i, finding in enumerate(ordered):
        group, group_files, used = _finding_blocks(finding, i, buttons)
        buttons += used
        group = [DividerBlock().to_dict(), *group]
        too_many = len(blocks) + len(group) > MAX_BLOCKS
        too_long = text_length(blocks) + text_length(group) > TEXT_BUDGET
        if (too_many or too_long) and len(blocks) > 1:
            messages.append(Message(text=fallback, blocks=blocks, files=files))
            blocks, files = [_section("*Findings* (continued)")], []
        blocks += group
        files += group_files
    messages.append(Message(text=fallback, blocks=blocks, files=files))
    logs = _logs_file(report)
    if logs is not None:
        messages[0].files.append(logs)
    return messages


# --- trace ----------------------------------------------------------------------------------------

TRACE_LINE = 400  # characters of one line shown in Slack; the attached file holds every line whole
_NO_TIME = "--:--:--.---"
_LONGER = (6 * 3600, 86400, 7 * 86400)  # windows to suggest when nothing carried the id


def _hit_time(hit: TraceHit) -> str:
    return f"{hit.ts.astimezone(UTC):%H:%M:%S.%f}"[:-3] if hit.ts else _NO_TIME


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _hit_line(hit: TraceHit, width: int) -> tuple[str, bool]:
    """One hit for a code block (time, service, pod/container, text): redacted, escaped, clipped;
    and whether it was clipped."""
    raw = _one_line(f"{_hit_time(hit)}  {hit.service:<{width}}  {hit.pod}/{hit.container}  {hit.text}")
    shown = escape(_redact(raw.replace("```", "`\u200b``")))
    return clip(shown, TRACE_LINE), len(shown) > TRACE_LINE


def _trace_file(report: Report) -> FileSnippet:
    """Every hit, whole, one a line: what does not fit in a message goes up as this file."""
    lines = [
        _one_line(f"{hit.ts.isoformat() if hit.ts else '-'} {hit.service} {hit.pod}/{hit.container} {hit.text}")
        for hit in report.trace
    ]
    return FileSnippet(
        filename=f"trace-{_slug(report.service)}.txt",
        content=_redact("\n".join(lines) + "\n"),
        title=plain(f"Trace {report.service} · {_plural(len(report.trace), 'line')} · {report.namespace}", 200),
    )


def _take(hits: Iterable[TraceHit], width: int, budget: int) -> tuple[list[str], bool]:
    """Lines of `hits`, in the order given, while they fit in `budget` characters; and whether any was clipped."""
    lines: list[str] = []
    clipped = False
    for hit in hits:
        line, cut = _hit_line(hit, width)
        if len(line) + 1 > budget:
            break
        lines.append(line)
        clipped |= cut
        budget -= len(line) + 1
    return lines, clipped


def _code_sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines (already escaped) packed into code-block sections of at most MAX_SECTION characters."""
    sections: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + 1 + len(line) > MAX_SECTION - 6:
            sections.append(_section("```" + "\n".join(chunk) + "```", f"{BlockId.TRACE}:{len(sections)}"))
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        sections.append(_section("```" + "\n".join(chunk) + "```", f"{BlockId.TRACE}:{len(sections)}"))
    return sections


def trace_message(report: Report, *, since_seconds: int | None = None) -> Message:
    """A trace report: the request (id, namespace, window, lines, the services on its path in order),
    then its lines in time order as a compact listing. What does not fit in one message (Slack's
    50 blocks and ~12k characters) is shown head and tail, and every line goes up as a file."""
    cid = clean(report.service, 130)
    where = f"namespace `{clean(report.namespace, 100)}`"
    if report.context:
        where += f" · cluster `{clean(report.context, 100)}`"
    window = f" · last {format_since(since_seconds)}" if since_seconds else ""
    failed = [s for s in report.steps if s.status in (StepStatus.FAILED, StepStatus.TIMEOUT)]
    warning = (
        f"\n:warning: {_plural(len(failed), 'step')} failed (see progress): lines may be missing." if failed else ""
    )
    hits = report.trace
    if not hits:
        longer = next((w for w in _LONGER if w > (since_seconds or 0)), (since_seconds or 0) * 2)
        during = f" in the last {format_since(since_seconds)}" if since_seconds else ""
        text = f":mag: No log line in {where} carried `{cid}`{during}."
        body = (
            f"{text}\nTry a longer window (`/trace {cid} --since {format_since(longer)}`) or the namespace"
            f" of the services the request went through (`/trace {cid} -n NAMESPACE`); the id must appear"
            f" in the log lines as it is.{warning}"
        )
        return Message(text=clip(text, MAX_FALLBACK), blocks=[_section(body, BlockId.TRACE)])

    services = {hit.service for hit in hits}
    path = path_summary(hits)
    head = (
        f"*Request* `{cid}` · {where}{window} · {_plural(len(hits), 'line')} from {_plural(len(services), 'service')}"
        f"\n*Path* {clean(path, 1000)}{warning}"
    )
    blocks = [_section(head, BlockId.TRACE)]
    width = min(max(len(s) for s in services), 30)
    # Room for the listing: the head, a closing note, and the ``` of each (at most 50) sections.
    budget = TEXT_BUDGET - text_length(blocks) - 300
    lines, clipped = _take(hits, width, budget)
    omitted = len(hits) - len(lines)
    if omitted:
        # The start shows where the request came in, the end where it failed: keep both.
        lines, clipped = _take(hits, width, budget * 2 // 3)
        rest = budget - sum(len(line) + 1 for line in lines) - 100  # 100: the marker line
        tail, tail_clipped = _take(reversed(hits[len(lines) :]), width, rest)
        tail.reverse()
        omitted = len(hits) - len(lines) - len(tail)
        lines = [*lines, f"⋮ {omitted:,} more lines: all {len(hits):,} are in the attached file ⋮", *tail]
        clipped |= tail_clipped
    # Lines of at least ~20 characters in ~11k: a handful of 3,000-character sections, far from 50 blocks.
    blocks += _code_sections(lines)
    files: list[FileSnippet] = []
    if omitted or clipped:
        files.append(_trace_file(report))
        note = (
            f"Showing {len(hits) - omitted:,} of {len(hits):,} lines, first and last; every line is in the file below."
            if omitted
            else "Long lines are cut here; the file below holds them whole."
        )
        blocks.append(_context(note))
    text = clean(f"Trace {report.service} in {report.namespace}: {_plural(len(hits), 'line')}, {path}", MAX_FALLBACK)
    return Message(text=text, blocks=blocks, files=files)


# --- checklist ------------------------------------------------------------------------------------


def checklist_chunks(items: list[ChecklistItem]) -> list[list[ChecklistItem]]:
    """Items as split into messages: chunk n is message role "checklist:<n>", block "checklist:<n>"."""
    return [items[i : i + MAX_OPTIONS] for i in range(0, len(items), MAX_OPTIONS)]


def _description(item: ChecklistItem) -> str | None:
    if item.done and item.by not in (None, BOT_USER):
        return clip(f"ticked by {user(item.by)} {_hhmm(item.at)}".strip(), MAX_OPTION_TEXT)
    if item.done:
        return clean(item.evidence, MAX_OPTION_TEXT) if item.evidence else "done by opsbot"
    if item.by not in (None, BOT_USER):
        return clip(f"unticked by {user(item.by)} {_hhmm(item.at)}".strip(), MAX_OPTION_TEXT)
    return None


def _option(number: int, item: ChecklistItem) -> Option:
    description = _description(item)
    return Option(
        value=item.key[:150],
        text=MarkdownTextObject(text=clip(f"{number}. {clean(item.text)}", MAX_OPTION_TEXT)),
        description=MarkdownTextObject(text=description) if description else None,
    )


def checklist_messages(items: list[ChecklistItem]) -> list[Message]:
    """One message per 10 items (Slack's cap on a checkboxes element), ticked ones pre-selected."""
    done = sum(i.done for i in items)
    chunks = checklist_chunks(items)
    messages = []
    for n, chunk in enumerate(chunks):
        start = n * MAX_OPTIONS
        options = [_option(start + k + 1, item) for k, item in enumerate(chunk)]
        initial = [o for o, item in zip(options, chunk, strict=True) if item.done]
        head = f"*Checklist* · {done}/{len(items)} done"
        if len(chunks) > 1:
            head += f" · items {start + 1}–{start + len(chunk)}"
        element = CheckboxesElement(action_id=ActionId.CHECKLIST, options=options, initial_options=initial or None)
        blocks = [
            _section(head),
            ActionsBlock(elements=[element], block_id=f"{BlockId.CHECKLIST}:{n}").to_dict(),
        ]
        messages.append(Message(text=f"Checklist: {done}/{len(items)} done", blocks=blocks))
    return messages


# --- action results and usage ---------------------------------------------------------------------


def action_result_message(result: ActionResult, *, requested_by: str) -> Message:
    emoji = ":mag:" if result.ok else ":warning:"
    head = f"{emoji} *{clean(result.title, 200)}* · asked by {user(requested_by)}"
    blocks = [_section(head, BlockId.ACTION_RESULT)]
    files: list[FileSnippet] = []
    body = result.text or "(no output)"
    lines = body.splitlines()
    if len(body) <= 2500 and len(lines) <= 40:
        blocks.append(_section(code(body, 2900)))
    else:
        # The end of a log is what matters on a phone; the whole of it goes up as a file.
        tail = "\n".join(lines[-30:])
        tail = tail[-2400:]
        blocks.append(_section(code(tail, 2600) + f"\n_last lines of {len(lines)}; all of it attached below_"))
        files.append(FileSnippet(filename=f"{_slug(result.title)}.txt", content=_redact(body),
                                 title=plain(result.title, 200)))
    return Message(text=clean(f"{result.title} (asked by {requested_by})", MAX_FALLBACK),
                   blocks=blocks, files=files)


def usage_message(text: str) -> Message:
    body = clean(text.strip() or "(no details)", MAX_SECTION)
    return Message(text=clip(body, MAX_FALLBACK), blocks=[_section(body, BlockId.USAGE)])

"""Findings as Block Kit: cause, fix, evidence and the next steps of each, plus the log tail as a file."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    DividerBlock,
    PlainTextObject,
)

from bot.errors import UsageError
from bot.models import (
    SEVERITY_ORDER,
    FileSnippet,
    Finding,
    LogSnapshot,
    Message,
    NextAction,
    Report,
)
from bot.redact import redact
from bot.render.message import (
    BUTTONS_PER_FINDING,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_FALLBACK,
    TEXT_BUDGET,
    ActionId,
    BlockId,
)
from bot.render.root import SEVERITY_EMOJI
from bot.render.text import clean, code, context, plain, section, slug, text_length
from bot.text import plural


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
    emoji = SEVERITY_EMOJI.get(finding.severity, ":red_circle:")
    head = f"{emoji} *{clean(finding.title, 200)}*"
    if finding.count:
        head += f"  ×{finding.count}"
    blocks = [section(head, f"{BlockId.FINDING}:{index}")]
    files: list[FileSnippet] = []
    where = []
    if finding.pods:
        where.append(f"pods: {_names(finding.pods)}")
    if finding.containers:
        where.append(f"containers: {_names(finding.containers)}")
    if finding.first_seen:
        where.append(f"first seen {finding.first_seen:%Y-%m-%d %H:%M:%S} UTC")
    if where:
        blocks.append(context(" · ".join(where)))
    if finding.sample:
        blocks.append(section(code(finding.sample, 1000)))
    explain = []
    if finding.cause:
        explain.append(f"*Cause* {clean(finding.cause, 1200)}")
    if finding.fix:
        explain.append(f"*Fix* {clean(finding.fix, 1200)}")
    if explain:
        blocks.append(section("\n".join(explain)))
    if finding.snippet:
        if len(finding.snippet) > 1500:
            files.append(
                FileSnippet(
                    filename=f"fix-{slug(finding.pattern)}.txt",
                    content=redact(finding.snippet),
                    title=plain(f"Fix for {finding.title}", 200),
                )
            )
            blocks.append(section(code(finding.snippet, 1400) + "\n_(whole snippet attached below)_"))
        else:
            blocks.append(section(code(finding.snippet, 1600)))
    if finding.evidence:
        lines = [f"• {clean(e, 200)}" for e in finding.evidence[:5]]
        if len(finding.evidence) > 5:
            lines.append(f"… {len(finding.evidence) - 5} more")
        blocks.append(context("*Evidence*\n" + "\n".join(lines)))
    commands = finding.next_commands[:BUTTONS_PER_FINDING]
    if commands:
        blocks.append(
            section("*Next*\n" + "\n".join(f"`{clean(c.command, 280)}`" for c in commands))
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
        filename=f"logs-{slug(report.service)}.txt",
        content=redact("\n\n".join(parts)),
        title=plain(f"Log tails · {report.service}", 200),
    )


def findings_messages(report: Report) -> list[Message]:
    """Findings, most severe first, packed into as few messages as Slack's limits allow.

    A trace without a single line has none to show: its trace message already says so (no message)."""
    if not report.findings and report.kind == "trace":
        if not report.trace:
            return []
        text = (
            f":large_green_circle: No known error pattern in the {plural(len(report.trace), 'line')}"
            f" carrying `{clean(report.service, 130)}`."
        )
        return [Message(text=text, blocks=[section(text, BlockId.FINDINGS)])]
    if not report.findings:
        text = f":large_green_circle: No known error pattern in the logs of {plural(len(report.pods), 'pod')}."
        if report.errors:
            text += f" (but {plural(len(report.errors), 'step')} failed: see progress)"
        return [Message(text=text, blocks=[section(text, BlockId.FINDINGS)])]
    ordered = sorted(report.findings, key=lambda f: (SEVERITY_ORDER[f.severity], -f.count))
    counts = {s: sum(f.severity == s for f in ordered) for s in SEVERITY_ORDER}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    head = f"*Findings* · {len(ordered)} ({summary})"
    fallback = clean(
        f"{plural(len(ordered), 'finding')} for {report.service}: " + "; ".join(f.title for f in ordered),
        MAX_FALLBACK,
    )
    messages: list[Message] = []
    blocks: list[dict[str, Any]] = [section(head, BlockId.FINDINGS)]
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
            blocks, files = [section("*Findings* (continued)")], []
        blocks += group
        files += group_files
    messages.append(Message(text=fallback, blocks=blocks, files=files))
    logs = _logs_file(report)
    if logs is not None:
        messages[0].files.append(logs)
    return messages

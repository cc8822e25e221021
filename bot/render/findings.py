"""Findings as Block Kit, for a phone: the top three as compact cards (cause, fix, a sample, each next step
once as a button), the others one line each, everything in full in a file, plus the log tails as a file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
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
from bot.render.changes import fix_lines, metric_lines, onset_lines
from bot.render.changes_blocks import changes_blocks
from bot.render.message import (
    BUTTONS_PER_FINDING,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_FALLBACK,
    MAX_SECTION,
    ActionId,
    BlockId,
)
from bot.render.root import SEVERITY_EMOJI
from bot.render.text import clean, code, context, plain, section, slug
from bot.render.verdict import stamp
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


EXPANDED = 3  # findings shown as cards; the others are one line each (their details are in the file)


def _card(finding: Finding, index: int, button_start: int, seen: set[str]) -> tuple[list[dict[str, Any]], int]:
    """A finding as a compact card for a phone: title, where and since when, a sample line, cause and
    fix in a sentence or two, and each next step once, as a button that shows its command."""
    emoji = SEVERITY_EMOJI.get(finding.severity, ":red_circle:")
    head = f"{emoji} *{clean(finding.title, 200)}*"
    if finding.count:
        head += f"  ×{finding.count}"
    blocks = [section(head, f"{BlockId.FINDING}:{index}")]
    where = []
    if finding.pods:
        where.append(f"pods: {_names(finding.pods, 2)}")
    if finding.containers:
        where.append(f"containers: {_names(finding.containers, 3)}")
    if finding.first_seen:
        where.append(f"since {stamp(finding.first_seen)}")
    if where:
        blocks.append(context(" · ".join(where)))
    explain = []
    if finding.sample:
        explain.append(code(finding.sample, 300))
    if finding.cause:
        explain.append(f"*Cause* {clean(finding.cause, 300)}")
    if finding.fix:
        explain.append(f"*Fix* {clean(finding.fix, 300)}")
    if explain:
        blocks.append(section("\n".join(explain)))
    commands = finding.next_commands[:BUTTONS_PER_FINDING]
    buttons: list[ButtonElement] = []
    plain_commands: list[str] = []
    for command in commands:
        if command.command in seen:  # another card offers it already: each next step once
            continue
        seen.add(command.command)
        value = next_action_value(command.action) if command.action is not None else None
        if value is None:
            plain_commands.append(f"`{clean(command.command, 280)}`")
            continue
        # the button shows its command where it fits, else what it does
        text = command.command.strip() if len(command.command.strip()) <= MAX_BUTTON_TEXT else command.label.strip()
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=plain(text or "Run", MAX_BUTTON_TEXT)),
                action_id=f"{ActionId.NEXT_STEP}:{button_start + len(buttons)}",
                value=value,
            )
        )
    if plain_commands:
        blocks.append(context("*Next* " + " · ".join(plain_commands)))
    if buttons:
        blocks.append(ActionsBlock(elements=buttons, block_id=f"{BlockId.NEXT_STEPS}:{index}").to_dict())
    return blocks, len(buttons)


def _one_line(finding: Finding) -> str:
    emoji = SEVERITY_EMOJI.get(finding.severity, ":red_circle:")
    count = f" ×{finding.count}" if finding.count else ""
    where = f" · {_names(finding.pods, 1)}" if finding.pods else ""
    return f"{emoji} {clean(finding.title, 150)}{count}{where}"


def _details_file(report: Report, ordered: list[Finding]) -> FileSnippet:
    """Every finding in full (cause, fix, snippet, evidence, every next command): the "more" of the cards."""
    parts = []
    def when(moment: datetime | None) -> str | None:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else None

    def indented(items: list[str], mark: str = "") -> str | None:
        return "\n" + "\n".join(f"      {mark}{item}".replace("\n", "\n      ") for item in items) if items else None

    for n, f in enumerate(ordered, 1):
        fields: list[tuple[str, str | None]] = [
            ("pattern", f.pattern), ("pods", ", ".join(f.pods) or None),
            ("containers", ", ".join(f.containers) or None), ("first seen", when(f.first_seen)),
            ("last seen", when(f.last_seen)), ("innermost frame", f.frame),
            ("sample", indented([f.sample] if f.sample else [])), ("cause", f.cause), ("fix", f.fix),
            ("fix snippet", indented([f.snippet] if f.snippet else [])),
            ("regression test", indented([f.regression_test] if f.regression_test else [])),
            ("evidence", indented(f.evidence, "- ")),
            ("next", indented([c.command for c in f.next_commands], "$ ")),
        ]
        head = f"{n}. [{f.severity.value}] {f.title}" + (f" x{f.count}" if f.count else "")
        parts.append("\n".join([head, *(f"   {label}: {value}".replace(": \n", ":\n")
                                         for label, value in fields if value)]))
    changed = [*onset_lines(report), *fix_lines(report), *metric_lines(report)]
    if changed:  # what changed, the fix check and the metrics, in full
        parts.append("What changed (times UTC)\n" + "\n".join(f"   {line}" for line in changed))
    return FileSnippet(filename=f"findings-{slug(report.service)}.txt", content=redact("\n\n".join(parts)),
                       title=plain(f"All {len(ordered)} findings in full · {report.service}", 200))


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
        return [Message(text=text, blocks=[section(text, BlockId.FINDINGS), *changes_blocks(report)])]
    ordered = sorted(report.findings, key=lambda f: (SEVERITY_ORDER[f.severity], -f.count))
    counts = {s: sum(f.severity == s for f in ordered) for s in SEVERITY_ORDER}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    head = f"*Findings* · {len(ordered)} ({summary})"
    fallback = clean(
        f"{plural(len(ordered), 'finding')} for {report.service}: " + "; ".join(f.title for f in ordered),
        MAX_FALLBACK,
    )
    blocks: list[dict[str, Any]] = [section(head, BlockId.FINDINGS), *changes_blocks(report)]
    buttons = 0
    seen: set[str] = set()
    for i, finding in enumerate(ordered[:EXPANDED]):
        card, used = _card(finding, i, buttons, seen)
        buttons += used
        blocks += card
    rest = ordered[EXPANDED:]
    if rest:
        lines = [_one_line(f) for f in rest]
        text, shown = "*Also*", 0
        for line in lines:
            if len(text) + 1 + len(line) > MAX_SECTION - 60:
                break
            text += "\n" + line
            shown += 1
        if shown < len(rest):
            text += f"\n… {len(rest) - shown} more"
        blocks.append(section(text))
    blocks.append(context("All findings in full (evidence, fix snippets, regression tests, every next command) "
                          "in the file below."))
    messages = [Message(text=fallback, blocks=blocks, files=[_details_file(report, ordered)])]
    logs = _logs_file(report)
    if logs is not None:
        messages[0].files.append(logs)
    return messages

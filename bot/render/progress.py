"""The progress message: one line a playbook step, edited in place as the steps end."""

from __future__ import annotations

from functools import lru_cache

from bot.models import (
    Message,
    Report,
    StepResult,
    StepStatus,
)
from bot.render.message import MAX_BLOCKS, MAX_FALLBACK, MAX_SECTION, TEXT_BUDGET, BlockId
from bot.render.root import running
from bot.render.text import clean, clip, context, section


def _step_line(step: StepResult) -> str:
    return _line(step.title or step.name, step.duration_ms, step.summary, step.error, step.status)


@lru_cache(maxsize=4096)
def _line(name: str, duration_ms: float, summary_text: str, error_text: str | None, status: StepStatus) -> str:
    """A step's line, made once: a progress message is rendered again at every step's end, and each
    render would redact and escape the same titles and summaries of the steps done before."""
    title = clean(name, 80)
    secs = f"({duration_ms / 1000:.1f}s)"
    summary = clean(summary_text, 200)
    error = clean(error_text or summary_text or "", 200)
    match status:
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
    if total and not running(report):
        head += f" · finished in {report.duration_ms / 1000:.1f}s"
        # the run ended: one block, naming only the steps that did not succeed
        trouble = [_step_line(s) for s in report.steps if s.status not in (StepStatus.OK, StepStatus.SKIPPED)]
        text = "\n".join([head, *trouble[:6]] + ([f"… {len(trouble) - 6} more"] if len(trouble) > 6 else []))
        return Message(text=clean(f"{report.service}: {report.steps_done}/{total} steps done", MAX_FALLBACK),
                       blocks=[section(clip(text, MAX_SECTION), BlockId.PROGRESS)])
    blocks = [section(head, BlockId.PROGRESS)]
    chunk: list[str] = []
    shown, budget = 0, TEXT_BUDGET - len(head) - 100
    for line in (_step_line(s) for s in report.steps):
        if len(line) + 1 > budget or len(blocks) >= MAX_BLOCKS - 2:
            break
        if chunk and len("\n".join(chunk)) + 1 + len(line) > MAX_SECTION:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        shown += 1
        budget -= len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if shown < total:
        blocks.append(context(f"… {total - shown} more steps"))
    return Message(text=clean(f"{report.service}: {report.steps_done}/{total} steps done", MAX_FALLBACK),
                   blocks=blocks)

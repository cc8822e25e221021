"""A trace's path: every line that carries the correlation id, in time order (a long one as a file)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.inputs import format_since
from bot.models import (
    FileSnippet,
    Message,
    Report,
    StepStatus,
    TraceHit,
    path_summary,
)
from bot.redact import redact
from bot.render.message import MAX_FALLBACK, MAX_SECTION, TEXT_BUDGET, BlockId
from bot.render.text import clean, clip, context, escape, plain, section, slug, text_length
from bot.text import plural

TRACE_LINE = 400  # characters of one line shown in Slack; the attached file holds every line whole
_NO_TIME = "--:--:--.---"
_LONGER = (6 * 3600, 86400, 7 * 86400)  # windows to suggest when nothing carried the id


def _hit_time(hit: TraceHit) -> str:
    """The line's time in UTC to the millisecond, dated when it is not today's."""
    if hit.ts is None:
        return _NO_TIME
    at = hit.ts.astimezone(UTC)
    clock = f"{at:%H:%M:%S.%f}"[:-3]
    return clock if at.date() == datetime.now(UTC).date() else f"{at:%Y-%m-%d} {clock}"


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _hit_line(hit: TraceHit, width: int) -> tuple[str, bool]:
    """One hit for a code block (time, service, pod/container, text): redacted, escaped, clipped;
    and whether it was clipped."""
    raw = _one_line(f"{_hit_time(hit)}  {hit.service:<{width}}  {hit.pod}/{hit.container}  {hit.text}")
    shown = escape(redact(raw.replace("```", "`\u200b``")))
    return clip(shown, TRACE_LINE), len(shown) > TRACE_LINE


def _trace_file(report: Report) -> FileSnippet:
    """Every hit, whole, one a line: what does not fit in a message goes up as this file."""
    lines = [
        _one_line(f"{hit.ts.isoformat() if hit.ts else '-'} {hit.service} {hit.pod}/{hit.container} {hit.text}")
        for hit in report.trace
    ]
    return FileSnippet(
        filename=f"trace-{slug(report.service)}.txt",
        content=redact("\n".join(lines) + "\n"),
        title=plain(f"Trace {report.service} · {plural(len(report.trace), 'line')} · {report.namespace}", 200),
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
            sections.append(section("```" + "\n".join(chunk) + "```", f"{BlockId.TRACE}:{len(sections)}"))
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        sections.append(section("```" + "\n".join(chunk) + "```", f"{BlockId.TRACE}:{len(sections)}"))
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
        f"\n:warning: {plural(len(failed), 'step')} failed (see progress): lines may be missing." if failed else ""
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
        return Message(text=clip(text, MAX_FALLBACK), blocks=[section(body, BlockId.TRACE)])

    services = {hit.service for hit in hits}
    path = path_summary(hits)
    head = (
        f"*Request* `{cid}` · {where}{window} · {plural(len(hits), 'line')} from {plural(len(services), 'service')}"
        f"\n*Path* {clean(path, 1000)}{warning}"
    )
    blocks = [section(head, BlockId.TRACE)]
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
        blocks.append(context(note))
    text = clean(f"Trace {report.service} in {report.namespace}: {plural(len(hits), 'line')}, {path}", MAX_FALLBACK)
    return Message(text=text, blocks=blocks, files=files)

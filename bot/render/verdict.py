"""The verdict in words, shared by the Slack root, the terminal and the console: the status word, the
counts line, the top finding, and how times and ages are written. Pure and free of Slack's library,
so that the terminal renderer can use it without loading Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import SEVERITY_ORDER, Finding, Report, Severity, StepStatus, path_summary
from bot.text import plural


def running(report: Report) -> bool:
    return any(s.status in (StepStatus.PENDING, StepStatus.RUNNING) for s in report.steps)


def worst(report: Report) -> Severity | None:
    present = {f.severity for f in report.findings}
    return next((s for s in SEVERITY_ORDER if s in present), None)


def status_word(report: Report) -> str:
    """One word or phrase for where the run stands: "Critical", "No known problem found", "Incomplete"..."""
    if running(report):
        return "Investigating"
    if report.kind == "trace" and not report.trace and not report.errors:
        return "No log line carries this id"
    top = worst(report)
    if top is None:
        return "No known problem found" if not report.errors else "Incomplete"
    return top.value.capitalize()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict(report: Report) -> str:
    """One line: "3 pods · 1 restarting · 2 findings" (a trace: "6 lines · web -> api · 2 findings")."""
    if report.kind == "trace":
        parts = [plural(len(report.trace), "line")]
        if report.trace:
            parts.append(_cut(path_summary(report.trace), 300))
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


def top_finding(report: Report) -> Finding | None:
    """The finding the verdict leads with: the most severe, a known pattern before an unknown error,
    then the most frequent."""
    if not report.findings:
        return None
    return min(report.findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.unrecognised, -f.count))


def headline(report: Report, *, command: bool = True, now: datetime | None = None) -> str | None:
    """The top finding in words, for the verdict: "Database connection pool exhausted ×12 in 1 of 3
    pods since 21:37 UTC → kubectl logs ...". None while running or when nothing was found.
    `command`: end with the first next command."""
    top = top_finding(report)
    if running(report) or top is None:
        return None
    words = top.title + (f" ×{top.count}" if top.count else "")
    if top.pods and report.pods:
        words += f" in {len(top.pods)} of {plural(len(report.pods), 'pod')}"
    if top.first_seen:
        words += f" since {stamp(top.first_seen, now=now)}"
    if command and top.next_commands:
        words += f" → {top.next_commands[0].command}"
    return words


def stamp(ts: datetime, *, now: datetime | None = None, seconds: bool = False) -> str:
    """A moment as people read it, zone marked: "21:37 UTC" today, "2026-11-28 21:37 UTC" before."""
    at = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    clock = f"{at:%H:%M:%S}" if seconds else f"{at:%H:%M}"
    return f"{clock} UTC" if at.date() == today else f"{at:%Y-%m-%d} {clock} UTC"


def age(seconds: float) -> str:
    """An age in one format everywhere: 45s, 12m, 3h20m, 4d6h (never "118m" beside "2h0m")."""
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"

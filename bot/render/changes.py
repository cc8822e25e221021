"""What changed and whether the fix holds, as plain lines: the onset of each finding against the
rollouts, the fix check of /verify (each finding before and since the newest rollout) and the metrics
read from Prometheus. Shared by the Block Kit messages (`changes_blocks`), the terminal
(`terminal_changes`) and the findings file; no Slack or rich import here."""

from __future__ import annotations

from bot.changes import FindingComparison, MetricReading, WindowCount
from bot.models import Report

MAX_ONSET_LINES = 3  # in a Slack message; the findings file and the terminal show them all


def onset_lines(report: Report, limit: int | None = None) -> list[str]:
    return [o.text for o in report.onsets[:limit]]


def rate(w: WindowCount | None) -> str:
    """`12 in 1 h 5 min (0.18/min)`, or `?` when that window was not seen."""
    if w is None:
        return "?"
    minutes = w.minutes
    length = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    origin = " per the incident" if w.source == "incident" else ""
    return f"{w.lines} in {length} ({w.per_minute:g}/min{origin})"


def comparison_line(c: FindingComparison) -> str:
    """`Database connection pool exhausted: before 12 in 60 min (0.2/min) -> since 0 in 20 min: stopped`."""
    state = "stopped" if c.stopped else ("still occurs" if c.after is not None and c.after.lines else "not seen")
    return f"{c.title}: before {rate(c.before)} -> since {rate(c.after)}: {state}"


def fix_lines(report: Report) -> list[str]:
    """The fix check: its verdict and evidence, then one line a finding."""
    fix = report.fix
    if fix is None:
        return []
    mark = "confirmed" if fix.confirmed else "not confirmed"
    lines = [f"Fix {mark}: {fix.summary}"]
    lines += [comparison_line(c) for c in fix.comparisons]
    notes = sorted({c.note for c in fix.comparisons if c.note})
    lines += [f"({n})" for n in notes]
    return lines


def metric_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    if unit == "ratio":
        return f"{value * 100:.0f}%"
    return f"{value:.4g}"


def metric_line(m: MetricReading) -> str:
    """`error rate: 4.10% (an hour ago 0.20%)`."""
    if m.error is not None:
        return f"{m.title}: not read ({m.error})"
    return f"{m.title}: {metric_value(m.now, m.unit)} (an hour ago {metric_value(m.hour_ago, m.unit)})"


def metric_lines(report: Report) -> list[str]:
    return [metric_line(m) for m in report.metrics]

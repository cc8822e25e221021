"""What changed and whether the fix holds, as Block Kit: one compact block each (onsets, the fix
check, metrics), placed by the findings message under its header."""

from __future__ import annotations

from typing import Any

from bot.models import Report
from bot.render.changes import MAX_ONSET_LINES, comparison_line, metric_lines, onset_lines
from bot.render.message import BlockId
from bot.render.text import clean, section

MAX_COMPARISONS = 4  # one block on a phone; the findings file has them all


def changes_blocks(report: Report) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    onsets = onset_lines(report, MAX_ONSET_LINES)
    if onsets:
        more = len(report.onsets) - len(onsets)
        text = "*What changed* (times UTC)\n" + "\n".join(f"• {clean(line, 400)}" for line in onsets)
        blocks.append(section(text + (f"\n… {more} more in the file" if more > 0 else ""), BlockId.CHANGES))
    fix = report.fix
    if fix is not None:
        head = (":white_check_mark: *Fix confirmed*: " if fix.confirmed else ":warning: *Fix not confirmed*: ")
        rows = [f"• {clean(comparison_line(c), 300)}" for c in fix.comparisons[:MAX_COMPARISONS]]
        more = len(fix.comparisons) - len(rows)
        if more > 0:
            rows.append(f"… {more} more")
        rows += [f"_{clean(note, 200)}_" for note in sorted({c.note for c in fix.comparisons if c.note})]
        blocks.append(section("\n".join([head + clean(fix.summary, 1200), *rows]), BlockId.FIX))
    metrics = metric_lines(report)
    if metrics:
        blocks.append(section("*Metrics* (Prometheus, now vs an hour ago)\n" +
                              "\n".join(f"• {clean(m, 300)}" for m in metrics), BlockId.METRICS))
    return blocks

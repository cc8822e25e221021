"""What changed and whether the fix holds, for the terminal (rich): the onset lines, the fix check as
a table of each finding before and since the newest rollout, the metrics."""

from __future__ import annotations

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot.models import Report
from bot.redact import redact
from bot.render.changes import metric_lines, onset_lines, rate


def _t(text: str) -> str:
    return escape(redact(text))


def changes_renderables(report: Report) -> list[RenderableType]:
    out: list[RenderableType] = []
    onsets = onset_lines(report)
    if onsets:
        out.append(Text.from_markup("\n[bold]What changed[/] [dim](times UTC)[/]\n" +
                                    "\n".join(f"  • {_t(line)}" for line in onsets)))
    fix = report.fix
    if fix is not None:
        mark = "[bold green]✔ Fix confirmed[/]" if fix.confirmed else "[bold yellow]✘ Fix not confirmed[/]"
        out.append(Text.from_markup(f"\n{mark}: {_t(fix.summary)}"))
        if fix.comparisons:
            table = Table(title="Each finding before and since the newest rollout", title_justify="left")
            for col in ("finding", "before", "since", ""):
                table.add_column(col)
            for c in fix.comparisons:
                state = "[green]stopped[/]" if c.stopped else (
                    "[red]still occurs[/]" if c.after is not None and c.after.lines else "[dim]not seen[/]")
                table.add_row(_t(c.title), _t(rate(c.before)), _t(rate(c.after)), state)
            out.append(table)
            for note in sorted({c.note for c in fix.comparisons if c.note}):
                out.append(Text.from_markup(f"[dim]  {_t(note)}[/]"))
    metrics = metric_lines(report)
    if metrics:
        out.append(Text.from_markup("\n[bold]Metrics[/] [dim](Prometheus, now vs an hour ago)[/]\n" +
                                    "\n".join(f"  • {_t(m)}" for m in metrics)))
    return out

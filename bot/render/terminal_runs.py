"""A service's CI runs in the terminal (`opsbot runs`), as `gh run list` shows them."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.changes import RunListing, RunRow
from bot.redact import redact

COLOUR = {"success": "green", "failure": "red", "cancelled": "dim", "timed_out": "red"}


def _t(text: str) -> str:
    return escape(redact(text))


def render_runs(listing: RunListing, console: Console) -> None:
    where = listing.repo + (f" {listing.workflow}" if listing.workflow else "") + \
        (f" on {listing.branch}" if listing.branch else "")
    table = Table(title=f"CI runs of {_t(listing.service)} · {_t(where)}", title_justify="left")
    for col in ("result", "run", "workflow", "commit", "actor", "started (UTC)", "duration", "link"):
        # a link is one word: folded over lines rather than cut with an ellipsis, so it stays usable
        table.add_column(col, no_wrap=col not in ("workflow", "link"), overflow="fold" if col == "link" else "ellipsis")
    for row in listing.runs:
        colour = COLOUR.get(row.result, "yellow")
        started = f"{row.started_at:%Y-%m-%d %H:%M}" if row.started_at else "-"
        table.add_row(f"[{colour}]{_t(row.result)}[/]", f"#{row.run_number}", _t(row.workflow), _t(row.commit),
                      _t(row.actor or "?"), started, row.duration, _t(row.url))
    if not listing.runs:
        console.print(f"No runs of {_t(where)}.")
        return
    console.print(table)
    for row in listing.runs:
        if row.failed_jobs:
            console.print(f"[red]#{row.run_number} failed[/]: {_t('; '.join(row.failed_jobs))}")


def render_run_end(service: str, row: RunRow, console: Console) -> None:
    """The watched run ended (or the watch gave up): its result and, when it failed, which job and step."""
    if row.status != "completed":
        console.print(f"Stopped watching run #{row.run_number} of {_t(service)}: still {_t(row.status)}")
        return
    colour = COLOUR.get(row.result, "yellow")
    console.print(f"Run #{row.run_number} of {_t(service)} ({_t(row.workflow)}) on {_t(row.commit)} by "
                  f"{_t(row.actor or '?')}: [{colour}]{_t(row.result)}[/] after {row.duration} · {_t(row.url)}")
    for job in row.failed_jobs:
        console.print(f"  [red]failed[/]: {_t(job)}")

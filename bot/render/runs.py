"""A service's CI runs (`/runs SERVICE`) and the end of a watched run, as Block Kit."""

from __future__ import annotations

from bot.changes import RunListing, RunRow
from bot.models import Message
from bot.render.message import BlockId
from bot.render.text import clean, section

RESULT_EMOJI = {"success": ":white_check_mark:", "failure": ":x:", "cancelled": ":no_entry_sign:",
                "timed_out": ":hourglass:", "skipped": ":fast_forward:"}
MAX_ROWS = 15


def _link(url: str, text: str) -> str:
    # GitHub's own html_url; anything else is shown as text, never as a link
    return f"<{url}|{text}>" if url.startswith("https://") and not any(c in url for c in "<>|& ") else text


def run_line(row: RunRow) -> str:
    """`:x: #412 Deploy taskflow-api · 3c760e0 · ana-dev · failure · 3m06s · open` (+ the failed job: step)."""
    emoji = RESULT_EMOJI.get(row.result, ":large_yellow_circle:")
    parts = [f"{emoji} {_link(row.url, f'#{row.run_number}')} {clean(row.workflow, 80)}", f"`{clean(row.commit, 12)}`",
             clean(row.actor or "?", 40), clean(row.result, 30), row.duration]
    line = " · ".join(parts)
    if row.failed_jobs:
        line += " · failed: " + clean("; ".join(row.failed_jobs), 200)
    return line


def runs_message(listing: RunListing) -> Message:
    where = clean(listing.repo, 100) + (f" {clean(listing.workflow, 80)}" if listing.workflow else "") + \
        (f" on {clean(listing.branch, 60)}" if listing.branch else "")
    head = f"*CI runs of {clean(listing.service, 63)}* · {where}"
    if not listing.runs:
        text = f"{head}\nNo runs."
        return Message(text=text, blocks=[section(text, BlockId.RUNS)])
    lines = [run_line(r) for r in listing.runs[:MAX_ROWS]]
    fallback = clean(f"{len(listing.runs)} runs of {listing.service}: latest {listing.runs[0].result}", 300)
    return Message(text=fallback, blocks=[section("\n".join([head, *lines]), BlockId.RUNS)])


def run_ended_message(service: str, row: RunRow) -> Message:
    """The watched run ended: its result, how long it took and, when it failed, which job and step."""
    emoji = RESULT_EMOJI.get(row.result, ":large_yellow_circle:")
    text = (f"{emoji} Run {_link(row.url, f'#{row.run_number}')} of {clean(service, 63)} "
            f"({clean(row.workflow, 80)}) on `{clean(row.commit, 12)}` by {clean(row.actor or '?', 40)}: "
            f"{clean(row.result, 30)} after {row.duration}")
    if row.status != "completed":
        text = (f":hourglass: Stopped watching run {_link(row.url, f'#{row.run_number}')} of {clean(service, 63)}: "
                f"still {clean(row.status, 30)}")
    elif row.failed_jobs:
        text += "\nFailed: " + clean("; ".join(row.failed_jobs), 600)
    return Message(text=text, blocks=[section(text, BlockId.RUNS)])


def watching_message(service: str, row: RunRow) -> str:
    return f"Watching run #{row.run_number} of {service} ({row.status}): the result follows in this thread."

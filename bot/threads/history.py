"""An incident's history: what a run adds to its timeline (each step, each finding), and the
postmortem draft written from the timeline when it closes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.models import BOT_USER, FileSnippet, Incident, Report
from bot.render.postmortem import postmortem_markdown

if TYPE_CHECKING:
    from bot.store import AsyncIncidentStore, IncidentStore


def run_entries(report: Report) -> list[tuple[str, str, str | None]]:
    """One timeline entry per step (how it ended, how long it took) and per finding (what, how often,
    where, since when), all by the bot."""
    entries: list[tuple[str, str, str | None]] = []
    for step in report.steps:
        detail = step.error or step.summary
        entries.append(("step", f"{report.kind}: {step.title}: {step.status.value} in {step.duration_ms / 1000:.1f}s"
                        + (f" - {detail}" if detail else ""), BOT_USER))
    for finding in report.findings:
        where = f" in {', '.join(finding.pods[:3])}" if finding.pods else ""
        since = f" since {finding.first_seen:%Y-%m-%d %H:%M:%S} UTC" if finding.first_seen else ""
        entries.append(("finding", f"[{finding.severity.value}] {finding.title} x{finding.count}{where}{since}",
                        BOT_USER))
    return entries


async def record_run(db: AsyncIncidentStore, incident_id: int, report: Report) -> None:
    """Write a finished run's steps and findings into the incident's timeline (one transaction)."""
    entries = run_entries(report)
    if entries:
        await db.add_timeline_many(incident_id, entries)


def postmortem_file(incident: Incident, markdown: str) -> FileSnippet:
    return FileSnippet(filename=f"postmortem-incident-{incident.id}.md", content=markdown,
                       title=f"Postmortem draft: incident #{incident.id} ({incident.service})")


async def postmortem(db: AsyncIncidentStore, incident: Incident) -> FileSnippet:
    """The postmortem draft of an incident, from the store, as a Markdown file."""
    markdown = postmortem_markdown(incident, await db.timeline(incident.id), await db.last_report(incident.id),
                                   await db.checklist(incident.id))
    return postmortem_file(incident, markdown)


def export_postmortem(store: IncidentStore, incident_id: int) -> str:
    """The same draft, read synchronously (`opsbot incident export ID`)."""
    incident = store.incident(incident_id)
    return postmortem_markdown(incident, store.timeline(incident_id), store.last_report(incident_id),
                               store.checklist(incident_id))

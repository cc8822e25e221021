"""The postmortem draft of an incident, as Markdown: summary, impact window, timeline, findings with
their evidence, the checklist (what was ticked, by whom), the fix commit and the run that built it,
follow-ups. Pure: the store's records in, one redacted Markdown text out (posted as a file into the
thread on close, printed by `opsbot incident export ID`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.models import BOT_USER, SEVERITY_ORDER, ChecklistItem, Finding, Incident, Report, Severity, TimelineEntry
from bot.redact import redact

# timeline kinds, as people read them
_KIND = {
    "open": "opened", "close": "closed", "reopen": "reopened", "debug": "command", "verify": "command",
    "trace": "command", "findings": "run ended", "step": "step", "finding": "finding", "tick": "ticked",
    "untick": "unticked", "action": "button", "note": "note", "alert": "alert", "error": "error",
    "recheck": "recheck",
}
MAX_TIMELINE = 400  # rows; a storm's thread can hold thousands of alert lines


def _utc(at: datetime | None) -> str:
    if at is None:
        return "-"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(text: str) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")[:400]


def _who(by: str | None) -> str:
    if not by:
        return "-"
    return "opsbot" if by == BOT_USER else by


def _duration(start: datetime, end: datetime) -> str:
    seconds = max(0, int((end - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def impact_window(incident: Incident, timeline: Sequence[TimelineEntry],
                  report: Report | None) -> tuple[datetime, datetime | None]:
    """From the earliest sign of trouble (the first error a finding saw, the first alert, the opening)
    to the last alert's resolution, else the close; None while it goes on."""
    starts = [_aware(incident.opened_at)]
    starts += [_aware(e.at) for e in timeline if e.kind == "alert" and e.text.startswith("firing")]
    if report is not None:
        starts += [_aware(f.first_seen) for f in report.findings
                   if f.first_seen is not None and SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[Severity.ERROR]]
    start = min(starts)
    alerts = [e for e in timeline if e.kind == "alert"]
    end: datetime | None = None
    if alerts and alerts[-1].text.startswith("resolved"):
        end = _aware(alerts[-1].at)
    elif incident.closed_at is not None:
        end = _aware(incident.closed_at)
    return start, end


def _summary(incident: Incident, timeline: Sequence[TimelineEntry], report: Report | None) -> list[str]:
    lines = [f"- **Service** `{incident.service}` in namespace `{incident.namespace}`"
             + (f" (context `{incident.context}`)" if incident.context else "")]
    lines.append(f"- **Opened** {_utc(incident.opened_at)} by {_who(incident.opened_by)}")
    if incident.status == "closed":
        lines.append(f"- **Closed** {_utc(incident.closed_at)} by {_who(incident.closed_by)}"
                     + (f": {incident.summary}" if incident.summary else ""))
    else:
        lines.append("- **Status** open")
    alerts = {e.text.split(" [fp ")[0].split(" (")[0].removeprefix("firing ") for e in timeline
              if e.kind == "alert" and e.text.startswith("firing")}
    if alerts:
        lines.append(f"- **Alerts** {', '.join(sorted(alerts)[:10])}")
    if report is not None:
        worst = report.findings[0] if report.findings else None
        if worst is not None:
            lines.append(f"- **Top finding** {worst.title} (x{worst.count}, {worst.severity.value}"
                         f"{', pods ' + ', '.join(worst.pods[:3]) if worst.pods else ''})")
        else:
            lines.append("- **Top finding** none: the last run found no known error")
        ready = sum(p.ready for p in report.pods)
        lines.append(f"- **Pods at the last run** {len(report.pods)}, {ready} ready, "
                     f"{sum(p.restarts for p in report.pods)} restarts")
    return lines


def _timeline(timeline: Sequence[TimelineEntry]) -> list[str]:
    rows = ["| when | who | what | detail |", "| --- | --- | --- | --- |"]
    shown = list(timeline)
    cut = 0
    if len(shown) > MAX_TIMELINE:
        cut = len(shown) - MAX_TIMELINE
        shown = shown[: MAX_TIMELINE // 2] + shown[-MAX_TIMELINE // 2:]
    for i, entry in enumerate(shown):
        if cut and i == MAX_TIMELINE // 2:
            rows.append(f"| … | | {cut} entries left out (the store holds them all) | |")
        rows.append(f"| {_utc(entry.at)} | {_cell(_who(entry.by))} | {_KIND.get(entry.kind, entry.kind)} | "
                    f"{_cell(entry.text)} |")
    return rows


def _finding(n: int, finding: Finding) -> list[str]:
    out = [f"### {n}. {finding.title}", "",
           f"- **Severity** {finding.severity.value} · **count** {finding.count}"]
    if finding.pods:
        out.append(f"- **Pods** {', '.join(finding.pods[:10])}" + (f" (+{len(finding.pods) - 10})"
                                                                    if len(finding.pods) > 10 else ""))
    if finding.containers:
        out.append(f"- **Containers** {', '.join(finding.containers[:10])}")
    if finding.first_seen or finding.last_seen:
        out.append(f"- **Seen** from {_utc(finding.first_seen)} to {_utc(finding.last_seen)}")
    if finding.cause:
        out.append(f"- **Likely cause** {' '.join(finding.cause.split())}")
    if finding.fix:
        out.append(f"- **Fix** {' '.join(finding.fix.split())}")
    evidence = [e for e in finding.evidence if e.strip()]
    if finding.sample or evidence:
        out += ["- **Evidence**", "", "```"]
        out += [line[:300] for line in ([finding.sample] if finding.sample else []) + evidence[:10]]
        out.append("```")
    return [*out, ""]


def _checklist(items: Sequence[ChecklistItem]) -> list[str]:
    if not items:
        return ["No checklist was recorded."]
    out = []
    for item in items:
        mark = "x" if item.done else " "
        who = f" — {'ticked' if item.done else 'unticked'} by {_who(item.by)} at {_utc(item.at)}" if item.by else ""
        evidence = f" ({' '.join(item.evidence.split())[:200]})" if item.evidence else ""
        out.append(f"- [{mark}] {item.text}{who}{evidence}")
    return out


def _fix(report: Report | None) -> list[str]:
    if report is None or report.deployment is None:
        return ["No deployment was read: the fix commit is not known. Fill it in."]
    deployment = report.deployment
    lines = [f"- **Running** deployment `{deployment.name}` revision {deployment.revision or '?'}, "
             f"{deployment.ready_replicas}/{deployment.replicas} ready"]
    if deployment.commit:
        lines.append(f"- **Commit** `{deployment.commit}`")
    else:
        lines.append("- **Commit** not recorded on the deployment (image tag or opsbot.io/commit annotation)")
    built = next((r for r in report.runs if r.deployed), None)
    if built is not None:
        lines.append(f"- **Run** #{built.run_number} {built.name} ({built.conclusion or built.status})"
                     + (f": {built.html_url}" if built.html_url else ""))
    elif report.runs:
        lines.append("- **Run** none of the recent runs built the running commit")
    else:
        lines.append("- **Run** no GitHub Actions run was read (no repository configured?)")
    return lines


def _follow_ups(items: Sequence[ChecklistItem], report: Report | None) -> list[str]:
    out = [f"- [ ] {item.text}" for item in items if not item.done]
    if report is not None:
        for finding in report.findings[:3]:
            if SEVERITY_ORDER[finding.severity] <= SEVERITY_ORDER[Severity.ERROR]:
                out.append(f"- [ ] Prevent a regression of \"{finding.title}\": a test, an alert on its signature")
    return out or ["- [ ] None recorded: add what should change so that this does not happen again"]


def postmortem_markdown(incident: Incident, timeline: Sequence[TimelineEntry], report: Report | None,
                        checklist: Sequence[ChecklistItem], *, now: datetime | None = None) -> str:
    """The whole draft. Redacted as one text at the end: whatever a log line, a note or an alert
    label carried, no secret leaves in it."""
    start, end = impact_window(incident, timeline, report)
    lines = [f"# Postmortem draft: incident #{incident.id}, {incident.service}", "",
             f"_Drafted by opsbot from the incident's thread on {_utc(now or datetime.now(UTC))}."
             " Edit before sharing._", "", "## Summary", ""]
    lines += _summary(incident, timeline, report)
    lines += ["", "## Impact window", "", f"- **Start** {_utc(start)}",
              f"- **End** {_utc(end) if end else 'ongoing'}"]
    if end is not None:
        lines.append(f"- **Duration** {_duration(start, end)}")
    lines += ["", "## Timeline", "", *_timeline(timeline)]
    lines += ["", "## Findings and evidence", ""]
    findings = report.findings if report is not None else []
    if findings:
        for n, finding in enumerate(findings, start=1):
            lines += _finding(n, finding)
    else:
        lines += ["No findings were recorded.", ""]
    lines += ["## Checklist: what was ticked, by whom", "", *_checklist(checklist)]
    lines += ["", "## The fix: commit and run", "", *_fix(report)]
    lines += ["", "## Follow-ups", "", *_follow_ups(checklist, report)]
    return redact("\n".join(lines) + "\n")

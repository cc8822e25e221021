"""The postmortem draft of an incident, as Markdown: summary, impact window, timeline, findings with
their evidence, the checklist (what was ticked, by whom), the fix commit and the run that built it,
follow-ups. Pure: the store's records in, one redacted Markdown text out (posted as a file into the
thread on close, printed by `opsbot incident export ID`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.alertmanager import tagged_time
from bot.models import BOT_USER, SEVERITY_ORDER, ChecklistItem, Finding, Incident, Report, Severity, TimelineEntry
from bot.redact import redact

# timeline kinds, as people read them
_KIND = {
    "open": "opened", "close": "closed", "reopen": "reopened", "debug": "command", "verify": "command",
    "trace": "command", "findings": "run ended", "step": "step", "finding": "finding", "tick": "ticked",
    "untick": "unticked", "action": "button", "note": "note", "alert": "alert", "error": "error",
    "recheck": "recheck",
}
_TYPED = {"note", "close"}  # entries whose text a person typed: shown whole
MAX_TIMELINE = 400  # rows; a storm's thread can hold thousands of alert lines


def _utc(at: datetime | None) -> str:
    if at is None:
        return "-"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(text: str, limit: int | None = 400) -> str:
    """A Markdown table cell: one line, pipes escaped; the bot's own words cut at `limit`."""
    return " ".join(text.split()).replace("|", "\\|")[:limit]


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


_NAME_END = re.compile(r" \(| - | since \d| resolved at \d| \[")  # what follows an alert's name in its line
_FP = re.compile(r" \[fp ([0-9A-Za-z]+)\]$")


def impact_window(incident: Incident, timeline: Sequence[TimelineEntry],
                  report: Report | None) -> tuple[datetime, datetime | None]:
    """When the trouble began and ended, as the evidence says, not when the bot wrote it down.

    An incident with alerts: from the earliest alert's own startsAt to the latest endsAt once every
    alert resolved; None (ongoing) while one still fires, even after the close. Without alerts: from
    the first time a finding (error or worse) saw its error, else the opening, to the close; None
    while it is open. Entries written before alerts carried their times fall back to their own time."""
    alerts = [e for e in timeline if e.kind == "alert"]
    firing = [e for e in alerts if e.text.startswith("firing")]
    if firing:
        start = min(tagged_time(e.text) or _aware(e.at) for e in firing)
        last: dict[str, TimelineEntry] = {}
        for n, entry in enumerate(alerts):
            match = _FP.search(entry.text)
            last[match.group(1) if match else f"#{n}"] = entry
        if any(e.text.startswith("firing") for e in last.values()):
            return start, None
        resolved = [e for e in alerts if e.text.startswith("resolved")]
        end = max(tagged_time(e.text) or _aware(e.at) for e in resolved)
        return start, max(start, end)
    starts = []
    if report is not None:
        starts = [_aware(f.first_seen) for f in report.findings
                  if f.first_seen is not None and SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[Severity.ERROR]]
    start = min(starts) if starts else _aware(incident.opened_at)
    if incident.closed_at is None:
        return start, None
    return start, max(start, _aware(incident.closed_at))


def _end(incident: Incident, timeline: Sequence[TimelineEntry], end: datetime | None) -> str:
    if end is not None:
        return _utc(end)
    alerted = any(e.kind == "alert" for e in timeline)
    if incident.closed_at is not None:
        return f"not reached: {'an alert was still firing' if alerted else 'no end recorded'} " \
               f"when the incident closed at {_utc(incident.closed_at)}"
    return "ongoing (an alert is still firing)" if alerted else "ongoing (the incident is open)"


def _summary(incident: Incident, timeline: Sequence[TimelineEntry], report: Report | None) -> list[str]:
    lines = [f"- **Service** `{incident.service}` in namespace `{incident.namespace}`"
             + (f" (context `{incident.context}`)" if incident.context else "")]
    lines.append(f"- **Opened** {_utc(incident.opened_at)} by {_who(incident.opened_by)}")
    if incident.status == "closed":
        lines.append(f"- **Closed** {_utc(incident.closed_at)} by {_who(incident.closed_by)}"
                     + (f": {incident.summary}" if incident.summary else ""))
    else:
        lines.append("- **Status** open")
    alerts = {_NAME_END.split(e.text.removeprefix("firing "), maxsplit=1)[0] for e in timeline
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
                    f"{_cell(entry.text, None if entry.kind in _TYPED else 400)} |")
    return rows


def _seen(finding: Finding, captured: datetime) -> str:
    """When the finding's error showed: a pattern finding knows its first time only, and was still in
    the logs when the last run read them."""
    if finding.first_seen and finding.last_seen:
        return f"from {_utc(finding.first_seen)} to {_utc(finding.last_seen)}"
    if finding.first_seen:
        return f"since {_utc(finding.first_seen)}, still occurring when the last run read the logs ({_utc(captured)})"
    if finding.last_seen:
        return f"last at {_utc(finding.last_seen)}"
    return ""


def _finding(n: int, finding: Finding, captured: datetime) -> list[str]:
    out = [f"### {n}. {finding.title}", "",
           f"- **Severity** {finding.severity.value} · **count** {finding.count}"]
    if finding.pods:
        out.append(f"- **Pods** {', '.join(finding.pods[:10])}" + (f" (+{len(finding.pods) - 10})"
                                                                    if len(finding.pods) > 10 else ""))
    if finding.containers:
        out.append(f"- **Containers** {', '.join(finding.containers[:10])}")
    seen = _seen(finding, captured)
    if seen:
        out.append(f"- **Seen** {seen}")
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
    lines += ["", "## Impact window", "", f"- **Start** {_utc(start)}", f"- **End** {_end(incident, timeline, end)}"]
    if end is not None:
        lines.append(f"- **Duration** {_duration(start, end)}")
    lines += ["", "## Timeline", "", *_timeline(timeline)]
    lines += ["", "## Findings and evidence", ""]
    findings = report.findings if report is not None else []
    if findings:
        for n, finding in enumerate(findings, start=1):
            lines += _finding(n, finding, report.started_at if report is not None else incident.opened_at)
    else:
        lines += ["No findings were recorded.", ""]
    lines += ["## Checklist: what was ticked, by whom", "", *_checklist(checklist)]
    lines += ["", "## The fix: commit and run", "", *_fix(report)]
    lines += ["", "## Follow-ups", "", *_follow_ups(checklist, report)]
    return redact("\n".join(lines) + "\n")

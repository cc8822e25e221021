"""The timeline and the postmortem draft: every step, finding, tick, button and note is recorded with
who and when; `/incident close` posts the draft (the demo console prints it); `opsbot incident export
ID` prints the same from the store; the renderer is pure and redacts."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.alertmanager import Alert
from bot.cli import app
from bot.commands import IncidentCommand
from bot.config import Settings
from bot.console import ConsoleSession, TerminalSink
from bot.errors import UsageError
from bot.models import (
    ChecklistItem,
    DeploymentSnapshot,
    Finding,
    Incident,
    Report,
    Severity,
    TimelineEntry,
    WorkflowRun,
)
from bot.render.notes import closed_message, note_message
from bot.render.postmortem import MAX_TIMELINE, impact_window, postmortem_markdown
from bot.runtime import open_runtime
from bot.store import IncidentStore
from bot.threads import IncidentService
from bot.threads.alerts import timeline_text
from bot.threads.history import export_postmortem
from handlers.parsing import parse_command
from tests.test_console import after, run

SECRET_NOTE = "rolled back to v41, db password=hunter2-Sup3rSecret"


@pytest.fixture(scope="module")
def console_session(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run(
        [
            "/debug taskflow-api",
            "tick 1",
            "press 1",
            f"/incident note {SECRET_NOTE}",
            "/incident close raised the pool size",
            "quit",
        ],
        tmp_path_factory.mktemp("postmortem-console"),
    )


def test_incident_close_in_the_demo_console_posts_the_postmortem_with_the_timeline(console_session: str) -> None:
    closed = after(console_session, "/incident close raised the pool size")
    assert "postmortem-incident-1.md" in closed
    draft = closed[closed.index("# Postmortem draft: incident #1, taskflow-api"):]
    for heading in ("## Summary", "## Impact window", "## Timeline", "## Findings and evidence",
                    "## Checklist: what was ticked, by whom", "## The fix: commit and run", "## Follow-ups"):
        assert heading in draft, heading
    timeline = draft[draft.index("## Timeline"):draft.index("## Findings and evidence")]
    # who and when for each kind of thing that happened
    for kind in ("opened", "command", "step", "finding", "run ended", "ticked", "button", "note", "closed"):
        assert re.search(rf"\| \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \| \S+ \| {kind} \|", timeline), kind
    assert "raised the pool size" in draft
    assert "QueuePool" in draft  # a finding with its evidence
    assert re.search(r"\*\*Commit\*\* `[0-9a-f]{7,40}`", draft)
    assert re.search(r"\*\*Run\*\* #\d+", draft)
    assert re.search(r"- \[x\] Reproduce the issue.* — ticked by \S+ at", draft)


def test_a_note_is_said_in_the_thread_and_redacted_everywhere(console_session: str) -> None:
    noted = after(console_session, f"/incident note {SECRET_NOTE}")
    assert "Noted in the timeline of incident #1" in noted and "Note from" in noted
    # what opsbot printed (the thread, the draft) holds no secret; only the echo of the typed line does
    printed = "\n".join(line for line in console_session.splitlines() if not line.startswith("opsbot> "))
    assert "hunter2-Sup3rSecret" not in printed and "[REDACTED:password]" in printed
    assert "rolled back to v41" in console_session


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("note rolled back", IncidentCommand("note", note="rolled back")),
        ("note #12 rolled &lt;v41&gt;", IncidentCommand("note", incident_id=12, note="rolled <v41>")),
    ],
)
def test_incident_note_parses(text: str, expected: IncidentCommand) -> None:
    assert parse_command("/incident", text) == expected


@pytest.mark.parametrize("text", ["note", "note   ", "note #12"])
def test_incident_note_needs_text(text: str) -> None:
    with pytest.raises(UsageError, match="note needs the text"):
        parse_command("/incident", text)


# --- opsbot incident export ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store written by a real session: /debug, a tick, a note, close (the console, demo runtime)."""
    import asyncio

    path = tmp_path_factory.mktemp("export") / "opsbot.db"
    settings = Settings(store={"path": str(path)})  # type: ignore[arg-type]

    async def session() -> None:
        async with open_runtime(settings, demo=True) as runtime:
            store = IncidentStore(path)
            service = IncidentService(runtime, store)
            console = ConsoleSession(service, TerminalSink(Console(file=io.StringIO())), user="U0ALICE")
            for line in ("/debug taskflow-api", "tick 1", "/incident note restarted the workers",
                         "/incident close fixed"):
                await console.handle(line)
            await service.shutdown(5.0)
            store.close()

    asyncio.run(session())
    return path


def test_export_prints_the_draft_from_the_store(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOT_DB", str(store_path))
    result = CliRunner().invoke(app, ["incident", "export", "1"])
    assert result.exit_code == 0, result.output
    store = IncidentStore(store_path)
    try:
        expected = export_postmortem(store, 1)
    finally:
        store.close()
    # the same draft but for the line saying when it was drafted
    strip = re.compile(r"^_Drafted by opsbot .*$", re.MULTILINE)
    assert strip.sub("", result.stdout) == strip.sub("", expected)
    assert "restarted the workers" in result.stdout and "| U0ALICE | note |" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["incident", "export", "9"], 1, "incident #9 does not exist"),
        (["incident", "export", "twelve"], 2, "must be a number"),
        (["incident", "export", "-1"], 2, "must be a number such as 12, not '-1'"),
        (["incident", "export", "1" * 12], 2, "must be a number"),
    ],
)
def test_export_says_what_is_wrong_in_one_line(store_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               args: list[str], code: int, message: str) -> None:
    monkeypatch.setenv("OPSBOT_DB", str(store_path))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code
    assert result.stderr.startswith("opsbot: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_export_without_a_store_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOT_DB", str(tmp_path / "missing.db"))
    result = CliRunner().invoke(app, ["incident", "export", "1"])
    assert result.exit_code == 2 and "no incident store at" in result.stderr
    assert not (tmp_path / "missing.db").exists()


# --- the renderer ---------------------------------------------------------------------------------------


T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def _alert(status: str, starts: datetime, ends: datetime | None = None, fp: str = "1a", **labels: str) -> Alert:
    return Alert.model_validate({"status": status, "labels": {"alertname": "HighErrorRate", **labels},
                                 "startsAt": starts.isoformat(), "fingerprint": fp,
                                 "endsAt": (ends or datetime(1, 1, 1, tzinfo=UTC)).isoformat()})


def _incident(**extra: object) -> Incident:
    fields: dict[str, object] = {"id": 7, "channel": "C1", "thread_ts": "1.1", "service": "taskflow-api",
                                 "namespace": "taskflow", "opened_by": "alertmanager", "opened_at": T0}
    return Incident.model_validate({**fields, **extra})


def test_the_draft_is_pure_and_redacts_whatever_it_quotes() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    timeline = [
        TimelineEntry(at=T0, kind="open", text="opened for taskflow-api in taskflow", by="alertmanager"),
        TimelineEntry(at=T0 + timedelta(minutes=1), kind="alert", by="alertmanager",
                      text=timeline_text("firing", _alert("firing", T0 - timedelta(minutes=30), pod="a|b"))),
        TimelineEntry(at=T0 + timedelta(minutes=9), kind="note", text=f"used {token} to re-run the job", by="U0BOB"),
        TimelineEntry(at=T0 + timedelta(minutes=21), kind="alert", by="alertmanager",
                      text=timeline_text("resolved", _alert("resolved", T0 - timedelta(minutes=30),
                                                            T0 + timedelta(minutes=20), pod="a|b"))),
    ]
    report = Report(
        service="taskflow-api", namespace="taskflow", started_at=T0,
        findings=[Finding(pattern="pool", title="Pool exhausted", severity=Severity.CRITICAL, count=12,
                          first_seen=T0 - timedelta(minutes=30), sample=f"Authorization: Bearer {token}",
                          evidence=["3 pods"], fix="close sessions")],
        deployment=DeploymentSnapshot(name="taskflow-api", namespace="taskflow", commit="cd73e1b123ee", revision="4"),
        runs=[WorkflowRun(id=1, name="Deploy", run_number=41, head_sha="cd73e1b123ee", conclusion="success",
                          deployed=True, html_url="https://github.com/acme/taskflow/actions/runs/1")],
    )
    checklist = [ChecklistItem(key="a", text="Reproduce", done=True, by="U0BOB", at=T0),
                 ChecklistItem(key="b", text="Add a regression test")]
    now = T0 + timedelta(hours=1)
    first = postmortem_markdown(_incident(), timeline, report, checklist, now=now)
    assert first == postmortem_markdown(_incident(), timeline, report, checklist, now=now)  # pure
    assert token not in first
    assert "pod=a\\|b" in first  # a pipe never breaks the table
    # impact: the alert's own startsAt and endsAt, not when the bot wrote them down
    assert "- **Start** 2026-11-29 01:30:00 UTC" in first and "- **End** 2026-11-29 02:20:00 UTC" in first
    assert "- **Duration** 50m 00s" in first
    assert "- **Commit** `cd73e1b123ee`" in first and "#41 Deploy (success)" in first
    assert "- [x] Reproduce — ticked by U0BOB" in first and "- [ ] Add a regression test" in first
    assert "- **Alerts** HighErrorRate" in first


def test_an_open_incident_without_alerts_is_ongoing_and_a_long_timeline_is_cut() -> None:
    many = [TimelineEntry(at=T0 + timedelta(seconds=i), kind="alert", text=f"firing A{i} [fp {i}]", by="am")
            for i in range(MAX_TIMELINE + 50)]
    start, end = impact_window(_incident(), many, None)
    assert start == T0 and end is None
    text = postmortem_markdown(_incident(), many, None, [])
    assert "- **End** ongoing" in text and "50 entries left out" in text
    assert "No findings were recorded." in text and "the fix commit is not known" in text


def test_the_impact_window_is_the_alerts_own_times_not_when_they_were_recorded() -> None:
    # Alertmanager sent the firing alert 4 minutes after it started (group_wait), the resolved one 5
    # minutes after it ended (group_interval); a second alert started earlier and ended later
    started, ended = T0 - timedelta(minutes=4), T0 + timedelta(minutes=40)
    timeline = [
        TimelineEntry(at=T0, kind="alert", text=timeline_text("firing", _alert("firing", started)), by="am"),
        TimelineEntry(at=T0 + timedelta(minutes=2), kind="alert", by="am",
                      text=timeline_text("firing", _alert("firing", started - timedelta(minutes=3), fp="2b"))),
        TimelineEntry(at=T0 + timedelta(minutes=30), kind="alert", by="am",
                      text=timeline_text("resolved", _alert("resolved", started, T0 + timedelta(minutes=25)))),
    ]
    report = Report(service="taskflow-api", namespace="taskflow", started_at=T0,
                    findings=[Finding(pattern="pool", title="Pool exhausted", first_seen=T0 - timedelta(hours=2))])
    # one alert still fires: ongoing, even once the incident is closed
    closed = _incident(status="closed", closed_at=T0 + timedelta(minutes=35), closed_by="U0BOB")
    assert impact_window(closed, timeline, report) == (started - timedelta(minutes=3), None)
    text = postmortem_markdown(closed, timeline, report, [])
    assert "- **End** not reached: an alert was still firing when the incident closed at 2026-11-29 02:35:00 UTC" \
        in text
    timeline.append(TimelineEntry(at=T0 + timedelta(minutes=50), kind="alert", by="am",
                                  text=timeline_text("resolved", _alert("resolved", started, ended, fp="2b"))))
    assert impact_window(closed, timeline, report) == (started - timedelta(minutes=3), ended)
    text = postmortem_markdown(closed, timeline, report, [])
    assert "- **Start** 2026-11-29 01:53:00 UTC" in text and "- **End** 2026-11-29 02:40:00 UTC" in text
    assert "- **Duration** 47m 00s" in text
    assert "- **Alerts** HighErrorRate\n" in text  # its name only, though it has no other label


def test_without_alerts_the_window_starts_at_the_first_finding_and_ends_at_the_close() -> None:
    report = Report(service="taskflow-api", namespace="taskflow", started_at=T0 + timedelta(minutes=5),
                    findings=[Finding(pattern="warn", title="Slow", severity=Severity.WARNING,
                                      first_seen=T0 - timedelta(hours=5)),
                              Finding(pattern="pool", title="Pool exhausted", first_seen=T0 - timedelta(minutes=12)),
                              Finding(pattern="unrecognised-1", title="KeyError", signature="KeyError <str>",
                                      first_seen=T0 - timedelta(minutes=8), last_seen=T0 - timedelta(minutes=1))])
    opened = _incident(opened_by="U0BOB")
    assert impact_window(opened, [], report) == (T0 - timedelta(minutes=12), None)  # a warning is no impact
    assert "- **End** ongoing (the incident is open)" in postmortem_markdown(opened, [], report, [])
    closed = _incident(opened_by="U0BOB", status="closed", closed_at=T0 + timedelta(minutes=48))
    text = postmortem_markdown(closed, [], report, [])
    assert "- **Start** 2026-11-29 01:48:00 UTC" in text and "- **Duration** 1h 00m" in text
    # a pattern finding knows when it began; the logs read at the last run still had it
    assert ("- **Seen** since 2026-11-29 01:48:00 UTC, still occurring when the last run read the logs "
            "(2026-11-29 02:05:00 UTC)") in text
    assert "- **Seen** from 2026-11-29 01:52:00 UTC to 2026-11-29 01:59:00 UTC" in text
    assert " to -" not in text
    # no finding, no alert: the opening
    assert impact_window(closed, [], None)[0] == T0


def test_a_long_note_is_kept_whole_from_the_command_to_the_thread_and_the_draft() -> None:
    words = " ".join(f"w{i}&x" for i in range(1_600))  # ~11,000 characters, escapes grow it further
    command = parse_command("/incident", f"note #3 {words.replace('&', '&amp;')}")
    assert command.note == words
    message = note_message("U0BOB", words)
    shown = "".join(block["text"]["text"] for block in message.blocks)
    assert all(len(block["text"]["text"]) <= 3000 for block in message.blocks) and len(message.blocks) > 3
    assert "w0&amp;x" in shown and "w1599&amp;x" in shown and "…" not in shown
    assert shown.count("&amp;x") == 1_600  # no word cut in half at a block's edge, no entity split
    timeline = [TimelineEntry(at=T0, kind="note", text=words, by="U0BOB")]
    assert words in postmortem_markdown(_incident(), timeline, None, [])


@pytest.mark.parametrize(("text", "limit"), [("note " + "x" * 12_001, "12,000"),
                                             ("close #3 " + "y" * 2_501, "2,500")])
def test_text_over_the_limit_is_refused_naming_the_limit_never_cut(text: str, limit: str) -> None:
    with pytest.raises(UsageError, match=f"the limit is {limit}"):
        parse_command("/incident", text)


def test_a_close_summary_is_kept_whole() -> None:
    summary = "raised the pool size " * 120  # 2,520 characters after strip -> under the limit once stripped
    summary = summary[:2_400]
    command = parse_command("/incident", f"close {summary}")
    assert command.summary == summary.strip()
    shown = "".join(block["text"]["text"] for block in closed_message("U0BOB", command.summary).blocks)
    assert summary.strip()[-40:] in shown

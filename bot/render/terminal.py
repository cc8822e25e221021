"""The terminal renderer (rich): the same report as the Slack thread, readable at a glance."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from bot.models import ContainerKind, Finding, PodSnapshot, Report, Severity, StepStatus
from bot.redact import redact
from bot.render.changes import MAX_ONSET_LINES, fix_lines, onset_lines
from bot.render.terminal_changes import changes_renderables
from bot.render.verdict import age, headline, stamp, status_word, top_finding, verdict, worst
from bot.text import plural

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.ERROR: "red", Severity.WARNING: "yellow",
                  Severity.INFO: "cyan"}
STEP_MARK = {StepStatus.OK: "[green]✔[/]", StepStatus.FAILED: "[red]✘[/]", StepStatus.TIMEOUT: "[red]⏱[/]",
             StepStatus.SKIPPED: "[dim]–[/]", StepStatus.RUNNING: "[yellow]…[/]", StepStatus.PENDING: "[dim]·[/]"}


def when(ts: datetime | None) -> str:
    """A moment with its age: "01:28:03 UTC (2h4m ago)", dated when it is not today."""
    if ts is None:
        return "-"
    return f"{stamp(ts, seconds=True)} ({age((datetime.now(UTC) - ts).total_seconds())} ago)"


def _t(text: str) -> str:
    """Escape for rich markup after redaction: log text must never be read as markup or leak a secret."""
    return escape(redact(text))


def steps_table(report: Report) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1))
    for step in report.steps:
        detail = _t(step.error) if step.error else _t(step.summary)
        style = "red" if step.error else ""
        took = f"[dim]{step.duration_ms / 1000:.2f}s[/]" if step.duration_ms else ""
        table.add_row(STEP_MARK[step.status], step.title, Text.from_markup(detail, style=style), took)
    return table


def _containers(pod: PodSnapshot) -> str:
    parts = []
    for c in pod.containers:
        kind = {ContainerKind.SIDECAR: " [dim]sidecar[/]", ContainerKind.INIT: " [dim]init[/]"}.get(c.kind, "")
        state = c.reason or c.state
        colour = "green" if c.state == "running" and c.ready else (
            "dim" if c.kind is ContainerKind.INIT and c.state == "terminated" else "red")
        last = f", last {c.last_reason} ({c.last_exit_code})" if c.last_reason else ""
        restarts = f" ↻{c.restarts}" if c.restarts else ""
        parts.append(f"{escape(c.name)}{kind} [{colour}]{escape(state)}[/]{restarts}{escape(last)}")
    return "\n".join(parts)


def pods_table(report: Report) -> Table:
    table = Table(title="Pods", title_justify="left", expand=False)
    for col in ("pod", "phase", "ready", "restarts", "age", "containers"):
        table.add_column(col, no_wrap=col != "containers")
    for pod in report.pods:
        table.add_row(
            pod.name, pod.phase, "[green]yes[/]" if pod.ready else "[red]no[/]",
            f"[red]{pod.restarts}[/]" if pod.restarts else "0", age(pod.age_seconds), _containers(pod),
        )
    return table


def finding_panel(f: Finding, index: int) -> Panel:
    rows: list[RenderableType] = []
    where = plural(f.count, "hit")
    if f.pods:
        where += f" in {plural(len(f.pods), 'pod')} ({_t(', '.join(f.pods[:3]))}{', …' if len(f.pods) > 3 else ''})"
    if f.containers:
        where += f" · containers: {_t(', '.join(f.containers))}"
    where += f" · first seen {when(f.first_seen)}"
    rows.append(Text.from_markup(where))
    rows.append(Text.from_markup(f"[bold]sample[/]  {_t(f.sample)}"))
    if f.cause:
        rows.append(Text.from_markup(f"[bold]likely cause[/]  {_t(f.cause)}"))
    if f.fix:
        rows.append(Text.from_markup(f"[bold green]fix[/]  {_t(f.fix)}"))
    if f.snippet:
        rows.append(Syntax(redact(f.snippet).rstrip(), "python", theme="ansi_dark", background_color="default"))
    if f.regression_test:  # the walkthrough's Step 4: a test that keeps the bug from coming back
        rows.append(Text.from_markup("[bold green]regression test[/]"))
        rows.append(Syntax(redact(f.regression_test).rstrip(), "python", theme="ansi_dark",
                           background_color="default"))
    if len(f.evidence) > 1:
        rows.append(Text.from_markup("[bold]evidence[/]\n" + "\n".join(f"  • {_t(e)}" for e in f.evidence)))
    for cmd in f.next_commands:
        button = " [dim](runnable: press in Slack / console)[/]" if cmd.action else ""
        rows.append(Text.from_markup(f"[bold]next[/]  [cyan]{_t(cmd.command)}[/]{button}"))
    style = SEVERITY_STYLE[f.severity]
    title = f"[{style}]{index}. {_t(f.title)}[/] [dim]({f.pattern}, {f.severity})[/]"
    return Panel(Group(*rows), title=title, title_align="left", border_style=style)


def events_table(report: Report) -> Table:
    table = Table(title="Warning events", title_justify="left")
    for col in ("last seen", "object", "reason", "count", "message"):
        table.add_column(col, no_wrap=col != "message")
    for e in report.events[:15]:
        table.add_row(when(e.last_seen), f"{e.object_kind}/{e.object_name}", e.reason, str(e.count), _t(e.message))
    return table


def runs_table(report: Report) -> Table:
    table = Table(title="GitHub Actions runs", title_justify="left")
    for col in ("run", "workflow", "commit", "result", "created", ""):
        table.add_column(col)
    for r in report.runs:
        result = r.conclusion or r.status
        colour = {"success": "green", "failure": "red"}.get(result, "yellow")
        table.add_row(f"#{r.run_number}", _t(r.name), r.head_sha[:7], f"[{colour}]{result}[/]", when(r.created_at),
                      "[bold]← running[/]" if r.deployed else "")
    return table


def path_table(report: Report) -> Table:
    """The other services on the request path: up or not, and what their logs say."""
    table = Table(title="Request path (the other services)", title_justify="left")
    for col in ("service", "namespace", "ready", "restarts", "findings"):
        table.add_column(col)
    for hop in report.path:
        if hop.error:
            table.add_row(_t(hop.service), _t(hop.namespace), "?", "?", f"[yellow]{_t(hop.error)}[/]")
            continue
        colour = "green" if hop.ready_replicas == hop.replicas and hop.replicas else "red"
        found = "\n".join(f"[{SEVERITY_STYLE[f.severity]}]{_t(f.pattern)}[/] ×{f.count}"
                          for f in hop.findings) or "[green]no known error[/]"
        table.add_row(_t(hop.service), _t(hop.namespace), f"[{colour}]{hop.ready_replicas}/{hop.replicas}[/]",
                      str(hop.restarts), found)
    return table


def dapr_table(report: Report) -> Table:
    """What each Dapr sidecar runs with: its components, and the topics it delivers to the app."""
    table = Table(title="Dapr sidecars", title_justify="left")
    for col in ("app id", "pod", "components", "subscriptions"):
        table.add_column(col)
    for s in report.dapr:
        components = (
            "[dim]not readable (the sidecar's API is pod-local)[/]" if s.components is None
            else "\n".join(f"{_t(c.name)} [dim]{_t(c.type)}[/]" for c in s.components) or "[yellow]none[/]"
        )
        subscriptions = "\n".join(
            f"{_t(sub.pubsub)}/{_t(sub.topic)} → {_t(', '.join(sub.routes) or '?')}" for sub in s.subscriptions
        ) or "[dim]none[/]"
        table.add_row(_t(s.app_id or "?"), _t(s.pod), components, subscriptions)
    return table


def checklist_view(report: Report) -> Table:
    table = Table(title="Checklist", title_justify="left", show_header=False, box=None)
    for i, item in enumerate(report.checklist, 1):
        mark = "[green]\\[x][/]" if item.done else "\\[ ]"
        by = f" [dim]— {_t(item.evidence)}[/]" if item.evidence else (f" [dim]— {item.by}[/]" if item.by else "")
        table.add_row(f"{i}.", Text.from_markup(f"{mark} {_t(item.text)}{by}"))
    return table


def _clock_ms(ts: datetime | None, today: date) -> str:
    if ts is None:
        return "-"
    at = ts.astimezone(UTC)
    return f"{at:%H:%M:%S.%f}"[:-3] if at.date() == today else f"{at:%Y-%m-%d %H:%M:%S.%f}"[:-3]


def trace_table(report: Report) -> Table:
    table = Table(title=f"Request {report.service}", title_justify="left")
    for col in ("time (UTC)", "service", "pod/container", "line"):
        table.add_column(col, no_wrap=col != "line")
    today = datetime.now(UTC).date()
    for hit in report.trace:
        ts = _clock_ms(hit.ts, today)
        style = "red" if any(word in hit.text for word in ("ERROR", "Error", "error=")) else ""
        table.add_row(ts, hit.service, f"{hit.pod}/{hit.container}", Text(redact(hit.text), style=style))
    return table


class LiveSteps:
    """The step list while a playbook runs (shown with rich's Live on a terminal): each step as it
    stands, how long the running ones have taken, and the Kubernetes calls still waiting for an
    answer with how long they have waited, so that a cluster that does not answer is seen as such.
    `calls` says which calls wait (what, since when on `clock`)."""

    def __init__(self, calls: Callable[[], list[tuple[str, float]]], *, timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.calls = calls
        self.timeout = timeout
        self.clock = clock
        self.report: Report | None = None
        self.began: dict[str, float] = {}

    async def update(self, report: Report) -> None:
        """The engine's progress callback: remember the report, and when each step started running."""
        now = self.clock()
        for step in report.steps:
            if step.status is StepStatus.RUNNING:
                self.began.setdefault(step.name, now)
        self.report = report

    def __rich__(self) -> RenderableType:
        now = self.clock()
        table = Table(show_header=False, box=None, padding=(0, 1))
        if self.report is None:
            table.add_row(STEP_MARK[StepStatus.RUNNING], "starting", "")
        for step in self.report.steps if self.report else []:
            if step.status is StepStatus.RUNNING:
                took = f"[yellow]{now - self.began.get(step.name, now):.1f}s[/]"
                table.add_row(STEP_MARK[step.status], step.title, took)
            else:
                done = f"[dim]{step.duration_ms / 1000:.2f}s[/]" if step.duration_ms else ""
                table.add_row(STEP_MARK[step.status], f"[dim]{escape(step.title)}[/]", done)
        limit = f" of {self.timeout:g}s" if self.timeout else ""
        for what, since in self.calls()[:6]:
            table.add_row("", f"[yellow]waiting {now - since:.1f}s{limit}[/] for the cluster: {_t(what)}", "")
        return table


STATUS_STYLE = {"Investigating": "bold yellow", "No known problem found": "bold green", "Incomplete": "bold yellow",
                "No log line carries this id": "bold yellow"}


def _status(report: Report) -> Text:
    top = worst(report)
    style = SEVERITY_STYLE[top] if top is not None else STATUS_STYLE.get(status_word(report), "bold")
    return Text(status_word(report).upper(), style=f"bold {style}".replace("bold bold", "bold"))


def _where(report: Report) -> str:
    """`namespace taskflow (from the catalogue) · context prod`: where it looked, and why there."""
    where = f"namespace [cyan]{escape(report.namespace)}[/]"
    if report.namespace_source:
        where += f" [dim](from {escape(report.namespace_source)})[/]"
    if report.context:
        where += f" · context [cyan]{escape(report.context)}[/]"
    return where


def verdict_lines(report: Report) -> list[Text]:
    """The top of every terminal report: the status word and the top finding, the counts, where."""
    first = _status(report).append(f" · {report.kind} {report.service}", style="bold")
    lines = [first]
    top = headline(report, command=False)
    if top:
        lines.append(Text(redact(top), style=SEVERITY_STYLE[top_finding(report).severity]))  # type: ignore[union-attr]
    lines.append(Text(verdict(report)))
    place = _where(report)
    d = report.deployment
    if d is not None:
        place += f" · {d.ready_replicas}/{d.replicas} ready · revision {d.revision or '?'}"
        if d.commit:
            place += f" · commit {escape(d.commit[:7])}"
    place += f" · {report.steps_done}/{plural(len(report.steps), 'step')} in {report.duration_ms / 1000:.2f}s"
    lines.append(Text.from_markup(place, style="dim"))
    return lines


def summary_line(report: Report) -> Text:
    """The last line of a report: the verdict again, so that it is on screen when the output ends."""
    top = top_finding(report)
    line = _status(report).append(f" · {report.kind} {report.service} in {report.namespace} · {verdict(report)}")
    if top is not None:
        line.append(f" · top: {redact(top.title)}")
    return line


def next_steps(report: Report, limit: int = 3) -> list[str]:
    """The first next command of each of the most severe findings, each once."""
    seen: dict[str, None] = {}
    for f in report.findings:
        for cmd in f.next_commands[:1]:
            seen.setdefault(redact(cmd.command), None)
        if len(seen) >= limit:
            break
    return list(seen)


def render_brief(report: Report, console: Console) -> None:
    """`--brief`: the verdict, one line a finding, what changed (or the fix check), the next steps, the
    summary; no tables."""
    for line in verdict_lines(report):
        console.print(line)
    if report.findings:
        console.print(Text(f"\nFindings ({len(report.findings)})", style="bold"))
        for i, f in enumerate(report.findings, 1):
            line = Text(f"{i:>2}. ").append(f"{f.severity.value:<8}", style=SEVERITY_STYLE[f.severity])
            line.append(f" {redact(f.title)}" + (f" ×{f.count}" if f.count else ""))
            console.print(line, no_wrap=True, overflow="ellipsis")
    onsets = onset_lines(report, MAX_ONSET_LINES)
    if onsets:  # "did the deploy cause it?" belongs in the short answer too
        more = len(report.onsets) - len(onsets)
        console.print(Text("\nWhat changed (times UTC)", style="bold"))
        for onset in onsets:
            console.print(Text(f"  • {redact(onset)}"))
        if more > 0:
            console.print(Text(f"  … and {more} more (without --brief)", style="dim"))
    fix = fix_lines(report)
    if fix:  # the fix check's verdict (its evidence is in the full report)
        console.print(Text(f"\n{redact(fix[0])}", style="green" if report.fix and report.fix.confirmed else "red"))
    commands = next_steps(report)
    if commands:
        console.print(Text("\nNext steps", style="bold"))
        for command in commands:
            console.print(Text(f"  {command}", style="cyan"), soft_wrap=True)
    if report.errors:
        console.print(Text("\nSteps that failed", style="bold red"))
        for err in report.errors:
            console.print(Text(f"  {err.step}: {redact(err.message)}", style="red"), no_wrap=True, overflow="ellipsis")
    console.print()
    console.print(summary_line(report), no_wrap=True, overflow="ellipsis")


def render_report(report: Report, console: Console, *, brief: bool = False) -> None:
    if brief:
        render_brief(report, console)
        return
    console.print(Panel(Group(*verdict_lines(report)), border_style="blue"))
    console.print(steps_table(report))
    if report.kind == "trace":
        if report.trace:
            console.print(trace_table(report))
        else:
            console.print(f"[yellow]No log line carries {escape(report.service)}.[/]")
    if report.pods:
        console.print(pods_table(report))
    if report.findings:
        console.print(Text.from_markup(f"\n[bold]Findings[/] ({len(report.findings)})"))
        for i, f in enumerate(report.findings, 1):
            console.print(finding_panel(f, i))
    elif any(s.name == "analysis" and s.status is StepStatus.OK for s in report.steps):
        console.print("[green]No known error pattern matched.[/]")
    for part in changes_renderables(report):  # what changed, the fix check, metrics
        console.print(part)
    if report.events:
        console.print(events_table(report))
    if report.runs:
        console.print(runs_table(report))
    if report.dapr:
        console.print(dapr_table(report))
    if report.path:
        console.print(path_table(report))
    if report.errors:
        console.print(Text.from_markup("[bold red]Steps that failed[/]"))
        for err in report.errors:
            console.print(Text.from_markup(f"  [red]{err.step}[/]: {_t(err.message)}"))
    if report.checklist:
        console.print(checklist_view(report))
    console.print()
    console.print(summary_line(report), no_wrap=True, overflow="ellipsis")

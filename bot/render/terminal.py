"""The terminal renderer (rich): the same report as the Slack thread, readable at a glance."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from bot.models import ContainerKind, Finding, PodSnapshot, Report, Severity, StepStatus
from bot.redact import redact
from bot.render.terminal_changes import changes_renderables

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.ERROR: "red", Severity.WARNING: "yellow",
                  Severity.INFO: "cyan"}
STEP_MARK = {StepStatus.OK: "[green]✔[/]", StepStatus.FAILED: "[red]✘[/]", StepStatus.TIMEOUT: "[red]⏱[/]",
             StepStatus.SKIPPED: "[dim]–[/]", StepStatus.RUNNING: "[yellow]…[/]", StepStatus.PENDING: "[dim]·[/]"}


def age(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60}m"
    return f"{s // 86400}d"


def when(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    return f"{ts.astimezone(UTC):%H:%M:%S} ({age((datetime.now(UTC) - ts).total_seconds())} ago)"


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
    where = f"{f.count} hit{'s' if f.count != 1 else ''}"
    if f.pods:
        where += f" in {len(f.pods)} pod{'s' if len(f.pods) != 1 else ''} ({_t(', '.join(f.pods[:3]))}" \
                 f"{', …' if len(f.pods) > 3 else ''})"
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


def trace_table(report: Report) -> Table:
    table = Table(title=f"Request {report.service}", title_justify="left")
    for col in ("time", "service", "pod/container", "line"):
        table.add_column(col, no_wrap=col != "line")
    for hit in report.trace:
        ts = f"{hit.ts.astimezone(UTC):%H:%M:%S.%f}"[:-3] if hit.ts else "-"
        style = "red" if any(word in hit.text for word in ("ERROR", "Error", "error=")) else ""
        table.add_row(ts, hit.service, f"{hit.pod}/{hit.container}", Text(redact(hit.text), style=style))
    return table


def render_report(report: Report, console: Console) -> None:
    d = report.deployment
    head = f"[bold]opsbot · {report.kind} {report.service}[/]  namespace [cyan]{report.namespace}[/]"
    if report.context:
        head += f"  context [cyan]{report.context}[/]"
    if d is not None:
        head += f"\n{d.ready_replicas}/{d.replicas} ready · revision {d.revision or '?'}"
        if d.commit:
            head += f" · commit {d.commit[:7]}"
    head += f" · {report.steps_done}/{len(report.steps)} steps in {report.duration_ms / 1000:.2f}s"
    console.print(Panel(Text.from_markup(head), border_style="blue"))
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

"""The command line: every Slack command has a terminal twin (see DESIGN.md, "Command-line contract").

Errors a user can act on end the command with one line on stderr and a non-zero exit code,
never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from bot.commands import PlaybookCommand, ServiceCommand, TraceCommand
from bot.errors import ConfigError, OpsbotError, PatternFileError, UsageError

# Start-up is part of every one-shot command: a module is imported where a command needs it
# (pydantic-settings, the models, the pattern table, asyncio, rich), not here.
if TYPE_CHECKING:
    from bot.config import Settings
    from bot.models import Report
    from bot.sandbox import Scenario
    from playbooks.patterns import PatternTable

T = TypeVar("T")

app = typer.Typer(
    help="opsbot: incident response on Kubernetes, from Slack or the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"opsbot {version('opsbot')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("opsbot (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print opsbot's version and exit")] = False,
) -> None:
    """opsbot: incident response on Kubernetes, from Slack or the terminal."""


patterns_app = typer.Typer(help="The bug-pattern table: list it, or classify log lines.", no_args_is_help=True)
app.add_typer(patterns_app, name="patterns")

NamespaceOpt = Annotated[str | None, typer.Option("-n", "--namespace", help="Namespace (default: from the catalogue)")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="kubeconfig context to use")]
DemoOpt = Annotated[bool, typer.Option("--demo", help="Run against the embedded sandbox (taskflow scenario)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")]
ScenarioOpt = Annotated[Path | None, typer.Option(
    "--scenario", help="Run against this scenario file (a snapshot, docs/scenarios.md) in the sandbox", dir_okay=False,
    show_default=False)]
BriefOpt = Annotated[bool, typer.Option("--brief", help="Only the verdict, the findings' titles and the next steps")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"opsbot: {message}", err=True)
    raise typer.Exit(code)


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; our own errors become one line on stderr."""
    # The result leaves through a box, not as the main task's result: on the way out asyncio.run
    # builds an error message holding the repr of that task (CPython's signal.getsignal meets its
    # SIGINT handler), and the repr of a task holding a report is the repr of every log line in it.
    import asyncio

    box: list[T] = []

    async def main() -> None:
        box.append(await factory())

    try:
        asyncio.run(main())
        return box[0]
    except (UsageError, ConfigError, PatternFileError) as exc:  # bad input or a bad setting: exit 2
        fail(str(exc), 2)
    except OpsbotError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)


def settings() -> Settings:
    from bot.config import load_settings

    try:
        return load_settings()
    except OpsbotError as exc:
        fail(str(exc), 2)


def print_report(report: Report, as_json: bool, brief: bool = False) -> None:
    """Print the report; exit 1 when a step failed (the report says which and why)."""
    if as_json:
        from bot.redact import redact_model

        # every string of the report, log lines included, passes redaction: --json is a way out too
        # (not the raw logs: never serialised, and scrubbing the 120,000 lines of a big /debug took seconds)
        typer.echo(redact_model(report.model_copy(update={"logs": []})).model_dump_json(indent=None))
    else:
        from rich.console import Console

        from bot.render.terminal import render_report

        # piped output (CI logs, `| less`) gets a readable width instead of rich's 80 columns
        width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
        render_report(report, Console(highlight=False, width=width), brief=brief)
    if report.errors:
        raise typer.Exit(1)


def load_scenario_file(path: Path | None) -> Scenario | None:
    """The --scenario file, loaded and validated before anything starts: a bad one is one line, exit 2."""
    if path is None:
        return None
    from bot.sandbox import load_scenario

    try:
        return load_scenario(str(path))
    except OpsbotError as exc:
        fail(str(exc), 2)


async def _playbook(cmd: PlaybookCommand, namespace: str | None, context: str | None, demo: bool,
                    scenario: Scenario | None = None, baseline: Report | None = None) -> Report:
    from bot.runtime import open_runtime
    from playbooks.registry import run_command

    async with open_runtime(settings(), demo=demo, scenario=scenario) as rt:
        if not (sys.stdout.isatty() and sys.stderr.isatty()):  # piped or redirected: plain output only
            return await run_command(rt, cmd, namespace=namespace, context=context, baseline=baseline)
        from rich.console import Console
        from rich.live import Live

        from bot.render.terminal import LiveSteps

        # on a terminal, the steps live while calls are pending (on stderr, gone once the report prints)
        view = LiveSteps(rt.in_flight, timeout=rt.settings.kubernetes.timeout)
        with Live(view, console=Console(stderr=True), transient=True, refresh_per_second=4):
            return await run_command(rt, cmd, namespace=namespace, context=context, on_progress=view.update,
                                     baseline=baseline)


def load_baseline(path: Path | None) -> Report | None:
    """A saved `opsbot debug --json`: what the findings were before the fix (bad file: one line, exit 2)."""
    if path is None:
        return None
    from pydantic import ValidationError

    from bot.models import Report

    try:
        return Report.model_validate_json(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", 2)
    except ValidationError as exc:
        fail(f"{path} is not an `opsbot debug --json` report ({exc.errors()[0]['msg']})", 2)


@app.command()
def demo(as_json: JsonOpt = False, scenario: ScenarioOpt = None, brief: BriefOpt = False) -> None:
    """`debug taskflow-api` against the embedded sandbox; prints the thread to the terminal."""
    world = load_scenario_file(scenario)
    # a snapshot names the service it was taken of; an eval scenario the one it expects findings of
    service = (world.capture.service if world.capture else world.expect.service if world.expect
               else "taskflow-api") if world else "taskflow-api"
    report = run(lambda: _playbook(ServiceCommand(service), None, None, True, world))
    print_report(report, as_json, brief)


@app.command()
def debug(
    service: Annotated[str, typer.Argument(help="Service (Deployment) to debug")],
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    demo: DemoOpt = False,
    as_json: JsonOpt = False,
    scenario: ScenarioOpt = None,
    brief: BriefOpt = False,
) -> None:
    """The debug playbook: pods, every container's errors, events, CI runs, known patterns, checklist."""
    world = load_scenario_file(scenario)
    report = run(lambda: _playbook(ServiceCommand(service), namespace, context, demo, world))
    print_report(report, as_json, brief)


@app.command()
def verify(
    service: Annotated[str, typer.Argument(help="Service (Deployment) to verify")],
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    demo: DemoOpt = False,
    as_json: JsonOpt = False,
    scenario: ScenarioOpt = None,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="A saved `opsbot debug SERVICE --json` from before the fix: the findings to compare "
        "before and since the newest rollout", dir_okay=False)] = None,
    brief: BriefOpt = False,
) -> None:
    """Deployment verification: rollout, restarts, pod age, which commit runs, and whether the findings
    stopped since the newest rollout ("Error rate back to zero")."""
    world = load_scenario_file(scenario)
    before = load_baseline(baseline)
    report = run(lambda: _playbook(ServiceCommand(service, playbook="verify"), namespace, context, demo, world,
                                   before))
    print_report(report, as_json, brief)
    if report.findings:
        raise typer.Exit(3)


@app.command()
def trace(
    correlation_id: Annotated[str, typer.Argument(help="The request's correlation id (as logged by the services)")],
    namespace: NamespaceOpt = None,
    since: Annotated[str, typer.Option("--since", help="How far back to look: 30m, 1h, 2h30m")] = "1h",
    context: ContextOpt = None,
    demo: DemoOpt = False,
    as_json: JsonOpt = False,
    scenario: ScenarioOpt = None,
    brief: BriefOpt = False,
) -> None:
    """Follow one request across services: every log line carrying its correlation id, in time order."""
    from bot.inputs import parse_since

    world = load_scenario_file(scenario)

    def go() -> Awaitable[Report]:
        return _playbook(TraceCommand(correlation_id, since_seconds=parse_since(since)), namespace, context, demo,
                         world)

    report = run(go)
    print_report(report, as_json, brief)
    if not report.trace:
        raise typer.Exit(3)


@patterns_app.command("list")
def patterns_list(as_json: JsonOpt = False) -> None:
    """List the bug patterns: id, severity, title and likely cause."""
    table = _patterns()
    if as_json:  # one JSON document: an array, a row a pattern
        rows = [{"id": p.id, "title": p.title, "severity": str(p.severity), "cause": p.cause} for p in table.patterns]
        typer.echo(json.dumps(rows, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    view = Table("id", "severity", "title", "likely cause")
    for p in table.patterns:
        view.add_row(p.id, str(p.severity), p.title, p.cause)
    Console().print(view)


@patterns_app.command("match")
def patterns_match(
    file: Annotated[Path | None, typer.Argument(help="Log file (default: stdin)", show_default=False)] = None,
) -> None:
    """Classify log lines: one JSON object a line a pattern matches, {"line", "pattern", "text"}, and one
    an error event no pattern explains, {"line", "pattern": null, "signature", "text"}."""
    from bot.redact import redact
    from playbooks.unrecognised import classify_stream

    table = _patterns()
    # read a block at a time: a log of any size in flat memory
    try:
        stream = sys.stdin.buffer if file is None else file.open("rb")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)
    with stream:
        verdicts = classify_stream(table, stream)
    for verdict in verdicts:
        row: dict[str, object] = {"line": verdict.line, "pattern": verdict.pattern}
        if verdict.signature is not None:
            row["signature"] = redact(verdict.signature)
        row["text"] = redact(verdict.text)
        typer.echo(json.dumps(row))


def _patterns() -> PatternTable:
    from playbooks.tablecache import load_table

    try:
        return load_table(*settings().patterns_files)
    except OpsbotError as exc:
        fail(str(exc), 2)


def _read_lines(file: Path | None) -> list[str]:
    if file is None:
        return sys.stdin.read().splitlines()
    try:
        return file.read_text(errors="replace").splitlines()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)


@app.command()
def redact(
    file: Annotated[Path | None, typer.Argument(help="File (default: stdin)", show_default=False)] = None,
) -> None:
    """Print FILE or stdin with secrets replaced by [REDACTED:kind]."""
    from bot.redact import redact_lines

    # as one log: a private key's lines, or `name: API_SECRET` and the `value:` below it, are seen together
    for line in redact_lines([text.rstrip("\r\n") for text in _read_lines(file)]):
        typer.echo(line)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port)")] = 8001,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    scenario: ScenarioOpt = None,
) -> None:
    """Serve the embedded sandbox (Kubernetes + GitHub Actions APIs) and print a kubeconfig for kubectl."""
    from bot.sandbox import serve_forever

    if not 0 <= port <= 65535:
        fail(f"--port {port} is not a TCP port (1-65535, or 0 for any free one)", 2)
    try:
        serve_forever(str(scenario) if scenario else "taskflow", host=host, port=port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}", 2)


@app.command()
def serve(demo: DemoOpt = False, scenario: ScenarioOpt = None) -> None:
    """The Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT at /slack/events."""
    from bot.app import serve as serve_app

    world = load_scenario_file(scenario)
    try:
        serve_app(settings(), demo=demo, scenario=world)
    except OpsbotError as exc:
        fail(str(exc), 2)


@app.command()
def console(demo: DemoOpt = False, scenario: ScenarioOpt = None) -> None:
    """Type slash commands and tick checklist items in the terminal, as in a Slack thread."""
    from bot.console import console as run_console

    world = load_scenario_file(scenario)
    try:
        run_console(settings(), demo=demo, scenario=world)
    except OpsbotError as exc:
        fail(str(exc), 2)


from bot import cli_runs, cli_snapshot  # noqa: E402  `runs`; `snapshot` and `eval`
from bot.cli_incident import incident_app  # noqa: E402  `opsbot incident export ID`

cli_snapshot.register(app)
cli_runs.register(app)
app.add_typer(incident_app, name="incident")

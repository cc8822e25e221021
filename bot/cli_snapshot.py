"""`opsbot snapshot` and `opsbot eval`: keep an incident as a scenario file, and replay a folder of them
as a regression suite. bot/cli.py calls `register(app)` at its end.

No `from __future__ import annotations` here: the commands are defined inside `register` (so that
this module does not import bot.cli at import time, which imports it), and typer reads their
annotations as objects.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from bot.errors import OpsbotError

if TYPE_CHECKING:
    from bot.capture.evaluate import Judgement
    from bot.sandbox import Scenario

OutputOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045 (evaluated by typer at definition)
    "-o", "--output", help="File to write (`-`: stdout; default: snapshot-SERVICE-TIME.yaml)", show_default=False)]
FolderArg = Annotated[Path, typer.Argument(
    help="Folder of scenario files (those with an expect: block are run), or one scenario file")]


def register(app: typer.Typer) -> None:
    """Add `snapshot` and `eval` to the CLI."""
    from bot.cli import ContextOpt, DemoOpt, NamespaceOpt, ScenarioOpt

    @app.command()
    def snapshot(
        service: Annotated[str, typer.Argument(help="Service (Deployment) to snapshot")],
        namespace: NamespaceOpt = None,
        context: ContextOpt = None,
        output: OutputOpt = None,
        demo: DemoOpt = False,
        scenario: ScenarioOpt = None,
    ) -> None:
        """Run /debug and keep what it read (deployment, ReplicaSets, pods, logs, events, Dapr, runs) as
        one redacted scenario file, to replay later with --scenario FILE."""
        take(service, namespace, context, output, demo, scenario)

    @app.command("eval")
    def eval_scenarios(folder: FolderArg) -> None:
        """Run every scenario of FOLDER that has an `expect:` block and check its findings and verdict; a
        table, then `scenarios=N passed=N recall=... false_findings=...`. Exit 1 on a miss."""
        evaluate(folder)


def take(service: str, namespace: "str | None", context: "str | None", output: "Path | None", demo: bool,
         scenario: "Path | None") -> None:
    """`opsbot snapshot`: the debug playbook's run, written as a scenario file."""
    from bot.capture import take_snapshot
    from bot.cli import fail, load_scenario_file, run, settings
    from bot.runtime import open_runtime

    world = load_scenario_file(scenario)
    if world is None and demo:
        from bot.sandbox import load_scenario

        world = load_scenario("taskflow")
    path = _writable(output, service)

    async def go() -> tuple[int, int, int, str, str]:
        async with open_runtime(settings(), demo=demo, scenario=world) as rt:
            report, text = await take_snapshot(rt, service, namespace=namespace, context=context,
                                               at=world.loaded_at if world is not None else None)
        logs = [s for s in report.logs if s.error is None]
        failed = f"{report.errors[0].step}: {report.errors[0].message}" if report.errors else ""
        return len(report.pods), len(logs), len(report.findings), text, failed

    pods, logs, findings, text, failed = run(go)
    if path is None:
        sys.stdout.write(text)
        if failed:
            fail(f"the snapshot is incomplete: {failed}")
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", 2)
    typer.echo(f"snapshot of {service}: {pods} pods, {logs} logs, {findings} findings -> {path} "
               f"(replay: opsbot debug {service} --scenario {path})", err=True)
    if failed:  # written, as /debug prints a report with a failed step, and the same exit status
        fail(f"the snapshot is incomplete: {failed}")


def _writable(output: "Path | None", service: str) -> "Path | None":
    """Where the snapshot goes (None: stdout), checked before the capture runs: a run of a whole
    namespace is not lost to a typo in the folder's name."""
    import os

    from bot.cli import fail

    if output is not None and str(output) == "-":
        return None
    path = output or Path(f"snapshot-{service}-{datetime.now(UTC):%Y%m%d-%H%M%S}.yaml")
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        fail(f"cannot write {path}: is a directory", 2)
    if not folder.is_dir():
        fail(f"cannot write {path}: no folder {folder}", 2)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail(f"cannot write {path}: permission denied", 2)
    return path


def _suite(folder: Path) -> "list[tuple[Path, Scenario]]":
    """Every scenario of the folder (or the one file) that has an `expect:` block, validated before
    any runs."""
    from bot.cli import fail
    from bot.sandbox import load_scenario

    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    else:
        fail(f"{folder}: no such file or directory", 2)
    suite = []
    for path in files:
        try:
            loaded = load_scenario(str(path))
        except OpsbotError as exc:
            fail(str(exc), 2)
        if loaded.expect is not None:
            suite.append((path, loaded))
    if not suite:
        fail(f"no scenario with an expect: block in {folder}", 2)
    return suite


def evaluate(folder: Path) -> None:
    """`opsbot eval`: every scenario with an `expect:` block, run and judged."""
    from bot.capture.evaluate import judge, summary_line
    from bot.cli import run, settings
    from bot.commands import ServiceCommand
    from bot.runtime import open_runtime
    from bot.sandbox.scenario import ScenarioError
    from playbooks.registry import run_command

    suite = _suite(folder)
    base = settings()

    async def go() -> "list[Judgement]":
        out = []
        for path, scenario in suite:
            expect = scenario.expect
            assert expect is not None
            async with open_runtime(base, scenario=scenario) as rt:
                try:
                    report = await run_command(rt, ServiceCommand(expect.service, playbook=expect.playbook),
                                               namespace=expect.namespace)
                except OpsbotError as exc:  # its own world has no such service: the file is wrong
                    raise ScenarioError(str(path), f"expect.service: {exc}") from None
            out.append(judge(path.name, report, expect))
        return out

    judgements = run(go)
    _print_table(judgements)
    typer.echo(summary_line(judgements))
    if not all(j.passed for j in judgements):
        raise typer.Exit(1)


def _print_table(judgements: "list[Judgement]") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("scenario", "expected", "missing", "unwanted", "verdict", "result")
    for j in judgements:
        verdict = j.verdict if j.verdict_ok else f"{j.verdict} (not expected)"
        table.add_row(j.name, ", ".join(j.expected) or "-", ", ".join(j.missing) or "-",
                      ", ".join(j.unwanted) or "-", verdict, "pass" if j.passed else "FAIL")
    width = None if sys.stdout.isatty() else 160
    Console(highlight=False, width=width).print(table)

"""`opsbot runs SERVICE`: the CI runs behind a service, like `gh run list` (workflow, commit, actor, result,
duration, link); `--watch` follows the newest running one until it ends and names the failed job and step.

No `from __future__ import annotations` here: the command is defined inside `register` (so that this
module does not import bot.cli at import time, which imports it), and typer reads its annotations.
"""

import os
import sys
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    """Add `runs` to the CLI."""
    from bot.cli import DemoOpt, JsonOpt, ScenarioOpt, fail, load_scenario_file, run, settings

    @app.command()
    def runs(
        service: Annotated[str, typer.Argument(help="Service whose CI runs to list (its catalogue repo/workflow)")],
        limit: Annotated[int, typer.Option("--limit", "-L", min=1, max=100, help="How many runs")] = 10,
        watch: Annotated[bool, typer.Option(
            "--watch", help="Follow the newest running run until it ends; exit 1 when it failed")] = False,
        demo: DemoOpt = False,
        as_json: JsonOpt = False,
        scenario: ScenarioOpt = None,
    ) -> None:
        """The newest CI runs of a service: workflow, commit, actor, result, duration, link (like `gh run list`)."""

        from bot.changes import RunListing, RunRow
        from bot.redact import redact_model
        from bot.render.terminal_runs import render_run_end, render_runs
        from bot.runtime import open_runtime
        from playbooks.runs import list_service_runs, run_to_watch, watch_run

        world = load_scenario_file(scenario)

        async def go() -> tuple[RunListing, RunRow | None]:
            async with open_runtime(settings(), demo=demo, scenario=world) as rt:
                listing = await list_service_runs(rt, service, limit=limit)
                followed = run_to_watch(listing) if watch else None
                if followed is None:
                    return listing, None
                if not as_json:
                    render_runs(listing, _console())
                    typer.echo(f"Watching run #{followed.run_number} ({followed.status})…")
                return listing, await watch_run(rt, service, followed.id)

        listing, ended = run(go)
        if as_json:
            out = redact_model(listing).model_dump(mode="json")
            if ended is not None:
                out["watched"] = redact_model(ended).model_dump(mode="json")
            import json

            typer.echo(json.dumps(out))
        elif ended is None:
            render_runs(listing, _console())
        else:
            render_run_end(service, ended, _console())
        if watch and ended is None:
            fail(f"no run of {service} to watch", 1)
        if ended is not None and ended.conclusion not in ("success", "skipped", None):
            raise typer.Exit(1)

    def _console() -> Any:  # a rich Console, imported where a command needs it
        from rich.console import Console

        width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
        return Console(highlight=False, width=width)

"""`opsbot incident export ID`: an incident's postmortem draft (Markdown) from the store at the
configured path (`OPSBOT_DB`), the same draft `/incident close` posts into the thread."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from bot.errors import NotFoundError, OpsbotError

# bot/cli.py adds this as `opsbot incident` (it imports this module, never the other way round)
incident_app = typer.Typer(help="Incidents in the store: export one's postmortem draft.", no_args_is_help=True)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"opsbot: {message}", err=True)
    raise typer.Exit(code)


# `-1` is a bad id, not an unknown option: it reaches the check below and gets its one line
@incident_app.command("export", context_settings={"ignore_unknown_options": True})
def export(incident_id: Annotated[str, typer.Argument(metavar="ID", help="The incident's number (#12 or 12)")]) -> None:
    """Print the postmortem draft of incident ID as Markdown: summary, impact window, timeline,
    findings with evidence, the checklist, the fix commit and its run, follow-ups."""
    from bot.config import load_settings  # here, not at import: every CLI command would pay for it
    from bot.store import IncidentStore
    from bot.threads.history import export_postmortem

    raw = incident_id.strip().removeprefix("#")
    if not raw.isdigit() or len(raw) > 9:
        fail(f"incident id must be a number such as 12, not {incident_id[:20]!r}", 2)
    try:
        path = Path(load_settings().store.path)
    except OpsbotError as exc:
        fail(str(exc), 2)
    if not path.is_file():
        fail(f"no incident store at {path} (set OPSBOT_DB to the bot's SQLite file)", 2)
    try:
        store = IncidentStore(path)
    except OpsbotError as exc:
        fail(str(exc), 2)
    try:
        typer.echo(export_postmortem(store, int(raw)), nl=False)
    except NotFoundError as exc:
        fail(str(exc))
    except OpsbotError as exc:
        fail(str(exc))
    finally:
        store.close()

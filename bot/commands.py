"""The commands people give opsbot, as data: what each one carries, its usage line and its help.

`handlers.parsing` turns text into these; `handlers.access` decides who may run them; the
playbook registry and the thread service act on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_SINCE_SECONDS = 3600  # /trace looks back one hour unless --since says otherwise
# Commands that also work as the first word of a mention or of `/opsbot ...`.
SUBCOMMANDS = ("debug", "verify", "trace", "incident", "runs")

USAGE: dict[str, str] = {
    "/debug": "/debug SERVICE [-n NAMESPACE] [--cluster NAME]",
    "/verify": "/verify SERVICE [-n NAMESPACE] [--cluster NAME]",
    "/trace": "/trace CORRELATION_ID [-n NAMESPACE] [--since 1h] [--cluster NAME]",
    "/incident": "/incident status | list | close [#ID] [summary] | reopen [#ID] | note [#ID] TEXT | snapshot [#ID]"
                 " | open",
    "/runs": "/runs SERVICE [watch]",
    "/opsbot": "/opsbot help",
}

HELP: dict[str, str] = {
    "/debug": "open an incident thread and run the debug playbook on SERVICE",
    "/verify": "check that the latest deployment of SERVICE is healthy and runs the latest build",
    "/trace": "follow one request across services: every log line carrying its correlation id, in time order",
    "/incident": "status of this channel's open incident, the open incidents, close one with a summary (posts a"
                 " postmortem draft), reopen one, add a note to its timeline, or attach its snapshot (what /debug"
                 " read) as a file; `open` in a /verify or /trace thread makes it an incident",
    "/runs": "the newest CI runs of SERVICE (workflow, commit, actor, result, duration, link); with watch, the"
             " result of the running one follows in the thread, naming the failed job and step",
    "/opsbot": "this help",
}


@dataclass(frozen=True)
class ServiceCommand:
    """`/debug SERVICE` or `/verify SERVICE`: a playbook run on one service (Deployment)."""

    service: str
    namespace: str | None = None
    cluster: str | None = None
    playbook: Literal["debug", "verify"] = "debug"

    @property
    def name(self) -> str:
        return self.playbook


@dataclass(frozen=True)
class TraceCommand:
    """`/trace CORRELATION_ID`: every log line in the namespace carrying the id, in time order."""

    correlation_id: str
    namespace: str | None = None
    since_seconds: int = DEFAULT_SINCE_SECONDS
    cluster: str | None = None

    @property
    def playbook(self) -> Literal["trace"]:
        return "trace"

    @property
    def name(self) -> str:
        return "trace"


PlaybookCommand = ServiceCommand | TraceCommand


@dataclass(frozen=True)
class IncidentCommand:
    action: Literal["status", "list", "close", "reopen", "note", "snapshot", "open"]
    incident_id: int | None = None
    summary: str | None = None
    note: str | None = None  # `note`: the text that goes into the timeline

    @property
    def name(self) -> str:
        return f"incident-{self.action}"


@dataclass(frozen=True)
class HelpCommand:
    @property
    def name(self) -> str:
        return "help"


@dataclass(frozen=True)
class RunsCommand:
    """`/runs SERVICE [watch]`: the service's CI runs; `watch` follows the running one until it ends."""

    service: str
    watch: bool = False

    @property
    def name(self) -> str:
        return "runs-watch" if self.watch else "runs"


Command = ServiceCommand | TraceCommand | IncidentCommand | HelpCommand | RunsCommand


def help_text() -> str:
    """The help of every command, one line each (mrkdwn-safe: no `<`, `>` or `&`)."""
    lines = [f"`{USAGE[c]}`  {HELP[c]}" for c in USAGE]
    lines.append(
        "`@opsbot debug SERVICE` (or verify, trace, incident, runs)  the same, from a mention;"
        " inside an incident thread it reuses it"
    )
    return "\n".join(lines)

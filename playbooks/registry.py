"""The playbooks by name: the one place where a command is mapped to the playbook that runs it.

The CLI, the Slack app and the console all call `run_command`; none of them chooses a playbook by
a string of its own. A playbook is registered with the adapter that takes a parsed command (and
the namespace and context it was authorized for) to the playbook's own keyword arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.commands import PlaybookCommand, ServiceCommand, TraceCommand
from bot.models import Report
from playbooks.debug import run_debug
from playbooks.engine import Progress
from playbooks.next_steps import drop_unanswerable
from playbooks.trace import run_trace
from playbooks.verify import run_verify

if TYPE_CHECKING:
    from playbooks.runtime import Runtime

Runner = Callable[["Runtime", PlaybookCommand, "str | None", "str | None", "Progress | None"], Awaitable[Report]]


async def _service(rt: Runtime, cmd: PlaybookCommand, namespace: str | None, context: str | None,
                   on_progress: Progress | None) -> Report:
    assert isinstance(cmd, ServiceCommand)
    run = run_verify if cmd.playbook == "verify" else run_debug
    return await run(rt, cmd.service, namespace=namespace, context=context, on_progress=on_progress)


async def _trace(rt: Runtime, cmd: PlaybookCommand, namespace: str | None, context: str | None,
                 on_progress: Progress | None) -> Report:
    assert isinstance(cmd, TraceCommand)
    return await run_trace(rt, cmd.correlation_id, namespace=namespace, since_seconds=cmd.since_seconds,
                           context=context, on_progress=on_progress)


PLAYBOOKS: dict[str, Runner] = {"debug": _service, "verify": _service, "trace": _trace}


async def run_command(
    rt: Runtime, cmd: PlaybookCommand, *, namespace: str | None = None, context: str | None = None,
    on_progress: Progress | None = None, baseline: Report | None = None,
) -> Report:
    """Run the playbook `cmd` names. `namespace`: the one the caller resolved and authorized (None: the
    playbook picks the service's catalogue namespace, else the configured default). `baseline`: the
    incident's /debug report, which /verify in its thread compares against."""
    if isinstance(cmd, ServiceCommand) and cmd.playbook == "verify" and baseline is not None:
        report = await run_verify(rt, cmd.service, namespace=namespace, context=context, on_progress=on_progress,
                                  baseline=baseline)
    else:
        report = await PLAYBOOKS[cmd.playbook](rt, cmd, namespace, context, on_progress)
    return drop_unanswerable(report, rt.answers) if rt.answers is not None else report

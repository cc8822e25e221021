"""The playbook worker of `opsbot serve`: a process of its own that runs playbooks for the server.

`opsbot serve` starts it (`bot.threads.offload.PlaybookWorker`: `python -m bot.worker`) and hands it
each /debug, /verify and /trace. The worker reads the cluster and GitHub through its own runtime,
parses and classifies the logs, redacts the report and renders its findings (and a trace's path);
it sends back the progress messages as the steps end, then the report without its raw logs and the
rendered messages. A /debug's report stays here, logs and all, until the server asks for its
snapshot or lets it go.

Why a process: CPU work in the server's process holds the one GIL its event loop needs to answer,
and its allocations (a log line is an object) make the cyclic collector stop every thread of it.
Here, a burst of /debug costs the server's event loop only the Slack calls and the store.

The protocol, over the worker's stdin and stdout (its stderr is the server's): frames of an 8-byte
big-endian length and a pickle. In: the settings first, then ("run", job, command, namespace,
context, baseline, correlation id, keep), ("snapshot", job, at), ("drop", job). Out: ("ready",),
("progress", job, Message), ("done", job, Outcome), ("error", job, exception, observations),
("snapshot", job, text), ("snapshot_failed", job, reason), and ("alive",) every few seconds (a worker
with runs to answer that stays silent is stopped). The end of stdin stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from bot import render
from bot.commands import PlaybookCommand, TraceCommand
from bot.config import Settings
from bot.models import Report
from bot.plumbing import metrics
from bot.plumbing.logs import configure_logging, new_correlation_id
from bot.plumbing.process import WORKER_GC, WORKER_NICE, cpu_thread, settle_memory
from bot.runtime import open_runtime
from bot.threads.offload import HEADER, HEARTBEAT, Outcome, portable

log = logging.getLogger(__name__)

# the metric observations of the job whose context this is (sent back with its outcome)
_observed: ContextVar[list[tuple[str, tuple[Any, ...]]] | None] = ContextVar("opsbot_observed", default=None)


def _forward(kind: str, args: tuple[Any, ...]) -> None:
    observed = _observed.get()
    if observed is not None:
        observed.append((kind, args))


class Worker:
    """Serves the jobs of one server over two pipes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.held: dict[int, Report] = {}  # /debug reports kept for their snapshot, by job
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, frame: tuple[Any, ...]) -> None:
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        self.writer.write(HEADER.pack(len(data)) + data)

    async def receive(self) -> tuple[Any, ...] | None:
        try:
            size, = HEADER.unpack(await self.reader.readexactly(HEADER.size))
            frame: tuple[Any, ...] = pickle.loads(await self.reader.readexactly(size))
        except asyncio.IncompleteReadError:
            return None  # the server closed our stdin: stop
        return frame

    async def serve(self, settings: Settings) -> None:
        async with open_runtime(settings) as rt:
            self.send(("ready",))
            self._spawn(self.heartbeat())
            while (frame := await self.receive()) is not None:
                verb, job, *args = frame
                if verb == "run":
                    self._spawn(self.run(rt, job, *args))
                elif verb == "snapshot":
                    self._spawn(self.snapshot(settings, job, *args))
                elif verb == "drop":
                    self.held.pop(job, None)
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def heartbeat(self) -> None:
        """("alive",) every HEARTBEAT seconds, from this event loop: the server stops a worker that has
        runs to answer and stays silent (bot.threads.offload.SILENCE)."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            self.send(("alive",))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, rt: Any, job: int, cmd: PlaybookCommand, namespace: str | None, context: str | None,
                  baseline: Report | None, correlation_id: str | None, keep: bool) -> None:
        from playbooks.registry import run_command

        new_correlation_id(correlation_id)
        observed: list[tuple[str, tuple[Any, ...]]] = []
        _observed.set(observed)

        async def on_progress(current: Report) -> None:
            self.send(("progress", job, render.progress_message(current)))

        try:
            report = await run_command(rt, cmd, namespace=namespace, context=context, on_progress=on_progress,
                                       baseline=baseline)
            # rendering redacts every log line of the findings file: the CPU work the server is spared
            trace = (await asyncio.to_thread(render.trace_message, report, since_seconds=cmd.since_seconds)
                     if isinstance(cmd, TraceCommand) else None)
            findings = await asyncio.to_thread(render.findings_messages, report)
        except Exception as exc:
            if not isinstance(exc, asyncio.CancelledError):
                log.exception("%s failed in the worker", cmd.playbook)
            self.send(("error", job, portable(exc), observed))
            return
        held = keep and report.deployment is not None
        if held:
            self.held[job] = report
        self.send(("done", job, Outcome(report.model_copy(update={"logs": []}), findings, trace, observed, held)))

    async def snapshot(self, settings: Settings, job: int, at: datetime) -> None:
        from bot.capture import snapshot_yaml

        report = self.held.pop(job, None)
        if report is None:
            self.send(("snapshot_failed", job, "the report is no longer held"))
            return
        try:
            text = await asyncio.to_thread(snapshot_yaml, report, settings, at=at)
        except Exception as exc:
            log.exception("could not make a snapshot")
            self.send(("snapshot_failed", job, f"{type(exc).__name__}: {exc}"))
            return
        self.send(("snapshot", job, text))


async def _main(stdin: int, stdout: int) -> None:
    loop = asyncio.get_running_loop()
    cpu_thread("worker-cpu")
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(stdin, "rb", 0))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(stdout, "wb", 0))
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    worker = Worker(reader, writer)
    first = await worker.receive()
    if first is None:
        return
    settings: Settings = first[0]
    settle_memory(WORKER_GC)
    try:
        await worker.serve(settings)
    finally:
        with contextlib.suppress(Exception):
            await writer.drain()
        writer.close()


def main() -> None:
    """`python -m bot.worker`: the protocol on stdin/stdout; anything else printed goes to stderr."""
    # its life is the server's: it ends when the server closes its stdin (or dies), after the runs the
    # server lets finish; a Ctrl-C or a SIGTERM sent to the whole process group must not cut them short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdout = os.dup(1)
    os.dup2(2, 1)
    configure_logging()
    # CPython's switch interval (5 ms), not the server's 0.5 ms: nothing here answers a person, and its
    # threads (the Kubernetes calls, the CPU work) switch less often for it (a burst's median 4.0-4.1 s
    # against 4.0-4.8 s at 0.5 ms, alternating runs)
    os.nice(WORKER_NICE)
    metrics.forward = _forward
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(0, stdout))


if __name__ == "__main__":
    main()

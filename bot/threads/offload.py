"""Playbooks run out of the serving process: the server's side of the playbook worker (`bot.worker`).

`PlaybookWorker` starts `python -m bot.worker` once, hands it runs, routes their progress messages
back to each run's thread as they come, and restarts it for the next run if it stopped. A run it
cannot give to a worker (none starts) runs in this process, as without one: `Ran` is what the
thread service gets either way. Why the worker exists, and its protocol: `bot.worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.commands import PlaybookCommand
from bot.errors import OpsbotError, UnavailableError
from bot.models import Message, Report
from bot.plumbing.logs import current_correlation_id
from bot.plumbing.metrics import observe_playbook, observe_step

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

HEADER = struct.Struct(">Q")  # a frame's length, before its pickle
START_TIMEOUT = 60.0  # seconds a new worker gets to import everything and open its runtime
HEARTBEAT = 5.0  # seconds between two ("alive",) of a worker's event loop
# seconds a worker with runs to answer may stay silent (no heartbeat, no frame) before it is taken for
# wedged (a regex that never ends holds its GIL; a deadlock) and stopped, failing its runs clearly
SILENCE = 60.0


@dataclass
class Outcome:
    """A run's result as the worker sends it: the report without its raw logs (`Report.logs`, every
    line read), the messages rendered from them, the metric observations to record here, and whether
    the worker holds the whole report for a snapshot."""

    report: Report
    findings: list[Message]
    trace: Message | None
    observed: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    held: bool = False


class Kept(Protocol):
    """A /debug's whole report, kept for its snapshot: made into the scenario file, or let go."""

    async def make(self, at: datetime) -> str: ...

    def release(self) -> None: ...


@dataclass
class Ran:
    """A playbook run as the thread service uses it. `findings` and `trace`: rendered already (by the
    worker), else None (render them here). `kept`: the report for the snapshot, None when no snapshot
    can be made of it."""

    report: Report
    findings: list[Message] | None = None
    trace: Message | None = None
    kept: Kept | None = None


class KeptHere:
    """A report held in this process."""

    def __init__(self, report: Report, settings: Settings) -> None:
        self.report = report
        self.settings = settings

    async def make(self, at: datetime) -> str:
        from bot.capture import snapshot_yaml

        # every log line redacted and written: CPU work, off the event loop
        return await asyncio.to_thread(snapshot_yaml, self.report, self.settings, at=at)

    def release(self) -> None:
        pass


class KeptThere:
    """A report the worker holds: its snapshot is made there, from its logs."""

    def __init__(self, process: _Process, job: int) -> None:
        self.process, self.job = process, job

    async def make(self, at: datetime) -> str:
        return await self.process.snapshot(self.job, at)

    def release(self) -> None:
        self.process.drop(self.job)


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives a pickle round trip, else an error of the same meaning that does: the
    server re-raises what a run in the worker raised."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        if isinstance(exc, OpsbotError):
            return OpsbotError(str(exc), status=exc.status, details=exc.details)
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _replay(observed: list[tuple[str, tuple[Any, ...]]]) -> None:
    for kind, args in observed:
        if kind == "step":
            observe_step(*args)
        elif kind == "playbook":
            observe_playbook(*args)


@dataclass
class _Job:
    on_progress: Callable[[Message], None] | None
    done: asyncio.Future[Any]


class _Process:
    """One worker process and the jobs given to it."""

    def __init__(self, proc: asyncio.subprocess.Process, silence: float = SILENCE) -> None:
        loop = asyncio.get_running_loop()
        self.proc = proc
        self.jobs: dict[int, _Job] = {}
        self.ready: asyncio.Future[None] = loop.create_future()
        self.alive = True
        self.silence = silence
        self.heard = loop.time()  # when it last sent anything
        self.wedged = False
        self.reading = loop.create_task(self._read())
        self.watching = loop.create_task(self._watch())

    async def _watch(self) -> None:
        """Stop a worker that has runs to answer and has said nothing for `silence` seconds."""
        loop = asyncio.get_running_loop()
        while self.alive:
            await asyncio.sleep(min(HEARTBEAT, self.silence / 4))
            if self.alive and self.jobs and self.ready.done() and loop.time() - self.heard > self.silence:
                log.error("the playbook worker (pid %s) said nothing for %.0f s with %d run(s) to answer; "
                          "stopping it", self.proc.pid, self.silence, len(self.jobs))
                self.wedged = True
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                return

    def send(self, frame: tuple[Any, ...]) -> None:
        if not self.alive or self.proc.stdin is None:
            raise UnavailableError("the playbook worker stopped")
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(HEADER.pack(len(data)) + data)

    async def call(self, job: int, frame: tuple[Any, ...], on_progress: Callable[[Message], None] | None) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.jobs[job] = _Job(on_progress, done)
        try:
            self.send(frame)
            assert self.proc.stdin is not None
            await self.proc.stdin.drain()
            return await done
        finally:
            self.jobs.pop(job, None)

    async def snapshot(self, job: int, at: datetime) -> str:
        text: str = await self.call(job, ("snapshot", job, at), None)
        return text

    def drop(self, job: int) -> None:
        with contextlib.suppress(OpsbotError, ConnectionError):
            self.send(("drop", job))

    async def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            loop = asyncio.get_running_loop()
            while True:
                size, = HEADER.unpack(await stdout.readexactly(HEADER.size))
                frame = pickle.loads(await stdout.readexactly(size))
                self.heard = loop.time()
                self._dispatch(frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # it stopped (or was stopped)
        except Exception:  # a frame we cannot read: this worker cannot be trusted any more
            log.exception("unreadable answer from the playbook worker; stopping it")
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        finally:
            self.alive = False
            self.watching.cancel()
            code = await self.proc.wait()
            why = f"answered nothing for {self.silence:.0f} s and was stopped" if self.wedged \
                else f"stopped (exit code {code}) before answering"
            gone = UnavailableError(f"the playbook worker {why}; try again (a new one starts)")
            if not self.ready.done():
                self.ready.set_exception(gone)
                self.ready.exception()  # retrieved: nobody may be waiting for it
            for job in list(self.jobs.values()):
                if not job.done.done():
                    job.done.set_exception(gone)

    def _dispatch(self, frame: tuple[Any, ...]) -> None:
        verb, *rest = frame
        if verb == "ready":
            self.ready.set_result(None)
            return
        if verb == "alive":
            return
        job = self.jobs.get(rest[0])
        if job is None or job.done.done():
            return
        if verb == "progress":
            if job.on_progress is not None:
                job.on_progress(rest[1])
        elif verb in ("done", "snapshot"):
            job.done.set_result(rest[1])
        elif verb == "error":
            _replay(rest[2])
            job.done.set_exception(rest[1])
        elif verb == "snapshot_failed":
            job.done.set_exception(UnavailableError(f"no snapshot: {rest[1]}"))

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the worker stops at the end of its input
        try:
            await asyncio.wait_for(asyncio.shield(self.reading), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.reading


class PlaybookWorker:
    """The server's playbook worker: started on first need (or by `start`), started again after it stops."""

    def __init__(self, settings: Settings, *, command: list[str] | None = None, silence: float = SILENCE) -> None:
        self.settings = settings
        self.command = command or [sys.executable, "-m", "bot.worker"]
        self.silence = silence
        self._process: _Process | None = None
        self._starting: asyncio.Lock | None = None
        self._jobs = itertools.count(1)

    async def start(self) -> _Process:
        """The running worker, started (and waited for) if there is none."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._process is not None and self._process.alive:
                return self._process
            # the worker imports the same code as this process: where it was imported from, first
            root = str(Path(__file__).resolve().parent.parent.parent)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
            proc = await asyncio.create_subprocess_exec(*self.command, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.PIPE, env=env)
            process = _Process(proc, self.silence)
            process.send((self.settings,))
            try:
                await asyncio.wait_for(asyncio.shield(process.ready), START_TIMEOUT)
            except BaseException:
                await self._stop(process)
                raise
            log.info("playbook worker started (pid %s)", proc.pid)
            self._process = process
            return process

    async def run(self, cmd: PlaybookCommand, *, namespace: str | None, context: str | None,
                  baseline: Report | None, on_progress: Callable[[Message], None], keep: bool) -> Ran:
        """Run `cmd` in the worker; `on_progress` gets each progress message; `keep`: hold a /debug's
        whole report there for its snapshot."""
        process = await self.start()
        job = next(self._jobs)
        frame = ("run", job, cmd, namespace, context, baseline, current_correlation_id(), keep)
        outcome: Outcome = await process.call(job, frame, on_progress)
        _replay(outcome.observed)
        return Ran(outcome.report, outcome.findings, outcome.trace,
                   KeptThere(process, job) if outcome.held else None)

    async def close(self) -> None:
        """Stop the worker (it ends its runs' tasks)."""
        if self._process is not None:
            await self._stop(self._process)
            self._process = None

    @staticmethod
    async def _stop(process: _Process) -> None:
        with contextlib.suppress(Exception):
            await process.stop()

    @property
    def pid(self) -> int | None:
        """The running worker's process id (tests stop it to see a crash handled)."""
        return self._process.proc.pid if self._process is not None and self._process.alive else None


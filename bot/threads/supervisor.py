"""Background work after the acknowledgement: started, kept referenced, ended, never lost silently.

Work started from a request runs as a task that the supervisor keeps (`tasks`, `drain()`), so
nothing is left dangling at shutdown, and every failure ends up in the log and as a clear line
for the person who asked. Under a burst of requests, work waits until the acknowledgements went
out (`answering()`), so that none of them misses Slack's 3 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from bot.errors import OpsbotError
from bot.plumbing.logs import current_correlation_id
from bot.plumbing.metrics import COMMANDS, error_kind
from bot.redact import redact
from bot.render import usage_message
from bot.threads.sink import ThreadSink

log = logging.getLogger(__name__)

# Background work waits until no request has arrived for ACK_QUIET seconds (at most ACK_PRIORITY_MAX):
# a burst of slash commands is acknowledged first, then the playbooks run.
ACK_QUIET = 0.03
ACK_PRIORITY_MAX = 1.0


class Reported(Exception):
    """An error already posted into the thread: the task wrapper only logs and counts it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def error_text(exc: BaseException) -> str:
    """What the person is told: our own errors as they are (redacted), anything else without details."""
    if isinstance(exc, OpsbotError):
        return redact(f":warning: {exc}")
    cid = current_correlation_id()
    ref = f" (correlation id {cid})" if cid else ""
    return f":warning: opsbot hit an internal error ({type(exc).__name__}); the details are in its log{ref}."


class TaskSupervisor:
    """Runs work after the acknowledgement and keeps every task referenced until it ends."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self._last_request = float("-inf")  # loop time of the last request received

    def spawn(
        self,
        work: Coroutine[Any, Any, Any],
        *,
        sink: ThreadSink,
        user: str,
        command: str,
        thread_ts: str | None = None,
        count: bool = True,
    ) -> asyncio.Task[None]:
        """Run `work` after the request was acknowledged; keep the task referenced until it ends.

        A failure is logged and answered: `work` posts errors into its thread itself once it has
        one; anything that escapes it reaches the person as an ephemeral line."""

        def counted(outcome: str) -> None:
            if count:
                COMMANDS.labels(command=command, outcome=outcome).inc()

        async def guarded() -> None:
            try:
                await self._acks_first()
                await work
                counted("ok")
            except asyncio.CancelledError:
                counted("cancelled")
                raise
            except Reported as exc:  # already logged and posted into its thread
                counted(error_kind(exc.cause))
            except Exception as exc:
                counted(error_kind(exc))
                if not isinstance(exc, OpsbotError):
                    log.exception("%s failed", command)
                else:
                    log.warning("%s failed: %s", command, exc)
                try:
                    await sink.notify(user, usage_message(error_text(exc)), thread_ts=thread_ts)
                except Exception:
                    log.exception("could not tell %s that %s failed", user, command)

        task = asyncio.create_task(guarded(), name=f"opsbot:{command}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Wrap the handling of each incoming request (the web server does). Background work
        starts only once requests stop arriving for a moment, so that under a burst every
        acknowledgement goes out before any playbook competes with them for the CPU."""
        self._last_request = asyncio.get_running_loop().time()
        yield

    async def _acks_first(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_PRIORITY_MAX  # bounded: under sustained load work still starts
        while (quiet_at := self._last_request + ACK_QUIET) > (now := loop.time()) and now < deadline:
            await asyncio.sleep(min(quiet_at, deadline) - now)

    async def drain(self) -> None:
        """Wait until every background task (including ones they start) has ended."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def shutdown(self, grace: float) -> None:
        """On exit: let running work finish for `grace` seconds, then cancel what is left."""
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

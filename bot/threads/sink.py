"""Where an incident thread is written, and how its progress message is kept current.

`ThreadSink` is what the thread service writes to: `bot.slack.SlackSink` in Slack, the console's
`TerminalSink` in a terminal. `LatestOnly` coalesces the progress message's edits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.errors import OpsbotError
from bot.models import FileSnippet, Message

log = logging.getLogger(__name__)


class ThreadSink(Protocol):
    """Where an incident thread is written: Slack, or a terminal. Bound to one channel."""

    channel: str

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        """Post a message (a new thread root when `thread_ts` is None); returns its ts."""
        ...

    async def update(self, ts: str, message: Message) -> None:
        """Replace a posted message in place."""
        ...

    async def upload(self, snippet: FileSnippet, *, thread_ts: str) -> None:
        """Put long text (logs) into the thread as a file."""
        ...

    async def notify(self, user: str, message: Message, *, thread_ts: str | None = None) -> None:
        """An answer only `user` sees (ephemeral in Slack)."""
        ...


class LatestOnly:
    """Sends the newest version of one message, at most one send per `interval` seconds, dropping
    versions overtaken in between.

    Steps end in bursts; each would be a chat.update (Slack allows about one a second per message,
    and rate-limits the rest), and only the last one matters. `finish` sends the final version (or
    nothing, when it is what was sent last) once the interval allows."""

    def __init__(self, send: Callable[[Message], Awaitable[None]], *, interval: float = 1.0,
                 first_after: float = 0.0) -> None:
        """`first_after`: no version but the final one goes out sooner than this after creation, so a
        run that ends quickly costs one edit, at once, instead of a first one and the final one a
        whole `interval` later."""
        self._send = send
        self._interval = interval
        self._pending: Message | None = None
        self._task: asyncio.Task[None] | None = None
        self._last = float("-inf")  # loop time of the last send
        self._quiet_until = asyncio.get_running_loop().time() + first_after if first_after > 0 else float("-inf")
        self._sleeping = False
        self.sent: Message | None = None
        self.sends = 0

    def submit(self, message: Message, *, now: bool = False) -> None:
        """`now`: this version goes out without waiting for `first_after` (what a person must see at
        once, such as waiting in a queue); the interval between two sends still holds."""
        if now:
            self._no_more_quiet()
        self._pending = message
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending is not None:
            wait = max(self._last + self._interval, self._quiet_until) - loop.time()
            if wait > 0:
                self._sleeping = True
                try:
                    await asyncio.sleep(wait)  # versions submitted meanwhile replace the pending one
                finally:
                    self._sleeping = False
            message, self._pending = self._pending, None
            if message is None or message == self.sent:
                continue
            self._last = loop.time()
            try:
                await self._send(message)
                self.sent = message
                self.sends += 1
            except OpsbotError as exc:  # a lost progress update is not worth stopping the run
                log.warning("progress update failed: %s", exc)

    async def flush(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def finish(self, message: Message) -> None:
        """Send the final version (replacing any pending one) and wait until it went out; nothing is
        sent when it is what went out last."""
        self.submit(message, now=True)
        await self.flush()

    def _no_more_quiet(self) -> None:
        self._quiet_until = float("-inf")
        if self._task is not None and self._sleeping and self._last == float("-inf"):
            self._task.cancel()  # asleep until `first_after`, nothing sent yet: no need to wait
            self._task = None

"""`ByteBudget`: how many logs may be read at once when each is held whole until it is reduced.

A log read to be reduced (`KubernetesGateway.read_logs(reduce=...)`) is held as parsed lines from its
first byte until its reduction. A fixed count of such reads (it was 4) bounds memory when logs are
big but serialises reads when they are small: with 20-50 ms an API call, 60 small logs four at a time
take 15 round trips where 16 at a time take 4. The budget admits a read when the bytes it is expected
to hold fit beside those already admitted, and always admits one when none is running, so a read is
never refused and never waits in the middle of its body (no read holds the budget while waiting for it).

The expected size of the next read is the largest log read so far (before the first: a guess from the
lines asked for): a namespace of small logs is read with the call concurrency, one of huge logs a few
at a time, and a single huge log makes the reads after it careful rather than the memory short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

LINE_GUESS = 256  # bytes a log line before any log has been read (timestamp + a JSON or text line)


class ByteBudget:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0  # the expected bytes of the reads admitted and not done
        self.running = 0
        self.largest = 0  # the largest log read so far, in bytes
        self._changed = asyncio.Condition()

    def expected(self, lines: int | None) -> int:
        """What the next read is expected to hold, for a read of `lines` lines (None: all)."""
        if self.largest:
            return self.largest
        return max(1, lines or 0) * LINE_GUESS if lines is not None and lines > 0 else self.budget

    @asynccontextmanager
    async def admit(self, lines: int | None) -> AsyncIterator[list[int]]:
        """Wait for room, then hold it for the block; the block appends the bytes it read to the list
        it is given, and the largest log so far is learnt from that."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self.running == 0 or self.held + self.expected(lines) <= self.budget)
            expected = self.expected(lines)
            self.held += expected
            self.running += 1
        read: list[int] = []
        try:
            yield read
        finally:
            async with self._changed:
                self.held -= expected
                self.running -= 1
                self.largest = max(self.largest, sum(read))
                self._changed.notify_all()

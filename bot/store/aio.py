"""The incident store for async callers: the same methods, typed, run off the event loop.

SQLite writes fsync; run on the event loop they would delay the acknowledgement of every request
behind them. Every call goes to ONE worker thread of the store's own: the store serialises its
connection anyway (one lock), so more threads would only wait on that lock while holding places in
asyncio's default executor that other work needs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import ParamSpec, TypeVar

from bot.models import ChecklistItem, Incident, Report, TimelineEntry
from bot.store.incidents import IncidentStore

P = ParamSpec("P")
T = TypeVar("T")


class AsyncIncidentStore:
    """An `IncidentStore` whose every method is a coroutine (same names, arguments and results)."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsbot-store")

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the worker thread (the store itself is closed by whoever opened it)."""
        self._thread.shutdown(wait=True)

    async def open_incident(
        self,
        *,
        channel: str,
        thread_ts: str,
        service: str,
        namespace: str,
        context: str | None,
        opened_by: str,
        checklist: list[ChecklistItem],
        status: str = "open",
    ) -> Incident:
        return await self._run(
            self.store.open_incident, channel=channel, thread_ts=thread_ts, service=service, namespace=namespace,
            context=context, opened_by=opened_by, checklist=checklist, status=status,
        )

    async def get_incident(self, channel: str, thread_ts: str) -> Incident | None:
        return await self._run(self.store.get_incident, channel, thread_ts)

    async def incident(self, incident_id: int) -> Incident:
        return await self._run(self.store.incident, incident_id)

    async def list_incidents(self, *, channel: str | None = None, status: str | None = "open") -> list[Incident]:
        return await self._run(self.store.list_incidents, channel=channel, status=status)

    async def promote(self, incident_id: int, *, by: str) -> Incident:
        return await self._run(self.store.promote, incident_id, by=by)

    async def reopen_incident(self, incident_id: int, *, by: str) -> Incident:
        return await self._run(self.store.reopen_incident, incident_id, by=by)

    async def close_incident(self, incident_id: int, *, by: str, summary: str | None) -> Incident:
        return await self._run(self.store.close_incident, incident_id, by=by, summary=summary)

    async def set_message(self, incident_id: int, role: str, ts: str) -> None:
        await self._run(self.store.set_message, incident_id, role, ts)

    async def save_report(self, incident_id: int, report: Report) -> None:
        await self._run(self.store.save_report, incident_id, report)

    async def save_snapshot(self, incident_id: int, body: str) -> None:
        await self._run(self.store.save_snapshot, incident_id, body)

    async def snapshot(self, incident_id: int) -> tuple[datetime, str] | None:
        return await self._run(self.store.snapshot, incident_id)

    async def last_report(self, incident_id: int) -> Report | None:
        return await self._run(self.store.last_report, incident_id)

    async def messages(self, incident_id: int) -> dict[str, str]:
        return await self._run(self.store.messages, incident_id)

    async def incident_for_message(self, channel: str, ts: str) -> Incident | None:
        return await self._run(self.store.incident_for_message, channel, ts)

    async def checklist(self, incident_id: int) -> list[ChecklistItem]:
        return await self._run(self.store.checklist, incident_id)

    async def set_checklist(self, incident_id: int, items: list[ChecklistItem]) -> None:
        await self._run(self.store.set_checklist, incident_id, items)

    async def tick(self, incident_id: int, key: str, *, done: bool, by: str) -> ChecklistItem:
        return await self._run(self.store.tick, incident_id, key, done=done, by=by)

    async def tick_many(self, incident_id: int, changes: Mapping[str, bool], *, by: str) -> list[ChecklistItem]:
        return await self._run(self.store.tick_many, incident_id, changes, by=by)

    async def add_timeline(self, incident_id: int, kind: str, text: str, *, by: str | None = None) -> None:
        await self._run(self.store.add_timeline, incident_id, kind, text, by=by)

    async def add_timeline_many(self, incident_id: int, entries: list[tuple[str, str, str | None]]) -> None:
        await self._run(self.store.add_timeline_many, incident_id, entries)

    async def timeline(self, incident_id: int) -> list[TimelineEntry]:
        return await self._run(self.store.timeline, incident_id)

    async def claim_event(self, event_id: str) -> bool:
        return await self._run(self.store.claim_event, event_id)

    async def prune_events(self, older_than: datetime) -> int:
        return await self._run(self.store.prune_events, older_than)

    async def healthy(self) -> bool:
        return await self._run(self.store.healthy)

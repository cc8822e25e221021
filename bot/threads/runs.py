"""`/runs SERVICE [watch]` after the acknowledgement: post the service's CI runs and, with `watch`, the
result of the running one when it ends (its failed job and step), in the thread of the listing (or of
the incident the command was typed in, where it also goes into the timeline)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import render
from bot.commands import RunsCommand
from bot.errors import OpsbotError
from bot.models import BOT_USER
from bot.render.runs import run_ended_message, runs_message, watching_message
from bot.threads.sink import ThreadSink
from playbooks.runs import WATCH_INTERVAL, list_service_runs, run_to_watch, watch_run

if TYPE_CHECKING:
    from bot.threads.service import IncidentService

log = logging.getLogger(__name__)


async def post_runs(service: IncidentService, sink: ThreadSink, cmd: RunsCommand, *, user: str,
                    thread_ts: str | None = None, interval: float = WATCH_INTERVAL) -> None:
    rt = service.runtime
    incident = await service.incident_for_message(sink.channel, thread_ts) if thread_ts else None
    try:
        listing = await list_service_runs(rt, cmd.service)
    except OpsbotError as exc:  # 401, 403, 404, rate limit, 5xx: said plainly, where it was asked
        await sink.post(render.usage_message(f"Could not list the CI runs of {cmd.service}: {exc}"),
                        thread_ts=thread_ts)
        return
    ts = await sink.post(runs_message(listing), thread_ts=thread_ts)
    if not cmd.watch:
        return
    root = thread_ts or ts
    followed = run_to_watch(listing)
    if followed is None:
        await sink.post(render.usage_message(f"No run of {cmd.service} to watch."), thread_ts=root)
        return
    await sink.post(render.usage_message(watching_message(cmd.service, followed)), thread_ts=root)
    try:
        ended = await watch_run(rt, cmd.service, followed.id, interval=interval)
    except OpsbotError as exc:
        await sink.post(render.usage_message(f"Stopped watching run #{followed.run_number}: {exc}"), thread_ts=root)
        return
    message = run_ended_message(cmd.service, ended)
    await sink.post(message, thread_ts=root)
    if incident is not None and incident.status == "open":
        failed = f"; failed: {'; '.join(ended.failed_jobs)}" if ended.failed_jobs else ""
        await service.db.add_timeline(incident.id, "ci", f"run #{ended.run_number} of {cmd.service} "
                                      f"({ended.commit}) ended: {ended.result}{failed}", by=BOT_USER)
    log.info("watched run %s of %s for %s: %s", ended.id, cmd.service, user, ended.result)

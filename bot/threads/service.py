"""The incident service: fills incident threads after the acknowledgement.

It opens (or reuses) the incident in the store, runs the playbook through the registry, writes the
thread through a `ThreadSink` as the steps end, keeps the checklist message current as people tick,
runs next-step buttons, and closes incidents. Intake (parsing, authorizing, planning) happens
before, in `handlers.intake`; background-task supervision is inherited from `TaskSupervisor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot import render
from bot.commands import IncidentCommand, PlaybookCommand, ServiceCommand, TraceCommand
from bot.errors import NotFoundError, OpsbotError, UsageError
from bot.models import BOT_USER, ChecklistItem, Incident, NextAction, Report, StepError, StepResult, StepStatus
from bot.plumbing.metrics import COMMANDS
from bot.redact import redact
from bot.render import Message
from bot.store import AsyncIncidentStore, IncidentStore
from bot.text import plural
from bot.threads.history import postmortem, record_run
from bot.threads.offload import Kept, KeptHere, PlaybookWorker, Ran
from bot.threads.sink import LatestOnly, ThreadSink
from bot.threads.supervisor import Reported, TaskSupervisor, error_text
from playbooks.followups import run_followup
from playbooks.registry import run_command

if TYPE_CHECKING:
    from playbooks.runtime import Runtime

log = logging.getLogger(__name__)


def _report_stub(incident: Incident) -> Report:
    """A report carrying only what the store knows, for re-rendering a root after a restart."""
    return Report(
        service=incident.service,
        namespace=incident.namespace,
        context=incident.context,
        started_at=incident.opened_at,
    )


MAX_RUNS = 8
# A snapshot waits for no other work to run, checked every SNAPSHOT_POLL s, at most SNAPSHOT_WAIT s
# (under sustained load it is made anyway: the reports waiting are held in memory)
SNAPSHOT_WAIT = 10.0
SNAPSHOT_POLL = 0.1


class IncidentService(TaskSupervisor):
    """Opens, fills and closes incident threads; the one place their logic lives."""

    def __init__(self, runtime: Runtime, store: IncidentStore, *, max_runs: int = MAX_RUNS,
                 worker: PlaybookWorker | None = None) -> None:
        self.runtime = runtime
        self.store = store
        # where playbooks run: a process of their own (`opsbot serve`), else this one
        self.worker = worker
        # Playbooks running at once. The others wait here, their thread already open and saying so,
        # and start with their whole step timeouts: a timeout then measures the cluster's answer,
        # never our own queue (under 200 concurrent /debug, steps used to time out in the queue).
        self._runs = asyncio.Semaphore(max_runs)
        self._waiting = 0
        self.db = AsyncIncidentStore(store)  # every store call off the event loop
        super().__init__()
        # One lock an incident: re-rendering the checklist reads the store and updates the message;
        # serialised, the last update always shows every tick, whatever order requests came in.
        self._locks: dict[int, asyncio.Lock] = {}
        self._generation: dict[int, int] = {}  # checklist changes recorded, per incident
        self._rendered: dict[int, int] = {}  # the generation the last render started from
        # the latest /debug of an incident whose snapshot is not made yet, and the time it counts from
        self._snapshots: dict[int, tuple[Kept, datetime]] = {}
        self._deferred = 0  # tasks waiting to make a snapshot until no other work runs

    async def claim_event(self, event_id: str) -> bool:
        """True for the first delivery of a Slack event, False for its retries."""
        return bool(await self.db.claim_event(event_id))

    async def shutdown(self, grace: float) -> None:
        """Let running work finish (see TaskSupervisor.shutdown), then stop the store's thread."""
        await super().shutdown(grace)
        self.db.close()

    async def incident_for_message(self, channel: str, ts: str) -> Incident | None:
        """The incident a message of a thread belongs to (its root, progress, findings, checklist...)."""
        found: Incident | None = await self.db.incident_for_message(channel, ts)
        return found

    async def checklist(self, incident_id: int) -> list[ChecklistItem]:
        items: list[ChecklistItem] = await self.db.checklist(incident_id)
        return items

    def _lock(self, incident_id: int) -> asyncio.Lock:
        return self._locks.setdefault(incident_id, asyncio.Lock())

    # --- debug / verify / trace ------------------------------------------------------------------

    async def run_playbook(
        self,
        sink: ThreadSink,
        cmd: PlaybookCommand,
        *,
        namespace: str,
        context: str | None,
        user: str,
        thread_ts: str | None = None,
        resumed: bool = False,
        on_open: Callable[[Incident], Awaitable[None]] | None = None,
    ) -> Incident:
        """Open (or, inside a thread, reuse) the incident and fill its thread as the playbook runs, in
        the namespace and context the request was authorized for.

        A trace's subject is its correlation id: it names the incident and the report as a service would.
        `resumed`: the run that opened the thread `thread_ts` is run again after a restart (its root
        gets the report, as it would have). `on_open` hears of the incident as soon as it is open,
        before the playbook runs (an alert's thread takes the alerts that follow meanwhile)."""
        subject = cmd.correlation_id if isinstance(cmd, TraceCommand) else cmd.service
        report = Report(
            kind=cmd.playbook,
            service=subject,
            namespace=namespace,
            context=context,
            started_at=datetime.now(UTC),
            # Until the engine lists its steps, this one says the run has begun (not "all clear").
            steps=[StepResult(name="start", title=f"Starting the {cmd.playbook} playbook", status=StepStatus.RUNNING)],
        )
        incident = await self.db.get_incident(sink.channel, thread_ts) if thread_ts else None
        baseline: Report | None = None  # /verify in a /debug thread: compare with what /debug saw
        if incident is not None and incident.status in ("open", "report"):
            root_ts = incident.thread_ts
            if cmd.playbook == "verify":
                seen: Report | None = await self.db.last_report(incident.id)
                baseline = seen if seen is not None and seen.kind == "debug" and seen.service == subject else None
        else:
            if thread_ts is None:
                root_ts = await sink.post(render.root_message(None, report, requested_by=user))
            else:
                root_ts = thread_ts  # a thread that is not an incident yet: its parent becomes the root
            incident = await self.db.open_incident(
                channel=sink.channel,
                thread_ts=root_ts,
                service=subject,
                namespace=namespace,
                context=context,
                opened_by=user,
                checklist=[],
                # the thread is recorded (buttons, ticks) but only a /debug that finds its service opens an
                # incident: a typo, a /verify or a /trace leaves none for someone to close. A caller that
                # waits for the incident (`on_open`: an alert's thread) opens it at once.
                status="open" if on_open is not None else "report",
            )
            if thread_ts is None:
                await self.db.set_message(incident.id, "root", root_ts)
        assert incident is not None
        if on_open is not None:
            await on_open(incident)
        owns_root = thread_ts is None or resumed
        await self.db.add_timeline(incident.id, cmd.playbook, f"/{cmd.playbook} {subject}", by=user)

        progress_ts = await sink.post(render.progress_message(report), thread_ts=root_ts)
        await self.db.set_message(incident.id, f"progress:{cmd.playbook}", progress_ts)

        async def send_progress(message: Message) -> None:
            await sink.update(progress_ts, message)

        # a run that ends within half a second shows its progress once, done (Slack's last update sooner)
        updater = LatestOnly(send_progress, first_after=0.5)

        async def on_progress(current: Report) -> None:
            updater.submit(render.progress_message(current))

        try:
            if self._runs.locked():  # full: say so in the thread, then wait for a place
                self._waiting += 1
                try:
                    queued = report.model_copy(deep=True)
                    queued.steps[0].title = f"Queued behind {plural(self._waiting, 'other investigation')}"
                    updater.submit(render.progress_message(queued), now=True)
                    await self._runs.acquire()
                finally:
                    self._waiting -= 1
            else:
                await self._runs.acquire()
            try:
                # the namespace that was authorized, not a default the playbook would pick again
                ran = await self._run(cmd, namespace=namespace, context=context, baseline=baseline,
                                      on_progress=on_progress, updater=updater)
            finally:
                self._runs.release()
        except Exception as exc:
            await updater.flush()
            text = error_text(exc)
            if not isinstance(exc, OpsbotError):
                log.exception("%s %s failed", cmd.playbook, subject)
            await self.db.add_timeline(incident.id, "error", text, by=BOT_USER)
            await sink.post(render.usage_message(text), thread_ts=root_ts)
            # The root and the progress message must not go on saying "investigating".
            reason = str(exc) if isinstance(exc, OpsbotError) else f"internal error ({type(exc).__name__})"
            started = report.steps[0]
            started.status, started.error = StepStatus.FAILED, redact(reason)
            report.errors.append(StepError(step=started.name, message=redact(reason)))
            with contextlib.suppress(OpsbotError):
                await sink.update(progress_ts, render.progress_message(report))
                if owns_root:
                    current = await self.db.incident(incident.id)
                    await sink.update(root_ts, render.root_message(current, report, requested_by=user))
            raise Reported(exc) from exc
        try:
            return await self._fill(sink, cmd, ran, incident, updater, root_ts=root_ts, owns_root=owns_root,
                                    user=user, subject=subject, namespace=namespace)
        finally:
            if ran.kept is not None:  # not handed to the snapshot: let it go
                ran.kept.release()

    async def _run(self, cmd: PlaybookCommand, *, namespace: str, context: str | None, baseline: Report | None,
                   on_progress: Callable[[Report], Awaitable[None]], updater: LatestOnly) -> Ran:
        """The playbook run, in the worker when there is one (its progress messages rendered there)."""
        if self.worker is not None and await self._worker_up():
            return await self.worker.run(cmd, namespace=namespace, context=context, baseline=baseline,
                                         on_progress=updater.submit, keep=cmd.playbook == "debug")
        report = await run_command(self.runtime, cmd, namespace=namespace, context=context,
                                   on_progress=on_progress, baseline=baseline)
        # as in the worker (`keep`): only a /debug's report is kept, for its snapshot
        return Ran(report, kept=KeptHere(report, self.runtime.settings) if cmd.playbook == "debug" else None)

    async def _worker_up(self) -> bool:
        """Whether the worker runs (started now if need be); if it cannot start, runs stay here."""
        assert self.worker is not None
        try:
            await self.worker.start()
        except Exception as exc:
            log.warning("no playbook worker (%s): running here", error_text(exc))
            return False
        return True

    async def _fill(self, sink: ThreadSink, cmd: PlaybookCommand, ran: Ran, incident: Incident,
                    updater: LatestOnly, *, root_ts: str, owns_root: bool, user: str, subject: str,
                    namespace: str) -> Incident:
        """After the run: the thread's findings, checklist and verdict; the root; the snapshot."""
        report = ran.report
        # the final progress goes out in the background: findings never wait behind its edits
        finishing = asyncio.create_task(updater.finish(render.progress_message(report)))
        if cmd.playbook == "debug" and incident.status == "report" and report.deployment is not None:
            # the service was found: now it is an incident (a cluster that did not answer opens none)
            incident = await self.db.promote(incident.id, by=user)
        incident = await self.db.incident(incident.id)
        if owns_root:
            # the report the root shows, kept for re-rendering it (on close, after a restart); a run
            # inside an existing thread (/trace or /verify in a /debug thread) leaves the root's own
            await self.db.save_report(incident.id, report)
            await sink.update(root_ts, render.root_message(incident, report, requested_by=user))
        if isinstance(cmd, TraceCommand):
            # the request's path before the findings; a long one goes up as a file with the message
            # rendering redacts every log line and file: CPU work, off the event loop (acks keep flowing)
            trace = ran.trace if ran.trace is not None else \
                await asyncio.to_thread(render.trace_message, report, since_seconds=cmd.since_seconds)
            ts = await sink.post(trace, thread_ts=root_ts)
            await self.db.set_message(incident.id, "trace", ts)
        findings = ran.findings if ran.findings is not None else \
            await asyncio.to_thread(render.findings_messages, report)
        for i, message in enumerate(findings):
            ts = await sink.post(message, thread_ts=root_ts)
            await self.db.set_message(incident.id, f"findings:{cmd.playbook}:{i}", ts)
        await self.db.set_checklist(incident.id, report.checklist)
        await record_run(self.db, incident.id, report)
        lines = f"{plural(len(report.trace), 'line')} with {subject}, " if isinstance(cmd, TraceCommand) else ""
        await self.db.add_timeline(
            incident.id,
            "findings",
            f"{cmd.playbook}: {lines}{plural(len(report.findings), 'finding')}, "
            f"{report.steps_done}/{plural(len(report.steps), 'step')}",
            by=BOT_USER,
        )
        await self.refresh_checklist(sink, incident)
        if owns_root and not isinstance(cmd, TraceCommand):
            # edits of the root do not notify: one reply that mentions who asked, with the verdict
            await sink.post(render.verdict_note(report, requested_by=user), thread_ts=root_ts)
        read = report.deployment is not None  # a /debug that read nothing has nothing to keep
        if cmd.playbook == "debug" and read and (owns_root or (subject, namespace) == (incident.service,
                                                                                      incident.namespace)):
            # after the thread is complete: redacting and writing every log line read is CPU work
            # that the person reading the thread should not wait for. A /debug of the incident's
            # service typed in its thread refreshes the snapshot: /incident snapshot attaches the latest
            kept, ran.kept = ran.kept, None
            if kept is not None:
                await self._keep_snapshot(incident, kept)
        await finishing
        return incident

    async def run_quietly(self, cmd: PlaybookCommand, *, namespace: str, context: str | None) -> Report:
        """A playbook run that posts nothing (an alert's recheck), in a place of the same capacity."""
        async with self._runs:
            if self.worker is not None and await self._worker_up():
                ran = await self.worker.run(cmd, namespace=namespace, context=context, baseline=None,
                                            on_progress=lambda _message: None, keep=False)
                return ran.report
            return await run_command(self.runtime, cmd, namespace=namespace, context=context)

    # --- after a restart -----------------------------------------------------------------------

    async def interrupted_runs(self) -> list[tuple[Incident, PlaybookCommand, str | None, bool]]:
        """Runs a crash or restart cut short: an open incident whose last run started (timeline
        `debug`/`verify`/`trace`) and never ended (`findings` or `error`). Each as (incident, the
        command again, who asked, whether it was the run that opened the thread)."""
        found = []
        threads = [*await self.db.list_incidents(status="open"), *await self.db.list_incidents(status="report")]
        for incident in threads:
            entries = await self.db.timeline(incident.id)
            runs = [i for i, e in enumerate(entries) if e.kind in ("debug", "verify", "trace")]
            if not runs or any(e.kind in ("findings", "error") for e in entries[runs[-1] + 1:]):
                continue
            start = entries[runs[-1]]
            cmd: PlaybookCommand
            if start.kind == "trace":
                cmd = TraceCommand(correlation_id=incident.service, namespace=incident.namespace)
            else:
                cmd = ServiceCommand(service=incident.service, namespace=incident.namespace,
                                     playbook="verify" if start.kind == "verify" else "debug")
            found.append((incident, cmd, start.by, runs[-1] == runs[0]))
        return found

    async def resume(self, sink_for: Callable[[str], ThreadSink]) -> int:
        """Run again, in their own threads, the runs a restart cut short (say so first); how many."""
        runs = await self.interrupted_runs()
        for incident, cmd, user, first in runs:
            sink = sink_for(incident.channel)
            note = render.usage_message(f":arrows_counterclockwise: opsbot restarted during /{cmd.playbook} "
                                        f"{incident.service}: running it again.")

            async def again(sink: ThreadSink = sink, incident: Incident = incident, cmd: PlaybookCommand = cmd,
                            user: str = user or BOT_USER, first: bool = first, note: Message = note) -> None:
                await sink.post(note, thread_ts=incident.thread_ts)
                await self.run_playbook(sink, cmd, namespace=incident.namespace, context=incident.context,
                                        user=user, thread_ts=incident.thread_ts, resumed=first)

            self.spawn(again(), sink=sink, user=user or BOT_USER, command=cmd.playbook, thread_ts=incident.thread_ts)
        return len(runs)

    # --- checklist -----------------------------------------------------------------------------

    async def refresh_checklist(self, sink: ThreadSink, incident: Incident, *, since: int | None = None) -> None:
        """Re-render the checklist messages from the store: update the ones posted, post the rest.

        `since`: the change generation the caller needs shown; when a render that started after it
        already went out (many ticks at once), there is nothing left to do."""
        async with self._lock(incident.id):
            if since is not None and self._rendered.get(incident.id, 0) >= since:
                return
            self._rendered[incident.id] = self._generation.get(incident.id, 0)
            items = await self.db.checklist(incident.id)
            posted = await self.db.messages(incident.id)
            for i, message in enumerate(render.checklist_messages(items)):
                role = f"checklist:{i}"
                if role in posted:
                    await sink.update(posted[role], message)
                else:
                    ts = await sink.post(message, thread_ts=incident.thread_ts)
                    await self.db.set_message(incident.id, role, ts)

    async def record_ticks(self, incident: Incident, changes: dict[str, bool], *, user: str) -> int:
        """Store the ticks/unticks of one interaction (one transaction: all of it or nothing), before
        it is acknowledged; returns the change generation that `show_ticks` must render."""
        await self.db.tick_many(incident.id, changes, by=user)
        self._generation[incident.id] = self._generation.get(incident.id, 0) + 1
        return self._generation[incident.id]

    async def show_ticks(self, sink: ThreadSink, incident: Incident, generation: int) -> None:
        """After the acknowledgement: re-render the checklist from the store."""
        await self.refresh_checklist(sink, incident, since=generation)

    async def toggle(self, sink: ThreadSink, incident: Incident, changes: dict[str, bool], *, user: str) -> None:
        """Record ticks/unticks in SQLite first, then re-render the checklist from it."""
        await self.show_ticks(sink, incident, await self.record_ticks(incident, changes, user=user))

    # --- next-step buttons -----------------------------------------------------------------------

    async def press(self, sink: ThreadSink, incident: Incident, action: NextAction, *, user: str) -> None:
        """Run a read-only follow-up and post its result into the thread, with who asked."""
        result = await run_followup(self.runtime, action, context=incident.context)
        await self.db.add_timeline(incident.id, "action", result.title, by=user)
        await sink.post(render.action_result_message(result, requested_by=user), thread_ts=incident.thread_ts)

    # --- /incident ---------------------------------------------------------------------------------

    async def find_incident(
        self, channel: str, *, thread_ts: str | None = None, incident_id: int | None = None
    ) -> Incident:
        """The incident a command means: by id, by the thread it was typed in, or the only open one."""
        if incident_id is not None:
            incident: Incident = await self.db.incident(incident_id)
            if incident.channel != channel:
                raise NotFoundError(f"incident #{incident_id} belongs to another channel")
            if incident.status == "report":
                raise NotFoundError(f"#{incident_id} is a report thread, not an incident")
            return incident
        if thread_ts is not None:
            found = await self.db.get_incident(channel, thread_ts)
            if found is not None and found.status == "report":
                raise UsageError("this thread is a report, not an incident: `/incident list` shows the open ones; "
                                 "`/debug SERVICE` opens one")
            if found is not None:
                return found
        open_here: list[Incident] = await self.db.list_incidents(channel=channel, status="open")
        if not open_here:
            raise NotFoundError("no open incident in this channel")
        if len(open_here) > 1:
            listed = ", ".join(f"#{i.id} {i.service}" for i in open_here[:5])
            raise UsageError(f"{len(open_here)} incidents are open here ({listed}): name one, e.g. #{open_here[0].id}")
        return open_here[0]

    async def status_message(self, channel: str, *, thread_ts: str | None = None) -> Message:
        incident = await self.find_incident(channel, thread_ts=thread_ts)
        return render.incident_status_message(incident, await self.checklist(incident.id))

    async def list_message(self, channel: str) -> Message:
        incidents: list[Incident] = await self.db.list_incidents(channel=channel, status="open")
        return render.incident_list_message(incidents)

    async def _show_status_on_root(self, sink: ThreadSink, incident: Incident) -> None:
        """Re-render the thread's root from the store (its last report) after the incident's status changed."""
        root = (await self.db.messages(incident.id)).get("root")
        if root is not None:
            stub = await self.db.last_report(incident.id) or _report_stub(incident)
            await sink.update(root, render.root_message(incident, stub, requested_by=incident.opened_by))

    async def _keep_snapshot(self, incident: Incident, kept: Kept) -> None:
        """Keep what this /debug read as a scenario file (redacted), for `/incident snapshot` and for
        replaying the incident later without the cluster. A failure here costs the snapshot only.

        Redacting and writing every log line read is a third of a /debug's CPU, and nobody waits for
        it: it is made once no other work runs (at most SNAPSHOT_WAIT seconds later), from the latest
        /debug of the incident (the runs in between replace its report), or at once if asked for."""
        replaced = self._snapshots.get(incident.id)
        self._snapshots[incident.id] = (kept, datetime.now(UTC))  # its offsets: from now, not from later
        if replaced is not None:  # an earlier run of this incident waits already: it will keep this report
            replaced[0].release()
            return
        self._deferred += 1
        try:
            deadline = asyncio.get_running_loop().time() + SNAPSHOT_WAIT
            # every task but those waiting here is work (a run, its messages): wait for none to be left
            while len(self.tasks) > self._deferred and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(SNAPSHOT_POLL)
        finally:
            self._deferred -= 1
        await self._make_snapshot(incident.id)

    async def _make_snapshot(self, incident_id: int) -> None:
        waiting = self._snapshots.pop(incident_id, None)
        if waiting is None:  # made already (asked for in the meantime)
            return
        kept, at = waiting
        try:
            body = await kept.make(at)
            await self.db.save_snapshot(incident_id, body)
        except Exception:  # the thread is what matters; the snapshot is a keepsake
            log.exception("could not keep the snapshot of incident #%s", incident_id)

    async def attach_snapshot(self, sink: ThreadSink, incident: Incident, *, user: str) -> None:
        """Post the incident's snapshot to its thread as a file (open or closed: it is kept)."""
        await self._make_snapshot(incident.id)  # the latest /debug's, if still waiting for a quiet moment
        kept = await self.db.snapshot(incident.id)
        if kept is None:
            raise UsageError(f"incident #{incident.id} has no snapshot: it is taken by /debug in its thread")
        taken_at, body = kept
        await sink.post(render.snapshot_message(incident, body, taken_at=taken_at, requested_by=user),
                        thread_ts=incident.thread_ts)
        await self.db.add_timeline(incident.id, "snapshot", "snapshot attached", by=user)

    async def open_report(self, sink: ThreadSink, thread: Incident, *, user: str) -> Incident:
        """Make a report thread (a /verify, a /trace) an incident, because someone asked: say so in it
        and on its root."""
        incident = await self.db.promote(thread.id, by=user)
        await sink.post(render.note(f":rotating_light: Incident #{incident.id} opened by {render.user(user)}."),
                        thread_ts=incident.thread_ts)
        await self._show_status_on_root(sink, incident)
        return incident

    async def reopen(self, sink: ThreadSink, incident: Incident, *, user: str) -> Incident:
        """Open a closed incident again: say so in its thread and on its root."""
        incident = await self.db.reopen_incident(incident.id, by=user)
        await sink.post(render.reopened_message(user), thread_ts=incident.thread_ts)
        await self._show_status_on_root(sink, incident)
        return incident

    async def close(
        self, sink: ThreadSink, cmd: IncidentCommand, *, user: str, thread_ts: str | None = None
    ) -> Incident:
        """Close the incident, say so in its thread and on its root."""
        incident = await self.find_incident(sink.channel, thread_ts=thread_ts, incident_id=cmd.incident_id)
        incident = await self.db.close_incident(incident.id, by=user, summary=cmd.summary)
        await sink.post(render.closed_message(user, cmd.summary), thread_ts=incident.thread_ts)
        await self._show_status_on_root(sink, incident)
        self._forget(incident.id)
        draft = await postmortem(self.db, incident)
        await sink.post(render.postmortem_message(incident, draft), thread_ts=incident.thread_ts)
        return incident

    async def note(self, sink: ThreadSink, incident: Incident, text: str, *, user: str) -> None:
        """`/incident note TEXT`: into the timeline (redacted, with who and when), and said in the thread."""
        await self.db.add_timeline(incident.id, "note", text, by=user)
        await sink.post(render.note_message(user, text), thread_ts=incident.thread_ts)

    def _forget(self, incident_id: int) -> None:
        """Drop the in-memory render state of a closed incident, so that it does not grow for ever (a
        later tick starts it afresh; the store holds everything). A render under way keeps its lock."""
        lock = self._locks.get(incident_id)
        if lock is not None and lock.locked():
            return
        self._locks.pop(incident_id, None)
        self._generation.pop(incident_id, None)
        self._rendered.pop(incident_id, None)

    def command(self, name: str, outcome: str) -> None:
        COMMANDS.labels(command=name, outcome=outcome).inc()



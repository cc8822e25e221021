"""The incident service: runs a command for a thread, keeps the store current, fills the thread.

Handlers (Slack) and the console (terminal) only parse, authorize and call this; everything an
incident thread shows is decided here and written through a `ThreadSink`: `SlackSink` posts with
the Slack Web API, the console's sink prints. Work started from a request runs as a background
task that the service keeps referenced (`tasks`, `drain()`), so nothing is lost or left dangling,
and every failure ends up in the log and as a clear message in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot import blocks
from bot.blocks import FileSnippet, Message
from bot.commands import (
    Command,
    HelpCommand,
    IncidentCommand,
    PlaybookCommand,
    ServiceCommand,
    TraceCommand,
    help_text,
)
from bot.errors import NotFoundError, OpsbotError, UnavailableError, UsageError
from bot.inputs import format_since
from bot.logs import current_correlation_id
from bot.metrics import API_ERRORS, COMMANDS, error_kind
from bot.models import ChecklistItem, NextAction, Report, StepError, StepResult, StepStatus
from bot.redact import redact
from bot.store import BOT_USER, Incident, IncidentStore
from handlers.access import check_access, resolve_target
from handlers.parsing import parse_command, parse_mention
from playbooks.actions import run_action
from playbooks.registry import run_command

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from playbooks.runtime import Runtime

log = logging.getLogger(__name__)

# Background work waits until no request has arrived for ACK_QUIET seconds (at most ACK_PRIORITY_MAX):
# a burst of slash commands is acknowledged first, then the playbooks run.
ACK_QUIET = 0.03
ACK_PRIORITY_MAX = 1.0


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


class SlackSink:
    """A `ThreadSink` over the Slack Web API. Slack errors are translated here, once."""

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def _call(self, method: str, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            API_ERRORS.labels(api="slack", kind=str(exc.response.get("error", "api_error"))[:40]).inc()
            raise UnavailableError(f"Slack {method} failed: {exc.response.get('error', 'error')}") from exc
        except (SlackClientError, OSError, TimeoutError) as exc:
            API_ERRORS.labels(api="slack", kind="unavailable").inc()
            raise UnavailableError(f"Slack {method} could not be reached: {type(exc).__name__}") from exc

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        response = await self._call(
            "chat.postMessage",
            self.client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        ts = str(response["ts"])
        for snippet in message.files:
            await self.upload(snippet, thread_ts=thread_ts or ts)
        return ts

    async def update(self, ts: str, message: Message) -> None:
        await self._call(
            "chat.update",
            self.client.chat_update(channel=self.channel, ts=ts, text=message.text, blocks=message.blocks),
        )

    async def upload(self, snippet: FileSnippet, *, thread_ts: str) -> None:
        await self._call(
            "files.upload",
            self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=thread_ts,
                content=snippet.content,
                filename=snippet.filename,
                title=snippet.title,
            ),
        )

    async def notify(self, user: str, message: Message, *, thread_ts: str | None = None) -> None:
        await self._call(
            "chat.postEphemeral",
            self.client.chat_postEphemeral(
                channel=self.channel, user=user, text=message.text, blocks=message.blocks, thread_ts=thread_ts
            ),
        )


class _LatestOnly:
    """Sends the newest version of one message, dropping versions overtaken while a send is in flight.

    Steps end in bursts; each would be a chat.update (rate limited), and only the last one matters."""

    def __init__(self, send: Callable[[Message], Awaitable[None]]) -> None:
        self._send = send
        self._pending: Message | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent: Message | None = None

    def submit(self, message: Message) -> None:
        self._pending = message
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._pending is not None:
            message, self._pending = self._pending, None
            try:
                await self._send(message)
                self.sent = message
            except OpsbotError as exc:  # a lost progress update is not worth stopping the run
                log.warning("progress update failed: %s", exc)

    async def flush(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


def _report_stub(incident: Incident) -> Report:
    """A report carrying only what the store knows, for re-rendering a root after a restart."""
    return Report(
        service=incident.service,
        namespace=incident.namespace,
        context=incident.context,
        started_at=incident.opened_at,
    )


def note(mrkdwn: str) -> Message:
    """A one-section message of text already escaped (pieces through blocks.clean / blocks.user)."""
    text = blocks.clip(mrkdwn, blocks.MAX_SECTION)
    return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()])


Work = Callable[[], Coroutine[Any, Any, Any]]


@dataclass
class Accepted:
    """What to do with a request: the one-line answer for the person (ephemeral, sent with the
    acknowledgement) and the work to start once it is acknowledged."""

    command: str
    reply: Message | None = None
    work: Work | None = None
    outcome: str = "ok"


class IncidentService:
    """Opens, fills and closes incident threads; the one place their logic lives."""

    def __init__(self, runtime: Runtime, store: IncidentStore) -> None:
        self.runtime = runtime
        self.store = store
        self.tasks: set[asyncio.Task[None]] = set()
        # One lock an incident: re-rendering the checklist reads the store and updates the message;
        # serialised, the last update always shows every tick, whatever order requests came in.
        self._locks: dict[int, asyncio.Lock] = {}
        self._generation: dict[int, int] = {}  # checklist changes recorded, per incident
        self._rendered: dict[int, int] = {}  # the generation the last render started from
        # The last report of each incident, so a root re-rendered on close keeps its verdict (a
        # restart loses it; the root then shows what the store knows).
        self._last_request = float("-inf")  # loop time of the last request received

    # --- background work -----------------------------------------------------------------------

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
            except _Reported as exc:  # already logged and posted into its thread
                counted(error_kind(exc.cause))
            except Exception as exc:
                counted(error_kind(exc))
                text = self._error_text(exc)
                if not isinstance(exc, OpsbotError):
                    log.exception("%s failed", command)
                else:
                    log.warning("%s failed: %s", command, exc)
                try:
                    await sink.notify(user, blocks.usage_message(text), thread_ts=thread_ts)
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

    @staticmethod
    def _error_text(exc: BaseException) -> str:
        if isinstance(exc, OpsbotError):
            return redact(f":warning: {exc}")
        cid = current_correlation_id()
        ref = f" (correlation id {cid})" if cid else ""
        return f":warning: opsbot hit an internal error ({type(exc).__name__}); the details are in its log{ref}."

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # SQLite writes fsync; off the event loop they cannot delay the acknowledgement of requests.
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def claim_event(self, event_id: str) -> bool:
        """True for the first delivery of a Slack event, False for its retries."""
        return bool(await self._db(self.store.claim_event, event_id))

    def _lock(self, incident_id: int) -> asyncio.Lock:
        return self._locks.setdefault(incident_id, asyncio.Lock())

    # --- accepting a request (before the acknowledgement: no Kubernetes, no GitHub, no Slack) ------

    async def accept(
        self, source: str, text: str, *, sink: ThreadSink, user: str, thread_ts: str | None = None
    ) -> Accepted:
        """Parse, validate and authorize a command; never raises.

        `source` is the slash command (`/debug`...) or "mention" for `@opsbot ...` text."""
        settings = self.runtime.settings
        name = source.lstrip("/") if source != "mention" else "mention"
        try:
            clusters = settings.kubernetes.clusters
            cmd: Command = (
                parse_mention(text, clusters=clusters)
                if source == "mention"
                else parse_command(source, text, clusters=clusters)
            )
            name = cmd.name
            namespace = resolve_target(settings, cmd)[0] if isinstance(cmd, ServiceCommand | TraceCommand) else None
            refusal = check_access(settings.access, channel=sink.channel, user=user, namespace=namespace)
            if refusal is not None:
                return self._answered(Accepted(name, reply=blocks.usage_message(refusal), outcome="denied"))
            return await self._plan(cmd, sink=sink, user=user, thread_ts=thread_ts)
        except OpsbotError as exc:
            return self._answered(Accepted(name, reply=blocks.usage_message(str(exc)), outcome=exc.kind))
        except Exception as exc:
            log.exception("accepting %s failed", source)
            return self._answered(Accepted(name, reply=blocks.usage_message(self._error_text(exc)), outcome="internal"))

    def _answered(self, accepted: Accepted) -> Accepted:
        COMMANDS.labels(command=accepted.command, outcome=accepted.outcome).inc()
        return accepted

    async def _plan(self, cmd: Command, *, sink: ThreadSink, user: str, thread_ts: str | None) -> Accepted:
        if isinstance(cmd, HelpCommand):
            return self._answered(Accepted("help", reply=blocks.usage_message(help_text())))
        if isinstance(cmd, ServiceCommand):
            where = "into this thread" if thread_ts else "an incident thread"
            return Accepted(
                cmd.name,
                # Text only: the hot path of every acknowledgement, and the service name is a validated
                # DNS-1123 label, so there is nothing to escape or redact.
                reply=Message(text=f"Running {cmd.playbook} on {cmd.service}: follow {where}.", blocks=[]),
                work=lambda: self.run_playbook(sink, cmd, user=user, thread_ts=thread_ts),
            )
        if isinstance(cmd, TraceCommand):
            where = "into this thread" if thread_ts else "an incident thread"
            namespace = resolve_target(self.runtime.settings, cmd)[0]
            return Accepted(
                cmd.name,
                # The id is checked (letters, digits, '.', '_', ':', '-': nothing to escape); in backticks,
                # so that Slack shows it as typed. The namespace may come from the config: escaped.
                reply=Message(
                    text=f"Tracing `{cmd.correlation_id}` in {blocks.clean(namespace, 100)} over the last"
                    f" {format_since(cmd.since_seconds)}: follow {where}.",
                    blocks=[],
                ),
                work=lambda: self.run_playbook(sink, cmd, user=user, thread_ts=thread_ts),
            )
        if cmd.action == "status":
            return self._answered(
                Accepted(cmd.name, reply=await self.status_message(sink.channel, thread_ts=thread_ts))
            )
        if cmd.action == "list":
            return self._answered(Accepted(cmd.name, reply=await self.list_message(sink.channel)))
        target = await self.find_incident(sink.channel, thread_ts=thread_ts, incident_id=cmd.incident_id)
        if target.status == "closed":
            raise UsageError(f"incident #{target.id} is already closed")
        close = IncidentCommand("close", incident_id=target.id, summary=cmd.summary)
        return Accepted(
            cmd.name,
            reply=blocks.usage_message(f"Closing incident #{target.id} ({target.service})."),
            work=lambda: self.close(sink, close, user=user),
        )

    def start(self, accepted: Accepted, *, sink: ThreadSink, user: str, thread_ts: str | None = None) -> None:
        """Start the accepted work in the background (call after acknowledging)."""
        if accepted.work is not None:
            self.spawn(accepted.work(), sink=sink, user=user, command=accepted.command, thread_ts=thread_ts)

    # --- debug / verify / trace ------------------------------------------------------------------

    async def run_playbook(
        self, sink: ThreadSink, cmd: PlaybookCommand, *, user: str, thread_ts: str | None = None
    ) -> Incident:
        """Open (or, inside a thread, reuse) the incident and fill its thread as the playbook runs.

        A trace's subject is its correlation id: it names the incident and the report as a service would."""
        settings = self.runtime.settings
        namespace, context = resolve_target(settings, cmd)
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
        incident = await self._db(self.store.get_incident, sink.channel, thread_ts) if thread_ts else None
        if incident is not None and incident.status == "open":
            root_ts = incident.thread_ts
        else:
            if thread_ts is None:
                root_ts = await sink.post(blocks.root_message(None, report, requested_by=user))
            else:
                root_ts = thread_ts  # a thread that is not an incident yet: its parent becomes the root
            incident = await self._db(
                self.store.open_incident,
                channel=sink.channel,
                thread_ts=root_ts,
                service=subject,
                namespace=namespace,
                context=context,
                opened_by=user,
                checklist=[],
            )
            if thread_ts is None:
                await self._db(self.store.set_message, incident.id, "root", root_ts)
        assert incident is not None
        await self._db(self.store.add_timeline, incident.id, cmd.playbook, f"/{cmd.playbook} {subject}", by=user)

        progress_ts = await sink.post(blocks.progress_message(report), thread_ts=root_ts)
        await self._db(self.store.set_message, incident.id, f"progress:{cmd.playbook}", progress_ts)

        async def send_progress(message: Message) -> None:
            await sink.update(progress_ts, message)

        updater = _LatestOnly(send_progress)

        async def on_progress(current: Report) -> None:
            updater.submit(blocks.progress_message(current))

        try:
            # the namespace that was authorized, not a default the playbook would pick again
            report = await run_command(self.runtime, cmd, namespace=namespace, context=context, on_progress=on_progress)
        except Exception as exc:
            await updater.flush()
            text = self._error_text(exc)
            if not isinstance(exc, OpsbotError):
                log.exception("%s %s failed", cmd.playbook, subject)
            await self._db(self.store.add_timeline, incident.id, "error", text, by=BOT_USER)
            await sink.post(blocks.usage_message(text), thread_ts=root_ts)
            # The root and the progress message must not go on saying "investigating".
            reason = str(exc) if isinstance(exc, OpsbotError) else f"internal error ({type(exc).__name__})"
            started = report.steps[0]
            started.status, started.error = StepStatus.FAILED, redact(reason)
            report.errors.append(StepError(step=started.name, message=redact(reason)))
            with contextlib.suppress(OpsbotError):
                await sink.update(progress_ts, blocks.progress_message(report))
                if thread_ts is None:
                    current = await self._db(self.store.incident, incident.id)
                    await sink.update(root_ts, blocks.root_message(current, report, requested_by=user))
            raise _Reported(exc) from exc
        await updater.flush()
        final = blocks.progress_message(report)
        if updater.sent != final:
            await sink.update(progress_ts, final)
        incident = await self._db(self.store.incident, incident.id)
        if thread_ts is None:
            # the report the root shows, kept for re-rendering it (on close, after a restart); a run
            # inside an existing thread (/trace or /verify in a /debug thread) leaves the root's own
            await self._db(self.store.save_report, incident.id, report)
            await sink.update(root_ts, blocks.root_message(incident, report, requested_by=user))
        if isinstance(cmd, TraceCommand):
            # the request's path before the findings; a long one goes up as a file with the message
            ts = await sink.post(blocks.trace_message(report, since_seconds=cmd.since_seconds), thread_ts=root_ts)
            await self._db(self.store.set_message, incident.id, "trace", ts)
        for i, message in enumerate(blocks.findings_messages(report)):
            ts = await sink.post(message, thread_ts=root_ts)
            await self._db(self.store.set_message, incident.id, f"findings:{cmd.playbook}:{i}", ts)
        await self._db(self.store.set_checklist, incident.id, report.checklist)
        lines = f"{len(report.trace)} line(s) carry {subject}, " if isinstance(cmd, TraceCommand) else ""
        await self._db(
            self.store.add_timeline,
            incident.id,
            "findings",
            f"{cmd.playbook}: {lines}{len(report.findings)} finding(s), {report.steps_done}/{len(report.steps)} steps",
            by=BOT_USER,
        )
        await self.refresh_checklist(sink, incident)
        return incident

    # --- interactions: checklist ticks and next-step buttons -----------------------------------

    async def accept_action(self, body: dict[str, Any], *, sink: ThreadSink) -> Accepted:
        """A block_actions payload (a tick or a button press): find its incident, authorize; never raises."""
        action = (body.get("actions") or [{}])[0]
        user = str((body.get("user") or {}).get("id", ""))
        is_tick = str(action.get("action_id", "")).startswith(blocks.ActionId.CHECKLIST)
        name = "tick" if is_tick else "next-step"
        try:
            message_ts = str((body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts"))
            incident: Incident | None = await self._db(self.store.incident_for_message, sink.channel, message_ts)
            if incident is None:
                raise NotFoundError("this message belongs to no incident opsbot knows about")
            refusal = check_access(
                self.runtime.settings.access, channel=sink.channel, user=user, namespace=incident.namespace
            )
            if refusal is not None:
                return self._answered(Accepted(name, reply=blocks.usage_message(refusal), outcome="denied"))
            if is_tick:
                stored: list[ChecklistItem] = await self._db(self.store.checklist, incident.id)
                changes = checklist_changes(action, (body.get("message") or {}).get("blocks"), stored)
                return Accepted(name, work=lambda: self.toggle(sink, incident, changes, user=user))
            next_action = blocks.parse_next_action(str(action.get("value", "")))
            return Accepted(name, work=lambda: self.press(sink, incident, next_action, user=user))
        except OpsbotError as exc:
            return self._answered(Accepted(name, reply=blocks.usage_message(str(exc)), outcome=exc.kind))
        except Exception as exc:
            log.exception("accepting %s failed", name)
            return self._answered(Accepted(name, reply=blocks.usage_message(self._error_text(exc)), outcome="internal"))

    # --- checklist -----------------------------------------------------------------------------

    async def refresh_checklist(self, sink: ThreadSink, incident: Incident, *, since: int | None = None) -> None:
        """Re-render the checklist messages from the store: update the ones posted, post the rest.

        `since`: the change generation the caller needs shown; when a render that started after it
        already went out (many ticks at once), there is nothing left to do."""
        async with self._lock(incident.id):
            if since is not None and self._rendered.get(incident.id, 0) >= since:
                return
            self._rendered[incident.id] = self._generation.get(incident.id, 0)
            items = await self._db(self.store.checklist, incident.id)
            posted = await self._db(self.store.messages, incident.id)
            for i, message in enumerate(blocks.checklist_messages(items)):
                role = f"checklist:{i}"
                if role in posted:
                    await sink.update(posted[role], message)
                else:
                    ts = await sink.post(message, thread_ts=incident.thread_ts)
                    await self._db(self.store.set_message, incident.id, role, ts)

    async def toggle(self, sink: ThreadSink, incident: Incident, changes: dict[str, bool], *, user: str) -> None:
        """Record ticks/unticks in SQLite first, then re-render the checklist from it."""
        for key, done in changes.items():
            await self._db(self.store.tick, incident.id, key, done=done, by=user)
        self._generation[incident.id] = self._generation.get(incident.id, 0) + 1
        await self.refresh_checklist(sink, incident, since=self._generation[incident.id])

    # --- next-step buttons -----------------------------------------------------------------------

    async def press(self, sink: ThreadSink, incident: Incident, action: NextAction, *, user: str) -> None:
        """Run a read-only follow-up and post its result into the thread, with who asked."""
        result = await run_action(self.runtime, action, context=incident.context)
        await self._db(self.store.add_timeline, incident.id, "action", result.title, by=user)
        await sink.post(blocks.action_result_message(result, requested_by=user), thread_ts=incident.thread_ts)

    # --- /incident ---------------------------------------------------------------------------------

    async def find_incident(
        self, channel: str, *, thread_ts: str | None = None, incident_id: int | None = None
    ) -> Incident:
        """The incident a command means: by id, by the thread it was typed in, or the only open one."""
        if incident_id is not None:
            incident: Incident = await self._db(self.store.incident, incident_id)
            if incident.channel != channel:
                raise NotFoundError(f"incident #{incident_id} belongs to another channel")
            return incident
        if thread_ts is not None:
            found = await self._db(self.store.get_incident, channel, thread_ts)
            if found is not None:
                return found
        open_here: list[Incident] = await self._db(self.store.list_incidents, channel=channel, status="open")
        if not open_here:
            raise NotFoundError("no open incident in this channel")
        if len(open_here) > 1:
            listed = ", ".join(f"#{i.id} {i.service}" for i in open_here[:5])
            raise UsageError(f"{len(open_here)} incidents are open here ({listed}): name one, e.g. #{open_here[0].id}")
        return open_here[0]

    async def status_message(self, channel: str, *, thread_ts: str | None = None) -> Message:
        incident = await self.find_incident(channel, thread_ts=thread_ts)
        items: list[ChecklistItem] = await self._db(self.store.checklist, incident.id)
        done = sum(item.done for item in items)
        lines = [
            f"*#{incident.id} {blocks.clean(incident.service)}* in `{blocks.clean(incident.namespace)}`:"
            f" {incident.status}, opened by {blocks.user(incident.opened_by)}"
            f" at {incident.opened_at:%Y-%m-%d %H:%M} UTC · checklist {done}/{len(items)}"
        ]
        if incident.status == "closed":
            lines.append(f"closed by {blocks.user(incident.closed_by)}: {blocks.clean(incident.summary or '-', 500)}")
        lines += [f"{'☑' if i.done else '☐'} {blocks.clean(i.text, 100)}" for i in items]
        return note("\n".join(lines))

    async def list_message(self, channel: str) -> Message:
        incidents: list[Incident] = await self._db(self.store.list_incidents, channel=channel, status="open")
        if not incidents:
            return note("No open incidents in this channel.")
        lines = [f"*{len(incidents)} open incident(s)*"]
        lines += [
            f"#{i.id} {blocks.clean(i.service)} in `{blocks.clean(i.namespace)}`, opened by"
            f" {blocks.user(i.opened_by)} at {i.opened_at:%Y-%m-%d %H:%M} UTC"
            for i in incidents[:30]
        ]
        return note("\n".join(lines))

    async def close(
        self, sink: ThreadSink, cmd: IncidentCommand, *, user: str, thread_ts: str | None = None
    ) -> Incident:
        """Close the incident, say so in its thread and on its root."""
        incident = await self.find_incident(sink.channel, thread_ts=thread_ts, incident_id=cmd.incident_id)
        incident = await self._db(self.store.close_incident, incident.id, by=user, summary=cmd.summary)
        text = f":white_check_mark: Closed by {blocks.user(user)}"
        if cmd.summary:
            text += f": {blocks.clean(cmd.summary, 500)}"
        await sink.post(note(text), thread_ts=incident.thread_ts)
        root = (await self._db(self.store.messages, incident.id)).get("root")
        if root is not None:
            stub = await self._db(self.store.last_report, incident.id) or _report_stub(incident)
            await sink.update(root, blocks.root_message(incident, stub, requested_by=incident.opened_by))
        self._forget(incident.id)
        return incident

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


def _checkbox_element(block: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    # Checkboxes may sit in a section's accessory, an actions block or an input block.
    candidates = [block.get("accessory"), block.get("element"), *(block.get("elements") or [])]
    for element in candidates:
        if isinstance(element, dict) and element.get("type") == "checkboxes" and element.get("action_id") == action_id:
            return element
    return None


def checklist_changes(
    action: dict[str, Any], message_blocks: list[dict[str, Any]] | None, stored: list[ChecklistItem]
) -> dict[str, bool]:
    """Which items one checkbox interaction ticked (True) or unticked (False).

    The payload carries the full selected set of that block only. Diffing it against the store
    would untick what someone else ticked a moment ago; diffing it against the options the person
    was shown (the message's initial_options) gives exactly what this person changed. Changes the
    store already holds are dropped, so a tick keeps who did it first."""
    selected = {str(o.get("value")) for o in action.get("selected_options") or []}
    state = {item.key: item.done for item in stored}
    element = None
    for block in message_blocks or []:
        if block.get("block_id") == action.get("block_id"):
            element = _checkbox_element(block, str(action.get("action_id", "")))
            break
    if element is not None:
        keys = {str(o.get("value")) for o in element.get("options") or []}
        seen = {str(o.get("value")) for o in element.get("initial_options") or []}
    else:  # no copy of the message: only what is selected now is certain
        keys, seen = set(selected), {k for k in selected if state.get(k)}
    changes = {key: key in selected for key in keys if (key in selected) != (key in seen)}
    return {key: done for key, done in changes.items() if key in state and state[key] != done}


class _Reported(Exception):
    """An error already posted into the thread: the task wrapper only logs and counts it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause

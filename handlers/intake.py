"""Intake: what happens to a request before its acknowledgement (no Kubernetes, no GitHub, no Slack).

parse -> validate -> authorize -> plan. `Intake.accept` turns a slash command, a mention or a
console line into an `Accepted`: the one-line answer sent with the acknowledgement, and the work
to start once it is acknowledged. `accept_tick` and `accept_next_step` do the same for the two
interactions of an incident thread. None of them raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot import render
from bot.commands import (
    Command,
    HelpCommand,
    IncidentCommand,
    RunsCommand,
    ServiceCommand,
    TraceCommand,
    help_text,
)
from bot.errors import NotFoundError, OpsbotError, UsageError
from bot.inputs import format_since
from bot.models import NextAction
from bot.plumbing.metrics import COMMANDS
from bot.render import Message
from bot.store import Incident
from bot.threads import IncidentService, ThreadSink, error_text
from bot.threads.runs import post_runs
from handlers.access import check_access, resolve_target
from handlers.parsing import parse_command, parse_mention
from handlers.payloads import checklist_changes, message_ts

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, Any]]


@dataclass
class Accepted:
    """What to do with a request: the one-line answer for the person (ephemeral, sent with the
    acknowledgement) and the work to start once it is acknowledged."""

    command: str
    reply: Message | None = None
    work: Work | None = None
    outcome: str = "ok"


class Intake:
    """Parses, validates, authorizes and plans requests for one incident service."""

    def __init__(self, service: IncidentService) -> None:
        self.service = service
        self.settings = service.runtime.settings

    async def accept(
        self, source: str, text: str, *, sink: ThreadSink, user: str, thread_ts: str | None = None
    ) -> Accepted:
        """Parse, validate and authorize a command; never raises.

        `source` is the slash command (`/debug`...) or "mention" for `@opsbot ...` text."""
        name = source.lstrip("/") if source != "mention" else "mention"
        try:
            clusters = self.settings.kubernetes.clusters
            cmd: Command = (
                parse_mention(text, clusters=clusters)
                if source == "mention"
                else parse_command(source, text, clusters=clusters)
            )
            name = cmd.name
            namespace = (
                self._target(cmd)[0] if isinstance(cmd, ServiceCommand | TraceCommand) else None
            )
            if isinstance(cmd, RunsCommand):  # the service's CI is as private as its namespace
                namespace = self.settings.namespace_for(cmd.service)
            refusal = check_access(self.settings.access, channel=sink.channel, user=user, namespace=namespace)
            if refusal is not None:
                return _answered(Accepted(name, reply=render.usage_message(refusal), outcome="denied"))
            return await self._plan(cmd, sink=sink, user=user, thread_ts=thread_ts)
        except OpsbotError as exc:
            return _answered(Accepted(name, reply=render.usage_message(str(exc)), outcome=exc.kind))
        except Exception as exc:
            log.exception("accepting %s failed", source)
            return _answered(Accepted(name, reply=render.usage_message(error_text(exc)), outcome="internal"))

    def _target(self, cmd: ServiceCommand | TraceCommand) -> tuple[str, str | None]:
        """The namespace and context a playbook command will use, as kubectl picks them: -n, the catalogue,
        OPSBOT_NAMESPACE, then the kubeconfig context's namespace (read once, when nothing before decides)."""
        namespace, context = resolve_target(self.settings, cmd)
        if cmd.namespace is None:
            service = cmd.service if isinstance(cmd, ServiceCommand) else None
            namespace = self.service.runtime.namespace_of(service, None, context)[0]
        return namespace, context

    async def _plan(self, cmd: Command, *, sink: ThreadSink, user: str, thread_ts: str | None) -> Accepted:
        service = self.service
        if isinstance(cmd, HelpCommand):
            return _answered(Accepted("help", reply=render.usage_message(help_text())))
        if isinstance(cmd, RunsCommand):
            runs = cmd
            what = "watching the running one" if cmd.watch else "listing them"
            return Accepted(cmd.name, reply=Message(text=f"CI runs of {cmd.service}: {what}.", blocks=[]),
                            work=lambda: post_runs(service, sink, runs, user=user, thread_ts=thread_ts))
        if isinstance(cmd, ServiceCommand | TraceCommand):
            if thread_ts is not None:
                _refuse_closed(await service.incident_for_message(sink.channel, thread_ts))
            namespace, context = self._target(cmd)
            where = "into this thread" if thread_ts else "an incident thread"
            if isinstance(cmd, ServiceCommand):
                # Text only: the hot path of every acknowledgement, and the service name is a validated
                # DNS-1123 label, so there is nothing to escape or redact.
                text = f"Running {cmd.playbook} on {cmd.service}: follow {where}."
            else:
                # The id is checked (letters, digits, '.', '_', ':', '-': nothing to escape); in backticks,
                # so that Slack shows it as typed. The namespace may come from the config: escaped.
                text = (f"Tracing `{cmd.correlation_id}` in {render.clean(namespace, 100)} over the last"
                        f" {format_since(cmd.since_seconds)}: follow {where}.")
            playbook = cmd
            return Accepted(
                cmd.name,
                reply=Message(text=text, blocks=[]),
                work=lambda: service.run_playbook(
                    sink, playbook, namespace=namespace, context=context, user=user, thread_ts=thread_ts
                ),
            )
        if cmd.action == "status":
            return _answered(Accepted(cmd.name, reply=await service.status_message(sink.channel, thread_ts=thread_ts)))
        if cmd.action == "list":
            return _answered(Accepted(cmd.name, reply=await service.list_message(sink.channel)))
        if cmd.action == "snapshot":
            if cmd.incident_id is None and thread_ts is None:
                raise UsageError("which incident? `/incident snapshot #ID`, or type it in the incident's thread")
            found = await service.find_incident(sink.channel, thread_ts=thread_ts, incident_id=cmd.incident_id)
            reply = render.usage_message(f"Attaching the snapshot of incident #{found.id} ({found.service}).")
            return Accepted(cmd.name, reply=reply, work=lambda: service.attach_snapshot(sink, found, user=user))
        if cmd.action == "open":
            return await self._plan_open(cmd, sink=sink, user=user, thread_ts=thread_ts)
        if cmd.action == "reopen":
            if cmd.incident_id is None and thread_ts is None:
                raise UsageError("which incident? `/incident reopen #ID` (`/incident list` shows the open ones; "
                                 "the id is on the thread's root)")
            target = await service.find_incident(sink.channel, thread_ts=thread_ts, incident_id=cmd.incident_id)
            if target.status == "open":
                raise UsageError(f"incident #{target.id} is open already")
            reply = render.usage_message(f"Reopening incident #{target.id} ({target.service}).")
            return Accepted(cmd.name, reply=reply, work=lambda: service.reopen(sink, target, user=user))
        target = await service.find_incident(sink.channel, thread_ts=thread_ts, incident_id=cmd.incident_id)
        if cmd.action == "note" and cmd.note is not None:
            _refuse_closed(target)
            note = cmd.note
            reply = render.usage_message(f"Noted in the timeline of incident #{target.id} ({target.service}).")
            return Accepted(cmd.name, reply=reply, work=lambda: service.note(sink, target, note, user=user))
        if target.status == "closed":
            raise UsageError(f"incident #{target.id} is already closed")
        close = IncidentCommand("close", incident_id=target.id, summary=cmd.summary)
        return Accepted(
            cmd.name,
            reply=render.usage_message(f"Closing incident #{target.id} ({target.service})."),
            work=lambda: service.close(sink, close, user=user),
        )

    async def _plan_open(self, cmd: IncidentCommand, *, sink: ThreadSink, user: str,
                         thread_ts: str | None) -> Accepted:
        """`incident open` in a report thread (a /verify, a /trace): make it an incident, explicitly."""
        service = self.service
        if cmd.incident_id is not None:
            thread = await service.db.incident(cmd.incident_id)
            if thread.channel != sink.channel:
                raise NotFoundError(f"#{cmd.incident_id} belongs to another channel")
        elif thread_ts is not None:
            found = await service.incident_for_message(sink.channel, thread_ts)
            if found is None:
                raise UsageError("this thread is not one of opsbot's: start one with `/debug SERVICE`")
            thread = found
        else:
            raise UsageError("which thread? type `@opsbot incident open` in the /verify or /trace thread to make "
                             "an incident of it, or start one with `/debug SERVICE`")
        if thread.status == "open":
            raise UsageError(f"incident #{thread.id} is open already")
        if thread.status == "closed":
            raise UsageError(f"incident #{thread.id} is closed: reopen it with `/incident reopen #{thread.id}`")
        reply = render.usage_message(f"Opening incident #{thread.id} ({thread.service}).")
        return Accepted(cmd.name, reply=reply, work=lambda: service.open_report(sink, thread, user=user))

    def start(self, accepted: Accepted, *, sink: ThreadSink, user: str, thread_ts: str | None = None) -> None:
        """Start the accepted work in the background (call after acknowledging)."""
        if accepted.work is not None:
            self.service.spawn(accepted.work(), sink=sink, user=user, command=accepted.command, thread_ts=thread_ts)

    # --- interactions: checklist ticks and next-step buttons ---------------------------------------

    async def _incident_of(self, body: dict[str, Any], sink: ThreadSink, user: str) -> tuple[Incident, str | None]:
        """The incident a message belongs to, and why this person may not act on it (None: they may)."""
        incident = await self.service.incident_for_message(sink.channel, message_ts(body))
        if incident is None:
            raise NotFoundError("this message belongs to no incident opsbot knows about")
        refusal = check_access(self.settings.access, channel=sink.channel, user=user, namespace=incident.namespace)
        return incident, refusal

    async def accept_tick(self, body: dict[str, Any], *, sink: ThreadSink) -> Accepted:
        """A checklist checkbox interaction: which items it ticked or unticked, committed to the store
        here (before the acknowledgement); only showing them is left as work. Never raises."""
        return await self._accept_action("tick", body, sink, self._plan_tick)

    async def accept_next_step(self, body: dict[str, Any], *, sink: ThreadSink) -> Accepted:
        """A next-step button press: the read-only follow-up it names; never raises."""
        return await self._accept_action("next-step", body, sink, self._plan_next_step)

    async def _plan_tick(self, incident: Incident, action: dict[str, Any], body: dict[str, Any], sink: ThreadSink,
                         user: str) -> Accepted:
        stored = await self.service.checklist(incident.id)
        changes = checklist_changes(action, (body.get("message") or {}).get("blocks"), stored)
        # durable before acknowledged: the tick is committed here, before the 200 goes out; only
        # showing it (chat.update) waits for after
        generation = await self.service.record_ticks(incident, changes, user=user)
        return Accepted("tick", work=lambda: self.service.show_ticks(sink, incident, generation))

    async def _plan_next_step(self, incident: Incident, action: dict[str, Any], body: dict[str, Any],
                              sink: ThreadSink, user: str) -> Accepted:
        next_action = render.parse_next_action(str(action.get("value", "")))
        self._check_offered(incident, next_action)
        return Accepted("next-step", work=lambda: self.service.press(sink, incident, next_action, user=user))

    def _check_offered(self, incident: Incident, action: NextAction) -> None:
        """A button's value comes back from the client, where it can be edited: it may only look where
        the incident does (its namespace; for CI, the repositories of its service and request path),
        whatever namespace or repository the value names. Access was checked for the incident's."""
        if action.namespace != incident.namespace:
            raise UsageError(f"this button does not belong to incident #{incident.id} (namespace "
                             f"{incident.namespace}): nothing was run")
        if action.repo is not None:
            settings = self.settings
            services = [incident.service, *settings.service(incident.service).request_path]
            repos = {settings.service(name).repo for name in services}
            if action.repo not in repos:
                raise UsageError(f"this button names a repository incident #{incident.id} does not build from: "
                                 "nothing was run")

    async def _accept_action(self, name: str, body: dict[str, Any], sink: ThreadSink, plan: Any) -> Accepted:
        action = (body.get("actions") or [{}])[0]
        user = str((body.get("user") or {}).get("id", ""))
        try:
            incident, refusal = await self._incident_of(body, sink, user)
            if refusal is not None:
                return _answered(Accepted(name, reply=render.usage_message(refusal), outcome="denied"))
            _refuse_closed(incident)
            accepted: Accepted = await plan(incident, action, body, sink, user)
            return accepted
        except OpsbotError as exc:
            return _answered(Accepted(name, reply=render.usage_message(str(exc)), outcome=exc.kind))
        except Exception as exc:
            log.exception("accepting %s failed", name)
            return _answered(Accepted(name, reply=render.usage_message(error_text(exc)), outcome="internal"))


def _refuse_closed(incident: Incident | None) -> None:
    """Nothing runs in, and nothing edits, a closed incident's thread: the person is told how to reopen it."""
    if incident is not None and incident.status == "closed":
        raise UsageError(f"incident #{incident.id} is closed: reopen it with `@opsbot incident reopen` in this thread "
                         f"(or `/incident reopen #{incident.id}`), or start a new one with `/debug` in the channel")


def _answered(accepted: Accepted) -> Accepted:
    """An answer that ends the request here (no work follows): counted now."""
    COMMANDS.labels(command=accepted.command, outcome=accepted.outcome).inc()
    return accepted

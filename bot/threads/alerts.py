"""Alerts into incident threads, after the webhook was acknowledged.

Each routed alert names a service and a channel. The first firing alert of a service opens its
incident thread there and runs /debug in it (or finds the open incident); the alerts that follow land
in that thread: one line per new alert (by fingerprint), nothing for a repeat, a line when one
resolves. When every alert of the incident has resolved, a quiet recheck runs the debug playbook; if
it finds nothing wrong any more, the thread offers a Close button.

Two webhooks for the same service at once must not open two threads: one lock per (channel, service, namespace)
covers finding or opening the incident. A storm must stay inside Slack's rate limits: lines wait in
a per-thread batch, and every post to a channel from here (the debug run's included) takes a token
from that channel's bucket (a short burst, then one post per `alerts.batch_seconds`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.alertmanager import Alert, Target, describe, when_tag
from bot.commands import ServiceCommand
from bot.config import Settings
from bot.errors import OpsbotError
from bot.models import (
    BOT_USER,
    SEVERITY_ORDER,
    FileSnippet,
    Incident,
    Message,
    Report,
    Severity,
    TimelineEntry,
)
from bot.redact import redact
from bot.render.alerts import (
    AlertChange,
    alert_lines_message,
    close_offer_message,
    fired_again_message,
    still_wrong_message,
    truncated_message,
    unrouted_message,
)
from bot.render.text import clip
from bot.threads.service import IncidentService
from bot.threads.sink import ThreadSink

log = logging.getLogger(__name__)

ALERT_USER = "alertmanager"  # `by` of what alerts did: opened a thread, fired, resolved
MAX_TOLD = 10_000  # fingerprints of unrouted alerts already said in their channel (oldest forgotten first)
TRUNCATED_EVERY = 3600.0  # seconds between two "Alertmanager left alerts out" lines for one group
BURST = 5  # posts a channel takes at once before the pace applies (Slack lets short bursts pass)
_ENTRY = re.compile(r"^(firing|resolved) .* \[fp ([0-9A-Za-z]+)\]$", re.DOTALL)


class ChannelPace:
    """A token bucket per channel: `BURST` posts at once, then one per `interval` seconds."""

    def __init__(self, interval: float, burst: int = BURST, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._at: float | None = None
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def take(self) -> None:
        async with self._lock:  # in turn: the first to wait is the first to post
            now = self._now()
            if self._at is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._at) / self.interval)
            self._at = now
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) * self.interval)
                self._tokens, self._at = 1.0, self._now()
            self._tokens -= 1


class PacedSink:
    """A `ThreadSink` whose posts wait for their channel's pace (updates and files do not: chat.update
    is Tier 3, and a file follows the post it belongs to)."""

    def __init__(self, inner: ThreadSink, pace: ChannelPace) -> None:
        self.inner = inner
        self.pace = pace
        self.channel = inner.channel

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        await self.pace.take()
        return await self.inner.post(message, thread_ts=thread_ts)

    async def update(self, ts: str, message: Message) -> None:
        await self.inner.update(ts, message)

    async def upload(self, snippet: FileSnippet, *, thread_ts: str) -> None:
        await self.inner.upload(snippet, thread_ts=thread_ts)

    async def notify(self, user: str, message: Message, *, thread_ts: str | None = None) -> None:
        await self.inner.notify(user, message, thread_ts=thread_ts)


@dataclass
class AlertThread:
    """What the desk knows of one incident's alerts; rebuilt from the timeline after a restart."""

    incident: Incident
    firing: set[str] = field(default_factory=set)  # fingerprints firing now
    seen: set[str] = field(default_factory=set)  # every fingerprint that fired here
    pending: list[AlertChange] = field(default_factory=list)  # lines not posted yet
    flushing: asyncio.Task[None] | None = None

    def changes(self, alerts: list[Alert]) -> list[AlertChange]:
        """The lines these alerts make: a new (or re-firing) fingerprint, or one that resolved.
        Repeats of what is known say nothing."""
        out: list[AlertChange] = []
        for alert in alerts:
            fp = alert.fingerprint
            if alert.status == "firing":
                if fp not in self.firing:
                    self.firing.add(fp)
                    self.seen.add(fp)
                    out.append(("firing", alert))
            elif fp in self.firing:
                self.firing.discard(fp)
                out.append(("resolved", alert))
        return out

    def restore(self, entries: list[tuple[str, str]]) -> None:
        """Replay the timeline's alert entries ((status, fingerprint), oldest first)."""
        for status, fp in entries:
            if status == "firing":
                self.seen.add(fp)
                self.firing.add(fp)
            else:
                self.firing.discard(fp)


def timeline_text(status: str, alert: Alert) -> str:
    """The timeline entry of an alert line: when the alert itself says it started (or ended), for the
    impact window; ends with its fingerprint, read back by `restore`."""
    return f"{status} {clip(redact(describe(alert)), 600)}{when_tag(status, alert)} [fp {alert.fingerprint}]"


def findings_stopped(report: Report) -> tuple[bool, str]:
    """Whether a recheck finds the service healthy: every pod ready and no error-or-worse finding.
    With a one-line account of what it saw."""
    serious = [f for f in report.findings if SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[Severity.ERROR]]
    ready = sum(p.ready for p in report.pods)
    pods = f"{ready}/{len(report.pods)} pods ready"
    if report.errors:
        return False, f"{pods}; the recheck could not finish: {report.errors[0].message}"
    if serious:
        top = serious[0]
        return False, f"{pods}; {len(serious)} finding(s), first: {top.title} x{top.count}"
    if not report.pods or ready < len(report.pods):
        return False, f"{pods}"
    return True, f"{pods}, no error in the logs"


def _key(target: Target) -> tuple[str, str, str]:
    """One incident thread per service *and namespace* in a channel: `api` of two teams' namespaces
    are two incidents."""
    return target.channel, target.service, target.namespace


class AlertDesk:
    """Lands routed alerts in incident threads. One per process, beside the `IncidentService`."""

    def __init__(self, service: IncidentService, settings: Settings, sink_for: Callable[[str], ThreadSink]) -> None:
        self.service = service
        self.settings = settings
        self._sink_for = sink_for
        self._sinks: dict[str, PacedSink] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._threads: dict[tuple[str, str, str], AlertThread] = {}
        self._told: dict[str, None] = {}  # unrouted fingerprints said while they fire (insertion order)
        self._cut: dict[str, float] = {}  # group key -> when its truncation was last said (loop time)

    def sink(self, channel: str) -> PacedSink:
        if channel not in self._sinks:
            self._sinks[channel] = PacedSink(self._sink_for(channel),
                                             ChannelPace(self.settings.alerts.batch_seconds))
        return self._sinks[channel]

    def receive(self, groups: dict[Target, list[Alert]]) -> None:
        """Start landing each target's alerts in the background (call after acknowledging)."""
        for target, alerts in groups.items():
            sink = self.sink(target.channel)
            self.service.spawn(self._land(target, alerts), sink=sink, user=ALERT_USER, command="alert", count=False)

    def unrouted(self, channel: str, alerts: list[Alert]) -> None:
        """Alerts that name no service: one line in the channel for those that newly fire, so that no
        alert goes unseen (a repeat says nothing; one that resolved and fires again is said again)."""
        new: list[Alert] = []
        for alert in alerts:
            if alert.status == "resolved":
                self._told.pop(alert.fingerprint, None)
            elif alert.fingerprint not in self._told:
                self._told[alert.fingerprint] = None
                new.append(alert)
        while len(self._told) > MAX_TOLD:
            del self._told[next(iter(self._told))]
        if new:
            sink = self.sink(channel)
            message = unrouted_message(new, self.settings.alerts.service_labels)
            self.service.spawn(sink.post(message), sink=sink, user=ALERT_USER, command="alert", count=False)

    def truncated(self, channel: str, group_key: str, left_out: int, shown: int) -> None:
        """A notification Alertmanager cut short: said in the channel, once an hour per group (it resends
        the group every group_interval while it changes)."""
        now = asyncio.get_running_loop().time()
        if now - self._cut.get(group_key, -TRUNCATED_EVERY) < TRUNCATED_EVERY:
            return
        self._cut[group_key] = now
        while len(self._cut) > MAX_TOLD:
            del self._cut[next(iter(self._cut))]
        sink = self.sink(channel)
        self.service.spawn(sink.post(truncated_message(left_out, shown)), sink=sink, user=ALERT_USER,
                           command="alert", count=False)

    async def _land(self, target: Target, alerts: list[Alert]) -> None:
        try:
            async with self._locks.setdefault(_key(target), asyncio.Lock()):
                thread = await self._thread_for(target, opening=any(a.status == "firing" for a in alerts))
                if thread is None:
                    await self._resolved_after_close(target, alerts)
                    return
                changes = thread.changes(alerts)
                if not changes:
                    return
                await self.service.db.add_timeline_many(
                    thread.incident.id, [("alert", timeline_text(status, a), ALERT_USER) for status, a in changes])
                thread.pending.extend(changes)
                if thread.flushing is None or thread.flushing.done():
                    thread.flushing = asyncio.create_task(self._flush(target, thread))
                    self.service.tasks.add(thread.flushing)  # drained and awaited at shutdown like the rest
                    thread.flushing.add_done_callback(self.service.tasks.discard)
        except OpsbotError as exc:
            log.warning("alerts for %s in %s: %s", target.service, target.channel, exc)
        except Exception:
            log.exception("alerts for %s in %s failed", target.service, target.channel)

    async def _restored(self, incident: Incident) -> tuple[AlertThread, list[TimelineEntry]]:
        """The incident's alert state as its timeline tells it (after a restart, or once closed)."""
        thread = AlertThread(incident)
        entries = await self.service.db.timeline(incident.id)
        thread.restore([(m.group(1), m.group(2)) for e in entries if e.kind == "alert" and (m := _ENTRY.match(e.text))])
        return thread, entries

    async def _resolved_after_close(self, target: Target, alerts: list[Alert]) -> None:
        """Alerts that resolve after their incident was closed: into its timeline (its postmortem's
        impact window then ends when they did) and a line in its thread; no recheck, no Close offer."""
        closed = next((i for i in await self.service.db.list_incidents(channel=target.channel, status="closed")
                       if (i.service, i.namespace) == (target.service, target.namespace)), None)
        if closed is None:
            return
        thread, _ = await self._restored(closed)
        changes = thread.changes(alerts)
        if not changes:
            return
        await self.service.db.add_timeline_many(
            closed.id, [("alert", timeline_text(status, a), ALERT_USER) for status, a in changes])
        await self.sink(target.channel).post(alert_lines_message(changes), thread_ts=closed.thread_ts)

    async def _thread_for(self, target: Target, *, opening: bool) -> AlertThread | None:
        """The open incident of the service in the channel (memory, then the store), or a new one
        opened by a /debug run when `opening`; None for resolved alerts of no open incident."""
        key = _key(target)
        known = self._threads.get(key)
        if known is not None:
            current = await self.service.db.incident(known.incident.id)
            if current.status == "open":
                return known
            del self._threads[key]
        open_here = await self.service.db.list_incidents(channel=target.channel, status="open")
        found = next((i for i in open_here if (i.service, i.namespace) == (target.service, target.namespace)), None)
        if found is not None:
            thread, entries = await self._restored(found)
            if opening and not any(e.kind == "debug" for e in entries):
                self._debug(target, thread_ts=found.thread_ts)  # found, never debugged: run it there
        elif opening:
            previous = next((i for i in await self.service.db.list_incidents(channel=target.channel, status="closed")
                             if (i.service, i.namespace) == (target.service, target.namespace)), None)
            incident = await self._open(target)
            if incident is None:
                return None
            thread = AlertThread(incident)
            if previous is not None:  # a new thread, which says where the last one is
                await self.service.db.add_timeline(incident.id, "related",
                                                   f"follows incident #{previous.id}, closed", by=BOT_USER)
                await self.sink(target.channel).post(fired_again_message(previous), thread_ts=incident.thread_ts)
        else:
            return None
        self._threads[key] = thread
        return thread

    async def _open(self, target: Target) -> Incident | None:
        """Start /debug for the service in a new thread; the incident as soon as it is open (the run
        goes on in the background), None when the run ended without opening one."""
        opened: asyncio.Future[Incident | None] = asyncio.get_running_loop().create_future()

        async def on_open(incident: Incident) -> None:
            if not opened.done():
                opened.set_result(incident)

        self._debug(target, on_open=on_open, done=opened)
        return await opened

    def _debug(self, target: Target, *, thread_ts: str | None = None,
               on_open: Callable[[Incident], Awaitable[None]] | None = None,
               done: asyncio.Future[Incident | None] | None = None) -> None:
        sink = self.sink(target.channel)
        cmd = ServiceCommand(service=target.service, namespace=target.namespace, playbook="debug")

        async def run() -> None:
            try:
                await self.service.run_playbook(sink, cmd, namespace=target.namespace,
                                                context=self.settings.kubernetes.context, user=ALERT_USER,
                                                thread_ts=thread_ts, on_open=on_open)
            finally:
                if done is not None and not done.done():
                    done.set_result(None)

        self.service.spawn(run(), sink=sink, user=ALERT_USER, command="debug", thread_ts=thread_ts)

    async def _flush(self, target: Target, thread: AlertThread) -> None:
        """Post the thread's pending lines as one message when the channel's pace allows (lines that
        arrive meanwhile join it); then, when every alert resolved, recheck."""
        sink = self.sink(target.channel)
        try:
            while thread.pending:
                await sink.pace.take()
                batch, thread.pending = thread.pending, []
                await sink.inner.post(alert_lines_message(batch), thread_ts=thread.incident.thread_ts)
                if not thread.firing and any(status == "resolved" for status, _ in batch):
                    await self._recheck(target, thread)
        except OpsbotError as exc:
            log.warning("alert lines for %s in %s: %s", target.service, target.channel, exc)
        except Exception:
            log.exception("alert lines for %s in %s failed", target.service, target.channel)

    async def _recheck(self, target: Target, thread: AlertThread) -> None:
        """Every alert resolved: did the findings stop too? Offer Close when they did."""
        incident = thread.incident
        cmd = ServiceCommand(service=target.service, namespace=target.namespace, playbook="debug")
        report = await self.service.run_quietly(cmd, namespace=target.namespace, context=incident.context)
        stopped, checked = findings_stopped(report)
        at = datetime.now(UTC)
        await self.service.db.add_timeline(incident.id, "recheck",
                                           f"all alerts resolved by {at:%H:%M:%S} UTC; recheck: {checked}",
                                           by=BOT_USER)
        sink = self.sink(target.channel)
        if stopped:
            ts = await sink.post(close_offer_message(incident, checked=checked), thread_ts=incident.thread_ts)
            await self.service.db.set_message(incident.id, "close_offer", ts)
        else:
            await sink.post(still_wrong_message(checked), thread_ts=incident.thread_ts)

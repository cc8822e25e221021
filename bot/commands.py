"""What people type: slash-command text, app mentions and console lines, parsed strictly.

Pure functions, no I/O: every handler (Slack or terminal) calls `parse_command` and then
`check_access`, so the two front ends accept exactly the same language. Bad input raises
`UsageError` whose message is one line followed by the usage of that command.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.config import AccessSettings, Settings
from bot.errors import UsageError
from bot.inputs import check_correlation_id, check_name, parse_since

DEFAULT_SINCE_SECONDS = 3600  # /trace looks back one hour unless --since says otherwise
# Commands that also work as the first word of a mention or of `/opsbot ...`.
SUBCOMMANDS = ("debug", "verify", "trace", "incident")

# A Slack mention arrives as `<@U012ABC>` or `<@U012ABC|name>`.
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_INCIDENT_REF = re.compile(r"^#(\d{1,9})$")

USAGE: dict[str, str] = {
    "/debug": "/debug SERVICE [-n NAMESPACE] [--cluster NAME]",
    "/verify": "/verify SERVICE [-n NAMESPACE] [--cluster NAME]",
    "/trace": "/trace CORRELATION_ID [-n NAMESPACE] [--since 1h] [--cluster NAME]",
    "/incident": "/incident status | list | close [#ID] [summary]",
    "/opsbot": "/opsbot help",
}

HELP: dict[str, str] = {
    "/debug": "open an incident thread and run the debug playbook on SERVICE",
    "/verify": "check that the latest deployment of SERVICE is healthy and runs the latest build",
    "/trace": "follow one request across services: every log line carrying its correlation id, in time order",
    "/incident": "status of this channel's open incident, the open incidents, or close one with a summary",
    "/opsbot": "this help",
}


@dataclass(frozen=True)
class ServiceCommand:
    """`/debug SERVICE` or `/verify SERVICE`: a playbook run on one service (Deployment)."""

    service: str
    namespace: str | None = None
    cluster: str | None = None
    playbook: Literal["debug", "verify"] = "debug"

    @property
    def name(self) -> str:
        return self.playbook


@dataclass(frozen=True)
class TraceCommand:
    """`/trace CORRELATION_ID`: every log line in the namespace carrying the id, in time order."""

    correlation_id: str
    namespace: str | None = None
    since_seconds: int = DEFAULT_SINCE_SECONDS
    cluster: str | None = None

    @property
    def playbook(self) -> Literal["trace"]:
        return "trace"

    @property
    def name(self) -> str:
        return "trace"


PlaybookCommand = ServiceCommand | TraceCommand


@dataclass(frozen=True)
class IncidentCommand:
    action: Literal["status", "list", "close"]
    incident_id: int | None = None
    summary: str | None = None

    @property
    def name(self) -> str:
        return f"incident-{self.action}"


@dataclass(frozen=True)
class HelpCommand:
    @property
    def name(self) -> str:
        return "help"


Command = ServiceCommand | TraceCommand | IncidentCommand | HelpCommand


def help_text() -> str:
    """The help of every command, one line each (mrkdwn-safe: no `<`, `>` or `&`)."""
    lines = [f"`{USAGE[c]}`  {HELP[c]}" for c in USAGE]
    lines.append(
        "`@opsbot debug SERVICE` (or verify, trace, incident)  the same, from a mention;"
        " inside an incident thread it reuses it"
    )
    return "\n".join(lines)


def _usage(command: str, problem: str) -> UsageError:
    return UsageError(f"{problem}. Usage: {USAGE[command]}")


def _check_name(command: str, what: str, value: str) -> str:
    try:
        return check_name(value, what)
    except UsageError as exc:
        raise _usage(command, str(exc)) from None


@dataclass
class _Target:
    subject: str | None = None
    namespace: str | None = None
    cluster: str | None = None
    since_seconds: int | None = None


def _parse_flags(
    command: str,
    words: list[str],
    clusters: Mapping[str, str],
    *,
    what: str,
    check: Callable[[str], str],
    since: bool = False,
) -> _Target:
    """One positional `what` (checked by `check`) and the flags -n, --cluster (and --since when allowed)."""
    flags = ("-n", "--namespace", "--cluster", "--since") if since else ("-n", "--namespace", "--cluster")
    target = _Target()
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, inline = word.partition("=")
        if flag in flags:
            if eq:
                value = inline
            elif i + 1 < len(words):
                i += 1
                value = words[i]
            else:
                raise _usage(command, f"{flag} needs a value")
            if flag == "--cluster":
                if target.cluster is not None:
                    raise _usage(command, "--cluster given twice")
                target.cluster = value
            elif flag == "--since":
                if target.since_seconds is not None:
                    raise _usage(command, "--since given twice")
                try:
                    target.since_seconds = parse_since(value)
                except UsageError as exc:
                    problem = str(exc) if len(value) <= 40 else f"--since {value[:40]!r}… is not a duration such as 1h"
                    raise _usage(command, problem) from None
            else:
                if target.namespace is not None:
                    raise _usage(command, "-n given twice")
                target.namespace = _check_name(command, "namespace", value)
        elif word.startswith("-"):
            raise _usage(command, f"unknown flag {word[:40]!r}")
        elif target.subject is None:
            try:
                target.subject = check(word)
            except UsageError as exc:
                raise _usage(command, str(exc)) from None
        else:
            raise _usage(command, f"unexpected {word[:40]!r}: one {what} at a time")
        i += 1
    if target.subject is None:
        raise _usage(command, f"which {what}?")
    if target.cluster is not None and target.cluster not in clusters:
        known = ", ".join(sorted(clusters)) or "none are configured"
        raise _usage(command, f"unknown cluster {target.cluster[:40]!r} (known: {known})")
    return target


def _parse_target(command: str, words: list[str], clusters: Mapping[str, str]) -> ServiceCommand:
    target = _parse_flags(command, words, clusters, what="service", check=lambda w: check_name(w, "service"))
    assert target.subject is not None
    playbook: Literal["debug", "verify"] = "verify" if command == "/verify" else "debug"
    return ServiceCommand(service=target.subject, namespace=target.namespace, cluster=target.cluster, playbook=playbook)


def _parse_trace(words: list[str], clusters: Mapping[str, str]) -> TraceCommand:
    target = _parse_flags(
        "/trace", words, clusters, what="correlation id", check=check_correlation_id, since=True
    )
    assert target.subject is not None
    return TraceCommand(
        correlation_id=target.subject,
        namespace=target.namespace,
        since_seconds=target.since_seconds or DEFAULT_SINCE_SECONDS,
        cluster=target.cluster,
    )


def _parse_incident(text: str) -> IncidentCommand:
    action, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if action in ("status", "list"):
        if rest:
            raise _usage("/incident", f"{action} takes no arguments")
        return IncidentCommand(action=action)  # type: ignore[arg-type]
    if action == "close":
        incident_id: int | None = None
        first, _, tail = rest.partition(" ")
        if match := _INCIDENT_REF.match(first):
            incident_id = int(match.group(1))
            rest = tail.strip()
        # Slack sends &, < and > entity-escaped; keep the summary as the person typed it.
        summary = html.unescape(rest)[:500] or None
        return IncidentCommand(action="close", incident_id=incident_id, summary=summary)
    if not action:
        raise _usage("/incident", "status, list or close?")
    raise _usage("/incident", f"unknown subcommand {action[:40]!r}")


def parse_command(command: str, text: str, *, clusters: Mapping[str, str] | None = None) -> Command:
    """Parse the text of a slash command (`/debug`, `/verify`, `/trace`, `/incident`, `/opsbot`)."""
    clusters = clusters or {}
    text = text or ""
    if command in ("/debug", "/verify"):
        return _parse_target(command, text.split(), clusters)
    if command == "/trace":
        return _parse_trace(text.split(), clusters)
    if command == "/incident":
        return _parse_incident(text)
    if command == "/opsbot":
        words = text.split()
        if words in ([], ["help"]):
            return HelpCommand()
        if words[0] in SUBCOMMANDS:
            return parse_command("/" + words[0], text.strip()[len(words[0]) :], clusters=clusters)
        raise _usage("/opsbot", f"unknown subcommand {words[0][:40]!r}")
    raise UsageError(f"unknown command {command[:40]!r}. Try /opsbot help")


def parse_mention(text: str, *, clusters: Mapping[str, str] | None = None) -> Command:
    """Parse an app mention such as `<@U0BOT> debug taskflow-api -n prod`."""
    # Words before the first mention ("hey @opsbot debug x") are chatter, not the command.
    parts = _MENTION.split(text or "")
    words = " ".join(parts[1:] if len(parts) > 1 else parts).split()
    if not words or words[0] == "help":
        return HelpCommand()
    head, rest = words[0], " ".join(words[1:])
    if head in SUBCOMMANDS:
        return parse_command("/" + head, rest, clusters=clusters)
    raise UsageError(
        f"unknown command {head[:40]!r}."
        " Try: debug SERVICE, verify SERVICE, trace CORRELATION_ID, incident status, help"
    )


def check_access(access: AccessSettings, *, channel: str, user: str, namespace: str | None = None) -> str | None:
    """Why this person may not run this here, as one line; None when allowed.

    Empty lists mean everyone / everywhere; a channel listed in `namespaces` may only touch those."""
    if access.channels and channel not in access.channels:
        return "opsbot does not run commands in this channel (ask an admin to add it to access.channels)"
    if access.users and user not in access.users:
        return "you are not allowed to run opsbot commands (ask an admin to add you to access.users)"
    if namespace is not None and channel in access.namespaces and namespace not in access.namespaces[channel]:
        allowed = ", ".join(access.namespaces[channel]) or "none"
        return f"this channel may not look into namespace {namespace} (allowed: {allowed})"
    return None


def resolve_target(settings: Settings, cmd: PlaybookCommand) -> tuple[str, str | None]:
    """The namespace and kubeconfig context a debug/verify/trace command will use (and is authorized for).

    A trace has no service to look up in the catalogue: -n, else the configured default namespace."""
    if isinstance(cmd, TraceCommand):
        namespace = cmd.namespace or settings.kubernetes.namespace
    else:
        namespace = settings.namespace_for(cmd.service, cmd.namespace)
    context = settings.kubernetes.clusters[cmd.cluster] if cmd.cluster else settings.kubernetes.context
    return namespace, context

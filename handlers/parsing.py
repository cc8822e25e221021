"""What people type: slash-command text, app mentions and console lines, parsed strictly.

Pure functions, no I/O: the Slack listeners and the console both parse with these, so the two
front ends accept exactly the same language. Bad input raises `UsageError` whose message is one
line followed by the usage of that command.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.commands import (
    DEFAULT_SINCE_SECONDS,
    SUBCOMMANDS,
    USAGE,
    Command,
    HelpCommand,
    IncidentCommand,
    RunsCommand,
    ServiceCommand,
    TraceCommand,
)
from bot.errors import UsageError
from bot.inputs import check_correlation_id, check_name, parse_since

# A Slack mention arrives as `<@U012ABC>` or `<@U012ABC|name>`.
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_INCIDENT_REF = re.compile(r"^#(\d{1,9})$")


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


MAX_NOTE = 12_000  # characters: what one thread message shows whole (4 sections); Slack caps the command's text
MAX_SUMMARY = 2_500  # characters of a close summary (one section)


def _bounded(text: str, limit: int, what: str, hint: str) -> str:
    """Text a person typed, whole, or a usage error naming the limit: never silently cut."""
    if len(text) > limit:
        raise _usage("/incident", f"{what} is {len(text):,} characters; the limit is {limit:,}: {hint}")
    return text


def _parse_incident(text: str) -> IncidentCommand:
    action, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if action in ("status", "list"):
        if rest:
            raise _usage("/incident", f"{action} takes no arguments")
        return IncidentCommand(action=action)  # type: ignore[arg-type]
    if action in ("reopen", "snapshot", "open"):
        match = _INCIDENT_REF.match(rest)
        if rest and (match is None or match.end() != len(rest)):
            raise _usage("/incident", f"{action} takes an incident id, e.g. #12")
        return IncidentCommand(action=action, incident_id=int(match.group(1)) if match else None)  # type: ignore[arg-type]
    if action == "close":
        incident_id: int | None = None
        first, _, tail = rest.partition(" ")
        if match := _INCIDENT_REF.match(first):
            incident_id = int(match.group(1))
            rest = tail.strip()
        # Slack sends &, < and > entity-escaped; keep the summary as the person typed it, all of it.
        summary = _bounded(html.unescape(rest), MAX_SUMMARY, "the close summary",
                           "shorten it and add the rest with /incident note") or None
        return IncidentCommand(action="close", incident_id=incident_id, summary=summary)
    if action == "note":
        note_id: int | None = None
        first, _, tail = rest.partition(" ")
        if match := _INCIDENT_REF.match(first):
            note_id = int(match.group(1))
            rest = tail.strip()
        if not rest:
            raise _usage("/incident", "note needs the text to add to the timeline")
        note = _bounded(html.unescape(rest), MAX_NOTE, "a note", "split it into several notes")
        return IncidentCommand(action="note", incident_id=note_id, note=note)
    if not action:
        raise _usage("/incident", "status, list, close, reopen, note or snapshot?")
    raise _usage("/incident", f"unknown subcommand {action[:40]!r}")


def _parse_runs(text: str) -> RunsCommand:
    words = text.split()
    if not words:
        raise _usage("/runs", "which service?")
    watch = words[1:] == ["watch"]
    if len(words) > 2 or (len(words) == 2 and not watch):
        raise _usage("/runs", f"unexpected {' '.join(words[1:])[:40]!r}: only `watch` may follow the service")
    return RunsCommand(service=_check_name("/runs", "service", words[0]), watch=watch)


SLASH_COMMANDS = ("/debug", "/verify", "/trace", "/incident", "/runs")


def parse_command(command: str, text: str, *, clusters: Mapping[str, str] | None = None) -> Command:
    """Parse the text of a slash command (`/debug`, `/verify`, `/trace`, `/incident`, `/runs`, `/opsbot`)."""
    clusters = clusters or {}
    text = text or ""
    if command in SLASH_COMMANDS and text.strip().lower() in ("help", "-h", "--help", "?"):
        return HelpCommand()  # not a service called "help"
    if command in ("/debug", "/verify"):
        return _parse_target(command, text.split(), clusters)
    if command == "/trace":
        return _parse_trace(text.split(), clusters)
    if command == "/incident":
        return _parse_incident(text)
    if command == "/runs":
        return _parse_runs(text)
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

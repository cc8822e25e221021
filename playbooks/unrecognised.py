"""Unrecognised errors as findings: error events no row of the pattern table explains, grouped by
signature across pods and containers, reported with their count, where, when, a sample and the
innermost frame, so that an error outside the table is never an all-clear."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import methodcaller
from typing import BinaryIO, NamedTuple
from weakref import WeakKeyDictionary

from bot.models import SEVERITY_ORDER, Finding, LogSnapshot, NextCommand, Severity
from playbooks import blockscan, fastscan
from playbooks.next_steps import next_command
from playbooks.patterns import Pattern, PatternTable
from playbooks.signatures import (
    SPAN,
    ErrorEvent,
    SignatureClusters,
    events_before,
    find_events,
    signature_id,
    trigger_scanner,
)

MAX_EVIDENCE = 5
_WORD = re.compile(r"[A-Za-z_][\w.$]{3,}")


@dataclass
class _Signature:
    severity: Severity
    kind: str
    count: int = 0
    pods: dict[str, None] = field(default_factory=dict)  # ordered sets
    containers: dict[str, None] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str = ""
    frame: str | None = None
    where: tuple[str, str, bool] | None = None  # (pod, container, previous) of the first event
    evidence: list[str] = field(default_factory=list)

    def add(self, event: ErrorEvent, snap: LogSnapshot, at: datetime | None) -> None:
        self.count += 1
        self.pods.setdefault(snap.pod)
        self.containers.setdefault(snap.container)
        if SEVERITY_ORDER[event.severity] < SEVERITY_ORDER[self.severity]:
            self.severity = event.severity
        if at is not None:
            self.first_seen = at if self.first_seen is None else min(self.first_seen, at)
            self.last_seen = at if self.last_seen is None else max(self.last_seen, at)
        if not self.sample:
            self.sample, self.frame = event.head, event.frame
            self.where = (snap.pod, snap.container, snap.previous)
        label = f"{snap.pod}/{snap.container}" + (" (previous)" if snap.previous else "")
        if len(self.evidence) < MAX_EVIDENCE and not any(e.startswith(label + ":") for e in self.evidence):
            self.evidence.append(f"{label}: {_short(event.head)}")


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UnrecognisedErrors:
    """Collects the error events of many logs, then reports one finding per signature."""

    def __init__(self) -> None:
        self._clusters = SignatureClusters()
        self._groups: dict[str, _Signature] = {}

    def add_log(self, snap: LogSnapshot, explained: set[int], *, encoded: bytes | None = None) -> None:
        """The events of one container's log; `explained`: indexes of lines a pattern row matched;
        `encoded`: `fastscan.encode` of its lines, when the caller has it."""
        texts = [line.text for line in snap.lines]
        for event in find_events(texts, explained, encoded=encoded):
            key = self._clusters.key(event)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Signature(severity=event.severity, kind=event.kind)
            group.add(event, snap, snap.lines[event.start].ts)

    def findings(self, *, namespace: str) -> list[Finding]:
        out = []
        for key, group in self._groups.items():
            signature = self._clusters.template(key)
            out.append(_finding(signature, group, namespace=namespace))
        out.sort(key=lambda f: (SEVERITY_ORDER[f.severity], -f.count))
        return out


def _finding(signature: str, group: _Signature, *, namespace: str) -> Finding:
    what = signature.split(" @ ", 1)[0]
    pods, containers = list(group.pods), list(group.containers)
    where = f"{len(pods)} pod{'s' if len(pods) != 1 else ''}"
    frame = f"; innermost frame {group.frame}" if group.frame else ""
    commands: list[NextCommand] = []
    if group.where is not None:
        pod, container, previous = group.where
        words = _WORD.findall(group.sample)
        needle = max(words, key=len) if words else ""
        base = f"kubectl logs {pod} -c {container} -n {namespace}" + (" --previous" if previous else "")
        for command in (f"{base} --tail=500", f"{base} --tail=2000 | grep -n -F -A 20 '{needle}'" if needle else ""):
            built = next_command(command, namespace=namespace, pod=pod, container=container, restarted=previous) \
                if command else None
            if built is not None:
                commands.append(built)
    return Finding(
        pattern=signature_id(signature),
        title=f"Unrecognised error: {_short(what, 120)}",
        severity=group.severity,
        count=group.count,
        pods=pods,
        containers=containers,
        first_seen=group.first_seen,
        last_seen=group.last_seen,
        sample=group.sample,
        cause=(f"An error ({group.kind}) that no row of the bug-pattern table explains, logged {group.count} "
               f"time{'s' if group.count != 1 else ''} in {where} ({', '.join(containers)}){frame}. Its cause is "
               "not known to opsbot: read the sample and the lines around it."),
        fix=("Read the event whole (the next command shows it with its stack); once its cause is known, add a row "
             "to your own patterns file (patterns_files) so that the next incident names it."),
        evidence=group.evidence,
        next_commands=commands,
        signature=signature,
        frame=group.frame,
    )


def unrecognised_findings(logs: Sequence[tuple[LogSnapshot, set[int]]], *, namespace: str) -> list[Finding]:
    """One finding per signature over (log, indexes of its lines the table explained) pairs."""
    errors = UnrecognisedErrors()
    for snap, explained in logs:
        errors.add_log(snap, explained)
    return errors.findings(namespace=namespace)


class LineVerdict(NamedTuple):
    """What `opsbot patterns match` says of one line or event: the row it matched, or its signature."""

    line: int  # 1-based; an event's first line
    pattern: str | None
    signature: str | None
    text: str


def _without_newlines(lines: Sequence[str]) -> list[str]:
    """Lines as read from a file, without their line breaks (one C-speed split, not a loop)."""
    joined = "".join(lines)
    breaks = joined.count("\n")
    if breaks == 0:
        texts = list(lines)
    elif breaks == sum(map(methodcaller("endswith", "\n"), lines)) and breaks >= len(lines) - 1:
        texts = joined.split("\n")  # every break ends a line: splitting the whole gives the same lines
        if joined.endswith("\n"):
            texts.pop()
    else:
        return [line.rstrip("\r\n") for line in lines]  # a line holds a break of its own
    return [text.rstrip("\r") for text in texts] if "\r" in joined else texts


def classify_lines(table: PatternTable, lines: Sequence[str]) -> list[LineVerdict]:
    """Every line a row matches, and every other error event as an unrecognised signature, in order."""
    texts = _without_newlines(lines)
    # a big log is encoded once for the two hyperscan passes (rows, then error events)
    encoded = fastscan.encode(texts) if fastscan.available() and len(texts) > 1000 and \
        sum(map(len, texts)) >= fastscan.MIN_BYTES else None
    rows = table.classify_hits(texts, "log", encoded=encoded)
    out = [LineVerdict(index + 1, pattern.id, None, texts[index]) for index, pattern in rows.items()]
    matched = set(rows)
    clusters = SignatureClusters()
    events = [(event, clusters.key(event)) for event in find_events(texts, matched, encoded=encoded)]
    out += [LineVerdict(event.start + 1, None, clusters.template(key), event.head) for event, key in events]
    out.sort(key=lambda verdict: verdict.line)
    return out


# --- a log of any size, read in blocks ---------------------------------------------------------

BLOCK = 4 << 20  # bytes read at a time: memory stays flat in the size of the log
# line breaks of str.splitlines other than "\n" and "\r\n": `in` finds a byte at GB/s, where a regex
# reading bytes runs at ~50 MB/s; the ones outside ASCII (\x85, \u2028, \u2029 in UTF-8) are looked
# for in the few runs of non-ASCII bytes only
_ODD_BYTES = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_ODD_WIDE = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
_Runs = list[tuple[int, int]]


def _flattened(data: bytes) -> tuple[bytes, _Runs] | None:
    """The window with its CRLF line ends made LF (the same lines) and where its runs of non-ASCII
    bytes are; None when it holds another line break than "\n" (the exact path of str.splitlines
    takes those)."""
    if b"\r" in data:
        if data.count(b"\r") != data.count(b"\r\n"):
            return None
        data = data.replace(b"\r\n", b"\n")
    if any(odd in data for odd in _ODD_BYTES):
        return None
    runs = fastscan.non_ascii_runs(data) if not data.isascii() else []
    if any(odd in data[max(start - 2, 0):end + 2] for start, end in runs for odd in _ODD_WIDE):
        return None
    return data, runs


class _Window(NamedTuple):
    data: bytes  # whole lines joined by "\n", without the line break after the last one
    cut: int  # where its last SPAN lines start: they are reported with the next window
    last: bool
    ended: bool  # a line break followed `data` in the log


def _windows(stream: BinaryIO, size: int, keep: int) -> Iterator[_Window]:
    """The log as windows: the last `keep` lines of the one before, then the whole lines of the next
    block. A block is copied once (a window joins the carried lines and a view of the block)."""
    carry = b""  # the lines carried from the window before and the start of a line cut by a block's end
    chunk = stream.read(size)
    while chunk:
        following = stream.read(size)
        end = chunk.rfind(b"\n") if following else len(chunk)
        if end < 0:  # a line longer than a block: read on
            carry += chunk
            chunk = following
            continue
        data = b"".join((carry, memoryview(chunk)[:end]))
        ended = end < len(chunk)  # (a final line break of the log ends its last line)
        if not following:
            ended = data.endswith(b"\n")
            data = data[:-1] if ended else data
            yield _Window(data, len(data), True, ended)
            return
        cut = _carry_cut(data, keep)
        yield _Window(data, cut, False, True)
        carry = b"".join((memoryview(data)[cut:], b"\n", memoryview(chunk)[end + 1:]))
        chunk = following


def _carry_cut(data: bytes, keep: int) -> int:
    """Where the last `keep` lines of the window start (0 when it holds no more than that)."""
    at = len(data)
    for _ in range(keep):
        at = data.rfind(b"\n", 0, at)
        if at < 0:
            return 0
    return at + 1


_Scanners = tuple[fastscan.LineScanner, fastscan.LineScanner, fastscan.LineScanner]
_UNIONS: WeakKeyDictionary[PatternTable, _Scanners] = WeakKeyDictionary()


def _scanners(table: PatternTable) -> _Scanners | None:
    """The table's scanner of log lines, the triggers' scanner, and their union (built once a table)."""
    if table not in _UNIONS:
        rows, triggers = table.fast_scanner("log"), trigger_scanner()
        if rows is None or triggers is None:
            return None
        _UNIONS[table] = (rows, triggers, fastscan.LineScanner.union([rows, triggers]))
    return _UNIONS[table]


class _Scanned(NamedTuple):
    lines: Sequence[str]
    rows: dict[int, Pattern]  # line index: the row it matched
    stop: int  # the lines before it are this window's own; the rest come again with the next
    encoded: bytes | None = None  # the lines as one buffer, for events_before's hyperscan pass
    triggered: list[int] | None = None  # the lines holding a trigger, when the scan found them


def _scan_window(table: PatternTable, window: _Window, hyperscan: bool) -> _Scanned:
    """The rows matched in one window, by the fastest path that gives the line-by-line answer."""
    flat = _flattened(window.data)
    if flat is not None:
        data, runs = flat
        mark = window.cut - window.data.count(b"\r", 0, window.cut) if len(data) != len(window.data) else window.cut
        scanners = _scanners(table) if hyperscan and fastscan.available() else None
        if scanners is not None:
            lines = fastscan.LazyLines(data)
            # one pass of hyperscan for the table and the triggers, one count of lines for all
            marks = lines.prescan(scanners[:2], scanners[2], [mark, *(start for start, _ in runs)])
            lines.note_non_ascii(marks[1:], [start for start, _ in runs])
            stop = len(lines) if window.last else marks[0]
            return _Scanned(lines, table.classify_view(lines, "log", encoded=data), stop, data)
        matcher = blockscan.for_table(table, size=len(data))
        if matcher.exact:  # no hyperscan: two Aho-Corasick passes over the bytes
            lazy, rows, triggered, stop = matcher.scan(data, None if window.last else mark, runs)
            return _Scanned(lazy, rows, stop, None, triggered)
    text = window.data + b"\n" if window.ended else window.data
    cut = len(text) if window.last else window.cut
    head = text[:cut].decode("utf-8", "replace").splitlines()
    texts = head + text[cut:].decode("utf-8", "replace").splitlines()
    encoded = fastscan.encode(texts) if hyperscan and fastscan.available() and len(text) >= fastscan.MIN_BYTES \
        else None
    return _Scanned(texts, table.classify_hits(texts, "log", encoded=encoded), len(head), encoded)


def classify_stream(table: PatternTable, stream: BinaryIO, *, block: int = BLOCK,
                    hyperscan: bool = True) -> list[LineVerdict]:
    """`classify_lines` of the lines of a byte stream (UTF-8, bad bytes replaced, split as
    `str.splitlines` does), read a block at a time: the same verdicts, in memory that does not grow
    with the log (only the verdicts are kept). Each window is a block and the last SPAN lines of the
    one before, so an event that starts near a block's end is seen whole; a window's last SPAN lines
    are reported with the next one. A window is scanned as bytes (hyperscan where it is installed,
    else `blockscan`): only the lines a scan reports (and those holding non-ASCII characters, which
    take the exact path) are decoded. `hyperscan=False`: `blockscan`, as where hyperscan is not installed."""
    clusters = SignatureClusters()
    rows: list[LineVerdict] = []
    found_events: list[tuple[ErrorEvent, str]] = []
    base = 0  # the number (0-based) of the window's first line in the log
    covered = -1  # where the last event seen ends, in line numbers of the log
    for window in _windows(stream, block, SPAN):
        scanned = _scan_window(table, window, hyperscan)
        lines, stop = scanned.lines, scanned.stop
        if not lines:
            continue
        matched = set(scanned.rows)
        for index in sorted(matched):
            if index < stop:
                rows.append(LineVerdict(base + index + 1, scanned.rows[index].id, None, lines[index]))
        events, end = events_before(lines, matched, encoded=scanned.encoded, stop=None if window.last else stop,
                                    covered=covered - base, candidates=scanned.triggered)
        covered = max(covered, base + end)
        for event in events:
            found_events.append((replace(event, start=base + event.start, end=base + event.end),
                                 clusters.key(event)))
        base += stop
    out = rows + [LineVerdict(event.start + 1, None, clusters.template(key), event.head)
                  for event, key in found_events]
    out.sort(key=lambda verdict: verdict.line)
    return out

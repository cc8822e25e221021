"""Unrecognised errors as findings: error events no row of the pattern table explains, grouped by
signature across pods and containers, reported with their count, where, when, a sample and the
innermost frame, so that an error outside the table is never an all-clear."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import compress
from operator import methodcaller
from typing import BinaryIO, NamedTuple, cast
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

    def add_log(self, snap: LogSnapshot, explained: set[int]) -> None:
        """The events of one container's log; `explained`: indexes of lines a pattern row matched."""
        texts = [line.text for line in snap.lines]
        for event in find_events(texts, explained):
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
    out: list[LineVerdict] = []
    matched: set[int] = set()
    for index, pattern in enumerate(table.classify_many(texts, "log", encoded=encoded)):
        if pattern is not None:
            matched.add(index)
            out.append(LineVerdict(index + 1, pattern.id, None, texts[index]))
    clusters = SignatureClusters()
    events = [(event, clusters.key(event)) for event in find_events(texts, matched, encoded=encoded)]
    out += [LineVerdict(event.start + 1, None, clusters.template(key), event.head) for event, key in events]
    out.sort(key=lambda verdict: verdict.line)
    return out


# --- a log of any size, read in blocks ---------------------------------------------------------

BLOCK = 4 << 20  # bytes read at a time: memory stays flat in the size of the log
# line breaks of str.splitlines other than "\n": `in` finds a byte at GB/s, where a regex reading bytes
# runs at ~50 MB/s; the ones outside ASCII (\x85, \u2028, \u2029 in UTF-8) are looked for in the
# few runs of non-ASCII bytes only
_ODD_BYTES = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_ODD_WIDE = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _odd_breaks(window: bytes) -> bool:
    if any(odd in window for odd in _ODD_BYTES):
        return True
    return not window.isascii() and any(odd in window[max(start - 2, 0):end + 2] for start, end
                                        in fastscan.non_ascii_runs(window) for odd in _ODD_WIDE)


def _found(verdicts: Sequence[Pattern | None]) -> dict[int, Pattern]:
    """{line index: its row} of the lines a row matched (compress keeps the loop in C)."""
    return {index: cast(Pattern, verdicts[index]) for index in compress(range(len(verdicts)), verdicts)}


def _flattened(window: bytes) -> bytes | None:
    """The window with its CRLF line ends made LF (the same lines), or None when it holds another
    line break than "\n" (those take the exact path of str.splitlines)."""
    if b"\r" in window and window.count(b"\r") == window.count(b"\r\n"):
        window = window.replace(b"\r\n", b"\n")
    return None if _odd_breaks(window) else window


def _blocks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Whole lines: every block but the last ends with a line break."""
    rest = b""
    while chunk := stream.read(size):
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest


def _carry_cut(window: bytes, keep: int) -> int:
    """Where the last `keep` lines of the window start (0 when it holds no more than that)."""
    at = len(window) - 1  # the window's own last line break ends its last line
    for _ in range(keep):
        at = window.rfind(b"\n", 0, at)
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


def classify_stream(table: PatternTable, stream: BinaryIO, *, block: int = BLOCK) -> list[LineVerdict]:
    """`classify_lines` of the lines of a byte stream (UTF-8, bad bytes replaced, split as
    `str.splitlines` does), read a block at a time: the same verdicts, in memory that does not grow
    with the log (only the verdicts are kept). Each window is a block and the last SPAN lines of the
    one before, so an event that starts near a block's end is seen whole; a window's last SPAN lines
    are reported with the next one. Where hyperscan is installed, a window is scanned as bytes: only
    the lines it reports (and those holding non-ASCII characters, which take the exact path) are
    decoded."""
    clusters = SignatureClusters()
    rows: list[LineVerdict] = []
    found_events: list[tuple[ErrorEvent, str]] = []
    base = 0  # the number (0-based) of the window's first line in the log
    covered = -1  # where the last event seen ends, in line numbers of the log
    carry = b""
    pending = _blocks(stream, block)
    piece = next(pending, None)
    while piece is not None:
        window, piece = carry + piece, next(pending, None)
        last = piece is None
        cut = len(window) if last else _carry_cut(window, SPAN)
        carry = window[cut:]
        flat = _flattened(window)
        lines: Sequence[str]
        encoded: bytes | None
        triggered: list[int] | None = None
        scanners = _scanners(table) if fastscan.available() and flat is not None else None
        matcher = blockscan.for_table(table) if flat is not None and scanners is None else None
        if flat is not None and scanners is not None:
            encoded = flat[:-1] if flat.endswith(b"\n") else flat
            lines = fastscan.LazyLines(encoded)
            # one pass of hyperscan for the table and the triggers, one count of lines for all
            mark = cut - window.count(b"\r", 0, cut) if len(flat) != len(window) else cut
            stop = lines.prescan(scanners[:2], scanners[2], [min(mark, len(encoded))])[0]
            stop = stop if cut < len(window) else len(lines)
            verdicts = table.classify_many(lines, "log", encoded=encoded)
            found = _found(verdicts)
        elif flat is not None and matcher is not None and matcher.exact:
            # no hyperscan: two Aho-Corasick passes over the bytes (blockscan), the same verdicts
            encoded = None
            mark = cut - window.count(b"\r", 0, cut) if len(flat) != len(window) else cut
            lines, found, triggered, stop = matcher.scan(flat[:-1] if flat.endswith(b"\n") else flat,
                                                         mark if cut < len(window) else None)
        else:
            head = window[:cut].decode("utf-8", "replace").splitlines()
            lines = head + window[cut:].decode("utf-8", "replace").splitlines()
            stop = len(head)
            encoded = fastscan.encode(lines) if fastscan.available() and len(window) >= fastscan.MIN_BYTES else None
            verdicts = table.classify_many(lines, "log", encoded=encoded) if lines else []
            found = _found(verdicts)
        if not lines:
            continue
        matched = set(found)
        for index in sorted(matched):
            if index < stop:
                rows.append(LineVerdict(base + index + 1, found[index].id, None, lines[index]))
        events, end = events_before(lines, matched, encoded=encoded, stop=None if last else stop,
                                    covered=covered - base, candidates=triggered)
        covered = max(covered, base + end)
        for event in events:
            found_events.append((replace(event, start=base + event.start, end=base + event.end),
                                 clusters.key(event)))
        base += stop
    out = rows + [LineVerdict(event.start + 1, None, clusters.template(key), event.head)
                  for event, key in found_events]
    out.sort(key=lambda verdict: verdict.line)
    return out

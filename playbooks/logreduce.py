"""What an investigation keeps of a long log: only what it will ever show, decided as the log arrives.

A /debug over every line of a namespace (`OPSBOT_LOG_TAIL=10000`) reads ~150 MB at 100 pods; kept
whole as `LogLine`s (~250 bytes a line) that was ~600 MB. Each log is reduced right after it is read
(in the gateway's worker thread, one log at a time) to:

- every line a row of the pattern table matches (a finding's count, first time, sample, evidence);
- every error event outside the table (unrecognised findings), with the lines after it that decide
  where it ends;
- the last KEEP_TAIL lines (the findings file's log tails, `bot/render/findings.py`);
- with the Dapr metadata check on, how often daprd's log names each component the app calls (a
  snapshot records the kept lines only: its replay counts the calls among them);
- how many lines were read (`LogSnapshot.read_lines`) and, for the fix check, every line's time
  (`LogSnapshot.stamps`).

Exactness is checked, not assumed. A row matches a line by itself, so the kept lines keep their rows
(carried to derive_findings in `LogSnapshot.matched`: no second classification). An error event depends
on the lines around it, so the events of the kept lines (they are few) are found again and must be the
whole log's, event for event (same lines, same extents, same signatures); where they are not (an
event whose end depended on a line not kept), more is kept around the difference, and after ROUNDS
tries the log is kept whole. So the findings, their counts and
times, and a replay of the snapshot (which records the kept lines) are the same as over the whole log.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.models import LogLine, LogSnapshot
from playbooks import fastscan
from playbooks.findings import dapr_calls as dapr_counts
from playbooks.patterns import PatternTable
from playbooks.signatures import LOOKAHEAD, SPAN, ErrorEvent, find_events

KEEP_TAIL = 200  # lines kept from a log's end: what the findings file shows of it
ROUNDS = 3  # widenings tried before a log is kept whole
REDUCE_TIMEOUT = 30  # seconds a logs step may spend classifying its logs, past reading them (the analysis' bound)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_TIME = -(1 << 63)  # the stamp of a line without a time
_MICRO = timedelta(microseconds=1)

_Event = tuple[int, int, str, str, str, str, str | None]  # (start, end, severity, kind, head, signature, frame)


def _events(texts: Sequence[str], rows: dict[int, str], where: Sequence[int] | None = None, *,
            encoded: bytes | None = None) -> list[_Event]:
    """What derive_findings reads of a log besides its rows: the error events outside the matched lines,
    their lines translated through `where` (the kept lines' places in the whole log)."""
    at = (lambda i: i) if where is None else where.__getitem__
    return [(at(e.start), at(e.end - 1) + 1, e.severity.value, e.kind, e.head, e.signature, e.frame)
            for e in find_events(texts, set(rows), encoded=encoded)]


def _event_block(texts: Sequence[str], event: ErrorEvent | _Event) -> range:
    """An event's lines and those after it that its extent was decided on (blank lines it may have
    dropped, the records looked ahead for a traceback, the next line)."""
    start, end = (event.start, event.end) if isinstance(event, ErrorEvent) else event[:2]
    stop = end
    while stop < len(texts) and not texts[stop].strip():
        stop += 1
    return range(start, min(len(texts), max(stop + 1, start + LOOKAHEAD + 2, start + 4)))


def pack_stamps(lines: Sequence[LogLine]) -> bytes:
    """Every line's time in microseconds since the epoch (NO_TIME: none), 8 bytes a line."""
    return array("q", [NO_TIME if line.ts is None else (line.ts - EPOCH) // _MICRO for line in lines]).tobytes()


def stamps_of(snap: LogSnapshot) -> array[int]:
    out = array("q")
    out.frombytes(snap.stamps)
    return out


def micros(at: datetime) -> int:
    return (at - EPOCH) // _MICRO


def reduce_log(table: PatternTable, snap: LogSnapshot, *, tail: int = KEEP_TAIL, dapr_calls: bool = False,
               stamps: bool = False) -> LogSnapshot:
    """`snap` with only the lines it will ever show (see the module's docstring); a log of no more
    than `tail` lines, or one read with an error, as it is. `dapr_calls`: count daprd's calls per
    component (the Dapr metadata check compares them); `stamps`: keep every line's time (the fix check)."""
    lines = snap.lines
    total = len(lines)
    if snap.error is not None or total <= tail:
        return snap
    texts = [line.text for line in lines]
    # a row matches a line by itself (classify_many is classify() of each text): the rows of the kept lines
    # are theirs in the whole log; an event depends on the lines around it, so those are checked
    # one buffer for both passes, scanned by hyperscan where it is installed (its databases are built
    # once a process, so a log below fastscan.MIN_BYTES gains too when a namespace's logs are read)
    encoded = fastscan.encode(texts) if fastscan.available() else None
    rows = {i: p.id for i, p in table.classify_hits(texts, "log", encoded=encoded).items()}
    events = _events(texts, rows, encoded=encoded)
    keep = set(range(total - tail, total)) | rows.keys()
    for event in events:
        keep.update(_event_block(texts, event))
    for _ in range(ROUNDS):
        order = sorted(keep)
        if len(order) == total:
            break
        got = _events([texts[i] for i in order], {n: rows[i] for n, i in enumerate(order) if i in rows}, order)
        if got == events:
            break
        # more around every difference: an event reaches SPAN lines at most, either way
        for a, b in _differences(events, got):
            keep.update(range(max(0, a - SPAN), min(total, b + SPAN)))
    else:
        order = list(range(total))
    return LogSnapshot.model_construct(
        pod=snap.pod, container=snap.container, previous=snap.previous, error=None,
        lines=[lines[i] for i in order], read_lines=total, stamps=pack_stamps(lines) if stamps else b"",
        dapr_calls=dapr_counts(texts) if dapr_calls and snap.container == "daprd" else None,
        matched={n: rows[i] for n, i in enumerate(order) if i in rows},
    )


def _differences(events: list[_Event], got: list[_Event]) -> list[tuple[int, int]]:
    """The spans (in lines of the whole log) where the kept lines' events differ from the whole's."""
    spans = [(e[0], e[1]) for e in set(events) ^ set(got)]
    return spans or [(e[0], e[1]) for e in events]  # the same events in another order: around all of them

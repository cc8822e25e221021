"""The matcher's fast paths give exactly the verdicts of the plain line-by-line definition.

The reference here uses no prefilter at all: a line's row is the first row (by priority, then file
order) whose `Pattern.matches` holds, and the lines that may start an error event are those holding
a trigger, found with `in`. Against it: `classify_stream` without hyperscan (`blockscan`: the
window as bytes, two Aho-Corasick passes, with ahocorasick_rs and with pyahocorasick), with
hyperscan where it is installed, and `classify_lines`, on random mixes of corpus lines, ordinary
records, near misses, other scripts and the characters a case-insensitive regex takes for an ASCII
letter, white space outside ASCII, tabs and the ASCII separators `\\s` matches, bad UTF-8, CRLF and
the rarer line breaks, cut into blocks of any size."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks import blockscan, fastscan
from playbooks.patterns import PatternTable
from playbooks.signatures import TRIGGERS, SignatureClusters, events_before
from playbooks.unrecognised import LineVerdict, classify_lines, classify_stream

CORPUS = Path(__file__).parent / "data" / "real_errors.jsonl"
CORPUS_LINES = sorted({line for row in CORPUS.read_text().splitlines() if row.strip()
                       for line in json.loads(row)["text"].splitlines()})
ORDINARY = [
    '{"level":"info","ts":"2026-11-29T10:00:00Z","msg":"request done","status":200,"duration_ms":512,"errors":0}',
    '10.0.0.7 - - [29/Nov/2026:01:02:03 +0000] "GET /orders/7 HTTP/1.1" 200 523 "-" "curl/8"',
    "2026-11-29T10:00:00Z INFO  batch flushed count=3 error_count=0",
    'time="2026-11-29T10:00:00Z" level=info msg="HTTP API Called" method="GET /v1.0/state/store/5"',
    "I0412 10:00:01.123456   1 controller.go:55] synced deployment shop/web-5",
]
# near misses and shapes at the edge of a row or a trigger: white space of every kind inside a
# literal, case, characters a regex folds to ASCII letters, numbers that look like a status
NEAR = [
    "status: 503", "status=503", '"status":503', "statusCode: 502", "status 5030", "GET /x HTTP/1.1\t503",
    "GET /x 503 12ms", "POST /api\x1c503", "connection\trefused", "Connection\u2003refused", "connection\xa0refused",
    "dial tcp 10.0.0.1:5432: connect: connection refused", "\u212aeyError: 'data'", "KeyError: 'data'",
    "\u0130nternal error \u0131n handler", "psycopg2 \u017fomething Connection refused", "ERROR boom", "Error: boom",
    "error: boom", "level=error msg=boom", '{"level":"error","msg":"boom"}', '{"level":50,"msg":"boom"}',
    "E0412 10:00:01.123456   1 x.go:1] failed", "Traceback (most recent call last):",
    '  File "/app/main.py", line 3, in handler', "ValueError: bad", "\tat com.example.Foo.bar(Foo.java:12)",
    "java.lang.IllegalStateException: no", "panic: runtime error: index out of range", "goroutine 1 [running]:",
    "OOMKilled", "Out of memory: Killed process 42", "エラー: connection refused",
    "Zeitüberschreitung beim Verbindungsaufbau",
    "no error", "error_count=0", "0 errors", "   ", "",
]
WORDS = sorted({*TRIGGERS, "status", "503", "GET", "refused", "timeout", "OOM", "\u212a", "é", "\u2003", "\t", "\x1f"})


def _reference(table: PatternTable, text: str) -> list[LineVerdict]:
    """The verdicts by definition, line by line, with no prefilter."""
    lines = text.splitlines()
    rows = {}
    for index, line in enumerate(lines):
        row = next((p for p in table.patterns if "log" in p.sources and p.matches(line)), None)
        if row is not None:
            rows[index] = row
    triggered = [index for index, line in enumerate(lines) if any(word in "\n" + line for word in TRIGGERS)]
    events, _ = events_before(lines, set(rows), candidates=triggered)
    clusters = SignatureClusters()
    keys = [clusters.key(event) for event in events]
    out = [LineVerdict(index + 1, row.id, None, lines[index]) for index, row in rows.items()]
    out += [LineVerdict(event.start + 1, None, clusters.template(key), event.head)
            for event, key in zip(events, keys, strict=True)]
    out.sort(key=lambda verdict: verdict.line)
    return out


line_text = st.one_of(
    st.sampled_from(CORPUS_LINES), st.sampled_from(ORDINARY), st.sampled_from(NEAR),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=6).map(" ".join),
)
log = st.lists(st.tuples(line_text, st.sampled_from(["\n", "\n", "\n", "\r\n", "\r", "\x0b", "\u2028"]),
                         st.booleans()), min_size=1, max_size=60)


def _bytes(parts: list[tuple[str, str, bool]], odd: bool) -> bytes:
    """The log as a file holds it; with `odd`, some lines also hold a bad UTF-8 byte, and the rarer
    line breaks stay (without, every break is LF or CRLF: the windows take the fast paths)."""
    out = []
    for text, end, bad in parts:
        if not odd and end not in ("\n", "\r\n"):
            end = "\n"
        raw = text.encode("utf-8", "surrogatepass") + end.encode()
        out.append(raw.replace(b" ", b" \xff", 1) if odd and bad else raw)
    return b"".join(out)


@pytest.fixture(scope="module")
def table() -> PatternTable:
    return PatternTable.default()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=log, odd=st.booleans(), block=st.sampled_from([64, 509, 4096, 1 << 22]),
       final_break=st.booleans())
def test_stream_equals_the_definition(table: PatternTable, parts: list[tuple[str, str, bool]], odd: bool,
                                      block: int, final_break: bool) -> None:
    data = _bytes(parts, odd)
    if not final_break:
        data = data.rstrip(b"\n")
    expected = _reference(table, data.decode("utf-8", "replace"))
    assert classify_stream(table, io.BytesIO(data), block=block, hyperscan=False) == expected
    if fastscan.available():
        assert classify_stream(table, io.BytesIO(data), block=block) == expected
    assert classify_lines(table, data.decode("utf-8", "replace").splitlines()) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=log)
def test_a_window_scanned_as_bytes_by_either_engine(table: PatternTable, parts: list[tuple[str, str, bool]]) -> None:
    data = b"".join(text.encode("utf-8", "surrogatepass") + b"\n" for text, _, _ in parts)[:-1]
    lines = data.decode("utf-8", "replace").split("\n")
    rows = {index: row for index, line in enumerate(lines)
            if (row := next((p for p in table.patterns if "log" in p.sources and p.matches(line)), None))}
    triggered = [index for index, line in enumerate(lines) if any(word in "\n" + line for word in TRIGGERS)]
    for matcher in (blockscan.for_table(table), blockscan.BlockMatcher(table, rust=False)):
        lazy, found, candidates, stop = matcher.scan(data)
        assert list(lazy) == lines and stop == len(lines)
        assert found == rows
        assert candidates == triggered


def test_the_window_cut_is_the_line_of_the_mark(table: PatternTable) -> None:
    data = b"ERROR one\nok\nstatus: 503\r\nlast"
    _, found, candidates, stop = blockscan.for_table(table).scan(data.replace(b"\r\n", b"\n"), data.index(b"status"))
    assert stop == 2 and candidates == [0] and list(found) == [2]


@pytest.mark.parametrize("first", ["E0412 10:00:01.123456   1 x.go:1] failed", "fatal: no", "error: boom", "ok"])
def test_a_trigger_at_the_start_of_a_line_also_on_the_first(table: PatternTable, first: str) -> None:
    data = f"{first}\nE0412 10:00:02.000000   1 x.go:2] again".encode()
    _, _, candidates, _ = blockscan.for_table(table).scan(data)
    assert candidates == ([0, 1] if first != "ok" else [1])

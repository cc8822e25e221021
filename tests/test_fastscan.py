"""The hyperscan fast path for big logs gives exactly the answer of the line-by-line path.

The log is built from the real-error corpus (every shape the table and the event finder know),
padded past fastscan.MIN_BYTES with ordinary records, and salted with lines the fast path must hand
back to the exact path: other scripts, and the characters a case-insensitive regex takes for an ASCII
letter (the Kelvin sign, the long s, the dotted/dotless i)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from playbooks import fastscan
from playbooks.patterns import PatternTable
from playbooks.signatures import candidate_lines, find_events
from playbooks.unrecognised import classify_lines

pytestmark = pytest.mark.skipif(not fastscan.available(), reason="hyperscan is not installed here")

CORPUS = Path(__file__).parent / "data" / "real_errors.jsonl"
FILLER = [
    '{"level":"info","ts":"2026-11-29T01:02:03Z","msg":"request served","path":"/api/tasks/{n}","ms":{n}}',
    "INFO  [main] o.s.web.servlet.DispatcherServlet - Completed initialization in {n} ms",
    '127.0.0.1 - - [29/Nov/2026:01:02:03 +0000] "GET /healthz HTTP/1.1" 200 {n} "-" "kube-probe/1.31"',
    "time=2026-11-29T01:02:03Z level=info msg=\"reconciled\" error_count=0 took={n}ms",
    "Successfully processed task {n} - no error",
]
SALT = [
    "ERROR: Verbindung zum Server fehlgeschlagen: Zeitüberschreitung ({n})",
    "エラー: connection refused to 10.0.0.{n}:5432",
    "\u212aeyError: 'data'",  # Kelvin sign: Python's case-insensitive regex reads it as 'k'
    "psycopg2.OperationalError: connection to server failed: Connection refused \u017fomething",
    "Traceback (most recent call last):",
    '  File "/app/main.py", line {n}, in handler',
    "\u0130nternal error \u0131n handler {n}",
]


def _big_log(seed: int) -> list[str]:
    rng = random.Random(seed)
    corpus = [json.loads(line)["text"] for line in CORPUS.read_text().splitlines() if line.strip()]
    lines: list[str] = []
    while sum(map(len, lines)) < fastscan.MIN_BYTES * 1.2:
        pick = rng.random()
        if pick < 0.1:
            lines += rng.choice(corpus).split("\n")
        elif pick < 0.13:
            lines.append(rng.choice(SALT).replace("{n}", str(rng.randint(0, 999))))
        else:
            lines.append(rng.choice(FILLER).replace("{n}", str(rng.randint(0, 99999))))
    return lines


@pytest.fixture(scope="module")
def big_log() -> list[str]:
    return _big_log(7)


def test_the_log_is_big_enough_to_take_the_fast_path(big_log: list[str]) -> None:
    assert sum(map(len, big_log)) >= fastscan.MIN_BYTES
    assert any(not line.isascii() for line in big_log)


def test_rows_found_by_hyperscan_are_the_rows_found_line_by_line(big_log: list[str]) -> None:
    table = PatternTable.load()
    fast = table.classify_many(big_log, "log", encoded=fastscan.encode(big_log))
    exact = [table.classify(line, "log") for line in big_log]
    assert [p.id if p else None for p in fast] == [p.id if p else None for p in exact]
    assert sum(p is not None for p in exact) > 50  # the comparison is about something


def test_trigger_lines_found_by_hyperscan_are_the_ones_aho_corasick_finds(big_log: list[str]) -> None:
    small_chunks: list[int] = []
    step = 2000  # chunks under MIN_BYTES take the Aho-Corasick path
    for start in range(0, len(big_log), step):
        small_chunks += [start + i for i in candidate_lines(big_log[start:start + step])]
    assert candidate_lines(big_log, fastscan.encode(big_log)) == small_chunks
    assert len(small_chunks) > 100


def test_events_and_verdicts_are_the_same_either_way(big_log: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    table = PatternTable.load()
    read = [line + "\n" for line in big_log]
    fast_events = find_events(big_log, encoded=fastscan.encode(big_log))
    fast_verdicts = classify_lines(table, read)
    monkeypatch.setattr(fastscan, "MIN_BYTES", 10**12)  # every log is small now: the Aho-Corasick path
    assert find_events(big_log) == fast_events
    assert classify_lines(table, read) == fast_verdicts
    assert any(v.pattern for v in fast_verdicts) and any(v.pattern is None for v in fast_verdicts)


def test_a_line_break_inside_a_text_keeps_the_exact_path() -> None:
    table = PatternTable.load()
    texts = ["x" * 600_000, "FATAL: password authentication failed for user \"app\"\nmore", "y" * 600_000]
    assert [p.id if p else None for p in table.classify_many(texts)] == \
        [p.id if p else None for p in (table.classify(t) for t in texts)]

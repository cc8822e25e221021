"""A log read a block at a time (`classify_stream`, what `opsbot patterns match` runs) gives exactly
the verdicts of the whole log in one piece (`classify_lines`): the same rows, the same error
events with the same signatures, at the same line numbers, whatever the block size, wherever an
event (a traceback of 200 frames, a log line and the trace it printed) meets a block's end.

The log mixes every excerpt of the real-error corpus with ordinary records and lines that take the
exact path (other scripts, the Kelvin sign, bad UTF-8, CRLF and the rarer line breaks)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from playbooks.patterns import PatternTable
from playbooks.signatures import MAX_FRAMES
from playbooks.unrecognised import classify_lines, classify_stream

CORPUS = Path(__file__).parent / "data" / "real_errors.jsonl"
ORDINARY = [
    '{{"level":"info","ts":"2026-11-29T01:02:03Z","msg":"request served","path":"/api/tasks/{n}","ms":{n}}}',
    '10.0.0.{n} - - [29/Nov/2026:01:02:03 +0000] "GET /orders/{n} HTTP/1.1" 200 5{n} "-" "curl/8"',
    "2026-11-29T10:{n:02d}:00Z INFO batch flushed count={n} error_count=0",
]
ODD = ["Zeitüberschreitung bei der Verbindung ({n})", "\u212aeyError: 'data' {n}", "エラー: connection refused {n}"]


def _log(seed: int, *, odd: bool) -> bytes:
    rng = random.Random(seed)
    errors = [json.loads(line)["text"] for line in CORPUS.read_text().splitlines() if line.strip()]
    parts: list[str] = []
    for _ in range(900):
        roll = rng.random()
        if roll < 0.25:
            parts.append(rng.choice(errors))
        elif roll < 0.27:  # a trace as long as an event may be: it meets block ends
            frames = [f'  File "/app/m{i}.py", line {i}, in f{i}' for i in range(MAX_FRAMES + 20)]
            parts.append("\n".join(["ERROR handler failed", "Traceback (most recent call last):", *frames,
                                    "ValueError: bad"]))
        elif odd and roll < 0.32:
            parts.append(rng.choice(ODD).format(n=rng.randrange(100)))
        else:
            parts.append(rng.choice(ORDINARY).format(n=rng.randrange(60)))
    data = ("\n".join(parts) + "\n").encode()
    if odd:
        data = data.replace(b"count=7 ", b"count=7 \xff\xfe ").replace(b"curl/8\"\n", b"curl/8\"\r\n", 3)
    return data


@pytest.mark.parametrize("hyperscan", [True, False])
@pytest.mark.parametrize("odd", [False, True])
@pytest.mark.parametrize("block", [997, 20_000, 1 << 22])
def test_streaming_equals_one_piece(odd: bool, block: int, hyperscan: bool) -> None:
    table = PatternTable.default()
    data = _log(7 if odd else 3, odd=odd)
    whole = classify_lines(table, data.decode("utf-8", "replace").splitlines())
    assert len(whole) > 100
    assert classify_stream(table, io.BytesIO(data), block=block, hyperscan=hyperscan) == whole


@pytest.mark.parametrize("text", ["", "\n", "\n\n", "one line without a break", "ERROR boom\r\n",
                                  "a\r\nERROR b\r\n\r\n", "ERROR boom\r\nmore\x0bthen\x1cend\u2028x"])
def test_streaming_edges(text: str) -> None:
    table = PatternTable.default()
    data = text.encode()
    for hyperscan in (True, False):
        assert classify_stream(table, io.BytesIO(data), block=3, hyperscan=hyperscan) == \
            classify_lines(table, text.splitlines())


def test_a_compiled_database_comes_back_from_the_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's hyperscan database is compiled once and kept on disk; the loaded one finds the same."""
    from playbooks import fastscan

    if not fastscan.available():
        pytest.skip("hyperscan is not installed here")
    monkeypatch.setenv("OPSBOT_CACHE_DIR", str(tmp_path))
    patterns = [(0, r"connection refused"), (1, r"\bstatus\s*[:=]\s*5\d\d\b"), (2, r"(?<=x)lookbehind")]
    lines = ["ok", "dial tcp: Connection Refused", "status=503", "xlookbehind", "status=200"]
    compiled = fastscan.LineScanner.build(patterns, caseless=True)
    assert compiled is not None and len(list((tmp_path / "hyperscan").iterdir())) == 1
    loaded = fastscan.LineScanner.build(patterns, caseless=True)
    assert loaded is not None and loaded is not compiled
    assert loaded.scan(lines) == compiled.scan(lines) == ({1: {0}, 2: {1}, 3: {2}}, [])

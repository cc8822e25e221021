"""The real-error corpus (tests/data/real_errors.jsonl): well-formed, and what must never regress on it.

The figures (per-category recall) are bench/diagnosis.py's; this test asserts only the floor:
no false alarm on a harmless line, every seed line recognised by its row, every error event
accounted for (a row or an unrecognised signature)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from playbooks.patterns import PatternTable
from playbooks.unrecognised import classify_lines
from tests.seeds import SEED_LINES

CORPUS = Path(__file__).parent / "data" / "real_errors.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
SOURCE = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")


def test_the_corpus_is_well_formed() -> None:
    assert len(ROWS) >= 200
    counts = Counter(r["expect"] for r in ROWS)
    assert counts["harmless"] >= 50
    texts = [r["text"] for r in ROWS]
    assert len(texts) == len(set(texts)), "an excerpt appears twice"
    for row in ROWS:
        assert set(row) == {"id", "text", "source", "category", "expect"}, row["id"]
        assert SOURCE.match(row["source"]), row
        assert row["expect"] in {"known", "unrecognised", "harmless"}, row
        assert row["text"].strip(), row["id"]
    assert len({r["source"].split("#")[0] for r in ROWS}) >= 100  # many projects, not a few


@pytest.mark.parametrize("row", [r for r in ROWS if r["expect"] == "harmless"], ids=lambda r: r["id"])
def test_no_false_alarm_on_a_harmless_line(row: dict[str, str]) -> None:
    assert classify_lines(PatternTable.default(), row["text"].splitlines()) == []


@pytest.mark.parametrize("row", [r for r in ROWS if r["expect"] != "harmless"], ids=lambda r: r["id"])
def test_every_error_excerpt_is_accounted_for(row: dict[str, str]) -> None:
    """A row names it, or it is reported as an unrecognised signature: never silence."""
    assert classify_lines(PatternTable.default(), row["text"].splitlines()), row["source"]


def test_every_seed_line_is_recognised_by_a_row() -> None:
    verdicts = classify_lines(PatternTable.default(), SEED_LINES)
    assert [v.line for v in verdicts] == [1, 2, 3, 4, 5]  # the two harmless lines stay silent
    assert all(v.pattern is not None for v in verdicts)

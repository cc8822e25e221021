"""A fast path for big logs: one hyperscan pass over the whole text, many patterns at once.

Where the `hyperscan` wheel installs (Linux x86_64), a log of many megabytes is scanned once, at
hundreds of MB/s, for every regex of the pattern table (or the trigger strings of the error-event
finder); only the lines hyperscan reports are looked at in Python, with Python's own `re`, so the
answer is exactly the same as the line-by-line path's. Without hyperscan (or for a regex it cannot
compile even approximately) callers keep their Aho-Corasick prefilter.

Why it is exact: hyperscan runs in prefilter mode where a regex has a construct it lacks
(lookarounds, back-references), which may report more than the regex matches, never less; a line
is only a candidate, Python confirms. Lines holding non-ASCII bytes are handed back to the caller's
exact path, because without Unicode properties (which make compiling ~30x slower) hyperscan's
`\\w`, `\\b` and case folding are ASCII-only while Python's are not.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from itertools import compress
from operator import not_
from typing import Any

try:  # OPSBOT_NO_HYPERSCAN=1 measures (and checks) the pure-Python path where the wheel is installed
    _hs: Any = None if os.environ.get("OPSBOT_NO_HYPERSCAN") == "1" else importlib.import_module("hyperscan")
except ImportError:  # pragma: no cover - the fast path is optional
    _hs = None

MIN_BYTES = 1_000_000  # below this the compile (~0.3 s for the table) costs more than it saves


def available() -> bool:
    return _hs is not None


class LineScanner:
    """Reports, for each line of a text, which of the compiled patterns may match it."""

    def __init__(self, database: Any) -> None:
        self._db = database

    @classmethod
    def build(cls, patterns: Sequence[tuple[int, str]], *, caseless: bool, literal: bool = False) -> LineScanner | None:
        """A scanner for (id, pattern) pairs; None when hyperscan is missing or a pattern cannot be
        compiled even in prefilter mode (the caller then keeps its exact path for everything)."""
        if _hs is None or not patterns:
            return None
        base = _hs.HS_FLAG_MULTILINE | _hs.HS_FLAG_ALLOWEMPTY | (_hs.HS_FLAG_CASELESS if caseless else 0)
        expressions, ids, flags = [], [], []
        for ident, pattern in patterns:
            expression = re.escape(pattern).encode() if literal else pattern.encode()
            for flag in (base, base | _hs.HS_FLAG_PREFILTER):
                try:
                    probe = _hs.Database()
                    probe.compile(expressions=[expression], ids=[ident], elements=1, flags=[flag])
                except Exception:  # hyperscan's own error type: this form is not supported
                    continue
                expressions.append(expression)
                ids.append(ident)
                flags.append(flag)
                break
            else:
                return None
        database = _hs.Database()
        database.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
        return cls(database)

    def scan(self, lines: Sequence[str], *, ascii_only: bool = True,
             data: bytes | None = None) -> tuple[dict[int, set[int]], list[int]]:
        """({line index: ids that may match it}, indexes of the lines left to the caller's exact path:
        those holding non-ASCII characters, when `ascii_only`). `data`: the lines already joined
        with "\n" and encoded (`encode(lines)`), when the caller scans them more than once."""
        if data is None:
            data = encode(lines)
        matches: list[tuple[int, int]] = []

        def on_match(ident: int, start: int, end: int, flags: int, context: Any) -> None:
            matches.append((end, ident))

        self._db.scan(data, match_event_handler=on_match)
        hits: dict[int, set[int]] = {}
        # the line a match ends on (an end offset right after a line break belongs to the line before)
        for line, ident in zip(_lines_of(data, [max(end - 1, 0) for end, _ in sorted(matches)]),
                               (ident for _, ident in sorted(matches)), strict=True):
            hits.setdefault(line, set()).add(ident)
        rest: list[int] = []
        if ascii_only and not data.isascii():
            # str.isascii is O(1) (a flag of the string), and map/compress keep the loop in C
            rest = list(compress(range(len(lines)), map(not_, map(str.isascii, lines))))
        return hits, rest


def _lines_of(data: bytes, offsets: list[int]) -> list[int]:
    """The line index of each offset (ascending): the breaks between consecutive offsets are counted
    at the speed of bytes.count, so the cost is one pass over the buffer, whatever the number."""
    out = []
    line = position = 0
    for offset in offsets:
        if offset > position:
            line += data.count(b"\n", position, offset)
            position = offset
        out.append(line)
    return out


def encode(lines: Sequence[str]) -> bytes:
    """The lines as one buffer for `LineScanner.scan`."""
    return "\n".join(lines).encode("utf-8", "surrogatepass")

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
from collections.abc import Iterable, Sequence
from itertools import compress
from operator import not_
from typing import Any, overload

try:  # OPSBOT_NO_HYPERSCAN=1 measures (and checks) the pure-Python path where the wheel is installed
    _hs: Any = None if os.environ.get("OPSBOT_NO_HYPERSCAN") == "1" else importlib.import_module("hyperscan")
except ImportError:  # pragma: no cover - the fast path is optional
    _hs = None

_NON_ASCII = re.compile(rb"[\x80-\xff]+")
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
        matches.sort()
        # the line a match ends on (an end offset right after a line break belongs to the line before)
        offsets = [max(end - 1, 0) for end, _ in matches]
        numbers = _lines_of(data, offsets)
        for line, ident in zip(numbers, (ident for _, ident in matches), strict=True):
            hits.setdefault(line, set()).add(ident)
        if isinstance(lines, LazyLines):  # tell the view where the reported lines are
            lines.seed(numbers, offsets)
        rest: list[int] = []
        if ascii_only and not data.isascii():
            if isinstance(lines, LazyLines):
                rest = lines.non_ascii()
            else:  # str.isascii is O(1) (a flag of the string), and map/compress keep the loop in C
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


def _non_ascii(data: bytes, start: int, end: int) -> list[int]:
    """Offsets of the runs of non-ASCII bytes in data[start:end]. Halving with bytes.isascii (C, many
    GB/s) finds the few pieces that hold any; a regex (~100 MB/s on bytes) only reads those."""
    if end - start <= 4096:
        return [m.start() for m in _NON_ASCII.finditer(data, start, end)]
    middle = (start + end) // 2
    out = []
    for a, b in ((start, middle), (middle, end)):
        if not data[a:b].isascii():
            out += _non_ascii(data, a, b)
    return out


def encode(lines: Sequence[str]) -> bytes:
    """The lines as one buffer for `LineScanner.scan`."""
    return "\n".join(lines).encode("utf-8", "surrogatepass")


class LazyLines(Sequence[str]):
    """The lines of a UTF-8 buffer (lines joined by "\n", as `encode` makes them), decoded only when
    read: a big log is scanned as bytes and only the lines the scans report (and the few after
    them that an error event spans) become strings. `LineScanner.scan` seeds it with where each
    reported line starts; a line after a known one is found with `bytes.find`."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._count = data.count(b"\n") + 1
        self._starts: dict[int, int] = {0: 0}
        self._last = (0, 0)  # the last line read, and where it starts

    def seed(self, lines: Iterable[int], offsets: Iterable[int]) -> None:
        """Where lines are: the offset of one byte of each (of its line break, at worst)."""
        known, data = self._starts, self._data
        for line, offset in zip(lines, offsets, strict=True):
            if line not in known:
                known[line] = data.rfind(b"\n", 0, offset) + 1

    def non_ascii(self) -> list[int]:
        """The lines holding a byte outside ASCII, in order."""
        offsets = _non_ascii(self._data, 0, len(self._data))
        lines = _lines_of(self._data, offsets)
        self.seed(lines, offsets)
        return sorted(set(lines))

    def __len__(self) -> int:
        return self._count

    def _start(self, index: int) -> int:
        start = self._starts.get(index)
        if start is None:
            line, start = self._last
            if line > index:
                line = max(k for k in self._starts if k <= index)
                start = self._starts[line]
            data = self._data
            while line < index:
                start = data.index(b"\n", start) + 1
                line += 1
            self._starts[index] = start
        self._last = (index, start)
        return start

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        start = self._start(index)
        end = self._data.find(b"\n", start)
        return self._data[start: end if end >= 0 else len(self._data)].decode("utf-8", "replace")

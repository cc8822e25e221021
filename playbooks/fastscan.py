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

import hashlib
import importlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import compress
from operator import not_
from pathlib import Path
from typing import Any, overload

from bot.plumbing.cachedir import cache_root, write_atomically

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

    def __init__(self, database: Any, compiled: Sequence[tuple[bytes, int, int]] = ()) -> None:
        self._db = database
        # a database has one scratch space: two threads scanning with it at once fail (ScratchInUseError)
        self._lock = threading.Lock()
        self.compiled = tuple(compiled)  # (expression, id, flags) of each pattern, as compiled

    @classmethod
    def build(cls, patterns: Sequence[tuple[int, str]], *, caseless: bool, literal: bool = False) -> LineScanner | None:
        """A scanner for (id, pattern) pairs; None when hyperscan is missing or a pattern cannot be
        compiled even in prefilter mode (the caller then keeps its exact path for everything).
        Compiling the table takes about a second: the result is kept on disk (`_cached`)."""
        if _hs is None or not patterns:
            return None
        key = repr((_hs.__version__, sorted(patterns), caseless, literal)).encode()
        return _cached(key, lambda: cls._compile(patterns, caseless=caseless, literal=literal))

    @classmethod
    def union(cls, scanners: Sequence[LineScanner]) -> LineScanner:
        """One database for several scanners (one pass over a text for all of them): pattern `id` of
        scanners[i] reports id * len(scanners) + i."""
        n = len(scanners)
        parts = [(expression, ident * n + i, flag) for i, scanner in enumerate(scanners)
                 for expression, ident, flag in scanner.compiled]
        return _cached(repr((_hs.__version__, parts)).encode(), lambda: cls._database(parts)) or cls(None)

    @classmethod
    def _database(cls, parts: Sequence[tuple[bytes, int, int]]) -> LineScanner:
        database = _hs.Database()
        database.compile(expressions=[e for e, _, _ in parts], ids=[i for _, i, _ in parts], elements=len(parts),
                         flags=[f for _, _, f in parts])
        return cls(database, parts)

    @classmethod
    def _compile(cls, patterns: Sequence[tuple[int, str]], *, caseless: bool, literal: bool) -> LineScanner | None:
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
        return cls._database(list(zip(expressions, ids, flags, strict=True)))

    def scan(self, lines: Sequence[str], *, ascii_only: bool = True,
             data: bytes | None = None) -> tuple[dict[int, set[int]], list[int]]:
        """({line index: ids that may match it}, indexes of the lines left to the caller's exact path:
        those holding non-ASCII characters, when `ascii_only`). `data`: the lines already joined
        with "\n" and encoded (`encode(lines)`), when the caller scans them more than once."""
        if data is None:
            data = encode(lines)
        found = lines.prescanned(self) if isinstance(lines, LazyLines) else None
        if found is not None:
            hits = found
        else:
            matches = self.matches(data)
            offsets = [end for end, _ in matches]
            numbers = _lines_of(data, offsets)
            hits = {}
            for line, (_, ident) in zip(numbers, matches, strict=True):
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


    def matches(self, data: bytes) -> list[tuple[int, int]]:
        """(offset, id) of every match, in order of offset: the offset of the match's last byte (a
        match ending right after a line break belongs to the line before)."""
        found: list[tuple[int, int]] = []

        def on_match(ident: int, start: int, end: int, flags: int, context: Any) -> None:
            found.append((max(end - 1, 0), ident))

        with self._lock:
            self._db.scan(data, match_event_handler=on_match)
        found.sort()
        return found


def cache_dir() -> Path:
    """Where compiled databases are kept: $OPSBOT_CACHE_DIR, else the user's cache directory."""
    return Path(cache_root())


def _cached(key: bytes, compile_: Callable[[], LineScanner | None]) -> LineScanner | None:
    """The scanner compiled from what `key` names: from the disk cache when it is there (loading
    takes microseconds, compiling the table about a second), else compiled and stored. The cache is
    best effort: a read-only or missing home only costs the compile."""
    path = cache_dir() / "hyperscan" / (hashlib.sha256(key).hexdigest()[:32] + ".db")
    try:
        blob = path.read_bytes()
        meta_len = int.from_bytes(blob[:4], "big")
        compiled = [(e.encode("latin-1"), i, f) for e, i, f in json.loads(blob[4:4 + meta_len])]
        database = _hs.loadb(blob[4 + meta_len:], _hs.HS_MODE_BLOCK)
        database.scratch = _hs.Scratch(database)  # compile() makes one; a loaded database has none
        return LineScanner(database, compiled)
    except Exception:  # absent, unreadable, or written by another hyperscan: compile
        pass
    scanner = compile_()
    if scanner is not None:
        try:
            meta = json.dumps([(e.decode("latin-1"), i, f) for e, i, f in scanner.compiled]).encode()
            # atomic: a concurrent reader sees the whole file or none
            write_atomically(str(path), len(meta).to_bytes(4, "big") + meta + bytes(_hs.dumpb(scanner._db)),
                             prefix=".hyperscan-")
        except Exception:  # a database hyperscan cannot serialise: no cache
            pass
    return scanner


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


def non_ascii_runs(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of the runs of non-ASCII bytes in data[start:end] (a run cut where a piece ends
    comes as two). Halving with bytes.isascii (C, many GB/s) finds the few pieces that hold any; a
    regex (~100 MB/s on bytes) only reads those."""
    end = len(data) if end is None else end
    if end - start <= 4096:
        return [m.span() for m in _NON_ASCII.finditer(data, start, end)]
    middle = (start + end) // 2
    out = []
    for a, b in ((start, middle), (middle, end)):
        if not data[a:b].isascii():
            out += non_ascii_runs(data, a, b)
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
        self._count = -1  # counted on first use, or by `prescan`
        self._starts: dict[int, int] = {0: 0}
        self._last = (0, 0)  # the last line read, and where it starts
        self._prescanned: dict[int, dict[int, set[int]]] = {}
        self._non_ascii: list[int] | None = None

    def prescan(self, scanners: Sequence[LineScanner], union: LineScanner, marks: Sequence[int] = ()) -> list[int]:
        """Scan the buffer once for several scanners (`union`: `LineScanner.union(scanners)`); their
        `scan` of this view then costs nothing. Counting the lines of the matches is the one pass
        over the buffer that also gives its length, and the line of each offset in `marks`."""
        n = len(scanners)
        matches = union.matches(self._data)
        # matches (kind 0), marks (1) and the end of the buffer (2), in order of offset
        points = sorted([(offset, 0, k) for k, (offset, _) in enumerate(matches)]
                        + [(offset, 1, k) for k, offset in enumerate(marks)] + [(len(self._data), 2, 0)])
        numbers = _lines_of(self._data, [offset for offset, _, _ in points])
        by_match, by_mark = [0] * len(matches), [0] * len(marks)
        for (_, kind, k), line in zip(points, numbers, strict=True):
            if kind == 0:
                by_match[k] = line
            elif kind == 1:
                by_mark[k] = line
        self._count = numbers[-1] + 1
        hits: list[dict[int, set[int]]] = [{} for _ in scanners]
        for line, (_, ident) in zip(by_match, matches, strict=True):
            hits[ident % n].setdefault(line, set()).add(ident // n)
        for scanner, found in zip(scanners, hits, strict=True):
            self._prescanned[id(scanner)] = found
        self.seed(by_match, [offset for offset, _ in matches])
        return by_mark

    def known_length(self, lines: int) -> None:
        """Tell the view how many lines it holds, when the caller counted them already."""
        self._count = lines

    def prescanned(self, scanner: LineScanner) -> dict[int, set[int]] | None:
        return self._prescanned.get(id(scanner))

    def seed(self, lines: Iterable[int], offsets: Iterable[int]) -> None:
        """Where lines are: the offset of one byte of each (of its line break, at worst)."""
        known, data = self._starts, self._data
        for line, offset in zip(lines, offsets, strict=True):
            if line not in known:
                known[line] = data.rfind(b"\n", 0, offset) + 1

    def non_ascii(self) -> list[int]:
        """The lines holding a byte outside ASCII, in order."""
        if self._non_ascii is None:
            offsets = [start for start, _ in non_ascii_runs(self._data)]
            self.note_non_ascii(_lines_of(self._data, offsets), offsets)
        return self._non_ascii or []

    def note_non_ascii(self, lines: Sequence[int], offsets: Sequence[int]) -> None:
        """Where the runs of non-ASCII bytes are (`non_ascii_runs`), and on which lines, when the
        caller counted them already."""
        self.seed(lines, offsets)
        self._non_ascii = sorted(set(lines))

    def __len__(self) -> int:
        if self._count < 0:
            self._count = self._data.count(b"\n") + 1
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
        count = len(self)
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(count))]
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(index)
        start = self._start(index)
        end = self._data.find(b"\n", start)
        return self._data[start: end if end >= 0 else len(self._data)].decode("utf-8", "replace")

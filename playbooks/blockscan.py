"""The matcher's path without hyperscan: a window of a log scanned as bytes, in two passes of C.

`classify_stream` hands a window (whole lines, "\\n"-separated, no other line break) to
`BlockMatcher.scan`, which answers what the line-by-line path answers, without making a Python
object of a line that matches nothing:

- the table: one Aho-Corasick pass over the window lower-cased once (`bytes.translate`, which also
  turns every ASCII white space but the line break into a space, so that a literal holding a white
  space is one key, not nine) finds the lines holding a primary literal of some regex; only those
  are decoded and checked with `re` (`PatternTable._first_match`), and only for the regexes whose
  literal they hold;
- the error-event triggers: one case-sensitive pass over the bytes as they are (the triggers are
  ASCII: found in UTF-8 bytes exactly where they are in the decoded text, bad bytes included);
- lines holding a non-ASCII byte take the exact path of `PatternTable.classify` (case folding and
  white space outside ASCII are Python's, not a byte's).

Why it is exact: every line a regex matches holds one of its primary literals, so the pass misses
no line; a white space seen as a space, or a literal found across what `re` would see, only adds
candidates, which `re` then rejects. The triggers' pass finds exactly the lines
`signatures.candidate_lines` finds.

The passes use `ahocorasick_rs` (Rust; a DFA, ~200 MB/s a pass with its matches, overlapping ones
included) where its wheel is installed, else pyahocorasick over the bytes decoded as latin-1 (one
character a byte, so offsets are byte offsets; ~4x slower).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

import ahocorasick  # type: ignore[import-not-found]

from playbooks import fastscan
from playbooks.fastscan import LazyLines
from playbooks.literals import SPACE, alternation, required_literals
from playbooks.patterns import REGEX_FLAGS, Pattern, PatternTable
from playbooks.signatures import TRIGGERS

try:  # the faster engine; the pure path keeps working without it
    _rs: Any = importlib.import_module("ahocorasick_rs")
except ImportError:  # pragma: no cover - an optional wheel
    _rs = None

# ASCII letters lower-cased, and every white space `\\s` matches within a line made a space: one pass
_ASCII_SPACE = b"\t\x0b\x0c\r\x1c\x1d\x1e\x1f"
_FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _ASCII_SPACE,
                        b"abcdefghijklmnopqrstuvwxyz" + b" " * len(_ASCII_SPACE))


class _Finder:
    """Every occurrence of every key in a byte string: (key index, start, end), in order of end,
    overlapping ones included."""

    def __init__(self, keys: Sequence[bytes], *, rust: bool = True) -> None:
        self._keys = list(keys)
        self._rs: Any = None
        self._py: Any = None
        if rust and _rs is not None:
            self._rs = _rs.BytesAhoCorasick(self._keys, implementation=_rs.Implementation.DFA)
        else:
            automaton = ahocorasick.Automaton()
            for index, key in enumerate(self._keys):
                automaton.add_word(key.decode("latin-1"), (index, len(key)))
            automaton.make_automaton()
            self._py = automaton

    def find(self, data: bytes) -> list[tuple[int, int, int]]:
        if not self._keys:
            return []
        if self._rs is not None:
            found: list[tuple[int, int, int]] = self._rs.find_matches_as_indexes(data, overlapping=True)
            found.sort(key=_END)  # (in order already: a linear check)
            return found
        return [(index, end + 1 - size, end + 1) for end, (index, size) in self._py.iter(data.decode("latin-1"))]


_END = itemgetter(2)


class BlockMatcher:
    """The pure-Python scan of a window for one table (built once a table: `for_table`)."""

    def __init__(self, table: PatternTable, *, rust: bool = True) -> None:
        """`rust=False`: pyahocorasick even where ahocorasick_rs is installed (the tests check both)."""
        self.table = table
        probes = table._probes["log"]
        self.exact = not table._always["log"]  # a regex without a literal runs on every line: no skipping
        # a line is a candidate for a regex when it holds a literal of its primary set (`_Probe`); its
        # other sets (methods, status codes) are in most lines of an access log: more keys, more hits,
        # for fewer lines rejected than `_first_match` rejects at once
        index: dict[bytes, int] = {}
        owners: list[set[int]] = []
        for n, probe in enumerate(probes):
            for literal in probe.primary or ():
                key = index.setdefault(literal.replace(SPACE, " ").encode(), len(index))
                if key == len(owners):
                    owners.append(set())
                owners[key].add(n)
        # each regex's other literal sets (`_Probe.also`), searched in the folded bytes of a line before
        # it is decoded: "status" is in every line of some JSON logs, "status" then 500..599 in few
        self._also = [tuple(re.compile(alternation(literals).encode())
                            for literals in (required_literals(probe.regex.pattern, REGEX_FLAGS) or ())[1:]
                            if all(map(str.isascii, literals)))
                      for probe in probes]
        self._table = _Finder(list(index), rust=rust)
        # of each key: the regexes it is a primary literal of, with their other sets
        self._checks = [tuple((n, self._also[n]) for n in sorted(found)) for found in owners]
        # a trigger led by a line break matches at a line's start (the first line's is looked for apart)
        self._triggers = _Finder([word.encode() for word in TRIGGERS], rust=rust)
        self._first_line = tuple(word[1:].encode() for word in TRIGGERS if word.startswith("\n"))

    def scan(self, data: bytes, mark: int | None = None,
             runs: Sequence[tuple[int, int]] | None = None) -> tuple[LazyLines, dict[int, Pattern], list[int], int]:
        """(the lines of `data`, which row each line a row matches matched, the lines holding an
        error-event trigger in order, the line of offset `mark` (the number of lines, without)).
        `data`: lines joined by "\n", none holding another break; `runs`: its runs of non-ASCII
        bytes (`fastscan.non_ascii_runs`), when the caller has them."""
        lines = LazyLines(data)
        table = self.table
        matched = self._rows(data, data.translate(_FOLD))  # (where a line starts, its row)
        triggers = [end - 1 for _, _, end in self._triggers.find(data)]  # (where their last byte is)
        if data.startswith(self._first_line):  # a trigger led by a line break, at the start of the first line
            triggers.insert(0, 0)
        if runs is None:
            runs = fastscan.non_ascii_runs(data) if not data.isascii() else []
        odd = [start for start, _ in runs]
        # one count of line breaks for all: the matched lines, the triggers, the non-ASCII runs, the
        # mark and the end
        starts = [start for start, _ in matched]
        ends = [len(data) if mark is None else min(mark, len(data)), len(data)]
        points = sorted([*starts, *triggers, *odd, *ends])
        line_of = dict(zip(points, _numbers(data, points), strict=True))
        lines.known_length(line_of[len(data)] + 1)
        lines.seed(map(line_of.__getitem__, starts), starts)
        lines.seed(map(line_of.__getitem__, triggers), triggers)
        lines.note_non_ascii([line_of[start] for start in odd], odd)
        verdicts = {line_of[start]: verdict for start, verdict in matched}
        for line in lines.non_ascii():
            verdict = table.classify(lines[line], "log")
            if verdict is not None:
                verdicts[line] = verdict
        stop = len(lines) if mark is None else line_of[ends[0]]
        return lines, verdicts, sorted({line_of[offset] for offset in triggers}), stop


    def _rows(self, data: bytes, folded: bytes) -> list[tuple[int, Pattern]]:
        """(where the line starts, its row) of each ASCII line a row matches: the lines holding a
        primary literal, in order; for each, the regexes whose other sets it holds too are run. (One
        loop over the hits, a line handled when the next hit is past its end: the hot path.)"""
        probes, first_match, checks = self.table._probes["log"], self.table._first_match, self._checks
        ascii_only = data.isascii()
        find, rfind = folded.find, folded.rfind
        out: list[tuple[int, Pattern]] = []
        hits = self._table.find(folded)
        hits.append((-1, 0, len(folded) + 2))  # past every line: the last line is handled too
        start = end = -1
        keys: set[int] = set()
        for key, _, stop in hits:
            if stop <= end:  # on the line of the hit before (no key ends with a line break)
                keys.add(key)
                continue
            if keys:
                candidates = set()
                for each in keys:
                    for n, needs in checks[each]:
                        for need in needs:
                            if need.search(folded, start, end) is None:
                                break
                        else:
                            candidates.add(n)
                if candidates:
                    raw = data[start:end]
                    if ascii_only or raw.isascii():  # (the others take the exact path of `scan`)
                        text = raw.decode("ascii")
                        verdict = first_match(probes, candidates, text, text.lower())
                        if verdict is not None:
                            out.append((start, verdict))
            if key < 0:
                break
            start = rfind(b"\n", 0, stop - 1) + 1
            end = find(b"\n", stop - 1)
            end = len(folded) if end < 0 else end
            keys = {key}
        return out

def _numbers(data: bytes, offsets: list[int]) -> list[int]:
    """The line index of each offset (ascending): the breaks in between counted by bytes.count."""
    out = []
    line = position = 0
    count = data.count
    for offset in offsets:
        if offset > position:
            line += count(b"\n", position, offset)
            position = offset
        out.append(line)
    return out


_MATCHERS: WeakKeyDictionary[PatternTable, dict[bool, BlockMatcher]] = WeakKeyDictionary()


def for_table(table: PatternTable, *, size: int = fastscan.MIN_BYTES) -> BlockMatcher:
    """The table's block matcher for a window of `size` bytes, built on first use: with
    ahocorasick_rs for a big one (its DFAs take ~40 ms to build, and then scan ~4x faster), with
    pyahocorasick (~7 ms) for a small one."""
    rust = size >= fastscan.MIN_BYTES
    built = _MATCHERS.setdefault(table, {})
    if rust not in built:
        built[rust] = BlockMatcher(table, rust=rust)
    return built[rust]

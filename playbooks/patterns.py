"""The bug-pattern table: known error signatures as data (patterns.yaml), validated at load.

A row says what a log line, a warning event or a container state means: the likely cause, the
fix, and the next command to run. Users extend or override the packaged table with their own
YAML files; a bad row is an error naming the file, the row and the field.

Classification is on the hot path (a debug run classifies every log line of every container), so
each regex carries the literal strings a line must hold for it to possibly match, derived from the
regex itself (`playbooks/literals.py`): one string of a primary set, and one of a second set when the regex has one
(`GET ... 503` needs a status code and a method). One Aho-Corasick pass over a whole log finds the
lines holding a primary literal; only there is the second set checked and the regex run (compiled
then, for a table from the disk cache: `LazyRegex`), so a harmless line costs its share of that pass.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from functools import cache
from itertools import compress
from operator import not_
from pathlib import Path
from typing import Any, Literal, cast

import ahocorasick  # type: ignore[import-not-found]
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from bot.errors import NotFoundError, PatternFileError, UsageError
from bot.models import Severity
from bot.plumbing.lazyre import LazyRegex
from playbooks import fastscan
from playbooks.knowledge import read_yaml_file, validate_row
from playbooks.literals import SPACE, alternation, ascii_spaced, required_literals

DEFAULT_FILE = Path(__file__).with_name("patterns.yaml")
Source = Literal["log", "event", "status"]
SOURCES: tuple[Source, ...] = ("log", "event", "status")
DEFAULT_SOURCES: tuple[Source, ...] = ("log", "event")
# The placeholders the playbooks fill in next_commands (the lead's findings also know repo and run_id).
PLACEHOLDERS = frozenset({"namespace", "service", "pod", "container", "repo", "run_id"})
# Regexes are case-insensitive: real logs vary in case. A row opts out locally with (?-i:...).
REGEX_FLAGS = re.IGNORECASE
# Non-ASCII characters that a case-insensitive regex takes for an ASCII letter (str.lower() does
# not map them so): folded before the literal check so that it never rejects a matching line.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


def _compile(regex: str) -> LazyRegex:
    try:
        return LazyRegex.compiled(regex, REGEX_FLAGS)
    except re.error as exc:
        raise ValueError(f"bad regex {regex!r}: {exc}") from None


class Pattern(BaseModel):
    """One row of the table. A line matches when any `match` regex finds it and no `exclude` regex does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, description="kebab-case, unique in a file; a later file's row replaces it")
    title: str = Field(min_length=1)
    severity: Severity
    match: list[str] = Field(min_length=1)
    exclude: list[str] = []
    sources: list[Source] = Field(default_factory=lambda: list(DEFAULT_SOURCES), min_length=1)
    cause: str = Field(min_length=1)
    fix: str = Field(min_length=1)
    snippet: str | None = None
    regression_test: str | None = Field(
        default=None, min_length=1, max_length=4000,
        description="a test that keeps the bug from coming back (the walkthrough's Step 4), shown with the fix")
    next_commands: list[str] = []
    docs: str | None = Field(default=None, pattern=r"^https?://\S+$")
    priority: int = Field(default=0, description="higher is tried first; equal priorities keep file order")

    _match_re: list[LazyRegex] = PrivateAttr(default_factory=list)
    _exclude_re: list[LazyRegex] = PrivateAttr(default_factory=list)

    @field_validator("match", "exclude")
    @classmethod
    def _regexes_compile(cls, value: list[str]) -> list[str]:
        for i, regex in enumerate(value):
            try:
                _compile(regex)
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from None
        return value

    @field_validator("next_commands")
    @classmethod
    def _known_placeholders(cls, value: list[str]) -> list[str]:
        for i, template in enumerate(value):
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc} in {template!r}") from None
            unknown = names - PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"item {i}: unknown placeholder {{{sorted(unknown)[0]}}}; "
                    f"use {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}"
                )
        return value

    def model_post_init(self, __context: Any) -> None:
        self._match_re = [_compile(r) for r in self.match]
        self._exclude_re = [_compile(r) for r in self.exclude]

    def matches(self, text: str) -> bool:
        if not any(r.search(text) for r in self._match_re):
            return False
        return not any(r.search(text) for r in self._exclude_re)

    def excluded(self, text: str) -> bool:
        return any(r.search(text) for r in self._exclude_re)

    def commands(self, **values: str) -> list[str]:
        """next_commands with the given placeholders filled; templates needing a missing one are left out."""
        out = []
        for template in self.next_commands:
            try:
                out.append(template.format(**values))
            except (KeyError, IndexError):
                continue
        return out


class _Probe:
    """One match regex of one row, with the literals a line must hold for the regex to possibly match:
    one string of the primary set (found by the table's Aho-Corasick pass), and one of each further
    set (`also`, checked only on the lines the primary let through)."""

    __slots__ = ("also", "primary", "regex", "row")

    def __init__(self, row: int, regex: LazyRegex, requirements: tuple[tuple[str, ...], ...] | None) -> None:
        self.row = row
        self.regex = regex
        # lowercase; None: no usable literal, always run the regex
        self.primary = requirements[0] if requirements else None
        self.also = tuple(LazyRegex(alternation(r)) for r in (requirements or ())[1:])


class PatternTable:
    """The ordered rows; a text is classified to the first row (by priority, then file order) that matches."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        rows = list(patterns)
        # Stable sort: equal priorities keep their order in the files.
        self.patterns: list[Pattern] = sorted(rows, key=lambda p: -p.priority)
        self._by_id = {p.id: p for p in self.patterns}
        self._probes: dict[str, list[_Probe]] = {}
        self._words: dict[str, Any] = {}  # source -> Aho-Corasick automaton: primary literal -> probe indexes
        self._always: dict[str, tuple[int, ...]] = {}  # probes without a literal: run on every line
        self._spaced: dict[str, tuple[int, ...]] = {}  # probes whose literal holds SPACE: run on non-ASCII lines
        self._scanners: dict[str, fastscan.LineScanner | None] = {}  # hyperscan, built for big logs only
        for source in SOURCES:
            probes = [
                _Probe(i, regex, required_literals(regex.pattern, REGEX_FLAGS))
                for i, p in enumerate(self.patterns)
                if source in p.sources
                for regex in p._match_re
            ]
            self._probes[source] = probes
            self._always[source] = tuple(n for n, pr in enumerate(probes) if pr.primary is None)
            # a primary literal holding a white space (SPACE) is looked for with each ASCII one; a line
            # where it may be another (\u2003, \xa0...) holds a non-ASCII character: there, always run
            self._spaced[source] = tuple(n for n, pr in enumerate(probes)
                                         if pr.primary and any(SPACE in lit for lit in pr.primary))
            owners: dict[str, list[int]] = {}
            for n, pr in enumerate(probes):
                for lit in pr.primary or ():
                    for word in ascii_spaced(lit):
                        owners.setdefault(word, []).append(n)
            automaton = None
            if owners:
                automaton = ahocorasick.Automaton()
                for lit, indexes in owners.items():
                    automaton.add_word(lit, tuple(indexes))
                automaton.make_automaton()
            self._words[source] = automaton

    def __len__(self) -> int:
        return len(self.patterns)

    def __iter__(self) -> Iterator[Pattern]:
        return iter(self.patterns)

    def __repr__(self) -> str:
        return f"PatternTable({len(self.patterns)} patterns)"

    @classmethod
    def load(cls, *paths: Path | str) -> PatternTable:
        """The packaged table, then each extra file's rows: a row whose id is already there replaces it
        (in place, so it keeps the built-in's precedence); new ids are appended."""
        rows: dict[str, Pattern] = {}
        for path in (DEFAULT_FILE, *map(Path, paths)):
            for row in read_pattern_file(path):
                rows[row.id] = row  # dict keeps the first insertion's position on replacement
        return cls(rows.values())

    @classmethod
    def default(cls) -> PatternTable:
        return _default_table()

    def get(self, pattern_id: str) -> Pattern:
        try:
            return self._by_id[pattern_id]
        except KeyError:
            known = ", ".join(p.id for p in self.patterns)
            raise NotFoundError(f"no pattern {pattern_id!r}; known patterns: {known}") from None

    def classify(self, text: str, source: str = "log") -> Pattern | None:
        probes = self._source(source)
        automaton = self._words[source]
        candidates: set[int] = set(self._always[source])
        folded = _fold(text)
        if not folded.isascii():
            candidates.update(self._spaced[source])
        if automaton is not None:
            for _, indexes in automaton.iter(folded):
                candidates.update(indexes)
        return self._first_match(probes, candidates, text, folded)

    def classify_many(self, texts: Sequence[str], source: str = "log", *,
                      encoded: bytes | None = None) -> list[Pattern | None]:
        """classify() of each text, with one prefilter pass over all of them (the way to classify the
        thousands of lines of a log: the Aho-Corasick scan is started once, not once a line; for a
        big log, one hyperscan pass where it is installed). `encoded`: `fastscan.encode(texts)`,
        when the caller has it already."""
        fast = self._fast_hits(texts, source, encoded)  # (checks the source)
        if fast is not None:
            scanned: list[Pattern | None] = [None] * len(texts)
            for line, verdict in fast.items():
                scanned[line] = verdict
            return scanned
        return self._by_automaton(texts, source)

    def _by_automaton(self, texts: Sequence[str], source: str) -> list[Pattern | None]:
        """classify() of each text, with one Aho-Corasick pass over all of them (the path without
        hyperscan)."""
        probes = self._probes[source]
        automaton = self._words[source]
        joined = "\n".join(texts)
        if automaton is None or joined.count("\n") != len(texts) - 1:  # a text holding newlines: one by one
            return [self.classify(text, source) for text in texts]
        folded = _fold(joined)
        folded_lines = folded.split("\n")  # folding keeps newlines where they were
        hits: dict[int, set[int]] = {}
        line = position = 0
        for end, indexes in automaton.iter(folded):  # in order of end: count the breaks in between
            if end > position:
                line += folded.count("\n", position, end)
                position = end
            found = hits.get(line)
            if found is None:
                hits[line] = set(indexes)
            else:
                found.update(indexes)
        spaced = self._spaced[source]
        if spaced and not folded.isascii():
            for line in compress(range(len(texts)), map(not_, map(str.isascii, folded_lines))):
                hits.setdefault(line, set()).update(spaced)
        always = self._always[source]
        out: list[Pattern | None] = [None] * len(texts)
        for line, candidates in hits.items():
            out[line] = self._first_match(probes, candidates.union(always), texts[line], folded_lines[line])
        if always:
            for line in set(range(len(texts))).difference(hits):
                out[line] = self._first_match(probes, set(always), texts[line], folded_lines[line])
        return out

    def classify_hits(self, texts: Sequence[str], source: str = "log", *,
                      encoded: bytes | None = None) -> dict[int, Pattern]:
        """classify_many as {line index: row}, in line order, of only the lines a row matches: a log
        of thousands of lines and a few matches is not walked again line by line."""
        hits = self._fast_hits(texts, source, encoded)
        return _matched(self._by_automaton(texts, source)) if hits is None else dict(sorted(hits.items()))

    def _fast_hits(self, texts: Sequence[str], source: str, encoded: bytes | None) -> dict[int, Pattern] | None:
        """The rows matched through one hyperscan pass (`_scanned`), or None where that path does not
        apply: no hyperscan, a small text, or lines holding newlines or folding characters."""
        self._source(source)
        if encoded is None and not (fastscan.available() and sum(map(len, texts)) >= fastscan.MIN_BYTES):
            return None
        data = encoded if encoded is not None else fastscan.encode(texts)
        # a view of the buffer has its lines by construction; its non-ASCII lines (folding
        # characters included) take the exact path of `_scanned`
        lazy = isinstance(texts, fastscan.LazyLines)
        folds = not lazy and not data.isascii() and any(c.encode() in data for c in _FOLDED_STR)
        if not (lazy or data.count(b"\n") == len(texts) - 1) or folds:
            return None
        scanner = self.fast_scanner(source)
        return None if scanner is None else self._scanned(scanner, texts, source, data)

    def fast_scanner(self, source: str) -> fastscan.LineScanner | None:
        """The hyperscan database of every regex of a source, compiled on first use (big logs only)."""
        if source not in self._scanners:
            probes = self._probes[source]
            self._scanners[source] = fastscan.LineScanner.build(
                [(n, probe.regex.pattern) for n, probe in enumerate(probes)], caseless=True
            )
        return self._scanners[source]

    def classify_view(self, lines: fastscan.LazyLines, source: str = "log", *,
                      encoded: bytes) -> dict[int, Pattern]:
        """classify_many of a view of a buffer (`encoded`) as {line index: row} of the lines a row
        matches: through hyperscan, without a list of every line."""
        self._source(source)
        scanner = self.fast_scanner(source)
        if scanner is None:
            return _matched(self.classify_many(lines, source, encoded=encoded))
        return self._scanned(scanner, lines, source, encoded)

    def _scanned(self, scanner: fastscan.LineScanner, texts: Sequence[str], source: str,
                 encoded: bytes | None) -> dict[int, Pattern]:
        """The rows matched, through one hyperscan pass: only the lines it reports are checked (exactly,
        with `re`); lines with non-ASCII characters take the exact path of `classify`."""
        probes = self._probes[source]
        hits, rest = scanner.scan(texts, data=encoded)
        out: dict[int, Pattern] = {}
        for line, candidates in hits.items():
            text = texts[line]
            verdict = self._first_match(probes, candidates, text, _fold(text))
            if verdict is not None:
                out[line] = verdict
        for line in rest:  # (whatever the scan said)
            verdict = self.classify(texts[line], source)
            if verdict is None:
                out.pop(line, None)
            else:
                out[line] = verdict
        return out

    def _source(self, source: str) -> list[_Probe]:
        try:
            return self._probes[source]
        except KeyError:
            raise UsageError(f"unknown source {source!r}; use one of: {', '.join(SOURCES)}") from None

    def _first_match(self, probes: list[_Probe], candidates: AbstractSet[int], text: str,
                     folded: str) -> Pattern | None:
        vetoed: set[int] = set()
        for n in sorted(candidates) if len(candidates) > 1 else candidates:  # (the hot path: one candidate)
            probe = probes[n]
            if probe.row in vetoed:
                continue
            for also in probe.also:
                if also.search(folded) is None:
                    break
            else:
                if probe.regex.search(text) is not None:
                    pattern = self.patterns[probe.row]
                    if not pattern.excluded(text):
                        return pattern
                    vetoed.add(probe.row)
        return None


def _matched(verdicts: Sequence[Pattern | None]) -> dict[int, Pattern]:
    """{line index: its row} of the lines a row matched (compress keeps the loop in C)."""
    return {index: cast(Pattern, verdicts[index]) for index in compress(range(len(verdicts)), verdicts)}


_FOLDED_CHARS = tuple(_FOLD)  # code points of the characters _FOLD maps
_FOLDED_STR = tuple(map(chr, _FOLDED_CHARS))


def _fold(text: str) -> str:
    """Lowercase for the literal prefilter, keeping every character where it was (offsets and line
    breaks line up with the text). Only ASCII letters need lowering (the literals are ASCII), so a
    text of any script is lowered at the speed of bytes, unless it holds one of the few characters
    a case-insensitive regex takes for an ASCII letter: then the exact, slower path."""
    if text.isascii():
        return text.lower()
    if any(chr(c) in text for c in _FOLDED_CHARS):
        return text.translate(_FOLD).lower()
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def match_lines(table: PatternTable, lines: Iterable[str]) -> Iterator[tuple[int, Pattern, str]]:
    """(1-based line number, pattern, line text without its newline) for each line that matches a row."""
    texts = [line.rstrip("\r\n") for line in lines]
    for number, (text, pattern) in enumerate(zip(texts, table.classify_many(texts, "log"), strict=True), start=1):
        if pattern is not None:
            yield number, pattern, text


@cache
def _default_table() -> PatternTable:
    return PatternTable.load()


def read_pattern_file(path: Path | str) -> list[Pattern]:
    """The validated rows of one file: a mapping with a `patterns:` list (or a bare list of rows)."""
    path = Path(path)
    data = read_yaml_file(path)
    if isinstance(data, dict) and "patterns" in data:
        data = data["patterns"]
    if not isinstance(data, list):
        raise PatternFileError(f"{path}: expected a 'patterns:' list of rows")
    rows: list[Pattern] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data):
        row_id = raw.get("id") if isinstance(raw, dict) else None
        label = f"row {index} (id {row_id!r})" if row_id is not None else f"row {index}"
        row = validate_row(Pattern, raw, path=path, label=label)
        if row.id in seen:
            raise PatternFileError(
                f"{path}: {label}: field 'id': duplicate id {row.id!r} (also row {seen[row.id]})"
            )
        seen[row.id] = index
        rows.append(row)
    return rows

"""The bug-pattern table: known error signatures as data (patterns.yaml), validated at load.

A row says what a log line, a warning event or a container state means: the likely cause, the
fix, and the next command to run. Users extend or override the packaged table with their own
YAML files; a bad row is an error naming the file, the row and the field.

Classification is on the hot path (a debug run classifies every log line of every container), so
each regex carries the literal strings a line must hold for it to possibly match, derived from the
regex itself: one string of a primary set, and one of a second set when the regex has one
(`GET ... 503` needs a status code and a method). One Aho-Corasick pass over a whole log finds the
lines holding a primary literal; only there is the second set checked and the regex run (compiled
then, for a table from the disk cache: `LazyRegex`), so a harmless line costs its share of that pass.
"""

from __future__ import annotations

import importlib
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

try:  # the regex parser is private; without it every regex simply runs on every line
    _sre_parse: Any = importlib.import_module("re._parser")
    _sre_consts: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover
    _sre_parse = _sre_consts = None

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
_MIN_LITERAL = 3  # shorter literals reject too few lines to be worth a check
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
        self.also = tuple(LazyRegex(_alternation(r)) for r in (requirements or ())[1:])


def _alternation(strings: Iterable[str]) -> str:
    """A regex matching exactly one of the strings (SPACE as `\\s`), written as a trie whose
    characters sharing what may follow them form a class: "500".."599" is `5[0-9][0-9]`, which `re`
    checks a character at a time, where `500|501|...` tries a hundred alternatives at every 5."""
    words = frozenset(strings)
    follows: dict[str, set[str]] = {}
    for word in words:
        if word:
            follows.setdefault(word[0], set()).add(word[1:])
    heads: dict[frozenset[str], list[str]] = {}
    for char, rests in sorted(follows.items()):
        heads.setdefault(frozenset(rests), []).append(char)
    parts = []
    for tails, chars in heads.items():
        escaped = [r"\s" if char == SPACE else re.escape(char) for char in chars]
        parts.append((escaped[0] if len(escaped) == 1 else "[" + "".join(escaped) + "]") + _alternation(tails))
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    if "" in words and parts:  # a word ends here: what follows is optional
        return "(?:" + body + ")?"
    return body if parts else ""


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
                _Probe(i, regex, _required_literals(regex.pattern))
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
                    for word in _ascii_spaced(lit):
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
        probes = self._source(source)
        automaton = self._words[source]
        fast = self._fast_hits(texts, source, encoded)
        if fast is not None:
            scanned: list[Pattern | None] = [None] * len(texts)
            for line, verdict in fast.items():
                scanned[line] = verdict
            return scanned
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
        if hits is None:
            verdicts = self.classify_many(texts, source, encoded=encoded)
            return {index: cast(Pattern, verdicts[index]) for index in compress(range(len(verdicts)), verdicts)}
        return dict(sorted(hits.items()))

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
            verdicts = self.classify_many(lines, source, encoded=encoded)
            return {index: verdict for index, verdict in enumerate(verdicts) if verdict is not None}
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


# --- literal prefilter -------------------------------------------------------------------------

@cache  # a regex serves several sources, and a user's file repeats the packaged rows it overrides
def _required_literals(regex: str) -> tuple[tuple[str, ...], ...] | None:
    """Sets of lowercase strings such that every text the regex matches holds one string of each
    set; None when there is no such set worth checking.

    Walks the parsed regex. Items that match exactly one of a few strings (literal characters,
    small alternations and character ranges of them, zero-width assertions) are multiplied out
    into runs: `https?://` gives {"http://", "https://"}. A run is required; an alternation
    requires one of its branches' requirements; a sequence requires all of its own. Of those, the
    _MAX_REQUIREMENTS most selective are kept, most selective first: `GET .+ 5[0-9][0-9]` needs
    one of "500".."599" *and* one of the methods, which rejects the ordinary access log line that
    the methods alone would let through. Anything unusual gives None (always run).
    """
    if _sre_parse is None or _sre_consts is None:
        return None
    try:
        candidates, _ = _seq_literals(list(_sre_parse.parse(regex, REGEX_FLAGS)))
    except Exception:  # any parser surprise only costs speed, never a wrong answer
        return None
    usable = sorted((c for c in candidates if min(len(s) for s in c) >= _MIN_LITERAL), key=_selectivity, reverse=True)
    primary = usable[0] if usable else None
    if primary is None:
        return None
    # a set whose every string holds a string of the primary one ("get" then "get ") rejects nothing more
    # (or that the primary set implies: "errored" needs "error")
    usable = [c for c in usable if c is not primary and not all(any(p in s for p in primary) for s in c)
              and not all(any(s in p for s in c) for p in primary)]
    kept: list[tuple[str, ...]] = []
    for best in [primary, *usable][:_MAX_REQUIREMENTS]:
        # a string that contains another one of the set adds nothing: {"foo", "foobar"} is {"foo"}
        kept.append(tuple(sorted(x for x in best if not any(y != x and y in x for y in best))))
    return tuple(kept) or None


# stands for "one white-space character" (`\\s`) in a literal; a private-use character, which a
# regex's own literals never give (non-ASCII literals are not used); checked as `\\s` by `_Probe`
SPACE = "\ue000"
_MAX_RUNS = 128  # cap on the strings a run multiplies out to ("5[0-9][0-9]" is 100)
_MAX_REQUIREMENTS = 2  # literal sets checked per regex: the primary one and at most one more
_MAX_RANGE = 16  # a character range of at most this many characters is a set of literals
Literals = frozenset[str]


def _selectivity(candidate: Literals) -> tuple[int, int, int]:
    # the requirement whose shortest string is longest rejects the most lines; then one holding more
    # than letters ("exit code", "://"), then plain words ("get"), last bare numbers: "503" is in
    # every timestamp, duration, port and id of a log, so as the primary set it lets a third of all
    # lines through (it still serves as the second set, checked only on lines the first let in);
    # then the fewest strings
    if all(s.isdigit() for s in candidate):
        kind = 0
    elif all(s.isalpha() for s in candidate):
        kind = 1
    else:
        kind = 2
    return min(len(s) for s in candidate), kind, -len(candidate)


# what `\s` matches within ASCII (a line holds no "\n"); other white space is not ASCII
_ASCII_SPACE = "\t\x0b\x0c\r\x1c\x1d\x1e\x1f "


def _ascii_spaced(literal: str) -> list[str]:
    """The literal with each SPACE replaced by each ASCII white-space character."""
    words = [""]
    for part in literal.split(SPACE)[:-1]:
        words = [w + part + c for w in words for c in _ASCII_SPACE]
    return [w + literal.split(SPACE)[-1] for w in words]


def _best(candidates: list[Literals]) -> Literals | None:
    return max(candidates, key=_selectivity) if candidates else None


def _class_literals(items: list[tuple[Any, Any]]) -> Literals | None:
    """The characters of a class such as `[ _]` or `[0-9]`, if it is a few ASCII ones, lowercased."""
    c = _sre_consts
    if items == [(c.CATEGORY, c.CATEGORY_SPACE)]:  # \s: one white-space character, whatever it is
        return frozenset({SPACE})
    chars: set[str] = set()
    for op, av in items:
        if op is c.LITERAL and chr(av).isascii():
            chars.add(chr(av).lower())
        elif op is c.RANGE and av[1] < 128 and av[1] - av[0] < _MAX_RANGE:
            chars.update(chr(v).lower() for v in range(av[0], av[1] + 1))
        else:
            return None
    return frozenset(chars)


def _seq_literals(items: list[tuple[Any, Any]]) -> tuple[list[Literals], Literals | None]:
    """(every requirement of the sequence, all of them required; the exact strings the whole
    sequence matches, if finite)."""
    c = _sre_consts
    candidates: list[Literals] = []
    run: Literals = frozenset({""})
    # the part of the run after its last optional item: `["']?5[0-9][0-9]` gives "500".."599" where
    # the whole run ('"50', "50"...) holds strings too short to use
    tail: Literals = frozenset({""})
    exact_all = True

    def flush() -> None:
        nonlocal run, tail
        if all(run):  # a run that may be empty requires nothing
            candidates.append(run)
        if all(tail) and tail != run:
            candidates.append(tail)
        run = tail = frozenset({""})

    def extend(exact: Literals) -> None:
        nonlocal tail
        if "" in exact and len(exact) > 1:  # optional: what follows is not joined to what came before
            tail = frozenset({""})
        elif len(tail) * len(exact) > _MAX_RUNS:
            tail = exact
        else:
            tail = frozenset(a + b for a in tail for b in exact)

    for op, av in items:
        exact: Literals | None = None
        inner: Literals | None = None
        if op is c.LITERAL:
            ch = chr(av)
            if ch.isascii():  # case folding outside ASCII differs from str.lower()
                exact = frozenset({ch.lower()})
        elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero-width: consumes nothing
            exact = frozenset({""})
        elif op is c.SUBPATTERN:
            needs, exact = _seq_literals(list(av[-1]))
            inner = _best(needs)
        elif op is c.ATOMIC_GROUP:
            needs, exact = _seq_literals(list(av))
            inner = _best(needs)
        elif op is c.BRANCH:
            branches = [_seq_literals(list(b)) for b in av[1]]
            if all(e is not None for _, e in branches):
                exact = frozenset().union(*(e for _, e in branches if e is not None))
            else:
                best = [_best(b) if b else e for b, e in branches]
                if all(n is not None and any(n) for n in best):
                    inner = frozenset().union(*(n for n in best if n is not None))
        elif op is c.IN:  # [ _], [0-9]
            exact = _class_literals(list(av))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[0] >= 1:
            needs, once = _seq_literals(list(av[2]))
            inner = _best(needs)
            if av[0] == av[1] == 1:
                exact = once
            elif once is not None and all(once) and len(once) <= _MAX_RUNS:
                # `ab+c` holds "bc": the last repetition starts the next run, so `GET\s+/x\s+5[0-9][0-9]`
                # needs a white space then the status, which a timestamp or an id rarely holds
                exact_all = False
                flush()
                run = tail = once
                continue
            elif once is not None and all(once):
                inner = once if inner is None else max(inner, once, key=_selectivity)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[1] == 1:  # x? is x or nothing
            _, once = _seq_literals(list(av[2]))
            if once is not None:
                exact = once | {""}
        if exact is not None and len(exact) <= _MAX_RUNS:
            extend(exact)
            if len(run) * len(exact) > _MAX_RUNS:
                if all(run):
                    candidates.append(run)
                run = frozenset({""})
            run = frozenset(a + b for a in run for b in exact)
            continue
        exact_all = False
        flush()
        if inner is not None and any(inner) and all(inner):
            candidates.append(inner)
    whole = run if exact_all else None
    flush()
    return candidates, whole

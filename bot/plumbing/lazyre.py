"""`LazyRegex`: a regular expression compiled the first time it is used.

Every run loads regexes it mostly never runs: the pattern table's ~230 row regexes (pickled in the
disk cache, where unpickling a compiled pattern compiles it again: ~18 ms of every start) and the
redaction rules (~50: ~14 ms at import). A run classifies its lines through a literal prefilter
(Aho-Corasick or hyperscan) and redacts through trigger literals, so it needs a few of them.

A `LazyRegex` keeps its source and flags; the first `search`/`match`/`sub`/... compiles it and puts
the compiled pattern's bound methods in its slots, so every later call costs what a call on an
`re.Pattern` costs. It pickles as its source (compiled again only where it is used). A regex that
must be checked up front (a pattern file being validated) is built with `LazyRegex.compiled`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

_METHODS = ("search", "match", "fullmatch", "finditer", "findall", "sub")


class LazyRegex:
    __slots__ = ("pattern", "flags", *_METHODS)

    pattern: str
    flags: int
    search: Callable[..., re.Match[str] | None]
    match: Callable[..., re.Match[str] | None]
    fullmatch: Callable[..., re.Match[str] | None]
    finditer: Callable[..., Iterator[re.Match[str]]]
    findall: Callable[..., list[Any]]
    sub: Callable[..., str]

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    @classmethod
    def compiled(cls, pattern: str, flags: int = 0) -> LazyRegex:
        """Compiled now: a bad regex raises `re.error` here, not at its first use."""
        lazy = cls(pattern, flags)
        lazy._bind(re.compile(pattern, flags))
        return lazy

    def _bind(self, compiled: re.Pattern[str]) -> None:
        for name in _METHODS:
            setattr(self, name, getattr(compiled, name))

    def __getattr__(self, name: str) -> Any:
        # only reached while a method's slot is empty, i.e. before the first use
        if name not in _METHODS:
            raise AttributeError(name)
        self._bind(re.compile(self.pattern, self.flags))
        return getattr(self, name)

    def __reduce__(self) -> tuple[type[LazyRegex], tuple[str, int]]:
        return LazyRegex, (self.pattern, self.flags)

    def __repr__(self) -> str:
        return f"LazyRegex({self.pattern!r}, {self.flags!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyRegex) and (self.pattern, self.flags) == (other.pattern, other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

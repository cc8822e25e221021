"""The literals a regex requires: the pattern table's prefilter (playbooks/patterns.py), and the
Aho-Corasick and hyperscan passes built on it (playbooks/blockscan.py).

`required_literals` walks a regex's parse tree for sets of strings such that every text the regex
matches holds one string of each set; a line holding none of them is never given to `re`.
`alternation` writes such a set back as a compact regex.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

try:  # the regex parser is private; without it every regex simply runs on every line
    _sre_parse: Any = importlib.import_module("re._parser")
    _sre_consts: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover
    _sre_parse = _sre_consts = None

MIN_LITERAL = 3  # shorter literals reject too few lines to be worth a check


@cache  # a regex serves several sources, and a user's file repeats the packaged rows it overrides
def required_literals(regex: str, flags: int = re.IGNORECASE) -> tuple[tuple[str, ...], ...] | None:
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
        candidates, _ = _seq_literals(list(_sre_parse.parse(regex, flags)))
    except Exception:  # any parser surprise only costs speed, never a wrong answer
        return None
    usable = sorted((c for c in candidates if min(len(s) for s in c) >= MIN_LITERAL), key=_selectivity, reverse=True)
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


def ascii_spaced(literal: str) -> list[str]:
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


def alternation(strings: Iterable[str]) -> str:
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
        parts.append((escaped[0] if len(escaped) == 1 else "[" + "".join(escaped) + "]") + alternation(tails))
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    if "" in words and parts:  # a word ends here: what follows is optional
        return "(?:" + body + ")?"
    return body if parts else ""

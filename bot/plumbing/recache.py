"""Compiled regular expressions kept between runs of a one-shot command.

An `opsbot debug` compiles about 250 regular expressions before it answers: ours (log levels,
signatures, redaction rules, the pattern table's rows) and its libraries' (urllib3's URL parser,
PyYAML's reader and resolver, httpx, h11, http.cookiejar...). Python's `re` parses each one and
turns it into SRE code in Python, ~70 ms of a ~600 ms run, for the same result every time.

`re` keeps what it compiled in the process (`re._cache`, keyed by type, source and flags, consulted
by every `re.compile`, `re.match`...). `prewarm` fills that cache at start-up from the previous
run's: each pattern stored as the compiler's output (source, flags, code, groups), and made a
pattern again by `_sre.compile`, the C call `re.compile` itself ends with (~6 µs a pattern, 1.5 ms
in all). `keep`, at the end of a run, stores what that run compiled, when enough of it was new.

Safe by construction:
- marshal holds data only (no code runs when a file is read), and a file is only read when this
  user owns it and nobody else can write it or its directory (as the pattern table cache);
- the file is keyed by the exact interpreter (version and SRE magic): another Python's code is
  never loaded; `_sre.compile` validates the code it is given, and an entry it refuses is skipped;
- an entry is only stored after `_sre.compile` on it gave a pattern equal to the one `re` built
  (CPython compares source, flags and code), so if `re`'s internals ever differ, nothing is kept;
- everything is best effort: any error means `re` compiles as it always did.

What is kept is regex sources: opsbot builds none from a secret (tokens are found by shape, not by
value), and the file is 0600 in a 0700 directory.

`OPSBOT_REGEX_CACHE=0` turns it off.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import marshal
import os
import re
import sys
from typing import Any

from bot.plumbing.cachedir import cache_root, trusted, write_atomically

FORMAT = "opsbot-regex-cache-1"
# A run that compiled fewer new patterns than this leaves the file as it is: some sources change from
# one run to the next (tokenize's, built from a set, follows the string hash seed), and rewriting
# 250 KB every run would cost more than compiling them.
MIN_NEW = 8
MAX_KEPT = 480  # under re's own limit (512), so the prewarmed entries do not push each other out

Key = tuple[type, Any, int]
_loaded: dict[Key, tuple[Any, ...]] = {}  # what prewarm read: key -> the stored entry


def _tag() -> str:
    return f"{FORMAT} {sys.version} {_sre.MAGIC} {sys.implementation.cache_tag}"


def cache_file(command: str = "") -> str | None:
    """Where this interpreter's regex cache for `command` lives (one a command: each compiles its own
    set, stable from one run to the next); None when off or when there is no cache directory."""
    if os.environ.get("OPSBOT_REGEX_CACHE", "1") == "0":
        return None
    try:
        root = cache_root()
    except (KeyError, RuntimeError):
        return None
    name = "".join(c for c in command if c.isalnum() or c == "-")[:40] or "opsbot"
    return os.path.join(root, "regex", f"{name}.{sys.implementation.cache_tag}.marshal")


def _usable() -> bool:
    """The re internals this relies on are there (CPython 3.11 and later)."""
    return (isinstance(getattr(re, "_cache", None), dict) and hasattr(re, "_parser")
            and hasattr(re, "_compiler") and hasattr(_sre, "compile"))


def entry(key: Key) -> tuple[Any, ...] | None:
    """The stored form of a pattern: (source, flags as given, flags of the pattern, code, groups,
    groupindex, indexgroup), as `re._compiler.compile` hands them to `_sre.compile`."""
    kind, source, flags = key
    if kind not in (str, bytes) or not isinstance(flags, int):
        return None
    parsed = re._parser.parse(source, flags)  # type: ignore[attr-defined]
    code = [int(op) for op in re._compiler._code(parsed, flags)]  # type: ignore[attr-defined]
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    return (source, int(flags), int(flags | parsed.state.flags), code, parsed.state.groups - 1,
            groupindex, tuple(indexgroup))


def build(stored: tuple[Any, ...]) -> re.Pattern[Any]:
    """The pattern a stored entry describes (`_sre.compile` validates the code: ValueError or
    RuntimeError on anything malformed)."""
    source, _, pattern_flags, code, groups, groupindex, indexgroup = stored
    return _sre.compile(source, pattern_flags, code, groups, groupindex, indexgroup)


def read(path: str) -> list[tuple[Any, ...]]:
    """The entries of a cache file written by this very interpreter; [] for anything else."""
    try:
        if not trusted(path):
            return []
        with open(path, "rb") as handle:
            data = marshal.loads(handle.read())  # whole: marshal.load reads a file object piece by piece (25x slower)
    except (OSError, EOFError, ValueError, TypeError):
        return []
    if not (isinstance(data, tuple) and len(data) == 2 and data[0] == _tag() and isinstance(data[1], list)):
        return []
    return [e for e in data[1] if isinstance(e, tuple) and len(e) == 7]


def prewarm(path: str | None, cache: dict[Any, Any] | None = None) -> int:
    """Fill `re`'s cache (or `cache`) with the patterns kept at `path` (`cache_file(command)`).
    Returns how many were loaded; an entry that does not build is skipped."""
    if path is None or not _usable():
        return 0
    target = re._cache if cache is None else cache  # type: ignore[attr-defined]
    loaded = 0
    for stored in read(path):
        source, flags = stored[0], stored[1]
        key = (type(source), source, flags)
        try:
            pattern = build(stored)
        except Exception:  # a refused entry is compiled by re when needed
            continue
        if key not in target:
            target[key] = pattern
        _loaded[key] = stored
        loaded += 1
    return loaded


def keep(path: str | None, cache: dict[Any, Any] | None = None) -> int:
    """Store the patterns `re` holds now (or `cache`'s) when the run compiled MIN_NEW or more that
    `prewarm` did not give (any, when it gave none), up to MAX_KEPT. Returns how many were stored
    (0: nothing new enough, or it could not be written)."""
    try:
        return _keep(path, cache)
    except Exception:  # best effort: the run's answer is already out
        return 0


def _keep(path: str | None, cache: dict[Any, Any] | None) -> int:
    if path is None or not _usable():
        return 0
    current: dict[Any, Any] = dict(re._cache if cache is None else cache)  # type: ignore[attr-defined]
    new = [key for key in current if key not in _loaded]
    if len(new) < (MIN_NEW if _loaded else 1):
        return 0
    folder = os.path.dirname(path)
    try:  # a place that cannot be written (a read-only home in a container) costs no describing
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return 0
    if not os.access(folder, os.W_OK):
        return 0
    stored: list[tuple[Any, ...]] = []
    seen: set[Key] = set()
    for key, pattern in current.items():
        if len(stored) >= MAX_KEPT:
            break
        if not (isinstance(key, tuple) and len(key) == 3 and isinstance(pattern, re.Pattern)):
            continue
        item = _loaded.get(key)
        if item is None:
            try:
                item = entry(key)
                if item is None or build(item) != pattern:  # re's internals are not what we think
                    continue
            except Exception:  # a pattern we cannot describe is just not kept
                continue
        stored.append(item)
        seen.add(key)
    stored += [item for key, item in _loaded.items() if key not in seen][: max(0, MAX_KEPT - len(stored))]
    if not stored:
        return 0
    if not write_atomically(path, marshal.dumps((_tag(), stored)), prefix=".regex-"):
        return 0
    _loaded.update({(type(e[0]), e[0], e[1]): e for e in stored})
    return len(stored)

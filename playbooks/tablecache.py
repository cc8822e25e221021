"""The pattern table, kept ready on disk between runs of the CLI.

Building the table (`PatternTable.load`: YAML, validating every row, compiling its regexes, working out
each regex's required literals and the Aho-Corasick automatons) takes 70-100 ms, a sixth of an
`opsbot debug` run's start-up, for the same answer every time the files have not changed. `load_table`
keeps the built table in the cache directory (`OPSBOT_CACHE_DIR`, else `~/.cache/opsbot/`) under a key
made of the exact bytes of every pattern file, the source of the modules that build it, and the Python
and pyahocorasick versions; a file edited by one byte is a new key, so it is read and validated again.
Loading the kept table takes ~30 ms (its regexes are compiled again as they are unpickled).

A pickle runs code when loaded, so a kept table is only read from a file owned by this user that
nobody else may write, in a directory nobody else may write; anything else is ignored and rebuilt.
The cache is best effort: an unwritable directory only costs the build.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path

import ahocorasick  # type: ignore[import-not-found]

from bot.plumbing.cachedir import trusted, write_atomically
from playbooks import fastscan, knowledge, literals, patterns
from playbooks.fastscan import cache_dir
from playbooks.patterns import DEFAULT_FILE, PatternTable

BUILDERS = (patterns, literals, knowledge, fastscan)  # the modules whose code makes the table

FORMAT = b"opsbot-pattern-table-1"


def _key(paths: tuple[Path, ...]) -> str | None:
    digest = hashlib.sha256(FORMAT)
    digest.update(sys.version.encode())
    digest.update(str(getattr(ahocorasick, "__version__", "")).encode())
    try:
        for module in BUILDERS:
            digest.update(Path(str(module.__file__)).read_bytes())
        for path in (DEFAULT_FILE, *paths):
            body = path.read_bytes()
            digest.update(len(body).to_bytes(8, "big") + body)
    except OSError:
        return None  # a file that cannot be read: the build says so, in its own words
    return digest.hexdigest()[:40]


def load_table(*paths: Path | str) -> PatternTable:
    """`PatternTable.load(*paths)`, from the disk cache when these exact files were built before."""
    files = tuple(Path(p) for p in paths)
    key = _key(files)
    if key is None:
        return PatternTable.load(*files)
    try:
        where = cache_dir() / "tables" / f"{key}.pickle"  # no home directory at all: no cache
    except (RuntimeError, KeyError, OSError):
        return PatternTable.load(*files)
    try:
        if trusted(where):
            table = pickle.loads(where.read_bytes())
            if isinstance(table, PatternTable):
                return table
    except Exception:  # absent, unreadable, or another version's: build it
        pass
    table = PatternTable.load(*files)  # validates; a bad file raises here, before anything is kept
    try:
        blob = pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # a table that does not pickle: no cache
        return table
    write_atomically(str(where), blob, prefix=".table-")  # whole or not at all, also when two processes race
    return table

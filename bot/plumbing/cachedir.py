"""Where opsbot keeps what it can build again (compiled databases, the pattern table, compiled
regular expressions), and whether a kept file may be trusted.

Light on purpose (os only): the regex cache is read before anything else is imported.
"""

from __future__ import annotations

import contextlib
import os
import stat


def cache_root() -> str:
    """$OPSBOT_CACHE_DIR, else $XDG_CACHE_HOME/opsbot, else ~/.cache/opsbot. Raises (KeyError,
    RuntimeError) when there is no home directory to put it in."""
    explicit = os.environ.get("OPSBOT_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base.startswith("~"):  # expanduser found no home
        raise RuntimeError("no home directory for the cache")
    return os.path.join(base, "opsbot")


def trusted(path: str | os.PathLike[str]) -> bool:
    """Owned by this user, and neither the file nor its directory writable by anyone else (a kept
    file is only read back when nobody else could have written it). Raises OSError when absent."""
    uid = os.getuid()
    for item in (os.fspath(path), os.path.dirname(os.fspath(path)) or "."):
        info = os.stat(item)
        if info.st_uid != uid or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def write_atomically(path: str, blob: bytes, prefix: str) -> bool:
    """`blob` as the whole of `path` or nothing (a temporary file beside it, then renamed: two
    processes racing leave one whole file). The directory is made 0700, the file is 0600. False when
    it cannot be written: a cache is best effort."""
    import tempfile

    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True

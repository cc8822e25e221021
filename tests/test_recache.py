"""Compiled regular expressions kept between runs (bot.plumbing.recache): a kept pattern is the very
pattern `re` builds from the same source; nothing is read from a file another interpreter or
another user could have written; a bad entry costs only its compile; a CLI run with the cache
compiles (almost) nothing and answers exactly as without it."""

from __future__ import annotations

import json
import marshal
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.plumbing import recache

ROOT = Path(__file__).resolve().parent.parent

PATTERNS: list[tuple[str | bytes, int]] = [
    (r"(?P<level>ERROR|WARN)\s+(?P<msg>.+)$", re.MULTILINE),
    (r"(\d{4})-(\d\d)-(\d\d)T\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)", 0),
    (r"(?<![\w.])-?\d+(?:[.,]\d+)+(?![\w.])", 0),
    (r"ｅｒｒｏｒ|ошибка|\bfailed\b", re.IGNORECASE),
    (r"(a)(b)?(?(2)c|d)\1", 0),
    (r"""  ^\s*   # indent
          at \s ([\w$.<>]+)   # frame
          \(([^)]*)\)""", re.VERBOSE),
    (r"[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]", 0),
    (rb"HTTP/(?P<version>[0-9]\.[0-9]) (?P<status>[0-9]{3})", 0),
    (rb"[\x80-\xff]+", 0),
    (r"(?s:.{0,20})secret(?i:KEY)", 0),
]
SAMPLES = ["ERROR disk full\nWARN slow", "2026-11-29T10:00:00.5+01:00", "v1.2.3 -4,5 x.1.2",
           "ERROR Ошибка FAILED", "abcab adab", "    at com.acme.Main(Main.java:3)", "ok\x00\x01",
           "line ...secretkey", "ｅｒｒｏｒ"]
BYTE_SAMPLES = [b"HTTP/1.1 200 OK", b"caf\xc3\xa9", b"HTTP/2.0 503"]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recache, "_loaded", {})


def _compiled(patterns: list[tuple[str | bytes, int]]) -> dict[Any, Any]:
    """A cache as `re` keeps it: (type, source, flags) -> pattern."""
    return {(type(source), source, int(flags)): re.compile(source, flags) for source, flags in patterns}


def _same(kept: re.Pattern[Any], source: str | bytes, flags: int) -> None:
    fresh = re.compile(source, flags)
    re.purge()
    fresh = re.compile(source, flags)
    assert kept is not fresh
    assert kept == fresh  # CPython compares source, flags and the SRE code
    assert (kept.pattern, kept.flags, kept.groups, dict(kept.groupindex)) == \
        (fresh.pattern, fresh.flags, fresh.groups, dict(fresh.groupindex))
    for sample in BYTE_SAMPLES if isinstance(source, bytes) else SAMPLES:
        assert [m.span() for m in kept.finditer(sample)] == [m.span() for m in fresh.finditer(sample)]  # type: ignore[arg-type]
        assert [m.groups() for m in kept.finditer(sample)] == [m.groups() for m in fresh.finditer(sample)]  # type: ignore[arg-type]


def test_a_kept_pattern_is_the_pattern_re_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "regex" / "debug.marshal")
    assert recache.keep(path, cache=_compiled(PATTERNS)) == len(PATTERNS)
    assert not os.stat(path).st_mode & 0o077 and not os.stat(os.path.dirname(path)).st_mode & 0o077
    monkeypatch.setattr(recache, "_loaded", {})  # the next run
    warmed: dict[Any, Any] = {}
    assert recache.prewarm(path, cache=warmed) == len(PATTERNS)
    assert sorted(map(repr, warmed)) == sorted(map(repr, _compiled(PATTERNS)))
    for (_, source, flags), pattern in warmed.items():
        _same(pattern, source, flags)


_PIECES = st.sampled_from([r"\d+", r"[a-z]{2,5}", r"(?P<n{i}>\w+)", r"(x|yz)?", r"\s*", r"[^\]\\]", r"(?<=a)b",
                           r"(?:ab)+?", r"^", r"$", r"\bword\b", r"é+", r"\u0394", r"(?!q)."])


@settings(max_examples=60, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=6),
       st.sampled_from([0, re.IGNORECASE, re.MULTILINE | re.DOTALL, re.ASCII, re.IGNORECASE | re.VERBOSE]),
       st.text(max_size=40))
def test_any_pattern_kept_and_read_back_matches_as_compiled(pieces: list[str], flags: int, text: str) -> None:
    source = "".join(p.replace("{i}", str(i)) for i, p in enumerate(pieces))
    fresh = re.compile(source, flags)
    stored = recache.entry((str, source, flags))
    assert stored is not None
    kept = recache.build(marshal.loads(marshal.dumps(stored)))
    assert kept == fresh
    assert [m.groups() for m in kept.finditer(text)] == [m.groups() for m in fresh.finditer(text)]
    assert dict(kept.groupindex) == dict(fresh.groupindex)


def _write(path: Path, tag: str, entries: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(marshal.dumps((tag, entries)))
    path.chmod(0o600)


def test_another_interpreters_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "regex" / "x.marshal"
    good = [recache.entry((str, r"\d+", 0))]
    _write(path, recache._tag().replace(sys.version, "3.99.0"), good)
    assert recache.prewarm(str(path), cache={}) == 0
    _write(path, recache._tag(), good)
    assert recache.prewarm(str(path), cache={}) == 1


def test_a_file_anyone_else_could_write_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "regex" / "x.marshal"
    _write(path, recache._tag(), [recache.entry((str, r"\d+", 0))])
    path.chmod(0o666)
    assert recache.prewarm(str(path), cache={}) == 0
    path.chmod(0o600)
    path.parent.chmod(0o777)
    assert recache.prewarm(str(path), cache={}) == 0


@pytest.mark.parametrize("body", [b"", b"not marshal", marshal.dumps(["a", "list"]), marshal.dumps(("tag", 3))])
def test_a_broken_file_is_ignored(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "x.marshal"
    path.write_bytes(body)
    path.chmod(0o600)
    tmp_path.chmod(0o700)
    assert recache.prewarm(str(path), cache={}) == 0


def test_an_entry_the_sre_validator_refuses_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "regex" / "x.marshal"
    good = recache.entry((str, r"(\w+)@(\w+)", 0))
    assert good is not None
    broken = (good[0] + "!", good[1], good[2], [*good[3][:-3], 99999, 12345, 7], *good[4:])  # jumps nowhere
    odd = ("short",)
    _write(path, recache._tag(), [broken, odd, good])
    warmed: dict[Any, Any] = {}
    assert recache.prewarm(str(path), cache=warmed) == 1
    assert list(warmed) == [(str, r"(\w+)@(\w+)", 0)]


def test_a_few_new_patterns_do_not_rewrite_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "x.marshal")
    cache = _compiled(PATTERNS)
    recache.keep(path, cache=cache)
    monkeypatch.setattr(recache, "_loaded", {})
    recache.prewarm(path, cache={})
    before = os.stat(path).st_mtime_ns
    few = _compiled([(f"few{i}", 0) for i in range(recache.MIN_NEW - 1)])
    assert recache.keep(path, cache={**cache, **few}) == 0  # a source that changes every run is not worth a rewrite
    assert os.stat(path).st_mtime_ns == before
    more = _compiled([(f"more{i}", 0) for i in range(recache.MIN_NEW)])
    assert recache.keep(path, cache={**cache, **more}) == len(PATTERNS) + recache.MIN_NEW
    monkeypatch.setattr(recache, "_loaded", {})
    assert recache.prewarm(path, cache={}) == len(PATTERNS) + recache.MIN_NEW


def test_the_file_holds_at_most_max_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recache, "MAX_KEPT", 5)
    path = str(tmp_path / "x.marshal")
    assert recache.keep(path, cache=_compiled([(f"p{i}", 0) for i in range(9)])) == 5


def test_an_unwritable_place_only_costs_the_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def describing(key: Any) -> None:
        raise AssertionError("patterns described for a file that cannot be written")

    monkeypatch.setattr(recache, "entry", describing)  # nothing is described before the place is known good
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert recache.keep(str(blocker / "below" / "x.marshal"), cache=_compiled(PATTERNS)) == 0
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    if not os.access(read_only, os.W_OK):  # (root writes anywhere)
        assert recache.keep(str(read_only / "x.marshal"), cache=_compiled(PATTERNS)) == 0


def test_off_and_per_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPSBOT_CACHE_DIR", str(tmp_path))
    debug, verify = recache.cache_file("debug"), recache.cache_file("verify")
    assert debug and verify and debug != verify and debug.startswith(str(tmp_path))
    assert recache.cache_file("../../etc/passwd") == recache.cache_file("etcpasswd")  # a name, never a path
    monkeypatch.setenv("OPSBOT_REGEX_CACHE", "0")
    assert recache.cache_file("debug") is None


# A CLI run, counting what `re` compiles; the count goes to stderr as the process ends.
_COUNTING = """
import os, re, sys
compiled = [0]
real = re._compiler.compile
def counting(p, flags=0):
    compiled[0] += 1
    return real(p, flags)
re._compiler.compile = counting
end = os._exit
def report(status):
    sys.stderr.write("COMPILED %d\\n" % compiled[0])
    end(status)
os._exit = report
sys.argv = ["opsbot", *sys.argv[1:]]
from bot.__main__ import main
main()
"""


def test_a_cli_run_with_the_cache_compiles_almost_nothing_and_answers_the_same(tmp_path: Path) -> None:
    env = {**os.environ, "OPSBOT_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("OPSBOT_REGEX_CACHE", None)
    log = "\n".join(["2026-11-29T10:00:00Z ERROR connection refused to db:5432",
                     "token=ghp_" + "a1B2" * 9, "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5"])

    def run() -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", _COUNTING, "patterns", "match"], input=log,
                              capture_output=True, text=True, env=env, timeout=60, check=False)
        assert done.returncode in (0, 1), done.stderr
        count = int(re.findall(r"COMPILED (\d+)", done.stderr)[-1])
        return done.stdout, count

    first, compiled_first = run()
    assert (tmp_path / "regex").is_dir()
    second, compiled_second = run()
    assert second == first and [json.loads(line) for line in second.splitlines()]
    assert compiled_first > 50
    assert compiled_second <= 3, compiled_second  # what changes from run to run (tokenize's, hash-seeded)


def test_every_command_is_one_shot_or_long_running() -> None:
    import typer.main

    from bot.__main__ import LONG_RUNNING, ONE_SHOT
    from bot.cli import app

    assert set(typer.main.get_command(app).commands) == ONE_SHOT | LONG_RUNNING  # type: ignore[attr-defined]
    assert not ONE_SHOT & LONG_RUNNING

"""The pattern table kept on disk between runs: the same table, rebuilt (and validated) whenever a
pattern file or the code changes, and never read from a file someone else could have written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import PatternFileError
from playbooks.patterns import PatternTable
from playbooks.tablecache import load_table

EXTRA = """
patterns:
- id: acme-widget-jam
  title: Widget jam in the acme queue
  severity: warning
  match: ['widget jam on queue \\w+']
  cause: the widget consumer stopped
  fix: restart the consumer
"""

LINES = ["ERROR widget jam on queue orders",
         "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached",
         "GET /health 200", "java.lang.OutOfMemoryError: Java heap space"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("OPSBOT_CACHE_DIR", str(where))
    return where


def _verdicts(table: PatternTable) -> list[str | None]:
    return [p.id if p else None for p in table.classify_many(LINES)]


def _kept(cache: Path) -> list[Path]:
    return sorted((cache / "tables").glob("*.pickle")) if (cache / "tables").is_dir() else []


def test_a_kept_table_answers_as_the_built_one(cache: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(EXTRA)
    built = load_table(extra)
    assert len(_kept(cache)) == 1
    again = load_table(extra)
    assert again is not built
    assert [p.id for p in again] == [p.id for p in PatternTable.load(extra)]
    assert _verdicts(again) == _verdicts(built) == _verdicts(PatternTable.load(extra))
    assert _verdicts(again)[0] == "acme-widget-jam"


def test_an_edited_file_is_read_and_validated_again(cache: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(EXTRA)
    load_table(extra)
    extra.write_text(EXTRA.replace("widget jam on queue", "widget jammed on queue"))
    assert load_table(extra).classify_many(LINES)[0] is None  # the new regex, not the kept one
    assert len(_kept(cache)) == 2
    extra.write_text(EXTRA.replace("['widget jam on queue \\w+']", "['(unclosed']"))
    with pytest.raises(PatternFileError):
        load_table(extra)


def test_a_table_anyone_else_could_write_is_not_read(cache: Path) -> None:
    load_table()
    [kept] = _kept(cache)
    kept.write_bytes(b"not a pickle at all")
    os.chmod(kept, 0o666)  # world-writable: ignored, rebuilt and written again whole
    table = load_table()
    assert _verdicts(table) == _verdicts(PatternTable.load())
    [again] = _kept(cache)
    assert again.read_bytes() != b"not a pickle at all"
    assert not again.stat().st_mode & 0o022


def test_no_writable_cache_only_costs_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("OPSBOT_CACHE_DIR", str(blocker / "below-a-file"))
    assert _verdicts(load_table()) == _verdicts(PatternTable.load())

"""The console's history of typed lines: kept between sessions, redacted, readable by the user only."""

from __future__ import annotations

import readline
import stat
from pathlib import Path

import pytest

from bot.console import HISTORY_LINES, history_file, load_history, save_history


def _items() -> list[str]:
    return [readline.get_history_item(i) for i in range(1, readline.get_current_history_length() + 1)]


@pytest.fixture(autouse=True)
def _fresh_history() -> None:
    readline.clear_history()


def test_a_session_s_lines_come_back_in_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "state" / "opsbot" / "console_history"
    for line in ("/debug taskflow-api", "/verify taskflow-api"):
        readline.add_history(line)
    save_history(path)
    readline.clear_history()
    load_history(path)
    assert _items() == ["/debug taskflow-api", "/verify taskflow-api"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert readline.get_history_length() == HISTORY_LINES


def test_a_secret_typed_at_the_prompt_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "history"
    readline.add_history("/debug api --token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")
    save_history(path)
    kept = path.read_text()
    assert "ghp_" not in kept and "REDACTED" in kept


def test_no_history_is_kept_where_it_cannot_be(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    readline.add_history("/debug x")
    save_history(blocked / "sub" / "history")  # a parent that is a file: nothing written, no error
    load_history(tmp_path / "absent")  # nothing there yet: an empty history
    assert _items() == ["/debug x"]


def test_where_the_history_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPSBOT_HISTORY_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_file() == tmp_path / "opsbot" / "console_history"
    monkeypatch.setenv("OPSBOT_HISTORY_FILE", str(tmp_path / "h"))
    assert history_file() == tmp_path / "h"
    monkeypatch.setenv("OPSBOT_HISTORY_FILE", "")
    assert history_file() is None

"""Trace: the pure parts (ids, durations, ordering of hits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import UsageError
from bot.inputs import check_correlation_id, format_since, parse_since
from bot.models import LogLine, LogSnapshot
from playbooks.trace import path_summary, trace_hits

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("2h30m", 9000),
                                               ("1d", 86400)])
def test_since_durations(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize(("seconds", "text"), [(90, "1m30s"), (1800, "30m"), (3600, "1h"), (9000, "2h30m"),
                                               (86400, "1d"), (90061, "1d1h1m1s")])
def test_since_formats_back(seconds: int, text: str) -> None:
    assert format_since(seconds) == text
    assert parse_since(format_since(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "5x", "h", "0s", "-1h", "1 h", "31d", "99999999999d"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        parse_since(text)


@pytest.mark.parametrize("value", ["abc", "x" * 129, "id with space", "../etc", "$(reboot)"])
def test_bad_correlation_ids_are_refused(value: str) -> None:
    with pytest.raises(UsageError):
        check_correlation_id(value)


def test_hits_are_the_lines_with_the_id_oldest_first() -> None:
    logs = [
        LogSnapshot(pod="api-1", container="api", lines=[
            LogLine(T0 + timedelta(seconds=2), "ERROR [abcd1234] boom"), LogLine(T0, "INFO [ffff0000] other")]),
        LogSnapshot(pod="web-1", container="web", lines=[
            LogLine(T0 + timedelta(seconds=1), "INFO [abcd1234] GET /"), LogLine(None, "[abcd1234] no time")]),
    ]
    hits = trace_hits("abcd1234", logs, {"api-1": "api", "web-1": "web"})
    assert [h.text for h in hits] == ["INFO [abcd1234] GET /", "ERROR [abcd1234] boom", "[abcd1234] no time"]
    assert path_summary(hits) == "web -> api"

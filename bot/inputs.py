"""Checks of what people type, before it reaches an API: names, correlation ids, durations.

Pure functions that raise `UsageError` with one line naming the problem; the Slack parser, the
CLI and the playbooks all call these, so every front end accepts exactly the same input.
"""

from __future__ import annotations

import re

from bot.errors import UsageError

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(value: str, what: str) -> str:
    """Names typed by people become API paths: only DNS-1123 labels get through."""
    if not value or len(value) > 63 or not DNS1123.match(value):
        raise UsageError(f"{value[:70]!r} is not a valid {what} name (lowercase letters, digits and '-')")
    return value


# What people type into /trace and `opsbot trace`: checked here, before it reaches an API.
CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{3,127}$")
MAX_SINCE_SECONDS = 30 * 86400
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_since(value: str) -> int:
    """`90s`, `30m`, `1h`, `2h30m`, `1d` -> seconds, like kubectl's --since."""
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise UsageError(f"--since {value!r} is not a duration such as 30m, 1h or 2h30m")
    d, h, m, s = (int(g or 0) for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds <= 0:
        raise UsageError("--since must be longer than 0s")
    if seconds > MAX_SINCE_SECONDS:
        limit = MAX_SINCE_SECONDS // 86400
        raise UsageError(f"--since {value.strip()[:20]} is longer than {limit}d, more than any log keeps")
    return seconds


def format_since(seconds: int) -> str:
    """The inverse of `parse_since`: 3600 -> `1h`, 9000 -> `2h30m`, 90 -> `1m30s`."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def check_correlation_id(value: str) -> str:
    if not CORRELATION_ID.match(value):
        raise UsageError(f"{value[:70]!r} is not a correlation id (4-128 letters, digits, '.', '_', ':', '-')")
    return value

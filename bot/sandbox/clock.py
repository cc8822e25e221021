"""Time in scenarios: relative timestamps (`-2h`, `-35m`) resolved at load, and durations as kubectl prints them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`90s`, `35m`, `1h30m`, `2d` -> timedelta. Raises ValueError on anything else."""
    text = text.strip()
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 35m, 2h, 1d2h)")
    return timedelta(seconds=seconds)


def _now_from(info: ValidationInfo | None) -> datetime:
    context = info.context if info is not None else None
    if isinstance(context, dict) and isinstance(context.get("now"), datetime):
        return context["now"]
    return datetime.now(UTC)


def _resolve_time(value: Any, info: ValidationInfo) -> Any:
    """`-2h` means two hours before the scenario was loaded; `now` is now; absolute times pass."""
    if isinstance(value, str):
        text = value.strip()
        if text == "now":
            return _now_from(info)
        if text[:1] in "-+" and text[1:2].isdigit():
            delta = parse_duration(text[1:])
            return _now_from(info) + (delta if text[0] == "+" else -delta)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


RelTime = Annotated[datetime, BeforeValidator(_resolve_time)]


def relative(ts: datetime, now: datetime) -> str:
    """`ts` as an offset from `now` in the scenario syntax, to the microsecond: `-1h2m3.25s`, `now`."""
    return offset(round((ts - now) / timedelta(microseconds=1)))


def offset(micros: int) -> str:
    """A number of microseconds as an offset in the scenario syntax: `-1h2m3.25s`, `now`."""
    if micros == 0:
        return "now"
    sign, micros = ("-" if micros < 0 else "+"), abs(micros)
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, fraction = divmod(rest, 1_000_000)
    out = sign + (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if seconds or fraction or out == sign:
        out += f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") + "s"
    return out


def parse_recorded(value: Any, info: ValidationInfo) -> Any:
    """A recorded log (`OFFSET TEXT` a line, as `opsbot snapshot` writes it) -> [(epoch seconds, text)].
    Offsets repeat a lot (and are parsed for every line of every container): cached per run."""
    if not isinstance(value, str):
        return value
    now = _now_from(info)
    base = now.timestamp()
    seen: dict[str, float] = {}
    out: list[tuple[float, str]] = []
    for number, line in enumerate(value.split("\n"), start=1):
        if not line:
            continue
        offset, _, text = line.partition(" ")
        at = seen.get(offset)
        if at is None:
            if offset == "now":
                at = base
            elif offset[:1] in "-+":
                try:
                    delta = parse_duration(offset[1:]).total_seconds()
                except ValueError:
                    raise ValueError(f"line {number}: {offset!r} is not an offset such as -1h2m3.5s") from None
                at = base + (delta if offset[0] == "+" else -delta)
            else:
                raise ValueError(f"line {number}: starts with {offset!r}, not an offset such as -1h2m3.5s")
            seen[offset] = at
        out.append((at, text))
    return out


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_duration(delta: timedelta) -> str:
    """The age format of `kubectl get` (apimachinery's duration.HumanDuration)."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"

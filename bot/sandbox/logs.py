"""Container logs: rendered once per container from the scenario, served by slicing (tail, since, timestamps)."""

from __future__ import annotations

import random
import re
import time
from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime

from bot.sandbox.scenario import LogEntry, LogSpec


class RenderedLog:
    """One container log, sorted by time. The timestamped variant is built on first use, and both
    are lists of lines so that tailLines is a slice and sinceSeconds a bisection."""

    __slots__ = ("_stamped", "lines", "times")

    def __init__(self, entries: list[tuple[float, str]]) -> None:
        entries.sort(key=lambda item: item[0])
        self.times = [ts for ts, _ in entries]
        self.lines = [text for _, text in entries]
        self._stamped: list[str] | None = None

    @property
    def stamped(self) -> list[str]:
        if self._stamped is None:
            seconds: dict[int, str] = {}
            out = []
            for ts, text in zip(self.times, self.lines, strict=True):
                # to the nearest microsecond: a float epoch holds 1234.5678 as 1234.56779999..., and a
                # cut would move every replayed line back a microsecond per snapshot of a snapshot
                whole, micros = divmod(round(ts * 1_000_000), 1_000_000)
                prefix = seconds.get(whole)
                if prefix is None:
                    prefix = seconds[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
                # kubelet's fixed 9-digit fraction (timeFormatOut in kuberuntime_logs.go)
                out.append(f"{prefix}.{micros:06d}000Z {text}")
            self._stamped = out
        return self._stamped

    def text(self, *, tail: int | None, since: float | None, timestamps: bool, limit_bytes: int | None) -> str:
        source = self.stamped if timestamps else self.lines
        start = bisect_left(self.times, since) if since is not None else 0
        if tail is not None:
            start = max(start, len(source) - tail)
        chosen = source[start:]
        body = "\n".join(chosen) + "\n" if chosen else ""
        if limit_bytes is not None:
            body = body.encode()[:limit_bytes].decode(errors="ignore")
        return body


_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def render_log(
    spec: LogSpec,
    *,
    seed: str,
    start: datetime,
    end: datetime,
    pod: str,
    app: str,
    extra: Sequence[LogEntry] = (),
) -> RenderedLog:
    rng = random.Random(seed)
    entries: list[tuple[float, str]] = []
    window_start, window_end = (spec.start or start).timestamp(), (spec.end or end).timestamp()
    for i, line in enumerate(spec.header):
        entries.append((window_start + 0.04 * i, line))
    window_start += 0.04 * len(spec.header) + 0.5
    if spec.lines and spec.background:
        weights = [b.weight for b in spec.background]
        picks = rng.choices(spec.background, weights=weights, k=spec.lines)
        step = max(window_end - window_start, 1.0) / spec.lines
        for i, pick in enumerate(picks):
            at = window_start + i * step + rng.random() * step * 0.9
            text = pick.text
            if "${" in text:
                text = _PLACEHOLDER.sub(lambda m, at=at, i=i: _fill(m.group(1), rng, at, i, pod, app), text)  # type: ignore[misc]
            if "\n" in text:
                for offset, line in enumerate(text.split("\n")):
                    entries.append((at + offset * 0.000137, line))
            else:
                entries.append((at, text))
    entries.extend(spec.recorded)  # a snapshot's lines, at the times they were read with
    for entry in [*spec.entries, *extra]:
        at = entry.at.timestamp()
        for offset, line in enumerate(entry.text.rstrip("\n").split("\n")):
            entries.append((at + offset * 0.000211, line))
    return RenderedLog(entries)


def _fill(name: str, rng: random.Random, at: float, index: int, pod: str, app: str) -> str:
    match name:
        case "ms":
            return str(rng.randint(8, 95))
        case "slow_ms":
            return str(rng.randint(2800, 4100))
        case "ip":
            return f"10.244.{rng.randint(0, 3)}.{rng.randint(2, 250)}"
        case "req":
            return f"{rng.getrandbits(32):08x}"
        case "n":
            return str(rng.randint(30000, 60999))
        case "task":
            return str(rng.randint(1000, 9999))
        case "user":
            return rng.choice(["u-ana", "u-ben", "u-chloe", "u-dev", "u-emre"])
        case "worker":
            return str(rng.randint(1, 40))
        case "ts":
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        case "pod":
            return pod
        case "app":
            return app
        case "line":
            return str(index)
    return "${" + name + "}"

"""The CPU of reading log lines: `parse_log` a line, the old way and now, side by side in one run.

Three parts, each against the code it replaced (kept below, as it was), on the same input:

1. `parse_log` a line: the logs of the benchmark's sandbox (`scaled_scenario`, the kubelet's fixed
   9-digit fractions) and the same lines stamped as the kubelet's RFC3339Nano writes them elsewhere
   (trailing zeros cut: 20 to 30 characters). `lazy_ceiling_us`: the same C loops without timing any
   line, i.e. the most that parsing a line's time only when asked could save at read time (it would
   still have to tell a time from a month 13, on which the line's text depends).
2. `pack_stamps` (every line's time, for /verify over reduced logs) a line.
3. `mask` (an error event's signature) a text: the error heads of the sandbox's logs (one message in
   every pod) and the real error excerpts of tests/data/real_errors.jsonl (all different).

The outputs are compared, not only timed; the cyclic collector is off, as in `opsbot` commands (the
server collects every 50,000 allocations). Last line, `key=value`:

    .venv/bin/python bench/parse_log.py
    ... parse_us_old=... parse_us_new=... parse_ratio=... lazy_ceiling_us=... mask_us_old=... ...
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.k8s.snapshots import _TIMESTAMP, _timestamp, parse_log  # noqa: E402
from bot.models import LogLine  # noqa: E402
from bot.sandbox.scaled import scaled_scenario  # noqa: E402
from bot.sandbox.world import World  # noqa: E402
from playbooks import logreduce  # noqa: E402
from playbooks import signatures as sig  # noqa: E402
from playbooks.signatures import find_events  # noqa: E402


def old_parse_log(text: str) -> list[LogLine]:
    """`parse_log` before (main at 7d8daa9): one Python iteration a line."""
    lines: list[LogLine] = []
    append, new, read = lines.append, tuple.__new__, datetime.fromisoformat
    for line in text.split("\n") if "\r" not in text else (raw.rstrip("\r") for raw in text.split("\n")):
        if not line:
            continue
        stamp, sep, rest = line.partition(" ")
        ts: datetime | None = None
        if sep and len(stamp) >= 20 and stamp[10] == "T" and stamp[-1] == "Z":
            try:
                ts = read(stamp)
            except ValueError:
                ts = None
        if ts is None:
            match = _TIMESTAMP.fullmatch(stamp) if sep or stamp else None
            try:
                ts = _timestamp(match) if match else None
            except ValueError:
                ts = None
            if ts is None:
                append(new(LogLine, (None, line)))
                continue
        append(new(LogLine, (ts, rest)))
    return lines


def untimed(text: str) -> list[Any]:
    """parse_log's C loops with no time read: (stamp, text) tuples, unchecked. Not a parser: a bound."""
    parts = list(map(str.partition, filter(None, text.split("\n")), repeat(" ")))
    pairs = zip(map(itemgetter(0), parts), map(itemgetter(2), parts), strict=True)
    return list(map(tuple.__new__, repeat(LogLine), pairs))


def old_pack_stamps(lines: list[LogLine]) -> bytes:
    from array import array
    return array("q", [logreduce.NO_TIME if line.ts is None else (line.ts - logreduce.EPOCH) // logreduce._MICRO
                       for line in lines]).tobytes()


def old_message_of(line: str) -> str:
    """`message_of` before: the klog header searched everywhere."""
    stripped = line.strip()
    if stripped.startswith("{"):
        parts = [m.group(1) for m in sig._JSON_MESSAGE.finditer(stripped)]
        if parts:
            return ": ".join(dict.fromkeys(parts))
    if "msg=" in stripped or "message=" in stripped:
        msg = sig._LOGFMT_MESSAGE.search(stripped)
        if msg:
            err = sig._LOGFMT_ERROR.search(stripped)
            text = msg.group(1) or msg.group(2) or ""
            return f"{text}: {err.group(1) or err.group(2)}" if err else text
    return sig._THREAD_PREFIX.sub("", sig._KLOG.sub("", stripped))


def old_mask(text: str) -> str:
    """`mask` before: nothing kept."""
    text = old_message_of(text)
    text = sig._PREFIX.sub("", text, count=1) or text
    for regex, token, needs, _digit in sig._MASKS:
        if not needs or any(char in text for char in needs):
            text = regex.sub(token, text)
    text = sig._DIGIT_WORD.sub(sig._digit_word, text)
    return sig._SPACES.sub(" ", text).strip()[:300]


def best(fns: list[Callable[[], object]], repeat_: int) -> list[float]:
    """The least time of each of `fns` over `repeat_` rounds, the functions taking turns in every round
    (the machine's load changes from second to second), each after a full collection."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat_):
        for fn, spent in zip(fns, times, strict=True):
            gc.collect()
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def sandbox_texts(pods: int, lines: int) -> list[str]:
    world = World(scaled_scenario(pods, 2, lines))
    return [c.log.text(tail=None, since=None, timestamps=True, limit_bytes=None)
            for containers in world.containers.values() for c in containers.values()]


_NINE = re.compile(r"^(\S+?)\.(\d{9})Z ", re.MULTILINE)


def nano(text: str) -> str:
    """The same lines stamped as RFC3339Nano: the fraction's trailing zeros cut (none left: no dot)."""
    rng = random.Random(7)

    def cut(m: re.Match[str]) -> str:
        fraction = f"{rng.randrange(10 ** rng.choice((3, 6, 9))):09d}".rstrip("0")
        return f"{m.group(1)}{'.' + fraction if fraction else ''}Z "
    return _NINE.sub(cut, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    gc.disable()  # as a one-shot command runs (bot/__main__.py); `best` collects between runs

    texts = sandbox_texts(args.pods, args.lines)
    kinds = {"sandbox": texts, "rfc3339nano": [nano(t) for t in texts]}
    out: dict[str, str] = {}
    for kind, logs in kinds.items():
        count = sum(len(old_parse_log(t)) for t in logs)
        if any(parse_log(t) != old_parse_log(t) for t in logs):
            raise SystemExit(f"parse_log differs from the old way on the {kind} logs")
        old, new, bound = (spent / count * 1e6 for spent in best(
            [lambda logs=logs: [old_parse_log(t) for t in logs], lambda logs=logs: [parse_log(t) for t in logs],
             lambda logs=logs: [untimed(t) for t in logs]], args.repeat))
        print(f"{kind}: {len(logs)} logs, {count} lines; parse_log a line {old:.3f} -> {new:.3f} us "
              f"({old / new:.2f}x); the same without timing any line {bound:.3f} us")
        suffix = "" if kind == "sandbox" else "_nano"
        out |= {f"parse_us_old{suffix}": f"{old:.3f}", f"parse_us_new{suffix}": f"{new:.3f}",
                f"parse_ratio{suffix}": f"{old / new:.2f}", f"lazy_ceiling_us{suffix}": f"{bound:.3f}"}

    parsed = [parse_log(t) for t in kinds["rfc3339nano"]]
    count = sum(map(len, parsed))
    if [logreduce.pack_stamps(p) for p in parsed] != [old_pack_stamps(p) for p in parsed]:
        raise SystemExit("pack_stamps differs from the old way")
    old, new = (spent / count * 1e6 for spent in best(
        [lambda: [old_pack_stamps(p) for p in parsed], lambda: [logreduce.pack_stamps(p) for p in parsed]],
        args.repeat))
    print(f"pack_stamps a line {old:.3f} -> {new:.3f} us ({old / new:.2f}x)")
    out |= {"pack_us_old": f"{old:.3f}", "pack_us_new": f"{new:.3f}", "pack_ratio": f"{old / new:.2f}"}

    heads = [e.head for p in parsed for e in find_events([line.text for line in p])]
    corpus = [json.loads(line)["text"] for line in (ROOT / "tests/data/real_errors.jsonl").read_text().splitlines()
              if line.strip()]
    corpus_heads = [line for text in corpus for line in text.splitlines() if line.strip()]
    for kind, items in (("sandbox", heads), ("corpus", corpus_heads)):
        if [sig.mask(h) for h in items] != [old_mask(h) for h in items]:
            raise SystemExit(f"mask differs from the old way on the {kind} texts")
        # the new way from an empty cache each time: what a process that never saw these texts pays
        old, first = (spent / len(items) * 1e6 for spent in best(
            [lambda items=items: [old_mask(h) for h in items],
             lambda items=items: [sig._masked.cache_clear(), [sig.mask(h) for h in items]]], args.repeat))
        print(f"mask, {kind} ({len(items)} texts, {len(set(items))} different): {old:.1f} -> {first:.1f} us "
              f"a text ({old / first:.1f}x)")
        suffix = "" if kind == "sandbox" else "_corpus"
        out |= {f"mask_us_old{suffix}": f"{old:.1f}", f"mask_us_new{suffix}": f"{first:.1f}",
                f"mask_ratio{suffix}": f"{old / first:.1f}"}
    print(" ".join(f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()

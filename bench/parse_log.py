"""The CPU of reading log lines: `parse_log` a line and what a lazy time could save; `mask` old and new.

1. `parse_log` a line, on the logs of the benchmark's sandbox (`scaled_scenario`, the kubelet's fixed
   9-digit fractions) and on the same lines stamped as the kubelet's RFC3339Nano writes them elsewhere
   (trailing zeros cut: 20 to 30 characters). `lazy_bound_us`: the same loop keeping each stamp as
   text, without reading or checking any time: the most that parsing a time only when it is asked for
   could save when a log is read (a lazy line would still have to tell a time from a month 13, on
   which its text depends, and would parse at every later look).
2. `mask` (an error event's signature) a text, against the code it replaced (kept below, as it was):
   the error heads of the sandbox's logs (one message in every pod) and every line of the real error
   excerpts of tests/data/real_errors.jsonl (nearly all different), from an empty cache each time.

Each function takes its turn in every round (the machine's load changes from second to second); the
least time of the rounds is kept. The outputs are compared, not only timed; the cyclic collector is
off, as in `opsbot` commands (the server collects every 50,000 allocations). Last line, `key=value`:

    .venv/bin/python bench/parse_log.py
    ... parse_us=... lazy_bound_us=... lazy_share=... mask_us_old=... mask_us_new=... mask_ratio=... ...
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.k8s.snapshots import parse_log  # noqa: E402
from bot.models import LogLine  # noqa: E402
from bot.sandbox.scaled import scaled_scenario  # noqa: E402
from bot.sandbox.world import World  # noqa: E402
from playbooks import signatures as sig  # noqa: E402
from playbooks.signatures import find_events  # noqa: E402
from tests.test_parse_log import old_mask  # noqa: E402  (mask as it was: the tests' reference)


def untimed(text: str) -> list[Any]:
    """parse_log's loop keeping each stamp as text, no time read or checked. Not a parser: a bound."""
    lines: list[Any] = []
    append, new = lines.append, tuple.__new__
    for line in text.split("\n"):
        if not line:
            continue
        stamp, _sep, rest = line.partition(" ")
        append(new(LogLine, (stamp, rest)))
    return lines


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
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    gc.disable()  # as a one-shot command runs (bot/__main__.py); `best` collects between runs

    texts = sandbox_texts(args.pods, args.lines)
    kinds = {"sandbox": texts, "rfc3339nano": [nano(t) for t in texts]}
    out: dict[str, str] = {}
    for kind, logs in kinds.items():
        count = sum(len(parse_log(t)) for t in logs)
        parse, bound = (spent / count * 1e6 for spent in best(
            [lambda logs=logs: [parse_log(t) for t in logs], lambda logs=logs: [untimed(t) for t in logs]],
            args.repeat))
        print(f"{kind}: {len(logs)} logs, {count} lines; parse_log a line {parse:.3f} us, the same loop keeping "
              f"the stamps as text {bound:.3f} us: a lazy time could save {1 - bound / parse:.0%} at most")
        suffix = "" if kind == "sandbox" else "_nano"
        out |= {f"parse_us{suffix}": f"{parse:.3f}", f"lazy_bound_us{suffix}": f"{bound:.3f}",
                f"lazy_share{suffix}": f"{1 - bound / parse:.2f}"}

    heads = [e.head for t in kinds["rfc3339nano"] for e in find_events([line.text for line in parse_log(t)])]
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

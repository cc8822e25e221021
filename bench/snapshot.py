"""Snapshot cost against /debug itself: a namespace of 100 pods x 3 containers x 2,000 lines.

Prints key=value lines; the ratio is what the issue bounds (snapshot under 2x /debug). Both run in
one process against the same sandbox, each timed several times (the best run counts: the machine is
shared), and the replay's findings are checked against the debug's.

    .venv/bin/python bench/snapshot.py [--pods 100 --containers 3 --lines 2000 --runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from bot.capture import take_snapshot
from bot.commands import ServiceCommand
from bot.config import Settings
from bot.plumbing.yamlio import load_yaml
from bot.runtime import open_runtime
from bot.sandbox import scaled_scenario
from bot.sandbox.scenario import validate_scenario
from playbooks.registry import run_command


async def main(pods: int, containers: int, lines: int, runs: int) -> None:
    settings = Settings()
    debug_s, snapshot_s = [], []
    async with open_runtime(settings, scenario=scaled_scenario(pods, containers, lines)) as rt:
        await run_command(rt, ServiceCommand("taskflow-api"))  # warm: imports, connection pool
        for _ in range(runs):
            start = time.perf_counter()
            report = await run_command(rt, ServiceCommand("taskflow-api"))
            debug_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            _, text = await take_snapshot(rt, "taskflow-api")
            snapshot_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    scenario = validate_scenario(load_yaml(text), datetime.now(UTC), "snapshot")
    load_s = time.perf_counter() - start
    async with open_runtime(settings, scenario=scenario) as rt:
        replay = await run_command(rt, ServiceCommand("taskflow-api"))
    same = [(f.pattern, f.count) for f in replay.findings] == [(f.pattern, f.count) for f in report.findings]
    print(f"pods={pods} containers={containers} lines={lines} runs={runs}")
    print(f"debug_s={min(debug_s):.2f} snapshot_s={min(snapshot_s):.2f} ratio={min(snapshot_s) / min(debug_s):.2f}")
    print(f"snapshot_bytes={len(text.encode())} snapshot_lines={text.count(chr(10))} load_s={load_s:.2f}")
    print(f"replay_same_findings={same} findings={len(report.findings)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--containers", type=int, default=3)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.pods, args.containers, args.lines, args.runs))

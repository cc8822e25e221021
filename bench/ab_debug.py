"""One `opsbot debug --json` from two source trees against one sandbox: CPU seconds, wall, same report.

Two trees (this one and `--base`, e.g. `git worktree add --detach /tmp/wt-base main`) run with this
Python and its packages (`PYTHONPATH` and the working directory set to each tree), taking turns
against the same sandbox (`scale.py`'s scaled scenario, in a process of its own), after one warm-up
each. CPU time (user + system of the command, from the kernel's accounting of children) moves far
less than wall time when other agents share the cores. The last reports of the two are compared,
less what changes from run to run (durations, ages, start times): `reports_equal=1`.

    .venv/bin/python bench/ab_debug.py --base /tmp/wt-base --pods 100 --lines 2000 --rounds 5

Last line: `pods=100 lines=2000 base_cpu_s_median=... cpu_s_median=... cpu_ratio=... base_wall_s_median=...
wall_s_median=... reports_equal=1`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from scale import SIZES, cluster  # noqa: E402

VOLATILE = {"duration_ms", "age_seconds", "started_at"}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def run(tree: Path, env: dict[str, str]) -> tuple[float, float, Any]:
    command = [sys.executable, "-m", "bot", "debug", "taskflow-api", "-n", "taskflow", "--json"]
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=tree, env={**env, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                          timeout=600)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode not in (0, 1):
        raise SystemExit(f"opsbot debug failed in {tree} (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return cpu, wall, stable(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", required=True, type=Path, help="the other source tree (a worktree of main)")
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--lines", default="200", choices=sorted(SIZES))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not (args.base / "bot" / "__main__.py").is_file():
        parser.error(f"{args.base} is not an opsbot source tree")
    sandbox_lines, tail, _ = SIZES[args.lines]
    trees = {"base": args.base.resolve(), "new": ROOT}
    spent: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    reports: dict[str, Any] = {}
    with cluster(args.pods, sandbox_lines) as where:
        env = where.opsbot_env(tail)
        env.pop("PYTHONPATH", None)
        for attempt in range(args.rounds + 1):  # the first: warm-up (bytecode, the pattern table's cache)
            for name, tree in trees.items():
                cpu, wall, reports[name] = run(tree, env)
                if attempt:
                    spent[name].append((cpu, wall))
    out: dict[str, str] = {"pods": str(args.pods), "lines": args.lines}
    for name, runs in spent.items():
        cpus, walls = [c for c, _ in runs], [w for _, w in runs]
        prefix = "base_" if name == "base" else ""
        print(f"{name}: cpu {min(cpus):.2f} / {statistics.median(cpus):.2f} / {max(cpus):.2f} s, "
              f"wall {min(walls):.2f} / {statistics.median(walls):.2f} / {max(walls):.2f} s (min / median / max)")
        out |= {f"{prefix}cpu_s_median": f"{statistics.median(cpus):.2f}",
                f"{prefix}wall_s_median": f"{statistics.median(walls):.2f}"}
    out["cpu_ratio"] = f"{float(out['base_cpu_s_median']) / float(out['cpu_s_median']):.2f}"
    out["reports_equal"] = str(int(reports["base"] == reports["new"]))
    out["load"] = f"{os.getloadavg()[0]:.1f}"
    print(" ".join(f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()

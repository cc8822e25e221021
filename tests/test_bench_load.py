"""bench/load.py end to end at a small size: its last line's format, and every thread finished.

No timing is asserted (timings belong to the benchmark's own runs, not to the test suite)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(
    r"acked_under_3s=\d+/(?P<sent>\d+) completed=(?P<completed>\d+)/(?P<total>\d+) main_finding=\d+/\d+"
    r" locked_errors=\d+ peak_rss_mb=(?P<rss>\d+)( [a-z0-9_]+=\S+)*"
)


def test_small_load_run_finishes_every_thread() -> None:
    run = subprocess.run([sys.executable, "bench/load.py", "--requests", "10", "--channels", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last)
    assert match is not None, last
    assert match["sent"] == match["total"] == match["completed"] == "10"
    assert int(match["rss"]) > 0

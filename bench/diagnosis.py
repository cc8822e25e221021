"""How well opsbot's diagnosis holds on real error excerpts, and how fast it classifies big logs.

1. Quality, on tests/data/real_errors.jsonl (excerpts copied from public GitHub issues):
   - known: the excerpt must match a row of its category's set (ACCEPT below);
   - unrecognised: the excerpt must be accounted for (a row, or an unrecognised signature);
   - harmless: nothing may be reported (a false alarm otherwise).
   Prints per-category recall and the rows that missed.
2. Throughput: ~150 MB of mixed logs (mostly ordinary INFO lines, some corpus errors, a fixed seed),
   classified the way `opsbot patterns match` does (rows + signatures), against
   `LC_ALL=C grep -E -i -c` with the alternation of the table's regexes on the same file, same run.

   The file is read as `opsbot patterns match FILE` reads it (classify_stream: a block at a time);
   `patterns_match_rss_mb` is the peak memory of that command itself on the file (GNU time).
   OPSBOT_NO_HYPERSCAN=1 measures the pure-Python path where the hyperscan wheel is installed.

Last line: `recall=0.97 false_alarms=0 unrecognised_flagged=N/M lines_per_s=... mb_per_s=...
grep_mb_per_s=... ratio=... hyperscan=1 patterns_match_rss_mb=...`

    .venv/bin/python bench/diagnosis.py            # both
    .venv/bin/python bench/diagnosis.py --no-speed # quality only
    .venv/bin/python bench/diagnosis.py --mb 20    # a smaller throughput file
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playbooks import fastscan  # noqa: E402
from playbooks.patterns import PatternTable  # noqa: E402
from playbooks.unrecognised import classify_lines, classify_stream  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "real_errors.jsonl"

# the rows that name each category correctly (the more specific row wins; any of these is right)
ACCEPT: dict[str, set[str]] = {
    "pool-exhaustion": {"sqlalchemy-pool-exhausted", "db-pool-exhausted", "db-too-many-connections"},
    "cloudevent-format": {"cloudevent-not-unwrapped", "cloudevent-invalid", "payload-missing-key",
                          "json-schema-mismatch"},
    "dapr": {"dapr-control-plane-unreachable", "dapr-component-missing", "dapr-invoke-failed",
             "dapr-actor-not-found", "dapr-actor-state-store"},
    "http-404-internal": {"wrong-endpoint-url", "dapr-invoke-failed", "http-404-internal"},
    "timezone": {"timezone-bug", "naive-datetime", "unknown-time-zone"},
    "probe-failure": {"liveness-probe-failed", "readiness-probe-failed"},
    "oom": {"oom-killed", "js-heap-oom", "jvm-out-of-memory"},
    "schema-mismatch": {"model-schema-mismatch", "db-schema-drift", "json-schema-mismatch", "cloudevent-invalid"},
    "disk-full": {"disk-full"},
    "db-auth": {"db-auth-failed"},
    "greenlet": {"sqlalchemy-missing-greenlet", "greenlet-not-installed"},
    "crash-loop": {"crash-loop-backoff", "container-config-error", "exec-format-error", "python-import-error"},
    "image-pull": {"image-pull-failed"},
    "tls": {"tls-certificate-error"},
    "dns": {"dns-resolution-failed"},
    "connection-refused": {"connection-refused", "dapr-control-plane-unreachable", "dapr-invoke-failed"},
}


def load(corpus: Path = CORPUS) -> list[dict[str, str]]:
    return [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]


def judge(table: PatternTable, row: dict[str, str]) -> tuple[bool, str]:
    """(right, what opsbot said) for one corpus row."""
    verdicts = classify_lines(table, row["text"].splitlines())
    said = ", ".join(v.pattern or f"signature:{v.signature}" for v in verdicts) or "nothing"
    if row["expect"] == "harmless":
        return not verdicts, said
    if row["expect"] == "unrecognised":
        return bool(verdicts), said
    accepted = ACCEPT.get(row["category"], set())
    return any(v.pattern in accepted for v in verdicts), said


def quality(table: PatternTable, verbose: bool, corpus: Path = CORPUS) -> dict[str, object]:
    rows = load(corpus)
    totals: Counter[str] = Counter()
    right: Counter[str] = Counter()
    misses: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        ok, said = judge(table, row)
        totals[row["category"]] += 1
        right[row["category"]] += ok
        if not ok:
            misses[row["category"]].append(f"  {row['id']} {row['source']}: {row['text'][:110]!r} -> {said[:120]}")
    print(f"{'category':<22} {'right':>5} {'of':>4} {'recall':>7}")
    for category in sorted(totals):
        print(f"{category:<22} {right[category]:>5} {totals[category]:>4} {right[category] / totals[category]:>7.2f}")
        if verbose:
            for line in misses[category]:
                print(line)
    known = [r for r in rows if r["expect"] != "harmless"]
    recall = sum(right[c] for c in totals if c != "harmless") / max(1, len(known))
    false_alarms = totals["harmless"] - right["harmless"]
    unknown = [r for r in rows if r["expect"] == "unrecognised"]
    flagged = sum(judge(table, r)[0] for r in unknown)
    worst = min((right[c] / totals[c] for c in totals if c != "harmless"), default=1.0)
    return {"recall": recall, "worst_category": worst, "false_alarms": false_alarms,
            "unrecognised_flagged": f"{flagged}/{len(unknown)}", "rows": len(rows)}


ORDINARY = [
    '{ts} INFO  [http-nio-8080-exec-{n}] c.a.OrdersController - GET /orders/{n} 200 {ms}ms',
    '{ts} INFO:     10.0.{n}.7:5{n}12 - "GET /api/tasks?page={n} HTTP/1.1" 200 OK',
    'time="{ts}" level=info msg="HTTP API Called" app_id=orders method="GET /v1.0/state/store/{n}" type=log',
    '{{"level":"info","ts":"{ts}","msg":"request done","status":200,"duration_ms":{ms},"errors":0}}',
    '{ts} DEBUG cache hit key=user:{n} ttl=300',
    'I0412 10:00:{s}.123456   1 controller.go:{n}] synced deployment shop/web-{n}',
    '{ts} INFO  batch flushed count={n} error_count=0',
    '{ts} WARN  slow query took {ms}ms: SELECT * FROM orders WHERE id = $1',
]


def ere(regex: str) -> str:
    """A row's Python regex as a POSIX ERE for grep -E: groups without `?:`, classes spelt out,
    lookarounds dropped (grep then matches a little more: no handicap for the baseline)."""
    out = regex
    for lookaround in (r"\(\?<?[=!][^()]*(?:\([^()]*\)[^()]*)*\)",):
        out = re.sub(lookaround, "", out)
    out = re.sub(r"\(\?(?:-i)?:|\(\?P<\w+>", "(", out)
    for python, posix in ((r"\d", "[0-9]"), (r"\w", "[[:alnum:]_]"), (r"\s", "[[:space:]]"),
                          (r"\S", "[^[:space:]]"), (r"\W", "[^[:alnum:]_]")):
        out = out.replace(python, posix)
    # a class holding a POSIX class now reads [[...][:alnum:]_]]: flatten the nesting
    out = re.sub(r"\[([^\]]*)\[\[:(\w+):\]([^\]]*)\]", r"[\1[:\2:]\3", out)
    return out.replace("*?", "*").replace("+?", "+").replace("??", "?")


def build_log(path: Path, megabytes: int, rows: list[dict[str, str]]) -> int:
    """A log of ordinary lines with corpus errors sprinkled in (about 1 line in 400); its line count."""
    rng = random.Random(20261129)
    errors = [r["text"] for r in rows if r["expect"] != "harmless"]
    target = megabytes * 1_000_000
    written = lines = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            chunk = []
            for _ in range(2000):
                if rng.random() < 0.0025:
                    text = rng.choice(errors)
                else:
                    text = rng.choice(ORDINARY).format(ts=f"2026-11-29T10:{rng.randrange(60):02d}:00Z",
                                                       n=rng.randrange(1000), ms=rng.randrange(900),
                                                       s=f"{rng.randrange(60):02d}")
                chunk.append(text)
            block = "\n".join(chunk) + "\n"
            out.write(block)
            written += len(block.encode())
            lines += block.count("\n")
    return lines


def speed(table: PatternTable, megabytes: int) -> dict[str, float]:
    rows = load()
    with tempfile.TemporaryDirectory(prefix="opsbot-diagnosis-") as tmp:
        path = Path(tmp) / "mixed.log"
        lines = build_log(path, megabytes, rows)
        size_mb = path.stat().st_size / 1e6
        # a row with a back-reference is left out: in one alternation its group numbers shift, and
        # grep would fall back to its slow matcher (leaving it out only makes grep faster)
        alternation = "|".join(f"({ere(r)})" for p in table.patterns for r in p.match
                               if not re.search(r"\\[1-9]|\(\?P=", r))
        pattern_file = Path(tmp) / "alternation.txt"
        pattern_file.write_text(alternation + "\n")
        env = {**os.environ, "LC_ALL": "C"}
        started = time.perf_counter()
        grep = subprocess.run(["grep", "-E", "-i", "-c", "-f", str(pattern_file), str(path)],
                              capture_output=True, text=True, env=env, check=False)
        grep_s = time.perf_counter() - started
        classify_stream(table, io.BytesIO(b"warm-up: compile or load the scanners\n"))
        started = time.perf_counter()
        with path.open("rb") as source:  # as `opsbot patterns match FILE` reads it: a block at a time
            found = len(classify_stream(table, source))
        ours_s = time.perf_counter() - started
        # the command itself, as a user runs it: its peak memory on the whole file
        peak_file = Path(tmp) / "peak"
        cli = subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", str(peak_file), sys.executable, "-m", "bot",
                              "patterns", "match", str(path)], cwd=ROOT, capture_output=True, check=False)
        cli_lines = cli.stdout.count(b"\n")
        rss_mb = int(peak_file.read_text().split()[-1]) / 1024 if peak_file.exists() else float("nan")
    grep_count = grep.stdout.strip() or f"failed: {grep.stderr.strip()[:80]}"
    print(f"file: {size_mb:.0f} MB, {lines} lines; grep -E -i -c: {grep_count} lines in {grep_s:.2f}s "
          f"({size_mb / grep_s:.0f} MB/s); opsbot (rows + signatures): {found} reports in {ours_s:.2f}s "
          f"({size_mb / ours_s:.0f} MB/s)")
    if cli_lines != found:
        print(f"opsbot patterns match printed {cli_lines} lines, in process {found} (exit {cli.returncode})")
    return {"lines_per_s": lines / ours_s, "mb_per_s": size_mb / ours_s, "grep_mb_per_s": size_mb / grep_s,
            "ratio": grep_s / ours_s, "hyperscan": int(fastscan.available()), "patterns_match_rss_mb": rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-speed", action="store_true", help="quality only")
    parser.add_argument("--mb", type=int, default=150, help="size of the throughput file (MB)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="a corpus file of the same form")
    args = parser.parse_args()
    table = PatternTable.default()
    q = quality(table, args.verbose, args.corpus)
    line = (f"recall={q['recall']:.2f} worst_category={q['worst_category']:.2f} false_alarms={q['false_alarms']} "
            f"unrecognised_flagged={q['unrecognised_flagged']} rows={q['rows']}")
    if not args.no_speed:
        s = speed(table, args.mb)
        line += (f" lines_per_s={s['lines_per_s']:.0f} mb_per_s={s['mb_per_s']:.1f} "
                 f"grep_mb_per_s={s['grep_mb_per_s']:.1f} ratio={s['ratio']:.2f} hyperscan={s['hyperscan']} "
                 f"patterns_match_rss_mb={s['patterns_match_rss_mb']:.0f}")
    print(line)


if __name__ == "__main__":
    main()

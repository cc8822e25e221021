"""Does `opsbot serve --demo` keep up with a burst of slash commands, and do the threads stay right?

`opsbot serve --demo` runs as its own process (the embedded sandbox as its cluster and GitHub) on
loopback, with a fake Slack Web API (tests/fakes/slack.py) in this process as its SLACK_API_URL.
N signed `/debug taskflow-api` requests from C channels are sent all at once to /slack/events; the
fake Slack is then polled until every incident thread is finished (or the deadline passes), and
each thread is checked for the top finding that one `opsbot demo --json` reports on its own.

    .venv/bin/python bench/load.py [--requests 200] [--channels 20] [--deadline 120]

The last line is machine-readable:
`acked_under_3s=N/R completed=N/R main_finding=N/R locked_errors=N peak_rss_mb=N ack_p50_ms=... wall_s=...`

- acked_under_3s: HTTP 200 within 3 s of sending (Slack's limit for acknowledging).
- completed: incident thread roots no longer "Investigating" (the root's status line names a
  severity, "No known problem found" or "Incomplete" once the playbook ended).
- main_finding: threads with a finding block titled as the single run's top finding.
- locked_errors: "database is locked" in the bot's log (stderr) and in everything posted to Slack.
- peak_rss_mb: VmHWM of the bot process (plus its playbook worker's), read before it is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ack_latency import SECRET, free_port, percentile  # noqa: E402

from tests.fakes.slack import FakeSlack, StoredMessage  # noqa: E402

SERVICE = "taskflow-api"  # the demo scenario's main service: what `opsbot demo` debugs
ACK_LIMIT = 3.0  # seconds: Slack gives up on an acknowledgement after this
IN_PROGRESS = "*Investigating*"  # bot.render.root: the status line of a root whose playbook still runs
LOCKED = "database is locked"
BUSY = "is busy (another writer holds it)"  # bot.store: what a locked SQLite becomes in opsbot's errors


@dataclass
class Ack:
    status: int
    ms: float
    text: str


@dataclass
class Thread:
    """One incident thread as the fake Slack holds it: the root and its replies."""

    channel: str
    root: StoredMessage
    replies: list[StoredMessage]

    @property
    def status_line(self) -> str:
        status = next((b for b in self.root.blocks if b.get("block_id") == "status"), {})
        return str(status.get("text", {}).get("text", "")).split("\n", 1)[0]

    @property
    def finished(self) -> bool:
        return IN_PROGRESS not in self.status_line

    def block_texts(self, prefix: str) -> list[str]:
        return [
            str(b.get("text", {}).get("text", ""))
            for m in self.replies
            for b in m.blocks
            if str(b.get("block_id", "")).split(":", 1)[0] == prefix
        ]

    @property
    def settled(self) -> bool:
        """The playbook's last messages are there: the checklist, or an error line."""
        return self.finished and bool(self.block_texts("checklist") or self.block_texts("usage"))

    def has_finding(self, title: str) -> bool:
        return any(title in text for text in self.block_texts("finding"))

    def unfinished_steps(self) -> list[str]:
        """Progress lines of steps that did not end well (failed, timed out, skipped, still running)."""
        progress = [m for m in self.replies if m.blocks and m.blocks[0].get("block_id") == "progress"]
        texts = [str(b.get("text", {}).get("text", "")) for m in progress for b in m.blocks[1:]]
        lines = [line for text in texts for line in text.split("\n")]
        return [line for line in lines if line and not line.startswith(":white_check_mark:")]


@dataclass
class Outcome:
    acks: list[Ack] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    wall_s: float = 0.0
    log_lines: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0


def threads_of(fake: FakeSlack) -> list[Thread]:
    threads = []
    for channel, messages in fake.messages.items():
        for m in messages:
            if m.thread_ts is None and m.blocks and m.blocks[0].get("block_id") == "root":
                threads.append(Thread(channel, m, [r for r in messages if r.thread_ts == m.ts]))
    return threads


def top_finding() -> tuple[str, str]:
    """The pattern id and title of the top finding of one `opsbot demo --json`, run on its own."""
    run = subprocess.run([sys.executable, "-m", "bot", "demo", "--json"], cwd=ROOT, env=bot_env({}),
                         capture_output=True, text=True, timeout=120, check=False)
    try:
        finding = json.loads(run.stdout)["findings"][0]
    except (ValueError, KeyError, IndexError):
        raise SystemExit(f"`opsbot demo --json` gave no finding (exit {run.returncode}): {run.stderr[-500:]}") from None
    return str(finding["pattern"]), str(finding["title"])


def bot_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without any Slack or opsbot setting of the user's, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "OPSBOT_", "GITHUB_")) and k not in ("KUBECONFIG", "PORT")}
    return env | extra


def signed_request(n: int, channels: int, *, command: str = "/debug", text: str = SERVICE,
                   channel: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A slash command (`/debug taskflow-api` unless told) as Slack sends it: form-encoded, signed
    `v0=HMAC-SHA256(v0:ts:body)`, from channel `channel` (else one of `channels` numbered ones)."""
    body = urlencode({
        "token": "unused", "team_id": "T0LOAD", "channel_id": channel or f"C0LOAD{n % channels:03d}",
        "user_id": f"U0LOAD{n % 11}", "command": command, "text": text, "api_app_id": "A0OPSBOT",
        "response_url": "https://hooks.slack.invalid/commands/load", "trigger_id": f"{n}.load",
    }).encode()
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def send(session: aiohttp.ClientSession, url: str, n: int, channels: int) -> Ack:
    body, headers = signed_request(n, channels)
    start = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            return Ack(response.status, (time.perf_counter() - start) * 1000, text)
    except aiohttp.ClientError as exc:
        return Ack(0, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}")


def family(pid: int) -> list[int]:
    """A live process and its descendants (`opsbot serve` runs its playbooks in a child process)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        for child in children:
            found += family(int(child))
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, plus its descendants' (the playbook worker), in MiB."""
    total = 0.0
    for member in family(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


async def wait_ready(session: aiohttp.ClientSession, base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"opsbot serve exited with {server.returncode} before it was ready")
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("opsbot serve was not ready within 60 s")


async def wait_done(fake: FakeSlack, requests: int, deadline: float) -> None:
    """Poll the fake Slack until every thread is settled; or until every root is finished and
    nothing has been called for 5 s (a thread that lost its checklist); or until the deadline."""
    calls, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        threads = threads_of(fake)
        if len(threads) >= requests and all(t.settled for t in threads):
            return
        if len(fake.calls) != calls:
            calls, quiet_since = len(fake.calls), time.monotonic()
        elif len(threads) >= requests and all(t.finished for t in threads) and time.monotonic() - quiet_since > 5:
            return
        await asyncio.sleep(0.25)


async def run_load(requests: int, channels: int, deadline_s: float, log: IO[bytes]) -> Outcome:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    outcome = Outcome()
    async with FakeSlack() as fake:
        with tempfile.TemporaryDirectory(prefix="opsbot-load-") as tmp:
            env = bot_env({
                "SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url,
                "PORT": str(port), "OPSBOT_SERVER__HOST": "127.0.0.1", "OPSBOT_DB": str(Path(tmp) / "load.db"),
            })
            server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--demo"], cwd=ROOT, env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
            try:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                    await wait_ready(session, base, server)
                    start = time.monotonic()
                    outcome.acks = list(await asyncio.gather(
                        *(send(session, f"{base}/slack/events", n, channels) for n in range(requests))))
                    await wait_done(fake, requests, start + deadline_s)
                    outcome.wall_s = time.monotonic() - start
                outcome.peak_rss_mb = peak_rss_mb(server.pid)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            outcome.threads = threads_of(fake)
            posted = json.dumps([m.as_api() for m in fake.all_messages()] + fake.ephemeral)
    log.flush()
    log.seek(0)
    outcome.log_lines = log.read().decode(errors="replace").splitlines()
    outcome.log_lines.append(posted)  # counted with the log: "locked" in a message is as bad
    return outcome


def log_summary(lines: list[str]) -> collections.Counter[str]:
    """Warnings and errors of the bot's JSON log lines, by message (numbers kept: they are few)."""
    seen: collections.Counter[str] = collections.Counter()
    for line in lines[:-1]:
        try:
            record: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        if record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            seen[f"{record.get('level')} {record.get('logger', '')}: {str(record.get('msg', ''))[:160]}"] += 1
    return seen


def report(outcome: Outcome, requests: int, pattern: str, title: str) -> None:
    acks = outcome.acks
    ok_ms = [a.ms for a in acks if a.status == 200]
    under = sum(a.status == 200 and a.ms <= ACK_LIMIT * 1000 for a in acks)
    statuses = collections.Counter(a.status for a in acks)
    threads = outcome.threads
    completed = sum(t.finished for t in threads)
    main = sum(t.finished and t.has_finding(title) for t in threads)
    text = "\n".join(outcome.log_lines)
    locked, busy = text.count(LOCKED), text.count(BUSY)
    print(f"{requests} signed /debug {SERVICE} from {len({t.channel for t in threads})} channels at once; "
          f"HTTP statuses {dict(statuses)}; {len(threads)} threads opened")
    if ok_ms:
        print(f"ack: p50 {percentile(ok_ms, 50):.0f} ms, p99 {percentile(ok_ms, 99):.0f} ms, "
              f"max {max(ok_ms):.0f} ms (Slack allows {ACK_LIMIT * 1000:.0f} ms)")
    print(f"top finding of the single run: {pattern} ({title!r})")
    print(f"roots: {dict(collections.Counter(t.status_line for t in threads))}")
    lost = [t for t in threads if not (t.finished and t.has_finding(title))]
    for label, group in (("of all the threads", threads), (f"of the {len(lost)} without the finding", lost)):
        # durations dropped, so that the same step's timeouts count together
        steps = collections.Counter(re.sub(r" ?\(\d+(\.\d+)?s\)", "", line) for t in group
                                    for line in t.unfinished_steps())
        for line, count in steps.most_common(6):
            print(f"  {count} {label}: {line[:200]}")
    if lost:
        print(f"  e.g. the root of one without the finding: {lost[0].root.text!r}")
    for line, count in log_summary(outcome.log_lines).most_common(8):
        print(f"  log x{count}: {line}")
    extra = [f"ack_p50_ms={percentile(ok_ms, 50):.0f}", f"ack_p99_ms={percentile(ok_ms, 99):.0f}"] if ok_ms else []
    print(f"acked_under_3s={under}/{requests} completed={completed}/{requests} main_finding={main}/{requests} "
          f"locked_errors={locked} peak_rss_mb={outcome.peak_rss_mb:.0f} " + " ".join(
              [*extra, f"busy_errors={busy}", f"threads={len(threads)}", f"wall_s={outcome.wall_s:.1f}"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="slash commands sent at once")
    parser.add_argument("--channels", type=int, default=20, help="channel ids they come from")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds for every thread to finish")
    args = parser.parse_args()
    if args.requests < 1 or not 1 <= args.channels <= 999:
        parser.error("--requests must be at least 1, --channels 1 to 999")
    pattern, title = top_finding()
    with tempfile.TemporaryFile() as log:
        outcome = asyncio.run(run_load(args.requests, args.channels, args.deadline, log))
    report(outcome, args.requests, pattern, title)


if __name__ == "__main__":
    main()

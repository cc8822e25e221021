"""opsbot at scale: the terminal against the kubectl sequence, and the Slack path under a burst.

1. Terminal. For each size (PODS pods x 2 containers; LINES: 200, 2,000 or all of each log), the
   embedded sandbox serves a scaled scenario from its own process, and this times, 3 runs each
   (min/median/max), `opsbot debug taskflow-api -n taskflow --json` (OPSBOT_LOG_TAIL set to the
   lines read) against the kubectl commands a person types for the same facts
   (bench/debug_vs_kubectl.py: get pods, logs of every container with --tail, the previous log of
   a restarted pod, get events), with the peak RSS of each side (for kubectl: its largest command).
   "all" is 7,500 lines a container (~150 MB at 100 pods), read whole (OPSBOT_LOG_TAIL=10000,
   kubectl --tail=-1).
2. Slack. `opsbot serve` (its own process, pointed at the sandbox like a cluster) behind a fake Slack
   Web API (tests/fakes/slack.py) in this process. A signed `/debug` is timed from the request to
   the last Web API call of its thread (every call of its channel), alone (3 runs) and 20 at once
   from 20 channels; during the burst a signed `/opsbot help` is sent every 50 ms, and every
   acknowledgement and help answer is timed. Uses bench/load.py's signing, readiness and thread
   reading.

    .venv/bin/python bench/scale.py                                # everything (long: ~15 min)
    .venv/bin/python bench/scale.py --pods 10,30 --lines 200,2000  # a part of the grid
    .venv/bin/python bench/scale.py --no-slack / --no-cli          # one half
    .venv/bin/python bench/scale.py --no-slack --pods 30 --lines 200 --latency-ms 20  # a cluster 20 ms away
    .venv/bin/python bench/scale.py --no-slack --pods 30 --lines 200 --kubeconfig-clusters 20  # an SRE's kubeconfig

The last lines are machine-readable `key=value`: one `cli ...` line per size, then
`slack_pods=30 one_s_min=... one_s_median=... burst_median_s=... burst_max_s=... ack_max_ms=...
help_max_ms=... help_worst_at_s=... cpu_ms_per_debug=... serve_cpu_ms_per_debug=...
sandbox_cpu_ms_per_debug=... fake_slack_cpu_ms_per_debug=... serve_rss_mb=...`: `cpu_ms_per_debug` and
`serve_rss_mb` count `opsbot serve` with its playbook worker (a child process), `serve_cpu_ms_per_debug`
the serving process alone; `help_worst_at_s`: when the slowest help answer was sent, from the burst's start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from ack_latency import SECRET, free_port  # noqa: E402
from debug_vs_kubectl import KUBECTL_PEAK_MB, NAMESPACE, measured, opsbot_command, run_kubectl  # noqa: E402
from load import bot_env, family, peak_rss_mb, signed_request, threads_of, wait_ready  # noqa: E402

from bot.sandbox import Sandbox, scaled_scenario  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

CONTAINERS = 2
ALL_LINES = 7500  # lines a container for "all": ~150 MB of logs at 100 pods
SIZES = {"200": (200, 200, 200), "2000": (2000, 2000, 2000), "all": (ALL_LINES, 10_000, -1)}  # sandbox, opsbot, kubectl
BURST = 20
HELP_EVERY = 0.05  # seconds between two /opsbot help during the burst
# seconds the sandbox waits before each answer (--latency-ms): a cluster across a network, where
# kubectl's sequence pays the round trip once a command and opsbot's calls overlap
LATENCY = [0.0]
# clusters in the kubeconfig both sides read (--kubeconfig-clusters): the sandbox's, then others with
# their certificates inline, as in the kubeconfig of somebody on call for several clusters
KUBECONFIG_CLUSTERS = [1]


def spread(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


# --- the sandbox, in a process of its own ----------------------------------------------------------

def _serve_sandbox(pods: int, lines: int, conn: Connection) -> None:
    with tempfile.TemporaryDirectory(prefix="opsbot-scale-") as tmp, \
            Sandbox(scaled_scenario(pods, CONTAINERS, lines), latency=LATENCY[0]).run_in_thread() as sandbox:
        kubeconfig = sandbox.write_kubeconfig(Path(tmp) / "kubeconfig")
        conn.send((str(kubeconfig.read_text()), sandbox.github_url))
        conn.recv()  # until told to stop (or the parent is gone)


@dataclass
class Cluster:
    kubeconfig: Path
    github_url: str
    work: Path
    pid: int  # the sandbox's process

    def opsbot_env(self, tail: int) -> dict[str, str]:
        catalogue = self.work / "opsbot.yaml"
        catalogue.write_text(json.dumps({"services": {"taskflow-api": {
            "namespace": NAMESPACE, "repo": "acme/taskflow", "workflow": "deploy.yml"}}}), encoding="utf-8")
        env = bot_env({"KUBECONFIG": str(self.kubeconfig), "OPSBOT_CONTEXT": "sandbox",
                       "GITHUB_API_URL": self.github_url, "OPSBOT_CONFIG": str(catalogue),
                       "OPSBOT_DB": str(self.work / "opsbot.db"),
                       "OPSBOT_LOG_TAIL": str(tail)})
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's Python reuses its bytecode
        return env


def padded_kubeconfig(text: str, clusters: int) -> str:
    """The sandbox's kubeconfig with `clusters - 1` other clusters, users and contexts (a CA, a client
    certificate and key inline each, ~4.5 KB a cluster), its own context still the current one."""
    if clusters <= 1:
        return text
    import base64

    import yaml

    config = yaml.safe_load(text)
    blob = base64.b64encode(os.urandom(1100)).decode()  # as long as a PEM certificate's base64
    for n in range(1, clusters):
        config["clusters"].append({"name": f"other-{n}", "cluster": {
            "server": f"https://10.0.{n}.1:6443", "certificate-authority-data": blob}})
        config["users"].append({"name": f"other-{n}", "user": {
            "client-certificate-data": blob, "client-key-data": blob}})
        config["contexts"].append({"name": f"other-{n}", "context": {
            "cluster": f"other-{n}", "user": f"other-{n}", "namespace": "default"}})
    return str(yaml.safe_dump(config))


@contextmanager
def cluster(pods: int, lines: int) -> Iterator[Cluster]:
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(target=_serve_sandbox, args=(pods, lines, theirs), daemon=True)
    child.start()
    try:
        kubeconfig_text, github_url = ours.recv()
        with tempfile.TemporaryDirectory(prefix="opsbot-scale-") as tmp:
            work = Path(tmp)
            (work / "kubeconfig").write_text(padded_kubeconfig(kubeconfig_text, KUBECONFIG_CLUSTERS[0]))
            assert child.pid is not None
            yield Cluster(work / "kubeconfig", github_url, work, child.pid)
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.kill()


# --- 1. the terminal against kubectl -----------------------------------------------------------------

def cli_cell(pods: int, size: str, repeat: int, opsbot: list[str]) -> dict[str, float]:
    sandbox_lines, tail, kubectl_tail = SIZES[size]
    with cluster(pods, sandbox_lines) as where:
        env = where.opsbot_env(tail)
        kube_env = {**bot_env({}), "KUBECONFIG": str(where.kubeconfig), "HOME": str(where.work)}
        containers = ["api", "daprd"][:CONTAINERS]
        command = [*opsbot, "debug", "taskflow-api", "-n", NAMESPACE, "--json"]
        ours: list[float] = []
        rss: list[float] = []
        theirs: list[float] = []
        for attempt in range(repeat + 1):  # the first of each: warm-up (bytecode, kubectl's discovery cache)
            started = time.perf_counter()
            code, out, err, peak = measured(command, env)
            elapsed = time.perf_counter() - started
            if code not in (0, 1):
                raise SystemExit(f"opsbot debug failed (exit {code}): {err.strip().splitlines()[-1:]}")
            report = json.loads(out)
            if len(report.get("pods", [])) != pods:
                raise SystemExit(f"opsbot saw {len(report.get('pods', []))} pods, expected {pods}")
            KUBECTL_PEAK_MB[0] = 0.0
            kube_s, _ = run_kubectl(kube_env, containers, kubectl_tail)
            if attempt:
                ours.append(elapsed)
                rss.append(peak)
                theirs.append(kube_s)
    o, k = spread(ours), spread(theirs)
    return {"pods": pods, "lines": size, "opsbot_s_min": o[0], "opsbot_s_median": o[1], "opsbot_s_max": o[2],
            "kubectl_s_min": k[0], "kubectl_s_median": k[1], "kubectl_s_max": k[2],
            "speedup": k[1] / o[1], "opsbot_rss_mb": max(rss), "kubectl_rss_mb": KUBECTL_PEAK_MB[0]}


# --- 2. the Slack path ---------------------------------------------------------------------------------

class _TimedCalls(list[Any]):
    """The fake Slack's list of calls, with the time each arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, call: Any) -> None:
        self.times.append(time.perf_counter())
        super().append(call)


def _last_call(fake: FakeSlack, channel: str) -> float:
    calls: _TimedCalls = fake.calls  # type: ignore[assignment]
    return max((at for call, at in zip(calls, calls.times, strict=False)
                if channel in (call.args.get("channel"), call.args.get("channel_id"))), default=0.0)


async def _post(session: aiohttp.ClientSession, url: str, command: str, text: str, channel: str) -> tuple[int, float]:
    body, headers = signed_request(0, 1, command=command, text=text, channel=channel)
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status, (time.perf_counter() - started) * 1000


def _probe_help(url: str, stop: Any, conn: Connection) -> None:
    """A signed `/opsbot help` every HELP_EVERY seconds until told to stop; sends back each answer's
    round trip in ms (only 200s) with when it was sent (`time.perf_counter`, the same clock here)."""
    import urllib.request

    times: list[tuple[float, float]] = []
    sent = 0
    while not stop.is_set():
        sent += 1  # a new trigger_id each: the same body twice within a second is a replay
        body, headers = signed_request(sent, 1, command="/opsbot", text="help", channel="C0HELP")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                if response.status == 200:
                    times.append(((time.perf_counter() - started) * 1000, started))
        except OSError:
            pass
        stop.wait(HELP_EVERY)
    conn.send(times)


async def _settled(fake: FakeSlack, channels: list[str], deadline: float) -> None:
    """Until every channel's thread has its checklist and no call came for a second (or the deadline)."""
    while time.monotonic() < deadline:
        threads = {t.channel: t for t in threads_of(fake)}
        if all(c in threads and threads[c].settled for c in channels):
            last = max(_last_call(fake, c) for c in channels)
            if time.perf_counter() - last > 1.0:
                return
        await asyncio.sleep(0.05)
    raise SystemExit(f"threads not settled in time: {channels}")


async def slack_path(pods: int, size: str, repeat: int) -> dict[str, float]:
    sandbox_lines, tail, _ = SIZES[size]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/slack/events"
    with cluster(pods, sandbox_lines) as where:
        async with FakeSlack() as fake:
            fake.calls = _TimedCalls()
            env = where.opsbot_env(tail) | {"SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": SECRET,
                                            "SLACK_API_URL": fake.url, "PORT": str(port),
                                            "OPSBOT_SERVER__HOST": "127.0.0.1"}
            with tempfile.TemporaryFile() as log:
                server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT)
                try:
                    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                        await wait_ready(session, base, server)
                        one: list[float] = []
                        for n in range(repeat + 1):  # the first: warm-up
                            channel = f"C0ONE{n:03d}"
                            started = time.perf_counter()
                            await _post(session, url, "/debug", "taskflow-api", channel)
                            await _settled(fake, [channel], time.monotonic() + 120)
                            if n:
                                one.append(_last_call(fake, channel) - started)
                        channels = [f"C0BURST{n:03d}" for n in range(BURST)]
                        # the prober is a process of its own: in this process's event loop it would also
                        # wait behind the fake Slack answering the burst's Web API calls
                        stop = multiprocessing.get_context("fork").Event()
                        ours, theirs = multiprocessing.get_context("fork").Pipe()
                        probe = multiprocessing.get_context("fork").Process(target=_probe_help,
                                                                            args=(url, stop, theirs), daemon=True)
                        probe.start()
                        cpu_before, own_before = cpu_s(server.pid), cpu_s(server.pid, own=True)
                        sandbox_before, here_before = cpu_s(where.pid, own=True), time.process_time()
                        started = time.perf_counter()
                        acks = await asyncio.gather(*(_post(session, url, "/debug", "taskflow-api", c)
                                                      for c in channels))
                        await _settled(fake, channels, time.monotonic() + 300)
                        stop.set()
                        answers = ours.recv()
                        helps = [ms for ms, _ in answers]
                        # when the slowest was sent, from the burst's start (the settling second included)
                        worst_at = max(answers)[1] - started
                        probe.join(10)
                        burst = [_last_call(fake, c) - started for c in channels]
                        burst_cpu = cpu_s(server.pid) - cpu_before
                        own_cpu = cpu_s(server.pid, own=True) - own_before
                        sandbox_cpu = cpu_s(where.pid, own=True) - sandbox_before
                        slack_cpu = time.process_time() - here_before
                    rss = peak_rss_mb(server.pid)
                finally:
                    server.terminate()
                    server.wait(30)
    o, b = spread(one), spread(burst)
    return {"slack_pods": pods, "lines": size, "one_s_min": o[0], "one_s_median": o[1], "one_s_max": o[2],
            "burst_median_s": b[1], "burst_max_s": b[2], "ack_max_ms": max(ms for _, ms in acks),
            "help_max_ms": max(helps), "help_p50_ms": statistics.median(helps),
            "help_p99_ms": sorted(helps)[int(0.99 * (len(helps) - 1))], "help_answers": len(helps),
            "help_worst_at_s": worst_at,
            "cpu_ms_per_debug": burst_cpu / BURST * 1000, "serve_cpu_ms_per_debug": own_cpu / BURST * 1000,
            "sandbox_cpu_ms_per_debug": sandbox_cpu / BURST * 1000,
            "fake_slack_cpu_ms_per_debug": slack_cpu / BURST * 1000,
            "serve_rss_mb": rss}


def cpu_s(pid: int, *, own: bool = False) -> float:
    """User + system CPU seconds a live process and its descendants (the playbook worker) have used;
    `own`: the process's alone."""
    total = 0
    for member in [pid] if own else family(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def line(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pods", default="10,30,100,300", help="pod counts, comma-separated")
    parser.add_argument("--lines", default="200,2000,all", help="lines read a container: 200, 2000, all")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs a cell (min/median/max)")
    parser.add_argument("--slack-pods", type=int, default=30, help="pods of the Slack path's cluster")
    parser.add_argument("--opsbot", help="the opsbot executable to time (default: the one beside this python)")
    parser.add_argument("--no-cli", action="store_true", help="skip the terminal against kubectl")
    parser.add_argument("--no-slack", action="store_true", help="skip the Slack path")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the sandbox waits this long before each answer (a cluster across a network)")
    parser.add_argument("--kubeconfig-clusters", type=int, default=1,
                        help="clusters in the kubeconfig read (the sandbox's and others, certificates inline)")
    args = parser.parse_args()
    LATENCY[0] = args.latency_ms / 1000
    KUBECONFIG_CLUSTERS[0] = max(1, args.kubeconfig_clusters)
    pods = [int(p) for p in args.pods.split(",")]
    sizes = args.lines.split(",")
    if any(s not in SIZES for s in sizes) or any(p < 1 for p in pods) or args.repeat < 1:
        parser.error("--lines takes 200, 2000, all; --pods and --repeat at least 1")
    results: list[str] = []
    if not args.no_cli:
        opsbot = opsbot_command(args.opsbot)
        for p in pods:
            for size in sizes:
                cell = cli_cell(p, size, args.repeat, opsbot)
                if args.latency_ms:
                    cell = {"latency_ms": args.latency_ms, **cell}
                if args.kubeconfig_clusters > 1:
                    cell = {"kubeconfig_clusters": args.kubeconfig_clusters, **cell}
                results.append("cli " + line(cell))
                print(results[-1], flush=True)
    if not args.no_slack:
        results.append(line(asyncio.run(slack_path(args.slack_pods, "200", args.repeat))))
    print()
    for result in results:
        print(result)


if __name__ == "__main__":
    main()

"""How fast does `opsbot serve` acknowledge a slash command?

The app on loopback (the aiohttp server on a real port, in its own process), a fake Slack Web API,
the demo runtime (embedded sandbox) doing the playbook work after each acknowledgement. Each round sends 50
concurrent, correctly signed `/debug` requests; the round's playbooks then finish (their threads
are written to the fake Slack) before the next round starts. Slack's limit is 3 s; the target is
p99 under 100 ms on 2 cores.

    .venv/bin/python bench/ack_latency.py [--rounds 10] [--concurrency 50]

The last line is machine-readable: `p50_ms=... p99_ms=... requests=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app, build_web_app, readiness  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime import open_runtime  # noqa: E402
from bot.slack import make_client  # noqa: E402
from bot.store import IncidentStore  # noqa: E402
from bot.threads import IncidentService  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
SERVICES = ("taskflow-api", "notification-service", "web-dashboard")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def signed_debug(n: int) -> tuple[str, dict[str, str]]:
    body = urlencode(
        {
            "team_id": "T0BENCH",
            "channel_id": f"C0BENCH{n % 5}",
            "user_id": f"U0USER{n % 7}",
            "command": "/debug",
            "text": SERVICES[n % len(SERVICES)],
            "api_app_id": "A0OPSBOT",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": f"{n}.0",
        }
    )
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body),
    }
    return body, headers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def one(session: aiohttp.ClientSession, url: str, n: int) -> float:
    body, headers = signed_debug(n)
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"request {n} answered HTTP {response.status}")
    return elapsed * 1000


def serve_app(port: int, ready: Any, stop: Any) -> None:
    """The server process: fake Slack, demo runtime, the app on a real loopback port."""
    logging.basicConfig(level=logging.CRITICAL)

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="opsbot-bench-") as tmp:
            async with FakeSlack() as fake:
                settings = Settings(
                    slack={"bot_token": fake.token, "signing_secret": SECRET, "api_url": fake.url},  # type: ignore[arg-type]
                    store={"path": str(Path(tmp) / "bench.db")},  # type: ignore[arg-type]
                )
                async with open_runtime(settings, demo=True) as runtime:
                    store = IncidentStore(settings.store.path)
                    service = IncidentService(runtime, store)
                    app = build_app(settings, runtime, store, make_client(settings), service=service)
                    web_app = build_web_app(app, readiness(runtime, store), service=service)

                    async def drain(request: web.Request) -> web.Response:
                        # Bench only: the round's playbooks finish before the next round starts.
                        await service.drain()
                        roots = sum(1 for c in fake.calls_to("chat.postMessage") if not c.args.get("thread_ts"))
                        return web.json_response({"threads": roots})

                    web_app.router.add_get("/bench/drain", drain)
                    runner = web.AppRunner(web_app, access_log=None)
                    await runner.setup()
                    await web.TCPSite(runner, "127.0.0.1", port).start()
                    ready.set()
                    while not stop.is_set():
                        await asyncio.sleep(0.1)
                    await runner.cleanup()
                    await service.drain()
                    store.close()

    asyncio.run(run())


async def load(port: int, rounds: int, concurrency: int) -> None:
    url = f"http://127.0.0.1:{port}/slack/events"
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await one(session, url, -1)  # warm-up: auth.test, the first connections
        async with session.get(f"http://127.0.0.1:{port}/bench/drain") as response:
            await response.read()
        threads = 0
        for r in range(rounds):
            batch = await asyncio.gather(*(one(session, url, r * concurrency + i) for i in range(concurrency)))
            latencies += batch
            async with session.get(f"http://127.0.0.1:{port}/bench/drain") as response:
                threads = (await response.json())["threads"]
            print(f"round {r + 1:>2}: p50 {statistics.median(batch):6.1f} ms  max {max(batch):6.1f} ms")
    if threads != len(latencies) + 1:  # + the warm-up request
        raise SystemExit(f"expected {len(latencies) + 1} incident threads, the fake Slack has {threads}")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"{len(latencies)} signed /debug requests, {concurrency} at once, {rounds} rounds; {threads} threads opened")
    print(f"ack latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms (Slack allows 3000 ms)")
    print(f"p50_ms={p50:.0f} p99_ms={p99:.0f} requests={len(latencies)}")


def bench(rounds: int, concurrency: int) -> None:
    # The load generator runs in its own process: sharing the server's event loop would measure
    # the client as much as the server.
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=serve_app, args=(port, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the server did not start within 60 s")
        asyncio.run(load(port, rounds, concurrency))
    finally:
        stop.set()
        server.join(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    bench(args.rounds, args.concurrency)


if __name__ == "__main__":
    main()

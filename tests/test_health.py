"""/healthz, /readyz and /metrics over real HTTP, with readiness checks that touch a real SQLite
file and a real TCP port (a listening one, and one that is closed)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import NotFoundError
from bot.health import add_health_routes
from bot.plumbing import metrics

Checks = Callable[[], Awaitable[list[tuple[str, bool, str]]]]


def store_check(path: Path) -> Callable[[], tuple[str, bool, str]]:
    def check() -> tuple[str, bool, str]:
        try:
            with sqlite3.connect(path) as db:
                db.execute("CREATE TABLE IF NOT EXISTS probe (at TEXT)")
                db.execute("INSERT INTO probe VALUES (datetime('now'))")
            return ("store", True, str(path))
        except sqlite3.Error as exc:
            return ("store", False, f"{path}: {exc}")

    return check


async def port_check(name: str, host: str, port: int) -> tuple[str, bool, str]:
    """What a Kubernetes API check boils down to when the server is gone: can we connect?"""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return (name, False, f"cannot connect to {host}:{port}: {exc.strerror or exc}")
    writer.close()
    await writer.wait_closed()
    return (name, True, f"{host}:{port} answers")


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    """A real HTTP server standing in for a reachable Kubernetes API."""
    server = TestServer(web.Application())
    await server.start_server()
    yield server
    await server.close()


async def serve(ready: Checks) -> TestClient:
    app = web.Application()
    add_health_routes(app, ready)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_healthz_answers_ok(tmp_path: Path) -> None:
    async def ready() -> list[tuple[str, bool, str]]:
        raise AssertionError("healthz must not run the readiness checks")

    client = await serve(ready)
    try:
        resp = await client.get("/healthz")
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}
    finally:
        await client.close()


async def test_readyz_ok_when_store_writable_and_api_answers(tmp_path: Path, upstream: TestServer) -> None:
    check_store = store_check(tmp_path / "opsbot.db")

    async def ready() -> list[tuple[str, bool, str]]:
        assert upstream.port is not None
        return [check_store(), await port_check("kubernetes", "127.0.0.1", upstream.port)]

    client = await serve(ready)
    try:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200, body
        assert body["status"] == "ok"
        assert [c["name"] for c in body["checks"]] == ["store", "kubernetes"]
        assert body["failing"] == []
    finally:
        await client.close()


async def test_readyz_503_lists_the_failing_checks(tmp_path: Path) -> None:
    check_store = store_check(tmp_path / "opsbot.db")
    port = closed_port()

    async def ready() -> list[tuple[str, bool, str]]:
        return [check_store(), await port_check("kubernetes", "127.0.0.1", port)]

    client = await serve(ready)
    try:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503
        assert body["status"] == "unavailable"
        assert [c["name"] for c in body["failing"]] == ["kubernetes"]
        assert f"127.0.0.1:{port}" in body["failing"][0]["detail"]
        assert {c["name"]: c["ok"] for c in body["checks"]} == {"store": True, "kubernetes": False}
    finally:
        await client.close()


async def test_readyz_unwritable_store_is_unready(tmp_path: Path) -> None:
    # a directory where the database file should be: sqlite cannot open it, whoever runs the test
    (tmp_path / "opsbot.db").mkdir()
    check_store = store_check(tmp_path / "opsbot.db")

    async def ready() -> list[tuple[str, bool, str]]:
        return [check_store()]

    client = await serve(ready)
    try:
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["failing"][0]["name"] == "store"
    finally:
        await client.close()


async def test_readyz_crashing_check_is_503_not_500() -> None:
    async def ready() -> list[tuple[str, bool, str]]:
        raise RuntimeError("kubeconfig vanished")

    client = await serve(ready)
    try:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503
        assert body["failing"] == [
            {"name": "ready", "ok": False, "detail": "RuntimeError: kubeconfig vanished"}
        ]
    finally:
        await client.close()


async def test_readyz_hanging_check_is_503() -> None:
    never = asyncio.Event()

    async def ready() -> list[tuple[str, bool, str]]:
        await never.wait()
        return []

    app = web.Application()
    add_health_routes(app, ready, ready_timeout=0.05)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503
        assert "did not finish" in body["failing"][0]["detail"]
    finally:
        await client.close()


async def test_readyz_details_are_redacted() -> None:
    token = "xoxb-1234567890-1234567890123-abcdefghijklmnopqrstuvwx"

    async def ready() -> list[tuple[str, bool, str]]:
        return [("slack", False, f"auth.test refused token {token}")]

    client = await serve(ready)
    try:
        text = await (await client.get("/readyz")).text()
        assert token not in text
        assert "REDACTED" in text
    finally:
        await client.close()


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_exposes_the_contract_names() -> None:
    before = sample("opsbot_commands_total", command="debug", outcome="ok")
    errors_before = sample("opsbot_step_errors_total", step="pods", kind="not_found")
    count_before = sample("opsbot_step_duration_seconds_count", playbook="debug", step="pods")

    metrics.COMMANDS.labels(command="debug", outcome="ok").inc()
    metrics.API_ERRORS.labels(api="kubernetes", kind="timeout").inc()
    with metrics.time_playbook("debug"):
        with metrics.time_step("debug", "events"):
            pass
        with pytest.raises(NotFoundError), metrics.time_step("debug", "pods"):
            raise NotFoundError("deployment taskflow-api not found in namespace default")

    async def ready() -> list[tuple[str, bool, str]]:
        return []

    client = await serve(ready)
    try:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    finally:
        await client.close()

    assert {
        "opsbot_commands",
        "opsbot_playbook_duration_seconds",
        "opsbot_step_duration_seconds",
        "opsbot_step_errors",
        "opsbot_api_errors",
    } <= set(families)
    served = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert served[("opsbot_commands_total", (("command", "debug"), ("outcome", "ok")))] == before + 1
    assert (
        served[("opsbot_step_errors_total", (("kind", "not_found"), ("step", "pods")))] == errors_before + 1
    )
    pods_count = ("opsbot_step_duration_seconds_count", (("playbook", "debug"), ("step", "pods")))
    assert served[pods_count] == count_before + 1
    assert served[("opsbot_api_errors_total", (("api", "kubernetes"), ("kind", "timeout")))] >= 1


def test_error_kind_is_a_bounded_label() -> None:
    assert metrics.error_kind(NotFoundError("x")) == "not_found"
    assert metrics.error_kind(TimeoutError()) == "timeout"
    assert metrics.error_kind(asyncio.CancelledError()) == "cancelled"
    assert metrics.error_kind(KeyError("whatever")) == "internal"


def test_a_one_shot_command_records_nothing_and_never_imports_prometheus() -> None:
    # the CLI's playbooks call the same recording functions; with no metric made they do nothing
    code = (
        "import sys; from bot.plumbing import metrics; "
        "metrics.observe_step('debug', 'logs', 0.1, 'timeout'); metrics.observe_playbook('debug', 1.0); "
        "print('prometheus_client' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


async def test_the_readiness_ping_does_not_queue_behind_busy_log_reads() -> None:
    """Every call slot held by log reads that do not end (a burst on a slow cluster): the readiness
    ping still gets its answer, on its own thread, instead of waiting for a slot (a probe timing out
    while the bot is merely busy would take the pod out of its Service)."""
    from bot.k8s import KubernetesGateway

    release = asyncio.Event()
    reading = 0

    async def log(_: web.Request) -> web.Response:
        nonlocal reading
        reading += 1
        await release.wait()
        return web.Response(text="2026-11-29T05:00:00Z INFO done\n")

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/version/", version)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/log", log)
    server = TestServer(app)
    await server.start_server()
    gateway = KubernetesGateway.for_url(str(server.make_url("")), concurrency=2, timeout=30)
    try:
        reads = [asyncio.create_task(gateway.read_log("shop", f"api-{n}", "api", tail=10)) for n in range(4)]
        while reading < 2:  # both slots taken, two more reads waiting for one
            await asyncio.sleep(0.01)
        # a deadlock guard, not a timing assertion: queued behind the reads, the ping would never answer
        await asyncio.wait_for(gateway.ping(), 20)
        assert reading == 2
        release.set()
        assert all(len(s.lines) == 1 for s in await asyncio.gather(*reads))
    finally:
        release.set()
        await gateway.close()
        await server.close()

"""The gateways' HTTP client (bot.plumbing.httpthread): an AsyncClient that sends through httpx's
synchronous client in threads, against real HTTP servers: answers, gzip, redirects, timeouts,
refused connections, the environment's proxy, context variables, and no anyio backend imported."""

from __future__ import annotations

import contextvars
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from bot.plumbing import httpthread
from bot.plumbing.httpthread import ThreadTransport, async_client

ROOT = Path(__file__).resolve().parent.parent


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API server
    seen: ClassVar[list[tuple[int, str, dict[str, str]]]] = []

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).seen.append((self.server.server_address[1], self.path, dict(self.headers)))  # type: ignore[arg-type]
        if self.path.startswith("http://"):  # absolute form: we are somebody's proxy
            self._reply(200, json.dumps({"proxied": self.path}).encode(), {"Content-Type": "application/json"})
        elif self.path.startswith("/json"):
            self._reply(200, json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode(),
                        {"Content-Type": "application/json"})
        elif self.path == "/gzip":
            self._reply(200, gzip.compress(b'{"packed": true}'), {"Content-Encoding": "gzip",
                                                                   "Content-Type": "application/json"})
        elif self.path == "/moved":
            self._reply(302, b"", {"Location": "/json/after"})
        elif self.path == "/slow":
            time.sleep(1.5)
            self._reply(200, b"late")
        else:
            self._reply(404, b"no such thing")


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_requests_answers_and_errors_are_httpx_s_own(server: str) -> None:
    async with async_client(timeout=5) as client:
        got = await client.get(f"{server}/json/runs", params={"per_page": 5}, headers={"Authorization": "Bearer t"})
        assert got.status_code == 200 and got.http_version == "HTTP/1.1"
        assert got.json() == {"path": "/json/runs?per_page=5", "auth": "Bearer t"}
        assert got.request.url == f"{server}/json/runs?per_page=5" and got.elapsed.total_seconds() >= 0
        packed = await client.get(f"{server}/gzip")  # decoded once, by the caller's client
        assert packed.json() == {"packed": True} and packed.headers["content-encoding"] == "gzip"
        moved = await client.get(f"{server}/moved")
        assert moved.status_code == 302 and moved.headers["location"] == "/json/after"
        followed = await client.get(f"{server}/moved", follow_redirects=True)
        assert followed.json()["path"] == "/json/after" and [r.status_code for r in followed.history] == [302]
        missing = await client.get(f"{server}/nothing")
        assert missing.status_code == 404 and missing.text == "no such thing"
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{server}/slow", timeout=0.3)
    async with async_client(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/")  # discard port: nobody listens


async def test_requests_run_with_the_caller_s_context_variables(server: str) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
    seen: list[tuple[str, str]] = []

    class Watching(ThreadTransport):
        def _send(self, request: httpx.Request) -> httpx.Response:
            seen.append((request_id.get(), threading.current_thread().name))
            return super()._send(request)

    request_id.set("corr-42")
    async with httpx.AsyncClient(transport=Watching(), timeout=5) as client:
        await client.get(f"{server}/json/x")
    assert seen and seen[0][0] == "corr-42" and seen[0][1].startswith("http")


async def test_the_environment_s_proxy_is_used_as_httpx_would(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy_port = int(server.rsplit(":", 1)[1])
    monkeypatch.setenv("HTTP_PROXY", server)
    monkeypatch.setenv("NO_PROXY", "skipped.invalid")
    async with async_client(timeout=5) as client:
        got = await client.get("http://github.example.invalid/repos")
    assert got.json() == {"proxied": "http://github.example.invalid/repos"}
    assert [(port, path) for port, path, _ in _Handler.seen] == [(proxy_port, "http://github.example.invalid/repos")]
    async with async_client(timeout=2) as client:  # NO_PROXY: straight to a host that does not exist
        with pytest.raises(httpx.ConnectError):
            await client.get("http://skipped.invalid/")


def test_a_request_imports_no_anyio_backend(server: str) -> None:
    code = ("import asyncio, sys\n"
            "from bot.plumbing.httpthread import async_client\n"
            "async def main():\n"
            "    async with async_client(timeout=5) as client:\n"
            f"        assert (await client.get('{server}/json/a')).status_code == 200\n"
            "asyncio.run(main())\n"
            "print(sorted(m for m in sys.modules if m.startswith('anyio._backends')))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_one_small_pool_of_threads_for_every_client() -> None:
    assert httpthread._Pool.get() is httpthread._Pool.get()
    assert httpthread._Pool.get()._max_workers == httpthread.THREADS

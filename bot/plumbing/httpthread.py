"""The HTTP client of the GitHub and Prometheus gateways: httpx's `AsyncClient`, sending through
httpx's synchronous client in a few threads.

Why not httpx's own async transport: its connection pool takes its locks and sockets from anyio,
whose asyncio backend is imported at the first request: ~35 ms (anyio's backend, its sockets and
synchronisation modules, httpcore's anyio backend), most of a one-shot `opsbot debug`'s GitHub
step, for the five or six requests a run makes. The synchronous pool uses threading's locks and
plain sockets: the first request costs ~8 ms.

Everything a caller relies on stays httpx's own:
- the `AsyncClient` builds each request (headers, params, auth), follows redirects and raises
  httpx's exceptions, as with its own transport;
- the synchronous `httpx.Client` inside sends it: the TLS context, the request's timeouts (httpx
  enforces them on the socket), and the proxies of the environment (HTTPS_PROXY, NO_PROXY...), which
  an `AsyncClient` given a transport would no longer read itself;
- respx mocks both kinds of pool, so tests that route requests see them as before.

A request runs in a thread of a small pool of its own (THREADS), with the caller's context
variables (the log's correlation id); the body is read there, whole (GitHub and Prometheus answer
JSON, or a job log's tail).
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
from concurrent.futures import ThreadPoolExecutor

import httpx

THREADS = 8  # requests in flight at once, for all the clients of a process


class _Pool:
    executor: ThreadPoolExecutor | None = None

    @classmethod
    def get(cls) -> ThreadPoolExecutor:
        if cls.executor is None:
            cls.executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="http")
        return cls.executor


class ThreadTransport(httpx.AsyncBaseTransport):
    """An async transport that sends through a synchronous `httpx.Client` in a thread."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, trust_env: bool = True) -> None:
        self._client = httpx.Client(verify=verify, trust_env=trust_env, follow_redirects=False)

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self._client.send(request, stream=True)  # the request's timeouts apply
        try:
            raw = b"".join(response.iter_raw())  # as sent (still gzipped...): the caller's client decodes it
        finally:
            response.close()
        # a response of our own, its body in memory: the caller's client reads it as an async stream (and,
        # once read, closes it and times it as it would its own)
        return httpx.Response(
            response.status_code, headers=response.headers, stream=httpx.ByteStream(raw),
            extensions={k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")},
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(_Pool.get(), context.run, self._send, request)

    async def aclose(self) -> None:
        self._client.close()


def async_client(*, timeout: float, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` on a `ThreadTransport`."""
    return httpx.AsyncClient(timeout=timeout, transport=ThreadTransport(verify=verify))

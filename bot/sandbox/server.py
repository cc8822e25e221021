"""The sandbox server: one aiohttp app on one port (Kubernetes at /, GitHub at /github), started in a loop or
a thread, and `opsbot sandbox` (serve_forever)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from aiohttp import web

from bot.errors import OpsbotError, UsageError
from bot.sandbox.github_routes import GitHubRoutes, gh_not_found
from bot.sandbox.kubernetes_routes import KubernetesRoutes
from bot.sandbox.responses import status_response
from bot.sandbox.scenario import Scenario, load_scenario
from bot.sandbox.world import World


def build_app(api: KubernetesRoutes, github: GitHubRoutes, latency: float = 0.0) -> web.Application:
    """The aiohttp application: the Kubernetes API at /, the GitHub API at /github, read-only. Each
    answer waits `latency` seconds first, as across a network to a real API server (benchmarks)."""
    app = web.Application()
    r = app.router
    gh = "/github/repos/{owner}/{repo}"
    routes: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("/version", api.version),
        ("/version/", api.version),  # the official client asks with the slash; real servers answer both
        ("/api", api.api),
        ("/api/v1", api.api_v1),
        ("/apis", api.apis),
        ("/apis/apps", api.apis_apps),
        ("/apis/apps/v1", api.apis_apps_v1),
        ("/api/v1/namespaces/{namespace}/pods/{name}/log", api.pod_log),
        ("/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path:.*}", api.pod_proxy),
        ("/api/v1/namespaces/{name}", api.namespace),
        ("/api/v1/namespaces/{namespace}/{resource}", api.collection),
        ("/api/v1/namespaces/{namespace}/{resource}/{name}", api.item),
        ("/api/v1/{resource}", api.collection),
        ("/apis/{group}/v1/namespaces/{namespace}/{resource}", api.collection),
        ("/apis/{group}/v1/namespaces/{namespace}/{resource}/{name}", api.item),
        ("/apis/{group}/v1/{resource}", api.collection),
        ("/github/rate_limit", github.gh_rate_limit),
        (gh, github.gh_repo),
        (gh + "/actions/workflows", github.gh_workflows),
        (gh + "/actions/runs", github.gh_runs),
        (gh + "/actions/workflows/{workflow}/runs", github.gh_runs),
        (gh + "/actions/runs/{run_id}", github.gh_run),
        (gh + "/actions/runs/{run_id}/jobs", github.gh_jobs),
        (gh + "/actions/jobs/{job_id}", github.gh_job),
        (gh + "/actions/jobs/{job_id}/logs", github.gh_job_logs),
        ("/github/_blobs/{owner}/{repo}/jobs/{job_id}/log", github.gh_blob),
    ]
    for path, handler in routes:
        r.add_get(path, handler, allow_head=False)

    @web.middleware
    async def read_only(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        to_github = request.path.startswith("/github")
        if latency:
            await asyncio.sleep(latency)
        if request.method != "GET":
            if to_github:
                return gh_not_found("")
            return status_response(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource (the opsbot sandbox is read-only)",
                {},
            )
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return await (github.gh_unknown(request) if to_github else api.unknown(request))
        except web.HTTPMethodNotAllowed:
            return status_response(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
            )

    app.middlewares.append(read_only)
    return app




class Sandbox:
    """The sandbox HTTP server. `async with Sandbox(load_scenario()) as sb:` or `with sb.run_in_thread():`."""

    def __init__(self, scenario: Scenario, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.scenario = scenario
        self.latency = latency
        self.host, self.port = host, port
        self.url = ""
        self.github_url = ""
        self._runner: web.AppRunner | None = None
        self._world: World | None = None
        self._api: KubernetesRoutes | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._world = World(self.scenario)
        self._api = KubernetesRoutes(self._world)
        app = build_app(self._api, GitHubRoutes(self._world), self.latency)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self.github_url = f"{self.url}/github"

    async def stop(self) -> None:
        if self._runner is not None:
            if self._api is not None:
                self._api.closing.set()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[Sandbox]:
        """Serve from a background thread with its own event loop (for synchronous clients: kubectl,
        the official kubernetes client)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="opsbot-sandbox", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
            yield self
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()

    @property
    def world(self) -> World:
        """The objects the sandbox serves (for reading: tests, `serve_forever`'s hints)."""
        if self._world is None:
            raise UsageError("the sandbox is not started yet")
        return self._world

    def kubeconfig(self) -> dict[str, Any]:
        if not self.url:
            raise UsageError("the sandbox is not started yet")
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {}}],
            "contexts": [
                {"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "taskflow"}}
            ],
            "current-context": "sandbox",
            "preferences": {},
        }

    def write_kubeconfig(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False), encoding="utf-8")
        return path


def serve_forever(scenario: str = "taskflow", host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve the sandbox until Ctrl-C, printing its URLs, a kubeconfig and commands to try.
    A bad scenario or a port in use ends it with one line on stderr and exit status 2."""
    try:
        loaded = load_scenario(scenario)
    except OpsbotError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    async def main() -> None:
        sandbox = Sandbox(loaded, host=host, port=port)
        await sandbox.start()
        # Ctrl-C and SIGTERM (kill, a service manager) end it the same way: through the finally below,
        # which removes the kubeconfig it wrote
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        config: Path | None = None
        try:
            config = sandbox.write_kubeconfig(Path(tempfile.gettempdir()) / f"opsbot-sandbox-{sandbox.port}.yaml")
            pod = next(
                (
                    p["metadata"]["name"]
                    for p in sandbox.world.pods
                    if p["metadata"]["namespace"] == "taskflow"
                ),
                "POD",
            )
            print(f"opsbot sandbox: scenario {loaded.name!r}")
            print(f"  Kubernetes API  {sandbox.url}")
            print(f"  GitHub API      {sandbox.github_url}")
            print(f"  kubeconfig      {config}  (context 'sandbox')")
            print("try:")
            print(f"  kubectl --server {sandbox.url} get pods -n taskflow")
            print(f"  kubectl --server {sandbox.url} logs {pod} -c daprd -n taskflow --tail=20")
            print(f"  kubectl --server {sandbox.url} get events -n taskflow")
            print(
                f"  KUBECONFIG={config} OPSBOT_CONTEXT=sandbox GITHUB_API_URL={sandbox.github_url} "
                "opsbot debug taskflow-api -n taskflow"
            )
            print(f"  curl {sandbox.github_url}/repos/acme/taskflow/actions/runs")
            print("Ctrl-C stops it.", flush=True)
            await stop.wait()
        finally:
            if config is not None:
                config.unlink(missing_ok=True)
            await sandbox.stop()
        print("sandbox stopped", file=sys.stderr)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("sandbox stopped", file=sys.stderr)
    except OpsbotError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

"""`KubernetesGateway`: async, read-only access to the Kubernetes API, returning `bot.models` snapshots.

It wraps the official (synchronous) `kubernetes` client: every call runs in a bounded thread pool with a
per-call timeout, reads the raw JSON (the client's own deserialisation is slow and mangles logs that
happen to be JSON), and translates errors once (`bot.k8s.errors`)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import difflib
import functools
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import yaml
from kubernetes.client.rest import RESTClientObject
from kubernetes.config import kube_config

from bot.config import DEFAULT_SIDECARS, KubernetesSettings
from bot.errors import (
    ConfigError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    UpstreamTimeoutError,
    UsageError,
)
from bot.k8s.api import ReadOnlyApi, configure_client
from bot.k8s.budget import ByteBudget
from bot.k8s.dapr import DAPR_DEFAULT_PORT, app_subscriptions, dapr_sidecar
from bot.k8s.errors import Call, translate_error
from bot.k8s.snapshots import (
    Json,
    by_last_seen,
    deployment_snapshot,
    event_snapshot,
    owner_reference,
    parse_log,
    pod_snapshot,
    rollout_snapshot,
)
from bot.models import (
    DaprSidecar,
    DeploymentSnapshot,
    EventSnapshot,
    LogLine,
    LogSnapshot,
    PodSnapshot,
)

log = logging.getLogger(__name__)

# A log read to be reduced (`read_logs(reduce=...)`) is held whole, as lines, from its first byte
# until its reduction: as many at once as fit in RAW_BYTES of log text (bot/k8s/budget.py), so memory
# holds a few big raw logs, not the namespace's, and small logs are still read with full concurrency.
RAW_BYTES = 16 << 20
CHUNK = 1 << 20  # bytes of a log body read, decoded and parsed at a time

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _check_server(host: str, config_file: str) -> None:
    """The cluster's `server` must be an http(s) URL with a host: anything else is a bad kubeconfig, not a
    cluster that does not answer."""
    try:
        parts = urllib.parse.urlsplit(host)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in host
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError("KUBECONFIG", f"{config_file}: the cluster's server {host!r} is not an http(s) URL")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


class KubernetesGateway:
    """Async, read-only access to the Kubernetes API, returning `bot.models` snapshots."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        timeout: float = 10.0,
        concurrency: int = 16,
        sidecars: Sequence[str] = DEFAULT_SIDECARS,
    ) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self.concurrency = concurrency
        self.sidecars = frozenset(sidecars)
        configuration = api_client.configuration
        if (configuration.connection_pool_maxsize or 0) < concurrency + 1:
            # the pool is built with the client: rebuild it so that `concurrency` calls can run at once
            configure_client(configuration, concurrency)
            api_client.rest_client.close()
            api_client.rest_client = RESTClientObject(configuration)
        self.url = str(configuration.host)
        self.core = self.apps = self.version = ReadOnlyApi(api_client)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="k8s")
        # the readiness probe's call: never queued behind a burst's log reads (a probe that times out
        # while the bot is merely busy takes the pod out of its Service, and Slack's requests with it)
        self._probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="k8s-probe")
        self._slots: asyncio.Semaphore | None = None
        self._raw: ByteBudget | None = None
        # the kubeconfig context's namespace (or the service account's in a cluster): kubectl's default
        self.namespace: str | None = None
        # the calls waiting for an answer: what each asks ("get deployments/x in namespace \"y\"") and since
        # when (time.monotonic()), for a live view of a cluster that is slow to answer
        self.in_flight: dict[object, tuple[str, float]] = {}

    @classmethod
    def from_settings(cls, settings: KubernetesSettings, *, context: str | None = None) -> KubernetesGateway:
        """From a kubeconfig (with the given context), else the in-cluster service account."""
        options: dict[str, Any] = {
            "timeout": settings.timeout,
            "concurrency": settings.concurrency,
            "sidecars": tuple(settings.sidecars),
        }
        configuration = kubernetes.client.Configuration()
        configure_client(configuration, settings.concurrency)
        config_file = settings.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        paths = [Path(p).expanduser() for p in config_file.split(os.pathsep) if p]
        chosen = context or settings.context
        setting = "--context" if context else "OPSBOT_CONTEXT"
        if not any(p.is_file() for p in paths):
            if settings.kubeconfig:
                raise ConfigError("KUBECONFIG", f"no kubeconfig file at {settings.kubeconfig}")
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
            except kubernetes.config.ConfigException as exc:
                raise ConfigError(
                    "KUBECONFIG", f"no kubeconfig at {config_file} and not running in a cluster ({exc})"
                ) from None
            if chosen:
                log.warning("ignoring context %s: running with the in-cluster service account", chosen)
            gateway = cls(kubernetes.client.ApiClient(configuration), **options)
            with contextlib.suppress(OSError):
                gateway.namespace = Path(SERVICE_ACCOUNT_NAMESPACE).read_text().strip() or None
            return gateway
        try:
            # the files are read and parsed once (YAML in pure Python: ~40 ms for a 90 KB kubeconfig of 20
            # clusters), then the client's own loader lists the contexts and configures the chosen one, as
            # list_kube_config_contexts and new_client_from_config would, each parsing them again
            merged = kube_config.KubeConfigMerger(config_file)
            if merged.config is None:
                raise kubernetes.config.ConfigException("Invalid kube-config file. No configuration found.")
            loader = kube_config.KubeConfigLoader(config_dict=merged.config, config_base_path=None)
            contexts, active = loader.list_contexts(), loader.current_context
            names = [c["name"] for c in contexts or []]
            if chosen and chosen not in names:
                listed = ", ".join(names) or "none"
                raise ConfigError(setting, f"context {chosen!r} is not in {config_file}; contexts: {listed}")
            if chosen:
                loader.set_active_context(chosen)
            loader.load_and_set(configuration)
            api_client = kubernetes.client.ApiClient(configuration)
            picked = next((c for c in contexts or [] if c["name"] == chosen), None) if chosen else active
            namespace = ((picked or {}).get("context") or {}).get("namespace")
        except kubernetes.config.ConfigException as exc:
            raise ConfigError("KUBECONFIG", f"{config_file}: {_first_line(exc)}") from None
        except (yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError, OSError) as exc:
            # a file that is not a kubeconfig at all: the client fails in its own ways, none of them a sentence
            raise ConfigError("KUBECONFIG", f"{config_file} is not a valid kubeconfig ({_first_line(exc)})") from None
        _check_server(str(api_client.configuration.host), config_file)
        gateway = cls(api_client, **options)
        gateway.namespace = str(namespace) if namespace else None
        return gateway

    @classmethod
    def for_url(cls, url: str, **kwargs: Any) -> KubernetesGateway:
        """Plain HTTP without credentials: for the sandbox and tests."""
        configuration = kubernetes.client.Configuration(host=url.rstrip("/"))
        configure_client(configuration, int(kwargs.get("concurrency", 16)))
        return cls(kubernetes.client.ApiClient(configuration), **kwargs)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._probe.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.api_client.close)

    # ------------------------------------------------------------------ plumbing

    async def _call(self, call: Call, method: Callable[..., Any], *, read: Callable[[Any], Any] | None = None,
                    probe: bool = False, **kwargs: Any) -> Any:
        """Run one client call in the pool, bounded and timed out; the raw body (or what `read` makes of
        the response, in the worker thread), or a translated error. `probe`: the readiness check's call,
        on a thread of its own, past the calls waiting for a slot."""
        if self._slots is None:  # created lazily: it binds to the running loop
            self._slots = asyncio.Semaphore(self.concurrency)
        request = functools.partial(self._fetch, method, kwargs, read or _body)
        key = object()
        try:
            async with contextlib.nullcontext() if probe else self._slots:
                loop = asyncio.get_running_loop()
                self.in_flight[key] = (f"{call.verb} {call.what()}", time.monotonic())
                # copy_context: log lines from the worker thread keep the request's correlation id
                work = loop.run_in_executor(self._probe if probe else self._pool, contextvars.copy_context().run,
                                            request)
                return await asyncio.wait_for(work, self.timeout)
        except Exception as exc:  # includes asyncio.TimeoutError from wait_for
            raise translate_error(exc, call, url=self.url, timeout=self.timeout) from exc
        finally:
            self.in_flight.pop(key, None)

    def _fetch(self, method: Callable[..., Any], kwargs: dict[str, Any], read: Callable[[Any], Any]) -> Any:
        response = method(**kwargs, _preload_content=False, _request_timeout=self.timeout)
        try:
            return read(response)
        finally:
            response.release_conn()

    async def _json(self, call: Call, method: Callable[..., Any], **kwargs: Any) -> Json:
        return self._parse(call, await self._call(call, method, **kwargs))

    def _parse(self, call: Call, body: bytes) -> Json:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise translate_error(exc, call, url=self.url, timeout=self.timeout) from exc
        if not isinstance(data, dict):
            raise UnavailableError(
                f"Kubernetes API at {self.url} answered {call.verb} {call.resource} with {data!r:.80}"
            )
        return data

    async def _items(self, call: Call, method: Callable[..., Any], **kwargs: Any) -> list[Json]:
        return list((await self._json(call, method, **kwargs)).get("items") or [])

    # ------------------------------------------------------------------ reads

    async def ping(self) -> None:
        """GET /version: the API answers (readiness)."""
        call = Call("get", "version", None)
        try:
            self._parse(call, await self._call(call, self.version.get_code, probe=True))
        except UpstreamTimeoutError as exc:
            raise UnavailableError(f"{exc}: the Kubernetes API is not answering") from exc

    async def get_deployment(self, namespace: str, name: str) -> DeploymentSnapshot:
        call = Call("get", "deployments", namespace, name)
        try:
            data = await self._json(call, self.apps.read_namespaced_deployment, name=name, namespace=namespace)
        except NotFoundError:
            raise NotFoundError(await self._explain_missing(namespace, name)) from None
        snapshot = deployment_snapshot(data)
        owned = await self._owned_replicasets(data, snapshot)
        # the revisions, newest first: when each rolled out says what changed before the errors began
        rollouts = sorted((rollout_snapshot(rs) for rs in owned), key=lambda r: r.revision or 0, reverse=True)
        if rollouts and snapshot.commit and (snapshot.revision or "") == str(rollouts[0].revision or ""):
            rollouts[0] = rollouts[0].model_copy(update={"commit": snapshot.commit})
        return snapshot.model_copy(update={"replicasets": [r["metadata"]["name"] for r in owned],
                                           "rollouts": rollouts})

    async def list_deployments(self, namespace: str) -> list[DeploymentSnapshot]:
        """Every Deployment of a namespace (ReplicaSets not resolved: a listing, not an investigation)."""
        items = await self._items(
            Call("list", "deployments", namespace), self.apps.list_namespaced_deployment, namespace=namespace
        )
        return sorted((deployment_snapshot(d) for d in items), key=lambda d: d.name)

    async def _owned_replicasets(self, data: Json, snapshot: DeploymentSnapshot) -> list[Json]:
        if not snapshot.selector_expr:
            return []
        uid = (data.get("metadata") or {}).get("uid")
        try:
            items = await self._items(
                Call("list", "replicasets", snapshot.namespace),
                self.apps.list_namespaced_replica_set,
                namespace=snapshot.namespace,
                label_selector=snapshot.selector_expr,
            )
        except ForbiddenError as exc:
            # without ReplicaSets, pods are still found by the selector; only overlap filtering is lost
            log.warning("cannot list replicasets: %s", exc)
            return []
        owned = []
        for rs in items:
            owner = owner_reference(rs.get("metadata") or {}, "Deployment")
            if owner and (owner.get("uid") == uid if uid and owner.get("uid") else owner.get("name") == snapshot.name):
                owned.append(rs)
        return owned

    async def _explain_missing(self, namespace: str, name: str) -> str:
        """One line: what exists instead of the deployment asked for."""
        message = f'deployment "{name}" not found in namespace "{namespace}"'
        namespaces: list[str] | None
        try:
            namespaces = sorted(
                ns["metadata"]["name"]
                for ns in await self._items(Call("list", "namespaces", None), self.core.list_namespace)
            )
        except ForbiddenError:
            namespaces = None
        try:
            deployments = await self._items(
                Call("list", "deployments", None), self.apps.list_deployment_for_all_namespaces
            )
            scope = "all namespaces"
        except ForbiddenError:
            try:
                deployments = await self._items(
                    Call("list", "deployments", namespace), self.apps.list_namespaced_deployment, namespace=namespace
                )
                scope = f'namespace "{namespace}"'
            except ForbiddenError:
                deployments, scope = [], ""
        if namespaces is not None and namespace not in namespaces:
            message += f' (namespace "{namespace}" does not exist)'
        found = {
            f"{d['metadata'].get('namespace', '')}/{d['metadata']['name']}": d["metadata"]["name"] for d in deployments
        }
        close = difflib.get_close_matches(name, sorted(set(found.values())), n=5, cutoff=0.6)
        similar = [key for key, value in sorted(found.items()) if value in close]
        if similar:
            message += "; similar deployments: " + ", ".join(similar)
        elif scope:
            message += f"; no similarly named deployment in {scope}"
        else:
            message += "; opsbot may not list deployments, so it cannot suggest similar names"
        if namespaces is None:
            message += "; opsbot may not list namespaces"
        else:
            message += "; namespaces: " + (", ".join(namespaces) or "none")
        return message

    async def list_pods(self, deployment: DeploymentSnapshot) -> list[PodSnapshot]:
        """The Deployment's pods, by its label selector (a name prefix also matches strangers)."""
        if not deployment.selector_expr:
            return []
        items = await self._items(
            Call("list", "pods", deployment.namespace),
            self.core.list_namespaced_pod,
            namespace=deployment.namespace,
            label_selector=deployment.selector_expr,
        )
        now = datetime.now(UTC)
        pods = [pod_snapshot(item, now=now, sidecars=self.sidecars) for item in items]
        if deployment.replicasets:  # selectors of two Deployments can overlap: keep our own pods
            owned = set(deployment.replicasets)
            pods = [p for p in pods if p.owner in owned]
        return sorted(pods, key=lambda p: p.name)

    async def read_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail: int,
        since_seconds: int | None = None,
        previous: bool = False,
        reduce: Callable[[LogSnapshot], LogSnapshot] | None = None,
    ) -> LogSnapshot:
        """One container's log. With `reduce`, the body is read and parsed a chunk at a time and the
        lines handed to `reduce` (in a worker thread) as soon as the log is whole: what is returned is
        what `reduce` kept."""
        if reduce is None:
            return await self._read_log(namespace, pod, container, tail=tail, since_seconds=since_seconds,
                                        previous=previous, read=None)
        if self._raw is None:
            self._raw = ByteBudget(RAW_BYTES)
        async with self._raw.admit(tail) as sizes:
            snap = await self._read_log(namespace, pod, container, tail=tail, since_seconds=since_seconds,
                                        previous=previous, read=functools.partial(_streamed_lines, sizes=sizes))
            return snap if snap.error is not None else await asyncio.to_thread(reduce, snap)

    async def _read_log(self, namespace: str, pod: str, container: str, *, tail: int, since_seconds: int | None,
                        previous: bool, read: Callable[[Any], list[LogLine]] | None) -> LogSnapshot:
        call = Call("get", "pods/log", namespace, pod)
        try:
            body = await self._call(
                call,
                self.core.read_namespaced_pod_log,
                name=pod,
                namespace=namespace,
                container=container,
                tail_lines=tail,
                since_seconds=since_seconds,
                previous=previous or None,
                timestamps=True,
                read=read,
            )
        except UsageError as exc:
            # 400: no previous container, or a container still being created; that is an answer, not a failure
            if exc.status != 400:
                raise
            return LogSnapshot(pod=pod, container=container, previous=previous, error=exc.details)
        # the lines are built and typed right here: validating thousands of them again would only
        # rebuild every LogLine; in a worker thread, as that is CPU work (~2 us a line) that would
        # otherwise hold up the event loop (a Slack ack, another command's answer) for a whole log
        lines = body if read is not None else await asyncio.to_thread(_parse_body, body)
        return LogSnapshot.model_construct(pod=pod, container=container, previous=previous, lines=lines)

    async def _pod_proxy(self, namespace: str, pod: str, port: int, path: str, who: str) -> bytes:
        """GET a path on a pod's port through the API server's pod proxy.

        403: the role lacks `get` on pods/proxy. A 502/503 from the proxy means nothing answered on
        that port (`who` did not); it is reported as such, not as the API server being down.
        """
        target = f"{pod}:{port}"
        try:
            return await self._call(Call("get", "pods/proxy", namespace, target),
                                    self.core.connect_get_namespaced_pod_proxy_with_path,
                                    name=target, namespace=namespace, path=path)
        except UnavailableError as exc:
            if exc.status in (502, 503):
                raise UnavailableError(
                    f"{who} did not answer on port {port} through the API server proxy ({exc.details})",
                    status=exc.status, details=exc.details,
                ) from exc
            raise

    async def dapr_metadata(self, namespace: str, pod: str, port: int = DAPR_DEFAULT_PORT) -> DaprSidecar:
        """The pod's Dapr sidecar metadata (`GET /v1.0/metadata`), through the API server's pod proxy."""
        body = await self._pod_proxy(namespace, pod, port, "v1.0/metadata", f"the Dapr sidecar of {pod}")
        return dapr_sidecar(self._parse(Call("get", "pods/proxy", namespace, f"{pod}:{port}"), body), pod=pod)

    async def dapr_app_subscriptions(self, namespace: str, pod: str, app_port: int) -> DaprSidecar:
        """The subscriptions the app offers its sidecar (`GET /dapr/subscribe` on the app's port, the
        seed's check), through the API server's pod proxy; what is left when the sidecar's own API is
        pod-local."""
        try:
            body = await self._pod_proxy(namespace, pod, app_port, "dapr/subscribe",
                                         f"the app of {pod} (/dapr/subscribe)")
        except NotFoundError:  # an app with no programmatic subscriptions may not serve the path at all
            return DaprSidecar(pod=pod, source="app", subscriptions=[])
        try:
            data = json.loads(body) if body.strip() else []
        except ValueError:
            data = []
        return DaprSidecar(pod=pod, source="app", subscriptions=app_subscriptions(data))

    async def read_logs(
        self, pods: list[PodSnapshot], *, tail: int, since_seconds: int | None = None,
        reduce: Callable[[LogSnapshot], LogSnapshot] | None = None,
    ) -> list[LogSnapshot]:
        """Every container of every pod (app, sidecars, init) and the previous log of restarted ones;
        each one passed through `reduce` as it arrives, when given (see `read_log`).

        A refusal (RBAC) raises, as every other log would be refused too; a log that times out or
        fails otherwise is returned with its error so that one slow container hides nothing else.
        """
        jobs: list[tuple[str, str, str, bool]] = []
        for pod in pods:
            for container in pod.containers:
                jobs.append((pod.namespace, pod.name, container.name, False))
                if container.restarts > 0:
                    jobs.append((pod.namespace, pod.name, container.name, True))

        async def one(namespace: str, pod: str, container: str, previous: bool) -> LogSnapshot:
            try:
                return await self.read_log(
                    namespace, pod, container, tail=tail, since_seconds=since_seconds, previous=previous,
                    reduce=reduce,
                )
            except (UpstreamTimeoutError, UnavailableError, NotFoundError) as exc:
                return LogSnapshot(pod=pod, container=container, previous=previous, error=str(exc))

        return list(await asyncio.gather(*(one(*job) for job in jobs)))

    async def warning_events(self, namespace: str, names: Iterable[str]) -> list[EventSnapshot]:
        """Warning events about the given objects (Deployment, ReplicaSets, pods), newest first."""
        wanted = set(names)
        items = await self._items(
            Call("list", "events", namespace),
            self.core.list_namespaced_event,
            namespace=namespace,
            field_selector="type=Warning",
        )
        events = [event_snapshot(item) for item in items]
        return by_last_seen([e for e in events if e.object_name in wanted and e.type == "Warning"])

    async def pod_events(self, namespace: str, pod: str) -> list[EventSnapshot]:
        """All events about one pod, newest first."""
        items = await self._items(
            Call("list", "events", namespace),
            self.core.list_namespaced_event,
            namespace=namespace,
            field_selector=f"involvedObject.name={pod}",
        )
        events = [event_snapshot(item) for item in items]
        return by_last_seen([e for e in events if e.object_name == pod])


def _body(response: Any) -> bytes:
    return bytes(response.data)


def _parse_body(body: bytes) -> list[LogLine]:
    return parse_log(body.decode("utf-8", "replace"))


def _streamed_lines(response: Any, sizes: list[int] | None = None) -> list[LogLine]:
    """A log body read CHUNK bytes at a time, each run of whole lines parsed as it comes (a line break
    is never inside a UTF-8 sequence, so a chunk cut after one decodes as the whole would): the body
    is never held whole, as bytes or as text, next to its lines. The size of each chunk is appended to
    `sizes`."""
    lines: list[LogLine] = []
    rest = b""
    for chunk in response.stream(CHUNK):
        if sizes is not None:
            sizes.append(len(chunk))
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            lines += _parse_body(data[:cut])
        rest = data[cut:]
    if rest:
        lines += _parse_body(rest)
    return lines

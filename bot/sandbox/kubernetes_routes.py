"""The Kubernetes REST API routes: discovery, lists and gets (JSON or Table), watches, pod logs, the pod proxy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.sandbox.discovery import KINDS, KUBERNETES_VERSION, resource_list
from bot.sandbox.responses import bad_request, int_param, not_found, status_response, strip_type_meta, wants_table
from bot.sandbox.selectors import field_lookup, parse_selector
from bot.sandbox.tables import as_table
from bot.sandbox.world import World

_NEVER_STARTED = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName")


class KubernetesRoutes:
    """aiohttp handlers of the Kubernetes REST API over a World."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.closing = asyncio.Event()  # set on stop, so open watches end at once

    # -- discovery ---------------------------------------------------------------------------
    async def version(self, request: web.Request) -> web.Response:
        return web.json_response(KUBERNETES_VERSION)

    async def api(self, request: web.Request) -> web.Response:
        host = request.host
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        )

    async def api_v1(self, request: web.Request) -> web.Response:
        return web.json_response(resource_list("v1"))

    async def apis(self, request: web.Request) -> web.Response:
        version = {"groupVersion": "apps/v1", "version": "v1"}
        return web.json_response(
            {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [{"name": "apps", "versions": [version], "preferredVersion": version}],
            }
        )

    async def apis_apps(self, request: web.Request) -> web.Response:
        version = {"groupVersion": "apps/v1", "version": "v1"}
        return web.json_response(
            {"kind": "APIGroup", "apiVersion": "v1", "name": "apps", "versions": [version], "preferredVersion": version}
        )

    async def apis_apps_v1(self, request: web.Request) -> web.Response:
        return web.json_response(resource_list("apps/v1"))

    # -- objects -----------------------------------------------------------------------------
    def _select(self, request: web.Request, objects: list[dict[str, Any]]) -> list[dict[str, Any]] | web.Response:
        label_text, field_text = request.query.get("labelSelector", ""), request.query.get("fieldSelector", "")
        try:
            labels = parse_selector(label_text)
            fields = parse_selector(field_text, field=True)
        except ValueError as exc:
            return bad_request(f"unable to parse requirement: {exc}")
        chosen = []
        for obj in objects:
            obj_labels = obj["metadata"].get("labels", {})
            if not all(m(obj_labels.get) for m in labels):
                continue
            if fields and not all(m(field_lookup(obj)) for m in fields):
                continue
            chosen.append(obj)
        return chosen

    def _respond(
        self, request: web.Request, resource: str, group: str, objects: list[dict[str, Any]], *, single: bool
    ) -> web.Response:
        now = datetime.now(UTC)
        if wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            return web.json_response(as_table(resource, objects, now, include, self.world.resource_version))
        if single:
            return web.json_response(objects[0])
        return web.json_response(
            {
                "kind": f"{KINDS[resource]}List",
                "apiVersion": f"{group}/v1" if group else "v1",
                "metadata": {"resourceVersion": self.world.resource_version},
                "items": [strip_type_meta(o) for o in objects],
            }
        )

    async def collection(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch", "").lower() in ("1", "true"):
            return await self.watch(request)
        group = request.match_info.get("group", "")
        resource = request.match_info["resource"]
        ns = request.match_info.get("namespace")
        objects = self.world.resources(group, resource)
        if objects is None or (ns is not None and resource == "namespaces"):
            return await self.unknown(request)
        if ns is not None:
            objects = [o for o in objects if o["metadata"].get("namespace") == ns]
        selected = self._select(request, objects)
        if isinstance(selected, web.Response):
            return selected
        return self._respond(request, resource, group, selected, single=False)

    async def watch(self, request: web.Request) -> web.StreamResponse:
        """The world never changes, so a watch is an open stream without events until it times out."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        timeout = int_param(request, "timeoutSeconds") or 1800
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=min(timeout, 1800))
        return response

    async def item(self, request: web.Request) -> web.Response:
        group = request.match_info.get("group", "")
        resource = request.match_info["resource"]
        ns = request.match_info.get("namespace")
        name = request.match_info["name"]
        objects = self.world.resources(group, resource)
        if objects is None or (ns is not None and resource == "namespaces"):
            return await self.unknown(request)
        found = [o for o in objects if o["metadata"]["name"] == name and o["metadata"].get("namespace") == ns]
        if not found:
            return not_found(resource, name, group)
        return self._respond(request, resource, group, found, single=True)

    async def namespace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        found = self.world.namespaces.get(name)
        if found is None:
            return not_found("namespaces", name)
        return self._respond(request, "namespaces", "", [found], single=True)

    async def pod_log(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        containers = self.world.containers.get((ns, name))
        if containers is None:
            return not_found("pods", name)
        container = request.query.get("container")
        app = [n for n, c in containers.items() if not c.init]
        init = [n for n, c in containers.items() if c.init]
        if not container:
            if len(app) == 1 and not init:
                container = app[0]
            else:
                message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(app)}]"
                if init:
                    message += f" or one of the init containers: [{' '.join(init)}]"
                return bad_request(message)
        chosen = containers.get(container)
        if chosen is None:
            return bad_request(f"container {container} is not valid for pod {name}")
        previous = request.query.get("previous", "false").lower() in ("true", "1")
        log = chosen.log
        refused = chosen.state.previous_log_error if previous else chosen.state.log_error
        if refused:  # a snapshot of a log the API refused: refused again, with its words
            return bad_request(refused)
        if previous:
            if chosen.previous is None:
                return bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            log = chosen.previous
        elif chosen.state.state == "waiting" and chosen.state.reason in ("ContainerCreating", "PodInitializing"):
            return bad_request(f'container "{container}" in pod "{name}" is waiting to start: {chosen.state.reason}')
        elif chosen.state.state == "waiting" and chosen.state.reason in _NEVER_STARTED:
            # the kubelet's words for a container whose image never ran
            return bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                               "trying and failing to pull image")
        tail = int_param(request, "tailLines")
        since_seconds = int_param(request, "sinceSeconds")
        since: float | None = None
        if since_seconds is not None:
            since = datetime.now(UTC).timestamp() - since_seconds
        elif request.query.get("sinceTime"):
            try:
                since = datetime.fromisoformat(request.query["sinceTime"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                return bad_request(f"invalid sinceTime: {request.query['sinceTime']!r}")
        timestamps = request.query.get("timestamps", "false").lower() in ("true", "1")
        body = log.text(tail=tail, since=since, timestamps=timestamps, limit_bytes=int_param(request, "limitBytes"))
        return web.Response(text=body, content_type="text/plain")

    async def pod_proxy(self, request: web.Request) -> web.Response:
        """GET pods/NAME[:PORT]/proxy/PATH: what answers is a Dapr pod's sidecar (its metadata and
        health, when its API listens beyond localhost) and its app's /dapr/subscribe."""
        ns, target, path = request.match_info["namespace"], request.match_info["name"], request.match_info["path"]
        name, _, port_text = target.partition(":")
        containers = self.world.containers.get((ns, name))
        if containers is None:
            return not_found("pods", name)
        dapr = self.world.dapr.get((ns, name))
        port = int(port_text) if port_text.isdigit() else None

        def running(names: Iterable[str]) -> bool:
            return any(c.state.state == "running" for n, c in containers.items() if n in names and not c.init)

        if dapr is not None and port == dapr.port and dapr.reachable and running(["daprd"]):
            if path == "v1.0/metadata":
                return web.json_response(dapr.metadata)
            if path == "v1.0/healthz":
                return web.Response(status=204)
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        if dapr is not None and port == dapr.app_port and running(n for n in containers if n != "daprd"):
            if path == "dapr/subscribe":
                return web.json_response(dapr.subscribe)
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        where = f"{name}:{port_text}" if port_text else name
        return status_response(503, "ServiceUnavailable",
                       f"error trying to reach service: dial tcp {where}: connect: connection refused", {})

    async def unknown(self, request: web.Request) -> web.Response:
        return status_response(404, "NotFound", "the server could not find the requested resource", {})

"""Request plumbing: the client configuration, and `ReadOnlyApi`, the few read-only endpoints opsbot calls
through the official `ApiClient`."""

from __future__ import annotations

import re
from typing import Any

import kubernetes.client
import kubernetes.config
import urllib3
from kubernetes.client.exceptions import ApiException

_PROXY_PATH = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")


def configure_client(configuration: kubernetes.client.Configuration, concurrency: int) -> None:
    # urllib3 keeps at most maxsize connections a host; fewer than the calls in flight serialises them
    # (one more: the readiness probe's, which never waits for a slot)
    configuration.connection_pool_maxsize = max(concurrency + 1, configuration.connection_pool_maxsize or 0)
    # the per-call timeout bounds the whole call; urllib3's default of 3 read retries would multiply it
    configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=2)


class ReadOnlyApi:
    """The few read-only endpoints opsbot calls, through the official `ApiClient` (kubeconfig, auth,
    TLS, request building and `ApiException`s all stay the client's own).

    Why not `CoreV1Api`/`AppsV1Api`: since kubernetes 35 the generated classes wrap ~1,000 methods in
    pydantic `validate_call`, which costs about 0.9 s at every process start (most of an `opsbot debug`
    run) and validation on every call, only for us to read the raw JSON anyway (`_preload_content=False`).
    Method names and keyword arguments are those of the generated API, so either can be passed in.
    """

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client

    def _get(self, path: str, path_params: dict[str, str], _request_timeout: float | None = None,
             _preload_content: bool = False, **query: Any) -> Any:
        names = {"label_selector": "labelSelector", "field_selector": "fieldSelector", "tail_lines": "tailLines",
                 "since_seconds": "sinceSeconds"}
        params = [(names.get(k, k), v) for k, v in query.items() if v is not None]
        method, url, headers, body, post = self.api_client.param_serialize(
            method="GET", resource_path=path, path_params=path_params, query_params=params,
            header_params={"Accept": "application/json, */*"}, auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method, url, header_params=headers, body=body, post_params=post,
                                            _request_timeout=_request_timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def get_code(self, **kw: Any) -> Any:
        return self._get("/version", {}, **kw)

    def connect_get_namespaced_pod_proxy_with_path(self, name: str, namespace: str, path: str, **kw: Any) -> Any:
        # the path goes into the URL as is (the generated client would escape its slashes); only
        # fixed, known paths are ever passed
        if not _PROXY_PATH.fullmatch(path):
            raise ValueError(f"not a proxy path opsbot reads: {path!r}")
        return self._get(f"/api/v1/namespaces/{{namespace}}/pods/{{name}}/proxy/{path}",
                         {"namespace": namespace, "name": name}, **kw)

    def list_namespace(self, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces", {}, **kw)

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                         {"namespace": namespace, "name": name}, **kw)

    def list_namespaced_deployment(self, namespace: str, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/namespaces/{namespace}/deployments", {"namespace": namespace}, **kw)

    def list_deployment_for_all_namespaces(self, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/deployments", {}, **kw)

    def list_namespaced_replica_set(self, namespace: str, **kw: Any) -> Any:
        return self._get("/apis/apps/v1/namespaces/{namespace}/replicasets", {"namespace": namespace}, **kw)

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces/{namespace}/pods", {"namespace": namespace}, **kw)

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces/{namespace}/pods/{name}/log", {"namespace": namespace, "name": name},
                         **kw)

    def list_namespaced_event(self, namespace: str, **kw: Any) -> Any:
        return self._get("/api/v1/namespaces/{namespace}/events", {"namespace": namespace}, **kw)

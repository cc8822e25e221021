"""Error translation: the one place where client, urllib3 and network errors become opsbot errors a
person can act on, keeping the HTTP status and the Status message (`OpsbotError.status` / `.details`)."""

from __future__ import annotations

import json
from typing import NamedTuple

import urllib3
from kubernetes.client.exceptions import ApiException

from bot.errors import (
    ConfigError,
    ForbiddenError,
    NotFoundError,
    OpsbotError,
    UnavailableError,
    UpstreamTimeoutError,
    UsageError,
)

RBAC_HINT = "see helm/opsbot RBAC"
CLUSTER_SCOPED = frozenset({"namespaces", "nodes", "version"})

class Call(NamedTuple):
    """What a call tried to do, in RBAC terms, so that a refusal can say what to grant."""

    verb: str  # get, list
    resource: str  # pods, pods/log, deployments...
    namespace: str | None  # None: cluster-wide / all namespaces
    name: str | None = None

    def where(self) -> str:
        if self.namespace:
            return f'in namespace "{self.namespace}"'
        return "(cluster-scoped)" if self.resource in CLUSTER_SCOPED else "across all namespaces"

    def what(self) -> str:
        """`pods/web-1/log in namespace "shop"`: the object, with the subresource after its name."""
        base, _, sub = self.resource.partition("/")
        target = "/".join(part for part in (base, self.name, sub) if part)
        return f"{target} {self.where()}"


def status_message(exc: ApiException) -> str:
    """The `message` of the Kubernetes Status body, else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message).splitlines()[0][:300]
    return str(exc.reason or f"HTTP {exc.status}")


def _is_status(exc: ApiException) -> bool:
    """The body is a Kubernetes Status object (what the API server answers every error with)."""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    try:
        data = json.loads(body or "")
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("kind") == "Status"


def _is_timeout(exc: BaseException | None) -> bool:
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return _is_timeout(exc.reason)
    # urllib3 derives NewConnectionError (refused, unreachable) from ConnectTimeoutError
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError)


def translate_error(exc: BaseException, call: Call, *, url: str, timeout: float) -> OpsbotError:
    """The one place where client, urllib3 and network errors become errors a person can act on."""
    if isinstance(exc, OpsbotError):
        return exc
    if isinstance(exc, ApiException) and exc.status:
        status = int(exc.status)
        detail = status_message(exc)
        if status == 401:
            return ForbiddenError(
                f"credentials rejected by the Kubernetes API at {url}: refresh the kubeconfig credentials "
                "(log in again) or check the service account token", status=status, details=detail,
            )
        if status == 403:
            return ForbiddenError(
                f"forbidden: opsbot may not {call.verb} {call.resource} {call.where()}; grant the verb "
                f'"{call.verb}" on "{call.resource}" ({RBAC_HINT})', status=status, details=detail,
            )
        if status == 404 and not _is_status(exc):
            # every 404 of a Kubernetes API server carries a Status object: this server is something else
            return ConfigError("KUBECONFIG", f"the server at {url} is not a Kubernetes API (it answered {call.verb} "
                               f"{call.resource} with HTTP 404 and no Kubernetes Status): check the cluster address "
                               "and the kubeconfig context")
        if status == 404:
            return NotFoundError(f"not found: {call.what()} ({detail})", status=status, details=detail)
        if status == 429:
            return UnavailableError(
                f"the Kubernetes API at {url} is throttling requests (429); try again shortly",
                status=status, details=detail,
            )
        if status >= 500:
            return UnavailableError(
                f"Kubernetes API at {url} is not answering properly: HTTP {status} to {call.verb} {call.what()} "
                f"({detail})", status=status, details=detail,
            )
        return UsageError(
            f"the Kubernetes API refused to {call.verb} {call.what()}: HTTP {status} ({detail})",
            status=status, details=detail,
        )
    if _is_timeout(exc):
        return UpstreamTimeoutError(f"Kubernetes API at {url}: {call.verb} {call.what()} took longer than {timeout:g}s")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ConfigError("KUBECONFIG", f"the server at {url} is not a Kubernetes API (it answered {call.verb} "
                           f"{call.resource} with something not JSON): check the cluster address and the kubeconfig "
                           "context")
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(exc, ApiException):  # status 0: the client wraps TLS errors this way
        reason = exc.reason
    return UnavailableError(
        f"Kubernetes API at {url} is not answering ({_short(reason)}); check the cluster address, "
        "the network and the kubeconfig context"
    )


def _short(reason: object) -> str:
    text = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    # urllib3 messages carry the connection object repr; the part after the last colon is the cause
    if "Failed to establish a new connection" in text:
        return "connection refused" if "refused" in text.lower() else "cannot connect"
    return text[:200]

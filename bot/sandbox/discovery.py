"""API discovery: /version, /api, /apis and the resource lists kubectl asks for first."""

from __future__ import annotations

from typing import Any

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


_RESOURCES: dict[str, list[dict[str, Any]]] = {
    "v1": [
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "shortNames": ["ns"],
        },
        {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "shortNames": ["po"],
            "categories": ["all"],
        },
        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "shortNames": ["ev"]},
    ],
    "apps/v1": [
        {
            "name": "deployments",
            "singularName": "deployment",
            "namespaced": True,
            "kind": "Deployment",
            "shortNames": ["deploy"],
            "categories": ["all"],
        },
        {
            "name": "replicasets",
            "singularName": "replicaset",
            "namespaced": True,
            "kind": "ReplicaSet",
            "shortNames": ["rs"],
            "categories": ["all"],
        },
    ],
}
KINDS = {
    "pods": "Pod",
    "events": "Event",
    "namespaces": "Namespace",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
}


def resource_list(group_version: str) -> dict[str, Any]:
    resources_ = [{"verbs": ["get", "list"], **r} for r in _RESOURCES[group_version]]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources_}


def served_names() -> frozenset[str]:
    """Every name kubectl may use for a resource the sandbox serves: plural, singular, short, kind."""
    names: set[str] = set()
    for resources in _RESOURCES.values():
        for r in resources:
            if "/" in r["name"]:
                continue
            names.update([r["name"], r.get("singularName") or "", r["kind"].lower(), *r.get("shortNames", [])])
    names.discard("")
    return frozenset(names)

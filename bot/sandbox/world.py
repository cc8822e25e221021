"""The Kubernetes world: namespaces, Deployments, ReplicaSets, pods, events and container states, built once
from a scenario."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from bot.errors import ConfigError
from bot.sandbox.clock import rfc3339
from bot.sandbox.github_world import GitHubWorld
from bot.sandbox.logs import RenderedLog, render_log
from bot.sandbox.scaled import random_suffix
from bot.sandbox.scenario import (
    ContainerSpec,
    ContainerState,
    DeploymentSpec,
    EventSpec,
    PodSpec,
    ReplicaSetSpec,
    Scenario,
)


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _pod_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.244.{digest[0] % 4}.{2 + digest[1] % 250}"


class _Container:
    """A container of one pod: its status JSON inputs and its rendered logs."""

    def __init__(
        self,
        spec: ContainerSpec,
        state: ContainerState,
        *,
        init: bool,
        pod: str,
        app: str,
        created: datetime,
        now: datetime,
    ) -> None:
        self.spec, self.state, self.init = spec, state, init
        self.started = state.started or (created + timedelta(seconds=4 if init else 9))
        log_spec = state.log or spec.log
        end = self.started + timedelta(seconds=3) if init and state.state == "terminated" else now
        self.log = render_log(
            log_spec,
            seed=f"{pod}/{spec.name}",
            start=self.started,
            end=end - timedelta(seconds=2),
            pod=pod,
            app=app,
            extra=state.extra,
        )
        self.previous: RenderedLog | None = None
        if state.restarts > 0:
            prev_start = state.last_started or (self.started - timedelta(minutes=10))
            prev_end = state.last_finished or (self.started - timedelta(seconds=1))
            self.previous = render_log(
                state.previous_log or spec.log,
                seed=f"{pod}/{spec.name}/previous",
                start=prev_start,
                end=prev_end,
                pod=pod,
                app=app,
            )


def _state_of(spec: ContainerSpec, state: ContainerState | None, *, init: bool) -> ContainerState:
    """A container's state as the scenario gives it; an init container whose state is not spelled out
    has completed, a native sidecar's runs."""
    if not init or spec.restart_policy:
        return state or ContainerState()
    if state is None:
        return ContainerState(state="terminated")
    return state if "state" in state.model_fields_set else state.model_copy(update={"state": "terminated"})


class _DaprPod(NamedTuple):
    """What a pod's Dapr sidecar and app answer through the pod proxy."""

    port: int  # the sidecar's HTTP API
    reachable: bool  # listening beyond localhost (dapr.io/sidecar-listen-addresses)
    app_port: int | None
    metadata: dict[str, Any]  # GET /v1.0/metadata
    subscribe: list[dict[str, Any]]  # the app's GET /dapr/subscribe


def _dapr_pod(scenario: Scenario, dep: DeploymentSpec, containers: dict[str, _Container]) -> _DaprPod:
    """A pod's Dapr sidecar as Dapr 1.14 runs it: its API on localhost only unless the annotation opens
    it, `/v1.0/metadata` in Dapr's shape, and the app's programmatic subscriptions at /dapr/subscribe."""
    notes = dep.pod_annotations
    app_id = notes.get("dapr.io/app-id", dep.name)
    daprd = containers.get("daprd")
    version = (daprd.spec.image.rsplit(":", 1)[-1] if daprd and ":" in daprd.spec.image else "1.14.4")
    metadata = {
        "id": app_id,
        "runtimeVersion": version,
        "enabledFeatures": [],
        "actors": [],
        "components": [
            {"name": c.name, "type": c.type, "version": c.version, "capabilities": []}
            for c in scenario.dapr_components if not c.scopes or app_id in c.scopes
        ],
        "httpEndpoints": [],
        "subscriptions": [
            {"pubsubname": s.pubsub, "topic": s.topic, "deadLetterTopic": s.dead_letter_topic or "", "metadata": {},
             "rules": [{"match": "", "path": s.route}], "type": s.kind}
            for s in dep.dapr_subscriptions
        ],
        "appConnectionProperties": {"port": int(notes.get("dapr.io/app-port", "0") or 0), "protocol": "http",
                                    "channelAddress": "127.0.0.1"},
    }
    subscribe = [
        {"pubsubname": s.pubsub, "topic": s.topic, "route": s.route,
         **({"deadLetterTopic": s.dead_letter_topic} if s.dead_letter_topic else {})}
        for s in dep.dapr_subscriptions if s.kind == "PROGRAMMATIC"
    ]
    listen = [a.strip() for a in notes.get("dapr.io/sidecar-listen-addresses", "").split(",") if a.strip()]
    reachable = any(a not in ("127.0.0.1", "[::1]", "localhost") for a in listen)
    app_port = notes.get("dapr.io/app-port")
    return _DaprPod(int(notes.get("dapr.io/http-port", "3500")), reachable,
                    int(app_port) if app_port and app_port.isdigit() else None, metadata, subscribe)


def _container_json(c: ContainerSpec, image: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": c.name,
        "image": image or c.image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m"}},
    }
    if c.ports:
        body["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in c.ports]
    if c.restart_policy:
        body["restartPolicy"] = c.restart_policy
    body["terminationMessagePath"] = "/dev/termination-log"
    return body


def _template(dep: DeploymentSpec, rs: ReplicaSetSpec, labels: dict[str, str]) -> dict[str, Any]:
    """The pod template of one ReplicaSet of the Deployment (its images, its pod-template-hash)."""
    spec: dict[str, Any] = {
        "containers": [_container_json(c, rs.images.get(c.name)) for c in dep.containers],
        "restartPolicy": "Always",
        "serviceAccountName": dep.name,
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
    }
    if dep.init_containers:
        spec["initContainers"] = [_container_json(c, rs.images.get(c.name)) for c in dep.init_containers]
    meta: dict[str, Any] = {"labels": {**labels, "pod-template-hash": rs.template_hash}}
    if dep.pod_annotations:
        meta["annotations"] = dep.pod_annotations
    return {"metadata": meta, "spec": spec}


class World:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        now = scenario.loaded_at
        self._rv = 1000
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.deployments: list[dict[str, Any]] = []
        self.replicasets: list[dict[str, Any]] = []
        self.pods: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.containers: dict[tuple[str, str], dict[str, _Container]] = {}  # (ns, pod) -> name -> container
        self.dapr: dict[tuple[str, str], _DaprPod] = {}  # (ns, pod) -> its sidecar
        cluster_created = now - timedelta(days=120)
        for ns in dict.fromkeys([*scenario.namespaces, *(d.namespace for d in scenario.deployments)]):
            self.namespaces[ns] = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": self._meta(ns, None, cluster_created, labels={"kubernetes.io/metadata.name": ns}),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        for dep in scenario.deployments:
            self._add_deployment(dep, now)
        for event in scenario.events:
            self._add_event(event)
        self.github = GitHubWorld(scenario)

    def _meta(self, name: str, namespace: str | None, created: datetime, **extra: Any) -> dict[str, Any]:
        self._rv += 1
        meta: dict[str, Any] = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta["uid"] = _uid(namespace or "", name)
        meta["resourceVersion"] = str(self._rv)
        meta["creationTimestamp"] = rfc3339(created)
        meta.update({k: v for k, v in extra.items() if v})
        return meta

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def _add_deployment(self, dep: DeploymentSpec, now: datetime) -> None:
        ns = dep.namespace
        rs_name = f"{dep.name}-{dep.template_hash}"
        template_labels = {**dep.selector, **dep.labels}
        rng = random.Random(rs_name)
        pod_specs = list(dep.pods)
        while dep.fill_replicas and len(pod_specs) < dep.replicas:
            pod_specs.append(
                PodSpec(
                    name=f"{rs_name}-{random_suffix(rng)}",
                    created=dep.replicaset_created or dep.created,
                    node=dep.nodes[len(pod_specs) % len(dep.nodes)],
                )
            )
        # the current ReplicaSet first, then the older ones (mid-rollout, or kept as history)
        current = ReplicaSetSpec(template_hash=dep.template_hash, revision=dep.revision,
                                 created=dep.replicaset_created or dep.created, replicas=dep.replicas)
        sets = [current, *dep.replicasets]
        owned: dict[str, list[PodSpec]] = {rs.template_hash: [] for rs in sets}
        for p in pod_specs:
            key = p.replicaset or dep.template_hash
            if key not in owned:
                raise ConfigError(f"deployments.{dep.name}.pods.{p.name}.replicaset",
                                  f"no ReplicaSet with template_hash {key}; known: {sorted(owned)}")
            owned[key].append(p)
        dep_uid = _uid(ns, "deployment", dep.name)
        templates: dict[str, dict[str, Any]] = {}
        ready_by_set: dict[str, int] = {}
        for rs in sets:
            templates[rs.template_hash] = template = _template(dep, rs, template_labels)
            pods = [self._pod(dep, p, f"{dep.name}-{rs.template_hash}", _uid(ns, "replicaset", f"{dep.name}-"
                              f"{rs.template_hash}"), template["metadata"]["labels"], template["spec"], now)
                    for p in owned[rs.template_hash]]
            ready_by_set[rs.template_hash] = sum(1 for p in pods if pod_condition(p, "Ready"))
            desired = len(pods) if rs.replicas is None else rs.replicas
            self.replicasets.append(self._replicaset(dep, rs, template, pods, desired, dep_uid))
            self.pods.extend(pods)
        total = sum(len(owned_pods) for owned_pods in owned.values())
        told = dep.status
        ready = told.ready_replicas if told and told.ready_replicas is not None else sum(ready_by_set.values())
        updated = told.updated_replicas if told and told.updated_replicas is not None else len(owned[dep.template_hash])
        available_count = told.available_replicas if told and told.available_replicas is not None else ready
        rs_created = current.created
        revision = {"deployment.kubernetes.io/revision": str(dep.revision)}
        dep_meta = self._meta(dep.name, ns, dep.created, labels=dep.labels, annotations={**revision, **dep.annotations})
        dep_meta["uid"] = dep_uid
        dep_meta["generation"] = dep.revision
        # the Deployment controller's rule with the default maxUnavailable of 25%, rounded down
        available = available_count >= dep.replicas - dep.replicas // 4
        template = templates[dep.template_hash]
        self.deployments.append(
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": dep_meta,
                "spec": {
                    "replicas": dep.replicas,
                    "selector": {"matchLabels": dep.selector},
                    "template": {**template, "metadata": {**template["metadata"], "labels": template_labels}},
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                    },
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
                "status": {
                    "observedGeneration": dep.revision,
                    "replicas": total,
                    "updatedReplicas": updated,
                    "readyReplicas": ready,
                    "availableReplicas": available_count,
                    "unavailableReplicas": max(0, total - available_count),
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True" if available else "False",
                            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                            "message": "Deployment has minimum availability."
                            if available
                            else "Deployment does not have minimum availability.",
                            "lastUpdateTime": rfc3339(rs_created),
                            "lastTransitionTime": rfc3339(rs_created),
                        },
                        {
                            "type": "Progressing",
                            "status": "True",
                            "reason": "NewReplicaSetAvailable" if updated >= dep.replicas else "ReplicaSetUpdated",
                            "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
                            if updated >= dep.replicas else f'ReplicaSet "{rs_name}" is progressing.',
                            "lastUpdateTime": rfc3339(rs_created),
                            "lastTransitionTime": rfc3339(dep.created),
                        },
                    ],
                },
            }
        )

    def _replicaset(self, dep: DeploymentSpec, rs: ReplicaSetSpec, template: dict[str, Any],
                    pods: list[dict[str, Any]], desired: int, dep_uid: str) -> dict[str, Any]:
        name = f"{dep.name}-{rs.template_hash}"
        labels = template["metadata"]["labels"]
        ready = sum(1 for p in pods if pod_condition(p, "Ready"))
        meta = self._meta(name, dep.namespace, rs.created, labels=labels, annotations={
            "deployment.kubernetes.io/revision": str(rs.revision),
            "deployment.kubernetes.io/desired-replicas": str(dep.replicas),
            "deployment.kubernetes.io/max-replicas": str(dep.replicas + 1),
        })
        meta["uid"] = _uid(dep.namespace, "replicaset", name)
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": dep.name, "uid": dep_uid,
                                    "controller": True, "blockOwnerDeletion": True}]
        return {
            "kind": "ReplicaSet",
            "apiVersion": "apps/v1",
            "metadata": meta,
            "spec": {
                "replicas": desired,
                "selector": {"matchLabels": {**dep.selector, "pod-template-hash": rs.template_hash}},
                "template": template,
            },
            "status": {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                       "availableReplicas": ready, "observedGeneration": 1},
        }

    def _pod(
        self,
        dep: DeploymentSpec,
        spec: PodSpec,
        rs_name: str,
        rs_uid: str,
        labels: dict[str, str],
        pod_spec: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        ns = dep.namespace
        known = {c.name for c in [*dep.containers, *dep.init_containers]}
        unknown = set(spec.containers) - known
        if unknown:
            raise ConfigError(
                f"deployments.{dep.name}.pods.{spec.name}",
                f"unknown container(s) {sorted(unknown)}; the deployment has {sorted(known)}",
            )
        built: dict[str, _Container] = {}
        for c in [*dep.init_containers, *dep.containers]:
            init = c in dep.init_containers
            built[c.name] = _Container(c, _state_of(c, spec.containers.get(c.name), init=init), init=init,
                                       pod=spec.name, app=dep.name, created=spec.created, now=now)
        self.containers[(ns, spec.name)] = built
        if str(dep.pod_annotations.get("dapr.io/enabled", "")).lower() == "true":
            self.dapr[(ns, spec.name)] = _dapr_pod(self.scenario, dep, built)
        statuses = [_container_status(c, spec.name) for c in built.values() if not c.init]
        init_statuses = [_container_status(c, spec.name) for c in built.values() if c.init]
        # A plain init container must have completed, a native sidecar (restartPolicy Always) must have
        # started: one crash-looping before the app containers ever ran keeps the pod Pending
        # (kubectl: Init:CrashLoopBackOff). Once the app containers ran, the pod had initialized, and a
        # sidecar crashing later leaves it Running, as the kubelet does.
        app_ran = any(s["state"].get("running") is not None or s["state"].get("terminated") is not None
                      or s["lastState"] for s in statuses)
        initialized = all(
            s["state"].get("terminated", {}).get("exitCode") == 0 if not c.restart_policy
            else s["started"] or app_ran
            for s, c in zip(init_statuses, dep.init_containers, strict=True))
        all_ready = spec.ready if spec.ready is not None else (initialized and all(s["ready"] for s in statuses))
        scheduled = rfc3339(spec.created)
        ready_since = rfc3339(max(c.started for c in built.values()) + timedelta(seconds=5))
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": scheduled},
            {"type": "Initialized", "status": "True" if initialized else "False", "lastTransitionTime": scheduled},
            {"type": "Ready", "status": "True" if all_ready else "False", "lastTransitionTime": ready_since},
            {"type": "ContainersReady", "status": "True" if all_ready else "False", "lastTransitionTime": ready_since},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled},
        ]
        if not initialized:
            pending = [s["name"] for s in init_statuses if "terminated" not in s["state"]]
            conditions[1]["reason"] = "ContainersNotInitialized"
            conditions[1]["message"] = f"containers with incomplete status: [{' '.join(pending)}]"
        if not all_ready:
            waiting = [s["name"] for s in statuses if not s["ready"]]
            for cond in conditions[2:4]:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{' '.join(waiting)}]"
        images = {n: c.state.image for n, c in built.items() if c.state.image}
        if images:  # this pod runs other images than its template
            pod_spec = {**pod_spec, **{key: [{**c, "image": images.get(c["name"], c["image"])}
                                             for c in pod_spec.get(key, [])]
                                       for key in ("containers", "initContainers") if key in pod_spec}}
        meta = self._meta(spec.name, ns, spec.created, labels={**labels, **spec.labels},
                          annotations=dep.pod_annotations, generateName=f"{rs_name}-")
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs_name,
                "uid": rs_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        ip = spec.ip or _pod_ip(spec.name)
        status: dict[str, Any] = {
            "phase": spec.phase or ("Running" if initialized else "Pending"),
            "conditions": conditions,
            "hostIP": _pod_ip(spec.node),
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": scheduled,
            "qosClass": "Burstable",
            "containerStatuses": statuses,
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": {**pod_spec, "nodeName": spec.node, "schedulerName": "default-scheduler"},
            "status": status,
        }

    def _add_event(self, spec: EventSpec) -> None:
        kind, name = spec.object.split("/")
        ns = spec.namespace or self._namespace_of(kind, name) or "default"
        api_version = "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1"
        involved: dict[str, Any] = {
            "kind": kind,
            "namespace": ns,
            "name": name,
            "uid": self._uid_of(kind, ns, name),
            "apiVersion": api_version,
        }
        if spec.container:
            involved["fieldPath"] = f"spec.containers{{{spec.container}}}"
        last = spec.last or spec.first
        node = self._node_of(ns, name) if kind == "Pod" else None
        source = {"component": spec.component, **({"host": node} if node and spec.component == "kubelet" else {})}
        digest = hashlib.sha256(f"{spec.object}/{spec.reason}/{spec.message}".encode()).hexdigest()[:16]
        self.events.append(
            {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": self._meta(f"{name}.{digest}", ns, spec.first),
                "involvedObject": involved,
                "reason": spec.reason,
                "message": spec.message,
                "source": source,
                "firstTimestamp": rfc3339(spec.first),
                "lastTimestamp": rfc3339(last),
                "count": spec.count,
                "type": spec.type,
                "eventTime": None,
                "reportingComponent": spec.component,
                "reportingInstance": node or "",
            }
        )
        self.events.sort(key=lambda e: e["lastTimestamp"])

    def _find(self, kind: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
        pool = {"Pod": self.pods, "Deployment": self.deployments, "ReplicaSet": self.replicasets}.get(kind, [])
        return next(
            (o for o in pool if o["metadata"]["name"] == name and (ns is None or o["metadata"]["namespace"] == ns)),
            None,
        )

    def _namespace_of(self, kind: str, name: str) -> str | None:
        found = self._find(kind, name)
        return found["metadata"]["namespace"] if found else None

    def _uid_of(self, kind: str, ns: str, name: str) -> str:
        found = self._find(kind, name, ns)
        return found["metadata"]["uid"] if found else _uid(ns, kind.lower(), name)

    def _node_of(self, ns: str, name: str) -> str | None:
        found = self._find("Pod", name, ns)
        return found["spec"]["nodeName"] if found else None

    def resources(self, group: str, resource: str) -> list[dict[str, Any]] | None:
        return {
            ("", "pods"): self.pods,
            ("", "events"): self.events,
            ("", "namespaces"): list(self.namespaces.values()),
            ("apps", "deployments"): self.deployments,
            ("apps", "replicasets"): self.replicasets,
        }.get((group, resource))


def pod_condition(pod: dict[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in pod["status"]["conditions"])


def _container_status(c: _Container, pod: str) -> dict[str, Any]:
    s, started = c.state, rfc3339(c.started)
    container_id = "containerd://" + hashlib.sha256(f"{c.spec.name}{started}".encode()).hexdigest()
    state: dict[str, Any]
    plain_init = c.init and not c.spec.restart_policy
    if s.state == "terminated":
        code = s.exit_code if s.exit_code is not None else 0
        state = {
            "terminated": {
                "exitCode": code,
                "reason": s.reason or ("Completed" if code == 0 else "Error"),
                "startedAt": started,
                "finishedAt": rfc3339(c.started + timedelta(seconds=3)),
                "containerID": container_id,
            }
        }
    elif s.state == "waiting":
        waiting: dict[str, Any] = {"reason": s.reason or "ContainerCreating"}
        if s.message or waiting["reason"] == "CrashLoopBackOff":
            waiting["message"] = s.message or (f"back-off 2m40s restarting failed container={c.spec.name} pod={pod}")
        state = {"waiting": waiting}
    elif s.state == "unknown":  # no status reported yet
        state = {}
    else:
        state = {"running": {"startedAt": started}}
    last: dict[str, Any] = {}
    if s.restarts and (s.last_reason or s.last_finished):
        last = {
            "terminated": {
                "exitCode": s.last_exit_code if s.last_exit_code is not None else 1,
                "reason": s.last_reason or "Error",
                "startedAt": rfc3339(s.last_started or c.started - timedelta(minutes=10)),
                "finishedAt": rfc3339(s.last_finished or c.started - timedelta(seconds=1)),
                "containerID": container_id[:-8] + "deadbeef",
            }
        }
    if s.ready is not None:
        ready = s.ready
    elif plain_init:  # a completed init container counts as ready
        ready = state.get("terminated", {}).get("exitCode") == 0
    else:
        ready = "running" in state
    image = s.image or c.spec.image
    digest = hashlib.sha256(image.encode()).hexdigest()
    image_ref = image.split(":")[0]
    body: dict[str, Any] = {
        "name": c.spec.name,
        "state": state,
        "lastState": last,
        "ready": ready,
        "restartCount": s.restarts,
        "image": image,
        "imageID": f"{image_ref}@sha256:{digest}",
        "started": "running" in state and not plain_init,
    }
    if "waiting" not in state:
        body["containerID"] = container_id
    return body

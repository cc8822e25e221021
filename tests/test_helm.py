"""The Helm chart, linted and rendered with Helm's own Go SDK (helm-python-sdk: a bundled native
library, no helm binary, no network), its manifests validated against the Kubernetes OpenAPI
schemas shipped in kubernetes-validate, and its RBAC and security context checked for what must
never be there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from bot.config import Settings, load_settings

CHART = Path(__file__).resolve().parent.parent / "helm" / "opsbot"
RELEASE, NAMESPACE = "opsbot", "ops"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest with schemas.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.utils.latest_version())

READ_VERBS = {"get", "list", "watch"}
NEVER_RESOURCES = {"secrets", "pods/exec", "pods/attach", "pods/portforward", "*", "serviceaccounts/token"}

ALL_ON: dict[str, Any] = {
    "image": {"repository": "registry.example.com/opsbot", "tag": "1.2.3", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "secrets": {"existingSecret": "slack-tokens", "keys": {"githubToken": "gh"}},
    "config": {
        "kubernetes": {"log_tail": 300, "timeout": 5},
        "github": {"api_url": "https://github.example.com/api/v3"},
        "access": {"channels": ["C0123456789"], "namespaces": {"C0123456789": ["shop"]}},
        "services": {"taskflow-api": {"namespace": "shop", "repo": "acme/taskflow", "workflow": "deploy.yml"}},
        "patterns_files": ["/opt/shared-patterns.yaml"],
    },
    "extraPatterns": {"team.yaml": "- id: payments-timeout\n  regex: 'timed out'\n"},
    "extraEnv": [{"name": "OPSBOT_CONCURRENCY", "value": "8"}],
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/opsbot"}},
    "rbac": {"namespaces": ["shop", "payments"], "daprSubscriptionCheck": True},
    "persistence": {"storageClass": "fast", "size": "5Gi"},
    "service": {"port": 8080, "annotations": {"a": "b"}},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "host": "opsbot.example.com",
        "tls": [{"secretName": "opsbot-tls", "hosts": ["opsbot.example.com"]}],
    },
    "networkPolicy": {
        "enabled": True,
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
        "apiServer": {"cidrs": ["10.0.0.1/32"]},
    },
    "metrics": {"podAnnotations": False},
    "podAnnotations": {"team": "sre"},
    "podLabels": {"team": "sre"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}
                ]
            }
        }
    },
    "priorityClassName": "high",
}

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "all-on": ALL_ON,
    "cluster-wide": {"rbac": {"clusterWide": True, "daprSubscriptionCheck": True}},
    "cluster-wide-no-dapr": {"rbac": {"clusterWide": True}},
    "no-persistence-open-netpol": {"persistence": {"enabled": False}, "networkPolicy": {"enabled": True}},
    "existing-claim-own-sa": {
        "persistence": {"existingClaim": "opsbot-db"},
        "serviceAccount": {"create": False, "name": "bots"},
        "rbac": {"create": False},
    },
}


@cache
def rendered(variant: str) -> tuple[dict[str, Any], ...]:
    with helm.Chart.load(CHART) as chart:
        files = chart.render(VARIANTS[variant], name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(files.items()):
        if path.endswith(".txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return tuple(docs)


def kinds(variant: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered(variant) if doc["kind"] == kind]


def deployment(variant: str) -> dict[str, Any]:
    (dep,) = kinds(variant, "Deployment")
    return dep


def notes(variant: str) -> str:
    with helm.Chart.load(CHART) as chart:
        files = chart.render(VARIANTS[variant], name=RELEASE, namespace=NAMESPACE)
    return files["opsbot/templates/NOTES.txt"]


@pytest.fixture
def config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """OPSBOT_CONFIG pointing at a file, and none of the flat env vars that would override it."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "GITHUB_TOKEN", "OPSBOT_DB"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.yaml"
    monkeypatch.setenv("OPSBOT_CONFIG", str(path))
    yield path


# --- lint and schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint_is_clean(variant: str) -> None:
    report = helm.lint(CHART, VARIANTS[variant], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert problems == [] and report["errors"] == [], report


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(variant: str, kube_version: str) -> None:
    docs = rendered(variant)
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicaCount": 2}, "replicaCount"),
        ({"rbac": {"clusterWide": "yes"}}, "/rbac/clusterWide"),
        ({"rbac": {"namespaces": ["Not_A_Namespace"]}}, "/rbac/namespaces/0"),
        ({"rbac": {"verbs": ["delete"]}}, "verbs"),
        ({"config": {"kubernetez": {}}}, "kubernetez"),
        ({"config": {"slack": {"bot_token": "xoxb-1-2-abc"}}}, "bot_token"),
        ({"config": {"github": {"token": "ghp_abc"}}}, "token"),
        ({"service": {"port": 70000}}, "/service/port"),
        ({"persistence": {"size": "lots"}}, "/persistence/size"),
        ({"extraPatterns": {"../escape.yaml": "- id: x"}}, "escape"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], complaint: str) -> None:
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError, match=complaint.replace("/", ".")):
            chart.validate_schema(values)
        with pytest.raises(helm.HelmValuesError):
            chart.render(values, name=RELEASE, namespace=NAMESPACE)


def test_schema_config_keys_are_the_settings_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    config = schema["properties"]["config"]
    assert config["additionalProperties"] is False
    assert set(config["properties"]) == set(Settings.model_fields)


# --- RBAC ----------------------------------------------------------------------------------------


def rules(variant: str) -> list[dict[str, Any]]:
    return [rule for kind in ("Role", "ClusterRole") for role in kinds(variant, kind) for rule in role["rules"]]


@pytest.mark.parametrize("variant", VARIANTS)
def test_rbac_is_read_only(variant: str) -> None:
    for rule in rules(variant):
        assert set(rule["verbs"]) <= READ_VERBS, rule
        assert not set(rule["resources"]) & NEVER_RESOURCES, rule
        assert "*" not in rule["apiGroups"], rule
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_proxy_only_with_the_dapr_check(variant: str) -> None:
    granted = {(group, res) for rule in rules(variant) for group in rule["apiGroups"] for res in rule["resources"]}
    rbac = VARIANTS[variant].get("rbac", {})
    if not rbac.get("create", True):
        assert granted == set()
        return
    assert {("", "pods"), ("", "pods/log"), ("", "events"), ("apps", "deployments"), ("apps", "replicasets")} <= (
        granted
    )
    assert (("", "pods/proxy") in granted) == bool(rbac.get("daprSubscriptionCheck"))
    for rule in rules(variant):
        if "pods/proxy" in rule["resources"]:
            assert rule["verbs"] == ["get"]
    # the grant and the playbook step that needs it come together
    dapr_env = env_of(variant).get("OPSBOT_DAPR_METADATA")
    assert (dapr_env is not None and dapr_env["value"] == "true") == bool(rbac.get("daprSubscriptionCheck"))


def test_namespaced_rbac_has_a_role_and_binding_per_namespace() -> None:
    roles, bindings = kinds("all-on", "Role"), kinds("all-on", "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payments", "shop"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "shop"]
    assert not kinds("all-on", "ClusterRole") and not kinds("all-on", "ClusterRoleBinding")
    (sa,) = kinds("all-on", "ServiceAccount")
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": roles[0]["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
        ]


def test_default_rbac_is_the_release_namespace() -> None:
    (role,) = kinds("defaults", "Role")
    (binding,) = kinds("defaults", "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE


def test_cluster_wide_rbac_binds_a_cluster_role() -> None:
    assert not kinds("cluster-wide", "Role") and not kinds("cluster-wide", "RoleBinding")
    (role,) = kinds("cluster-wide", "ClusterRole")
    (binding,) = kinds("cluster-wide", "ClusterRoleBinding")
    assert binding["roleRef"]["kind"] == "ClusterRole"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == NAMESPACE


# --- the Deployment ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_security_context_holds(variant: str) -> None:
    pod = deployment(variant)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in pod and "hostPID" not in pod
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 10001
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    # writable: the data volume and /tmp, nothing else
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert set(writable) == {"/data", "/tmp"}
    assert "emptyDir" in volumes[writable["/tmp"]]


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_replica_recreate_probes_and_resources(variant: str) -> None:
    dep = deployment(variant)
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["opsbot", "serve"]
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def env_of(variant: str) -> dict[str, dict[str, Any]]:
    (container,) = deployment(variant)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


@pytest.mark.parametrize(("variant", "secret"), [("defaults", "opsbot"), ("all-on", "slack-tokens")])
def test_tokens_come_from_the_existing_secret(variant: str, secret: str) -> None:
    env = env_of(variant)
    refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items() if "valueFrom" in e}
    assert set(refs) == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "GITHUB_TOKEN",
                         "OPSBOT_PROMETHEUS__TOKEN"}
    assert {ref["name"] for ref in refs.values()} == {secret}
    assert not refs["SLACK_BOT_TOKEN"].get("optional") and not refs["SLACK_SIGNING_SECRET"].get("optional")
    assert refs["SLACK_APP_TOKEN"]["optional"] is True and refs["GITHUB_TOKEN"]["optional"] is True
    assert refs["OPSBOT_PROMETHEUS__TOKEN"] == {"name": secret, "key": "PROMETHEUS_TOKEN", "optional": True}
    assert env["OPSBOT_DB"]["value"] == "/data/opsbot.db"
    assert not kinds(variant, "Secret")


def test_all_on_wires_the_options() -> None:
    dep = deployment("all-on")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/opsbot:1.2.3"
    assert env_of("all-on")["OPSBOT_CONCURRENCY"]["value"] == "8"
    assert {"/etc/opsbot/config", "/etc/opsbot/patterns"} <= {m["mountPath"] for m in container["volumeMounts"]}
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert "prometheus.io/scrape" not in dep["spec"]["template"]["metadata"]["annotations"]
    (claim,) = kinds("all-on", "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    (ingress,) = kinds("all-on", "Ingress")
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/slack/events"
    (service,) = kinds("all-on", "Service")
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]


def test_data_volume_follows_persistence() -> None:
    def data_volume(variant: str) -> dict[str, Any]:
        volumes = deployment(variant)["spec"]["template"]["spec"]["volumes"]
        return next(v for v in volumes if v["name"] == "data")

    (claim,) = kinds("defaults", "PersistentVolumeClaim")
    assert data_volume("defaults")["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert data_volume("existing-claim-own-sa")["persistentVolumeClaim"]["claimName"] == "opsbot-db"
    assert not kinds("existing-claim-own-sa", "PersistentVolumeClaim")
    assert "emptyDir" in data_volume("no-persistence-open-netpol")
    assert deployment("existing-claim-own-sa")["spec"]["template"]["spec"]["serviceAccountName"] == "bots"


# --- config --------------------------------------------------------------------------------------


def config_yaml(variant: str) -> str:
    cm = next(c for c in kinds(variant, "ConfigMap") if "config.yaml" in c["data"])
    text: str = cm["data"]["config.yaml"]
    return text


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_map_loads_as_opsbot_settings(variant: str, config_env: Path) -> None:
    config_env.write_text(config_yaml(variant))
    settings = load_settings()
    expected_ns = {"all-on": "shop"}.get(variant, NAMESPACE)
    assert settings.kubernetes.namespace == expected_ns


def test_all_on_config_keeps_user_values_and_adds_pattern_files(config_env: Path) -> None:
    config_env.write_text(config_yaml("all-on"))
    settings = load_settings()
    assert settings.kubernetes.log_tail == 300
    assert settings.services["taskflow-api"].repo == "acme/taskflow"
    assert settings.access.channels == ["C0123456789"]
    assert settings.patterns_files == ["/opt/shared-patterns.yaml", "/etc/opsbot/patterns/team.yaml"]
    patterns = next(c for c in kinds("all-on", "ConfigMap") if "team.yaml" in c["data"])
    assert yaml.safe_load(patterns["data"]["team.yaml"]) == [{"id": "payments-timeout", "regex": "timed out"}]


def test_config_change_restarts_the_pod() -> None:
    def checksum(values: dict[str, Any]) -> str:
        with helm.Chart.load(CHART) as chart:
            files = chart.render(values, name=RELEASE, namespace=NAMESPACE)
        dep = yaml.safe_load(files["opsbot/templates/deployment.yaml"])
        value: str = dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum({}) != checksum({"config": {"kubernetes": {"log_tail": 50}}})


# --- network policy and notes --------------------------------------------------------------------


def test_network_policy_allows_dns_api_https_and_port_3000() -> None:
    (policy,) = kinds("all-on", "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == [3000]
    egress_ports = [{(p["port"], p["protocol"]) for p in rule["ports"]} for rule in spec["egress"]]
    assert egress_ports == [{(53, "UDP"), (53, "TCP")}, {(443, "TCP"), (6443, "TCP")}, {(443, "TCP")}]
    assert spec["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert "10.0.0.0/8" in spec["egress"][2]["to"][0]["ipBlock"]["except"]
    assert not kinds("defaults", "NetworkPolicy")


def test_notes_name_the_secret_and_the_scope() -> None:
    text = notes("all-on")
    assert "slack-tokens" in text
    assert "in: shop, payments." in text
    assert "pods/proxy" in text
    assert "every namespace" in notes("cluster-wide")

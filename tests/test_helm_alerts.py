"""The chart's Alertmanager webhook: the token from the Secret, the optional Ingress path, the
receiver snippet in NOTES, and the checks that keep a bad setup from rendering (same tools as
tests/test_helm.py: Helm's Go SDK, Kubernetes' OpenAPI schemas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from bot.config import load_settings
from tests.test_helm import CHART, KUBE_VERSIONS, NAMESPACE, RELEASE

ALERTS_ON: dict[str, Any] = {
    "alerts": {"enabled": True, "ingress": True, "tokenKey": "am-token"},
    "ingress": {"enabled": True, "host": "opsbot.example.com"},
    "config": {"alerts": {"channel": "C0INCIDENTS", "routes": [{"match": {"team": "payments"},
                                                               "channel": "C0PAYMENTS"}]}},
}


def render(values: dict[str, Any]) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return dict(chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True))


def docs(values: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path, text in sorted(render(values).items()):
        if not path.endswith(".txt"):
            out += [d for d in yaml.safe_load_all(text) if d]
    return out


def env_of(values: dict[str, Any]) -> dict[str, Any]:
    (dep,) = [d for d in docs(values) if d["kind"] == "Deployment"]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def ingress_paths(values: dict[str, Any]) -> list[str]:
    (ingress,) = [d for d in docs(values) if d["kind"] == "Ingress"]
    return [p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]]


def test_lint_is_clean_with_alerts_on() -> None:
    report = helm.lint(CHART, ALERTS_ON, strict=True, namespace=NAMESPACE)
    assert [m for m in report["messages"] if m["severity"] >= 2] == [] and report["errors"] == [], report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_manifests_validate_with_alerts_on(kube_version: str) -> None:
    for doc in docs(ALERTS_ON):
        kubernetes_validate.validate(doc, kube_version, strict=True)


def test_the_token_comes_from_the_secret_and_the_path_from_the_ingress() -> None:
    ref = env_of(ALERTS_ON)["OPSBOT_ALERTS__TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "opsbot", "key": "am-token"}
    assert ingress_paths(ALERTS_ON) == ["/slack/events", "/alertmanager"]
    # the Service's http port serves it: no other port to open
    (service,) = [d for d in docs(ALERTS_ON) if d["kind"] == "Service"]
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_off_by_default_and_the_path_only_on_request() -> None:
    assert "OPSBOT_ALERTS__TOKEN" not in env_of({})
    inside_only = {**ALERTS_ON, "alerts": {"enabled": True}}
    assert "OPSBOT_ALERTS__TOKEN" in env_of(inside_only)
    assert ingress_paths(inside_only) == ["/slack/events"]


def test_notes_print_the_receiver_snippet() -> None:
    notes = render(ALERTS_ON)["opsbot/templates/NOTES.txt"]
    snippet = notes[notes.index("receivers:"):]
    receiver = yaml.safe_load(snippet)["receivers"][0]["webhook_configs"][0]
    assert receiver["url"] == f"http://opsbot.{NAMESPACE}.svc:3000/alertmanager"
    assert receiver["send_resolved"] is True
    assert receiver["http_config"]["authorization"]["credentials_file"].endswith("/opsbot/am-token")
    assert "https://opsbot.example.com/alertmanager" in notes
    assert "receivers:" not in render({})["opsbot/templates/NOTES.txt"]


def test_alerts_without_a_channel_do_not_render() -> None:
    with pytest.raises(Exception, match=r"config\.alerts\.channel"):
        render({"alerts": {"enabled": True}})


@pytest.mark.parametrize("key", ["token", "password"])
def test_the_schema_keeps_alert_secrets_out_of_values(key: str) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError, match=key):
        chart.validate_schema({"config": {"alerts": {"channel": "C1", key: "s3cret"}}})


def test_the_config_map_and_the_secrets_env_load_as_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (config_map,) = [d for d in docs(ALERTS_ON) if d["kind"] == "ConfigMap" and "config.yaml" in d["data"]]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    monkeypatch.setenv("OPSBOT_CONFIG", str(path))
    monkeypatch.setenv("OPSBOT_ALERTS__TOKEN", "from-the-secret")  # what the Deployment sets
    settings = load_settings()
    assert settings.alerts.enabled and settings.alerts.channel == "C0INCIDENTS"
    assert settings.alerts.token is not None and settings.alerts.token.get_secret_value() == "from-the-secret"
    assert settings.alerts.routes[0].channel == "C0PAYMENTS"

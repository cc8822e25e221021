"""Settings: pydantic-settings, grouped by topic, from env vars and an optional YAML file.

Priority, highest first: keyword arguments, the well-known flat env vars (`SLACK_BOT_TOKEN`,
`PORT`, `OPSBOT_DB`...), nested env vars (`OPSBOT_KUBERNETES__TIMEOUT=5`), the YAML file named
by `OPSBOT_CONFIG`, then the defaults below. A bad value stops start-up with one line naming
the setting (`load_settings` raises `ConfigError`).
"""

import os
import re
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.errors import ConfigError
from bot.inputs import DNS1123
from bot.plumbing.yamlio import load_yaml

# containers that run beside the app (their logs are read, their restarts named, but they are not "the app")
DEFAULT_SIDECARS: tuple[str, ...] = ("daprd", "istio-proxy", "linkerd-proxy", "envoy", "cloud-sql-proxy")


def http_url(value: str) -> str:
    """A base URL setting: http(s) only, so that a typo cannot send tokens to a file or another scheme."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


# flat env var -> path in the settings tree; these are the names in DESIGN.md and the Helm chart
FLAT_ENV: dict[str, tuple[str, ...]] = {
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_API_URL": ("slack", "api_url"),
    "PORT": ("server", "port"),
    "OPSBOT_DB": ("store", "path"),
    "GITHUB_TOKEN": ("github", "token"),
    "GITHUB_API_URL": ("github", "api_url"),
    "KUBECONFIG": ("kubernetes", "kubeconfig"),
    "OPSBOT_CONTEXT": ("kubernetes", "context"),
    "OPSBOT_NAMESPACE": ("kubernetes", "namespace"),
    "OPSBOT_LOG_TAIL": ("kubernetes", "log_tail"),
    "OPSBOT_TIMEOUT": ("kubernetes", "timeout"),
    "OPSBOT_CONCURRENCY": ("kubernetes", "concurrency"),
    "OPSBOT_DAPR_METADATA": ("kubernetes", "dapr_metadata"),
    "PROMETHEUS_URL": ("prometheus", "url"),
}
SETTING_NAMES = {path: env for env, path in FLAT_ENV.items()}


class KubernetesSettings(BaseModel):
    kubeconfig: str | None = Field(None, description="Path of the kubeconfig; unset: ~/.kube/config or in-cluster")
    context: str | None = Field(None, description="kubeconfig context to use; unset: the current context")
    clusters: dict[str, str] = Field(
        default={}, description="`--cluster NAME` -> kubeconfig context, for several clusters"
    )
    namespace: str = Field("default", description="Namespace for services not in the catalogue")
    log_tail: int = Field(200, ge=1, le=10_000, description="Lines read from the end of each container log")
    log_since_seconds: int | None = Field(
        None, ge=1, description="Only read log lines newer than this; unset: no limit beyond log_tail"
    )
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds each API call may take")
    concurrency: int = Field(16, ge=1, le=256, description="API calls in flight at once (bounded thread pool)")
    sidecars: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SIDECARS),
        description="Container names treated as sidecars",
    )
    dapr_metadata: bool = Field(
        False,
        description="Read each Dapr sidecar's metadata (loaded components, subscriptions), or where its API is "
        "pod-local the app's /dapr/subscribe, through the API server's pods/proxy; needs `get` on pods/proxy "
        "(chart: rbac.daprSubscriptionCheck)",
    )


class GitHubSettings(BaseModel):
    token: SecretStr | None = Field(None, description="Token for the GitHub REST API (read-only: actions:read)")
    api_url: str = Field("https://api.github.com", description="GitHub REST API base URL")
    runs: int = Field(5, ge=1, le=50, description="Workflow runs shown per service")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds each GitHub API call may take")

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value).rstrip("/")


class PrometheusSettings(BaseModel):
    """Optional: metrics for /debug (now vs an hour ago) and the error rate for /verify's fix check."""

    url: str | None = Field(None, description="Prometheus base URL (e.g. http://prometheus:9090); unset: off")
    token: SecretStr | None = Field(None, description="Bearer token, when Prometheus sits behind one")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds each query may take")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return http_url(value).rstrip("/") if value else None


# The metrics a service can have, each a PromQL instant query that aggregates to one number. Placeholders
# (replaced as text): {namespace}, {deployment}, and {pods}: a regex of the Deployment's pod names. The
# defaults read the labels the common exporters carry through Kubernetes service discovery.
METRICS: dict[str, tuple[str, str, str]] = {  # name -> (title, unit, default query)
    "error_rate": (
        "error rate (HTTP 5xx)", "%",
        'sum(rate(http_requests_total{namespace="{namespace}",pod=~"{pods}",status=~"5.."}[5m]))'
        ' / sum(rate(http_requests_total{namespace="{namespace}",pod=~"{pods}"}[5m]))',
    ),
    "p95_latency": (
        "p95 latency", "s",
        'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
        '{namespace="{namespace}",pod=~"{pods}"}[5m])))',
    ),
    "restarts": (  # kube-state-metrics
        "container restarts", "",
        'sum(kube_pod_container_status_restarts_total{namespace="{namespace}",pod=~"{pods}"})',
    ),
    "memory": (  # cadvisor (kubelet) over kube-state-metrics' limits: the fullest container
        "memory vs limit", "ratio",
        'max(max by (pod, container) (container_memory_working_set_bytes{namespace="{namespace}",pod=~"{pods}",'
        'container!="",container!="POD"}) / on (pod, container) max by (pod, container) '
        '(kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pods}",resource="memory"}))',
    ),
    "db_connections": (  # HikariCP (Micrometer), else PgBouncer's exporter in the namespace
        "DB connections in use", "",
        'sum(hikaricp_connections_active{namespace="{namespace}",pod=~"{pods}"})'
        ' or sum(pgbouncer_pools_server_active_connections{namespace="{namespace}"})',
    ),
}


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...)")
    signing_secret: SecretStr | None = Field(None, description="Signing secret for HTTP mode")
    app_token: SecretStr | None = Field(None, description="App-level token (xapp-...): enables Socket Mode")
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (tests, proxies)")
    patience: float = Field(
        300.0, ge=1, le=3600,
        description="Seconds a post keeps retrying through Slack rate limits (Retry-After) and outages",
    )

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value).rstrip("/") + "/"  # slack_sdk joins method names onto it


class ServerSettings(BaseModel):
    port: int = Field(3000, ge=1, le=65535, description="HTTP port of `opsbot serve`")
    host: str = Field("0.0.0.0", description="Address `opsbot serve` listens on")


class StoreSettings(BaseModel):
    path: str = Field("./opsbot.db", description="SQLite file of incidents, checklists and the timeline")


class AccessSettings(BaseModel):
    """Who may run what. Empty lists mean everyone / everywhere."""

    channels: list[str] = Field(default=[], description="Channel ids the bot answers in")
    users: list[str] = Field(default=[], description="User ids allowed to run commands")
    namespaces: dict[str, list[str]] = Field(
        default={}, description="Channel id -> namespaces it may debug (per-team access)"
    )


class ServiceConfig(BaseModel):
    namespace: str | None = Field(None, description="Namespace of the service's Deployment")
    deployment: str | None = Field(None, description="Deployment name when it differs from the service name")
    repo: str | None = Field(None, description="GitHub repository owner/name that builds it")
    workflow: str | None = Field(None, description="Workflow file or id, e.g. deploy.yml")
    branch: str = Field("main", description="Branch whose runs matter")
    request_path: list[str] = Field(
        default=[],
        description="Services a request passes through, in order: /debug looks at the others too, /trace "
        "searches them first",
    )

    metrics: dict[str, str] = Field(
        default={},
        description="PromQL per metric (error_rate, p95_latency, restarts, memory, db_connections) replacing the "
        "default; an empty string turns one off. Read only when prometheus.url is set",
    )

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        return value

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError("must be owner/name")
        return value


DEFAULT_SERVICE_LABELS: tuple[str, ...] = ("service", "deployment", "app.kubernetes.io/name", "app")


class AlertRoute(BaseModel):
    """Alerts whose labels all equal `match` go to `channel` (the first route that matches wins)."""

    match: dict[str, str] = Field(default={}, description="label -> value, all must be equal")
    channel: str = Field(description="Slack channel id the matching alerts' incident threads open in")


class AlertsSettings(BaseModel):
    """`POST /alertmanager`: Alertmanager's webhook receiver. Off until a credential is set."""

    token: SecretStr | None = Field(None, description="Bearer token Alertmanager sends (http_config.authorization)")
    username: str | None = Field(None, description="Basic auth user (http_config.basic_auth), with `password`")
    password: SecretStr | None = Field(None, description="Basic auth password")
    channel: str | None = Field(None, description="Default channel id for alerts no route matches")
    routes: list[AlertRoute] = Field(default=[], description="label matchers -> channel, first match wins")
    service_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SERVICE_LABELS),
        description="Labels that name the service, in order of preference",
    )
    services: dict[str, str] = Field(
        default={}, description="alertname -> service, for alerts whose labels name none"
    )
    batch_seconds: float = Field(
        1.0, ge=0.05, le=60,
        description="Alert lines of one thread are posted together at most this often (Slack: ~1 post/s a channel)",
    )

    @property
    def enabled(self) -> bool:
        return bool((self.token and self.token.get_secret_value().strip()) or self.username)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.username is not None and not (self.password and self.password.get_secret_value()):
            raise ValueError("alerts.username needs alerts.password (basic auth)")
        if self.enabled and self.channel is None and not self.routes:
            raise ValueError("alerts need a channel: set alerts.channel (the default) or alerts.routes")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSBOT_", env_nested_delimiter="__", extra="forbid")

    kubernetes: KubernetesSettings = Field(default_factory=lambda: KubernetesSettings())
    github: GitHubSettings = Field(default_factory=lambda: GitHubSettings())
    slack: SlackSettings = Field(default_factory=lambda: SlackSettings())
    prometheus: PrometheusSettings = Field(default_factory=lambda: PrometheusSettings())
    server: ServerSettings = Field(default_factory=lambda: ServerSettings())
    store: StoreSettings = Field(default_factory=lambda: StoreSettings())
    access: AccessSettings = Field(default_factory=lambda: AccessSettings())
    alerts: AlertsSettings = Field(default_factory=lambda: AlertsSettings())
    services: dict[str, ServiceConfig] = Field(default={}, description="The service catalogue")
    patterns_files: list[str] = Field(default=[], description="Extra pattern YAML files")
    checklists_files: list[str] = Field(
        default=[], description="Extra checklist YAML files (a list of the same name replaces it)"
    )

    @field_validator("services")
    @classmethod
    def _names(cls, value: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        for name in value:
            if not DNS1123.match(name):
                raise ValueError(f"service name {name!r} is not a DNS-1123 label")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, FlatEnvSource(settings_cls), env_settings, YamlFileSource(settings_cls))

    def service(self, name: str) -> ServiceConfig:
        """The catalogue entry for a service, or defaults (its own name in the default namespace)."""
        return self.services.get(name) or ServiceConfig()

    def namespace_for(self, service: str, override: str | None = None) -> str:
        return self.namespace_of(service, override)[0]

    def namespace_of(self, service: str | None, override: str | None = None, *,
                     context_namespace: str | None = None) -> tuple[str, str]:
        """The namespace as kubectl would pick it, and where it came from: `-n`; else the catalogue (the
        service's entry, or the entry whose request path names it); else OPSBOT_NAMESPACE when set; else
        the kubeconfig context's namespace; else `default`. An empty `-n` is kept, for the name check to
        refuse."""
        if override is not None:
            return override, "-n"
        if service:
            entry = self.services.get(service)
            if entry is not None and entry.namespace:
                return entry.namespace, "the catalogue"
            for name, other in self.services.items():
                if other.namespace and service in other.request_path:
                    return other.namespace, f"the catalogue: {name}'s request path"
        if "namespace" in self.kubernetes.model_fields_set:
            return self.kubernetes.namespace, "the configured namespace, OPSBOT_NAMESPACE"
        if context_namespace:
            return context_namespace, "the kubeconfig context"
        return self.kubernetes.namespace, "default"


class FlatEnvSource(EnvSettingsSource):
    """The flat, well-known env var names (`SLACK_BOT_TOKEN`, `PORT`...)."""

    def __call__(self) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for env, path in FLAT_ENV.items():
            value = os.environ.get(env)
            if value is None or value == "":
                continue
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return tree


class YamlFileSource(PydanticBaseSettingsSource):
    """The YAML file named by `OPSBOT_CONFIG`, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("OPSBOT_CONFIG")
        if not path:
            return {}
        try:
            data = load_yaml(Path(path).read_text())
        except OSError as exc:
            raise ConfigError("OPSBOT_CONFIG", f"cannot read {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError("OPSBOT_CONFIG", f"{path} is not valid YAML: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError("OPSBOT_CONFIG", f"{path} must hold a mapping at the top")
        return data


def setting_name(loc: tuple[int | str, ...]) -> str:
    """The name a person would set: the flat env var when there is one, else the dotted path."""
    path = tuple(str(p) for p in loc)
    return SETTING_NAMES.get(path, ".".join(path))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation error into a `ConfigError` naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(setting_name(first["loc"]), first["msg"]) from None

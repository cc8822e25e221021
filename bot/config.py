"""Settings: pydantic-settings, grouped by topic, from env vars and an optional YAML file.

Priority, highest first: keyword arguments, the well-known flat env vars (`SLACK_BOT_TOKEN`,
`PORT`, `OPSBOT_DB`...), nested env vars (`OPSBOT_KUBERNETES__TIMEOUT=5`), the YAML file named
by `OPSBOT_CONFIG`, then the defaults below. A bad value stops start-up with one line naming
the setting (`load_settings` raises `ConfigError`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.errors import ConfigError, UsageError
from bot.yamlio import load_yaml

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(value: str, what: str) -> str:
    """Names typed by people become API paths: only DNS-1123 labels get through."""
    if not value or len(value) > 63 or not DNS1123.match(value):
        raise UsageError(f"{value[:70]!r} is not a valid {what} name (lowercase letters, digits and '-')")
    return value


# What people type into /trace and `opsbot trace`: checked here, before it reaches an API.
CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{3,127}$")
MAX_SINCE_SECONDS = 30 * 86400
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_since(value: str) -> int:
    """`90s`, `30m`, `1h`, `2h30m`, `1d` -> seconds, like kubectl's --since."""
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise UsageError(f"--since {value!r} is not a duration such as 30m, 1h or 2h30m")
    d, h, m, s = (int(g or 0) for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds <= 0:
        raise UsageError("--since must be longer than 0s")
    if seconds > MAX_SINCE_SECONDS:
        limit = MAX_SINCE_SECONDS // 86400
        raise UsageError(f"--since {value.strip()[:20]} is longer than {limit}d, more than any log keeps")
    return seconds


def format_since(seconds: int) -> str:
    """The inverse of `parse_since`: 3600 -> `1h`, 9000 -> `2h30m`, 90 -> `1m30s`."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def check_correlation_id(value: str) -> str:
    if not CORRELATION_ID.match(value):
        raise UsageError(f"{value[:70]!r} is not a correlation id (4-128 letters, digits, '.', '_', ':', '-')")
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
}
SETTING_NAMES = {path: env for env, path in FLAT_ENV.items()}


class KubernetesSettings(BaseModel):
    kubeconfig: str | None = Field(None, description="Path of the kubeconfig; unset: ~/.kube/config or in-cluster")
    context: str | None = Field(None, description="kubeconfig context to use; unset: the current context")
    clusters: dict[str, str] = Field(
        default_factory=dict, description="`--cluster NAME` -> kubeconfig context, for several clusters"
    )
    namespace: str = Field("default", description="Namespace for services not in the catalogue")
    log_tail: int = Field(200, ge=1, le=10_000, description="Lines read from the end of each container log")
    log_since_seconds: int | None = Field(
        None, ge=1, description="Only read log lines newer than this; unset: no limit beyond log_tail"
    )
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds each API call may take")
    concurrency: int = Field(16, ge=1, le=256, description="API calls in flight at once (bounded thread pool)")
    sidecars: list[str] = Field(
        default_factory=lambda: ["daprd", "istio-proxy", "linkerd-proxy", "envoy", "cloud-sql-proxy"],
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
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...)")
    signing_secret: SecretStr | None = Field(None, description="Signing secret for HTTP mode")
    app_token: SecretStr | None = Field(None, description="App-level token (xapp-...): enables Socket Mode")
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (tests, proxies)")

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"


class ServerSettings(BaseModel):
    port: int = Field(3000, ge=1, le=65535, description="HTTP port of `opsbot serve`")
    host: str = Field("0.0.0.0", description="Address `opsbot serve` listens on")


class StoreSettings(BaseModel):
    path: str = Field("./opsbot.db", description="SQLite file of incidents, checklists and the timeline")


class AccessSettings(BaseModel):
    """Who may run what. Empty lists mean everyone / everywhere."""

    channels: list[str] = Field(default_factory=list, description="Channel ids the bot answers in")
    users: list[str] = Field(default_factory=list, description="User ids allowed to run commands")
    namespaces: dict[str, list[str]] = Field(
        default_factory=dict, description="Channel id -> namespaces it may debug (per-team access)"
    )


class ServiceConfig(BaseModel):
    namespace: str | None = Field(None, description="Namespace of the service's Deployment")
    deployment: str | None = Field(None, description="Deployment name when it differs from the service name")
    repo: str | None = Field(None, description="GitHub repository owner/name that builds it")
    workflow: str | None = Field(None, description="Workflow file or id, e.g. deploy.yml")
    branch: str = Field("main", description="Branch whose runs matter")
    request_path: list[str] = Field(
        default_factory=list,
        description="Services a request passes through, in order: /debug looks at the others too, /trace "
        "searches them first",
    )

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError("must be owner/name")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSBOT_", env_nested_delimiter="__", extra="forbid")

    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    services: dict[str, ServiceConfig] = Field(default_factory=dict, description="The service catalogue")
    patterns_files: list[str] = Field(default_factory=list, description="Extra pattern YAML files")
    checklists_files: list[str] = Field(
        default_factory=list, description="Extra checklist YAML files (a list of the same name replaces it)"
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
        return override or self.service(service).namespace or self.kubernetes.namespace


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

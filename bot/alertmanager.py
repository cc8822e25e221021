"""Alertmanager's webhook, as data: the v4 payload (validated by pydantic), who may send it, and
where each alert goes (which service it names, which channel its thread opens in).

Pure: no I/O. The HTTP route (`bot.alerts`) reads the body and the Authorization header and asks
this module; the thread service (`bot.threads.alerts`) acts on the routed alerts.
"""

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import Settings
from bot.inputs import DNS1123

# Alertmanager writes endsAt "0001-01-01T00:00:00Z" for an alert still firing with no end known.
_NO_END_YEAR = 1


class Alert(BaseModel):
    """One alert of a webhook notification (Alertmanager's `template.Alert`)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$")

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    @property
    def ended_at(self) -> datetime | None:
        """When it resolved; None while it fires."""
        if self.ends_at is None or self.ends_at.year <= _NO_END_YEAR or self.status == "firing":
            return None
        return self.ends_at


class Notification(BaseModel):
    """Alertmanager's webhook body, version 4 (the only version it has sent since 0.x)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default={}, alias="groupLabels")
    common_labels: dict[str, str] = Field(default={}, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default={}, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[Alert] = Field(max_length=10_000)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        """`4` as a number means the same as Alertmanager's "4" (a hand-made sender, a relay)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class BadPayload(ValueError):
    """A body that is not an Alertmanager v4 notification; the message says why (no input echoed)."""


def parse_notification(body: bytes) -> Notification:
    """Validate a webhook body; `BadPayload` names the first problem and where, never the values
    (a label may carry anything, and the answer may end up in Alertmanager's log)."""
    try:
        return Notification.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        version = next((e for e in errors if e["loc"] == ("version",)), None)
        if version is not None and version["type"] != "missing":
            # another sender, or a format to come: say which version it is when that is a short word
            said = str(version["input"]) if _WORD.match(str(version["input"])) else "other"
            raise BadPayload(f"version: unsupported webhook version {said}: opsbot reads Alertmanager's"
                             " version 4") from None
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise BadPayload(f"{where}: {first['msg']}{more}") from None


_WORD = re.compile(r"^[0-9A-Za-z.]{1,8}$")


# --- who may send -----------------------------------------------------------------------------------


def authorized(header: str | None, settings: Settings) -> bool:
    """The Authorization header carries the configured bearer token or basic-auth pair. Compared in
    constant time; a webhook with no credential configured accepts nobody."""
    alerts = settings.alerts
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    # a token from a Secret made with --from-file ends with a newline; Alertmanager's credentials_file
    # is read trimmed: compare the words, not the white space around them
    token = alerts.token.get_secret_value().strip() if alerts.token is not None else ""
    if scheme == "bearer" and token:
        # aiohttp hands undecodable header bytes over as surrogates: compare them too, never raise
        return hmac.compare_digest(value.encode("utf-8", "surrogateescape"), token.encode())
    if scheme == "basic" and alerts.username is not None and alerts.password is not None:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{alerts.username}:{alerts.password.get_secret_value().rstrip(chr(13) + chr(10))}".encode()
        return hmac.compare_digest(decoded, expected)
    return False


# --- where each alert goes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where an alert lands: its service's incident thread in a channel."""

    channel: str
    service: str
    namespace: str


def service_of(alert: Alert, settings: Settings) -> str | None:
    """The service an alert names: the first service label that holds a DNS-1123 name, else the
    config's alertname mapping; None when neither does."""
    for label in settings.alerts.service_labels:
        value = alert.labels.get(label, "").strip()
        if value and len(value) <= 63 and DNS1123.match(value):
            return value
    mapped = settings.alerts.services.get(alert.name)
    return mapped if mapped and DNS1123.match(mapped) else None


def channel_of(alert: Alert, settings: Settings) -> str | None:
    for route in settings.alerts.routes:
        if all(alert.labels.get(k) == v for k, v in route.match.items()):
            return route.channel
    return settings.alerts.channel


def target_of(alert: Alert, settings: Settings) -> Target | None:
    """Where the alert goes, or None when it names no service or no channel takes it. The namespace
    is the catalogue's for the service, else the alert's `namespace` label, else the default."""
    service = service_of(alert, settings)
    channel = channel_of(alert, settings)
    if service is None or channel is None:
        return None
    label_ns = alert.labels.get("namespace", "")
    catalogued = settings.service(service).namespace
    namespace = catalogued or (label_ns if label_ns and DNS1123.match(label_ns) else settings.kubernetes.namespace)
    return Target(channel=channel, service=service, namespace=namespace)


# labels that say nothing a reader needs next to the alert's name (routing and scrape plumbing)
_QUIET_LABELS = {"alertname", "job", "instance", "prometheus", "receiver", "endpoint", "container_id"}


def describe(alert: Alert) -> str:
    """One plain-text line for a person: name, the telling labels, the summary, since/until when.
    Neither escaped, redacted nor clipped: redact first, then clip (a secret cut in half would no
    longer look like one); the renderer and the store do both."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _QUIET_LABELS)
    parts = [alert.name]
    if labels:
        parts.append(f"({labels})")
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    if summary:
        parts.append(f"- {summary}")
    ended = alert.ended_at
    if ended is not None:
        parts.append(f"resolved at {ended:%H:%M:%S} UTC")
    else:
        parts.append(f"since {alert.starts_at:%H:%M:%S} UTC")
    return " ".join(parts)


# --- when, in the timeline --------------------------------------------------------------------------

# An alert's timeline entry carries its own start (firing) or end (resolved), as Alertmanager gave it:
# the impact window is when the alert says trouble began and ended, not when the bot heard of it.
_WHEN = re.compile(r" \[(starts|ends) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\]")


def when_tag(status: str, alert: Alert) -> str:
    """` [starts <ISO>]` for a firing alert, ` [ends <ISO>]` for a resolved one with a known end."""
    at = alert.ended_at if status == "resolved" else alert.starts_at
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f" [{'ends' if status == 'resolved' else 'starts'} {at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}]"


def tagged_time(text: str) -> datetime | None:
    """The start or end a timeline entry's `when_tag` carries; None for an entry without one."""
    match = _WHEN.search(text)
    if match is None:
        return None
    return datetime.strptime(match.group(2), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

"""The Kubernetes gateway: the only code that talks to the Kubernetes API (read-only).

The map of the package, as kopf splits its client:
- `gateway`: `KubernetesGateway`, the async facade the playbooks call;
- `api`: request plumbing (client configuration, `ReadOnlyApi`: the few endpoints opsbot reads);
- `errors`: `translate_error`, the one place client and network errors become opsbot errors
  (keeping the HTTP status and the API's message on the error);
- `snapshots`: pure conversions of Kubernetes JSON into `bot.models` snapshots, `parse_log`;
- `dapr`: where a pod's Dapr sidecar answers, and what its metadata says;
- `budget`: how many logs held whole until reduced may be read at once (a budget in bytes);
- `official`: imports the parts of the official client opsbot uses, before any module here does.
"""

from bot.k8s.official import load as _load_client

_load_client()  # before the modules below import the client: they get only what they use

from bot.k8s.dapr import dapr_ports  # noqa: E402
from bot.k8s.errors import Call, translate_error  # noqa: E402
from bot.k8s.gateway import KubernetesGateway  # noqa: E402
from bot.k8s.snapshots import deployment_snapshot, event_snapshot, label_selector, parse_log, pod_snapshot  # noqa: E402

__all__ = [
    "Call",
    "KubernetesGateway",
    "dapr_ports",
    "deployment_snapshot",
    "event_snapshot",
    "label_selector",
    "parse_log",
    "pod_snapshot",
    "translate_error",
]

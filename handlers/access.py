"""Who may run what, where: the authorization step of every request, apart from parsing.

`check_access` answers with one line saying why not (None: allowed); `resolve_target` says which
namespace and kubeconfig context a playbook command will use, so that it is that namespace which
is authorized and then looked at.
"""

from __future__ import annotations

from bot.commands import PlaybookCommand, TraceCommand
from bot.config import AccessSettings, Settings


def check_access(access: AccessSettings, *, channel: str, user: str, namespace: str | None = None) -> str | None:
    """Why this person may not run this here, as one line; None when allowed.

    Empty lists mean everyone / everywhere; a channel listed in `namespaces` may only touch those."""
    if access.channels and channel not in access.channels:
        return "opsbot does not run commands in this channel (ask an admin to add it to access.channels)"
    if access.users and user not in access.users:
        return "you are not allowed to run opsbot commands (ask an admin to add you to access.users)"
    if namespace is not None and channel in access.namespaces and namespace not in access.namespaces[channel]:
        allowed = ", ".join(access.namespaces[channel]) or "none"
        return f"this channel may not look into namespace {namespace} (allowed: {allowed})"
    return None


def resolve_target(settings: Settings, cmd: PlaybookCommand) -> tuple[str, str | None]:
    """The namespace and kubeconfig context a debug/verify/trace command will use (and is authorized for).

    A trace has no service to look up in the catalogue: -n, else the configured default namespace."""
    if isinstance(cmd, TraceCommand):
        namespace = settings.namespace_of(None, cmd.namespace)[0]
    else:
        namespace = settings.namespace_for(cmd.service, cmd.namespace)
    context = settings.kubernetes.clusters[cmd.cluster] if cmd.cluster else settings.kubernetes.context
    return namespace, context

"""What a playbook runs with: the gateways (one Kubernetes gateway per kubeconfig context, GitHub)
and the knowledge (bug patterns, checklists), shared by every command of a process.

Built by `bot.runtime.open_runtime` (a cluster, or the embedded sandbox for demos); the playbooks
only see this class, never how it was wired.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings
from bot.errors import OpsbotError
from bot.github import GitHubGateway
from bot.k8s import KubernetesGateway
from playbooks.checklists import ChecklistCatalogue
from playbooks.patterns import PatternTable


class Runtime:
    """Gateways and knowledge, shared by every command of a process."""

    def __init__(
        self,
        settings: Settings,
        *,
        patterns: PatternTable,
        checklists: ChecklistCatalogue,
        github: GitHubGateway | None,
        kubernetes: dict[str | None, KubernetesGateway] | None = None,
        answers: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        # which suggested commands the cluster can answer (the sandbox: not all of them); None: all
        self.answers = answers
        self.patterns = patterns
        self.checklists = checklists
        self.github = github
        self._kubernetes: dict[str | None, KubernetesGateway] = dict(kubernetes or {})

    def kubernetes(self, context: str | None = None) -> KubernetesGateway:
        """The gateway for a kubeconfig context (None: the configured one), built once and cached."""
        gateway = self._kubernetes.get(context)
        if gateway is None:
            gateway = KubernetesGateway.from_settings(self.settings.kubernetes, context=context)
            self._kubernetes[context] = gateway
        return gateway

    def namespace_of(self, service: str | None, override: str | None = None,
                     context: str | None = None) -> tuple[str, str]:
        """The namespace a command looks in and where it came from (see `Settings.namespace_of`); the
        kubeconfig context's own namespace is read only when nothing earlier decides."""
        settings = self.settings
        found = settings.namespace_of(service, override)
        if found[1] != "default":
            return found
        return settings.namespace_of(service, override, context_namespace=self.kubernetes(context).namespace)

    def in_flight(self) -> list[tuple[str, float]]:
        """The Kubernetes calls waiting for an answer, oldest first: (what, since, as time.monotonic())."""
        calls = [c for gateway in self._kubernetes.values() for c in gateway.in_flight.values()]
        return sorted(calls, key=lambda c: c[1])

    async def ready(self) -> list[tuple[str, bool, str]]:
        try:
            await self.kubernetes().ping()
            return [("kubernetes", True, "API answers")]
        except OpsbotError as exc:
            return [("kubernetes", False, str(exc))]

    async def close(self) -> None:
        for gateway in self._kubernetes.values():
            await gateway.close()
        if self.github is not None:
            await self.github.close()

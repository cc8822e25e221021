"""The runtime: everything a command needs, built once per process from the settings.

`open_runtime(settings, demo=True)` starts the embedded sandbox and points the real gateways at
it, so the demo, the console and `serve --demo` run the same code as production.
`open_runtime(settings, scenario=...)` does the same with another scenario than `taskflow`: a
loaded one, or a file (`--scenario FILE`, an `opsbot snapshot` for instance).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from bot.config import ServiceConfig, Settings
from bot.github import GitHubGateway
from bot.k8s import KubernetesGateway
from bot.prometheus import PrometheusGateway
from playbooks.checklists import ChecklistCatalogue
from playbooks.runtime import Runtime
from playbooks.tablecache import load_table

if TYPE_CHECKING:
    from bot.sandbox import Scenario


def demo_settings(settings: Settings, scenario: Scenario) -> Settings:
    """The scenario's service catalogue, under whatever the user configured themselves."""
    services = {name: ServiceConfig.model_validate(hint.model_dump()) for name, hint in scenario.services.items()}
    services.update(settings.services)
    namespace = next((h.namespace for h in scenario.services.values()), settings.kubernetes.namespace)
    # the sandbox's sidecars answer pods/proxy, so the demo shows the Dapr step too (a snapshot taken
    # without it is replayed without it)
    kube = settings.kubernetes.model_copy(update={"namespace": namespace, "dapr_metadata": scenario.dapr_metadata})
    return settings.model_copy(update={"services": services, "kubernetes": kube})


def sandbox_answers() -> Callable[[str], bool]:
    """Which suggested commands work against the sandbox: kubectl reads of the resources it serves (no
    `top`, no exec, no Services); `--demo` suggests only those, and anything that is not kubectl."""
    from bot.sandbox.discovery import served_names
    from playbooks.next_steps import kubectl_target

    served = served_names()

    def answers(command: str) -> bool:
        target = kubectl_target(command)
        if target is None:
            return True
        verb, kinds = target
        if verb in ("logs", "describe", "get"):
            return all(kind.lower() in served for kind in kinds)
        return False

    return answers


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, demo: bool = False, scenario: Scenario | str | None = None
) -> AsyncIterator[Runtime]:
    patterns = load_table(*settings.patterns_files)
    checklists = ChecklistCatalogue.load(*settings.checklists_files) if settings.checklists_files \
        else ChecklistCatalogue.default()
    async with AsyncExitStack() as stack:
        if demo or scenario is not None:
            from bot.sandbox import Sandbox, load_scenario  # the sandbox is only loaded for demos

            # a name or a file is loaded (and validated) now; the CLI loads it before, to answer a bad one
            loaded = load_scenario(scenario or "taskflow") if scenario is None or isinstance(scenario, str) \
                else scenario
            sandbox = Sandbox(loaded)
            await sandbox.start()
            stack.push_async_callback(sandbox.stop)
            settings = demo_settings(settings, loaded)
            kcfg = settings.kubernetes
            k8s = KubernetesGateway.for_url(
                sandbox.url, timeout=kcfg.timeout, concurrency=kcfg.concurrency, sidecars=kcfg.sidecars)
            github: GitHubGateway | None = GitHubGateway(api_url=sandbox.github_url, timeout=settings.github.timeout)
            rt = Runtime(settings, patterns=patterns, checklists=checklists, github=github,
                         kubernetes={None: k8s}, answers=sandbox_answers())
        else:
            token = settings.github.token.get_secret_value() if settings.github.token else None
            github = GitHubGateway(api_url=settings.github.api_url, token=token, timeout=settings.github.timeout)
            rt = Runtime(settings, patterns=patterns, checklists=checklists, github=github)
        rt.prometheus = PrometheusGateway.from_settings(settings.prometheus)  # optional, off unless configured
        stack.push_async_callback(rt.close)
        yield rt

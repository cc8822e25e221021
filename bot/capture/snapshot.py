"""Taking a snapshot: the debug playbook's own run (its fetch, through the runtime's gateways), then
its report as a scenario file, redacted, in YAML.

`take_snapshot` is what `opsbot snapshot` runs; `snapshot_yaml` turns any debug report into the file
(the Slack bot keeps one per incident thread this way, from the report it already posted).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from bot.capture.scenario import scenario_from_report
from bot.commands import ServiceCommand
from bot.config import Settings
from bot.models import Report

if TYPE_CHECKING:
    from playbooks.runtime import Runtime


class _Dumper(yaml.CSafeDumper if hasattr(yaml, "CSafeDumper") else yaml.SafeDumper):  # type: ignore[misc]
    """Multi-line strings (recorded logs, tracebacks) as literal blocks: a snapshot stays readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def snapshot_yaml(report: Report, settings: Settings, *, at: datetime | None = None) -> str:
    """The scenario file of a debug report: a comment saying how to replay it, then the scenario."""
    at = at or datetime.now(UTC)
    data = scenario_from_report(report, settings, at=at)
    head = (f"# opsbot snapshot of {report.service} (namespace {report.namespace}), {at:%Y-%m-%d %H:%M:%S} UTC.\n"
            f"# Redacted. Times are relative to when it was taken. Replay it with:\n"
            f"#   opsbot debug {report.service} --scenario FILE\n"
            f"# The format: docs/scenarios.md\n")
    body: Any = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)
    return head + str(body)


async def take_snapshot(
    rt: Runtime, service: str, *, namespace: str | None = None, context: str | None = None,
    at: datetime | None = None,
) -> tuple[Report, str]:
    """Run /debug for `service` (the same playbook, the same fetch) and return its report and snapshot.
    `at`: the time its offsets count from; a sandbox's own "now" (when its scenario was loaded), so
    that a snapshot of a replay is the file replayed, not one shifted by how long the run took."""
    from playbooks.registry import run_command

    report = await run_command(rt, ServiceCommand(service), namespace=namespace, context=context)
    return report, snapshot_yaml(report, rt.settings, at=at)

"""Incident snapshots: what /debug read, kept as a scenario file that the sandbox replays without
the cluster (`opsbot snapshot`, `--scenario FILE`, `/incident snapshot`).

The map of the package: `scenario` (a debug report -> scenario data, redacted, times relative to
the capture), `snapshot` (run the debug playbook and write the YAML).
"""

from bot.capture.scenario import scenario_from_report
from bot.capture.snapshot import snapshot_yaml, take_snapshot

__all__ = ["scenario_from_report", "snapshot_yaml", "take_snapshot"]

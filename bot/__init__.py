"""opsbot: incident response on Kubernetes, from Slack or the terminal."""

import sys

# httpx imports its own command line (click, rich, pygments: ~40 ms of a one-shot `opsbot debug`)
# whenever those happen to be installed, and falls back to a stub when that import fails. opsbot
# never runs httpx's CLI, so the import is made to fail: a module set to None cannot be imported.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

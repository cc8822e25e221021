"""The embedded sandbox: a local HTTP server that speaks the Kubernetes REST API and the GitHub
Actions REST API, seeded from a scenario file.

Real clients run against it unchanged: the official `kubernetes` client, an `httpx` GitHub client
and `kubectl` itself (discovery, server-side `Table`s for `kubectl get`, logs, events, Status
errors). It is read-only, like the bot. Timestamps in a scenario are relative to when it is
loaded (`-2h`, `-35m`), so ages and log times look alive.

The Kubernetes API is served at `Sandbox.url`, the GitHub API at `Sandbox.github_url`
(`<url>/github`): one port, two base URLs. The map of the package: `scenario` (the model and its
loading; files in `scenarios/`), `scaled` (generated scenarios for benchmarks), `clock`, `logs`,
`world` and `github_world` (what is served), `selectors`, `tables`, `discovery`, `responses`,
`kubernetes_routes` and `github_routes` (the HTTP API), `server` (`Sandbox`, `serve_forever`).
"""

from bot.sandbox.clock import human_duration, parse_duration
from bot.sandbox.scaled import scaled_scenario
from bot.sandbox.scenario import Scenario, load_scenario, scenario_names
from bot.sandbox.selectors import parse_selector
from bot.sandbox.server import Sandbox, serve_forever

__all__ = [
    "Sandbox",
    "Scenario",
    "human_duration",
    "load_scenario",
    "parse_duration",
    "parse_selector",
    "scaled_scenario",
    "scenario_names",
    "serve_forever",
]

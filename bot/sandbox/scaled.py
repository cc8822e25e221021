"""Scaled scenarios for benchmarks: N pods x M containers x L log lines, generated deterministically."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from bot.errors import UsageError
from bot.sandbox.scenario import SCALED_BACKGROUND, SCALED_SIDECAR, Scenario, validate_scenario


def scaled_scenario(pods: int, containers: int, lines: int) -> Scenario:
    """One Deployment `taskflow-api` in `taskflow` with pods x containers x lines of log (the benchmark)."""
    if pods < 1 or containers < 1 or lines < 0:
        raise UsageError("pods and containers must be at least 1 and lines at least 0")
    now = datetime.now(UTC)
    sha = "cd73e1b123ee217c1205809c1d5cb52ffaa90f4e"
    names = ["api", "daprd", *[f"worker-{i}" for i in range(1, containers - 1)]][:containers]
    specs = [
        {
            "name": name,
            "image": "daprio/daprd:1.14.4" if name == "daprd" else f"ghcr.io/acme/taskflow-api:{sha[:7]}",
            "log": {"lines": lines, "background": SCALED_SIDECAR if name == "daprd" else SCALED_BACKGROUND},
        }
        for name in names
    ]
    rng = random.Random(f"scaled-{pods}")
    pod_names = [f"taskflow-api-7d9f8c6b5-{random_suffix(rng)}" for _ in range(pods)]
    data = {
        "name": f"scaled-{pods}x{containers}x{lines}",
        "namespaces": ["default", "kube-system", "taskflow"],
        "deployments": [
            {
                "name": "taskflow-api",
                "namespace": "taskflow",
                "replicas": pods,
                "created": "-30d",
                "revision": 7,
                "template_hash": "7d9f8c6b5",
                "labels": {"app.kubernetes.io/name": "taskflow-api"},
                "selector": {"app.kubernetes.io/name": "taskflow-api"},
                "annotations": {"opsbot.io/commit": sha},
                "containers": specs,
                "pods": [
                    {
                        "name": name,
                        "created": "-2h",
                        "containers": (
                            {
                                "api": {
                                    "restarts": 3,
                                    "state": "waiting",
                                    "reason": "CrashLoopBackOff",
                                    "ready": False,
                                    "last_reason": "OOMKilled",
                                    "last_exit_code": 137,
                                    "last_started": "-9m",
                                    "last_finished": "-4m",
                                    "previous_log": {"lines": min(lines, 500), "background": SCALED_BACKGROUND},
                                }
                            }
                            if i == 0
                            else {}
                        ),
                    }
                    for i, name in enumerate(pod_names)
                ],
            }
        ],
        "events": [
            {
                "reason": "BackOff",
                "message": f"Back-off restarting failed container api in pod {pod_names[0]}_taskflow(x)",
                "object": f"Pod/{pod_names[0]}",
                "container": "api",
                "count": 12,
                "first": "-40m",
                "last": "-1m",
            },
            {
                "reason": "Unhealthy",
                "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
                "object": f"Pod/{pod_names[-1]}",
                "container": "api",
                "count": 5,
                "first": "-30m",
                "last": "-2m",
            },
            {
                "type": "Normal",
                "reason": "Pulled",
                "message": f'Container image "ghcr.io/acme/taskflow-api:{sha[:7]}" already present on machine',
                "object": f"Pod/{pod_names[0]}",
                "container": "api",
                "first": "-4m",
            },
        ],
        "repos": [
            {
                "full_name": "acme/taskflow",
                "workflows": [{"id": 71234001, "name": "Deploy taskflow-api", "file": "deploy.yml"}],
                "runs": [
                    {
                        "id": 11872634512,
                        "run_number": 412,
                        "workflow": "deploy.yml",
                        "head_sha": sha,
                        "created": "-3h",
                        "title": "Raise request timeout",
                    },
                ],
            }
        ],
        "services": {"taskflow-api": {"namespace": "taskflow", "repo": "acme/taskflow", "workflow": "deploy.yml"}},
    }
    return validate_scenario(data, now, "scaled_scenario")


_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated names


def random_suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(length))

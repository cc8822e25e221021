"""Prometheus metrics of opsbot, served at `/metrics` by `bot.health`.

The metrics live in their own `CollectorRegistry` rather than prometheus-client's global one, so
tests and several runtimes in one process never collide on a duplicate name, and `/metrics` shows
only what opsbot means to publish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from bot.errors import OpsbotError

REGISTRY = CollectorRegistry(auto_describe=True)

# A playbook waits on several APIs with per-call timeouts of ~10 s, so buckets reach a minute;
# a step is a single fetch-and-derive and mostly ends within a second or two.
PLAYBOOK_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 60.0)
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

COMMANDS = Counter(
    "opsbot_commands",  # prometheus-client appends `_total`
    "Commands run, by command and outcome (ok, error, denied, usage...)",
    ["command", "outcome"],
    registry=REGISTRY,
)
PLAYBOOK_SECONDS = Histogram(
    "opsbot_playbook_duration_seconds",
    "Wall time of a whole playbook run",
    ["playbook"],
    buckets=PLAYBOOK_BUCKETS,
    registry=REGISTRY,
)
STEP_SECONDS = Histogram(
    "opsbot_step_duration_seconds",
    "Wall time of one playbook step",
    ["playbook", "step"],
    buckets=STEP_BUCKETS,
    registry=REGISTRY,
)
STEP_ERRORS = Counter(
    "opsbot_step_errors",
    "Playbook steps that ended in an error, by step and error kind",
    ["step", "kind"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "opsbot_api_errors",
    "Failed calls to an upstream API (slack, github, kubernetes), by error kind",
    ["api", "kind"],
    registry=REGISTRY,
)


def error_kind(exc: BaseException) -> str:
    """A short, bounded label for an error: opsbot's own kinds, `timeout`, `cancelled` or `internal`.

    Exception class names of arbitrary libraries would make the label set unbounded, so anything
    that is not one of opsbot's errors counts as `internal`.
    """
    if isinstance(exc, OpsbotError):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.CancelledError):  # e.g. the engine's per-step timeout cut it short
        return "cancelled"
    return "internal"


@contextmanager
def time_step(playbook: str, step: str) -> Iterator[None]:
    """Observe the duration of a step and count it as an error if it raises (the error propagates)."""
    start = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        STEP_ERRORS.labels(step=step, kind=error_kind(exc)).inc()
        raise
    finally:
        STEP_SECONDS.labels(playbook=playbook, step=step).observe(time.perf_counter() - start)


@contextmanager
def time_playbook(playbook: str) -> Iterator[None]:
    """Observe the duration of a whole playbook run, whether it ends well or not."""
    start = time.perf_counter()
    try:
        yield
    finally:
        PLAYBOOK_SECONDS.labels(playbook=playbook).observe(time.perf_counter() - start)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and the content type to serve it with."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

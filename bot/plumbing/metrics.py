"""Prometheus metrics of opsbot, served at `/metrics` by `bot.health`.

The metrics live in their own `CollectorRegistry` rather than prometheus-client's global one, so
tests and several runtimes in one process never collide on a duplicate name, and `/metrics` shows
only what opsbot means to publish.

They are made on first use (`COMMANDS`, `REGISTRY`... are module attributes built on access), and
the playbooks record through `observe_step` and `observe_playbook`, which do nothing while no
metric exists: a one-shot CLI command, whose numbers nobody scrapes, never imports
prometheus-client (~14 ms of its start). `opsbot serve` makes them as it starts (bot.threads
and bot.health use them), so every playbook run there is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.errors import OpsbotError

# A playbook waits on several APIs with per-call timeouts of ~10 s, so buckets reach a minute;
# a step is a single fetch-and-derive and mostly ends within a second or two.
PLAYBOOK_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 60.0)
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class _Metrics:
    """The registry and the metrics in it."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.REGISTRY = registry = CollectorRegistry(auto_describe=True)
        self.COMMANDS = Counter(
            "opsbot_commands",  # prometheus-client appends `_total`
            "Commands run, by command and outcome (ok, error, denied, usage...)",
            ["command", "outcome"],
            registry=registry,
        )
        self.PLAYBOOK_SECONDS = Histogram(
            "opsbot_playbook_duration_seconds",
            "Wall time of a whole playbook run",
            ["playbook"],
            buckets=PLAYBOOK_BUCKETS,
            registry=registry,
        )
        self.STEP_SECONDS = Histogram(
            "opsbot_step_duration_seconds",
            "Wall time of one playbook step",
            ["playbook", "step"],
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.STEP_ERRORS = Counter(
            "opsbot_step_errors",
            "Playbook steps that ended in an error, by step and error kind",
            ["step", "kind"],
            registry=registry,
        )
        self.API_ERRORS = Counter(
            "opsbot_api_errors",
            "Failed calls to an upstream API (slack, github, kubernetes), by error kind",
            ["api", "kind"],
            registry=registry,
        )


_made: _Metrics | None = None
_NAMES = frozenset({"REGISTRY", "COMMANDS", "PLAYBOOK_SECONDS", "STEP_SECONDS", "STEP_ERRORS", "API_ERRORS"})


def _metrics() -> _Metrics:
    global _made
    if _made is None:
        _made = _Metrics()
    return _made


def __getattr__(name: str) -> Any:
    """`metrics.COMMANDS`, `from bot.plumbing.metrics import API_ERRORS`...: made on first access."""
    if name in _NAMES:
        return getattr(_metrics(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A process that runs playbooks for another (`bot.worker`, for `opsbot serve`) hands the observations
# to this instead of recording them: the serving process, whose /metrics is scraped, records them.
forward: Callable[[str, tuple[Any, ...]], None] | None = None


def observe_step(playbook: str, step: str, seconds: float, error_kind: str | None = None) -> None:
    """Record a step's duration, and its error kind if it failed; nothing while no metric exists."""
    if forward is not None:
        forward("step", (playbook, step, seconds, error_kind))
        return
    if _made is None:
        return
    if error_kind is not None:
        _made.STEP_ERRORS.labels(step=step, kind=error_kind).inc()
    _made.STEP_SECONDS.labels(playbook=playbook, step=step).observe(seconds)


def observe_playbook(playbook: str, seconds: float) -> None:
    """Record a whole playbook run's duration; nothing while no metric exists."""
    if forward is not None:
        forward("playbook", (playbook, seconds))
    elif _made is not None:
        _made.PLAYBOOK_SECONDS.labels(playbook=playbook).observe(seconds)


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
    kind: str | None = None
    try:
        yield
    except BaseException as exc:
        kind = error_kind(exc)
        raise
    finally:
        observe_step(playbook, step, time.perf_counter() - start, kind)


@contextmanager
def time_playbook(playbook: str) -> Iterator[None]:
    """Observe the duration of a whole playbook run, whether it ends well or not."""
    start = time.perf_counter()
    try:
        yield
    finally:
        observe_playbook(playbook, time.perf_counter() - start)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and the content type to serve it with."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(_metrics().REGISTRY), CONTENT_TYPE_LATEST

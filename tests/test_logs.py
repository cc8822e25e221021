"""JSON log lines carry the request's correlation id through awaits, tasks and threads; secrets
never reach them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.plumbing.logs import CHATTY, configure_logging, current_correlation_id, new_correlation_id

log = logging.getLogger("opsbot.test")

SLACK_TOKEN = "xoxb-1234567890-1234567890123-abcdefghijklmnopqrstuvwx"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    # configure_logging changes process-wide state: put it all back for the tests that follow
    touched = [logging.getLogger(), *(logging.getLogger(name) for name in CHATTY)]
    saved = [(logger, list(logger.handlers), logger.level) for logger in touched]
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    yield out
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    """This test's lines (asyncio logs its selector at DEBUG)."""
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    return [e for e in entries if e["logger"] == log.name]


async def list_pods(namespace: str) -> int:
    log.info("GET pods", extra={"fields": {"api": "kubernetes", "namespace": namespace}})
    await asyncio.sleep(0)
    return 3


async def debug_step() -> None:
    await list_pods("default")
    log.info("step done", extra={"fields": {"step": "pods"}})


async def background_refresh() -> None:
    await asyncio.sleep(0)
    log.info("background refresh")


async def slack_request(request_id: str) -> None:
    new_correlation_id(request_id)
    log.info("command received")
    task = asyncio.create_task(background_refresh())  # created inside the request's context
    await debug_step()
    await asyncio.to_thread(log.info, "blocking kubernetes call")
    await task


async def test_every_line_of_a_request_has_its_id(stream: io.StringIO) -> None:
    await asyncio.gather(slack_request("req-a"), slack_request("req-b"))

    entries = lines(stream)
    assert len(entries) == 10
    for cid in ("req-a", "req-b"):
        mine = [e["msg"] for e in entries if e["correlation_id"] == cid]
        assert sorted(mine) == sorted(
            ["command received", "GET pods", "step done", "background refresh", "blocking kubernetes call"]
        )


async def test_line_shape_and_fields(stream: io.StringIO) -> None:
    cid = new_correlation_id()
    assert current_correlation_id() == cid
    await list_pods("shop")

    (entry,) = lines(stream)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "opsbot.test"
    assert entry["msg"] == "GET pods"
    assert entry["correlation_id"] == cid
    assert entry["api"] == "kubernetes"
    assert entry["namespace"] == "shop"
    assert entry["ts"].endswith("+00:00")


async def test_task_created_outside_the_request_has_no_id(stream: io.StringIO) -> None:
    async def unrelated() -> None:
        await asyncio.sleep(0)
        log.info("housekeeping")

    async def request() -> asyncio.Task[None]:
        new_correlation_id("req-c")
        return asyncio.create_task(unrelated())

    # the request runs in its own task: its id does not leak into the caller's context
    inner = await asyncio.create_task(request())
    await inner
    outer = asyncio.create_task(unrelated())
    await outer

    assert [e["correlation_id"] for e in lines(stream)] == ["req-c", None]
    assert current_correlation_id() is None


def test_secrets_are_redacted_in_msg_fields_and_tracebacks(stream: io.StringIO) -> None:
    log.warning("slack refused %s", SLACK_TOKEN, extra={"fields": {"header": f"Bearer {GITHUB_TOKEN}"}})
    try:
        raise RuntimeError(f"401 for token {GITHUB_TOKEN}")
    except RuntimeError:
        log.exception("github call failed")

    text = stream.getvalue()
    assert SLACK_TOKEN not in text
    assert GITHUB_TOKEN not in text
    first, second = lines(stream)
    assert "REDACTED" in first["msg"]
    assert "REDACTED" in first["header"]
    assert "REDACTED" in second["exc"]
    assert "RuntimeError" in second["exc"]


def test_text_mode_is_one_readable_line(stream: io.StringIO) -> None:
    out = io.StringIO()
    configure_logging("INFO", json_lines=False, stream=out)
    new_correlation_id("req-t")
    log.info("step done", extra={"fields": {"step": "pods"}})
    log.debug("hidden at INFO")

    (line,) = out.getvalue().splitlines()
    assert "[req-t]" in line
    assert 'step="pods"' in line
    assert "step done" in line


def test_configure_twice_does_not_double_lines(stream: io.StringIO) -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    configure_logging("INFO", stream=out)
    log.info("once")
    assert len(out.getvalue().splitlines()) == 1


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"log level.*'loud' is not one of"):
        configure_logging("loud")

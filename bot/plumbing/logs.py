"""Structured logs: one JSON object a line, each carrying the correlation id of the request.

A correlation id is set once where work enters the process (a Slack request, a CLI command) with
`new_correlation_id()`, and every log line written while serving it, down to the last Kubernetes
or GitHub API call, carries it. It lives in a `contextvars.ContextVar`, which gives us that for
free across `await`s, with two rules to keep in mind:

- asyncio copies the current context when a task is *created*: start background tasks
  (`asyncio.create_task`, `TaskGroup.create_task`) from inside the request's context, after
  `new_correlation_id()`, and they keep its id; a task created elsewhere does not.
- threads do not inherit contexts: `asyncio.to_thread` copies the context into the worker,
  a bare `loop.run_in_executor` does not (wrap the callable with `contextvars.copy_context().run`).

Extra structured fields go in `extra={"fields": {...}}`:

    log.info("step done", extra={"fields": {"step": "pods", "seconds": 0.4}})

Every message, field value and traceback passes `bot.redact.redact` before it is written, so a
token that slips into an exception text never reaches the log collector.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.errors import ConfigError
from bot.redact import redact

_correlation_id: ContextVar[str | None] = ContextVar("opsbot_correlation_id", default=None)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The LogRecord attributes a `Formatter` sets on its own; anything else passed in `extra=` is shown.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "correlation_id"}

# Libraries that log every request at INFO, drowning opsbot's own lines unless at DEBUG.
CHATTY = ("urllib3", "kubernetes", "httpx", "httpcore", "aiohttp.access", "slack_bolt", "slack_sdk")


def new_correlation_id(value: str | None = None) -> str:
    """Set the correlation id of the current context (a fresh one if `value` is None) and return it."""
    cid = value or uuid.uuid4().hex[:16]
    _correlation_id.set(cid)
    return cid


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def _scrub(value: Any) -> Any:
    """Redact every string inside a JSON-able value; other scalars pass as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class CorrelationFilter(logging.Filter):
    """Stamps the record with the correlation id of the context that logged it.

    Handlers run their filters in the logging thread, so the id is read where the call was made,
    even if a later handler (a queue) formats the record somewhere else.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = _correlation_id.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: `extra={"fields": {...}}` and any other extra keys."""
    fields: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _RECORD_ATTRS:
            continue
        if key == "fields" and isinstance(value, Mapping):
            fields.update({str(k): v for k, v in value.items()})
        else:
            fields[key] = value
    return fields


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, correlation_id, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _scrub(record.getMessage()),
            "correlation_id": getattr(record, "correlation_id", None),
        }
        for key, value in _fields(record).items():
            entry.setdefault(key, _scrub(value))
        if record.exc_info:
            entry["exc"] = _scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = _scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a terminal: `time level logger [correlation id] message key=value...`, redacted too."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        cid = getattr(record, "correlation_id", None)
        parts = [ts, f"{record.levelname:<7}", record.name]
        if cid:
            parts.append(f"[{cid}]")
        parts.append(_scrub(record.getMessage()))
        parts += [f"{k}={json.dumps(_scrub(v), default=str)}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + _scrub(self.formatException(record.exc_info))
        return line


def configure_logging(level: str = "INFO", *, json_lines: bool = True, stream: TextIO | None = None) -> None:
    """Send every log record of the process to `stream` (stderr by default) through one handler.

    stderr, because stdout carries the reports of the CLI (`--json`) and must stay parseable.
    Replaces the root logger's handlers, so calling it twice does not double the lines.
    Raises `ConfigError` for an unknown level.
    """
    name = level.upper()
    if name not in LEVELS:
        raise ConfigError("log level", f"{level!r} is not one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(JsonLineFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    for chatty in CHATTY:  # at DEBUG, someone is chasing a problem: let the libraries speak
        logging.getLogger(chatty).setLevel(logging.NOTSET if name == "DEBUG" else logging.WARNING)

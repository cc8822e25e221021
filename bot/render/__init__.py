"""One report -> Block Kit messages for Slack (one module per message family) or a terminal
(`terminal`). Pure: core models in, `Message` out; every piece of log or user text is redacted,
escaped and clipped on the way (`text`).

The names below are what the rest of opsbot uses. They are resolved on first use (PEP 562): the
Block Kit modules import slack_sdk (~130 ms), which a terminal-only command such as `opsbot debug`
never needs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.models import FileSnippet, Message
    from bot.render.checklist import checklist_chunks, checklist_messages
    from bot.render.findings import findings_messages, next_action_value, parse_next_action
    from bot.render.message import MAX_SECTION, ActionId, BlockId
    from bot.render.notes import (
        action_result_message,
        closed_message,
        incident_list_message,
        incident_status_message,
        note,
        note_message,
        postmortem_message,
        reopened_message,
        snapshot_message,
        usage_message,
    )
    from bot.render.progress import progress_message
    from bot.render.root import root_message, verdict, verdict_note
    from bot.render.text import clean, clip, code, escape, plain, text_length, user
    from bot.render.trace import trace_message

_WHERE = {
    "FileSnippet": "bot.models", "Message": "bot.models",
    "checklist_chunks": "bot.render.checklist", "checklist_messages": "bot.render.checklist",
    "findings_messages": "bot.render.findings", "next_action_value": "bot.render.findings",
    "parse_next_action": "bot.render.findings",
    "MAX_SECTION": "bot.render.message", "ActionId": "bot.render.message", "BlockId": "bot.render.message",
    "action_result_message": "bot.render.notes", "closed_message": "bot.render.notes",
    "reopened_message": "bot.render.notes", "snapshot_message": "bot.render.notes",
    "incident_list_message": "bot.render.notes", "incident_status_message": "bot.render.notes",
    "note": "bot.render.notes", "usage_message": "bot.render.notes",
    "note_message": "bot.render.notes", "postmortem_message": "bot.render.notes",
    "progress_message": "bot.render.progress",
    "root_message": "bot.render.root", "verdict": "bot.render.root", "verdict_note": "bot.render.root",
    "clean": "bot.render.text", "clip": "bot.render.text", "code": "bot.render.text", "escape": "bot.render.text",
    "plain": "bot.render.text", "text_length": "bot.render.text", "user": "bot.render.text",
    "trace_message": "bot.render.trace",
}

__all__ = [
    "MAX_SECTION",
    "ActionId",
    "BlockId",
    "FileSnippet",
    "Message",
    "action_result_message",
    "checklist_chunks",
    "checklist_messages",
    "clean",
    "clip",
    "closed_message",
    "code",
    "escape",
    "findings_messages",
    "incident_list_message",
    "incident_status_message",
    "next_action_value",
    "note",
    "note_message",
    "parse_next_action",
    "plain",
    "postmortem_message",
    "progress_message",
    "reopened_message",
    "root_message",
    "snapshot_message",
    "text_length",
    "trace_message",
    "usage_message",
    "user",
    "verdict",
    "verdict_note",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.render' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolved once
    return value

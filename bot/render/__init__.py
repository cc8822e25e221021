"""One report -> Block Kit messages for Slack (one module per message family) or a terminal
(`terminal`). Pure: core models in, `Message` out; every piece of log or user text is redacted,
escaped and clipped on the way (`text`). The names below are what the rest of opsbot uses."""

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
    usage_message,
)
from bot.render.progress import progress_message
from bot.render.root import root_message, verdict
from bot.render.text import clean, clip, code, escape, plain, text_length, user
from bot.render.trace import trace_message

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
    "parse_next_action",
    "plain",
    "progress_message",
    "root_message",
    "text_length",
    "trace_message",
    "usage_message",
    "user",
    "verdict",
]

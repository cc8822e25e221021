"""Text for mrkdwn: every piece of user or log text is redacted, escaped (`&`, `<`, `>`) and clipped here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.models import (
    BOT_USER,
)
from bot.redact import redact
from bot.render.message import MAX_SECTION

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")


def escape(text: str) -> str:
    """mrkdwn escaping: Slack reads `<...>` as links/mentions and `&` as an entity."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never leave half an entity (`&am`) behind: Slack would show it raw.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and len(cut) - amp < 5:
        cut = cut[:amp]
    return cut + "…"


def clean(text: str, limit: int | None = None) -> str:
    """Redact, escape for mrkdwn, clip: the path of every piece of user or log text."""
    out = escape(redact(text))
    return clip(out, limit) if limit is not None else out


def plain(text: str, limit: int) -> str:
    """For plain_text objects (headers, buttons): redacted and clipped; not mrkdwn, so not escaped."""
    return clip(redact(text), limit)


def code(text: str, limit: int) -> str:
    """A code block; a ``` inside would end it early, so break such runs up."""
    body = clean(text.replace("```", "`\u200b``"), limit - 6)
    return f"```{body}```"


def user(who: str | None) -> str:
    if not who:
        return "someone"
    if who == BOT_USER:
        return "opsbot"
    return f"<@{who}>" if _SLACK_USER.match(who) else clean(who, 40)


def hhmm(at: datetime | None) -> str:
    """When someone did something: "14:05 UTC", dated when it was not today."""
    from bot.render.verdict import stamp

    return stamp(at) if at else ""


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION)), block_id=block_id).to_dict()


def context(text: str, block_id: str | None = None) -> dict[str, Any]:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, MAX_SECTION))], block_id=block_id).to_dict()


def text_length(blocks: Iterable[dict[str, Any]]) -> int:
    """Characters of text in blocks: what Slack's msg_blocks_too_long limit counts."""

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            own = len(node["text"]) if node.get("type") in ("plain_text", "mrkdwn") else 0
            return own + sum(walk(v) for k, v in node.items() if k != "text" or not isinstance(v, str))
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return sum(walk(b) for b in blocks)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "output"

"""The incident checklist as checkboxes, split at Slack's 10-options cap."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    CheckboxesElement,
    MarkdownTextObject,
    Option,
)

from bot.models import (
    BOT_USER,
    ChecklistItem,
    Message,
)
from bot.render.message import MAX_OPTION_TEXT, MAX_OPTIONS, ActionId, BlockId
from bot.render.text import clean, clip, hhmm, section, user


def checklist_chunks(items: list[ChecklistItem]) -> list[list[ChecklistItem]]:
    """Items as split into messages: chunk n is message role "checklist:<n>", block "checklist:<n>"."""
    return [items[i : i + MAX_OPTIONS] for i in range(0, len(items), MAX_OPTIONS)]


def _description(item: ChecklistItem) -> str | None:
    if item.done and item.by not in (None, BOT_USER):
        return clip(f"ticked by {user(item.by)} {hhmm(item.at)}".strip(), MAX_OPTION_TEXT)
    if item.done:
        return clean(item.evidence, MAX_OPTION_TEXT) if item.evidence else "done by opsbot"
    if item.by not in (None, BOT_USER):
        return clip(f"unticked by {user(item.by)} {hhmm(item.at)}".strip(), MAX_OPTION_TEXT)
    return None


def _option(number: int, item: ChecklistItem) -> Option:
    description = _description(item)
    return Option(
        value=item.key[:150],
        text=MarkdownTextObject(text=clip(f"{number}. {clean(item.text)}", MAX_OPTION_TEXT)),
        description=MarkdownTextObject(text=description) if description else None,
    )


def checklist_messages(items: list[ChecklistItem]) -> list[Message]:
    """One message per 10 items (Slack's cap on a checkboxes element), ticked ones pre-selected."""
    done = sum(i.done for i in items)
    chunks = checklist_chunks(items)
    messages = []
    for n, chunk in enumerate(chunks):
        start = n * MAX_OPTIONS
        options = [_option(start + k + 1, item) for k, item in enumerate(chunk)]
        initial = [o for o, item in zip(options, chunk, strict=True) if item.done]
        head = f"*Checklist* · {done}/{len(items)} done"
        if len(chunks) > 1:
            head += f" · items {start + 1}–{start + len(chunk)}"
        element = CheckboxesElement(action_id=ActionId.CHECKLIST, options=options, initial_options=initial or None)
        blocks = [
            section(head),
            ActionsBlock(elements=[element], block_id=f"{BlockId.CHECKLIST}:{n}").to_dict(),
        ]
        messages.append(Message(text=f"Checklist: {done}/{len(items)} done", blocks=blocks))
    return messages

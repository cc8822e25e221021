"""Reading Slack interaction payloads: which message was acted on, and what a checkbox click changed."""

from __future__ import annotations

from typing import Any

from bot.models import ChecklistItem


def message_ts(body: dict[str, Any]) -> str:
    """The ts of the message an interaction happened on (its container, else the message itself)."""
    return str((body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts"))


def _checkbox_element(block: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    # Checkboxes may sit in a section's accessory, an actions block or an input block.
    candidates = [block.get("accessory"), block.get("element"), *(block.get("elements") or [])]
    for element in candidates:
        if isinstance(element, dict) and element.get("type") == "checkboxes" and element.get("action_id") == action_id:
            return element
    return None


def checklist_changes(
    action: dict[str, Any], message_blocks: list[dict[str, Any]] | None, stored: list[ChecklistItem]
) -> dict[str, bool]:
    """Which items one checkbox interaction ticked (True) or unticked (False).

    The payload carries the full selected set of that block only. Diffing it against the store
    would untick what someone else ticked a moment ago; diffing it against the options the person
    was shown (the message's initial_options) gives exactly what this person changed. Changes the
    store already holds are dropped, so a tick keeps who did it first."""
    selected = {str(o.get("value")) for o in action.get("selected_options") or []}
    state = {item.key: item.done for item in stored}
    element = None
    for block in message_blocks or []:
        if block.get("block_id") == action.get("block_id"):
            element = _checkbox_element(block, str(action.get("action_id", "")))
            break
    if element is not None:
        keys = {str(o.get("value")) for o in element.get("options") or []}
        seen = {str(o.get("value")) for o in element.get("initial_options") or []}
    else:  # no copy of the message: only what is selected now is certain
        keys, seen = set(selected), {k for k in selected if state.get(k)}
    changes = {key: key in selected for key in keys if (key in selected) != (key in seen)}
    return {key: done for key, done in changes.items() if key in state and state[key] != done}

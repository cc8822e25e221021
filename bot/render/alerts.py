"""Alerts in an incident thread: the lines of new and resolved alerts (one message a batch), and the
offer to close the incident once its alerts resolved and its findings stopped. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.alertmanager import Alert, describe
from bot.models import Incident, Message
from bot.render.message import MAX_BUTTON_VALUE, MAX_FALLBACK, ActionId, BlockId
from bot.render.text import clean, clip, section, user

MAX_LINES = 15  # a storm's batch shows this many lines; all of them are in the timeline
_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}

AlertChange = tuple[Literal["firing", "resolved"], Alert]


def alert_lines_message(changes: Sequence[AlertChange], *, receiver: str = "alertmanager") -> Message:
    """One line per new firing alert and per resolved one, as one message (a storm's alerts arrive in
    bursts; Slack takes about one post a second per channel)."""
    shown = [f"{_EMOJI[status]} *{status}* {clean(describe(alert), 300)}" for status, alert in changes[:MAX_LINES]]
    if len(changes) > MAX_LINES:
        shown.append(f"_…and {len(changes) - MAX_LINES} more (all of them are in the incident's timeline)_")
    firing = sum(1 for status, _ in changes if status == "firing")
    resolved = len(changes) - firing
    counts = " · ".join(p for p in (f"{firing} firing" if firing else "", f"{resolved} resolved" if resolved else "")
                        if p)
    head = f"*Alerts* from {clean(receiver, 60)} · {counts}"
    text = f"Alerts: {counts}: " + "; ".join(clean(describe(a), 120) for _, a in changes[:5])
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(head + "\n" + "\n".join(shown), BlockId.ALERTS)])


def unrouted_message(alerts: Sequence[Alert], service_labels: Sequence[str]) -> Message:
    """Firing alerts that name no service: said once in the channel, so that none goes unseen, with
    what would route them."""
    names = [f"{clean(describe(a), 200)}" for a in alerts[:MAX_LINES]]
    if len(alerts) > MAX_LINES:
        names.append(f"_…and {len(alerts) - MAX_LINES} more_")
    labels = ", ".join(f"`{clean(x, 60)}`" for x in service_labels[:6])
    how = f"Give the alert rule a label naming the service ({labels}) or map its alertname in `alerts.services`."
    head = (f":grey_question: *{len(alerts)} alert(s) name no service*, so no incident thread was opened for "
            f"{'it' if len(alerts) == 1 else 'them'}. {how}")
    text = f"{len(alerts)} alert(s) name no service: " + "; ".join(clean(describe(a), 120) for a in alerts[:5])
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(head + "\n" + "\n".join(names), BlockId.ALERTS)])


def truncated_message(left_out: int, shown: int) -> Message:
    """Alertmanager cut a group's notification (its webhook_config's max_alerts): say how much is unseen."""
    text = (f":warning: Alertmanager left out {left_out} alert(s) of a group (`max_alerts` in its webhook_config):"
            f" opsbot saw only the {shown} it sent. Raise `max_alerts` (0: all) to see every one.")
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(text)])


def fired_again_message(previous: Incident) -> Message:
    """The first line of a new alert thread when the service's last incident here was closed."""
    closed = f" at {previous.closed_at:%Y-%m-%d %H:%M} UTC" if previous.closed_at else ""
    text = (f":information_source: {clean(previous.service, 63)} fired again after incident #{previous.id} was closed"
            f"{closed} by {user(previous.closed_by)}: this is a new incident (its postmortem stays as it was)."
            f" To carry on in the old thread instead: `/incident reopen #{previous.id}`.")
    return Message(text=clip(text, MAX_FALLBACK), blocks=[section(text)])


def close_offer_message(incident: Incident, *, checked: str) -> Message:
    """Every alert of the incident resolved and a recheck found nothing still wrong: offer to close it.
    `checked` says what the recheck saw (plain text)."""
    text = (f":large_green_circle: All alerts of incident #{incident.id} ({clean(incident.service, 63)}) resolved,"
            f" and a recheck finds nothing wrong: {clean(checked, 300)}. Close the incident?")
    button = ButtonElement(
        text="Close incident",
        action_id=ActionId.INCIDENT_CLOSE,
        value=clip(str(incident.id), MAX_BUTTON_VALUE),
        style="primary",
    )
    return Message(
        text=clean(f"All alerts of incident #{incident.id} resolved: close it?", MAX_FALLBACK),
        blocks=[section(text, BlockId.CLOSE_OFFER), ActionsBlock(elements=[button]).to_dict()],
    )


def still_wrong_message(checked: str) -> Message:
    """Every alert resolved, but the recheck still sees findings: say so, offer nothing."""
    return Message(
        text=clean(f"Alerts resolved; findings remain: {checked}", MAX_FALLBACK),
        blocks=[section(f":large_yellow_circle: All alerts resolved, but a recheck still finds: {clean(checked, 500)}."
                        " The incident stays open.")],
    )

"""Slack's limits, and the action and block ids of opsbot's messages, in one place. (What a renderer
hands to a sink, `Message`, is a core model: bot.models.)"""

from __future__ import annotations

from enum import StrEnum

# Slack's limits, and the margins we keep below the undocumented ones.
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_OPTIONS = 10
MAX_OPTION_TEXT = 75
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_MESSAGE_TEXT = 12_000
TEXT_BUDGET = 11_000  # Slack answers msg_blocks_too_long "near" 12-13k: keep a margin
MAX_FALLBACK = 3000  # the notification text; Slack truncates at 40k but nobody reads that much
BUTTONS_PER_FINDING = 5


class ActionId(StrEnum):
    CHECKLIST = "checklist_toggle"  # the checkboxes element of every checklist block
    NEXT_STEP = "next_step"  # buttons are "next_step:<n>" (unique per button): match the prefix
    INCIDENT_CLOSE = "incident_close"  # the Close button offered once an incident's alerts resolved


class BlockId(StrEnum):
    ROOT = "root"
    STATUS = "status"
    PROGRESS = "progress"
    FINDINGS = "findings"
    FINDING = "finding"  # "finding:<n>"
    NEXT_STEPS = "next_steps"  # "next_steps:<n>", the buttons of finding n
    CHECKLIST = "checklist"  # "checklist:<chunk>": chunk n holds items [10n, 10n+10)
    ACTION_RESULT = "action_result"
    TRACE = "trace"  # the head of a trace listing; its lines follow in "trace:<n>"
    USAGE = "usage"
    ALERTS = "alerts"  # the lines of alerts that reached an incident thread
    CLOSE_OFFER = "close_offer"
    CHANGES = "changes"  # what changed: each finding's onset against the rollouts
    FIX = "fix"  # /verify's fix check: each finding before and since the newest rollout
    METRICS = "metrics"  # Prometheus readings, now vs an hour ago
    RUNS = "runs"  # /runs: a service's CI runs


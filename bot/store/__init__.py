"""The incident store: one SQLite file (WAL) that outlives restarts.

`incidents.IncidentStore` holds incidents, checklists, the timeline, the ts of the bot's messages
and the Slack event ids handled; `schema` its migrations; `aio.AsyncIncidentStore` the same
methods as coroutines, run off the event loop. The store does SQLite only.
"""

from bot.models import BOT_USER, Incident, TimelineEntry
from bot.store.aio import AsyncIncidentStore
from bot.store.incidents import IncidentStore
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "BOT_USER",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AsyncIncidentStore",
    "Incident",
    "IncidentStore",
    "TimelineEntry",
]

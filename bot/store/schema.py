"""The store's schema: each migration takes it from version N to N+1 (its index + 1) inside the
transaction that bumps `PRAGMA user_version`. Append new ones; never edit a released one."""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database


def _run(db: Database, script: str) -> None:
    # Not executescript(): it COMMITs first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.conn.execute(statement)


def _v1(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel TEXT NOT NULL,
            thread_ts TEXT NOT NULL,
            service TEXT NOT NULL,
            namespace TEXT NOT NULL,
            context TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            opened_by TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            closed_by TEXT,
            closed_at TEXT,
            summary TEXT,
            UNIQUE (channel, thread_ts)
        );
        CREATE TABLE checklist_items (
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            key TEXT NOT NULL,
            text TEXT NOT NULL,
            position INTEGER NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            evidence TEXT,
            by TEXT,
            at TEXT,
            PRIMARY KEY (incident_id, key)
        );
        CREATE TABLE timeline (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            by TEXT
        );
        CREATE TABLE messages (
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            role TEXT NOT NULL,
            ts TEXT NOT NULL,
            PRIMARY KEY (incident_id, role)
        );
        CREATE TABLE events (
            event_id TEXT PRIMARY KEY
        );
        """
    )


def _v2(db: Database) -> None:
    # When an event id was first seen, so old ids can be pruned (Slack retries within minutes),
    # and indexes for the two lookups every command makes.
    _run(
        db,
        """
        ALTER TABLE events ADD COLUMN seen_at TEXT;
        CREATE INDEX events_seen_at ON events(seen_at);
        CREATE INDEX timeline_incident ON timeline(incident_id, id);
        CREATE INDEX incidents_status_channel ON incidents(status, channel);
        CREATE TABLE health (id INTEGER PRIMARY KEY, at TEXT NOT NULL);
        """
    )


def _v3(db: Database) -> None:
    # The last report of each incident, so a thread re-rendered after a restart keeps its verdict.
    _run(
        db,
        """
        CREATE TABLE reports (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            at TEXT NOT NULL,
            body TEXT NOT NULL
        );
        """
    )


def _v4(db: Database) -> None:
    # The snapshot of each incident's last /debug (a scenario file, redacted), kept after it closes.
    _run(
        db,
        """
        CREATE TABLE snapshots (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            at TEXT NOT NULL,
            body TEXT NOT NULL
        );
        """
    )


MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)

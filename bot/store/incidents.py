"""The incident store: one SQLite file (sqlite-utils, WAL) that outlives restarts.

An incident is a Slack thread (channel, thread_ts). It keeps its checklist (who ticked what and
when), a timeline of everything that happened, the ts of each message the bot posted (so a restart
can still update them) and the event ids already handled (Slack retries deliveries; a retry must
never open a second thread).

Every write is one transaction. Read-modify-write paths (`tick`, `set_checklist`, `claim_event`)
take the write lock up front with `BEGIN IMMEDIATE`, so concurrent writers - threads, or several
processes on the same file - queue on `busy_timeout` instead of losing an update.
SQLite errors are translated here, once, into `bot.errors`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.errors import NotFoundError, OpsbotError, UnavailableError, UsageError
from bot.models import BOT_USER, ChecklistItem, Incident, Report, TimelineEntry
from bot.redact import redact
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

STATUSES = ("open", "closed", "report")  # report: a thread opsbot fills that is not an incident


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class IncidentStore:
    """Incidents, checklists, timeline, message ts and handled events in one SQLite file.

    Safe to share between threads (one connection, used under a lock); several stores (or
    processes) on one file coordinate through SQLite's own locking.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            # Our own connection rather than Database(path): check_same_thread=False lets async
            # callers hand calls to worker threads (asyncio.to_thread); the lock serialises them.
            conn = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False)
            self.db = Database(conn, recreate=False)
            with self._lock:
                self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                self.db.enable_wal()
                # WAL + NORMAL: a committed transaction survives the process being killed (what an
                # acknowledged tick needs); only a power loss could take the last commits back.
                self.db.execute("PRAGMA synchronous = NORMAL")
                self.db.execute("PRAGMA foreign_keys = ON")
                self._migrate()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    # --- plumbing -------------------------------------------------------------------------------

    def _translate(self, exc: sqlite3.Error) -> OpsbotError:
        text = str(exc)
        lowered = text.lower()
        where = f"incident store {self.path}"
        if "locked" in lowered or "busy" in lowered:
            return UnavailableError(f"{where} is busy (another writer holds it): try again")
        if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
            return UnavailableError(f"{where} is not writable ({text}): check the path and its permissions")
        if "not a database" in lowered or "malformed" in lowered:
            return UnavailableError(f"{where} is not a valid SQLite database ({text})")
        return UnavailableError(f"{where} failed: {text}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from the start (BEGIN IMMEDIATE)."""
        with self._lock:
            conn = self.db.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._translate(exc) from exc
                raise

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                return list(self.db.query(sql, params))
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UnavailableError(
                    f"incident store {self.path} has schema version {version}, newer than this "
                    f"opsbot understands ({SCHEMA_VERSION}): upgrade opsbot"
                )
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(self.db)
                conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # --- incidents ------------------------------------------------------------------------------

    @staticmethod
    def _incident(row: dict[str, Any]) -> Incident:
        return Incident(
            id=row["id"],
            channel=row["channel"],
            thread_ts=row["thread_ts"],
            service=row["service"],
            namespace=row["namespace"],
            context=row["context"],
            status=row["status"],
            opened_by=row["opened_by"],
            opened_at=_dt(row["opened_at"]) or _now(),
            closed_by=row["closed_by"],
            closed_at=_dt(row["closed_at"]),
            summary=row["summary"],
        )

    def open_incident(
        self,
        *,
        channel: str,
        thread_ts: str,
        service: str,
        namespace: str,
        context: str | None,
        opened_by: str,
        checklist: list[ChecklistItem],
        status: str = "open",
    ) -> Incident:
        """Open the incident of a thread; for a thread that already has one, merge the checklist
        into it and return it (so a repeated command never fails or duplicates). The subject (a
        service, or a traced correlation id) is stored redacted, as everything typed or logged.
        `status="report"`: the thread is recorded (its messages, checklist and buttons work) but is no
        incident: /incident never lists, closes or answers about it, until `promote` makes it one."""
        service = redact(service)
        with self._write() as conn:
            row = conn.execute(
                "SELECT id FROM incidents WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
            ).fetchone()
            if row is None:
                now = _iso(_now())
                cursor = conn.execute(
                    "INSERT INTO incidents (channel, thread_ts, service, namespace, context, status,"
                    " opened_by, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (channel, thread_ts, service, namespace, context, status, opened_by, now),
                )
                incident_id = int(cursor.lastrowid or 0)
                if status == "open":
                    conn.execute(
                        "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, 'open', ?, ?)",
                        (incident_id, now, f"opened for {service} in {namespace}", opened_by),
                    )
            else:
                incident_id = int(row[0])
            self._merge_checklist(conn, incident_id, checklist)
        return self.incident(incident_id)

    def get_incident(self, channel: str, thread_ts: str) -> Incident | None:
        rows = self._read(
            "SELECT * FROM incidents WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        )
        return self._incident(rows[0]) if rows else None

    def incident(self, incident_id: int) -> Incident:
        rows = self._read("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if not rows:
            raise NotFoundError(f"incident #{incident_id} does not exist")
        return self._incident(rows[0])

    def list_incidents(self, *, channel: str | None = None, status: str | None = "open") -> list[Incident]:
        """Newest first. `status=None` lists open and closed ones."""
        if status is not None and status not in STATUSES:
            raise UsageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        where, params = [], []
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._incident(r) for r in self._read(sql + " ORDER BY id DESC", tuple(params))]

    def promote(self, incident_id: int, *, by: str) -> Incident:
        """Make a report thread an incident (a /debug in it found its service); an incident stays as it is."""
        with self._write() as conn:
            row = conn.execute("SELECT status, service, namespace FROM incidents WHERE id = ?",
                               (incident_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"incident #{incident_id} does not exist")
            if row[0] == "report":
                now = _iso(_now())
                conn.execute("UPDATE incidents SET status = 'open', opened_at = ?, opened_by = ? WHERE id = ?",
                             (now, by, incident_id))
                conn.execute(
                    "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, 'open', ?, ?)",
                    (incident_id, now, f"opened for {row[1]} in {row[2]}", by),
                )
        return self.incident(incident_id)

    def reopen_incident(self, incident_id: int, *, by: str) -> Incident:
        """Open a closed incident again (its checklist and timeline go on where they were)."""
        with self._write() as conn:
            row = conn.execute("SELECT status FROM incidents WHERE id = ?", (incident_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"incident #{incident_id} does not exist")
            if row[0] == "open":
                raise UsageError(f"incident #{incident_id} is open already")
            if row[0] == "report":
                raise UsageError(f"#{incident_id} is a report thread, not an incident")
            conn.execute("UPDATE incidents SET status = 'open', closed_by = NULL, closed_at = NULL WHERE id = ?",
                         (incident_id,))
            conn.execute(
                "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, 'reopen', 'reopened', ?)",
                (incident_id, _iso(_now()), by),
            )
        return self.incident(incident_id)

    def close_incident(self, incident_id: int, *, by: str, summary: str | None) -> Incident:
        """Close an incident with the summary someone typed (stored redacted)."""
        summary = redact(summary) if summary is not None else None
        with self._write() as conn:
            row = conn.execute(
                "SELECT status, closed_by FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"incident #{incident_id} does not exist")
            if row[0] == "closed":
                raise UsageError(f"incident #{incident_id} is already closed (by {row[1]})")
            if row[0] == "report":
                raise UsageError(f"#{incident_id} is a report thread, not an incident: there is nothing to close")
            now = _iso(_now())
            conn.execute(
                "UPDATE incidents SET status = 'closed', closed_by = ?, closed_at = ?, summary = ?"
                " WHERE id = ?",
                (by, now, summary, incident_id),
            )
            conn.execute(
                "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, 'close', ?, ?)",
                (incident_id, now, summary or "closed", by),
            )
        return self.incident(incident_id)

    def _require(self, conn: sqlite3.Connection, incident_id: int) -> None:
        if conn.execute("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)).fetchone() is None:
            raise NotFoundError(f"incident #{incident_id} does not exist")

    # --- messages -------------------------------------------------------------------------------

    def set_message(self, incident_id: int, role: str, ts: str) -> None:
        with self._write() as conn:
            self._require(conn, incident_id)
            conn.execute(
                "INSERT INTO messages (incident_id, role, ts) VALUES (?, ?, ?)"
                " ON CONFLICT (incident_id, role) DO UPDATE SET ts = excluded.ts",
                (incident_id, role, ts),
            )

    def save_report(self, incident_id: int, report: Report) -> None:
        """Keep the report the incident's root message shows (without the raw logs, which are never
        serialised), to render the root again on close or after a restart."""
        with self._write() as conn:
            self._require(conn, incident_id)
            conn.execute(
                "INSERT INTO reports (incident_id, at, body) VALUES (?, ?, ?)"
                " ON CONFLICT (incident_id) DO UPDATE SET at = excluded.at, body = excluded.body",
                (incident_id, _now().isoformat(), report.model_dump_json()),
            )

    def last_report(self, incident_id: int) -> Report | None:
        rows = self._read("SELECT body FROM reports WHERE incident_id = ?", (incident_id,))
        return Report.model_validate_json(rows[0]["body"]) if rows else None

    def save_snapshot(self, incident_id: int, body: str) -> None:
        """Keep the incident's snapshot (the scenario file of its last /debug, already redacted): it
        outlives the incident's close, for `/incident snapshot` and replays."""
        with self._write() as conn:
            self._require(conn, incident_id)
            conn.execute(
                "INSERT INTO snapshots (incident_id, at, body) VALUES (?, ?, ?)"
                " ON CONFLICT (incident_id) DO UPDATE SET at = excluded.at, body = excluded.body",
                (incident_id, _now().isoformat(), body),
            )

    def snapshot(self, incident_id: int) -> tuple[datetime, str] | None:
        """When the incident's snapshot was taken, and the file; None if it has none."""
        rows = self._read("SELECT at, body FROM snapshots WHERE incident_id = ?", (incident_id,))
        return (datetime.fromisoformat(rows[0]["at"]), rows[0]["body"]) if rows else None

    def messages(self, incident_id: int) -> dict[str, str]:
        rows = self._read("SELECT role, ts FROM messages WHERE incident_id = ? ORDER BY role", (incident_id,))
        return {r["role"]: r["ts"] for r in rows}

    def incident_for_message(self, channel: str, ts: str) -> Incident | None:
        """The incident owning a message the bot posted (a button press names only the message)."""
        rows = self._read(
            "SELECT i.* FROM incidents i JOIN messages m ON m.incident_id = i.id"
            " WHERE i.channel = ? AND m.ts = ? ORDER BY i.id DESC LIMIT 1",
            (channel, ts),
        )
        return self._incident(rows[0]) if rows else None

    # --- checklist ------------------------------------------------------------------------------

    @staticmethod
    def _item(row: Any) -> ChecklistItem:
        return ChecklistItem(
            key=row["key"],
            text=row["text"],
            done=bool(row["done"]),
            evidence=row["evidence"],
            by=row["by"],
            at=_dt(row["at"]),
        )

    def checklist(self, incident_id: int) -> list[ChecklistItem]:
        rows = self._read(
            "SELECT * FROM checklist_items WHERE incident_id = ? ORDER BY position, key", (incident_id,)
        )
        return [self._item(r) for r in rows]

    def set_checklist(self, incident_id: int, items: list[ChecklistItem]) -> None:
        """Merge the bot's results: new items are added, items the bot completed gain their tick
        and evidence. An item a person ticked or unticked is left exactly as the person left it,
        and the bot never unticks anything."""
        with self._write() as conn:
            self._require(conn, incident_id)
            self._merge_checklist(conn, incident_id, items)

    def _merge_checklist(
        self, conn: sqlite3.Connection, incident_id: int, items: list[ChecklistItem]
    ) -> None:
        conn.row_factory = sqlite3.Row
        try:
            existing = {
                r["key"]: r
                for r in conn.execute("SELECT * FROM checklist_items WHERE incident_id = ?", (incident_id,))
            }
        finally:
            conn.row_factory = None
        next_position = max((r["position"] for r in existing.values()), default=-1) + 1
        for item in items:
            row = existing.get(item.key)
            at = _iso(item.at or _now()) if item.done else None
            by = (item.by or BOT_USER) if item.done else None
            if row is None:
                conn.execute(
                    "INSERT INTO checklist_items (incident_id, key, text, position, done, evidence, by, at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (incident_id, item.key, item.text, next_position, int(item.done), item.evidence, by, at),
                )
                next_position += 1
                if item.done:
                    conn.execute(
                        "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, 'tick', ?, ?)",
                        (incident_id, at, self._tick_text(item.text, True, item.evidence), by),
                    )
                continue
            touched_by_person = row["by"] is not None and row["by"] != BOT_USER
            if touched_by_person or row["done"] or not item.done:
                continue
            conn.execute(
                "UPDATE checklist_items SET done = 1, evidence = ?, by = ?, at = ?"
                " WHERE incident_id = ? AND key = ?",
                (item.evidence, by, at, incident_id, item.key),
            )
            conn.execute(
                "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, 'tick', ?, ?)",
                (incident_id, at, self._tick_text(row["text"], True, item.evidence), by),
            )

    @staticmethod
    def _tick_text(text: str, done: bool, evidence: str | None = None) -> str:
        line = f"{'ticked' if done else 'unticked'}: {text}"
        return f"{line} ({evidence})" if evidence else line

    def tick(self, incident_id: int, key: str, *, done: bool, by: str) -> ChecklistItem:
        """A person ticks or unticks one item; records who and when, in the item and the timeline."""
        return self.tick_many(incident_id, {key: done}, by=by)[0]

    def tick_many(self, incident_id: int, changes: Mapping[str, bool], *, by: str) -> list[ChecklistItem]:
        """Every tick and untick of one interaction, in ONE transaction: all are recorded, or none.

        An unknown key rolls the whole interaction back (NotFoundError): a checklist message that no
        longer matches the store must not half-apply. A closed incident refuses (UsageError): its
        checklist is its record. Returns the changed items, in the order given."""
        with self._write() as conn:
            status = conn.execute("SELECT status FROM incidents WHERE id = ?", (incident_id,)).fetchone()
            if status is None:
                raise NotFoundError(f"incident #{incident_id} does not exist")
            if status[0] == "closed":
                raise UsageError(f"incident #{incident_id} is closed: its checklist is kept as it was")
            now = _iso(_now())
            conn.row_factory = sqlite3.Row
            try:
                changed = []
                for key, done in changes.items():
                    row = conn.execute(
                        "SELECT text FROM checklist_items WHERE incident_id = ? AND key = ?", (incident_id, key)
                    ).fetchone()
                    if row is None:
                        raise NotFoundError(f"incident #{incident_id} has no checklist item {key!r}")
                    conn.execute(
                        "UPDATE checklist_items SET done = ?, by = ?, at = ? WHERE incident_id = ? AND key = ?",
                        (int(done), by, now, incident_id, key),
                    )
                    conn.execute(
                        "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, ?, ?, ?)",
                        (incident_id, now, "tick" if done else "untick", self._tick_text(row["text"], done), by),
                    )
                    changed.append(conn.execute(
                        "SELECT * FROM checklist_items WHERE incident_id = ? AND key = ?", (incident_id, key)
                    ).fetchone())
            finally:
                conn.row_factory = None
        return [self._item(row) for row in changed]

    # --- timeline and events --------------------------------------------------------------------

    def add_timeline(self, incident_id: int, kind: str, text: str, *, by: str | None = None) -> None:
        with self._write() as conn:
            self._require(conn, incident_id)
            conn.execute(
                "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, ?, ?, ?)",
                (incident_id, _iso(_now()), kind, redact(text), by),
            )

    def add_timeline_many(self, incident_id: int, entries: list[tuple[str, str, str | None]]) -> None:
        """Several (kind, text, by) entries in one transaction (a run's steps and findings)."""
        now = _iso(_now())
        with self._write() as conn:
            self._require(conn, incident_id)
            conn.executemany(
                "INSERT INTO timeline (incident_id, at, kind, text, by) VALUES (?, ?, ?, ?, ?)",
                [(incident_id, now, kind, redact(text), by) for kind, text, by in entries],
            )

    def timeline(self, incident_id: int) -> list[TimelineEntry]:
        rows = self._read("SELECT * FROM timeline WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [
            TimelineEntry(at=_dt(r["at"]) or _now(), kind=r["kind"], text=r["text"], by=r["by"]) for r in rows
        ]

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen, False for every later delivery of it."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO events (event_id, seen_at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
                (event_id, _iso(_now())),
            )
            return cursor.rowcount == 1

    def prune_events(self, older_than: datetime) -> int:
        """Forget event ids first seen before `older_than` (Slack stops retrying after minutes)."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM events WHERE seen_at < ?", (_iso(older_than),))
            return cursor.rowcount

    def healthy(self) -> bool:
        """The file takes a write right now (for /readyz)."""
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO health (id, at) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    (_iso(_now()),),
                )
        except (OpsbotError, sqlite3.Error):
            return False
        return True

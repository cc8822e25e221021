"""The incident store against a real SQLite file in a temp dir."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.errors import NotFoundError, UnavailableError, UsageError
from bot.models import ChecklistItem
from bot.store import BOT_USER, MIGRATIONS, SCHEMA_VERSION, AsyncIncidentStore, Incident, IncidentStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "opsbot.db"


@pytest.fixture
def store(db_path: Path) -> IncidentStore:
    return IncidentStore(db_path)


def items(n: int = 3, *, done: tuple[int, ...] = ()) -> list[ChecklistItem]:
    return [
        ChecklistItem(
            key=f"k{i}",
            text=f"Step {i}",
            done=i in done,
            evidence=f"evidence {i}" if i in done else None,
            by=BOT_USER if i in done else None,
        )
        for i in range(n)
    ]


def open_one(
    store: IncidentStore, checklist: list[ChecklistItem] | None = None, ts: str = "1700000000.000100"
) -> Incident:
    return store.open_incident(
        channel="C1",
        thread_ts=ts,
        service="taskflow-api",
        namespace="taskflow",
        context=None,
        opened_by="U1",
        checklist=items() if checklist is None else checklist,
    )


def test_open_incident_is_found_by_thread_and_id(store: IncidentStore) -> None:
    incident = open_one(store)
    assert incident.status == "open"
    assert incident.opened_by == "U1"
    assert store.get_incident("C1", "1700000000.000100") == incident
    assert store.incident(incident.id) == incident
    assert store.get_incident("C1", "other") is None


def test_opening_the_same_thread_twice_returns_the_one_incident(store: IncidentStore) -> None:
    first = open_one(store, items(2))
    again = open_one(store, items(4))
    assert again.id == first.id
    assert [i.key for i in store.checklist(first.id)] == ["k0", "k1", "k2", "k3"]
    assert len(store.list_incidents()) == 1


def test_missing_incident_is_not_found(store: IncidentStore) -> None:
    with pytest.raises(NotFoundError, match="#42"):
        store.incident(42)
    with pytest.raises(NotFoundError):
        store.tick(42, "k0", done=True, by="U1")
    with pytest.raises(NotFoundError):
        store.add_timeline(42, "command", "/debug x")


def test_list_filters_by_channel_and_status(store: IncidentStore) -> None:
    a = open_one(store, ts="1")
    b = store.open_incident(
        channel="C2", thread_ts="2", service="web", namespace="ns", context="prod", opened_by="U2",
        checklist=[],
    )
    store.close_incident(a.id, by="U1", summary="fixed pool")
    assert [i.id for i in store.list_incidents()] == [b.id]
    assert [i.id for i in store.list_incidents(status="closed")] == [a.id]
    assert [i.id for i in store.list_incidents(status=None)] == [b.id, a.id]
    assert [i.id for i in store.list_incidents(channel="C1", status=None)] == [a.id]
    with pytest.raises(UsageError, match="status must be"):
        store.list_incidents(status="bogus")


def test_close_records_who_when_and_why_once(store: IncidentStore) -> None:
    incident = open_one(store)
    closed = store.close_incident(incident.id, by="U9", summary="fixed pool")
    assert (closed.status, closed.closed_by, closed.summary) == ("closed", "U9", "fixed pool")
    assert closed.closed_at is not None
    assert store.timeline(incident.id)[-1].kind == "close"
    with pytest.raises(UsageError, match="already closed"):
        store.close_incident(incident.id, by="U1", summary=None)


def test_messages_per_role_are_replaced_and_found(store: IncidentStore) -> None:
    incident = open_one(store)
    store.set_message(incident.id, "root", "1.1")
    store.set_message(incident.id, "progress", "1.2")
    store.set_message(incident.id, "progress", "1.3")
    store.set_message(incident.id, "checklist:0", "1.4")
    assert store.messages(incident.id) == {"root": "1.1", "progress": "1.3", "checklist:0": "1.4"}
    assert store.incident_for_message("C1", "1.4") == incident
    assert store.incident_for_message("C1", "9.9") is None


def test_tick_records_who_and_when_in_item_and_timeline(store: IncidentStore) -> None:
    incident = open_one(store)
    item = store.tick(incident.id, "k1", done=True, by="U123")
    assert item.done and item.by == "U123" and item.at is not None
    item = store.tick(incident.id, "k1", done=False, by="U124")
    assert not item.done and item.by == "U124"
    kinds = [(e.kind, e.by) for e in store.timeline(incident.id)]
    assert kinds[-2:] == [("tick", "U123"), ("untick", "U124")]
    with pytest.raises(NotFoundError, match="no checklist item 'nope'"):
        store.tick(incident.id, "nope", done=True, by="U1")


def test_tick_many_applies_one_interaction_in_one_transaction(store: IncidentStore) -> None:
    incident = open_one(store)
    changed = store.tick_many(incident.id, {"k0": True, "k2": True}, by="U7")
    assert [(i.key, i.done, i.by) for i in changed] == [("k0", True, "U7"), ("k2", True, "U7")]
    assert [i.done for i in store.checklist(incident.id)] == [True, False, True]
    assert [e.text for e in store.timeline(incident.id) if e.kind == "tick"] == ["ticked: Step 0", "ticked: Step 2"]


def test_tick_many_with_an_unknown_key_changes_nothing(store: IncidentStore) -> None:
    incident = open_one(store)
    before = store.timeline(incident.id)
    with pytest.raises(NotFoundError, match="no checklist item 'gone'"):
        store.tick_many(incident.id, {"k0": True, "gone": True, "k1": True}, by="U7")
    assert [i.done for i in store.checklist(incident.id)] == [False, False, False]
    assert store.timeline(incident.id) == before


def test_a_closed_incidents_checklist_is_not_ticked(store: IncidentStore) -> None:
    incident = open_one(store)
    store.close_incident(incident.id, by="U9", summary="fixed")
    with pytest.raises(UsageError, match="is closed"):
        store.tick_many(incident.id, {"k0": True}, by="U7")
    assert not any(i.done for i in store.checklist(incident.id))


async def test_the_async_facade_runs_the_same_store_off_the_event_loop(store: IncidentStore) -> None:
    db = AsyncIncidentStore(store)
    try:
        loop_thread = threading.get_ident()
        incident = await db.open_incident(channel="C1", thread_ts="1.2", service="api", namespace="ns", context=None,
                                          opened_by="U1", checklist=items())
        assert await db.get_incident("C1", "1.2") == incident
        changed = await db.tick_many(incident.id, {"k1": True}, by="U2")
        assert [i.key for i in changed] == ["k1"]
        assert [i.done for i in await db.checklist(incident.id)] == [False, True, False]
        assert await db.claim_event("Ev1") and not await db.claim_event("Ev1")
        # the calls ran on the store's own thread, not the loop's
        ran_on = await db._run(threading.get_ident)
        assert ran_on != loop_thread
    finally:
        db.close()


def test_set_checklist_adds_bot_results_but_never_overrides_a_person(store: IncidentStore) -> None:
    incident = open_one(store, items(4))
    store.tick(incident.id, "k0", done=True, by="U1")  # a person ticked
    store.tick(incident.id, "k1", done=False, by="U2")  # a person unticked on purpose
    bot = [
        ChecklistItem(key="k0", text="Step 0", done=False),  # bot does not know: must stay ticked
        ChecklistItem(key="k1", text="Step 1", done=True, evidence="bot thinks so", by=BOT_USER),
        ChecklistItem(key="k2", text="Step 2", done=True, evidence="3 pods", by=BOT_USER),
        ChecklistItem(key="k3", text="Step 3", done=False),
        ChecklistItem(key="k4", text="Step 4", done=True, evidence="new", by=BOT_USER),
    ]
    store.set_checklist(incident.id, bot)
    got = {i.key: i for i in store.checklist(incident.id)}
    assert (got["k0"].done, got["k0"].by) == (True, "U1")
    assert (got["k1"].done, got["k1"].by, got["k1"].evidence) == (False, "U2", None)
    assert (got["k2"].done, got["k2"].by, got["k2"].evidence) == (True, BOT_USER, "3 pods")
    assert not got["k3"].done
    assert (got["k4"].done, got["k4"].evidence) == (True, "new")
    assert list(got) == ["k0", "k1", "k2", "k3", "k4"]  # order kept, new items appended


def test_bot_never_unticks_its_own_earlier_result(store: IncidentStore) -> None:
    incident = open_one(store, items(2, done=(0,)))
    store.set_checklist(incident.id, items(2))
    assert store.checklist(incident.id)[0].done


def test_twenty_concurrent_ticks_from_separate_connections_all_land(db_path: Path) -> None:
    setup = IncidentStore(db_path)
    incident = open_one(setup, items(20))
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def tick(n: int) -> None:
        try:
            own = IncidentStore(db_path)
            barrier.wait()
            own.tick(incident.id, f"k{n}", done=True, by=f"U{n}")
            own.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    checklist = IncidentStore(db_path).checklist(incident.id)
    assert all(item.done for item in checklist)
    assert {item.by for item in checklist} == {f"U{n}" for n in range(20)}


def test_one_store_shared_by_threads(store: IncidentStore) -> None:
    incident = open_one(store, items(10))
    threads = [
        threading.Thread(target=store.tick, args=(incident.id, f"k{n}"), kwargs={"done": True, "by": "U1"})
        for n in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(item.done for item in store.checklist(incident.id))


def test_restart_keeps_everything(db_path: Path) -> None:
    before = IncidentStore(db_path)
    incident = open_one(before)
    before.tick(incident.id, "k2", done=True, by="U7")
    before.set_message(incident.id, "root", "1.1")
    before.add_timeline(incident.id, "finding", "QueuePool exhausted", by=BOT_USER)
    assert before.claim_event("Ev1")
    before.close()

    after = IncidentStore(db_path)
    assert after.get_incident("C1", incident.thread_ts) == incident
    assert after.checklist(incident.id)[2].by == "U7"
    assert after.messages(incident.id) == {"root": "1.1"}
    assert after.timeline(incident.id)[-1].text == "QueuePool exhausted"
    assert not after.claim_event("Ev1")


def test_claim_event_is_true_only_the_first_time(store: IncidentStore) -> None:
    assert store.claim_event("Ev1")
    assert not store.claim_event("Ev1")
    assert store.claim_event("Ev2")


def test_claim_event_under_concurrency_has_one_winner(db_path: Path) -> None:
    IncidentStore(db_path)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        own = IncidentStore(db_path)
        barrier.wait()
        wins.append(own.claim_event("EvSame"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_prune_events_forgets_old_ids(store: IncidentStore) -> None:
    store.claim_event("old")
    assert store.prune_events(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert store.claim_event("old")


def test_file_is_wal_and_at_current_schema(store: IncidentStore, db_path: Path) -> None:
    assert store.db.journal_mode == "wal"
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_v1_file_opens_and_migrates(db_path: Path) -> None:
    # Write a file exactly as version 1 of the schema left it, with data in it.
    conn = sqlite3.connect(db_path)
    conn.execute("BEGIN")
    MIGRATIONS[0](Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO incidents (channel, thread_ts, service, namespace, status, opened_by, opened_at)"
        " VALUES ('C1', '5.5', 'web', 'ns', 'open', 'U1', '2026-01-02T03:04:05+00:00')"
    )
    conn.execute("INSERT INTO checklist_items (incident_id, key, text, position) VALUES (1, 'a', 'A', 0)")
    conn.execute("INSERT INTO events (event_id) VALUES ('EvOld')")
    conn.execute("COMMIT")
    conn.close()

    store = IncidentStore(db_path)
    assert store.schema_version == SCHEMA_VERSION
    incident = store.get_incident("C1", "5.5")
    assert incident is not None and incident.service == "web"
    assert store.tick(incident.id, "a", done=True, by="U2").done
    assert not store.claim_event("EvOld")
    assert store.claim_event("EvNew")
    assert store.healthy()


def test_a_newer_schema_is_refused_clearly(db_path: Path) -> None:
    IncidentStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(UnavailableError, match="newer than this opsbot"):
        IncidentStore(db_path)


def test_unopenable_path_is_unavailable_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "opsbot.db"
    with pytest.raises(UnavailableError, match=re.escape(str(path))) as info:
        IncidentStore(path)
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_sqlite_is_unavailable(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(UnavailableError, match=re.escape(str(db_path))):
        IncidentStore(db_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_read_only_file_is_unavailable(db_path: Path) -> None:
    IncidentStore(db_path).close()
    db_path.chmod(0o444)
    with pytest.raises(UnavailableError, match="not writable"):
        IncidentStore(db_path)


def test_healthy_is_false_while_another_writer_holds_the_file(db_path: Path) -> None:
    store = IncidentStore(db_path, busy_timeout=0.05)
    assert store.healthy()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert not store.healthy()
        with pytest.raises(UnavailableError, match="busy"):
            store.claim_event("Ev1")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.healthy()


def test_the_last_report_survives_a_restart(db_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.models import Finding, LogLine, LogSnapshot, Report

    first = IncidentStore(db_path)
    incident = open_one(first)
    assert first.last_report(incident.id) is None
    report = Report(service="taskflow-api", namespace="taskflow", started_at=datetime.now(UTC),
                    findings=[Finding(pattern="oom-killed", title="OOMKilled", count=2)],
                    logs=[LogSnapshot(pod="p", container="api", lines=[LogLine(None, "raw")])])
    first.save_report(incident.id, report)
    first.save_report(incident.id, report.model_copy(update={"service": "taskflow-api", "duration_ms": 5.0}))
    first.close()
    again = IncidentStore(db_path).last_report(incident.id)
    assert again is not None
    assert again.findings[0].pattern == "oom-killed" and again.duration_ms == 5.0
    assert again.logs == []  # raw log tails are never stored


def test_what_people_typed_is_stored_redacted(store: IncidentStore, db_path: Path) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    incident = store.open_incident(channel="C1", thread_ts="1.0", service=f"req-{token}", namespace="taskflow",
                                   context=None, opened_by="U1", checklist=[])
    store.add_timeline(incident.id, "note", f"used password=hunter2hunter2 and {token}", by="U1")
    store.close_incident(incident.id, by="U1", summary=f"rotated {token}")
    store.close()
    raw = db_path.read_bytes() + b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "-*"))
    assert token.encode() not in raw and b"hunter2hunter2" not in raw

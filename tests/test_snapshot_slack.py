"""In Slack: every /debug keeps its incident's snapshot (the store), a closed incident keeps it, and
`/incident snapshot` attaches it to the thread as a file (files upload v2, to the fake Slack Web API)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import yaml

from bot.sandbox.scenario import validate_scenario
from bot.slack import SlackSink
from tests.fakes.slack import FakeSlack
from tests.test_slackapp import CHANNEL, Bot, bot, debug_thread, event_body, thread_messages

__all__ = ["bot"]  # the fixture, used by name below


async def test_a_closed_incident_keeps_its_snapshot_and_attaches_it_as_a_file(bot: Bot, fake: FakeSlack) -> None:
    root = await debug_thread(bot)
    kept = bot.store.snapshot(1)
    assert kept is not None
    _, body = kept
    assert "s3cr3t-pass" not in body  # redacted before it was stored
    scenario = validate_scenario(yaml.safe_load(body), datetime.now(UTC), "kept")
    assert scenario.capture is not None and scenario.capture.service == "taskflow-api"

    await bot.command("/incident", "close fixed the pool")
    await bot.service.drain()
    assert bot.store.incident(1).status == "closed" and bot.store.snapshot(1) == kept

    answer = await (await bot.command("/incident", "snapshot #1")).json()
    assert "Attaching the snapshot of incident #1" in answer["text"]
    await bot.service.drain()
    (upload,) = [f for f in fake.files.values() if f.filename == "incident-1-taskflow-api.yaml"]
    assert upload.completed and upload.thread_ts == root["ts"]
    assert upload.content is not None and upload.content.decode() == body
    said = [m for m in thread_messages(bot, root["ts"]) if "Snapshot of incident #1" in m.get("text", "")]
    assert said and "--scenario incident-1-taskflow-api.yaml" in str(said[-1]["blocks"])
    assert any(e.kind == "snapshot" for e in bot.store.timeline(1))


async def test_incident_snapshot_without_one_or_with_bad_input_is_an_ephemeral_answer(bot: Bot) -> None:
    bad = await (await bot.command("/incident", "snapshot twelve")).json()
    assert bad["response_type"] == "ephemeral" and "snapshot takes an incident id" in bad["text"]
    nothing = await (await bot.command("/incident", "snapshot #7")).json()
    assert nothing["response_type"] == "ephemeral"


async def test_a_debug_in_the_incident_thread_refreshes_its_snapshot(bot: Bot, fake: FakeSlack) -> None:
    root = await debug_thread(bot)
    first = bot.store.snapshot(1)
    assert first is not None
    mention = event_body("<@U0BOT> debug taskflow-api", event_id="Ev0AGAIN", thread_ts=root["ts"])
    assert (await bot.event(mention)).status == 200
    await bot.service.drain()
    assert len(bot.store.list_incidents()) == 1  # the same incident, in the same thread
    again = bot.store.snapshot(1)
    assert again is not None and again[0] > first[0]  # the later /debug's capture is what is kept
    captured = [str(yaml.safe_load(body)["capture"]["at"]) for _, body in (first, again)]
    assert captured[1] > captured[0]

    answer = await (await bot.command("/incident", "snapshot #1")).json()
    assert "Attaching the snapshot of incident #1" in answer["text"]
    await bot.service.drain()
    (upload,) = [f for f in fake.files.values() if f.filename == "incident-1-taskflow-api.yaml"]
    assert upload.content is not None and upload.content.decode() == again[1]


async def test_a_snapshot_waits_for_other_work_and_is_made_at_once_when_asked_for(bot: Bot, fake: FakeSlack) -> None:
    """While other work runs (here: a task that waits for the test), a /debug's snapshot is not made;
    `/incident snapshot` makes it on the spot from that /debug, and the wait then has nothing left to do."""
    busy = asyncio.Event()
    bot.service.spawn(busy.wait(), sink=SlackSink(bot.client, CHANNEL), user="U0OTHER", command="other", count=False)
    response = await bot.command("/debug", "taskflow-api")
    assert response.status == 200
    for _ in range(600):  # the thread is complete and its snapshot waits for the other work
        if 1 in bot.service._snapshots:
            break
        await asyncio.sleep(0.05)
    assert 1 in bot.service._snapshots and bot.store.snapshot(1) is None

    answer = await (await bot.command("/incident", "snapshot #1")).json()
    assert "Attaching the snapshot of incident #1" in answer["text"]
    for _ in range(600):  # attached by a task of its own, while the other work still runs
        if any(e.kind == "snapshot" for e in bot.store.timeline(1)):
            break
        await asyncio.sleep(0.05)
    kept = bot.store.snapshot(1)
    assert 1 not in bot.service._snapshots and kept is not None and "s3cr3t-pass" not in kept[1]
    busy.set()
    await bot.service.drain()
    assert bot.store.snapshot(1) == kept  # made once: the waiting task found it made
    (upload,) = [f for f in fake.files.values() if f.filename == "incident-1-taskflow-api.yaml"]
    assert upload.content is not None and upload.content.decode() == kept[1]

"""The Slack app end to end: signed requests in, the real AsyncWebClient out to a fake Slack Web API.

Requests are signed exactly as Slack signs them; the demo runtime (the embedded sandbox) does the
Kubernetes and GitHub side; SQLite is a temp file. Background work is awaited with
`service.drain()`, never with sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.app import (
    SLACK_PATH,
    build_app,
    build_web_app,
    check_slack_settings,
    readiness,
    run_server,
)
from bot.commands import USAGE
from bot.config import Settings
from bot.errors import ConfigError, UnavailableError
from bot.guard import RequestGuard
from bot.models import ChecklistItem, Report, TraceHit
from bot.plumbing import metrics
from bot.render import ActionId, BlockId, usage_message
from bot.runtime import open_runtime
from bot.slack import SlackSink, make_client
from bot.store import IncidentStore
from bot.threads import IncidentService
from bot.threads.service import MAX_RUNS
from handlers.payloads import checklist_changes
from playbooks.runtime import Runtime
from tests.fakes.slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0INCIDENT"


def settings_for(fake: FakeSlack, db: Path, **extra: Any) -> Settings:
    return Settings(
        slack={"bot_token": fake.token, "signing_secret": SECRET, "api_url": fake.url},  # type: ignore[arg-type]
        store={"path": str(db)},  # type: ignore[arg-type]
        **extra,
    )


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def command_body(command: str, text: str, *, user: str = "U0ALICE", channel: str = CHANNEL) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0TEAM",
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "incidents",
            "user_id": user,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A0OPSBOT",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "1.2.3",
        }
    )


def event_body(text: str, *, event_id: str, thread_ts: str | None = None, user: str = "U0ALICE") -> str:
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": "1700000999.000100",
        "channel": CHANNEL,
        "event_ts": "1700000999.000100",
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0TEAM",
            "api_app_id": "A0OPSBOT",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000999,
            "authorizations": [{"team_id": "T0TEAM", "user_id": "U0BOT", "is_bot": True}],
        }
    )


def actions_body(message: dict[str, Any], action: dict[str, Any], *, user: str) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0OPSBOT",
        "token": "legacy",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL, "name": "incidents"},
        "message": message,
        "response_url": "https://hooks.slack.invalid/actions/1",
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)})


@dataclass
class Bot:
    fake: FakeSlack
    http: TestClient
    service: IncidentService
    store: IncidentStore
    runtime: Runtime
    settings: Settings
    client: AsyncWebClient

    async def post(self, body: str, *, content_type: str, headers: dict[str, str] | None = None) -> Any:
        return await self.http.post(
            "/slack/events",
            data=body,
            headers={"Content-Type": content_type, **sign(body), **(headers or {})},
        )

    async def command(self, command: str, text: str, **kw: Any) -> Any:
        return await self.post(command_body(command, text, **kw), content_type="application/x-www-form-urlencoded")

    async def event(self, body: str, headers: dict[str, str] | None = None) -> Any:
        return await self.post(body, content_type="application/json", headers=headers)

    async def action(self, body: str) -> Any:
        return await self.post(body, content_type="application/x-www-form-urlencoded")

    def posts(self) -> list[dict[str, Any]]:
        """Every message posted, oldest first, as it reads now (after any chat.update)."""
        return [m.as_api() for m in self.fake.all_messages()]

    def roots(self) -> list[dict[str, Any]]:
        return [p for p in self.posts() if not p.get("thread_ts")]


async def start_bot(fake: FakeSlack, settings: Settings, runtime: Runtime, *, max_runs: int = MAX_RUNS) -> Bot:
    store = IncidentStore(settings.store.path)
    service = IncidentService(runtime, store, max_runs=max_runs)
    client = make_client(settings)
    app = build_app(settings, runtime, store, client, service=service)
    http = TestClient(TestServer(build_web_app(app, readiness(runtime, store), guard=RequestGuard(SECRET))))
    await http.start_server()
    return Bot(fake, http, service, store, runtime, settings, client)


async def stop_bot(bot: Bot) -> None:
    await bot.service.drain()
    await bot.http.close()
    bot.store.close()


@pytest.fixture
async def bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Bot]:
    settings = settings_for(fake, tmp_path / "opsbot.db")
    async with open_runtime(settings, demo=True) as runtime:
        running = await start_bot(fake, settings, runtime)
        try:
            yield running
        finally:
            await stop_bot(running)


async def debug_thread(bot: Bot, text: str = "taskflow-api") -> dict[str, Any]:
    response = await bot.command("/debug", text)
    assert response.status == 200
    await bot.service.drain()
    (root,) = bot.roots()
    return root


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def thread_messages(bot: Bot, root_ts: str) -> list[dict[str, Any]]:
    """The root and replies of a thread as they read now (after any chat.update)."""
    return [m.as_api() for m in bot.fake.thread(CHANNEL, root_ts)]


def edits(bot: Bot, ts: str) -> int:
    message = bot.fake.message(CHANNEL, ts)
    assert message is not None
    return message.edits


def checklist_messages(bot: Bot, root_ts: str) -> list[dict[str, Any]]:
    return [m for m in thread_messages(bot, root_ts) if str(m.get("text", "")).startswith("Checklist")]


def checkboxes(message: dict[str, Any]) -> dict[str, Any]:
    for block in _blocks(message):
        for element in block.get("elements") or []:
            if element.get("type") == "checkboxes":
                return {"block_id": block["block_id"], **element}
    raise AssertionError("no checkboxes in the message")


def as_payload_message(message: dict[str, Any]) -> dict[str, Any]:
    """The message as a block_actions payload carries it: as the person's client last showed it."""
    return {
        "type": "message",
        "ts": message["ts"],
        "thread_ts": message.get("thread_ts"),
        "text": message.get("text", ""),
        "blocks": _blocks(message),
    }


def tick_action(message: dict[str, Any], selected: list[str]) -> dict[str, Any]:
    box = checkboxes(message)
    by_value = {o["value"]: o for o in box["options"]}
    return {
        "type": "checkboxes",
        "action_id": box["action_id"],
        "block_id": box["block_id"],
        "selected_options": [by_value[v] for v in selected],
        "action_ts": "1700001000.000200",
    }


# --- signatures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["forged", "signature-of-another-body", "older-than-five-minutes"])
async def test_unsigned_requests_get_401_and_reach_no_handler(bot: Bot, problem: str) -> None:
    body = command_body("/debug", "taskflow-api")
    now = int(time.time())
    headers = {
        "forged": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=" + "0" * 64},
        "signature-of-another-body": sign(body.replace("taskflow-api", "web-dashboard"), timestamp=now),
        "older-than-five-minutes": sign(body, timestamp=now - 301),
    }[problem]
    response = await bot.http.post(
        "/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers}
    )
    assert response.status == 401
    await bot.service.drain()
    assert bot.fake.calls_to("chat.postMessage") == []
    assert bot.store.list_incidents(status=None) == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),
        ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=abc"}, 400),
        ({"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=abc"}, 400),
        ({"X-Slack-Request-Timestamp": "99999999999999999999", "X-Slack-Signature": "v0=abc"}, 400),
        ({"X-Slack-Request-Timestamp": "NOW"}, 401),
        ({"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "sha256=abc"}, 401),
    ],
)
@pytest.mark.parametrize("body", [b"", b"\xff\xfe{not json", b"payload=%7B%22type", b"command=/debug&text=x"])
async def test_malformed_unsigned_requests_get_a_4xx_without_a_traceback(
    bot: Bot, headers: dict[str, str], status: int, body: bytes
) -> None:
    headers = {k: str(int(time.time())) if v == "NOW" else v for k, v in headers.items()}
    response = await bot.http.post(
        "/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers}
    )
    text = await response.text()
    assert response.status == status
    assert "Traceback" not in text and text[-1:] == "\n" and len(text.splitlines()) == 1
    await bot.service.drain()
    assert bot.fake.calls == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "payload=%7B%22type%22%3A"),  # payload that is not JSON
        ("application/x-www-form-urlencoded", "payload=%5B1%2C2%5D"),  # JSON, but a list
        ("application/json", "{\"type\": \"event_callback\", \"event\": [1]"),
        ("application/json", "[]"),
        ("text/plain", "\u00ff" * 10),
    ],
)
async def test_malformed_signed_bodies_get_400_not_500(bot: Bot, content_type: str, body: str) -> None:
    response = await bot.post(body, content_type=content_type)
    text = await response.text()
    assert 400 <= response.status < 500 or response.status == 404, (response.status, text)
    assert "Traceback" not in text
    await bot.service.drain()
    assert bot.fake.calls_to("chat.postMessage") == []


async def test_a_replayed_request_is_not_acted_on_twice(bot: Bot) -> None:
    body = command_body("/debug", "taskflow-api")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    first = await bot.http.post("/slack/events", data=body, headers=headers)
    again = await bot.http.post("/slack/events", data=body, headers=headers)
    assert (first.status, again.status) == (200, 200)
    await bot.service.drain()
    assert len(bot.roots()) == 1
    assert len(bot.store.list_incidents(status=None)) == 1


async def test_a_body_over_a_megabyte_is_refused(bot: Bot) -> None:
    body = command_body("/debug", "taskflow-api") + "&pad=" + "x" * 1_100_000
    response = await bot.post(body, content_type="application/x-www-form-urlencoded")
    assert response.status == 413
    assert bot.fake.calls == []


# --- /debug ------------------------------------------------------------------------------------------


async def test_debug_acks_then_fills_the_thread(bot: Bot) -> None:
    response = await bot.command("/debug", "taskflow-api")
    assert response.status == 200
    ack = await response.json()
    assert ack["response_type"] == "ephemeral"
    assert "taskflow-api" in ack["text"]
    await bot.service.drain()

    (root,) = bot.roots()
    assert "debug taskflow-api" in root["text"]
    thread = thread_messages(bot, root["ts"])
    # the progress message was posted once and updated in place until every step was done (a run
    # that ends within half a second is edited once, to its final state)
    (progress,) = [m for m in thread if "steps done" in m["text"]]
    assert edits(bot, progress["ts"]) >= 1
    done, total = progress["text"].split(": ")[-1].split(" ")[0].split("/")
    assert done == total and int(total) >= 5
    assert any("QueuePool" in json.dumps(m) for m in thread)
    # the checklist, with the items the bot checked itself ticked, with their evidence
    box = checkboxes(checklist_messages(bot, root["ts"])[0])
    assert box["initial_options"], "the bot ticked nothing"
    assert all(o.get("description") for o in box["initial_options"])
    # the store knows the thread, and the root was updated with the verdict
    incident = bot.store.get_incident(CHANNEL, root["ts"])
    assert incident is not None and incident.service == "taskflow-api" and incident.opened_by == "U0ALICE"
    assert any(item.done and item.by == "opsbot" for item in bot.store.checklist(incident.id))
    assert edits(bot, root["ts"]) >= 1
    assert "finding" in thread_messages(bot, root["ts"])[0]["text"]


async def test_the_demo_thread_reads_on_a_phone(bot: Bot) -> None:
    """The budget of issue 15: root to checklist in about three phone screens (<= 25 blocks), few
    messages, each message edited at most about once a second, and no next step shown twice."""
    started = time.monotonic()
    root = await debug_thread(bot)
    elapsed = time.monotonic() - started
    thread = thread_messages(bot, root["ts"])
    before_checklist = []
    for message in thread:
        if message["text"].startswith("Checklist"):
            break
        before_checklist.append(message)
    blocks = sum(len(_blocks(m)) for m in before_checklist)
    assert blocks <= 25, f"{blocks} blocks before the checklist"
    assert len(thread) <= 8
    assert all(edits(bot, m["ts"]) <= 2 + int(elapsed) for m in thread)  # one chat.update a second at most
    shown = json.dumps([_blocks(m) for m in before_checklist])
    for command in re.findall(r"kubectl [^`\"]+", shown):
        assert shown.count(command) == 1, f"shown twice: {command}"
    assert "finished in" in json.dumps(_blocks(thread[1])) and len(_blocks(thread[1])) == 1  # steps collapsed
    # what notifies says something: the root as first posted does not read "0 pods · 0 findings", and
    # one reply mentions who asked with the verdict in words (the top finding, where, since when, next)
    first_post = bot.fake.calls_to("chat.postMessage")[0].args["text"]
    assert "0 findings" not in first_post and "investigating" in first_post
    (told,) = [m for m in thread if m["text"].startswith("<@U0ALICE>")]
    assert "Database connection pool exhausted" in told["text"] and " since " in told["text"]
    assert "Database connection pool exhausted" in thread[0]["text"]  # the root's own text leads with it


async def test_long_logs_go_up_as_a_file_in_the_thread(bot: Bot) -> None:
    root = await debug_thread(bot)
    files = [f for f in bot.fake.files.values() if f.completed]
    assert files and all(f.thread_ts == root["ts"] and f.channel == CHANNEL for f in files)
    assert any("QueuePool" in f.text for f in files)


async def test_unknown_service_gets_a_clear_error_in_the_thread(bot: Bot) -> None:
    root = await debug_thread(bot, "no-such-service")
    texts = [m["text"] for m in thread_messages(bot, root["ts"])]
    assert any("no-such-service" in t and ":warning:" in t for t in texts), texts
    assert not any("Traceback" in t for t in texts)
    root_now = json.dumps(thread_messages(bot, root["ts"])[0]["blocks"])
    assert "Investigating" not in root_now and "Incomplete" in root_now


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/debug", "taskflow-api --force", "unknown flag"),
        ("/debug", "Bad_Name", "not a valid service name"),
        ("/debug", "", "which service?"),
        ("/verify", "a b", "one service at a time"),
        ("/incident", "revive", "unknown subcommand"),
        ("/incident", "close", "no open incident in this channel"),
        ("/opsbot", "help", "/debug SERVICE"),
        ("/opsbot", "help", "/trace CORRELATION_ID"),
        ("/trace", "", "which correlation id?"),
        ("/trace", "no", "'no' is not a correlation id"),
        ("/trace", "7f3a9c2e --since soon", "--since 'soon' is not a duration"),
        ("/trace", "7f3a9c2e -n Bad_NS", "not a valid namespace name"),
    ],
)
async def test_usage_errors_are_ephemeral(bot: Bot, command: str, text: str, expected: str) -> None:
    response = await bot.command(command, text)
    assert response.status == 200
    ack = await response.json()
    assert ack["response_type"] == "ephemeral"
    assert expected in ack["text"]
    await bot.service.drain()
    assert bot.fake.calls_to("chat.postMessage") == []


async def test_access_is_checked_before_running(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path / "a.db", access={"namespaces": {CHANNEL: ["payments"]}})
    async with open_runtime(settings, demo=True) as runtime:
        bot = await start_bot(fake, settings, runtime)
        try:
            response = await bot.command("/debug", "taskflow-api")
            ack = await response.json()
            assert ack["response_type"] == "ephemeral"
            assert "may not look into namespace taskflow" in ack["text"]
            await bot.service.drain()
            assert fake.calls_to("chat.postMessage") == []
        finally:
            await stop_bot(bot)


async def test_trace_access_is_checked_for_the_namespace_traced(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path / "a.db", access={"namespaces": {CHANNEL: ["payments"]}})
    async with open_runtime(settings, demo=True) as runtime:
        bot = await start_bot(fake, settings, runtime)
        try:
            # the default namespace (the demo's taskflow) and an explicit one are both checked
            for text in ("7f3a9c2e", "7f3a9c2e -n taskflow"):
                ack = await (await bot.command("/trace", text)).json()
                assert ack["response_type"] == "ephemeral"
                assert "may not look into namespace taskflow" in ack["text"]
            mention = await bot.event(event_body("<@U0BOT> trace 7f3a9c2e", event_id="Ev0TRACEDENIED"))
            assert mention.status == 200
            await bot.service.drain()
            assert fake.calls_to("chat.postMessage") == []
            (refusal,) = fake.calls_to("chat.postEphemeral")
            assert "may not look into namespace taskflow" in refusal.args["text"]
            allowed = await (await bot.command("/trace", "7f3a9c2e -n payments")).json()
            assert "Tracing `7f3a9c2e` in payments" in allowed["text"]
        finally:
            await stop_bot(bot)


async def test_playbook_runs_in_the_bot_are_recorded_in_its_metrics(bot: Bot) -> None:
    def count(step: str) -> float:
        labels = {"playbook": "debug", "step": step}
        return metrics.REGISTRY.get_sample_value("opsbot_step_duration_seconds_count", labels) or 0.0

    before = count("logs"), metrics.REGISTRY.get_sample_value(
        "opsbot_playbook_duration_seconds_count", {"playbook": "debug"}) or 0.0
    await debug_thread(bot)
    after = count("logs"), metrics.REGISTRY.get_sample_value(
        "opsbot_playbook_duration_seconds_count", {"playbook": "debug"}) or 0.0
    assert after == (before[0] + 1, before[1] + 1)


async def test_incident_status_list_and_close(bot: Bot) -> None:
    root = await debug_thread(bot)
    status = await (await bot.command("/incident", "status")).json()
    assert "#1 taskflow-api" in status["text"] and "open" in status["text"]
    listed = await (await bot.command("/incident", "list")).json()
    assert "1 open incident" in listed["text"]
    closing = await (await bot.command("/incident", "close fixed pool_size", user="U0BOB")).json()
    assert "Closing incident #1" in closing["text"]
    await bot.service.drain()
    incident = bot.store.incident(1)
    assert incident.status == "closed" and incident.closed_by == "U0BOB" and incident.summary == "fixed pool_size"
    said = [m for m in thread_messages(bot, root["ts"]) if "Closed by" in m["text"]]
    assert said and "<@U0BOB>" in said[-1]["text"]
    root_now = next(m for m in thread_messages(bot, root["ts"]) if m["ts"] == root["ts"])
    assert "Closed" in json.dumps(root_now["blocks"])
    # a closed incident leaves no render state behind in a long-running bot
    assert 1 not in bot.service._locks and 1 not in bot.service._generation and 1 not in bot.service._rendered


async def test_a_closed_thread_refuses_mentions_buttons_and_ticks_until_reopened(bot: Bot) -> None:
    root = await debug_thread(bot)
    checklist = checklist_messages(bot, root["ts"])[0]
    await bot.command("/incident", "close done")
    await bot.service.drain()
    edits_before = edits(bot, checklist["ts"])
    ephemeral_before = len(bot.fake.calls_to("chat.postEphemeral"))
    mention = event_body("<@U0BOT> debug taskflow-api", event_id="Ev0CLOSED", thread_ts=root["ts"])
    assert (await bot.event(mention)).status == 200
    box = checkboxes(checklist)
    todo = next(o["value"] for o in box["options"] if o["value"] not in
                {i["value"] for i in box.get("initial_options") or []})
    tick = actions_body(as_payload_message(checklist), tick_action(checklist, [todo]), user="U0BOB")
    assert (await bot.action(tick)).status == 200
    await bot.service.drain()
    answers = [c.args["text"] for c in bot.fake.calls_to("chat.postEphemeral")[ephemeral_before:]]
    assert len(answers) == 2 and all("is closed: reopen it" in a for a in answers)
    assert edits(bot, checklist["ts"]) == edits_before  # nothing edited the closed checklist
    assert not any(i.done for i in bot.store.checklist(1) if i.key == todo)
    assert bot.store.incident(1).status == "closed"
    reopening = await (await bot.command("/incident", "reopen #1")).json()
    assert "Reopening incident #1" in reopening["text"]
    await bot.service.drain()
    assert bot.store.incident(1).status == "open"
    assert any("Reopened by <@U0ALICE>" in m["text"] for m in thread_messages(bot, root["ts"]))
    again = actions_body(as_payload_message(checklist), {**tick_action(checklist, [todo]), "action_ts": "1700001001.1"},
                         user="U0BOB")  # a new click (the same request again would be a replay)
    assert (await bot.action(again)).status == 200
    await bot.service.drain()
    assert any(i.done for i in bot.store.checklist(1) if i.key == todo)


# --- /trace ------------------------------------------------------------------------------------------


def trace_listing(bot: Bot, root_ts: str) -> tuple[dict[str, Any], list[str]]:
    """The trace message of a thread and the lines of its listing."""
    (message,) = [
        m for m in thread_messages(bot, root_ts) if any(b.get("block_id") == BlockId.TRACE for b in _blocks(m))
    ]
    code = [b["text"]["text"] for b in _blocks(message) if str(b.get("block_id", "")).startswith(f"{BlockId.TRACE}:")]
    return message, [line for text in code for line in text.strip("`").splitlines()]


async def test_trace_acks_then_posts_the_request_path_into_a_thread(bot: Bot) -> None:
    response = await bot.command("/trace", "7f3a9c2e")
    assert response.status == 200
    ack = await response.json()
    assert ack["response_type"] == "ephemeral"
    assert ack["text"] == "Tracing `7f3a9c2e` in taskflow over the last 1h: follow an incident thread."
    await bot.service.drain()

    (root,) = bot.roots()
    assert "trace 7f3a9c2e" in root["text"]
    thread = thread_messages(bot, root["ts"])
    (progress,) = [m for m in thread if "steps done" in m["text"]]
    done, total = progress["text"].split(": ")[-1].split(" ")[0].split("/")
    assert done == total == "3"
    message, lines = trace_listing(bot, root["ts"])
    assert message["thread_ts"] == root["ts"]
    head = _blocks(message)[0]["text"]["text"]
    assert "`7f3a9c2e`" in head and "`taskflow`" in head and "last 1h" in head and "from 2 services" in head
    assert "*Path* web-dashboard -&gt; taskflow-api" in head
    # both services, in the order the request reached them, with the error between
    services = [line.split()[1] for line in lines]
    assert services[0] == "web-dashboard" and "taskflow-api" in services and services[-1] == "web-dashboard"
    assert any("QueuePool" in line for line in lines)
    assert "502" in lines[-1]
    # the errors on the path, classified, after the listing; next-step buttons that belong to the incident
    later = thread[thread.index(message) + 1 :]
    assert any("QueuePool" in json.dumps(m.get("blocks")) and ActionId.NEXT_STEP in json.dumps(m.get("blocks"))
               for m in later)
    incident = bot.store.get_incident(CHANNEL, root["ts"])
    assert incident is not None and incident.service == "7f3a9c2e" and incident.namespace == "taskflow"
    root_now = json.dumps(thread_messages(bot, root["ts"])[0]["blocks"], ensure_ascii=False)
    assert "6 lines · web-dashboard -&gt; taskflow-api" in root_now
    assert bot.fake.calls_to("chat.postEphemeral") == []


async def test_trace_of_an_unknown_id_says_nothing_carried_it_and_what_to_try(bot: Bot) -> None:
    await bot.command("/trace", "0000dead --since 10m")
    await bot.service.drain()
    (root,) = bot.roots()
    thread = thread_messages(bot, root["ts"])
    (message,) = [m for m in thread if "No log line" in m["text"]]
    text = _blocks(message)[0]["text"]["text"]
    assert "`0000dead`" in text and "in the last 10m" in text
    assert "--since 6h" in text and "-n NAMESPACE" in text
    assert not any("No known error pattern" in m["text"] for m in thread)
    assert "No log line carries this id" in json.dumps(thread[0]["blocks"])


async def test_trace_mention_inside_an_incident_thread_reuses_it(bot: Bot) -> None:
    # audit-service has no request path in the catalogue: its /debug leaves "Trace request path" to do
    root = await debug_thread(bot, "audit-service")
    incident = bot.store.get_incident(CHANNEL, root["ts"])
    assert incident is not None
    assert not next(i for i in bot.store.checklist(incident.id) if i.key == "trace").done
    before = len(bot.posts())
    await bot.event(event_body("<@U0BOT> trace 7f3a9c2e", event_id="Ev0TRACE", thread_ts=root["ts"]))
    await bot.service.drain()
    new_posts = bot.posts()[before:]
    assert new_posts and all(p.get("thread_ts") == root["ts"] for p in new_posts)
    _, lines = trace_listing(bot, root["ts"])
    assert {line.split()[1] for line in lines} == {"web-dashboard", "taskflow-api"}
    assert len(bot.roots()) == 1 and len(bot.store.list_incidents()) == 1
    # the trace ticks the debug checklist's "Trace request path" item, with the path as evidence
    traced = next(i for i in bot.store.checklist(incident.id) if i.key == "trace")
    assert traced.done and traced.by == "opsbot" and "web-dashboard -> taskflow-api" in (traced.evidence or "")
    box = checkboxes(checklist_messages(bot, root["ts"])[0])
    assert any("Trace request path" in o["text"]["text"] for o in box.get("initial_options", []))
    # the root keeps showing the debug run it opened with, also once the incident is closed
    kept = bot.store.last_report(incident.id)
    assert kept is not None and kept.kind == "debug" and kept.service == "audit-service"
    await bot.command("/incident", "close nothing wrong")
    await bot.service.drain()
    root_now = json.dumps(thread_messages(bot, root["ts"])[0]["blocks"])
    assert "Closed" in root_now and "2 pods" in root_now and "lines" not in root_now


async def test_a_long_trace_goes_up_as_a_file_in_the_thread(bot: Bot) -> None:
    sink = SlackSink(bot.client, CHANNEL)
    root_ts = await sink.post(usage_message("trace"))
    hits = [
        TraceHit(service=f"svc-{i % 5}", pod=f"svc-{i % 5}-abc", container="app", text=f"[7f3a9c2e] line {i} " * 8)
        for i in range(3000)
    ]
    report = Report(kind="trace", service="7f3a9c2e", namespace="taskflow", started_at=datetime.now(UTC), trace=hits)
    await sink.post(render.trace_message(report, since_seconds=3600), thread_ts=root_ts)
    # the fake refuses what Slack refuses (too many blocks, msg_blocks_too_long): it was accepted
    (posted,) = [m for m in thread_messages(bot, root_ts) if "3000 lines from 5 services" in json.dumps(m["blocks"])]
    assert posted["thread_ts"] == root_ts
    (upload,) = [f for f in bot.fake.files.values() if f.completed]
    assert upload.thread_ts == root_ts and upload.channel == CHANNEL
    assert len(upload.text.splitlines()) == 3000


def test_the_manifest_declares_every_slash_command_alike() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[1] / "manifest.yaml").read_text())
    declared = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(declared) == set(USAGE)
    events_url = manifest["settings"]["interactivity"]["request_url"]
    assert events_url.endswith(SLACK_PATH)
    for name, command in declared.items():
        assert command["url"] == events_url
        assert command["should_escape"] is False
        assert command["usage_hint"] == USAGE[name].removeprefix(name).strip()
        assert command["description"]


# --- events ------------------------------------------------------------------------------------------


async def test_retried_event_delivery_opens_one_thread(bot: Bot) -> None:
    body = event_body("<@U0BOT> debug taskflow-api", event_id="Ev0DEBUG1")
    first = await bot.event(body)
    retry = await bot.event(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status == retry.status == 200
    await bot.service.drain()
    assert len(bot.roots()) == 1
    assert len(bot.store.list_incidents()) == 1


async def test_mention_inside_an_incident_thread_reuses_it(bot: Bot) -> None:
    root = await debug_thread(bot)
    before = len(bot.posts())
    await bot.event(event_body("<@U0BOT> debug taskflow-api", event_id="Ev0THREAD", thread_ts=root["ts"]))
    await bot.service.drain()
    new_posts = bot.posts()[before:]
    assert new_posts and all(p.get("thread_ts") == root["ts"] for p in new_posts)
    assert len(bot.roots()) == 1
    assert len(bot.store.list_incidents()) == 1


async def test_bad_mention_gets_an_ephemeral_line(bot: Bot) -> None:
    await bot.event(event_body("<@U0BOT> deploy taskflow-api", event_id="Ev0BAD"))
    await bot.service.drain()
    assert bot.fake.calls_to("chat.postMessage") == []
    (answer,) = bot.fake.calls_to("chat.postEphemeral")
    assert answer.args["user"] == "U0ALICE" and "unknown command 'deploy'" in answer.args["text"]


async def test_commands_beyond_capacity_wait_their_turn_and_lose_nothing(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path / "opsbot.db")
    async with open_runtime(settings, demo=True) as runtime:
        bot = await start_bot(fake, settings, runtime, max_runs=1)
        try:
            answers = await asyncio.gather(*(bot.command("/debug", "taskflow-api", channel=f"C0TEAM{i}")
                                             for i in range(4)))
            assert [a.status for a in answers] == [200] * 4
            await bot.service.drain()
        finally:
            await stop_bot(bot)
    roots = bot.roots()
    assert len(roots) == 4
    texts = [json.dumps(m) for m in bot.posts()]
    assert not any("took longer than" in t for t in texts)
    first = [r for r in roots if "8 findings" in r["text"]]
    assert len(first) == 4, [r["text"] for r in roots]  # every report as complete as one run alone
    queued = [c for c in fake.calls_to("chat.update") if "Queued behind" in json.dumps(c.args)]
    assert queued, "a queued run says so in its thread while it waits"


async def test_a_run_cut_short_by_a_restart_is_run_again_into_its_thread(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path / "opsbot.db")
    async with open_runtime(settings, demo=True) as runtime:
        # what a crash leaves: the thread and its incident, the run started, nothing after it
        store = IncidentStore(settings.store.path)
        root_ts = await SlackSink(make_client(settings), CHANNEL).post(usage_message(":mag: Investigating"))
        incident = store.open_incident(channel=CHANNEL, thread_ts=root_ts, service="taskflow-api",
                                       namespace="taskflow", context=None, opened_by="U0ALICE", checklist=[])
        store.set_message(incident.id, "root", root_ts)
        store.add_timeline(incident.id, "debug", "/debug taskflow-api", by="U0ALICE")
        store.close()
        bot = await start_bot(fake, settings, runtime)
        try:
            assert await bot.service.resume(lambda channel: SlackSink(bot.client, channel)) == 1
            await bot.service.drain()
            assert await bot.service.resume(lambda channel: SlackSink(bot.client, channel)) == 0  # done now
        finally:
            await stop_bot(bot)
    thread = thread_messages(bot, root_ts)
    assert "restarted during /debug taskflow-api" in json.dumps(thread)
    assert checklist_messages(bot, root_ts), "the resumed run finished: its checklist is posted"
    assert "Investigating" not in thread[0]["text"] and "findings" in thread[0]["text"]
    assert len(bot.roots()) == 1


# --- Slack failing ---------------------------------------------------------------------------------------


async def test_a_rate_limit_before_the_first_post_delays_the_thread_but_loses_nothing(bot: Bot) -> None:
    assert (await bot.command("/incident", "list")).status == 200  # Bolt's auth.test is behind us
    bot.fake.rate_limit(8, retry_after=0)  # more than slack_sdk's own handler would have retried
    root = await debug_thread(bot)
    assert "Investigating" not in json.dumps(root)
    assert len(thread_messages(bot, root["ts"])) > 3


async def test_a_proxy_error_page_is_retried_then_the_thread_is_complete(bot: Bot) -> None:
    assert (await bot.command("/incident", "list")).status == 200  # Bolt's auth.test is behind us
    bot.fake.fail(3, status=502)  # an HTML body: not JSON
    root = await debug_thread(bot)
    assert len(thread_messages(bot, root["ts"])) > 3


async def test_a_lasting_outage_is_one_translated_error_naming_the_body(fake: FakeSlack, bot: Bot) -> None:
    fake.fail(50, status=503, body="upstream connect error", content_type="text/plain")
    sink = SlackSink(bot.client, CHANNEL, patience=0.3, backoff=0.01)
    with pytest.raises(UnavailableError, match=r"HTTP 503 \(not JSON\).*gave up after \d+ attempts"):
        await sink.post(usage_message("hello"))


async def test_where_the_bot_is_not_a_member_the_user_is_told_through_response_url(bot: Bot) -> None:
    bot.fake.outsiders.add("C0PRIVATE")
    url = bot.fake.response_url()
    body = command_body("/debug", "taskflow-api", channel="C0PRIVATE").replace(
        "https%3A%2F%2Fhooks.slack.invalid%2Fcommands%2F1", url.replace(":", "%3A").replace("/", "%2F"))
    response = await bot.post(body, content_type="application/x-www-form-urlencoded")
    assert response.status == 200
    await bot.service.drain()
    assert bot.fake.channel_messages("C0PRIVATE") == []
    (answer,) = bot.fake.responses[url]
    assert answer["response_type"] == "ephemeral"
    assert "/invite @opsbot" in answer["text"] and "not_in_channel" in answer["text"]


# --- buttons and checklist ------------------------------------------------------------------------------


async def test_next_step_button_posts_its_result_with_who_asked(bot: Bot) -> None:
    root = await debug_thread(bot)
    message = next(m for m in thread_messages(bot, root["ts"]) if ActionId.NEXT_STEP in json.dumps(m.get("blocks")))
    payload_message = as_payload_message(message)
    block, button = next(
        (b, e)
        for b in payload_message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    )
    action = {**button, "block_id": block["block_id"], "action_ts": "1700001000.000300"}
    before = len(bot.fake.calls_to("chat.postMessage"))
    response = await bot.action(actions_body(payload_message, action, user="U0BOB"))
    assert response.status == 200
    await bot.service.drain()
    (result,) = [c.args for c in bot.fake.calls_to("chat.postMessage")[before:]]
    assert result["thread_ts"] == root["ts"]
    assert "<@U0BOB>" in json.dumps(result["blocks"])


@pytest.mark.parametrize("edit", [{"namespace": "kube-system"}, {"kind": "ci_job", "repo": "evil/repo", "run_id": 1}])
async def test_an_edited_button_value_runs_nothing(bot: Bot, edit: dict[str, Any]) -> None:
    root = await debug_thread(bot)
    message = next(m for m in thread_messages(bot, root["ts"]) if ActionId.NEXT_STEP in json.dumps(m.get("blocks")))
    payload_message = as_payload_message(message)
    block, button = next(
        (b, e) for b in payload_message["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["type"] == "button"
    )
    value = {**json.loads(button["value"]), **edit}
    action = {**button, "value": json.dumps(value), "block_id": block["block_id"], "action_ts": "1700001000.000300"}
    before = len(bot.fake.calls_to("chat.postMessage"))
    response = await bot.action(actions_body(payload_message, action, user="U0BOB"))
    assert response.status == 200
    await bot.service.drain()
    assert bot.fake.calls_to("chat.postMessage")[before:] == []
    (answer,) = bot.fake.calls_to("chat.postEphemeral")
    assert "nothing was run" in answer.args["text"] and answer.args["user"] == "U0BOB"


async def test_a_tick_updates_sqlite_then_the_message(bot: Bot) -> None:
    root = await debug_thread(bot)
    message = checklist_messages(bot, root["ts"])[0]
    box = checkboxes(message)
    seen = [o["value"] for o in box.get("initial_options") or []]
    todo = next(o["value"] for o in box["options"] if o["value"] not in seen)
    body = actions_body(as_payload_message(message), tick_action(message, [*seen, todo]), user="U0BOB")
    assert (await bot.action(body)).status == 200
    await bot.service.drain()
    incident = bot.store.get_incident(CHANNEL, root["ts"])
    assert incident is not None
    item = next(i for i in bot.store.checklist(incident.id) if i.key == todo)
    assert item.done and item.by == "U0BOB" and item.at is not None
    rendered = checkboxes(checklist_messages(bot, root["ts"])[0])
    assert todo in {o["value"] for o in rendered["initial_options"]}
    assert "U0BOB" in json.dumps(rendered)
    assert any(e.kind == "tick" and e.by == "U0BOB" for e in bot.store.timeline(incident.id))


async def open_big_checklist(bot: Bot, size: int = 20) -> str:
    """An incident whose checklist spans two messages (10 options a checkboxes block)."""
    root_ts = await SlackSink(bot.client, CHANNEL).post(usage_message("incident"))
    incident = bot.store.open_incident(
        channel=CHANNEL,
        thread_ts=root_ts,
        service="taskflow-api",
        namespace="taskflow",
        context=None,
        opened_by="U0ALICE",
        checklist=[ChecklistItem(key=f"item-{n}", text=f"Item {n}") for n in range(size)],
    )
    await bot.service.refresh_checklist(SlackSink(bot.client, CHANNEL), incident)
    return root_ts


async def test_twenty_concurrent_ticks_all_land(bot: Bot) -> None:
    root_ts = await open_big_checklist(bot)
    messages = checklist_messages(bot, root_ts)
    assert len(messages) == 2
    bodies = []
    for message in messages:  # twenty people, each ticking one item of the checklist as first shown
        for option in checkboxes(message)["options"]:
            user = f"U0P{option['value'].split('-')[1]:0>2}"
            bodies.append(actions_body(as_payload_message(message), tick_action(message, [option["value"]]), user=user))
    assert len(bodies) == 20
    responses = await asyncio.gather(*(bot.action(body) for body in bodies))
    assert [r.status for r in responses] == [200] * 20
    await bot.service.drain()
    incident = bot.store.get_incident(CHANNEL, root_ts)
    assert incident is not None
    items = bot.store.checklist(incident.id)
    assert all(i.done for i in items)
    assert {i.by for i in items} == {f"U0P{n:0>2}" for n in range(20)}
    # and the messages, re-rendered from the store, show every tick
    for message in checklist_messages(bot, root_ts):
        box = checkboxes(message)
        assert len(box["initial_options"]) == len(box["options"]) == 10


async def test_a_restart_keeps_old_checklists_working(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path / "restart.db")
    async with open_runtime(settings, demo=True) as runtime:
        first = await start_bot(fake, settings, runtime)
        try:
            root = await debug_thread(first)
        finally:
            await stop_bot(first)
        second = await start_bot(fake, settings, runtime)  # a new app and store on the same file
        try:
            message = checklist_messages(second, root["ts"])[0]
            box = checkboxes(message)
            seen = [o["value"] for o in box.get("initial_options") or []]
            todo = next(o["value"] for o in box["options"] if o["value"] not in seen)
            body = actions_body(as_payload_message(message), tick_action(message, [*seen, todo]), user="U0CAROL")
            assert (await second.action(body)).status == 200
            await second.service.drain()
            rendered = checkboxes(checklist_messages(second, root["ts"])[0])
            assert todo in {o["value"] for o in rendered["initial_options"]}
            incident = second.store.get_incident(CHANNEL, root["ts"])
            assert incident is not None
            assert next(i for i in second.store.checklist(incident.id) if i.key == todo).by == "U0CAROL"
        finally:
            await stop_bot(second)


# --- the diff of one checkbox interaction ---------------------------------------------------------------


def _block(keys: list[str], shown: list[str]) -> list[dict[str, Any]]:
    options = [{"text": {"type": "mrkdwn", "text": k}, "value": k} for k in keys]
    element = {"type": "checkboxes", "action_id": "checklist_toggle", "options": options}
    if shown:
        element["initial_options"] = [o for o in options if o["value"] in shown]
    return [{"type": "actions", "block_id": "checklist:0", "elements": [element]}]


def _action(selected: list[str]) -> dict[str, Any]:
    return {
        "action_id": "checklist_toggle",
        "block_id": "checklist:0",
        "selected_options": [{"value": v} for v in selected],
    }


def _items(done: list[str]) -> list[ChecklistItem]:
    return [ChecklistItem(key=k, text=k, done=k in done) for k in ("a", "b", "c")]


@pytest.mark.parametrize(
    ("shown", "selected", "stored_done", "changes"),
    [
        ([], ["a"], [], {"a": True}),
        (["a"], [], ["a"], {"a": False}),
        # someone else ticked b a moment ago; this person, shown nothing, ticks a: b stays ticked
        ([], ["a"], ["b"], {"a": True}),
        # already in the store (two people ticked the same item): nothing to change
        ([], ["a"], ["a"], {}),
        # two ticks before the message was re-rendered
        ([], ["a", "c"], [], {"a": True, "c": True}),
    ],
)
def test_checklist_changes(
    shown: list[str], selected: list[str], stored_done: list[str], changes: dict[str, bool]
) -> None:
    assert checklist_changes(_action(selected), _block(["a", "b", "c"], shown), _items(stored_done)) == changes


def test_checklist_changes_without_the_message_only_trusts_the_selection() -> None:
    assert checklist_changes(_action(["a"]), None, _items(["b"])) == {"a": True}


# --- configuration and serving ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slack", "setting"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_missing_secrets_are_a_config_error_naming_them(slack: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_slack_settings(Settings(slack=slack))  # type: ignore[arg-type]
    assert info.value.setting == setting


def test_socket_mode_needs_no_signing_secret() -> None:
    check_slack_settings(Settings(slack={"bot_token": "xoxb-1", "app_token": "xapp-1"}))  # type: ignore[arg-type]


async def test_run_server_serves_on_a_real_port_and_stops_cleanly(fake: FakeSlack, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port: PORT must be a real one (1-65535)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(fake, tmp_path / "serve.db", server={"host": "127.0.0.1", "port": port})
    stop = asyncio.Event()
    ports: list[int] = []
    server = asyncio.create_task(run_server(settings, demo=True, stop=stop, started=ports.append))
    while not ports and not server.done():
        await asyncio.sleep(0)  # yields to the server task; it calls `started` once listening
    assert ports, server.exception() if server.done() else "not started"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{ports[0]}/healthz") as response:
            assert response.status == 200
        body = command_body("/opsbot", "help")
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with session.post(f"http://127.0.0.1:{ports[0]}/slack/events", data=body, headers=headers) as response:
            assert response.status == 200
            assert "/debug SERVICE" in (await response.json())["text"]
    stop.set()
    await server


async def run_socket_mode(fake: FakeSlack, tmp_path: Path) -> tuple[asyncio.Task[None], asyncio.Event, int]:
    """`opsbot serve` with SLACK_APP_TOKEN set, against the fake's Socket Mode endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        slack={"bot_token": fake.token, "app_token": fake.app_token, "api_url": fake.url},  # type: ignore[arg-type]
        store={"path": str(tmp_path / "socket.db")},  # type: ignore[arg-type]
        server={"host": "127.0.0.1", "port": port},  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    ports: list[int] = []
    server = asyncio.create_task(run_server(settings, demo=True, stop=stop, started=ports.append))
    while not ports and not server.done():
        await asyncio.sleep(0)
    assert ports, server.exception() if server.done() else "not started"
    return server, stop, ports[0]


async def test_socket_mode_acks_a_slash_command_and_fills_the_thread(fake: FakeSlack, tmp_path: Path) -> None:
    server, stop, port = await run_socket_mode(fake, tmp_path)
    try:
        payload = dict(parse_qsl(command_body("/debug", "taskflow-api")))
        envelope = await fake.send_envelope("slash_commands", payload)
        reply = await fake.socket_reply(envelope)
        assert reply["envelope_id"] == envelope
        async with aiohttp.ClientSession() as session:  # HTTP serves health only: no unsigned way in
            async with session.post(f"http://127.0.0.1:{port}/slack/events", data="x") as response:
                assert response.status == 404
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
    finally:
        stop.set()
        await server  # shutdown lets the running playbook finish its thread
    roots = [m for m in fake.channel_messages(CHANNEL) if m.thread_ts is None]
    assert len(roots) == 1
    thread = fake.thread(CHANNEL, roots[0].ts)
    assert any("QueuePool" in json.dumps(m.blocks) for m in thread)
    assert fake.calls_to("apps.connections.open")[0].headers["Authorization"] == f"Bearer {fake.app_token}"


async def test_socket_mode_retried_event_opens_one_thread(fake: FakeSlack, tmp_path: Path) -> None:
    server, stop, _ = await run_socket_mode(fake, tmp_path)
    try:
        body = json.loads(event_body("<@U0BOT> debug taskflow-api", event_id="Ev0SOCKET1"))
        first = await fake.send_envelope("events_api", body)
        again = await fake.send_envelope("events_api", body, retry_attempt=1)
        await fake.socket_reply(first)
        await fake.socket_reply(again)
    finally:
        stop.set()
        await server
    roots = [m for m in fake.channel_messages(CHANNEL) if m.thread_ts is None]
    assert len(roots) == 1

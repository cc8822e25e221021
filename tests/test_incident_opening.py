"""Which requests open an incident (#19): only a /debug that found its service. A typo, a /verify or a
/trace outside a thread posts its thread and leaves nothing for someone to close. Through the Slack
app over signed HTTP, against the fake Slack Web API."""

from __future__ import annotations

import json
from typing import Any

from bot.render import ActionId
from tests.test_slackapp import (
    Bot,
    actions_body,
    as_payload_message,
    bot,
    debug_thread,
    event_body,
    thread_messages,
)

__all__ = ["bot"]


async def answer(bot: Bot, command: str, text: str) -> str:
    reply = await (await bot.command(command, text)).json()
    await bot.service.drain()
    return str(reply["text"])


async def test_a_debug_of_an_unknown_service_opens_no_incident(bot: Bot) -> None:
    root = await debug_thread(bot, "nosuch")
    assert any("nosuch" in m["text"] for m in thread_messages(bot, root["ts"]))  # the person is told, in its thread
    assert bot.store.list_incidents(status="open") == []
    assert "no open incident in this channel" in await answer(bot, "/incident", "close")
    assert "no open incident" in await answer(bot, "/incident", "status")


async def test_after_a_failed_debug_close_does_not_answer_about_another_incident(bot: Bot) -> None:
    await debug_thread(bot)
    assert "Closing incident #1" in await answer(bot, "/incident", "close fixed")
    await bot.command("/debug", "nosuch")
    await bot.service.drain()
    said = await answer(bot, "/incident", "close")
    assert said.startswith("no open incident in this channel"), said
    assert "#1" not in said


async def test_a_debug_that_finds_its_service_opens_one(bot: Bot) -> None:
    await debug_thread(bot)
    [incident] = bot.store.list_incidents(status="open")
    assert incident.service == "taskflow-api"
    root = bot.roots()[0]
    assert f"Incident #{incident.id}" in json.dumps(root["blocks"])


async def test_verify_outside_a_thread_posts_its_report_without_an_incident(bot: Bot) -> None:
    assert "Running verify on taskflow-api" in await answer(bot, "/verify", "taskflow-api")
    (root,) = bot.roots()
    thread = thread_messages(bot, root["ts"])
    assert len(thread) > 2 and "Incident #" not in json.dumps(root["blocks"])
    assert bot.store.list_incidents(status="open") == []
    assert "No open incidents" in await answer(bot, "/incident", "list")
    # its buttons still work: the thread is recorded, only not as an incident
    message = next(m for m in thread if ActionId.NEXT_STEP in json.dumps(m.get("blocks")))
    payload = as_payload_message(message)
    block, button = next((b, e) for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]
                         if e["type"] == "button")
    before = len(bot.fake.calls_to("chat.postMessage"))
    action: dict[str, Any] = {**button, "block_id": block["block_id"], "action_ts": "1700001000.000300"}
    assert (await bot.action(actions_body(payload, action, user="U0BOB"))).status == 200
    await bot.service.drain()
    (result,) = [c.args for c in bot.fake.calls_to("chat.postMessage")[before:]]
    assert result["thread_ts"] == root["ts"]
    # and an `incident close` typed in it says what it is, instead of closing something
    ephemeral = len(bot.fake.calls_to("chat.postEphemeral"))
    await bot.event(event_body("<@U0BOT> incident close", event_id="Ev0REPORT", thread_ts=root["ts"]))
    await bot.service.drain()
    (said,) = [c.args["text"] for c in bot.fake.calls_to("chat.postEphemeral")[ephemeral:]]
    assert "report, not an incident" in said


async def test_trace_outside_a_thread_opens_no_incident(bot: Bot) -> None:
    await answer(bot, "/trace", "7f3a9c2e --since 2h")
    (root,) = bot.roots()
    assert any("web-dashboard" in m["text"] for m in thread_messages(bot, root["ts"]))
    assert bot.store.list_incidents(status="open") == []


async def test_a_debug_inside_a_report_thread_makes_it_the_incident(bot: Bot) -> None:
    await answer(bot, "/verify", "taskflow-api")
    (root,) = bot.roots()
    await bot.event(event_body("<@U0BOT> debug taskflow-api", event_id="Ev0PROMOTE", thread_ts=root["ts"]))
    await bot.service.drain()
    [incident] = bot.store.list_incidents(status="open")
    assert incident.thread_ts == root["ts"] and len(bot.roots()) == 1


async def test_a_report_thread_becomes_an_incident_when_asked(bot: Bot) -> None:
    await answer(bot, "/verify", "taskflow-api")
    (root,) = bot.roots()
    await bot.event(event_body("<@U0BOT> incident open", event_id="Ev0OPEN", thread_ts=root["ts"]))
    await bot.service.drain()
    [incident] = bot.store.list_incidents(status="open")
    assert incident.thread_ts == root["ts"] and incident.opened_by == "U0ALICE"
    assert any("opened by <@U0ALICE>" in m["text"] for m in thread_messages(bot, root["ts"]))
    root_now = next(m for m in thread_messages(bot, root["ts"]) if m["ts"] == root["ts"])
    assert f"Incident #{incident.id}" in json.dumps(root_now["blocks"])
    assert "is open already" in await answer(bot, "/incident", f"open #{incident.id}")

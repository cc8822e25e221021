"""Durable before acknowledged: `opsbot serve` SIGKILLed while four people tick loses no tick it
acknowledged, and its SQLite file is whole.

The bot runs as a real process (`python -m bot serve --demo`) against the fake Slack Web API; the
ticks are signed block_actions requests exactly as Slack sends them. Four people each tick and
untick their own checklist item as fast as the bot answers; once enough ticks were acknowledged,
the process is killed with SIGKILL (no shutdown, no flush). The store is then opened again: its
integrity check passes, and every acknowledged tick is in it (each interaction changes the item, so
each leaves exactly one timeline entry; a tick written but not yet acknowledged may be there too).
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.slack import FakeSlack
from tests.test_slackapp import SECRET, actions_body, as_payload_message, checkboxes, command_body, sign

PEOPLE = ["U0ANN", "U0BEN", "U0CAT", "U0DAN"]
KILL_AFTER = 60  # acknowledged ticks before the SIGKILL
DEADLINE = 60.0  # seconds any phase may take on a slow CI machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _with_state(message: dict[str, Any], box: dict[str, Any], key: str, done: bool) -> dict[str, Any]:
    """The checklist message as a person's client shows it, with `key` ticked or not."""
    shown = copy.deepcopy(message)
    for block in shown["blocks"]:
        if block.get("block_id") != box["block_id"]:
            continue
        for element in block["elements"]:
            if element.get("type") == "checkboxes":
                initial = [o for o in element.get("initial_options") or [] if o["value"] != key]
                if done:
                    initial.append(next(o for o in element["options"] if o["value"] == key))
                element["initial_options"] = initial
    return shown


async def test_sigkill_during_concurrent_ticks_loses_no_acknowledged_tick(fake: FakeSlack, tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "opsbot.db"
    env = {**os.environ, "SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url,
           "PORT": str(port), "OPSBOT_DB": str(db)}
    env.pop("SLACK_APP_TOKEN", None)
    log = (tmp_path / "bot.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--demo", env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    acked: dict[str, int] = dict.fromkeys(PEOPLE, 0)
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"{base}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await _until(healthy, "the bot to listen")
            body = command_body("/debug", "taskflow-api")
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            async with http.post(f"{base}/slack/events", data=body, headers=headers) as response:
                assert response.status == 200

            async def checklist() -> dict[str, Any] | None:
                found = [m.as_api() for m in fake.all_messages() if m.text.startswith("Checklist")]
                return found[0] if found else None

            message = as_payload_message(await _until(checklist, "the checklist"))
            box = checkboxes(message)
            ticked = {o["value"] for o in box.get("initial_options") or []}
            mine = dict(zip(PEOPLE, [o["value"] for o in box["options"]], strict=False))
            assert len(mine) == len(PEOPLE), "the checklist has an item for each person"
            enough = asyncio.Event()

            async def person(user: str) -> None:
                key = mine[user]
                done = key in ticked
                while True:
                    shown = _with_state(message, box, key, done)
                    selected = [o for o in box["options"]
                                if (o["value"] == key and not done) or (o["value"] != key and o["value"] in ticked)]
                    action = {"type": "checkboxes", "action_id": box["action_id"], "block_id": box["block_id"],
                              "selected_options": selected, "action_ts": f"{time.time():.6f}"}
                    payload = actions_body(shown, action, user=user)
                    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(payload)}
                    try:
                        async with http.post(f"{base}/slack/events", data=payload, headers=headers) as response:
                            if response.status != 200:
                                return
                    except (aiohttp.ClientError, OSError):
                        return  # the bot is gone
                    acked[user] += 1
                    done = not done
                    if sum(acked.values()) >= KILL_AFTER:
                        enough.set()

            people = [asyncio.create_task(person(user)) for user in PEOPLE]
            await asyncio.wait_for(enough.wait(), DEADLINE)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await asyncio.gather(*people)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()

    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = dict(conn.execute(
            "SELECT by, COUNT(*) FROM timeline WHERE kind IN ('tick', 'untick') GROUP BY by").fetchall())
    assert sum(acked.values()) >= KILL_AFTER
    for user in PEOPLE:
        # every acknowledged interaction is stored; at most the one in flight at the kill is stored unacknowledged
        assert acked[user] <= stored.get(user, 0) <= acked[user] + 1, (user, acked[user], stored.get(user))



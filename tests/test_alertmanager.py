"""A real Alertmanager (Debian's prometheus-alertmanager; `make test` installs it) whose webhook
receiver points at the bot's `POST /alertmanager` on loopback, with a bearer token. Alerts are posted
to Alertmanager's v2 API; Alertmanager groups them and calls the bot; the bot talks to the fake Slack
Web API and the embedded sandbox. Outcomes are polled for, never slept on."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from bot.alerts import mount_alerts
from bot.app import build_app, build_web_app, readiness
from bot.guard import RequestGuard
from bot.runtime import open_runtime
from bot.slack import make_client
from bot.store import IncidentStore
from bot.threads import IncidentService
from tests.fakes.slack import FakeSlack
from tests.test_alerts import CHANNEL, TOKEN, alerts_settings
from tests.test_slackapp import SECRET

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
pytestmark = pytest.mark.skipif(not ALERTMANAGER.exists(), reason="prometheus-alertmanager is not installed "
                                                                  "(`make tools` installs it)")
DEADLINE = 60.0  # seconds an outcome may take before the test says what it was waiting for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(what: str, check: Callable[[], Any] | Callable[[], Awaitable[Any]]) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after DEADLINE seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def alertmanager_config(bot_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "opsbot",
            "group_by": ["service"],
            # small intervals: a group's first notification after 1 s, changes every second, and the
            # unchanged group again every 2 s (the "repeat")
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "2s",
        },
        "receivers": [{
            "name": "opsbot",
            "webhook_configs": [{
                "url": bot_url,
                "send_resolved": True,
                "max_alerts": 0,
                "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
            }],
        }],
    }


@dataclass
class Rig:
    fake: FakeSlack
    service: IncidentService
    store: IncidentStore
    am_url: str
    session: aiohttp.ClientSession

    async def post_alerts(self, *alerts: dict[str, Any]) -> None:
        async with self.session.post(f"{self.am_url}/api/v2/alerts", json=list(alerts)) as response:
            assert response.status == 200, await response.text()

    async def webhook_calls(self) -> float:
        """Notifications Alertmanager delivered to the webhook, from its own metrics."""
        async with self.session.get(f"{self.am_url}/metrics") as response:
            text = await response.text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith("alertmanager_notifications_total") and 'integration="webhook"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def roots(self) -> list[dict[str, Any]]:
        return [m.as_api() for m in self.fake.channel_messages(CHANNEL) if not m.thread_ts]

    def thread(self, root_ts: str) -> list[dict[str, Any]]:
        return [m.as_api() for m in self.fake.thread(CHANNEL, root_ts)]

    def alert_messages(self, root_ts: str) -> list[str]:
        return [json.dumps(m["blocks"]) for m in self.thread(root_ts) if m["text"].startswith("Alerts:")]

    def alert_entries(self) -> list[tuple[int, str]]:
        return [(i.id, e.text) for i in self.store.list_incidents(status=None)
                for e in self.store.timeline(i.id) if e.kind == "alert"]


def am_alert(name: str, service: str, *, resolved: bool = False, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "service": service, **labels},
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": (now - timedelta(minutes=3)).isoformat(),
        # Alertmanager's v2 API: an endsAt in the past resolves the alert, one in the future keeps it firing
        "endsAt": (now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)).isoformat(),
        "generatorURL": "http://prometheus.invalid/graph?g0.expr=up",
    }


@pytest.fixture
async def rig(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Rig]:
    settings = alerts_settings(fake, tmp_path / "opsbot.db")
    async with open_runtime(settings, demo=True) as runtime:
        store = IncidentStore(settings.store.path)
        service = IncidentService(runtime, store)
        client = make_client(settings)
        web_app = build_web_app(build_app(settings, runtime, store, client, service=service),
                                readiness(runtime, store), guard=RequestGuard(SECRET), service=service)
        mount_alerts(web_app, service, client)
        server = TestServer(web_app, host="127.0.0.1")
        await server.start_server()
        config = tmp_path / "alertmanager.yml"
        config.write_text(yaml.safe_dump(alertmanager_config(f"http://127.0.0.1:{server.port}/alertmanager")))
        am_port = free_port()
        log = (tmp_path / "alertmanager.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn",
            stdout=log, stderr=log, start_new_session=True,
        )
        am_url = f"http://127.0.0.1:{am_port}"
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

        async def ready() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"alertmanager exited: {(tmp_path / 'alertmanager.log').read_text()[-2000:]}")
            try:
                async with session.get(f"{am_url}/-/ready") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        try:
            await until("alertmanager's /-/ready", ready)
            yield Rig(fake, service, store, am_url, session)
        finally:
            await session.close()
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGTERM)
                await process.wait()
            log.close()
            await service.drain()
            await server.close()
            store.close()


async def test_firing_repeat_and_resolved_land_in_one_thread(rig: Rig) -> None:
    await rig.post_alerts(am_alert("HighErrorRate", "taskflow-api", severity="critical"))

    # firing -> one thread, with the debug report and the alert's line
    def debugged() -> Any:
        roots = rig.roots()
        if not roots:
            return None
        texts = [m["text"] for m in rig.thread(roots[0]["ts"])]
        return roots[0] if any("QueuePool" in t for t in texts) and rig.alert_messages(roots[0]["ts"]) else None

    root = await until("the incident thread with the debug report and the alert line", debugged)
    assert "debug taskflow-api" in root["text"]
    assert "HighErrorRate" in rig.alert_messages(root["ts"])[0]

    # a second alert of the service: a new line in the same thread
    await rig.post_alerts(am_alert("PodRestarting", "taskflow-api", pod="taskflow-api-7d9f8c6b5-x2kq9"))
    await until("the second alert's line", lambda: any("PodRestarting" in m for m in rig.alert_messages(root["ts"])))

    # Alertmanager repeats the unchanged group: the bot hears it and says nothing
    heard = await rig.webhook_calls()
    await until("a repeated notification", lambda: _more(rig, heard + 2))
    await rig.service.drain()
    assert len(rig.roots()) == 1
    assert sum(m.count("*firing* HighErrorRate") for m in rig.alert_messages(root["ts"])) == 1
    assert len(rig.alert_entries()) == 2  # one timeline entry per alert, by fingerprint

    # resolved -> a resolved line in the same thread (and, the service still failing, no Close)
    await rig.post_alerts(am_alert("HighErrorRate", "taskflow-api", resolved=True, severity="critical"),
                          am_alert("PodRestarting", "taskflow-api", resolved=True, pod="taskflow-api-7d9f8c6b5-x2kq9"))

    def resolved_lines() -> int:
        return sum(m.count("*resolved*") for m in rig.alert_messages(root["ts"]))

    await until("both resolved lines", lambda: resolved_lines() == 2)
    await until("the recheck's verdict", lambda: any("findings remain" in m["text"] or "close it?" in m["text"]
                                                      for m in rig.thread(root["ts"])))
    await rig.service.drain()
    assert len(rig.roots()) == 1
    texts = "\n".join(m["text"] for m in rig.thread(root["ts"]))
    assert "findings remain" in texts and "close it?" not in texts
    entries = [text for _, text in rig.alert_entries()]
    assert [t.split(" ")[0] for t in entries] == ["firing", "firing", "resolved", "resolved"]


async def _more(rig: Rig, at_least: float) -> bool:
    return await rig.webhook_calls() >= at_least


STORM_SERVICES = ("taskflow-api", "notification-service", "web-dashboard", "audit-service", "coredns")
THREAD_POSTS = 8  # a debug thread: root, progress, findings (a few), checklist, verdict (README's budget)
ALERT_POSTS = 6  # alert batches a storm may add to one thread


async def test_a_storm_makes_one_thread_per_service_within_the_budget(rig: Rig) -> None:
    storm = [am_alert(f"Storm{i % 4}", service, pod=f"{service}-pod-{i}", namespace="kube-system")
             for i in range(20) for service in STORM_SERVICES]
    assert len(storm) == 100
    for start in range(0, 100, 25):  # four bursts, as scrapes would bring them
        await rig.post_alerts(*storm[start:start + 25])

    await until("all 100 alerts in the timelines", lambda: len(rig.alert_entries()) == 100)
    await rig.service.drain()
    roots = rig.roots()
    assert len(roots) == len(STORM_SERVICES)
    assert sorted(i.service for i in rig.store.list_incidents()) == sorted(STORM_SERVICES)
    for root in roots:
        messages = rig.thread(root["ts"])
        alert_posts = rig.alert_messages(root["ts"])
        assert 1 <= len(alert_posts) <= ALERT_POSTS, (root["text"], len(alert_posts))
        assert len(messages) <= THREAD_POSTS + ALERT_POSTS
        shown = sum(len(re.findall(r"\*firing\*", m)) for m in alert_posts)
        hidden = sum(int(n) for m in alert_posts for n in re.findall(r"and (\d+) more", m))
        assert shown + hidden == 20  # every alert accounted for, one line each (or counted in a batch)
    posts = rig.fake.calls_to("chat.postMessage")
    assert len(posts) <= len(STORM_SERVICES) * (THREAD_POSTS + ALERT_POSTS)  # not one post per alert

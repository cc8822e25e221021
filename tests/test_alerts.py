"""`POST /alertmanager` over real HTTP: credentials, payload checks, routing, one thread per service
under concurrency, the Close offer once alerts resolved and the findings stopped, and the channel's
pace. (The same, driven by a real Alertmanager: tests/test_alertmanager.py.)"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.alertmanager import authorized, parse_notification, target_of
from bot.alerts import ALERTS_PATH, MAX_ALERTS_BODY, mount_alerts
from bot.app import build_app, build_web_app, readiness
from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.guard import RequestGuard
from bot.render import ActionId
from bot.runtime import open_runtime
from bot.slack import make_client
from bot.store import IncidentStore
from bot.threads import IncidentService
from bot.threads.alerts import AlertDesk, ChannelPace
from bot.threads.history import export_postmortem
from tests.fakes.slack import FakeSlack
from tests.test_slackapp import SECRET, actions_body, sign

TOKEN = "am-token-0123456789abcdef"
CHANNEL = "C0INCIDENT"
PAYMENTS = "C0PAYMENTS"


def alerts_settings(fake: FakeSlack, db: Path, **alerts: Any) -> Settings:
    config: dict[str, Any] = {"token": TOKEN, "channel": CHANNEL, "batch_seconds": 0.05, **alerts}
    return Settings(
        slack={"bot_token": fake.token, "signing_secret": SECRET, "api_url": fake.url},  # type: ignore[arg-type]
        store={"path": str(db)},  # type: ignore[arg-type]
        alerts=config,  # type: ignore[arg-type]
    )


def alert(name: str, service: str | None = "taskflow-api", *, status: str = "firing", fp: str | None = None,
          **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": name, **labels}
    if service is not None:
        all_labels["service"] = service
    now = datetime.now(UTC)
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": now.isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fp or format(abs(hash((name, service, tuple(sorted(labels.items()))))), "016x")[:16],
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4", "groupKey": '{}:{service="x"}', "truncatedAlerts": 0, "status": status,
        "receiver": "opsbot", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid", "alerts": list(alerts),
    }


@dataclass
class Stack:
    fake: FakeSlack
    http: TestClient
    service: IncidentService
    desk: AlertDesk
    store: IncidentStore

    async def send(self, body: Any, *, auth: str | None = f"Bearer {TOKEN}") -> Any:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return await self.http.post(ALERTS_PATH, data=data, headers=headers)

    def roots(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        return [m.as_api() for m in self.fake.channel_messages(channel) if not m.thread_ts]

    def thread_texts(self, root_ts: str, channel: str = CHANNEL) -> list[str]:
        return [m.as_api()["text"] + "\n" + json.dumps(m.blocks) for m in self.fake.thread(channel, root_ts)]


async def start_stack(fake: FakeSlack, settings: Settings) -> AsyncIterator[Stack]:
    async with open_runtime(settings, demo=True) as runtime:
        store = IncidentStore(settings.store.path)
        service = IncidentService(runtime, store)
        client = make_client(settings)
        app = build_app(settings, runtime, store, client, service=service)
        web_app = build_web_app(app, readiness(runtime, store), guard=RequestGuard(SECRET), service=service)
        desk = mount_alerts(web_app, service, client)
        http = TestClient(TestServer(web_app))
        await http.start_server()
        try:
            yield Stack(fake, http, service, desk, store)
        finally:
            await service.drain()
            await http.close()
            store.close()


@pytest.fixture
async def stack(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Stack]:
    async for running in start_stack(fake, alerts_settings(fake, tmp_path / "opsbot.db",
                                                         routes=[{"match": {"team": "payments"},
                                                                  "channel": PAYMENTS}])):
        yield running


# --- the door ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Bearer {TOKEN}x", "Basic Zm9vOmJhcg==",
                                  "Basic not-base64!", f"Token {TOKEN}", ""])
async def test_bad_credentials_get_401_and_nothing_happens(stack: Stack, auth: str | None) -> None:
    response = await stack.send(notification(alert("HighErrorRate")), auth=auth)
    assert response.status == 401
    assert "credentials" in (await response.json())["error"]
    await stack.service.drain()
    assert stack.fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body"),
        ({"version": "3", "alerts": []}, "version"),
        ({**notification(alert("A")), "alerts": [{**alert("A"), "status": "burning"}]}, "alerts.0.status"),
        ({**notification(alert("A")), "alerts": [{k: v for k, v in alert("A").items() if k != "labels"}]},
         "alerts.0.labels"),
        ({**notification(alert("A")), "alerts": [{**alert("A"), "fingerprint": "../../etc"}]}, "fingerprint"),
        ({**notification(alert("A")), "alerts": "many"}, "alerts"),
    ],
)
async def test_a_bad_payload_gets_400_with_the_reason(stack: Stack, body: Any, reason: str) -> None:
    response = await stack.send(body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error.startswith("not an Alertmanager v4 webhook") and reason in error
    assert "burning" not in error and "etc" not in error  # the reason, never the values


async def test_basic_auth_is_accepted_too(fake: FakeSlack, tmp_path: Path) -> None:
    settings = alerts_settings(fake, tmp_path / "db", token=None, username="am", password="pa:ss word")
    good = "Basic " + base64.b64encode(b"am:pa:ss word").decode()
    bad = "Basic " + base64.b64encode(b"am:pa:ss wore").decode()
    assert authorized(good, settings) and not authorized(bad, settings)
    assert not authorized(f"Bearer {TOKEN}", settings)  # no token configured: bearer is nobody


async def test_without_credentials_the_route_does_not_exist(fake: FakeSlack, tmp_path: Path) -> None:
    settings = Settings(slack={"bot_token": fake.token, "signing_secret": SECRET,  # type: ignore[arg-type]
                               "api_url": fake.url}, store={"path": str(tmp_path / "db")})  # type: ignore[arg-type]
    async for stack in start_stack(fake, settings):
        assert (await stack.send(notification(alert("A")))).status == 404


@pytest.mark.parametrize(
    ("alerts", "complaint"),
    [
        ({"token": "t"}, "alerts need a channel"),
        ({"username": "am", "channel": "C1"}, "needs alerts.password"),
        ({"token": "t", "routes": [{"match": {"a": "b"}}]}, "channel"),
    ],
)
def test_incomplete_alert_settings_stop_start_up(alerts: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_settings(alerts=alerts)


def test_routing_names_service_channel_and_namespace(tmp_path: Path) -> None:
    settings = Settings(alerts={"token": "t", "channel": CHANNEL,  # type: ignore[arg-type]
                                "routes": [{"match": {"team": "payments"}, "channel": PAYMENTS}],
                                "services": {"CheckoutSlow": "checkout-api"}},
                        services={"taskflow-api": {"namespace": "taskflow"}})  # type: ignore[dict-item]

    def route(*alerts: dict[str, Any]) -> list[tuple[str, str, str] | None]:
        parsed = parse_notification(json.dumps(notification(*alerts)).encode())
        return [(t.channel, t.service, t.namespace) if (t := target_of(a, settings)) else None
                for a in parsed.alerts]

    assert route(
        alert("A"),  # service label, catalogue namespace
        alert("B", None, deployment="web-dashboard", namespace="shop"),  # deployment label, the alert's namespace
        alert("C", None, **{"app.kubernetes.io/name": "audit-service"}),
        alert("D", None, app="notifier", team="payments"),  # a route
        alert("CheckoutSlow", None),  # mapped by alertname
        alert("E", None),  # names nothing
        alert("F", "Not A Name!"),  # not DNS-1123, and nothing else: ignored
    ) == [
        (CHANNEL, "taskflow-api", "taskflow"),
        (CHANNEL, "web-dashboard", "shop"),
        (CHANNEL, "audit-service", "default"),
        (PAYMENTS, "notifier", "default"),
        (CHANNEL, "checkout-api", "default"),
        None,
        None,
    ]


# --- threads -----------------------------------------------------------------------------------------


async def test_two_webhooks_for_one_service_at_once_open_one_thread(stack: Stack) -> None:
    first = notification(alert("HighErrorRate", pod="a"), alert("HighErrorRate", pod="b"))
    second = notification(alert("PodRestarting", pod="a"))
    responses = await asyncio.gather(stack.send(first), stack.send(second), stack.send(first))
    assert [r.status for r in responses] == [200, 200, 200]
    await stack.service.drain()
    (root,) = stack.roots()
    assert "debug taskflow-api" in root["text"]
    thread = "\n".join(stack.thread_texts(root["ts"]))
    assert "QueuePool" in thread  # the debug report
    # three new alerts, one line each; the repeated webhook said nothing more
    entries = [e for e in stack.store.timeline(1) if e.kind == "alert"]
    assert len(entries) == 3 and all(e.by == "alertmanager" for e in entries)
    assert thread.count("PodRestarting") >= 1
    assert len(stack.store.list_incidents(status="open")) == 1


async def test_alerts_without_a_service_open_no_thread_and_are_said_once_in_their_channel(stack: Stack) -> None:
    """No alert goes unseen: one that names no service opens no thread (there is nothing to debug) but
    is said in its channel, once while it fires, with what would route it."""
    nameless = alert("NodeDown", None, instance="node-7", fp="00de00de00de0001")
    response = await stack.send(notification(nameless, alert("HighErrorRate")))
    assert await response.json() == {"accepted": 1, "ignored": 1, "threads": 1}
    await stack.service.drain()
    said = [r for r in stack.roots() if "name no service" in r["text"]]
    assert len(stack.roots()) == 2 and len(said) == 1
    blocks = json.dumps(said[0]["blocks"])
    assert "NodeDown" in blocks and "`service`" in blocks and "alerts.services" in blocks
    await stack.send(notification(nameless))  # Alertmanager's repeat: nothing more
    await stack.service.drain()
    assert len(stack.roots()) == 2
    resolved = {**nameless, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()}
    await stack.send(notification(resolved))
    await stack.send(notification(nameless))  # fired again after it resolved: said again
    await stack.service.drain()
    assert len([r for r in stack.roots() if "name no service" in r["text"]]) == 2
    # routed by its labels like any alert: a payments alert is said in the payments channel
    await stack.send(notification(alert("QueueStuck", None, team="payments", fp="00de00de00de0002")))
    await stack.service.drain()
    (payments,) = stack.roots(PAYMENTS)
    assert "QueueStuck" in json.dumps(payments["blocks"])


async def test_a_resolved_alert_of_no_open_incident_opens_nothing(stack: Stack) -> None:
    assert (await stack.send(notification(alert("HighErrorRate", status="resolved")))).status == 200
    await stack.service.drain()
    assert stack.roots() == [] and stack.store.list_incidents(status=None) == []


async def test_resolved_and_healthy_offers_close_which_posts_the_postmortem(stack: Stack) -> None:
    firing = alert("AuditLag", "audit-service", team="payments", fp="a1b2c3d4e5f60718")
    await stack.send(notification(firing))
    await stack.service.drain()
    (root,) = stack.roots(PAYMENTS)  # routed by its team label
    await stack.send(notification({**firing, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()}))
    await stack.service.drain()
    messages = [m.as_api() for m in stack.fake.thread(PAYMENTS, root["ts"])]
    offer = next(m for m in messages if "resolved: close it?" in m["text"])
    button = next(e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["action_id"] == ActionId.INCIDENT_CLOSE
    assert any(":white_check_mark: *resolved* AuditLag" in json.dumps(m["blocks"]) for m in messages)
    # the Close button, pressed in Slack
    payload = {**offer, "thread_ts": root["ts"]}
    body = actions_body(payload, {"type": "button", "action_id": button["action_id"], "value": button["value"],
                                  "action_ts": "1700001000.000300"}, user="U0BOB")
    body = body.replace("C0INCIDENT", PAYMENTS)
    response = await stack.http.post("/slack/events", data=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
    assert response.status == 200
    await stack.service.drain()
    incident = stack.store.incident(1)
    assert incident.status == "closed" and incident.closed_by == "U0BOB"
    (upload,) = [f for f in stack.fake.files.values() if f.filename == "postmortem-incident-1.md"]
    assert upload.thread_ts == root["ts"]
    text = upload.text
    assert "## Timeline" in text and "AuditLag" in text and "alertmanager" in text
    assert "recheck" in text and "U0BOB" in text


async def test_resolved_but_still_failing_offers_no_close(stack: Stack) -> None:
    firing = alert("HighErrorRate", fp="0badc0ffee000001")
    await stack.send(notification(firing))
    await stack.service.drain()
    await stack.send(notification({**firing, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()}))
    await stack.service.drain()
    (root,) = stack.roots()
    thread = "\n".join(stack.thread_texts(root["ts"]))
    assert "a recheck still finds" in thread and "close it?" not in thread
    assert stack.store.incident(1).status == "open"


# --- the pace ------------------------------------------------------------------------------------------


async def test_a_channels_posts_keep_to_the_pace_after_a_burst() -> None:
    """The bucket's arithmetic on a clock the test moves: never more than the burst plus one post per
    interval, however many posts ask at once."""
    now = [0.0]
    taken: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = ChannelPace(1.0, burst=5, clock=lambda: now[0], sleep=sleep)

    async def post() -> None:
        await pace.take()
        taken.append(now[0])

    await asyncio.gather(*(post() for _ in range(40)))
    assert len(taken) == 40
    for i, at in enumerate(taken):
        # by time t, at most burst + t/interval posts went out
        assert i + 1 <= 5 + at / 1.0 + 1e-9
    assert taken[:5] == [0.0] * 5 and taken[-1] == pytest.approx(35.0)


async def test_secrets_in_an_alert_reach_neither_slack_nor_the_store(stack: Stack, tmp_path: Path) -> None:
    leaky = alert("DbAuthFailed", pod="a")
    leaky["annotations"]["summary"] = "login failed: postgres://app:Sup3r-s3cret-pw@db:5432/app"
    leaky["labels"]["dsn"] = "password=Sup3r-s3cret-pw"
    assert (await stack.send(notification(leaky))).status == 200
    await stack.service.drain()
    posted = json.dumps([c.args for c in stack.fake.calls])
    assert "DbAuthFailed" in posted and "Sup3r-s3cret-pw" not in posted
    stack.store.close()
    for path in Path(stack.store.path).parent.glob("opsbot.db*"):
        assert b"Sup3r-s3cret-pw" not in path.read_bytes(), path.name
    stack.store = IncidentStore(stack.store.path)  # the fixture closes it again


# --- odd inputs -------------------------------------------------------------------------------------------


async def test_odd_but_valid_payloads_are_taken(stack: Stack) -> None:
    empty = await stack.send(notification())  # an empty group: nothing to do, nothing wrong
    assert empty.status == 200 and await empty.json() == {"accepted": 0, "ignored": 0, "threads": 0}
    no_labels = await stack.send({**notification(alert("A")), "alerts": [{**alert("A"), "labels": {}}]})
    assert await no_labels.json() == {"accepted": 0, "ignored": 1, "threads": 0}
    # Alertmanager sends application/json; a proxy that rewrites it changes nothing
    plain = await stack.http.post(ALERTS_PATH, data=json.dumps(notification()),
                                  headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"})
    assert plain.status == 200
    number = await stack.send({**notification(), "version": 4})  # a number, from a relay: the same version
    assert number.status == 200
    await stack.service.drain()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**notification(alert("A")), "version": "3"}, "version: unsupported webhook version 3: opsbot reads"),
        ({**notification(alert("A")), "version": 5}, "version: unsupported webhook version 5"),
        ({**notification(alert("A")), "version": "Bearer s3cret-token-value"}, "unsupported webhook version other"),
        (b'{"version": "4", "alerts": "\xff\xfe"}', "body: Invalid JSON"),
        (b"", "body: Invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "body: Invalid JSON"),
        ({**notification(alert("A")), "alerts": [{**alert("A"), "labels": None}]}, "alerts.0.labels"),
    ],
)
async def test_odd_payloads_get_400_saying_what_is_wrong(stack: Stack, body: Any, reason: str) -> None:
    response = await stack.send(body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert reason in error and "s3cret" not in error


async def test_a_storms_big_body_is_read_and_a_too_big_one_says_how_to_bound_it(stack: Stack) -> None:
    # over the app's 1 MiB (Slack's payloads), as a group of 2,000 alerts with long annotations is
    many = [alert("HighErrorRate", pod=f"p{i}", fp=f"{i:016x}") for i in range(2_000)]
    for one in many:
        one["annotations"]["description"] = "x" * 600
    body = json.dumps(notification(*many)).encode()
    assert len(body) > 1024 * 1024
    response = await stack.send(body)
    assert response.status == 200 and (await response.json())["accepted"] == 2_000
    await stack.service.drain()
    assert len(stack.roots()) == 1  # one service, one thread
    huge = await stack.send(b" " * (MAX_ALERTS_BODY + 1))
    assert huge.status == 413 and "max_alerts" in (await huge.json())["error"]


def test_credentials_edge_cases(fake: FakeSlack, tmp_path: Path) -> None:
    # a token read from a Secret made with --from-file ends with a newline
    newline = alerts_settings(fake, tmp_path / "db", token=TOKEN + "\n")
    assert authorized(f"Bearer {TOKEN}", newline)
    # a token of white space is no token: the route is off rather than refusing everyone
    blank = Settings(alerts={"token": "  \n", "channel": CHANNEL})  # type: ignore[arg-type]
    assert not blank.alerts.enabled and not authorized("Bearer ", blank) and not authorized("Bearer", blank)
    # both configured: either credential opens the door, the wrong one of each does not
    both = alerts_settings(fake, tmp_path / "db", username="am", password="pw\n")
    assert authorized(f"Bearer {TOKEN}", both) and authorized(f"bearer   {TOKEN}", both)
    assert authorized("Basic " + base64.b64encode(b"am:pw").decode(), both)
    assert not authorized("Basic " + base64.b64encode(f"am:{TOKEN}".encode()).decode(), both)
    assert not authorized(f"Basic {TOKEN}", both) and not authorized("Bearer pw", both)
    assert not authorized("Bearer " + "é" * 30, both)  # not ASCII: compared as bytes, refused
    assert not authorized("Bearer \udcff\udcfe", both) and not authorized("Basic \udcff", both)  # raw bytes


async def test_a_service_the_cluster_does_not_know_gets_a_thread_saying_so(stack: Stack) -> None:
    """The alert is not dropped: its thread opens, and /debug says the deployment is not there and
    which ones are; the alerts that follow land in it."""
    await stack.send(notification(alert("GhostDown", "ghost-service")))
    await stack.service.drain()
    (root,) = stack.roots()
    thread = "\n".join(stack.thread_texts(root["ts"]))
    assert 'deployment "ghost-service" not found' in thread
    assert "GhostDown" in thread
    await stack.send(notification(alert("GhostSlow", "ghost-service")))
    await stack.service.drain()
    assert len(stack.roots()) == 1 and "GhostSlow" in "\n".join(stack.thread_texts(root["ts"]))


async def test_resolved_before_firing_says_nothing_even_in_an_open_thread(stack: Stack) -> None:
    await stack.send(notification(alert("HighErrorRate", fp="0000000000000aaa")))
    await stack.service.drain()
    (root,) = stack.roots()
    before = len(stack.thread_texts(root["ts"]))
    stray = alert("PodRestarting", fp="0000000000000bbb", status="resolved")  # never seen firing here
    await stack.send(notification(stray))
    await stack.service.drain()
    assert len(stack.thread_texts(root["ts"])) == before
    assert not any("PodRestarting" in e.text for e in stack.store.timeline(1))


async def test_an_alert_after_its_incident_closed_opens_a_new_thread_pointing_at_the_old(stack: Stack) -> None:
    firing = alert("HighErrorRate", fp="0000000000000ccc")
    await stack.send(notification(firing))
    await stack.service.drain()
    (first,) = stack.roots()
    stack.store.close_incident(1, by="U0BOB", summary="raised the pool size")
    await stack.send(notification({**firing, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()}))
    await stack.send(notification(firing))  # it fires again
    await stack.service.drain()
    second = next(r for r in stack.roots() if r["ts"] != first["ts"])
    thread = "\n".join(stack.thread_texts(second["ts"]))
    assert "fired again after incident #1 was closed" in thread and "/incident reopen #1" in thread
    assert [i.status for i in stack.store.list_incidents(status=None)] == ["open", "closed"]
    assert stack.store.incident(1).summary == "raised the pool size"  # the old one is left as it was
    assert any(e.kind == "related" and "#1" in e.text for e in stack.store.timeline(2))


async def test_one_service_name_in_two_namespaces_is_two_incidents(stack: Stack) -> None:
    """`cart` of the shop team and of the ops team: not the same incident (no catalogue entry
    says where it lives, so each alert's namespace label does)."""
    await stack.send(notification(alert("Slow", None, deployment="cart", namespace="shop", fp="5a"),
                                  alert("Slow", None, deployment="cart", namespace="ops", fp="5b")))
    await stack.service.drain()
    opened = sorted((i.service, i.namespace) for i in stack.store.list_incidents())
    assert opened == [("cart", "ops"), ("cart", "shop")]
    await stack.send(notification(alert("Down", None, deployment="cart", namespace="shop", fp="5c")))
    await stack.service.drain()
    assert len(stack.store.list_incidents()) == 2  # the repeat of a namespace lands in its own thread


async def test_a_group_alertmanager_cut_short_is_said_once(stack: Stack) -> None:
    cut = {**notification(alert("HighErrorRate", fp="7a")), "truncatedAlerts": 40}
    assert (await stack.send(cut)).status == 200
    assert (await stack.send(cut)).status == 200  # resent at the next group_interval: said once
    await stack.service.drain()
    said = [r for r in stack.roots() if "left out 40 alert(s)" in r["text"]]
    assert len(said) == 1 and "max_alerts" in said[0]["text"]


async def test_an_alert_resolving_after_its_incident_closed_ends_the_impact_window(stack: Stack) -> None:
    started = datetime.now(UTC) - timedelta(minutes=30)
    firing = {**alert("HighErrorRate", fp="0000000000000ddd"), "startsAt": started.isoformat()}
    await stack.send(notification(firing))
    await stack.service.drain()
    (root,) = stack.roots()
    stack.store.close_incident(1, by="U0BOB", summary="rolled back")
    assert "not reached: an alert was still firing" in export_postmortem(stack.store, 1)
    ended = datetime.now(UTC).replace(microsecond=0)
    await stack.send(notification({**firing, "status": "resolved", "endsAt": ended.isoformat()}))
    await stack.service.drain()
    assert len(stack.roots()) == 1 and stack.store.incident(1).status == "closed"  # no new thread, not reopened
    thread = "\n".join(stack.thread_texts(root["ts"]))
    assert "*resolved* HighErrorRate" in thread and "close it?" not in thread and "recheck" not in thread
    assert f"- **End** {ended:%Y-%m-%d %H:%M:%S} UTC" in export_postmortem(stack.store, 1)

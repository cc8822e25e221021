"""The fake Slack Web API, driven by the real slack_sdk AsyncWebClient over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import render
from bot.models import ActionKind, ChecklistItem, Finding, NextAction, NextCommand, Report, StepResult
from tests.fakes.slack import VALID_TOKEN, FakeSlack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=VALID_TOKEN, base_url=fake.url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def checkboxes(n: int, text: str = "item") -> dict[str, Any]:
    options = [{"text": {"type": "mrkdwn", "text": text}, "value": f"k{i}"} for i in range(n)]
    return {"type": "actions", "elements": [{"type": "checkboxes", "action_id": "c", "options": options}]}


async def test_url_is_the_api_base(fake: FakeSlack) -> None:
    assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/api/")


async def test_auth_test_checks_the_bearer_token(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == "U0OPSBOT"
    assert fake.calls_to("auth.test")[0].headers["Authorization"] == f"Bearer {VALID_TOKEN}"
    with pytest.raises(SlackApiError) as bad:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.url).auth_test()
    assert bad.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.url).auth_test()
    assert missing.value.response["error"] == "not_authed"
    assert len(fake.calls_to("auth.test")) == 3  # refused calls are recorded too


async def test_post_reply_update_and_read_a_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel="C1", text="root", blocks=[section("*root*")])
    reply = await client.chat_postMessage(channel="C1", thread_ts=root["ts"], text="progress 1/6")
    await client.chat_postMessage(channel="C1", text="elsewhere")
    updated = await client.chat_update(channel="C1", ts=reply["ts"], text="progress 6/6", blocks=[section("6/6")])
    assert updated["ts"] == reply["ts"]

    stored = fake.message("C1", reply["ts"])
    assert stored is not None and stored.text == "progress 6/6" and stored.edits == 1
    assert stored.blocks == [section("6/6")]
    replies = await client.conversations_replies(channel="C1", ts=root["ts"])
    assert [m["text"] for m in replies["messages"]] == ["root", "progress 6/6"]
    assert [m.text for m in fake.thread("C1", root["ts"])] == ["root", "progress 6/6"]
    assert float(root["ts"]) < float(reply["ts"])
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == [section("*root*")]  # a JSON body


async def test_update_of_an_unknown_message_fails(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    assert info.value.response["error"] == "message_not_found"


async def test_replies_of_an_unknown_thread_fail(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.conversations_replies(channel="C1", ts="1.000001")
    assert info.value.response["error"] == "thread_not_found"


async def test_ephemeral_messages_are_kept_apart(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.chat_postEphemeral(channel="C1", user="U123", text="usage: /debug SERVICE")
    assert response["message_ts"]
    assert fake.ephemeral[0]["user"] == "U123" and fake.ephemeral[0]["text"] == "usage: /debug SERVICE"
    assert fake.all_messages() == []


async def test_users_info_from_query_or_form(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.users_info(user="U123ABC")
    assert response["user"]["id"] == "U123ABC"
    assert fake.calls_to("users.info")[0].args == {"user": "U123ABC"}
    with pytest.raises(SlackApiError) as info:
        await client.users_info(user="nobody")
    assert info.value.response["error"] == "user_not_found"


async def test_named_users(client: AsyncWebClient) -> None:
    async with FakeSlack(users={"U1": "alice"}) as named:
        named_client = AsyncWebClient(token=VALID_TOKEN, base_url=named.url)
        assert (await named_client.users_info(user="U1"))["user"]["name"] == "alice"
        with pytest.raises(SlackApiError):
            await named_client.users_info(user="U2")


async def test_form_bodies_and_query_strings_are_read(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.api_call("chat.postMessage", data={"channel": "C1", "text": "form",
                                                    "blocks": json.dumps([section("from a form")])})
    await client.api_call("chat.postMessage", params={"channel": "C1", "text": "query"})
    assert [m.text for m in fake.channel_messages("C1")] == ["form", "query"]
    assert fake.channel_messages("C1")[0].blocks == [section("from a form")]


async def test_files_upload_v2_end_to_end(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel="C1", text="root")
    content = "2026-03-01 ERROR QueuePool limit reached\n" * 500
    response = await client.files_upload_v2(
        channel="C1", thread_ts=root["ts"], content=content, filename="logs-taskflow-api.txt",
        title="Log tails", initial_comment="log tails of the failing containers",
    )
    assert response["file"]["name"] == "logs-taskflow-api.txt"
    assert [c.method for c in fake.calls] == [
        "chat.postMessage", "files.getUploadURLExternal", "upload", "files.completeUploadExternal",
    ]
    [upload] = fake.files.values()
    assert upload.completed and upload.text == content and upload.length == len(content.encode())
    assert (upload.channel, upload.thread_ts, upload.title) == ("C1", root["ts"], "Log tails")
    thread = fake.thread("C1", root["ts"])
    assert thread[-1].files[0]["id"] == upload.id
    assert thread[-1].text == "log tails of the failing containers"


async def test_completing_an_upload_that_never_happened_fails(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}], channel_id="C1")
    assert info.value.response["error"] == "file_not_found"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"text": "x", "blocks": [section(str(i)) for i in range(51)]}, "invalid_blocks"),
        ({"text": "x", "blocks": [section("a" * 3001)]}, "invalid_blocks"),
        ({"text": "x", "blocks": [section("   ")]}, "invalid_blocks"),
        ({"text": "x", "blocks": [checkboxes(11)]}, "invalid_blocks"),
        ({"text": "x", "blocks": [checkboxes(3, text="o" * 76)]}, "invalid_blocks"),
        ({"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
         "invalid_blocks"),
        ({"text": "x", "blocks": [{"type": "actions", "elements": [
            {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": "go"}, "value": "v" * 2001}
        ]}]}, "invalid_blocks"),
        ({"text": "x", "blocks": [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]},
         "invalid_blocks"),
        ({"text": "x", "blocks": [section("a" * 2900) for _ in range(5)]}, "msg_blocks_too_long"),
        ({}, "no_text"),
        ({"text": "", "blocks": []}, "no_text"),
    ],
    ids=["51-blocks", "long-section", "empty-section", "11-options", "long-option", "long-header",
         "long-button-value", "duplicate-block-id", "too-much-text", "nothing", "empty"],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_slack_refuses_what_slack_refuses(
    fake: FakeSlack, client: AsyncWebClient, message: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C1", **message)
    assert info.value.response["error"] == error
    if error == "invalid_blocks":
        assert info.value.response["errors"]
    posted = await client.chat_postMessage(channel="C1", text="fine")
    with pytest.raises(SlackApiError) as on_update:
        await client.chat_update(channel="C1", ts=posted["ts"], **message)
    assert on_update.value.response["error"] == error
    assert [m.text for m in fake.all_messages()] == ["fine"]


async def test_unknown_channels() -> None:
    async with FakeSlack(channels=["C1"]) as strict:
        strict_client = AsyncWebClient(token=VALID_TOKEN, base_url=strict.url)
        await strict_client.chat_postMessage(channel="C1", text="ok")
        with pytest.raises(SlackApiError) as info:
            await strict_client.chat_postMessage(channel="C2", text="x")
        assert info.value.response["error"] == "channel_not_found"
    async with FakeSlack() as loose:
        with pytest.raises(SlackApiError) as info:
            await AsyncWebClient(token=VALID_TOKEN, base_url=loose.url).chat_postMessage(channel="#general", text="x")
        assert info.value.response["error"] == "channel_not_found"


async def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack) -> None:
    fake.rate_limit(1, retry_after=0)
    plain = AsyncWebClient(token=VALID_TOKEN, base_url=fake.url)
    with pytest.raises(SlackApiError) as info:
        await plain.chat_postMessage(channel="C1", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "0"
    assert fake.all_messages() == []

    fake.rate_limit(2, retry_after=0)
    patient = AsyncWebClient(
        token=VALID_TOKEN, base_url=fake.url,
        retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    response = await patient.chat_postMessage(channel="C1", text="after two 429s")
    assert response["ok"]
    assert len(fake.calls_to("chat.postMessage")) == 1 + 3
    assert [m.text for m in fake.all_messages()] == ["after two 429s"]


async def test_response_url_is_recorded_and_used_up_after_five(fake: FakeSlack) -> None:
    url = fake.response_url()
    webhook = AsyncWebhookClient(url)
    for i in range(5):
        response = await webhook.send(text=f"reply {i}", response_type="ephemeral")
        assert response.status_code == 200
    assert (await webhook.send(text="sixth")).status_code == 404
    assert [r["text"] for r in fake.responses[url]] == [f"reply {i}" for i in range(5)]
    assert fake.responses[url][0]["response_type"] == "ephemeral"
    empty = await AsyncWebhookClient(fake.response_url()).send(text="")
    assert (empty.status_code, empty.body) == (400, "no_text")


async def test_unknown_method(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.api_call("chat.nope")
    assert info.value.response["error"] == "unknown_method"


async def test_upload_url_answers_plain_http(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    async with aiohttp.ClientSession() as session, session.post(response["upload_url"], data=b"abc") as r:
        assert r.status == 200
    assert fake.files[response["file_id"]].content == b"abc"


async def test_every_rendered_message_of_a_big_report_is_accepted(fake: FakeSlack, client: AsyncWebClient) -> None:
    """The renderer and the fake agree on Slack's limits, through the real client."""
    action = NextAction(kind=ActionKind.PREVIOUS_LOGS, namespace="ns", pod="p" * 200, container="api")
    finding = Finding(
        pattern="p", title="T & <b>" * 40, count=3, pods=[f"pod-{i}" for i in range(30)], sample="s<" * 3000,
        cause="c" * 5000, fix="f&" * 3000, snippet="x\n" * 4000, evidence=["e" * 900] * 12,
        next_commands=[NextCommand(label="l" * 200, command="k" * 900, action=action)] * 9,
    )
    report = Report(
        service="taskflow-api", namespace="taskflow", started_at=datetime.now(UTC),
        findings=[finding] * 15,
        steps=[StepResult(name=f"s{i}", title="t" * 300, summary="u" * 500) for i in range(60)],
        checklist=[ChecklistItem(key=f"k{i}", text="c&" * 100, done=i % 2 == 0, evidence="e" * 200)
                   for i in range(37)],
    )
    messages = [
        render.root_message(None, report, requested_by="U1"),
        render.progress_message(report),
        *render.findings_messages(report),
        *render.checklist_messages(report.checklist),
    ]
    assert len(messages) >= 4 and any(m.files for m in messages)
    root = await client.chat_postMessage(channel="C1", text=messages[0].text, blocks=messages[0].blocks)
    for message in messages[1:]:
        posted = await client.chat_postMessage(
            channel="C1", thread_ts=root["ts"], text=message.text, blocks=message.blocks
        )
        await client.chat_update(channel="C1", ts=posted["ts"], text=message.text, blocks=message.blocks)
        for snippet in message.files:
            await client.files_upload_v2(channel="C1", thread_ts=root["ts"], content=snippet.content,
                                         filename=snippet.filename, title=snippet.title)
    assert len(fake.thread("C1", root["ts"])) == len(messages) + sum(len(m.files) for m in messages)

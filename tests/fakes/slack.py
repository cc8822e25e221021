"""A fake Slack Web API over real HTTP (aiohttp), for the real `AsyncWebClient(base_url=fake.url)`.

It reads arguments the way Slack does - JSON bodies, form bodies and query strings, the token from
`Authorization: Bearer` (or a `token` argument) - records every call, keeps messages per channel
with their ts and thread_ts, and answers like Slack, including its refusals: `invalid_blocks`,
`msg_blocks_too_long`, `no_text`, `channel_not_found`, `invalid_auth`, 429 with Retry-After.

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.token, base_url=fake.url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert fake.calls_to("chat.postMessage")[0].args["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

VALID_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"  # Socket Mode: only apps.connections.open takes it
BOT_USER_ID = "U0OPSBOT"
BOT_ID = "B0OPSBOT"
TEAM_ID = "T0FAKE"

# Slack's limits (see /work/shared/SLACK.md)
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CHECKBOX_OPTIONS = 10
MAX_OPTION_TEXT = 75
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCKS_TEXT = 12_000

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]


@dataclass
class StoredMessage:
    channel: str
    ts: str
    text: str | None
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    files: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0  # how many times chat.update changed it

    def as_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "bot_id": BOT_ID,
                               "text": self.text or "", "blocks": self.blocks}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.files:
            out["files"] = self.files
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    content: bytes | None = None  # None until the bytes are POSTed to the upload_url
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False

    @property
    def text(self) -> str:
        return (self.content or b"").decode("utf-8", errors="replace")


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# --- validation, as Slack does it -----------------------------------------------------------------


def blocks_text_length(node: Any) -> int:
    """Characters of text in text objects: what msg_blocks_too_long counts."""
    if isinstance(node, dict):
        own = len(node["text"]) if node.get("type") in ("plain_text", "mrkdwn") and isinstance(
            node.get("text"), str) else 0
        return own + sum(blocks_text_length(v) for v in node.values() if not isinstance(v, str))
    if isinstance(node, list):
        return sum(blocks_text_length(v) for v in node)
    return 0


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def _check_element(where: str, element: dict[str, Any], errors: list[str]) -> None:
    action_id = element.get("action_id")
    if action_id is not None and len(action_id) > MAX_ID:
        errors.append(f"{where}.action_id must be at most {MAX_ID} characters")
    kind = element.get("type")
    if kind == "button":
        text = _text_of(element.get("text"))
        if not text.strip():
            errors.append(f"{where}.text must not be empty")
        if len(text) > MAX_BUTTON_TEXT:
            errors.append(f"{where}.text must be at most {MAX_BUTTON_TEXT} characters")
        if len(element.get("value", "")) > MAX_BUTTON_VALUE:
            errors.append(f"{where}.value must be at most {MAX_BUTTON_VALUE} characters")
    if kind in ("checkboxes", "radio_buttons", "static_select", "overflow"):
        options = element.get("options") or []
        if kind == "checkboxes" and len(options) > MAX_CHECKBOX_OPTIONS:
            errors.append(f"{where}.options must provide at most {MAX_CHECKBOX_OPTIONS} items")
        if not options:
            errors.append(f"{where}.options must provide at least 1 item")
        values = {o.get("value") for o in options}
        for j, option in enumerate(options):
            if len(_text_of(option.get("text"))) > MAX_OPTION_TEXT:
                errors.append(f"{where}.options[{j}].text must be at most {MAX_OPTION_TEXT} characters")
            if len(_text_of(option.get("description"))) > MAX_OPTION_TEXT:
                errors.append(f"{where}.options[{j}].description must be at most {MAX_OPTION_TEXT} characters")
            if len(option.get("value", "")) > 150:
                errors.append(f"{where}.options[{j}].value must be at most 150 characters")
        for j, option in enumerate(element.get("initial_options") or []):
            if option.get("value") not in values:
                errors.append(f"{where}.initial_options[{j}] must match one of the options")


def validate_blocks(blocks: Any) -> list[str]:
    """Slack's own checks, in its words; an empty list means Slack would take these blocks."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"must provide at most {MAX_BLOCKS} items [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(block, dict) or "type" not in block:
            errors.append(f"missing required field: type {where}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(block_id) > MAX_ID:
                errors.append(f"block_id must be at most {MAX_ID} characters {where}")
            if block_id in block_ids:
                errors.append(f"duplicate block_id {block_id!r} {where}")
            block_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            text = _text_of(block.get("text"))
            if "text" in block and not text.strip():
                errors.append(f"must be more than 0 characters [json-pointer:/blocks/{i}/text/text]")
            if len(text) > MAX_SECTION_TEXT:
                errors.append(f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:/blocks/{i}/text]")
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields {where}")
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                _check_element(f"{where}.accessory", accessory, errors)
        elif kind == "header":
            text = _text_of(block.get("text"))
            if not text.strip() or len(text) > MAX_HEADER_TEXT:
                errors.append(f"text must be 1 to {MAX_HEADER_TEXT} characters {where}")
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
                errors.append(f"elements must provide 1 to {MAX_CONTEXT_ELEMENTS} items {where}")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
                errors.append(f"elements must provide 1 to {MAX_ACTIONS_ELEMENTS} items {where}")
            action_ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
            if len(action_ids) != len(set(action_ids)):
                errors.append(f"action_id values must be unique in a block {where}")
            for j, element in enumerate(elements):
                if isinstance(element, dict):
                    _check_element(f"{where}.elements[{j}]", element, errors)
        elif kind == "markdown":
            if len(block.get("text", "")) > 12_000:
                errors.append(f"text must be at most 12000 characters {where}")
        elif kind not in ("divider", "image", "input", "rich_text", "file", "video"):
            errors.append(f"unsupported type: {kind} {where}")
    return errors


def _parse_blocks(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SlackError("invalid_blocks_format") from exc
    return value


def _check_message(args: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    text = args.get("text")
    blocks = _parse_blocks(args.get("blocks"))
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if blocks:
        errors = validate_blocks(blocks)
        if errors:
            raise SlackError("invalid_blocks", errors=errors,
                             response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        if blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
            raise SlackError("msg_blocks_too_long")
    return text, blocks or []


# --- the server ---------------------------------------------------------------------------------


class FakeSlack:
    """A Slack Web API on 127.0.0.1. `url` ends with /api/ as the client expects.

    `channels=None` accepts any channel id that looks like one (C..., G..., D...);
    a list accepts only those. `users` maps user ids to names for users.info.
    """

    def __init__(
        self,
        *,
        token: str = VALID_TOKEN,
        app_token: str = APP_TOKEN,
        channels: Iterable[str] | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_replies: dict[str, dict[str, Any]] = {}
        self._socket_open = asyncio.Event()
        self._replied: dict[str, asyncio.Event] = {}
        self.channels = set(channels) if channels is not None else None
        self.users = dict(users or {})
        self.calls: list[Call] = []
        self.messages: dict[str, list[StoredMessage]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.files: dict[str, UploadedFile] = {}
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._rate_limited = 0
        self._retry_after = 0
        self._failures: list[tuple[int, str, str]] = []  # (status, body, content type) of the next calls
        self.outsiders: set[str] = set()  # channels the bot is not a member of: not_in_channel
        self._runner: web.AppRunner | None = None
        self.root = ""
        self._handlers: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.replies": self._replies,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "apps.connections.open": self._connections_open,
        }

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"{self.root}/api/"

    # --- what tests look at -----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def rate_limit(self, calls: int, *, retry_after: int = 0) -> None:
        """Answer the next `calls` API calls with 429 and Retry-After, as Slack's rate limiter does."""
        self._rate_limited = calls
        self._retry_after = retry_after

    def fail(self, calls: int, *, status: int = 502, body: str = "<html><body>502 Bad Gateway</body></html>",
             content_type: str = "text/html") -> None:
        """Answer the next `calls` API calls as a broken proxy or an outage would: `status` with a body
        that need not be JSON."""
        self._failures += [(status, body, content_type)] * calls

    def response_url(self) -> str:
        """A fresh response_url; what is posted to it lands in `responses[url]`."""
        key = f"R{next(self._ids):04d}"
        url = f"{self.root}/response/{key}"
        self.responses[url] = []
        return url

    def channel_messages(self, channel: str) -> list[StoredMessage]:
        return list(self.messages.get(channel, []))

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        return next((m for m in self.messages.get(channel, []) if m.ts == ts), None)

    def thread(self, channel: str, ts: str) -> list[StoredMessage]:
        """The parent and its replies, oldest first."""
        return [m for m in self.messages.get(channel, []) if m.ts == ts or m.thread_ts == ts]

    def all_messages(self) -> list[StoredMessage]:
        return [m for ms in self.messages.values() for m in ms]

    # --- plumbing ---------------------------------------------------------------------------------

    @staticmethod
    async def _read_args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args

    def _auth(self, request: web.Request, args: dict[str, Any], expected: str) -> None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else args.get("token")
        if not token:
            raise SlackError("not_authed")
        if token != expected:
            raise SlackError("invalid_auth")

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _channel(self, value: Any) -> str:
        channel = str(value or "")
        if channel in self.outsiders:
            raise SlackError("not_in_channel")
        known = self.channels is None and bool(_CHANNEL_ID.match(channel))
        if not (known or (self.channels is not None and channel in self.channels)):
            raise SlackError("channel_not_found")
        return channel

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._read_args(request)
        self.calls.append(Call(method, args, dict(request.headers)))
        if self._failures:
            status, text, content_type = self._failures.pop(0)
            return web.Response(status=status, text=text, content_type=content_type)
        if self._rate_limited > 0:
            self._rate_limited -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(self._retry_after)})
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            self._auth(request, args, self.app_token if method == "apps.connections.open" else self.token)
            body = await handler(args)
        except SlackError as exc:
            return web.json_response({"ok": False, "error": exc.error, **exc.extra})
        return web.json_response({"ok": True, **body})

    # --- methods ----------------------------------------------------------------------------------

    async def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.root.replace("http://", "ws://") + "/socket"}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, then record every envelope the app acknowledges."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0OPSBOT"}})
        self._socket_open.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                reply = json.loads(message.data)
                envelope = str(reply.get("envelope_id", ""))
                self.socket_replies[envelope] = reply
                self._replied.setdefault(envelope, asyncio.Event()).set()
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                            timeout: float = 10.0) -> str:
        """Deliver one Socket Mode envelope (slash_commands, interactive, events_api); its id."""
        await asyncio.wait_for(self._socket_open.wait(), timeout)
        envelope = f"env-{next(self._ids)}"
        self._replied.setdefault(envelope, asyncio.Event())
        await self.sockets[-1].send_json({
            "envelope_id": envelope, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else "",
        })
        return envelope

    async def socket_reply(self, envelope: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The app's acknowledgement of an envelope (Slack wants it within 3 s)."""
        await asyncio.wait_for(self._replied.setdefault(envelope, asyncio.Event()).wait(), timeout)
        return self.socket_replies[envelope]

    async def _api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"args": args}

    async def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://fake.slack.com/", "team": "Fake", "user": "opsbot", "team_id": TEAM_ID,
                "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    async def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        text, blocks = _check_message(args)
        thread_ts = args.get("thread_ts") or None
        message = StoredMessage(channel, self._next_ts(), text, blocks, thread_ts=thread_ts)
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message.ts, "message": message.as_api()}

    async def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self.message(channel, str(args.get("ts", "")))
        if message is None:
            raise SlackError("message_not_found")
        text, blocks = _check_message(args)
        message.text, message.blocks = text, blocks
        message.edits += 1
        return {"channel": channel, "ts": message.ts, "text": text or "", "message": message.as_api()}

    async def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = str(args.get("user") or "")
        if not _USER_ID.match(user):
            raise SlackError("user_not_found")
        text, blocks = _check_message(args)
        ts = self._next_ts()
        self.ephemeral.append({"channel": channel, "user": user, "ts": ts, "text": text, "blocks": blocks,
                               "thread_ts": args.get("thread_ts")})
        return {"message_ts": ts}

    async def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        ts = str(args.get("ts") or "")
        thread = self.thread(channel, ts)
        if not thread:
            raise SlackError("thread_not_found")
        return {"messages": [m.as_api() for m in thread], "has_more": False}

    async def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or "")
        if user in self.users:
            name = self.users[user]
        elif not self.users and _USER_ID.match(user):
            name = user.lower()
        else:
            raise SlackError("user_not_found")
        return {"user": {"id": user, "name": name, "real_name": name, "team_id": TEAM_ID, "tz": "UTC",
                         "is_bot": False, "profile": {"display_name": name, "real_name": name}}}

    async def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except ValueError:
            raise SlackError("invalid_arg_name") from None
        if not filename:
            raise SlackError("invalid_arguments")
        if length <= 0:
            raise SlackError("invalid_length")
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = UploadedFile(id=file_id, filename=filename, length=length)
        return {"upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id, "bytes": len(data)}, dict(request.headers)))
        upload = self.files.get(file_id)
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        upload.content = data
        return web.Response(text=f"OK - {len(data)}")

    async def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            entries = json.loads(args.get("files") or "[]")
        except json.JSONDecodeError:
            raise SlackError("invalid_arguments") from None
        if not entries:
            raise SlackError("invalid_arguments")
        channel = self._channel(args["channel_id"]) if args.get("channel_id") else None
        thread_ts = args.get("thread_ts") or None
        shared = []
        comment = args.get("initial_comment") or None
        for entry in entries:
            upload = self.files.get(str(entry.get("id")))
            if upload is None or upload.content is None:
                raise SlackError("file_not_found")
            upload.title = entry.get("title") or upload.filename
            upload.channel, upload.thread_ts = channel, thread_ts
            upload.initial_comment = comment
            upload.completed = True
            shared.append({"id": upload.id, "name": upload.filename, "title": upload.title,
                           "size": len(upload.content), "mimetype": "text/plain"})
        if channel is not None:
            message = StoredMessage(channel, self._next_ts(), comment or "", [],
                                    thread_ts=thread_ts, files=shared)
            self.messages.setdefault(channel, []).append(message)
        return {"files": shared}

    async def _response(self, request: web.Request) -> web.Response:
        url = f"{self.root}/response/{request.match_info['key']}"
        args = await self._read_args(request)
        self.calls.append(Call("response_url", args, dict(request.headers)))
        if url not in self.responses:
            return web.Response(status=404, text="no_service")
        if len(self.responses[url]) >= 5:  # Slack allows five uses of a response_url
            return web.Response(status=404, text="used_up")
        try:
            _check_message(args)
        except SlackError as exc:
            return web.Response(status=400, text=exc.error)
        self.responses[url].append(args)
        return web.Response(text="ok")

"""The Slack gateway: the only code that calls the Slack Web API.

`make_client` builds the Web API client (base URL, retries on connection errors, 429 and 5xx);
`SlackSink` writes an incident thread with it: post, update, ephemeral answers, files. Slack's
errors are translated here, once, into opsbot's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import Settings
from bot.errors import ConfigError, UnavailableError, UsageError
from bot.models import FileSnippet, Message
from bot.plumbing.metrics import API_ERRORS

log = logging.getLogger(__name__)


def secret(value: SecretStr | None) -> str | None:
    """The secret's text, None when unset or empty."""
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


WEB_API_TIMEOUT = 30  # seconds a Web API call may take (slack_sdk's default)


def slack_session() -> aiohttp.ClientSession:
    """One HTTP session for every Web API call of a server, its connections kept and reused. Without
    one, slack_sdk opens a session, a connection (a TLS handshake, with Slack) for each call and
    closes them after it: a /debug's thread is a dozen calls. A connection Slack closed meanwhile is
    a connection error, which the client's retry handler retries."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT))


def make_client(settings: Settings, *, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base, a few quick retries on connection errors, 429 and
    5xx (for Bolt's own calls, auth.test); `SlackSink` keeps retrying past them, as long as Slack
    asks (Retry-After) and within its patience: a fixed count would give up, and the work with it.
    `session`: the HTTP session to make every call in (`slack_session`), else one a call."""
    token = secret(settings.slack.bot_token)
    if token is None:
        raise ConfigError("SLACK_BOT_TOKEN", "is required to serve Slack (the bot token, xoxb-...)")
    return AsyncWebClient(
        token=token,
        base_url=settings.slack.api_url,
        session=session,
        timeout=WEB_API_TIMEOUT,
        retry_handlers=[
            # The list replaces the default, which holds only the connection handler: keep it.
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=1),
        ],
    )


# what Slack answers a token it will not take: the setting is wrong, not Slack
BAD_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
             "not_allowed_token_type", "missing_scope", "no_permission", "ekm_access_denied"}


async def check_tokens(client: AsyncWebClient, app_token: str | None = None) -> str:
    """At start: ask Slack whether it takes the bot token (`auth.test`) and, for Socket Mode, the app
    token (`apps.connections.open`). A token it refuses is a `ConfigError` naming that token; returns
    the bot's identity ("opsbot in Acme") for the start-up log."""
    checks: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
        ("SLACK_BOT_TOKEN", "auth.test", client.auth_test)]
    if app_token is not None:
        checks.append(("SLACK_APP_TOKEN", "apps.connections.open",
                       lambda: client.apps_connections_open(app_token=app_token)))
    who = ""
    for setting, method, call in checks:
        try:
            answer = await call()
        except SlackApiError as exc:
            status, code, _ = _status_and_code(exc)
            if code in BAD_TOKEN or status in (401, 403):
                raise ConfigError(setting, f"Slack refused it ({method}: {code}); copy it again from the app's "
                                           "settings page") from None
            raise UnavailableError(f"Slack answered {method} with {code}") from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise UnavailableError(f"cannot reach Slack at {client.base_url} ({type(exc).__name__}: {exc})") from None
        if method == "auth.test":
            who = f"{answer.get('user', '?')} in {answer.get('team', '?')}"
    return who


PATIENCE = 300.0  # seconds a write keeps retrying through rate limits and outages (settings.slack.patience)
MAX_BACKOFF = 30.0
# answers that will not change by asking again: the channel is wrong, not Slack
NOT_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot"}
NOT_HERE_TEXT = (
    "opsbot cannot post in this conversation ({code}): it is not a member, or it is a DM or a private "
    "channel it was not invited to. Invite it with `/invite @opsbot` in the channel, then run the command again."
)


class SlackChannelError(UsageError):
    """opsbot may not write where it was asked to: the message says how to let it in."""


def _status_and_code(exc: SlackApiError) -> tuple[int, str, float | None]:
    """(HTTP status, Slack's error code or a description of the body, Retry-After seconds) of a failed
    call; a body that is not JSON (an HTML 502 page from a proxy) is described, never indexed."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    code = str(data.get("error") or "error") if isinstance(data, dict) else f"HTTP {status} (not JSON)"
    headers = getattr(response, "headers", None) or {}
    retry_after = None
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                retry_after = max(0.0, float(str(raw)))
            except ValueError:
                retry_after = None
    return status, code[:80], retry_after


class SlackSink:
    """A `ThreadSink` over the Slack Web API. Slack errors are translated here, once.

    A call that meets a rate limit (429) waits as long as Retry-After says and tries again; a server
    error or an unreachable Slack is retried with backoff; both for up to `patience` seconds, so a
    Slack hiccup delays the thread instead of losing it. With `response_url` (given with every slash
    command and interaction), answers only the person sees go there: it works where the bot is not a
    member of the channel, where chat.postEphemeral cannot."""

    def __init__(self, client: AsyncWebClient, channel: str, *, response_url: str | None = None,
                 patience: float = PATIENCE, backoff: float = 1.0) -> None:
        self.client = client
        self.channel = channel
        self.response_url = response_url
        self.patience = patience
        self.backoff = backoff  # first wait after a server error; doubled each time, up to MAX_BACKOFF

    async def _call(self, method: str, call: Callable[[], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except SlackApiError as exc:
                status, code, retry_after = _status_and_code(exc)
                API_ERRORS.labels(api="slack", kind=code[:40]).inc()
                if code in NOT_HERE:
                    raise SlackChannelError(NOT_HERE_TEXT.format(code=code), status=status, details=code) from None
                transient = status == 429 or status >= 500 or code in ("ratelimited", "internal_error",
                                                                       "fatal_error", "service_unavailable")
                if not transient:
                    raise UnavailableError(f"Slack {method} failed: {code}", status=status, details=code) from None
                wait = retry_after if retry_after is not None else min(MAX_BACKOFF, self.backoff * 2.0 ** (attempt - 1))
                problem = f"Slack {method} kept failing: {code}"
            except (SlackClientError, OSError, TimeoutError) as exc:
                API_ERRORS.labels(api="slack", kind="unavailable").inc()
                wait = min(MAX_BACKOFF, self.backoff * 2.0 ** (attempt - 1))
                problem = f"Slack {method} could not be reached: {type(exc).__name__}"
            if loop.time() + wait > deadline:
                raise UnavailableError(f"{problem} (gave up after {attempt} attempts)")
            log.warning("%s; retrying in %.1fs (attempt %d)", problem, wait, attempt)
            await asyncio.sleep(wait)

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        response = await self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        ts = str(response["ts"])
        for snippet in message.files:
            await self.upload(snippet, thread_ts=thread_ts or ts)
        return ts

    async def update(self, ts: str, message: Message) -> None:
        await self._call(
            "chat.update",
            lambda: self.client.chat_update(channel=self.channel, ts=ts, text=message.text, blocks=message.blocks),
        )

    async def upload(self, snippet: FileSnippet, *, thread_ts: str) -> None:
        await self._call(
            "files.upload",
            lambda: self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=thread_ts,
                content=snippet.content,
                filename=snippet.filename,
                title=snippet.title,
            ),
        )

    async def notify(self, user: str, message: Message, *, thread_ts: str | None = None) -> None:
        if self.response_url is not None and await self._respond(message):
            return
        await self._call(
            "chat.postEphemeral",
            lambda: self.client.chat_postEphemeral(
                channel=self.channel, user=user, text=message.text, blocks=message.blocks, thread_ts=thread_ts
            ),
        )

    async def _respond(self, message: Message) -> bool:
        """An ephemeral answer through the response_url (valid 30 minutes, five uses); False when it
        did not take, so that the caller falls back to chat.postEphemeral."""
        assert self.response_url is not None
        webhook = AsyncWebhookClient(self.response_url, timeout=10)
        try:
            response = await webhook.send(text=message.text, blocks=message.blocks or None,
                                          response_type="ephemeral", replace_original=False)
        except (SlackClientError, OSError, TimeoutError, ValueError) as exc:
            log.warning("response_url did not take the answer: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("response_url answered HTTP %s", response.status_code)
            return False
        return True

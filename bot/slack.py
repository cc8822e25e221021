"""The Slack gateway: the only code that calls the Slack Web API.

`make_client` builds the Web API client (base URL, retries on connection errors, 429 and 5xx);
`SlackSink` writes an incident thread with it: post, update, ephemeral answers, files. Slack's
errors are translated here, once, into opsbot's own.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.errors import ConfigError, UnavailableError
from bot.models import FileSnippet, Message
from bot.plumbing.metrics import API_ERRORS


def secret(value: SecretStr | None) -> str | None:
    """The secret's text, None when unset or empty."""
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


def make_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base, retries on connection errors, 429 and 5xx."""
    token = secret(settings.slack.bot_token)
    if token is None:
        raise ConfigError("SLACK_BOT_TOKEN", "is required to serve Slack (the bot token, xoxb-...)")
    return AsyncWebClient(
        token=token,
        base_url=settings.slack.api_url,
        retry_handlers=[
            # The list replaces the default, which holds only the connection handler: keep it.
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackSink:
    """A `ThreadSink` over the Slack Web API. Slack errors are translated here, once."""

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def _call(self, method: str, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            API_ERRORS.labels(api="slack", kind=str(exc.response.get("error", "api_error"))[:40]).inc()
            raise UnavailableError(f"Slack {method} failed: {exc.response.get('error', 'error')}") from exc
        except (SlackClientError, OSError, TimeoutError) as exc:
            API_ERRORS.labels(api="slack", kind="unavailable").inc()
            raise UnavailableError(f"Slack {method} could not be reached: {type(exc).__name__}") from exc

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        response = await self._call(
            "chat.postMessage",
            self.client.chat_postMessage(
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
            self.client.chat_update(channel=self.channel, ts=ts, text=message.text, blocks=message.blocks),
        )

    async def upload(self, snippet: FileSnippet, *, thread_ts: str) -> None:
        await self._call(
            "files.upload",
            self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=thread_ts,
                content=snippet.content,
                filename=snippet.filename,
                title=snippet.title,
            ),
        )

    async def notify(self, user: str, message: Message, *, thread_ts: str | None = None) -> None:
        await self._call(
            "chat.postEphemeral",
            self.client.chat_postEphemeral(
                channel=self.channel, user=user, text=message.text, blocks=message.blocks, thread_ts=thread_ts
            ),
        )

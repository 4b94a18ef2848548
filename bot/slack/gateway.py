"""The only code that calls Slack's Web API.

Methods say what they do and return plain values. Every failure surfaces as `SlackError` with Slack's error
code. Rate limits (HTTP 429 + Retry-After), 5xx answers and dropped connections are retried by slack_sdk's own
retry handlers, configured in `create_web_client`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.metrics import Metrics

from .events import BotIdentity

log = logging.getLogger(__name__)

# Every Web API method the bot calls, with the bot scope it needs for that (the manifest is built from this,
# and a test checks each scope against Slack's method docs). Bolt itself calls auth.test, which needs none.
WEB_API_METHODS: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "conversations.create": ("channels:manage", "groups:write"),
    "conversations.invite": ("channels:write.invites", "groups:write.invites"),
    "conversations.setTopic": ("channels:write.topic", "groups:write.topic"),
    "chat.postMessage": ("chat:write", "chat:write.public"),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "pins.add": ("pins:write",),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "chat.getPermalink": (),
    "users.info": ("users:read",),
    "reactions.add": ("reactions:write",),
    "files.getUploadURLExternal": ("files:write",),  # both made by files_upload_v2
    "files.completeUploadExternal": ("files:write",),
    "views.open": (),
    "views.update": (),
}


class SlackError(Exception):
    """A Web API call failed; `code` is Slack's error code (`name_taken`, `not_in_channel`, ...)."""

    def __init__(self, method: str, code: str, status: int | None = None) -> None:
        super().__init__(f"Slack refused {method}: {code}")
        self.method = method
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class CreatedChannel:
    id: str
    name: str


def create_web_client(token: str, base_url: str) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base URL, retries for rate limits, server and connection errors."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str  # the display name people know them by (falls back to the real name, then the handle)
    is_bot: bool


class SlackGateway:
    def __init__(self, client: AsyncWebClient, metrics: Metrics) -> None:
        self._client = client
        self._metrics = metrics
        self._identity: BotIdentity | None = None
        self._identity_lock = asyncio.Lock()

    async def identity(self) -> BotIdentity:
        """Who the bot is (auth.test), asked once and remembered."""
        if self._identity is None:
            async with self._identity_lock:
                if self._identity is None:
                    data = await self._call("auth.test")
                    self._identity = BotIdentity(
                        user_id=str(data.get("user_id") or ""), bot_id=str(data.get("bot_id") or "")
                    )
        return self._identity

    async def permalink(self, channel: str, ts: str) -> str:
        data = await self._call("chat.getPermalink", params={"channel": channel, "message_ts": ts})
        return str(data["permalink"])

    async def fetch_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts: from the channel's history, or (for thread replies) from its thread."""
        data = await self._call(
            "conversations.history",
            params={"channel": channel, "latest": ts, "oldest": ts, "inclusive": True, "limit": 1},
        )
        found = [m for m in data.get("messages") or [] if m.get("ts") == ts]
        if found:
            return dict(found[0])
        try:
            data = await self._call("conversations.replies", params={"channel": channel, "ts": ts, "limit": 1})
        except SlackError as e:
            if e.code in ("thread_not_found", "message_not_found"):
                return None
            raise
        found = [m for m in data.get("messages") or [] if m.get("ts") == ts]
        return dict(found[0]) if found else None

    async def person(self, user: str) -> Person:
        data = await self._call("users.info", params={"user": user})
        info = data.get("user") or {}
        profile = info.get("profile") or {}
        name = (
            profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name") or user
        )
        return Person(id=user, name=str(name), is_bot=bool(info.get("is_bot")))

    async def react(self, channel: str, ts: str, emoji: str) -> None:
        try:
            await self._call("reactions.add", params={"channel": channel, "timestamp": ts, "name": emoji})
        except SlackError as e:
            if e.code != "already_reacted":
                raise

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        self._metrics.slack_calls.labels(method=method).inc()
        try:
            response = await self._client.api_call(method, **kwargs)
        except SlackApiError as e:
            code = str(e.response.get("error") or f"http_{e.response.status_code}")
            self._metrics.slack_errors.labels(method=method, error=code).inc()
            raise SlackError(method, code, e.response.status_code) from None
        except (SlackClientError, OSError, TimeoutError) as e:
            self._metrics.slack_errors.labels(method=method, error="connection_error").inc()
            raise SlackError(method, "connection_error") from e
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def create_channel(self, names: Iterable[str], *, private: bool) -> CreatedChannel:
        """Create a channel with the first of `names` that is free (`name_taken` moves on to the next)."""
        last: SlackError | None = None
        for name in names:
            try:
                data = await self._call("conversations.create", params={"name": name, "is_private": private})
            except SlackError as e:
                if e.code != "name_taken":
                    raise
                last = e
                continue
            channel = data["channel"]
            return CreatedChannel(id=channel["id"], name=channel.get("name", name))
        raise last or SlackError("conversations.create", "name_taken")

    async def invite(self, channel: str, users: Sequence[str]) -> dict[str, str]:
        """Invite people; returns {user: error code} for those Slack would not add (already there is fine)."""
        wanted = list(dict.fromkeys(users))
        if not wanted:
            return {}
        try:
            await self._call("conversations.invite", params={"channel": channel, "users": ",".join(wanted)})
            return {}
        except SlackError as e:
            if e.code == "already_in_channel":
                return {}
            if len(wanted) == 1:
                return {wanted[0]: e.code}
        # One refused person makes Slack refuse the whole call: ask one by one to invite everyone else.
        failures: dict[str, str] = {}
        for user in wanted:
            failures.update(await self.invite(channel, [user]))
        return failures

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", params={"channel": channel, "topic": topic[:250]})

    async def post_message(
        self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None, *, thread_ts: str | None = None
    ) -> str:
        payload: dict[str, Any] = {"channel": channel, "text": text}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        if blocks:
            payload["blocks"] = list(blocks)
        data = await self._call("chat.postMessage", json=payload)
        return str(data["ts"])

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None:
        payload: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            payload["blocks"] = list(blocks)
        await self._call("chat.update", json=payload)

    async def post_ephemeral(
        self, channel: str, user: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None:
        payload: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            payload["blocks"] = list(blocks)
        await self._call("chat.postEphemeral", json=payload)

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", params={"channel": channel, "timestamp": ts})
        except SlackError as e:
            if e.code != "already_pinned":
                raise

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        data = await self._call("views.open", json={"trigger_id": trigger_id, "view": view})
        return str(data["view"]["id"])

    async def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        await self._call("views.update", json={"view_id": view_id, "view": view})

    async def upload_file(
        self, channel: str, filename: str, content: str, *, title: str, comment: str | None = None
    ) -> str:
        """Share a text file in a channel (files upload v2: get an upload URL, upload, complete). Returns its id."""
        for method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
            self._metrics.slack_calls.labels(method=method).inc()
        try:
            response = await self._client.files_upload_v2(
                channel=channel, filename=filename, content=content, title=title, initial_comment=comment
            )
        except SlackApiError as e:
            code = str(e.response.get("error") or f"http_{e.response.status_code}")
            self._metrics.slack_errors.labels(method="files.completeUploadExternal", error=code).inc()
            raise SlackError("files.upload", code, e.response.status_code) from None
        except (SlackClientError, OSError, TimeoutError) as e:
            self._metrics.slack_errors.labels(method="files.completeUploadExternal", error="connection_error").inc()
            raise SlackError("files.upload", "connection_error") from e
        return str((response.get("file") or {}).get("id") or "")

    async def respond(
        self,
        response_url: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        *,
        in_channel: bool = False,
    ) -> None:
        """Answer a slash command or an interaction through its response_url (ephemeral unless in_channel)."""
        self._metrics.slack_calls.labels(method="response_url").inc()
        webhook = AsyncWebhookClient(response_url, retry_handlers=self._client.retry_handlers)
        try:
            response = await webhook.send(
                text=text,
                blocks=list(blocks) if blocks else None,
                response_type="in_channel" if in_channel else "ephemeral",
            )
        except (SlackClientError, OSError, TimeoutError) as e:
            self._metrics.slack_errors.labels(method="response_url", error="connection_error").inc()
            raise SlackError("response_url", "connection_error") from e
        if response.status_code != 200:
            self._metrics.slack_errors.labels(method="response_url", error=f"http_{response.status_code}").inc()
            raise SlackError("response_url", f"http_{response.status_code}", response.status_code)

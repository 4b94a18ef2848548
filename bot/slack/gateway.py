"""The only code that calls Slack's Web API.

Methods say what they do and return plain values. Every failure surfaces as `SlackError` with Slack's error
code. Rate limits (HTTP 429 + Retry-After, and the HTTP 200 `rate_limited` some methods answer instead), 5xx answers
and dropped connections are retried by slack_sdk's retry handlers, configured in `create_web_client`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.acting import acting, acting_team
from bot.metrics import Metrics

from .events import BotIdentity
from .installations import Installations, Installed, NotInstalled

log = logging.getLogger(__name__)

# Every Web API method the bot calls, with the bot scopes Slack accepts for it (a test checks them against Slack's
# method docs). The manifest (bot/slack/manifest.py) grants, for what app.yaml configures, one of them for each method
# the configured bot calls. auth.test (who the bot is) is asked at start and needs none; Bolt does not call it
# (bot/app.py gives Bolt the identity fetched at start).
WEB_API_METHODS: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "conversations.create": ("channels:manage", "groups:write"),
    "conversations.archive": ("channels:manage", "groups:write"),  # archiving a resolved incident's channel
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
    "reactions.add": ("reactions:write",),  # only to confirm a mark by reaction (timeline.confirm: reaction)
    "files.getUploadURLExternal": ("files:write",),  # both made by files_upload_v2
    "files.completeUploadExternal": ("files:write",),
    "views.open": (),
    "views.update": (),
    # Membership: which private incident channels a person is in; the bot's own channels (to adopt one it created
    # behind a timeout).
    "users.conversations": ("channels:read", "groups:read"),
    # Whether an incident channel is archived (a reopening of an incident whose channel was archived).
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
}


_SLACK_HOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})


REPLY_PAGES = 3  # pages of a thread read to find one reply (its window holds the parent and that reply)


class SlackError(Exception):
    """A Web API call failed; `code` is Slack's error code (`name_taken`, `not_in_channel`, ...). `retry_after`: the
    seconds Slack asked to wait (HTTP 429 Retry-After), when it said so."""

    def __init__(
        self,
        method: str,
        code: str,
        status: int | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"Slack refused {method}: {code}")
        self.method = method
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.details = details or {}  # the rest of Slack's answer (conversations.invite: `errors`, one per person)

    @property
    def ambiguous(self) -> bool:
        """The call may have taken effect although it failed: no answer in time, the connection lost, or a 5xx."""
        return self.code == "connection_error" or (self.status is not None and self.status >= 500)


class IdentityUnknown(Exception):
    """Who the bot is (auth.test) is not known yet: Slack has not answered since the bot started."""

    def __init__(self) -> None:
        super().__init__("the bot's identity (auth.test) is not known yet")


# auth.test answers that no retry will change: the token itself is refused.
IDENTITY_REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "no_permission",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)


# conversations.invite errors about one invited person (Slack's method docs); any other is about the channel or the
# app (is_archived, not_in_channel, ratelimited, missing_scope, ...) and would be the same for everyone.
PERSON_INVITE_ERRORS = frozenset(
    {
        "cant_invite",
        "cant_invite_self",
        "user_not_found",
        "user_is_restricted",
        "user_is_ultra_restricted",
        "ura_max_channels",
        "invitee_cant_see_channel",
        "org_user_not_in_team",
        "no_permission",
        "no_external_invite_permission",
    }
)


@dataclass(frozen=True, slots=True)
class Invited:
    """How an invitation went: the people Slack would not add (with its error for each), or, when Slack refused the
    channel itself (`channel_error`), the people left uninvited because of it."""

    refused: dict[str, str] = field(default_factory=dict)
    channel_error: str | None = None
    not_invited: tuple[str, ...] = ()


def _refused_people(details: dict[str, Any], wanted: Sequence[str]) -> dict[str, str]:
    """{person: error} from a conversations.invite refusal's `errors`, when every one is about a person invited."""
    named: dict[str, str] = {}
    for item in details.get("errors") or []:
        if not isinstance(item, dict) or item.get("user") not in wanted:
            return {}
        code = str(item.get("error") or "")
        if code not in PERSON_INVITE_ERRORS | {"already_in_channel"}:
            return {}
        if code != "already_in_channel":
            named[str(item["user"])] = code
    return named


@dataclass(frozen=True, slots=True)
class CreatedChannel:
    id: str
    name: str


DEFAULT_TIMEOUT = 30.0  # seconds to wait for one Web API answer (slack_sdk's default)


class AsyncRateLimitedAnswerRetryHandler(AsyncRetryHandler):
    """Retries an answer of HTTP 200 `{"ok": false, "error": "rate_limited"}`: chat.postMessage's "Application has
    posted too many messages" (Slack's workspace-wide limit), which comes without a Retry-After and which slack_sdk's
    AsyncRateLimitErrorRetryHandler (HTTP 429 only) lets through. Nothing was done, so asking again is safe: after
    1 s, then 2 s, then 4 s (with jitter)."""

    def __init__(self, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count, BackoffRetryIntervalCalculator(backoff_factor=1.0))

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        body = response.body if response is not None else None
        return response is not None and response.status_code == 200 and (body or {}).get("error") == "rate_limited"


def rate_limit_handlers() -> list[AsyncRetryHandler]:
    """Slack's two ways of saying "too fast" (nothing was done): HTTP 429 with Retry-After, honoured; HTTP 200
    `rate_limited`, asked again after a pause."""
    return [AsyncRateLimitErrorRetryHandler(max_retry_count=3), AsyncRateLimitedAnswerRetryHandler(max_retry_count=3)]


def create_web_client(token: str, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base URL, retries for rate limits, server and connection errors."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,  # type: ignore[arg-type]
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            *rate_limit_handlers(),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def once_client(client: AsyncWebClient) -> AsyncWebClient:
    """The same client for calls that are not safe to repeat blindly (creating a channel, posting a message):
    only a rate limit (429, or 200 `rate_limited`: not performed) is retried. A 5xx, a timeout or a dropped
    connection may come after Slack did it, so the gateway checks before it tries again (see
    `SlackGateway.post_once`, `create_channel`)."""
    return AsyncWebClient(
        token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=rate_limit_handlers()
    )


def _retry_after(headers: Any) -> float | None:
    """Slack's Retry-After (seconds), if the answer has one."""
    try:
        for name, value in dict(headers or {}).items():
            if str(name).lower() == "retry-after":
                return max(0.0, float(value))
    except (TypeError, ValueError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class Tag:
    """What the bot writes in a message's metadata so that it can find its own post again (Slack message metadata:
    `event_type`, `event_payload`)."""

    kind: str  # incident_card, incident_announcement, incident_suggestion, incident_report
    incident_id: int
    item: int | None = None  # the suggestion's or report's id

    def metadata(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"incident_id": self.incident_id}
        if self.item is not None:
            payload["item"] = self.item
        return {"event_type": self.kind, "event_payload": payload}

    def marks(self, message: dict[str, Any]) -> bool:
        metadata = message.get("metadata") or {}
        return (
            metadata.get("event_type") == self.kind
            and metadata.get("event_payload") == self.metadata()["event_payload"]
        )


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str  # the display name people know them by (falls back to the real name, then the handle)
    is_bot: bool
    deleted: bool = False
    is_app_user: bool = False
    team_id: str = ""

    @property
    def is_active_human(self) -> bool:
        return not (self.is_bot or self.is_app_user or self.deleted or self.id == "USLACKBOT")


class SlackGateway:
    """`installations`: OAuth mode (bot/slack/installations.py): each call carries the token of the workspace the
    running code acts for (bot/acting.py), and `me` is the bot's identity there. None: single-workspace mode, one
    token (the client's) and one identity (auth.test at start)."""

    def __init__(self, client: AsyncWebClient, metrics: Metrics, installations: Installations | None = None) -> None:
        self._client = client
        self._installations = installations
        self._once = once_client(client)
        # For auth.test at start: one attempt per call, no retry of slack_sdk's own (the caller waits as Slack says).
        self._bare = AsyncWebClient(
            token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=[]
        )
        self._metrics = metrics
        self._identity: BotIdentity | None = None
        self._identity_lock = asyncio.Lock()

    @property
    def me(self) -> BotIdentity | None:
        """Who the bot is, if known yet (never waits: IncidentBot.start asks Slack, in the background if need be). In
        OAuth mode: in the workspace the running code acts for (known once the request or job found its
        installation)."""
        if self._installations is not None:
            now = acting()
            found = None if now is None else self._installations.known(now.team_id)
            return None if found is None else found.identity
        return self._identity

    def served_team_now(self) -> str | None:
        """The workspace the bot's token serves, if known yet (never waits)."""
        if self._installations is not None:
            return acting_team()
        return None if self._identity is None else self._identity.team_id

    async def ask_identity(self, within: float) -> BotIdentity:
        """One auth.test, not retried, given up after `within` seconds; the answer is remembered. Raises SlackError
        (with Slack's Retry-After when rate limited; code `timeout` when it did not answer in time)."""
        try:
            async with asyncio.timeout(within):
                data = await self._call("auth.test", bare=True)
        except TimeoutError:
            self._metrics.slack_errors.labels(method="auth.test", error="timeout").inc()
            raise SlackError("auth.test", "timeout") from None
        return self._learned(data)

    def _learned(self, data: dict[str, Any]) -> BotIdentity:
        if self._identity is None:
            self._identity = BotIdentity(
                user_id=str(data.get("user_id") or ""),
                bot_id=str(data.get("bot_id") or ""),
                team_id=str(data.get("team_id") or ""),
            )
        return self._identity

    async def identity(self) -> BotIdentity:
        """Who the bot is: known from start, or else asked now (auth.test, with slack_sdk's retries). Not for the
        hot path, which uses `me` and never waits. OAuth mode: in the workspace acted for, from its installation."""
        if self._installations is not None:
            return (await self._installed("auth.test")).identity
        if self._identity is None:
            async with self._identity_lock:
                if self._identity is None:
                    self._learned(await self._call("auth.test"))
        assert self._identity is not None
        return self._identity

    def is_slack_url(self, url: str) -> bool:
        """Slack's response_url hosts, or the host of SLACK_API_URL (the emulator in tests and the demo)."""
        target = urlsplit(url)
        if target.scheme == "https" and (target.hostname or "") in _SLACK_HOOK_HOSTS:
            return True
        api = urlsplit(self._client.base_url)
        return (target.scheme, target.hostname, target.port) == (api.scheme, api.hostname, api.port)

    async def served_team(self) -> str:
        """The workspace the bot's token belongs to (asked for if not known yet; the front door uses
        `served_team_now`, which never waits)."""
        return (await self.identity()).team_id

    async def permalink(self, channel: str, ts: str) -> str:
        data = await self._call("chat.getPermalink", params={"channel": channel, "message_ts": ts})
        return str(data["permalink"])

    async def fetch_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts, read as Slack documents it: a top-level message from the channel's history
        (`latest` = `oldest` = ts, inclusive, limit 1); a thread reply, which history never lists, from its thread.
        `conversations.replies` takes any ts of a thread and always lists the thread's parent first, whatever the
        window, counting it in `limit`: the window is narrowed to the reply and room left for the parent, and a
        next page is read (a few at most) should Slack page it differently. None when Slack has no such message."""
        data = await self._call(
            "conversations.history",
            params={"channel": channel, "latest": ts, "oldest": ts, "inclusive": True, "limit": 1},
        )
        found = [m for m in data.get("messages") or [] if m.get("ts") == ts]
        if found:
            return dict(found[0])
        params: dict[str, Any] = {"channel": channel, "ts": ts, "oldest": ts, "latest": ts, "inclusive": True}
        for _ in range(REPLY_PAGES):
            try:
                data = await self._call("conversations.replies", params=params | {"limit": 2})
            except SlackError as e:
                if e.code in ("thread_not_found", "message_not_found"):
                    return None
                raise
            found = [m for m in data.get("messages") or [] if m.get("ts") == ts]
            if found:
                return dict(found[0])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            params["cursor"] = cursor
        return None

    async def person(self, user: str) -> Person:
        data = await self._call("users.info", params={"user": user})
        info = data.get("user") or {}
        profile = info.get("profile") or {}
        name = (
            profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name") or user
        )
        return Person(
            id=user,
            name=str(name),
            is_bot=bool(info.get("is_bot")),
            deleted=bool(info.get("deleted")),
            is_app_user=bool(info.get("is_app_user")),
            team_id=str(info.get("team_id") or ""),
        )

    async def react(self, channel: str, ts: str, emoji: str) -> None:
        try:
            await self._call("reactions.add", params={"channel": channel, "timestamp": ts, "name": emoji})
        except SlackError as e:
            if e.code != "already_reacted":
                raise

    async def _installed(self, method: str) -> Installed:
        """OAuth mode: the installation of the workspace acted for; SlackError `not_installed` when there is none."""
        assert self._installations is not None
        now = acting()
        if now is None:  # a bug: work that calls Slack was started outside any request or job
            log.error("%s called outside any workspace's request or job; not sent", method)
            raise SlackError(method, "no_workspace")
        try:
            found = await self._installations.find(now)
        except NotInstalled:
            found = None
        if found is None:
            self._metrics.slack_errors.labels(method=method, error="not_installed").inc()
            raise SlackError(method, "not_installed")
        return found

    async def _token(self, method: str) -> str | None:
        """The token a call carries: OAuth mode's per workspace; None for the client's own."""
        if self._installations is None:
            return None
        return (await self._installed(method)).token

    def _refused(self, token: str | None, code: str) -> None:
        if token is not None and self._installations is not None and code in IDENTITY_REFUSALS:
            team = acting_team()
            if team is not None:
                self._installations.refused(team, token)

    async def _call(self, method: str, *, once: bool = False, bare: bool = False, **kwargs: Any) -> dict[str, Any]:
        self._metrics.slack_calls.labels(method=method).inc()
        client = self._bare if bare else self._once if once else self._client
        token = await self._token(method)
        if token is not None:
            kwargs["headers"] = {"Authorization": f"Bearer {token}"}
        try:
            response = await client.api_call(method, **kwargs)
        except SlackApiError as e:
            code = str(e.response.get("error") or f"http_{e.response.status_code}")
            self._refused(token, code)
            self._metrics.slack_errors.labels(method=method, error=code).inc()
            details = dict(e.response.data) if isinstance(e.response.data, dict) else {}
            raise SlackError(method, code, e.response.status_code, _retry_after(e.response.headers), details) from None
        except (SlackClientError, OSError, TimeoutError) as e:
            self._metrics.slack_errors.labels(method=method, error="connection_error").inc()
            raise SlackError(method, "connection_error") from e
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def create_channel(self, name: str, *, private: bool) -> CreatedChannel:
        """Create a channel named `name`. Not retried blindly: `name_taken` and an ambiguous failure (the channel may
        exist) are the caller's to resolve, with `bot_channel_named`."""
        data = await self._call("conversations.create", once=True, params={"name": name, "is_private": private})
        channel = data["channel"]
        return CreatedChannel(id=channel["id"], name=channel.get("name", name))

    async def _conversations(self, **params: Any) -> list[dict[str, Any]]:
        """users.conversations, every page."""
        found: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(100):  # 100,000 channels at most
            page = {**params, "limit": 1000, "exclude_archived": True, **({"cursor": cursor} if cursor else {})}
            data = await self._call("users.conversations", params=page)
            found += [c for c in data.get("channels") or [] if isinstance(c, dict)]
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return found

    async def bot_channel_named(self, name: str, *, private: bool) -> CreatedChannel | None:
        """The channel called `name` that the bot itself created and is in, if there is one (among its private
        channels or its public ones: the manifest grants reading only the kind the bot creates)."""
        me = await self.identity()
        for channel in await self._conversations(types="private_channel" if private else "public_channel"):
            if channel.get("name") == name and channel.get("creator") == me.user_id:
                return CreatedChannel(id=str(channel["id"]), name=name)
        return None

    async def private_channels_of(self, user: str) -> set[str]:
        """The private channels `user` is in (of those the bot is in too: all incident channels)."""
        return {str(c["id"]) for c in await self._conversations(user=user, types="private_channel") if c.get("id")}

    async def invite(self, channel: str, users: Sequence[str]) -> Invited:
        """Invite people (already there is fine). Slack refuses the whole call when it will not add one of them
        (saying who in `errors`): the others are then invited without them. An error about the channel itself
        (archived, rate limited, not in it...) stops there: it is reported once, with who is left uninvited."""
        wanted = list(dict.fromkeys(users))
        if not wanted:
            return Invited()
        try:
            await self._call("conversations.invite", params={"channel": channel, "users": ",".join(wanted)})
            return Invited()
        except SlackError as e:
            if e.code == "already_in_channel":
                return Invited()
            if e.code not in PERSON_INVITE_ERRORS:
                return Invited(channel_error=e.code, not_invited=tuple(wanted))
            if len(wanted) == 1:
                return Invited(refused={wanted[0]: e.code})
            named = _refused_people(e.details, wanted)
        if named:  # Slack said who: invite the others in one more call
            rest = await self.invite(channel, [u for u in wanted if u not in named])
            return Invited({**named, **rest.refused}, rest.channel_error, rest.not_invited)
        refused: dict[str, str] = {}  # Slack did not say who: one person at a time
        for index, user in enumerate(wanted):
            alone = await self.invite(channel, [user])
            refused.update(alone.refused)
            if alone.channel_error:
                return Invited(refused, alone.channel_error, tuple(wanted[index:]))
        return Invited(refused)

    async def archive(self, channel: str) -> None:
        """Archive the channel; one already archived counts as done (so a repeated call is harmless)."""
        try:
            await self._call("conversations.archive", json={"channel": channel})
        except SlackError as e:
            if e.code != "already_archived":
                raise

    async def is_archived(self, channel: str) -> bool:
        """Whether the channel is archived now (conversations.info)."""
        data = await self._call("conversations.info", params={"channel": channel})
        info = data.get("channel")
        return isinstance(info, dict) and bool(info.get("is_archived"))

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", params={"channel": channel, "topic": topic[:250]})

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        tag: Tag | None = None,
    ) -> str:
        """Post once (no blind retry: a post that may have gone through is never repeated here)."""
        payload: dict[str, Any] = {"channel": channel, "text": text}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        if blocks:
            payload["blocks"] = list(blocks)
        if tag is not None:
            payload["metadata"] = tag.metadata()
        data = await self._call("chat.postMessage", once=True, json=payload)
        return str(data["ts"])

    async def find_tagged(self, channel: str, tag: Tag, *, within: int = 200) -> str | None:
        """The ts of the bot's own message carrying `tag` among the newest `within` messages of the channel."""
        me = await self.identity()
        data = await self._call(
            "conversations.history", params={"channel": channel, "limit": within, "include_all_metadata": True}
        )
        for message in data.get("messages") or []:
            if isinstance(message, dict) and tag.marks(message) and me.wrote(message):
                return str(message["ts"])
        return None

    async def post_once(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        *,
        tag: Tag,
        look_first: bool = False,
    ) -> str:
        """Post a message exactly once, even across an ambiguous failure or a crash: the post carries `tag`, and
        before posting again the bot looks for it. `look_first` when an earlier attempt may have posted it."""
        if look_first:
            found = await self.find_tagged(channel, tag)
            if found is not None:
                return found
        for attempt in range(2):
            try:
                return await self.post_message(channel, text, blocks, tag=tag)
            except SlackError as e:
                if not e.ambiguous or attempt:
                    raise
                log.warning("%s in %s may have been posted (%s); looking for it", tag.kind, channel, e.code)
                try:
                    found = await self.find_tagged(channel, tag)
                except SlackError:  # cannot look (rate limited, say): still not known whether it was posted
                    raise e from None
                if found is not None:
                    return found
        raise AssertionError("unreachable")

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
        token = await self._token("files.getUploadURLExternal")
        try:  # not retried blindly: a 5xx after the file was shared would share it twice
            response = await self._once.files_upload_v2(
                channel=channel,
                filename=filename,
                content=content,
                title=title,
                initial_comment=comment,
                **({"token": token} if token is not None else {}),  # type: ignore[arg-type]
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
        """Answer a slash command or an interaction through its response_url (ephemeral unless in_channel).

        Only Slack's own hooks (or the configured Web API's host, such as the emulator) are ever called: a
        response_url is taken from a verified request, and this check keeps it that way."""
        self._metrics.slack_calls.labels(method="response_url").inc()
        if not self.is_slack_url(response_url):
            self._metrics.slack_errors.labels(method="response_url", error="untrusted_url").inc()
            raise SlackError("response_url", "untrusted_url")
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

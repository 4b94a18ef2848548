"""`SlackEmulator`: a local Slack (Web API, request delivery, Socket Mode) on a real loopback aiohttp server."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.emulator import acks, composer, effects, events, payloads, render
from bot.emulator.acks import PrivateNotice, ResponseTarget
from bot.emulator.blocks import action_ids, find_elements, shown_choice
from bot.emulator.common import message_content
from bot.emulator.context import ApiError, Args
from bot.emulator.conversations import validate_channel_name
from bot.emulator.courier import JITTER, RETRY_DELAYS, Courier, DeliveryPolicy
from bot.emulator.delivery import Delivery, SocketHub
from bot.emulator.loopback import Listener
from bot.emulator.methods import AfterFault, Dispatcher, Hold, Injection
from bot.emulator.openid import OpenIdProvider
from bot.emulator.views import close_stack
from bot.emulator.workspace import (
    JSON,
    ApiCall,
    BotIdentity,
    Channel,
    EphemeralMessage,
    File,
    Message,
    ResponseUrlPost,
    User,
    View,
    Workspace,
    bot_app_id,
)
from bot.slack.manifest import DEFAULT_BEHAVIOUR, bot_events, bot_scopes

# By default the workspace grants what the bot's own manifest asks for with the behaviour app.yaml documents as the
# default (`incident-bot manifest`): a call it does not cover fails with missing_scope, an event it does not subscribe
# to is never delivered. `install()` grants another manifest's.
DEFAULT_SCOPES = frozenset(bot_scopes(DEFAULT_BEHAVIOUR))
DEFAULT_EVENTS = frozenset(bot_events(DEFAULT_BEHAVIOUR))


@dataclass
class _Trigger:
    user: str
    issued: float
    view_id: str | None
    used: bool = False


class SlackEmulator:
    def __init__(
        self,
        *,
        signing_secret: str = "s3cret",
        bot_token: str = "xoxb-emulator",
        app_token: str = "xapp-emulator",
        team_id: str = "T0EMULATE",
        team_domain: str = "emulator",
        team_name: str = "Emulator",
        bot_name: str = "incident-bot",
        trigger_ttl: float = 3.0,
        scopes: Iterable[str] | None = None,
        events: Iterable[str] | None = None,
        delivery_timeout: float = 3.0,
        ordered: bool = False,
        seed: int | None = None,
        jitter: float = JITTER,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        should_escape: bool = True,
        response_url_seconds: float = acks.RESPONSE_URL_SECONDS,
        client_id: str = "emulator-client-id",
        client_secret: str = "emulator-client-secret",
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        app_id: str | None = None,
        id_space: str = "0",
    ) -> None:
        """Events are delivered as Slack delivers them: concurrently, in a shuffled order (each waits a random
        0-`jitter` s), and retried after `retry_delays` (Slack's ~0 s, 1 min, 5 min, compressed) when the bot
        answers non-2xx or not within `delivery_timeout`. The random choices come from `seed` (random if None;
        see `self.seed`), so a failure replays with the same seed. `ordered=True`: one after the other, never
        retried (only for tests of ordering itself).

        `client_id`, `client_secret`: the app's credentials for Sign in with Slack (bot/emulator/openid.py).

        `should_escape`: the slash command's setting in the app manifest (how command text is encoded).

        `enterprise_id`/`enterprise_name`: the Enterprise Grid organisation the workspace is part of (payloads and
        auth.test name it). `app_id`: the app's id (default: one of the workspace's ids); `id_space`: see
        Workspace. These matter for workspaces served together by a SlackGrid (bot/emulator/grid.py)."""
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.trigger_ttl = trigger_ttl
        self._scopes = frozenset(DEFAULT_SCOPES if scopes is None else scopes)
        self._events = frozenset(DEFAULT_EVENTS if events is None else events)
        self.workspace = Workspace(
            team_id,
            team_domain,
            team_name,
            id_space=id_space,
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
        )
        ws = self.workspace
        bot = BotIdentity(user_id=ws.new_id("U"), bot_id=ws.new_id("B"), app_id=app_id or ws.new_id("A"), name=bot_name)
        ws.bot = bot
        ws.users[bot.user_id] = User(
            id=bot.user_id,
            name=bot_name,
            real_name=bot_name,
            team_id=team_id,
            is_bot=True,
            bot_id=bot.bot_id,
            app_id=bot.app_id,
        )
        self.ephemerals: list[EphemeralMessage] = []
        self.responses: list[ResponseUrlPost] = []
        self.notices: list[PrivateNotice] = []
        self._dispatcher = Dispatcher(self, bot_token=bot_token, app_token=app_token)
        self.openid = OpenIdProvider(
            self.workspace,
            client_id=client_id,
            client_secret=client_secret,
            record=lambda method, args, body: self._dispatcher.record(method, args, body),
        )
        self._hub = SocketHub(bot.app_id)
        self.seed = seed if seed is not None else secrets.randbelow(2**32)
        policy = (
            DeliveryPolicy.in_order(self.seed)
            if ordered
            else DeliveryPolicy(seed=self.seed, jitter=jitter, retry_delays=tuple(retry_delays))
        )
        self._courier = Courier(self._hub, signing_secret=signing_secret, timeout=delivery_timeout, policy=policy)
        self.should_escape = should_escape
        self.response_url_seconds = response_url_seconds
        self._triggers: dict[str, _Trigger] = {}
        self._response_targets: dict[str, ResponseTarget] = {}
        self._response_holds: list[Hold] = []
        self._event_envelopes: dict[str, JSON] = {}
        self._message_events: dict[tuple[str, str], JSON] = {}  # (channel, ts) -> the message event as first sent
        # (user, channel, ts) -> what the person picked in that message, by (block_id, action_id): their client keeps it
        self._picks: dict[tuple[str, str, str], dict[tuple[str, str], JSON]] = {}
        self._listener = Listener()
        self._served_at: Callable[[], str] | None = None  # the URL of the server hosting it (a SlackGrid's)
        # The app is installed here: events and commands reach it. Only a SlackGrid's workspaces start without it.
        self.installed = True

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._served_at is not None:
            raise RuntimeError("this workspace is served by a SlackGrid: start the grid")
        app = web.Application()
        # Sign in with Slack: its two methods take no bot token (bot/emulator/openid.py), its page is a browser's.
        app.router.add_route("*", "/api/openid.connect.token", self.openid.token)
        app.router.add_route("*", "/api/openid.connect.userInfo", self.openid.user_info)
        app.router.add_get("/openid/connect/authorize", self.openid.authorize)
        app.router.add_route("*", "/api/{method}", self._dispatcher.handle)
        app.router.add_post("/response/{token}", self._on_response_url)
        app.router.add_post("/upload/{file_id}", self._on_upload)
        app.router.add_get("/link/", self._hub.handle)
        app.router.add_get("/link", self._hub.handle)
        await self._listener.open(app, host, port, shutdown_timeout=1.0)
        await self.open_hosted()

    async def stop(self) -> None:
        """Answer held and delayed Web API calls at once, cancel pending background deliveries, close Socket Mode
        connections, stop the server."""
        await self.close_hosted()
        await self._listener.close()

    def host_in(self, url: Callable[[], str], clock: Callable[[], float]) -> None:
        """Run inside another server (a SlackGrid's), with no server of its own: `url()` is that server's base
        URL (response and upload URLs point at it), `clock` (epoch seconds) decides when bot tokens expire. No
        bot token works until one is granted (`grant_token`); the constructor's `bot_token` is withdrawn. Until then,
        and after `uninstall()`, the app is not `installed`: no event or command reaches it."""
        self._served_at = url
        self.installed = False
        self._dispatcher.clock = clock
        self._dispatcher.bot_tokens.clear()
        self._dispatcher.app_token = ""
        self.bot_token = ""
        self.app_token = ""

    async def open_hosted(self) -> None:
        """Start answering and delivering (the server it is reached through is already listening)."""
        self._dispatcher.open()
        await self._courier.open()

    async def close_hosted(self) -> None:
        """Everything stop() does except closing a server: held calls answered, deliveries cancelled."""
        await self._dispatcher.close()
        for held in self._response_holds:
            held.release()
        await self._courier.close()
        await self._hub.close_all()

    def grant_token(self, token: str, expires: float | None = None) -> None:
        """A bot token of the app now works in this workspace (until `expires`, by the host's clock; None: until
        revoked); it becomes `bot_token`."""
        self._dispatcher.grant(token, expires)
        self.bot_token = token
        self.installed = True

    def token_works(self, token: str) -> bool:
        """The Web API accepts this bot token now (granted, not revoked, not expired)."""
        try:
            return self._dispatcher.token_kind(token) == "bot"
        except ApiError:
            return False

    def grant_scopes(self, scopes: Iterable[str]) -> None:
        """An installation grants these bot scopes too (a reinstall adds to what was granted before)."""
        self._scopes = self._scopes | frozenset(scopes)

    def holds_token(self, token: str) -> bool:
        """The token is (or was, before its revocation) one of this workspace's bot tokens."""
        return self._dispatcher.holds(token)

    @property
    def refresh_tokens(self) -> set[str]:
        """Unused refresh tokens of the app's expiring bot tokens here (emptied when the tokens are revoked)."""
        return self._dispatcher.refresh_tokens

    async def handle_api(self, request: web.Request) -> web.Response:
        """Answer one `/api/<method>` request (its token is this workspace's)."""
        return await self._dispatcher.handle(request)

    def issued_response_url(self, key: str) -> bool:
        return key in self._response_targets

    async def handle_response_url(self, request: web.Request) -> web.Response:
        return await self._on_response_url(request)

    async def handle_upload(self, request: web.Request) -> web.Response:
        return await self._on_upload(request)

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- identity and addresses ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._served_at() if self._served_at is not None else self._listener.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def authorize_url(self) -> str:
        """Sign in with Slack's authorize page (the bot derives it from SLACK_API_URL's host)."""
        return f"{self.url}/openid/connect/authorize"

    def sign_in_as(self, user_id: str | None) -> None:
        """The person a browser sent to the authorize page is signed in as, without being asked (None: asked)."""
        if user_id is not None:
            self._user(user_id)
        self.openid.current_user = user_id

    @property
    def scopes(self) -> frozenset[str]:
        return self._scopes

    @property
    def events(self) -> frozenset[str]:
        return self._events

    def install(self, manifest: Mapping[str, Any]) -> None:
        """(Re)install the app from an app manifest: the workspace grants its bot scopes and event subscriptions."""
        self._scopes = frozenset(manifest["oauth_config"]["scopes"]["bot"])
        self._events = frozenset(manifest["settings"]["event_subscriptions"]["bot_events"])

    @property
    def bot_user_id(self) -> str:
        return self.workspace.identity.user_id

    @property
    def bot_id(self) -> str:
        return self.workspace.identity.bot_id

    @property
    def app_id(self) -> str:
        return self.workspace.identity.app_id

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def calls(self) -> list[ApiCall]:
        return self._dispatcher.calls

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def views(self) -> dict[str, View]:
        return self.workspace.views

    # -- arranging the workspace --------------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        email: str | None = None,
        is_admin: bool = False,
    ) -> str:
        ws = self.workspace
        bot_id = ws.new_id("B") if is_bot else None
        user = User(
            id=ws.new_id("U"),
            name=name,
            real_name=real_name or name,
            team_id=ws.team_id,
            is_bot=is_bot,
            bot_id=bot_id,
            email=email,
            app_id=bot_app_id(bot_id) if bot_id else None,
            is_admin=is_admin,
        )
        ws.users[user.id] = user
        return user.id

    def deactivate_user(self, user_id: str) -> None:
        """An admin deactivates an account: users.info answers `deleted: true`, the user leaves every channel
        (conversations.members, users.conversations and invitations no longer see them; DMs stay) and can no longer
        post, run commands or click. No event is delivered (user_change is not among the app's events)."""
        user = self._user(user_id)
        if user_id == self.bot_user_id:
            raise ValueError("the app's own bot user cannot be deactivated; its token would simply stop working")
        user.deleted = True
        for channel in self.workspace.channels.values():
            if not channel.is_im:
                channel.members.discard(user_id)

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        topic: str = "",
        purpose: str = "",
        is_archived: bool = False,
    ) -> str:
        ws = self.workspace
        if ws.channel_by_name(name) is not None:
            raise ValueError(f"a channel named {name!r} already exists")
        members = set(members)
        unknown = members - set(ws.users)
        if unknown:
            raise ValueError(f"unknown members {sorted(unknown)}; add them with add_user() first")
        deactivated = sorted(m for m in members if ws.users[m].deleted)
        if deactivated:
            raise ValueError(f"deactivated members {deactivated} cannot be in a channel")
        creator = next(iter(sorted(members)), self.bot_user_id)
        channel = Channel(
            id=ws.new_id("C"),
            name=name,
            is_private=is_private,
            created=int(time.time()),
            creator=creator,
            members=members,
            topic=topic,
            purpose=purpose,
            is_archived=is_archived,
        )
        ws.channels[channel.id] = channel
        return channel.id

    def channel_by_name(self, name: str) -> Channel | None:
        return self.workspace.channel_by_name(name)

    # -- scripted Web API failures ------------------------------------------------------------------------
    def fail_next(self, method: str, *, error: str = "internal_error", times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 200 {"ok": false, "error": error}."""
        self._dispatcher.inject(method, Injection(error=error, status=200, retry_after=None, remaining=times))

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429, Retry-After, {"ok": false, "error": "ratelimited"}."""
        injection = Injection(error="ratelimited", status=429, retry_after=int(retry_after), remaining=times)
        self._dispatcher.inject(method, injection)

    # -- faults after a call took effect (Slack did it, the client never saw a good answer) -------------------
    def fail_after_performing(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next `times` calls of `method` are performed as usual (channel created, message posted...), then
        answered like a Slack outage: HTTP `status` (5xx) with an HTML body. slack_sdk raises SlackApiError.

        Recorded in `calls` with the method's own outcome (ok=True if it took effect), http_status=`status` and
        fault="failed_after_performing".
        """
        if not 500 <= status <= 599:
            raise ValueError(f"status must be a 5xx server error, not {status}")
        self._dispatcher.inject_after(method, AfterFault("failed_after_performing", remaining=times, status=status))

    def delay_after_performing(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` are performed at once, but answered only after `seconds` (or when
        the emulator stops): a client with a shorter timeout gives up although the call took effect.

        Recorded in `calls` as soon as performed, with fault="delayed_after_performing".
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._dispatcher.inject_after(method, AfterFault("delayed_after_performing", remaining=times, delay=seconds))

    def hold(self, method: str, *, perform: bool = True) -> Hold:
        """Hold the answer to the next call of `method` until `hold.release()` or until the emulator stops.

        perform=True: the call takes effect on arrival, then `hold.arrived` is set; the answer waits.
        perform=False: `hold.arrived` is set on arrival, nothing happens; release() performs the call and answers
        it. If the emulator stops first, it is never performed (answered 503, recorded with fault="dropped").
        Several holds on one method apply to successive calls.
        """
        held = Hold(method, perform=perform)
        self._dispatcher.inject_after(method, AfterFault("held", remaining=1, hold=held))
        return held

    def hold_response_url(self) -> Hold:
        """Hold the answer to the next POST to a response_url: the message is shown (the person sees it), then
        `hold.arrived` is set and the answer waits for `hold.release()` or the emulator stopping."""
        held = Hold("response_url", perform=True)
        self._response_holds.append(held)
        return held

    # -- Host protocol (used by the Web API methods) -----------------------------------------------------
    def emit_event(self, event: JSON, channel: Channel | None = None) -> None:
        envelope = self._envelope_for(event, channel)
        if envelope is not None:
            self._courier.emit(envelope)

    def _envelope_for(self, event: JSON, channel: Channel | None) -> JSON | None:
        """The event_callback envelope for an event, or None when the app would not get it (not subscribed /
        not a member of the channel)."""
        if not self._receives(event, channel):
            return None
        return payloads.event_envelope(self.workspace, event, payloads.new_event_id())

    def _receives(self, event: JSON, channel: Channel | None) -> bool:
        if not self.installed:
            return False
        if event.get("type") == "message" and channel is not None:
            kind = {"channel": "channels", "group": "groups", "im": "im"}[channel.channel_type]
            subscription = f"message.{kind}"
        else:
            subscription = str(event.get("type"))
        if subscription not in self._events:
            return False
        return channel is None or self.bot_user_id in channel.members

    async def _deliver_now(self, event: JSON, channel: Channel) -> Delivery | None:
        """Deliver an event now and return the bot's answer to its first delivery (None: not delivered). It may
        overtake background events still on their way (in order: it goes after them)."""
        envelope = self._envelope_for(event, channel)
        if envelope is None:
            return None
        return await self._courier.emit_and_wait(envelope)

    def exchange_trigger(self, trigger_id: str) -> tuple[str, str | None]:
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user, trigger.view_id

    def socket_url(self) -> str:
        return f"ws://{self._listener.host}:{self._listener.port}/link/?ticket={self._hub.issue_ticket()}&app_id={self.app_id}"

    # -- delivery plumbing --------------------------------------------------------------------------------
    def set_request_url(self, url: str | None) -> None:
        """HTTP mode: where commands, events and interactions are POSTed (None = use Socket Mode)."""
        self._courier.request_url = url

    @property
    def socket_connected(self) -> bool:
        return self._hub.current() is not None

    async def disconnect_socket(self, reason: str = "refresh_requested") -> None:
        await self._hub.disconnect(reason)

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode connections were ever opened (reconnects count)."""
        return self._hub.total_connections

    async def wait_idle(self) -> None:
        """Wait until every background delivery (echoes, joins, people's messages) and every retry of a failed one
        has been answered."""
        await self._courier.wait_idle()

    async def redeliver(self, delivery: Delivery, *, retry_num: int = 1, retry_reason: str = "http_error") -> Delivery:
        """Send an earlier delivery's exact request body again, as Slack's Events API retry does.

        HTTP mode: fresh X-Slack-Request-Timestamp and signature plus X-Slack-Retry-Num / X-Slack-Retry-Reason.
        A Socket Mode delivery is sent again as a new envelope with retry_attempt / retry_reason.
        """
        return await self._courier.redeliver(delivery, retry_num=retry_num, retry_reason=retry_reason)

    async def deliver_raw(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Delivery:
        """POST exact bytes with exact headers to the request URL (forged signatures, stale timestamps...)."""
        return await self._courier.deliver_raw(body, content_type, headers)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery to the bot and its answer, in order."""
        return self._courier.deliveries

    @property
    def failed_deliveries(self) -> list[Delivery]:
        """Deliveries the bot answered with non-2xx, or not at all (status 0)."""
        return self._courier.failed

    @property
    def dropped_events(self) -> list[JSON]:
        """Event envelopes generated while no request URL was set and no Socket Mode client had connected."""
        return self._courier.dropped

    def _issue_trigger(self, user_id: str, view_id: str | None = None) -> str:
        trigger_id = payloads.new_trigger_id()
        self._triggers[trigger_id] = _Trigger(user=user_id, issued=time.monotonic(), view_id=view_id)
        return trigger_id

    def _response_url(self, target: ResponseTarget) -> str:
        token = f"{self.team_id}/{secrets.randbelow(10**12)}/{secrets.token_urlsafe(18)}"
        key = token.replace("/", "-")
        self._response_targets[key] = target
        return f"{self.url}/response/{key}"

    def _user(self, user_id: str) -> User:
        """A user who can act (post, run commands, click...): ValueError if unknown or deactivated."""
        user = self.workspace.users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id!r}; add it with add_user()")
        if user.deleted:
            raise ValueError(f"{user.name} ({user_id}) is deactivated; Slack would not let them act")
        return user

    def _channel(self, channel_id: str) -> Channel:
        channel = self.workspace.channels.get(channel_id)
        if channel is None:
            raise ValueError(f"unknown channel {channel_id!r}; add it with add_channel()")
        return channel

    # -- things people do ---------------------------------------------------------------------------------
    async def send_command(
        self,
        user_id: str,
        channel_id: str,
        command: str,
        text: str = "",
        *,
        retry_num: int | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
        markup: bool = False,
    ) -> Delivery:
        """A person runs a slash command; returns the bot's ack (its visible effect is applied too).

        `text` is what they typed: it is sent as Slack sends it (`&<>` escaped; with `should_escape`, `@bob` as
        `<@U…|bob>`, `#ops` as `<#C…|ops>`, URLs as `<https://…>`). markup=True: `text` is sent exactly as given."""
        if not self.installed:
            raise ValueError(f"the app is not installed in {self.team_id}: Slack would not send it the command")
        self._user(user_id)
        channel = self._channel(channel_id)
        form = payloads.command_form(
            self.workspace,
            user_id=user_id,
            channel=channel,
            command=command,
            text=text if markup else composer.command_text(self.workspace, text, should_escape=self.should_escape),
            response_url=self._response_url(ResponseTarget(user_id, channel.id, None, False)),
            trigger_id=self._issue_trigger(user_id),
        )
        delivery = await self._courier.deliver(
            "command",
            form,
            retry_num=retry_num,
            timestamp=None if timestamp is None else str(timestamp),
            signature=signature,
        )
        acks.apply_command_ack(self, self.notices, user_id, channel, delivery)
        return delivery

    async def send_event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> Delivery:
        """Deliver an Events API event (wrapped in the event_callback envelope). Retries reuse the same body."""
        if event_id is not None and retry_num is not None and event_id in self._event_envelopes:
            envelope = self._event_envelopes[event_id]
        else:
            envelope = payloads.event_envelope(self.workspace, event, event_id or payloads.new_event_id())
            self._event_envelopes[str(envelope["event_id"])] = envelope
        return await self._courier.deliver("event", envelope, retry_num=retry_num, retry_reason=retry_reason)

    async def send_url_verification(self, challenge: str = "") -> Delivery:
        """The signed url_verification request Slack sends when a Request URL is saved (HTTP mode only)."""
        if self._courier.request_url is None:
            raise RuntimeError("url_verification needs a request URL (HTTP mode)")
        payload = {
            "token": payloads.VERIFICATION_TOKEN,
            "challenge": challenge or secrets.token_urlsafe(40),
            "type": "url_verification",
        }
        return await self._courier.deliver("event", payload)

    async def post_message(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        thread_ts: str | None = None,
        *,
        deliver: bool = True,
        markup: bool = False,
    ) -> Message:
        """A person (or another integration's bot user) writes in a channel or thread.

        `text` is what they typed; Slack stores and delivers it in its markup (`a < b` as `a &lt; b`, `@bob` as
        `<@U…>`, `@here` as `<!here>`, `#ops` as `<#C…|ops>`, a URL as `<https://…>`), with the rich_text blocks
        its client attaches. markup=True: `text` is already Slack markup (made with the composer's formatting
        tools: a labelled link, a user group mention...) and is kept as given.

        Stored, then delivered to the bot as a message event in the background. deliver=False only stores it (the
        event is lost or late: deliver it later with deliver_message_event()). A bot user made with
        add_user(is_bot=True) posts a modern bot message: bot_id, user and bot_profile, no subtype.
        """
        user = self._user(user_id)
        channel = self._postable(user, channel_id)
        text = text if markup else composer.message_text(self.workspace, text)
        ts = self.workspace.next_ts()
        if user.is_bot and user.bot_id:
            app_id = self.app_id if user.id == self.bot_user_id else bot_app_id(user.bot_id)
            message = Message(
                ts=ts,
                channel=channel.id,
                user=user_id,
                text=text,
                thread_ts=thread_ts,
                team=self.team_id,
                bot_id=user.bot_id,
                app_id=app_id,
            )
        else:
            message = Message(
                ts=ts,
                channel=channel.id,
                user=user_id,
                text=text,
                thread_ts=thread_ts,
                team=self.team_id,
                client_msg_id=str(uuid.uuid4()),
                blocks=composer.rich_text(text),
            )
        return self._store(channel, message, deliver=deliver)

    async def deliver_message_event(self, channel_id: str, ts: str, *, ordered: bool = True) -> Delivery:
        """Deliver now the message event of a stored message (as any background event: with the emulator's jitter,
        or after pending background deliveries when the emulator is `ordered`).

        `ordered=False` sends it at once, with no jitter, concurrently with whatever else is in flight.

        The event is the one Slack sent (or would have sent) when the message was posted, with a new event_id:
        a late delivery of a message posted with deliver=False, or a duplicate. Raises ValueError if the app
        would not receive it (not subscribed / not a member), RuntimeError with nowhere to deliver.
        """
        channel = self._channel(channel_id)
        message = self._message(channel, ts)
        event = self._message_events.get((channel.id, ts))
        if event is None:
            event = events.message_event(self.workspace, channel, message)
            if not message.is_reply:
                event.pop("thread_ts", None)
        if not self._receives(event, channel):
            raise ValueError(f"the app does not receive message events of #{channel.name} (subscription/membership)")
        envelope = payloads.event_envelope(self.workspace, event, payloads.new_event_id())
        if not ordered:
            return await self._courier.deliver("event", envelope)
        delivery = await self._courier.emit_and_wait(envelope, drop_if_no_target=False)
        assert delivery is not None
        return delivery

    async def edit_message(
        self, user_id: str, channel_id: str, ts: str, text: str, *, markup: bool = False
    ) -> Delivery | None:
        """The author edits their message: text (and rich_text blocks) replaced, `edited` set; message_changed is
        delivered now. Returns the bot's answer, or None when the app does not receive the event.

        `text` is what they typed (encoded as post_message does; markup=True: kept as given)."""
        self._user(user_id)
        channel = self._channel(channel_id)
        message = self._message(channel, ts)
        if message.user != user_id:
            raise ValueError(f"only the author ({message.user}) can edit message {ts}; Slack would not let {user_id}")
        if message.subtype not in _EDITABLE_SUBTYPES:
            raise ValueError(f"a {message.subtype} message cannot be edited")
        if channel.is_archived:
            raise ValueError(f"#{channel.name} is archived")
        text = text if markup else composer.message_text(self.workspace, text)
        changes: dict[str, Any] = {"text": text}
        if message.blocks and all(block.get("type") == "rich_text" for block in message.blocks):
            changes["blocks"] = composer.rich_text(text)
        event = effects.edit_message(self, channel, message, changes, editor=user_id, emit=False)
        return await self._deliver_now(event, channel)

    async def delete_message(self, user_id: str, channel_id: str, ts: str) -> Delivery | None:
        """The author deletes their message: gone from history, message_deleted delivered now. A thread parent
        with replies becomes a tombstone instead, delivered as message_changed (see effects.delete_message).
        Returns the bot's answer (to the first event), or None when the app does not receive the event."""
        self._user(user_id)
        channel = self._channel(channel_id)
        message = self._message(channel, ts)
        if message.user != user_id:
            raise ValueError(f"only the author ({message.user}) can delete message {ts}; Slack would not let {user_id}")
        if channel.is_archived:
            raise ValueError(f"#{channel.name} is archived")
        made = effects.delete_message(self, channel, message, emit=False)
        self._message_events.pop((channel.id, ts), None)
        answers = [await self._deliver_now(event, channel) for event in made]
        return answers[0]

    async def react(self, user_id: str, channel_id: str, message_ts: str, name: str) -> Delivery | None:
        """A person adds an emoji reaction; reaction_added is delivered now (None: the app does not receive it).

        A second identical reaction by the same person raises ValueError (Slack: already_reacted).
        """
        self._user(user_id)
        channel = self._channel(channel_id)
        message = self._message(channel, message_ts)
        emoji = name.strip(":")
        users = message.reactions.setdefault(emoji, [])
        if user_id in users:
            raise ValueError(f"already_reacted: {user_id} already reacted :{emoji}: to {message_ts}")
        users.append(user_id)
        event = events.reaction_event("reaction_added", user_id, channel, message, emoji, self.workspace.next_ts())
        return await self._deliver_now(event, channel)

    async def unreact(self, user_id: str, channel_id: str, message_ts: str, name: str) -> Delivery | None:
        """A person removes their reaction; reaction_removed is delivered now (None: the app does not receive it,
        e.g. reaction_removed is not among the subscribed events)."""
        self._user(user_id)
        channel = self._channel(channel_id)
        message = self._message(channel, message_ts)
        emoji = name.strip(":")
        users = message.reactions.get(emoji, [])
        if user_id not in users:
            raise ValueError(f"no_reaction: {user_id} has no :{emoji}: on {message_ts}")
        users.remove(user_id)
        if not users:
            del message.reactions[emoji]
        event = events.reaction_event("reaction_removed", user_id, channel, message, emoji, self.workspace.next_ts())
        return await self._deliver_now(event, channel)

    async def share_file(
        self, user_id: str, channel_id: str, name: str, filetype: str = "png", text: str = ""
    ) -> Message:
        """A person uploads a file into a channel: a file_share message, stored and delivered (background). `text`,
        the comment typed with it, is encoded as post_message does."""
        user = self._user(user_id)
        channel = self._postable(user, channel_id)
        ws = self.workspace
        text = composer.message_text(ws, text)
        file = File(id=ws.new_id("F"), filename=name, length=0, title=name, channels=[channel.id], user=user_id)
        file.content = b""
        ws.files[file.id] = file
        ts = ws.next_ts()
        message = Message(
            ts=ts,
            channel=channel.id,
            user=user_id,
            text=text,
            subtype="file_share",
            team=self.team_id,
            client_msg_id=str(uuid.uuid4()),
            blocks=composer.rich_text(text) if text else [],
            files=[_file_object(ws.team_id, ws.team_domain, file, filetype, ts)],
            upload=True,
        )
        return self._store(channel, message, deliver=True)

    async def join(self, user_id: str, channel_id: str) -> Message:
        """A person joins a public channel: member_joined_channel and the channel_join message are delivered
        (background). Returns the channel_join message."""
        user = self._user(user_id)
        channel = self._channel(channel_id)
        if channel.is_private or channel.is_im:
            raise ValueError(f"#{channel.name} is private; people join it only when invited")
        if channel.is_archived:
            raise ValueError(f"#{channel.name} is archived")
        if user_id in channel.members:
            raise ValueError(f"{user.name} is already in #{channel.name}")
        message = effects.join_channel(self, channel, user_id)
        self._message_events[(channel.id, message.ts)] = events.message_event(self.workspace, channel, message)
        return message

    async def notice(self, user_id: str, channel_id: str, subtype: str, text: str) -> Message:
        """A notice Slack itself writes in a channel about something `user_id` did (channel_topic, pinned_item,
        bot_add, reminder_add, ...): a message with that subtype, stored and delivered (background)."""
        self._user(user_id)
        channel = self._channel(channel_id)
        message = effects.system_message(self, channel, user_id, subtype, text)
        self._message_events[(channel.id, message.ts)] = events.message_event(self.workspace, channel, message)
        return message

    async def rename_channel(self, user_id: str, channel_id: str, name: str) -> Delivery | None:
        """A person renames a channel: Slack's channel_name notice (background), then channel_rename (group_rename
        for a private channel, sent only to its members), delivered now. Returns the bot's answer to the rename
        event (None: the app does not receive it)."""
        self._user(user_id)
        channel = self._channel(channel_id)
        validate_channel_name(name)
        if any(c.name == name and c.id != channel.id for c in self.workspace.channels.values()):
            raise ValueError(f"name_taken: #{name} exists")
        old, channel.name = channel.name, name
        effects.system_message(
            self, channel, user_id, "channel_name", f'has renamed the channel from "{old}" to "{name}"'
        )
        event = events.channel_rename_event(channel, self.workspace.next_ts())
        return await self._deliver_lifecycle(event, channel if channel.is_private else None)

    async def archive_channel(self, user_id: str, channel_id: str) -> Delivery | None:
        """A person archives a channel: Slack's channel_archive notice (background), then channel_archive
        (group_archive for a private channel, sent only to its members), delivered now."""
        self._user(user_id)
        channel = self._channel(channel_id)
        if channel.is_archived:
            raise ValueError(f"already_archived: #{channel.name}")
        effects.system_message(self, channel, user_id, "channel_archive", f"<@{user_id}> archived the channel")
        channel.is_archived = True
        event = events.channel_archive_event(channel, user_id, self.workspace.next_ts())
        return await self._deliver_lifecycle(event, channel if channel.is_private else None)

    async def revoke_tokens(self) -> Delivery | None:
        """The bot's tokens are revoked: tokens_revoked is delivered now, and the Web API refuses them from then on
        (token_revoked); OAuth refresh tokens stop working too."""
        self._dispatcher.revoke_all()
        return await self._deliver_lifecycle(events.tokens_revoked_event(self.workspace, self.workspace.next_ts()))

    async def uninstall(self) -> list[Delivery | None]:
        """The app is uninstalled from the workspace: app_uninstalled, then tokens_revoked (Slack sends both, in
        no promised order), delivered now; its tokens (refresh tokens too) are refused from then on."""
        self._dispatcher.revoke_all()
        uninstalled = await self._deliver_lifecycle(events.app_uninstalled_event(self.workspace.next_ts()))
        revoked = await self._deliver_lifecycle(events.tokens_revoked_event(self.workspace, self.workspace.next_ts()))
        if self._served_at is not None:  # (a lone emulator keeps delivering, as its tests expect)
            self.installed = False
        return [uninstalled, revoked]

    async def send_app_rate_limited(self, minute_rate_limited: int | None = None) -> Delivery:
        """Slack's `app_rate_limited` payload (no `event`: it is not an event_callback), sent without any
        subscription when the app would get more than 30,000 events of this workspace in an hour. Returns the
        bot's answer."""
        minute = minute_rate_limited if minute_rate_limited is not None else int(time.time()) // 60 * 60
        return await self._courier.deliver("event", events.app_rate_limited_payload(self.workspace, minute))

    async def _deliver_lifecycle(self, event: JSON, channel: Channel | None = None) -> Delivery | None:
        """Deliver an event that is not about a message after every pending background one (None: not received)."""
        envelope = self._envelope_for(event, channel)
        if envelope is None:
            return None
        return await self._courier.emit_and_wait(envelope)

    def _postable(self, user: User, channel_id: str) -> Channel:
        channel = self._channel(channel_id)
        if user.id not in channel.members:
            raise ValueError(f"{user.name} is not a member of #{channel.name}; Slack would not let them post")
        if channel.is_archived:
            raise ValueError(f"#{channel.name} is archived")
        return channel

    def _message(self, channel: Channel, ts: str) -> Message:
        message = channel.find(ts)
        if message is None:
            raise ValueError(f"no message {ts} in #{channel.name}")
        return message

    def _store(self, channel: Channel, message: Message, *, deliver: bool) -> Message:
        """Store a person's message, emit its events unless deliver=False, and keep its original message event."""
        effects.store_message(self, channel, message, deliver=deliver)
        self._message_events[(channel.id, message.ts)] = events.message_event(self.workspace, channel, message)
        return message

    async def click(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        *,
        value: str | None = None,
        selected_option: str | Mapping[str, Any] | None = None,
        selected_user: str | None = None,
        block_id: str | None = None,
    ) -> Delivery:
        """A person clicks a button / picks an option in a message (or in an ephemeral message they saw).

        `block_id` is only needed when the same action_id appears in several blocks.
        """
        self._user(user_id)
        channel = self._channel(channel_id)
        message = channel.find(message_ts)
        ephemeral = None
        if message is None:
            ephemeral = next(
                (e for e in self.ephemerals if e.message_ts == message_ts and e.user == user_id),
                None,
            )
            if ephemeral is None:
                raise ValueError(f"no message {message_ts} in #{channel.name} (nor an ephemeral one for {user_id})")
        blocks = message.blocks if message is not None else ephemeral.blocks if ephemeral else []
        block, element = _locate(blocks, action_id, block_id, f"message {message_ts}")
        action, state = payloads.build_action(
            block, element, value=value, selected_option=selected_option, selected_user=selected_user
        )
        if state is not None:  # the person's client shows what they picked (shown_choice)
            picks = self._picks.setdefault((user_id, channel.id, message_ts), {})
            picks[(str(block.get("block_id")), action_id)] = state
        response_url = self._response_url(ResponseTarget(user_id, channel.id, message_ts, ephemeral is not None))
        values = {str(block.get("block_id")): {action_id: state}} if state is not None else {}
        payload = payloads.block_actions(
            self.workspace,
            user_id=user_id,
            trigger_id=self._issue_trigger(user_id),
            action=action,
            state_values=values,
            channel=channel,
            message=self.workspace.message_api(channel, message) if message is not None else None,
            message_ts=message_ts,
            is_ephemeral=ephemeral is not None,
            response_url=response_url,
        )
        return await self._courier.deliver("interactive", payload)

    def shown_choice(self, user_id: str, channel_id: str, message_ts: str, action_id: str) -> object:
        """What this person's Slack client shows in a select of a message: what they picked in it, until an update
        gives its block a new block_id; else its initial value (blocks.shown_choice)."""
        message = self._message(self._channel(channel_id), message_ts)
        return shown_choice(message.blocks, action_id, self._picks.get((user_id, channel_id, message_ts), {}))

    async def click_in_view(
        self,
        user_id: str,
        view_id: str,
        action_id: str,
        *,
        value: str | None = None,
        selected_option: str | Mapping[str, Any] | None = None,
        selected_user: str | None = None,
        block_id: str | None = None,
    ) -> Delivery:
        """A person clicks an interactive element inside an open modal or their App Home."""
        view = self._open_view(user_id, view_id)
        block, element = _locate(view.blocks, action_id, block_id, f"view {view_id}")
        action, state = payloads.build_action(
            block, element, value=value, selected_option=selected_option, selected_user=selected_user
        )
        if state is not None:
            view.state_values.setdefault(str(block.get("block_id")), {})[action_id] = state
        payload = payloads.block_actions(
            self.workspace,
            user_id=user_id,
            trigger_id=self._issue_trigger(user_id, view.id),
            action=action,
            state_values=view.state_values,
            view=view,
        )
        return await self._courier.deliver("interactive", payload)

    def _open_view(self, user_id: str, view_id: str) -> View:
        self._user(user_id)
        view = self.workspace.views.get(view_id)
        if view is None or view.user != user_id:
            raise ValueError(f"{user_id} has no view {view_id}; views: {sorted(self.workspace.views)}")
        if not view.is_open:
            raise ValueError(f"view {view_id} is closed")
        return view

    async def submit_view(
        self, user_id: str, view_id: str, values: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Delivery:
        """A person presses Submit. `values`: {block_id: {action_id: state dict or shorthand (str / option value)}}.

        The ack is applied like Slack: empty -> the view closes; response_action errors / update / push / clear.
        """
        view = self._open_view(user_id, view_id)
        view.state_values = payloads.submission_state(view, values or {})
        payload = payloads.view_submission(
            self.workspace, user_id=user_id, trigger_id=self._issue_trigger(user_id, view.id), view=view
        )
        delivery = await self._courier.deliver("interactive", payload)
        if delivery.ok:
            acks.apply_submission_ack(self.workspace, user_id, view, delivery)
        return delivery

    async def close_view(self, user_id: str, view_id: str) -> Delivery | None:
        """A person closes (cancels) a modal; view_closed is delivered when the view asked for notify_on_close."""
        view = self._open_view(user_id, view_id)
        close_stack(self.workspace, user_id)
        if not view.view.get("notify_on_close"):
            return None
        return await self._courier.deliver(
            "interactive", payloads.view_closed(self.workspace, user_id=user_id, view=view)
        )

    async def message_shortcut(self, user_id: str, channel_id: str, message_ts: str, callback_id: str) -> Delivery:
        self._user(user_id)
        channel = self._channel(channel_id)
        message = channel.find(message_ts)
        if message is None:
            raise ValueError(f"no message {message_ts} in #{channel.name}")
        payload = payloads.message_action(
            self.workspace,
            user_id=user_id,
            trigger_id=self._issue_trigger(user_id),
            callback_id=callback_id,
            channel=channel,
            message=self.workspace.message_api(channel, message),
            response_url=self._response_url(ResponseTarget(user_id, channel.id, None, False)),
        )
        return await self._courier.deliver("interactive", payload)

    async def global_shortcut(self, user_id: str, callback_id: str) -> Delivery:
        self._user(user_id)
        payload = payloads.global_shortcut(
            self.workspace, user_id=user_id, trigger_id=self._issue_trigger(user_id), callback_id=callback_id
        )
        return await self._courier.deliver("interactive", payload)

    # -- HTTP endpoints besides the Web API --------------------------------------------------------------
    async def _on_response_url(self, request: web.Request) -> web.Response:
        """A POST to a response_url: at most 5 within 30 minutes (then 404 used_url / expired_url); the message is
        validated as chat.postMessage validates it (400 with the error code, e.g. invalid_blocks, no_text)."""
        target = self._response_targets.get(request.match_info["token"])
        if target is None:
            return web.Response(status=404, text="no_such_response_url")
        refusal = target.refusal(self.response_url_seconds)
        if refusal is not None:
            return web.Response(status=404, text=refusal)
        raw = await request.text()
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError:
            form = dict(await request.post())
            try:
                payload = json.loads(str(form.get("payload", "{}")))
            except json.JSONDecodeError:
                payload = None
        if not isinstance(payload, dict):
            return web.Response(status=400, text="invalid_payload")
        refused = acks.response_error(payload)
        if refused is not None:
            return web.Response(status=400, text=refused)
        try:  # text past 40,000 characters is cut (acks.show_message), as chat.postMessage does
            message_content(Args(payload), require=not payload.get("delete_original"), blocks_too_long="invalid_blocks")
        except ApiError as error:
            return web.Response(status=400, text=error.code)
        target.uses += 1
        self.responses.append(ResponseUrlPost(target.user, target.channel, payload, str(request.url)))
        acks.apply_response(self, self.notices, target, payload)
        held = next((h for h in self._response_holds if not h.arrived.is_set()), None)
        if held is not None:
            held.arrived.set()
            await held.released_event.wait()
        return web.Response(text="ok")

    async def _on_upload(self, request: web.Request) -> web.Response:
        file = self.workspace.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="file_not_found")
        file.content = await request.read()
        return web.Response(text=f"OK - {len(file.content)}")

    # -- observing ----------------------------------------------------------------------------------------
    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the polling deadline is part of the public API
        *,
        what: str = "",
    ) -> None:
        """Poll `predicate` every 10 ms; AssertionError (with recent calls and failures) after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        name = what or getattr(predicate, "__qualname__", repr(predicate))
        recent = [f"{c.method} -> {'ok' if c.ok else c.error} ({c.http_status})" for c in self.calls[-10:]]
        failed = [f"{d.kind}: status={d.status} {d.failure or ''} {d.body[:200]}" for d in self.failed_deliveries[-5:]]
        raise AssertionError(
            f"condition {name} not met within {timeout}s\n"
            f"last API calls: {recent or 'none'}\nfailed deliveries: {failed or 'none'}\n"
            f"emulator seed: {self.seed} (SlackEmulator(seed={self.seed}) replays its delivery order)"
        )

    def render_channel(self, channel_id: str) -> str:
        return render.render_channel(self.workspace, self._channel(channel_id))

    def render_private(self, user_id: str) -> str:
        """What one person saw privately: ephemeral messages, command acks and ephemeral responses."""
        name = self.workspace.display_name(user_id)
        lines = [f"Only visible to {name}:"]
        for eph in self.ephemerals:
            if eph.user == user_id:
                where = self.workspace.channels[eph.channel].name
                lines += render.render_notice(self.workspace, f"[#{where}] (ephemeral)", eph.text, eph.blocks)
        for notice in self.notices:
            if notice.user == user_id:
                where = self.workspace.channels[notice.channel].name if notice.channel else "-"
                lines += render.render_notice(
                    self.workspace, f"[#{where}] ({notice.source})", notice.text, notice.blocks
                )
        return "\n".join(lines)


_EDITABLE_SUBTYPES = (None, "file_share", "thread_broadcast", "me_message")

_MIMETYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "text": "text/plain",
    "csv": "text/csv",
    "json": "application/json",
    "zip": "application/zip",
    "mp4": "video/mp4",
}


def _file_object(team_id: str, domain: str, file: File, filetype: str, ts: str) -> JSON:
    """A file object of a file_share message (the fields of Slack's files[] entries that matter to an app)."""
    created = int(float(ts))
    private = f"https://files.slack.com/files-pri/{team_id}-{file.id}/{file.filename}"
    return {
        "id": file.id,
        "created": created,
        "timestamp": created,
        "name": file.filename,
        "title": file.title,
        "mimetype": _MIMETYPES.get(filetype, mimetypes.guess_type(f"f.{filetype}")[0] or "application/octet-stream"),
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": file.user,
        "user_team": team_id,
        "editable": False,
        "size": file.length,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": private,
        "url_private_download": f"https://files.slack.com/files-pri/{team_id}-{file.id}/download/{file.filename}",
        "permalink": f"https://{domain}.slack.com/files/{file.user}/{file.id}/{file.filename}",
        "permalink_public": f"https://slack-files.com/{team_id}-{file.id}-{secrets.token_hex(5)}",
        "has_rich_preview": False,
        "file_access": "visible",
    }


def _locate(blocks: list[JSON], action_id: str, block_id: str | None, where: str) -> tuple[JSON, JSON]:
    found = find_elements(blocks, action_id, block_id)
    if not found:
        raise ValueError(f"{where} has no element {action_id!r} (block_id={block_id}); it has {action_ids(blocks)}")
    if len(found) > 1:
        blocks_with = [str(block.get("block_id")) for block, _ in found]
        raise ValueError(f"{where} has {action_id!r} in blocks {blocks_with}; pass block_id= to choose one")
    return found[0]

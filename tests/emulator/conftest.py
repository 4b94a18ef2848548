"""Fixtures for the emulator's own tests: a started emulator, a Web API client on it, people, a receiver."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator
from tests.conftest import emulator_seed

SIGNING_SECRET = "s3cret"

# The emulator's own tests run as a broader app than incident-bot (whose manifest is the emulator's default): one that
# may also join channels, bookmark, open DMs, work in private channels and hear about mentions and joins.
GENERIC_SCOPES = frozenset(
    {
        "app_mentions:read",
        "bookmarks:write",
        "channels:history",
        "channels:join",
        "channels:manage",
        "channels:read",
        "channels:write.invites",
        "channels:write.topic",
        "chat:write",
        "chat:write.public",
        "commands",
        "files:write",
        "groups:history",
        "groups:read",
        "groups:write",
        "groups:write.invites",
        "groups:write.topic",
        "im:write",
        "pins:write",
        "reactions:read",
        "reactions:write",
        "users:read",
    }
)
GENERIC_EVENTS = frozenset(
    {"app_mention", "member_joined_channel", "message.channels", "message.groups", "reaction_added"}
)


@pytest.fixture
async def emu(request: pytest.FixtureRequest) -> AsyncIterator[SlackEmulator]:
    """Slack-like delivery (concurrent, shuffled, retried); `@pytest.mark.ordered_delivery`: in order, no retries."""
    emulator = SlackEmulator(
        signing_secret=SIGNING_SECRET,
        bot_token="xoxb-emulator",
        app_token="xapp-emulator",
        scopes=GENERIC_SCOPES,
        events=GENERIC_EVENTS,
        ordered=request.node.get_closest_marker("ordered_delivery") is not None,
        seed=emulator_seed(request.config),
    )
    print(f"emulator seed: {emulator.seed} (pytest --emulator-seed={emulator.seed} replays its delivery order)")
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def client(emu: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)


@dataclass(frozen=True)
class People:
    alice: str
    bob: str
    general: str  # public, alice + bob + the bot
    random: str  # public, alice only (the bot is not a member)


@pytest.fixture
def people(emu: SlackEmulator) -> People:
    alice = emu.add_user("alice", real_name="Alice Adams", email="alice@example.com")
    bob = emu.add_user("bob", real_name="Bob Brown")
    general = emu.add_channel("general", members=[alice, bob, emu.bot_user_id])
    random = emu.add_channel("random", members=[alice])
    return People(alice=alice, bob=bob, general=general, random=random)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body of an Events API request (None for form-encoded requests)."""
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return None
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def payload(self) -> Any:
        """The JSON `payload` field of an interactivity request."""
        return json.loads(self.form["payload"])


async def error_of(call: Awaitable[Any]) -> str:
    """The Slack error code a Web API call is refused with."""
    with pytest.raises(SlackApiError) as failure:
        await call
    return str(failure.value.response["error"])


Answer = Callable[[Received], Awaitable[web.StreamResponse]]


@dataclass
class Receiver:
    """A stand-in for the bot's request URL: records every POST, answers with `answer` (default 200 "")."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answer: Answer | None = None


@contextlib.asynccontextmanager
async def receiving(emu: SlackEmulator) -> AsyncIterator[Receiver]:
    """A Receiver served on loopback as `emu`'s request URL (deliveries are waited for before it closes)."""
    recorder = Receiver()

    async def handle(request: web.Request) -> web.StreamResponse:
        received = Received(headers=dict(request.headers), body=await request.read())
        recorder.requests.append(received)
        if recorder.answer is not None:
            return await recorder.answer(received)
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recorder.url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    emu.set_request_url(recorder.url)
    try:
        yield recorder
        await emu.wait_idle()
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver(emu: SlackEmulator) -> AsyncIterator[Receiver]:
    async with receiving(emu) as recorder:
        yield recorder

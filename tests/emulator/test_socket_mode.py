"""Socket Mode: apps.connections.open, hello, envelopes, acks, reconnects (notes §4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People


@pytest.fixture
async def bolt(emu: SlackEmulator) -> AsyncIterator[tuple[AsyncApp, AsyncSocketModeHandler]]:
    app = AsyncApp(client=AsyncWebClient(token=emu.bot_token, base_url=emu.api_url))
    handler = AsyncSocketModeHandler(app, emu.app_token)
    yield app, handler
    await handler.close_async()  # type: ignore[no-untyped-call]
    await emu.wait_idle()


async def open_socket_url(emu: SlackEmulator) -> str:
    app_client = AsyncWebClient(token=emu.app_token, base_url=emu.api_url)
    return str((await app_client.apps_connections_open(app_token=emu.app_token))["url"])


async def test_apps_connections_open_answers_a_loopback_websocket_url(emu: SlackEmulator) -> None:
    url = await open_socket_url(emu)

    assert url.startswith(f"ws://127.0.0.1:{emu.url.rsplit(':', 1)[1]}/link/?ticket=")


async def test_the_websocket_says_hello_and_sends_envelopes_whose_ack_is_the_delivery(
    emu: SlackEmulator, people: People
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(await open_socket_url(emu)) as ws:
        hello = await ws.receive_json()
        task = asyncio.ensure_future(emu.send_command(people.alice, people.general, "/incident", "open"))
        envelope = await ws.receive_json()
        await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"], "payload": {"text": "ok!"}}))
        delivery = await task

    assert hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": emu.app_id}
    assert envelope["type"] == "slash_commands"
    assert envelope["accepts_response_payload"] is True
    assert envelope["payload"]["command"] == "/incident"
    assert envelope["payload"]["is_enterprise_install"] == "false"
    assert (delivery.status, delivery.json()) == (200, {"text": "ok!"})


async def test_a_ticket_can_be_used_only_once(emu: SlackEmulator) -> None:
    url = await open_socket_url(emu)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url):
            pass
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url)


async def test_an_envelope_nobody_acks_is_a_delivery_with_status_0() -> None:
    async with SlackEmulator(delivery_timeout=0.2) as emu:
        alice = emu.add_user("alice")
        general = emu.add_channel("general", members=[alice])
        async with aiohttp.ClientSession() as session, session.ws_connect(await open_socket_url(emu)):
            delivery = await emu.send_command(alice, general, "/incident", "ignored")

    assert delivery.status == 0
    assert delivery.failure == "no_ack"
    assert emu.failed_deliveries == [delivery]


async def test_bolt_socket_mode_round_trip_returns_the_command_ack_payload(
    emu: SlackEmulator, people: People, bolt: tuple[AsyncApp, AsyncSocketModeHandler]
) -> None:
    app, handler = bolt

    @app.command("/incident")
    async def incident(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"Declared: {command['text']}")

    await handler.connect_async()  # type: ignore[no-untyped-call]
    delivery = await emu.send_command(people.alice, people.general, "/incident", "API 500s")

    assert delivery.status == 200
    assert delivery.mode == "socket"
    assert delivery.json() == {"text": "Declared: API 500s"}
    assert "Declared: API 500s" in emu.render_private(people.alice)


async def test_bolt_socket_mode_receives_events_and_the_echo_of_its_own_posts(
    emu: SlackEmulator, people: People, bolt: tuple[AsyncApp, AsyncSocketModeHandler]
) -> None:
    app, handler = bolt
    seen: list[dict[str, Any]] = []

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any) -> None:
        seen.append(event)
        await say(f"heard: {event['text']}")

    await handler.connect_async()  # type: ignore[no-untyped-call]
    await emu.post_message(people.alice, people.general, "anyone there?")
    await emu.wait_for(lambda: len(emu.calls_to("chat.postMessage")) == 1)
    await emu.wait_idle()

    assert [e["text"] for e in seen] == ["anyone there?"]  # Bolt ignores the echo of its own post
    assert emu.workspace.channels[people.general].messages[-1].text == "heard: anyone there?"
    assert emu.failed_deliveries == []
    assert any(d.json() is None and d.status == 200 and d.kind == "event" for d in emu.deliveries)


async def test_after_a_disconnect_message_bolt_reconnects_and_deliveries_use_the_new_connection(
    emu: SlackEmulator, people: People, bolt: tuple[AsyncApp, AsyncSocketModeHandler]
) -> None:
    app, handler = bolt

    @app.command("/incident")
    async def incident(ack: Any) -> None:
        await ack("still here")

    await handler.connect_async()  # type: ignore[no-untyped-call]
    await emu.wait_for(lambda: emu.socket_connections == 1)

    await emu.disconnect_socket(reason="refresh_requested")
    delivery = await emu.send_command(people.alice, people.general, "/incident", "x")

    assert len(emu.calls_to("apps.connections.open")) == 2
    assert emu.socket_connections == 2
    assert delivery.json() == {"text": "still here"}


async def test_an_event_envelope_nobody_acks_is_sent_again_with_retry_attempt_and_retry_reason() -> None:
    async with SlackEmulator(delivery_timeout=0.2, seed=7) as emu:
        alice = emu.add_user("alice")
        general = emu.add_channel("general", members=[alice, emu.bot_user_id])
        async with aiohttp.ClientSession() as session, session.ws_connect(await open_socket_url(emu)) as ws:
            await ws.receive_json()  # hello
            await emu.post_message(alice, general, "API down")
            first = await ws.receive_json()  # not acked
            retry = await ws.receive_json()
            await ws.send_str(json.dumps({"envelope_id": retry["envelope_id"]}))
            await emu.wait_idle()

    assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
    assert (retry["retry_attempt"], retry["retry_reason"]) == (1, "timeout")
    assert retry["payload"] == first["payload"]
    assert retry["envelope_id"] != first["envelope_id"]
    assert [d.retry_num for d in emu.deliveries] == [0, 1]

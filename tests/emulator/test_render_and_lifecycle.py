"""What people see (render), and the emulator's own lifecycle: background deliveries, wait_for, stop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import People, Received, Receiver


def incident_blocks(reporter: str) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "INC-7: Checkout is down"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"Reported by <@{reporter}>"},
            "fields": [{"type": "mrkdwn", "text": "*Severity* SEV1"}, {"type": "mrkdwn", "text": "*Status* open"}],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Runbook: checkout"}]},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Acknowledge"}},
                {
                    "type": "static_select",
                    "action_id": "sev",
                    "placeholder": {"type": "plain_text", "text": "Severity"},
                    "options": [{"text": {"type": "plain_text", "text": "SEV1"}, "value": "1"}],
                },
            ],
        },
    ]


async def test_a_channel_renders_its_topic_messages_blocks_pins_threads_and_reactions(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    await client.conversations_setTopic(channel=people.general, topic="SEV1 checkout")
    posted = await client.chat_postMessage(channel=people.general, text="INC-7", blocks=incident_blocks(people.alice))
    await client.pins_add(channel=people.general, timestamp=posted["ts"])
    await client.reactions_add(channel=people.general, timestamp=posted["ts"], name="eyes")
    await emu.post_message(people.bob, people.general, "on it", thread_ts=posted["ts"])

    text = emu.render_channel(people.general)

    assert text.splitlines()[0] == "#general"
    assert "Topic: SEV1 checkout" in text
    assert "📌" in text
    assert "INC-7: Checkout is down" in text
    assert "Reported by @alice" in text
    assert "*Severity* SEV1 | *Status* open" in text
    assert "· Runbook: checkout" in text
    assert "[ Acknowledge ]" in text
    assert "[ Severity ▾ ]" in text
    assert ":eyes: 1" in text
    assert "    ↳ [" in text
    assert "bob: on it" in text


async def test_private_rendering_shows_only_that_persons_ephemerals(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    await client.chat_postEphemeral(channel=people.general, user=people.alice, text="for alice")
    await client.chat_postEphemeral(channel=people.general, user=people.bob, text="for bob")

    text = emu.render_private(people.alice)

    assert "for alice" in text
    assert "for bob" not in text


async def test_wait_for_fails_with_a_helpful_message(emu: SlackEmulator, client: AsyncWebClient) -> None:
    await client.auth_test()

    with pytest.raises(AssertionError, match=r"(?s)never true.*auth\.test -> ok"):
        await emu.wait_for(lambda: False, timeout=0.05, what="never true")


async def test_events_nobody_subscribed_to_are_not_delivered(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    posted = await client.chat_postMessage(channel=people.general, text="x")
    await client.reactions_add(channel=people.general, timestamp=posted["ts"], name="eyes")
    await client.reactions_remove(channel=people.general, timestamp=posted["ts"], name="eyes")
    await emu.wait_idle()

    types = sorted(r.json["event"]["type"] for r in receiver.requests)
    assert types == ["message", "reaction_added"]  # reaction_removed is not in the manifest's bot events


async def test_events_with_no_delivery_target_are_dropped_not_queued(
    emu: SlackEmulator, client: AsyncWebClient, people: People
) -> None:
    await client.chat_postMessage(channel=people.general, text="into the void")
    await emu.wait_idle()

    assert [e["event"]["text"] for e in emu.dropped_events] == ["into the void"]
    assert emu.deliveries == []


@pytest.mark.ordered_delivery
async def test_in_order_background_events_arrive_in_the_order_they_happened(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    for n in range(5):
        await client.chat_postMessage(channel=people.general, text=str(n))
    await emu.wait_idle()

    assert [r.json["event"]["text"] for r in receiver.requests] == ["0", "1", "2", "3", "4"]


async def test_an_emulator_runs_on_a_real_port_and_stops_cleanly() -> None:
    async with SlackEmulator() as emu:
        url = emu.url
        async with aiohttp.ClientSession() as session, session.get(f"{emu.api_url}auth.test") as response:
            assert response.status == 200

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{url}/api/auth.test")


async def test_stopping_cancels_background_deliveries_the_bot_has_not_answered(
    emu: SlackEmulator, client: AsyncWebClient, people: People, receiver: Receiver
) -> None:
    async def never_answers(request: Received) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response()

    receiver.answer = never_answers
    await client.chat_postMessage(channel=people.general, text="x")
    await emu.wait_for(lambda: len(receiver.requests) == 1)
    started = time.monotonic()

    await emu.stop()

    assert time.monotonic() - started < 1
    assert emu.deliveries == []

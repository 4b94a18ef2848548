"""The same bot over Socket Mode: Slack pushes requests down a websocket, the bot acks on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import IncidentBot
from bot.config import load_config
from bot.emulator import SlackEmulator
from tests.conftest import APP_TOKEN, ROOT, People, environment

from .steps import card_field, open_incident, run, wait_for_private


@pytest.fixture
async def socket_bot(emulator: SlackEmulator, database_url: str, people: People) -> AsyncIterator[IncidentBot]:
    config = load_config(ROOT / "app.yaml", environment(emulator, database_url, SLACK_APP_TOKEN=APP_TOKEN))
    incident_bot = IncidentBot(config)
    await incident_bot.start()
    handler = incident_bot.socket_mode_handler(APP_TOKEN)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    await emulator.wait_for(lambda: emulator.socket_connected, what="the bot connects over Socket Mode")
    yield incident_bot
    await emulator.wait_idle()
    await handler.close_async()  # type: ignore[no-untyped-call]
    await incident_bot.close()


async def test_opening_an_incident_over_socket_mode_creates_the_channel_and_card(
    emulator: SlackEmulator, socket_bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Socket outage")

    assert channel.name.endswith("-socket-outage")
    assert people.alice in channel.members
    assert card_field(emulator, channel, "Status") == "Open"
    assert await wait_for_private(emulator, people.alice, f"<#{channel.id}>")
    assert emulator.calls_to("apps.connections.open")
    assert all(d.mode == "socket" for d in emulator.deliveries)


async def test_the_ack_over_socket_mode_carries_the_immediate_answer(
    emulator: SlackEmulator, socket_bot: IncidentBot, people: People
) -> None:
    delivery = await run(emulator, people.alice, people.general, "open Slow socket")

    assert delivery.mode == "socket"
    assert "Opening an incident" in delivery.body


async def test_messages_over_socket_mode_are_stored_before_they_are_acked(
    emulator: SlackEmulator, socket_bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Socket capture")
    posted = await emulator.post_message(people.alice, channel.id, "seen over the websocket", deliver=False)

    delivery = await emulator.deliver_message_event(channel.id, posted.ts)

    assert (delivery.mode, delivery.status) == ("socket", 200)
    incident = await socket_bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    async with socket_bot.db.timeline() as store:
        assert "seen over the websocket" in [e.text for e in await store.messages(incident.id)]


async def test_a_message_that_cannot_be_stored_over_socket_mode_is_not_acked(
    emulator: SlackEmulator, socket_bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Socket outage")
    posted = await emulator.post_message(people.alice, channel.id, "lost unless redelivered", deliver=False)
    async with socket_bot.db.engine.begin() as conn:  # the messages table disappears under the running bot
        await conn.exec_driver_sql("ALTER TABLE messages RENAME TO messages_gone")

    delivery = await emulator.deliver_message_event(channel.id, posted.ts)

    assert delivery.status == 0
    assert delivery.failure == "no_ack"


async def test_a_malformed_event_over_socket_mode_is_acked_and_recorded_as_dropped(
    emulator: SlackEmulator, socket_bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Socket oddities")
    event = {"type": "message", "channel": channel.id, "user": people.alice, "text": "x", "ts": "abc"}

    delivery = await emulator.send_event(event, event_id="Ev0SOCKBAD1")

    assert (delivery.mode, delivery.status) == ("socket", 200)  # acked: Slack does not deliver it forever
    async with socket_bot.db.timeline() as store:
        assert [e for e, _ in await store.dropped()] == ["Ev0SOCKBAD1"]


async def test_a_nul_over_socket_mode_is_stored_with_a_replacement(
    emulator: SlackEmulator, socket_bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Socket bytes")
    posted = await emulator.post_message(people.alice, channel.id, "a\x00b", deliver=False)

    delivery = await emulator.deliver_message_event(channel.id, posted.ts)

    assert delivery.status == 200
    incident = await socket_bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    async with socket_bot.db.timeline() as store:
        assert "a\ufffdb" in [e.text for e in await store.messages(incident.id)]

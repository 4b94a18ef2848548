"""Only Slack gets in: forged or stale requests are refused and change nothing."""

from __future__ import annotations

import time

from bot.app import IncidentBot
from bot.emulator import SlackEmulator
from tests.conftest import People

from .steps import incident_channels, open_incident


async def test_a_forged_signature_is_refused_with_401_and_nothing_is_stored(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    answer = await emulator.send_command(
        people.alice, people.general, "/incident", "open Forged outage", signature="v0=" + "0" * 64
    )

    assert answer.status == 401
    assert await bot.services.in_flight.drained(within=5)
    assert incident_channels(emulator) == []
    assert emulator.calls_to("conversations.create") == []
    async with bot.db.transaction() as store:
        assert await store.count() == 0


async def test_a_request_signed_more_than_five_minutes_ago_is_refused_with_401(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    answer = await emulator.send_command(
        people.alice, people.general, "/incident", "open Replayed outage", timestamp=int(time.time()) - 301
    )

    assert answer.status == 401
    assert await bot.services.in_flight.drained(within=5)
    assert incident_channels(emulator) == []
    async with bot.db.transaction() as store:
        assert await store.count() == 0


async def test_a_correctly_signed_request_a_minute_old_is_accepted(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    answer = await emulator.send_command(
        people.alice, people.general, "/incident", "help", timestamp=int(time.time()) - 60
    )

    assert answer.status == 200


async def test_events_the_bot_subscribes_to_are_answered_200_so_slack_does_not_retry(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Chatty incident")
    await emulator.post_message(people.alice, channel.id, "looking at the dashboards")
    await emulator.wait_idle()

    delivered = [d for d in emulator.deliveries if d.kind == "event"]
    assert len(delivered) >= 3  # the bot joining, alice joining, alice's message, the bot's own posts
    assert all(d.status == 200 for d in delivered)
    assert emulator.failed_deliveries == []

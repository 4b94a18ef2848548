"""Opening an incident from Slack, as an on-call engineer does it."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.app import IncidentBot
from bot.emulator import SlackEmulator
from bot.storage import Database
from tests.conftest import People

from .steps import card_field, incident_channels, open_incident, run, wait_for_private


async def stored_incidents(bot: IncidentBot) -> int:
    async with bot.db.transaction() as store:
        return await store.count()


async def test_opening_an_incident_creates_a_channel_invites_the_opener_and_pins_the_card(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "API 500 errors on User Service")

    assert re.fullmatch(r"inc-\d{4}-001-api-500-errors-on-user-service", channel.name)
    assert people.alice in channel.members
    assert channel.topic.startswith("INC-")
    header = channel.find(channel.pins[0]).blocks[0]  # type: ignore[union-attr]
    assert header["type"] == "header"
    assert re.fullmatch(r"INC-\d{4}-001 · API 500 errors on User Service", header["text"]["text"])
    assert card_field(emulator, channel, "Severity") == "SEV3 · Minor"
    assert card_field(emulator, channel, "Status") == "Open"
    assert card_field(emulator, channel, "Opened by") == f"<@{people.alice}>"
    link = await wait_for_private(emulator, people.alice, f"<#{channel.id}>")
    assert "INC-" in link


async def test_a_severity_word_before_or_after_the_title_sets_the_severity(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    first = await open_incident(emulator, people.alice, people.general, "sev1 Checkout is down")
    second = await open_incident(emulator, people.bob, people.general, "Search is slow sev2")

    assert card_field(emulator, first, "Severity") == "SEV1 · Critical"
    assert first.name.endswith("-checkout-is-down")
    assert card_field(emulator, second, "Severity") == "SEV2 · Major"
    assert second.name.endswith("-search-is-slow")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("🔥🔥🔥", r"inc-\d{4}-001"),
        ("Сбой оплаты в EU", r"inc-\d{4}-001-sboy-oplaty-v-eu"),
        ("A" * 200, r"inc-\d{4}-001-a{67}"),
        ("payload service returns 502", r"inc-\d{4}-001-payload-service-returns-502"),
    ],
    ids=["emoji-only", "non-latin", "200-characters", "the-word-payload"],
)
async def test_any_title_gives_a_channel_name_slack_accepts(
    emulator: SlackEmulator, bot: IncidentBot, people: People, title: str, expected: str
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, title)

    assert re.fullmatch(expected, channel.name), channel.name
    assert len(channel.name) <= 80
    assert emulator.calls_to("conversations.create")[-1].ok


async def test_a_taken_channel_name_gets_a_suffix(emulator: SlackEmulator, bot: IncidentBot, people: People) -> None:
    year = __import__("datetime").datetime.now().year
    emulator.add_channel(f"inc-{year}-001-db-down", members=[people.bob])

    channel = await open_incident(emulator, people.alice, people.general, "DB down")

    assert channel.name == f"inc-{year}-001-db-down-2"
    assert [c.error for c in emulator.calls_to("conversations.create")] == ["name_taken", None]


async def test_the_same_command_delivered_twice_opens_one_incident(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    first = await run(emulator, people.alice, people.general, "open Login broken")
    await emulator.wait_for(lambda: any(c.pins for c in incident_channels(emulator)))

    again = await emulator.deliver_raw(first.request_body, first.request_headers["Content-Type"], first.request_headers)
    await wait_for_private(emulator, people.alice, "is already open")

    assert again.status == 200
    assert len(incident_channels(emulator)) == 1
    assert await stored_incidents(bot) == 1


async def test_twenty_concurrent_opens_get_twenty_distinct_ids_and_channels(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    deliveries = await asyncio.gather(
        *(run(emulator, people.alice, people.general, f"open Outage number {n}") for n in range(20))
    )
    await emulator.wait_for(lambda: sum(1 for c in incident_channels(emulator) if c.pins) == 20, timeout=20)

    assert all(d.status == 200 for d in deliveries)
    numbers = sorted(int(c.name.split("-")[2]) for c in incident_channels(emulator))
    assert numbers == list(range(1, 21))
    assert await stored_incidents(bot) == 20


async def test_when_slack_refuses_to_create_the_channel_the_person_is_told_and_nothing_remains(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.fail_next("conversations.create", error="restricted_action")

    await run(emulator, people.alice, people.general, "open Payments failing")
    message = await wait_for_private(emulator, people.alice, "could not open")

    assert "create channels" in message
    assert incident_channels(emulator) == []
    assert await stored_incidents(bot) == 0
    async with bot.db.transaction() as store:
        trail = await store.audit_trail(emulator.team_id)
    assert [e.action for e in trail][-1] == "open_failed"


async def test_a_rate_limited_call_is_retried_after_retry_after_and_succeeds(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.rate_limit_next("chat.postMessage", retry_after=1)

    channel = await open_incident(emulator, people.alice, people.general, "Queue backlog")

    posts = emulator.calls_to("chat.postMessage")
    assert [p.http_status for p in posts[:2]] == [429, 200]
    assert channel.pins


async def test_the_incident_survives_in_the_database_with_its_channel(
    emulator: SlackEmulator, bot: IncidentBot, people: People, database_url: str
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Disk full")

    db = Database(database_url)
    try:
        async with db.transaction() as store:
            incident = await store.get_by_channel(emulator.team_id, channel.id)
            participants = await store.participants(incident.id) if incident else []
    finally:
        await db.dispose()

    assert incident is not None
    assert (incident.title, incident.opener_id, incident.commander_id) == ("Disk full", people.alice, people.alice)
    assert incident.card_ts == channel.pins[0]
    assert (people.alice, "commander") in participants

"""Data errors are not outages: a signed event that can never be stored is answered 2xx, recorded as dropped with
its reason, never retried forever, and never fails the others it arrived with. Characters a database refuses (NUL)
are stored safely."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from bot.app import IncidentBot
from bot.emulator import Channel, SlackEmulator
from tests.conftest import People

from .steps import incident_channels, open_incident, run, wait_for_private


def message_event(channel: Channel, user: str, ts: str, text: str = "looking at it") -> dict[str, Any]:
    return {"type": "message", "channel": channel.id, "user": user, "text": text, "ts": ts, "channel_type": "channel"}


async def stored_texts(bot: IncidentBot, emulator: SlackEmulator, channel: Channel) -> list[str]:
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    async with bot.db.timeline() as store:
        return [m.text for m in await store.messages(incident.id)]


async def test_a_message_with_a_nul_character_is_stored_with_a_replacement(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Binary logs")
    message = await emulator.post_message(people.alice, channel.id, "pasted: before\x00after", deliver=False)

    delivery = await emulator.deliver_message_event(channel.id, message.ts)

    assert delivery.status == 200
    assert "pasted: before\ufffdafter" in await stored_texts(bot, emulator, channel)


async def test_a_title_with_a_nul_character_opens_the_incident(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await run(emulator, people.alice, people.general, "open Payments\x00 down")

    await wait_for_private(emulator, people.alice, "Opened *INC-")
    [channel] = incident_channels(emulator)
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    assert incident.title == "Payments\ufffd down"


BAD = {
    "a ts that is not a number": {"ts": "abc"},
    "a ts longer than any Slack ts": {"ts": "1" * 40 + ".1"},
    "a thread_ts that is not a number": {"thread_ts": "yesterday"},
    "a user that is not an id": {"user": {"id": "U1"}},
    "text that is not a string": {"text": {"rich": True}},
}


@pytest.mark.parametrize("what", list(BAD))
async def test_a_malformed_signed_event_is_answered_200_and_recorded_as_dropped_every_time(
    what: str, emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Odd events")
    event = message_event(channel, people.alice, f"{time.time():.6f}") | BAD[what]

    first = await emulator.send_event(event, event_id="Ev0BAD00001")
    again = await emulator.send_event(event, event_id="Ev0BAD00001", retry_num=1)

    assert (first.status, again.status) == (200, 200)
    async with bot.db.timeline() as store:
        dropped = await store.dropped()
    assert [e for e, _ in dropped] == ["Ev0BAD00001", "Ev0BAD00001"]
    assert all(reason for _, reason in dropped)
    metrics = bot.metrics.render().decode()
    assert re.search(r"incident_bot_events_dropped_total\{reason=\"[^\"]+\"\} 2\.0", metrics)


async def test_malformed_events_among_valid_ones_do_not_fail_their_neighbours(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Busy channel")
    await emulator.wait_idle()
    base = time.time()
    valid = [message_event(channel, people.alice, f"{base + n / 1000:.6f}", f"line {n}") for n in range(300)]
    bad = [message_event(channel, people.alice, "abc", f"bad {n}") for n in range(5)]
    mixed = valid[:100] + bad[:2] + valid[100:200] + bad[2:] + valid[200:]

    deliveries = await asyncio.gather(*(emulator.send_event(e) for e in mixed))

    assert [d.status for d in deliveries] == [200] * len(mixed)
    texts = await stored_texts(bot, emulator, channel)
    assert sorted(t for t in texts if t.startswith("line ")) == sorted(f"line {n}" for n in range(300))
    async with bot.db.timeline() as store:
        assert len(await store.dropped()) == 5

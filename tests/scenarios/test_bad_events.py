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


TS = "1712345678.000100"


def edit(marker: object) -> dict[str, Any]:
    """A message_changed event whose new message carries `marker` as its `edited`."""
    return {
        "subtype": "message_changed",
        "message": {"type": "message", "user": "U0X", "text": "new", "ts": TS, "edited": marker},
        "previous_message": {"type": "message", "user": "U0X", "text": "old", "ts": TS},
    }


BAD: dict[str, dict[str, Any]] = {
    "a ts that is not a number": {"ts": "abc"},
    "a ts longer than any Slack ts": {"ts": "1" * 40 + ".1"},
    "a ts far in the future": {"ts": "999999999999.000001"},
    "a thread_ts that is not a number": {"thread_ts": "yesterday"},
    "a user that is not an id": {"user": {"id": "U1"}},
    "text that is not a string": {"text": {"rich": True}},
    "a bot profile that is not an object": {"bot_id": "B0OTHER", "bot_profile": "pagerbot"},
    "an edit time past the year 9999": {
        "subtype": "message_changed",
        "message": {
            "type": "message",
            "user": "U0X",
            "text": "new",
            "ts": "1712345678.000100",
            "edited": {"ts": "1e20"},
        },
        "previous_message": {"type": "message", "user": "U0X", "text": "old", "ts": "1712345678.000100"},
    },
    "an edit marker that is not an object": {
        "subtype": "message_changed",
        "message": {"type": "message", "user": "U0X", "text": "new", "ts": "1712345678.000100", "edited": "yes"},
        "previous_message": {"type": "message", "user": "U0X", "text": "old", "ts": "1712345678.000100"},
    },
    "a deletion time that is infinite": {
        "subtype": "message_deleted",
        "deleted_ts": "1712345678.000100",
        "event_ts": "inf",
    },
    "a key no database can store": {"ts": "abc", "\ud800x": "?"},
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


async def test_a_reaction_with_an_impossible_time_is_dropped_and_its_neighbours_stored(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Odd reactions")
    said = await emulator.post_message(people.alice, channel.id, "the pool is exhausted")
    await emulator.wait_idle()
    reaction = {
        "type": "reaction_added",
        "user": people.alice,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel.id, "ts": said.ts},
        "event_ts": "999999999999.000001",
    }
    good = [message_event(channel, people.alice, f"{time.time() + n / 1000:.6f}", f"ok {n}") for n in range(50)]

    deliveries = await asyncio.gather(emulator.send_event(reaction), *(emulator.send_event(e) for e in good))

    assert [d.status for d in deliveries] == [200] * 51
    assert sum(t.startswith("ok ") for t in await stored_texts(bot, emulator, channel)) == 50
    async with bot.db.timeline() as store:
        assert len(await store.dropped()) == 1

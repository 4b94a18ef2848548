"""The timeline writer on SQLite and PostgreSQL: once per message, in any order, under load."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.domain.incident import Incident
from bot.domain.timeline import Attachment, ChannelMessage, Marked, MessageDeleted, MessageEdited, Unmarked
from bot.storage import Database, TimelineWriter

CHANNEL = "C0INCIDENT"


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[TimelineWriter]:
    timeline_writer = TimelineWriter(db)
    yield timeline_writer
    await timeline_writer.close()


def message(incident: Incident, ts: str, text: str = "hello", **extra: object) -> ChannelMessage:
    return ChannelMessage(
        team_id="T1",
        incident_id=incident.id,
        channel_id=CHANNEL,
        ts=ts,
        text=text,
        user_id="U2",
        **extra,  # type: ignore[arg-type]
    )


def mark(incident: Incident, ts: str, user: str = "U2", reaction: str = "pushpin", kind: str = "key_event") -> Marked:
    return Marked(
        team_id="T1",
        incident_id=incident.id,
        channel_id=CHANNEL,
        ts=ts,
        reaction=reaction,
        kind=kind,
        user_id=user,
        at=datetime(2026, 11, 28, 14, 5, tzinfo=UTC),
    )


async def test_a_message_written_three_times_is_stored_once(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    for _ in range(3):
        await writer.write(message(incident, "1764338400.000100"))

    async with db.timeline() as store:
        assert await store.message_count(incident.id) == 1


async def test_an_edit_keeps_the_original_and_the_edited_text_and_time(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    await writer.write(message(incident, "1764338400.000100", "pool at 100%"))

    await writer.write(
        MessageEdited(
            message(incident, "1764338400.000100", "pool at 100% on db-2"), "pool at 100%", "1764338460.000200"
        )
    )

    async with db.timeline() as store:
        [entry] = await store.messages(incident.id)
    assert (entry.text, entry.original_text, entry.edited) == ("pool at 100% on db-2", "pool at 100%", True)


async def test_edits_arriving_out_of_order_leave_the_newest_text(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    ts = "1764338400.000100"
    await writer.write(message(incident, ts, "v1"))

    await writer.write(MessageEdited(message(incident, ts, "v3"), "v2", "1764338500.000000"))
    await writer.write(MessageEdited(message(incident, ts, "v2"), "v1", "1764338450.000000"))

    async with db.timeline() as store:
        [entry] = await store.messages(incident.id)
    assert (entry.text, entry.original_text) == ("v3", "v1")


async def test_an_edit_or_a_deletion_before_the_message_itself_still_gives_one_right_row(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    await writer.write(MessageEdited(message(incident, "1.000001", "edited"), "first", "2.000000"))
    await writer.write(MessageDeleted(message(incident, "3.000001", "gone soon"), "4.000000"))

    await writer.write(message(incident, "1.000001", "first"))
    await writer.write(message(incident, "3.000001", "gone soon"))

    async with db.timeline() as store:
        entries = {e.ts: e for e in await store.messages(incident.id)}
    assert (entries["1.000001"].text, entries["1.000001"].original_text) == ("edited", "first")
    assert entries["3.000001"].deleted
    assert entries["3.000001"].text == "gone soon"


async def test_a_kind_stays_while_anyone_still_has_the_reaction_on_the_message(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    ts = "1764338400.000100"
    await writer.write(message(incident, ts))
    first = await writer.write(mark(incident, ts, "U2"))
    second = await writer.write(mark(incident, ts, "U3"))
    again = await writer.write(mark(incident, ts, "U3"))

    await writer.write(Unmarked(CHANNEL, ts, "pushpin", "U2"))
    async with db.timeline() as store:
        still = await store.marked_messages(incident.id)
    await writer.write(Unmarked(CHANNEL, ts, "pushpin", "U3"))
    async with db.timeline() as store:
        gone = await store.marked_messages(incident.id)

    assert (first, second, again) == (True, True, False)
    assert [e.kinds for e in still] == [("key_event",)]
    assert gone == []


async def test_several_kinds_on_one_message_are_all_kept(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    ts = "1764338400.000100"
    await writer.write(message(incident, ts))

    await writer.write(mark(incident, ts, reaction="pushpin", kind="key_event"))
    await writer.write(mark(incident, ts, reaction="mag", kind="finding"))

    async with db.timeline() as store:
        [entry] = await store.marked_messages(incident.id)
    assert entry.kinds == ("key_event", "finding")


async def test_a_mark_before_its_message_is_kept_and_joins_the_message_when_it_arrives(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    ts = "1764338400.000100"
    await writer.write(mark(incident, ts))
    async with db.timeline() as store:
        [waiting] = await store.marked_messages(incident.id)

    await writer.write(message(incident, ts, "root cause: pool size"))

    async with db.timeline() as store:
        [joined] = await store.marked_messages(incident.id)
    assert (waiting.text, joined.text, joined.kinds) == ("", "root cause: pool size", ("key_event",))


async def test_files_are_kept_with_name_type_and_permalink(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    shared = message(
        incident, "1.000001", "", subtype="file_share", files=(Attachment("graph.png", "png", "https://x/graph"),)
    )

    await writer.write(shared)

    async with db.timeline() as store:
        [entry] = await store.messages(incident.id)
    assert entry.files == (Attachment("graph.png", "png", "https://x/graph"),)


async def test_a_thousand_concurrent_writes_with_repeats_store_each_message_exactly_once(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    messages = [message(incident, f"1764338400.{n:06d}", f"line {n}") for n in range(1000)]
    deliveries = messages + random.Random(7).sample(messages, 200)
    random.Random(8).shuffle(deliveries)

    await asyncio.gather(*(writer.write(m) for m in deliveries))

    async with db.timeline() as store:
        stored = await store.messages(incident.id)
    assert len(stored) == 1000
    assert {e.ts for e in stored} == {m.ts for m in messages}


async def test_one_bad_capture_does_not_fail_the_others_committed_with_it(
    db: Database, writer: TimelineWriter, incident: Incident
) -> None:
    good = [message(incident, f"1.{n:06d}") for n in range(5)]
    orphan = ChannelMessage(team_id="T1", incident_id=999_999, channel_id="C0OTHER", ts="9.000001", text="x")

    results = await asyncio.gather(*(writer.write(m) for m in [*good, orphan]), return_exceptions=True)

    assert all(r is True for r in results[:5])
    assert isinstance(results[5], Exception)
    async with db.timeline() as store:
        assert await store.message_count(incident.id) == 5

"""Revisions on SQLite and PostgreSQL: every change to what was said in an incident can be read on from where a
reader stopped, in commit order, so that no replica ever misses one."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from bot.domain.incident import Incident
from bot.domain.timeline import ChannelMessage, MessageDeleted, MessageEdited
from bot.storage import Database, NewEntry, Said, Seen, TimelineWriter

CHANNEL = "C0INCIDENT"


def message(incident: Incident, ts: str, text: str) -> ChannelMessage:
    return ChannelMessage(team_id="T1", incident_id=incident.id, channel_id=CHANNEL, ts=ts, text=text, user_id="U2")


async def read_on(db: Database, incident: Incident, seen: Seen, limit: int = 5000) -> tuple[list[Said], Seen]:
    async with db.timeline() as store:
        return await store.said_since(incident.id, seen, limit)


async def test_every_change_to_a_message_and_every_note_is_read_once_in_the_order_it_was_made(
    db: Database, incident: Incident
) -> None:
    writer = TimelineWriter(db)
    try:
        await writer.write(message(incident, "1764338400.000100", "pool timeouts"))
        await writer.write(message(incident, "1764338401.000100", "rps 4x"))
        first, seen = await read_on(db, incident, Seen())
        edited = message(incident, "1764338400.000100", "pool timeouts on checkout")
        await writer.write(MessageEdited(message=edited, previous_text="pool timeouts", edited_ts="1764338402.000100"))
        await writer.write(
            MessageDeleted(message=message(incident, "1764338401.000100", "rps 4x"), deleted_ts="1764338403.000100")
        )
        async with db.timeline() as store:
            await store.add_entry(
                NewEntry(
                    team_id="T1",
                    incident_id=incident.id,
                    kind="note",
                    source="note",
                    text="paged the DBA",
                    added_by="U1",
                    at=datetime(2026, 11, 28, 14, 10, tzinfo=UTC),
                )
            )
    finally:
        await writer.close()

    then, later = await read_on(db, incident, seen)
    nothing, _ = await read_on(db, incident, later)

    assert [(s.key, s.text, s.gone) for s in first] == [
        (f"{CHANNEL}/1764338400.000100", "pool timeouts", False),
        (f"{CHANNEL}/1764338401.000100", "rps 4x", False),
    ]
    assert [(s.key, s.text, s.gone) for s in then] == [
        (f"{CHANNEL}/1764338400.000100", "pool timeouts on checkout", False),
        (f"{CHANNEL}/1764338401.000100", "rps 4x", True),
        (then[-1].key, "paged the DBA", False),
    ]
    assert then[-1].key.startswith("entry/")
    assert min(s.revision for s in then[:2]) > max(s.revision for s in first)
    assert nothing == []


async def test_a_reader_that_reads_on_while_several_replicas_write_misses_nothing(
    db: Database, incident: Incident
) -> None:
    # Arrange: three writers (as three replicas: each its own connections) write new messages and edits at once.
    writers = [TimelineWriter(db) for _ in range(3)]
    rng = random.Random(9)
    texts: dict[str, str] = {}

    async def replica(n: int, writer: TimelineWriter) -> None:
        for i in range(120):
            ts = f"17643384{n:02d}.{i:06d}"
            texts[f"{CHANNEL}/{ts}"] = f"replica {n} says {i}"
            await writer.write(message(incident, ts, f"replica {n} says {i}"))
            if rng.random() < 0.3:
                texts[f"{CHANNEL}/{ts}"] = f"replica {n} edited {i}"
                edited = message(incident, ts, f"replica {n} edited {i}")
                await writer.write(MessageEdited(message=edited, previous_text="", edited_ts=f"1764339999.{i:06d}"))

    read: dict[str, str] = {}
    seen = Seen()
    done = asyncio.Event()

    async def reader() -> None:
        nonlocal seen
        while True:
            finished = done.is_set()
            said, seen = await read_on(db, incident, seen, limit=25)
            for s in said:
                read[s.key] = s.text
            if finished and not said:
                return

    # Act: read on, a little at a time, while they write; then once more after they are done.
    reading = asyncio.create_task(reader())
    try:
        await asyncio.gather(*(replica(n, w) for n, w in enumerate(writers)))
    finally:
        done.set()
        for w in writers:
            await w.close()
    await reading

    # Assert: the reader holds exactly what the database holds, having only ever read on from where it stopped.
    assert read == texts

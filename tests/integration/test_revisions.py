"""Revisions on SQLite and PostgreSQL: every change to what was said in an incident can be read on from where a
reader stopped, in commit order, so that no replica ever misses one."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from sqlalchemy import text

from bot.domain.incident import Incident
from bot.domain.timeline import ChannelMessage, MessageDeleted, MessageEdited
from bot.storage import Database, NewEntry, NewIncident, Said, Seen, TimelineWriter
from bot.storage.writer import REVISION_LOCK

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


async def test_filling_in_a_permalink_changes_nothing_that_was_said_and_takes_no_revision(
    db: Database, incident: Incident
) -> None:
    writer = TimelineWriter(db)
    try:
        await writer.write(message(incident, "1764338400.000100", "pool timeouts"))
    finally:
        await writer.close()
    _, seen = await read_on(db, incident, Seen())

    async with db.timeline() as store:
        await store.set_permalink(CHANNEL, "1764338400.000100", "https://example.slack.com/archives/C0/p1")
    later, _ = await read_on(db, incident, seen)

    assert later == []


async def test_a_permalink_filled_in_while_a_writer_holds_the_incidents_revision_lock_never_deadlocks(
    postgres_url: str,
) -> None:
    # Arrange: a stored message, and a writer's transaction that has taken the incident's revision lock (as the
    # timeline writer does before it touches a row).
    db = Database(postgres_url)
    await db.upgrade()
    try:
        async with db.transaction() as store:
            incident = await store.add(
                NewIncident(
                    team_id="T1", title="API 500s", description="", severity="sev2", opener_id="U1",
                    opened_at=datetime(2026, 11, 28, 14, 0, tzinfo=UTC),
                )
            )  # fmt: skip
        writer = TimelineWriter(db)
        await writer.write(message(incident, "1764338400.000100", "pool timeouts"))
        await writer.close()
        holding = asyncio.Event()
        linked = asyncio.Event()

        async def writer_transaction() -> None:
            async with db.engine.begin() as conn:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key, :incident)"),
                    {"key": REVISION_LOCK, "incident": incident.id},
                )
                holding.set()
                await asyncio.wait_for(linked.wait(), timeout=5)  # the permalink's row lock comes first
                await conn.execute(
                    text("UPDATE messages SET text = 'pool timeouts on checkout' WHERE ts = '1764338400.000100'")
                )

        async def fill_in_the_permalink() -> None:
            await holding.wait()
            async with db.timeline() as store:
                await store.set_permalink(CHANNEL, "1764338400.000100", "https://example.slack.com/p1")
                linked.set()

        # Act
        await asyncio.wait_for(asyncio.gather(writer_transaction(), fill_in_the_permalink()), timeout=10)

        # Assert: both committed; the edit is what was said now.
        said, _ = await read_on(db, incident, Seen())
        assert [s.text for s in said] == ["pool timeouts on checkout"]
    finally:
        await db.dispose()


async def test_a_writer_stuck_inside_one_incidents_transaction_holds_up_no_other_incident(postgres_url: str) -> None:
    db = Database(postgres_url)
    await db.upgrade()
    writer = TimelineWriter(db)
    try:
        incidents = []
        for title in ("API 500s", "Search is slow"):
            async with db.transaction() as store:
                incidents.append(
                    await store.add(
                        NewIncident(
                            team_id="T1", title=title, description="", severity="sev2", opener_id="U1",
                            opened_at=datetime(2026, 11, 28, 14, 0, tzinfo=UTC),
                        )
                    )
                )  # fmt: skip
        stuck, other = incidents
        async with db.engine.begin() as conn:  # a replica frozen mid-write to the first incident
            await conn.execute(
                text(
                    "INSERT INTO messages (team_id, incident_id, channel_id, ts, text, is_integration, posted_at) "
                    "VALUES ('T1', :incident, 'C0STUCK', '1764338400.000001', 'pool timeouts', false, now())"
                ),
                {"incident": stuck.id},
            )

            await writer.write(message(other, "1764338400.000100", "search p99 is 4 s"))  # within the deadline

        said, _ = await read_on(db, other, Seen())
        assert [s.text for s in said] == ["search p99 is 4 s"]
    finally:
        await writer.close()
        await db.dispose()

"""The engine's evidence kept in step with the database (as the engine's process does it), on SQLite and PostgreSQL:
whatever is written, edited and deleted, read on by revision between rankings, it ranks as the stored
conversation ranked from scratch."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.domain.incident import Incident
from bot.domain.timeline import ChannelMessage, MessageDeleted, MessageEdited, ts_to_datetime
from bot.services.ranking import Evidence
from bot.storage import Database, NewEntry, Seen, TimelineWriter
from bot.suggestions.engine import Suggestion, SuggestionEngine
from bot.suggestions.parser import load_runbooks

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0INCIDENT"
SAID = [
    "checkout is throwing 500s",
    "Timeout waiting for connection from pool",
    "hard connection acquisition failure on user-service",
    "rps is 4x normal since the marketing email went out",
    "no sign of a traffic spike",
    "traffic spike?",
    "nope",
    "hundreds of sessions idle in transaction, a connection leak",
    "someone started a VACUUM FULL, sessions waiting with wait_event_type = Lock",
    "ruled out maintenance",
    "pods OOMKilled, exit code 137",
    "memory grows steadily over hours, a saw-tooth graph",
    "",
]


def summary(ranked: list[Suggestion]) -> list[tuple[str, str, str, float, tuple[str, ...], tuple[str, ...]]]:
    return [(s.runbook_title, s.error_name, s.root_cause_name, s.score, s.evidence, s.alternatives) for s in ranked]


async def stored_conversation(db: Database, incident: Incident) -> list[str]:
    """What the database holds now, in the order the engine reads it (messages and notes by time, then key)."""
    async with db.timeline() as store:
        said, _ = await store.said_since(incident.id, Seen(), limit=100_000)
    live = sorted((s.at.timestamp(), s.key, s.text) for s in said if not s.gone)
    return [text for _, _, text in live]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_evidence_read_on_by_revision_between_rankings_ranks_as_the_stored_conversation(
    db: Database, incident: Incident, seed: int
) -> None:
    runbooks, _ = load_runbooks(ROOT / "runbooks")
    engine = SuggestionEngine(runbooks)
    evidence = Evidence(engine, engine.session())
    rng = random.Random(seed)
    writer = TimelineWriter(db)
    posted: list[str] = []
    try:
        for step in range(40):
            # Arrange: a message, an edit, a deletion or a note, as Slack and responders make them.
            kind = rng.choice(["message", "message", "message", "edit", "delete", "note"])
            if kind == "message" or not posted:
                ts = f"17643{rng.randint(10000, 99999)}.{step:06d}"  # out of order on purpose
                posted.append(ts)
                await writer.write(_message(incident, ts, rng.choice(SAID)))
            elif kind == "edit":
                ts = rng.choice(posted)
                edited_ts = f"1764399999.{step:06d}"
                await writer.write(MessageEdited(_message(incident, ts, rng.choice(SAID)), "", edited_ts))
            elif kind == "delete":
                ts = rng.choice(posted)
                await writer.write(MessageDeleted(_message(incident, ts, ""), f"1764399999.{step:06d}"))
            else:
                async with db.timeline() as store:
                    await store.add_entry(_note(incident, rng.choice(SAID), step))

            # Act: read on from where the evidence stopped, as the engine's process does before each ranking.
            async with db.timeline() as store:
                said, evidence.seen = await store.said_since(incident.id, evidence.seen, limit=rng.randint(1, 5))
                while said:
                    evidence.apply(said)
                    said, evidence.seen = await store.said_since(incident.id, evidence.seen, limit=5)

            # Assert: the same ranking as the stored conversation ranked afresh.
            fresh = engine.session()
            fresh.extend(await stored_conversation(db, incident))
            assert summary(evidence.session.rank(top=10)) == summary(fresh.rank(top=10)), f"at step {step}"
    finally:
        await writer.close()


def _message(incident: Incident, ts: str, text: str) -> ChannelMessage:
    return ChannelMessage(team_id="T1", incident_id=incident.id, channel_id=CHANNEL, ts=ts, text=text, user_id="U2")


def _note(incident: Incident, text: str, step: int) -> NewEntry:
    return NewEntry(
        team_id="T1",
        incident_id=incident.id,
        kind="note",
        source="note",
        text=text or "noted",
        added_by="U1",
        at=ts_to_datetime(f"17643{50000 + step}.000000"),
        request_key=f"note-{step}",
    )


async def test_slacks_own_notices_stay_in_the_record_but_are_no_message_to_the_engine(
    db: Database, incident: Incident
) -> None:
    writer = TimelineWriter(db)
    try:
        await writer.write(_message(incident, "1764300001.000100", "Timeout waiting for connection from pool"))
        joined = _message(incident, "1764300002.000100", "<@U3> has joined the channel")
        await writer.write(
            ChannelMessage(
                team_id=joined.team_id,
                incident_id=joined.incident_id,
                channel_id=joined.channel_id,
                ts=joined.ts,
                text=joined.text,
                user_id="U3",
                subtype="channel_join",
            )
        )

        async with db.timeline() as store:
            said, _ = await store.said_since(incident.id, Seen(), limit=100)
            record = await store.messages(incident.id)
    finally:
        await writer.close()

    assert [s.text for s in said] == ["Timeout waiting for connection from pool", ""]
    assert [e.text for e in record] == ["Timeout waiting for connection from pool", "<@U3> has joined the channel"]

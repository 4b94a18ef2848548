"""What the engine's process keeps (bot/services/ranking.py), on SQLite and PostgreSQL: the evidence of the
incidents it ranked, within a bound, and the same ranking when it has to rebuild what it dropped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.timeline import ChannelMessage
from bot.services import ranking
from bot.services.ranking import _Engine
from bot.storage import Database, NewIncident, TimelineWriter

ROOT = Path(__file__).resolve().parents[2]
SPIKE = [
    "Timeout waiting for connection from pool",
    "hard connection acquisition failure, the pool is exhausted",
    "rps is 4x normal since the marketing email went out",
    "no sign of zombie connections, and no maintenance is running",
]


async def two_incidents(database_url: str) -> list[int]:
    db = Database(database_url)
    await db.upgrade()
    writer = TimelineWriter(db)
    ids = []
    try:
        for n in range(2):
            async with db.transaction() as store:
                incident = await store.add(
                    NewIncident(
                        team_id="T1",
                        title=f"Pool timeouts {n}",
                        description="",
                        severity="sev2",
                        opener_id="U1",
                        opened_at=datetime(2026, 11, 28, 14, 0, tzinfo=UTC),
                    )
                )
            ids.append(incident.id)
            for i, text in enumerate(SPIKE):
                ts = f"176433840{n}.{i:06d}"
                await writer.write(
                    ChannelMessage(
                        team_id="T1", incident_id=incident.id, channel_id=f"C{n}", ts=ts, text=text, user_id="U2"
                    )
                )
    finally:
        await writer.close()
        await db.dispose()
    return ids


def test_evidence_beyond_the_bound_is_dropped_and_rebuilt_alike_when_needed(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = asyncio.run(two_incidents(database_url))
    monkeypatch.setattr(ranking, "KEPT_MESSAGES", len(SPIKE) + 1)  # room for one incident's messages
    engine = _Engine(str(ROOT / "runbooks"), database_url)

    try:
        before = engine.rank(first, top=3)
        engine.rank(second, top=3)
        kept = list(engine.evidence)
        after = engine.rank(first, top=3)
    finally:
        engine.close()

    assert kept == [second]  # the first incident's evidence was dropped to make room
    assert [(s.root_cause_name, s.score, s.evidence) for s in after.suggestions] == [
        (s.root_cause_name, s.score, s.evidence) for s in before.suggestions
    ]
    assert before.suggestions[0].root_cause_name == "Traffic Spike"

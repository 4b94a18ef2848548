"""Fixtures of the storage tests: a migrated database (SQLite and PostgreSQL) and an incident in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.domain.incident import Incident
from bot.storage import Database, NewIncident


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
async def incident(db: Database) -> Incident:
    async with db.transaction() as store:
        return await store.add(
            NewIncident(
                team_id="T1",
                title="API 500s",
                description="",
                severity="sev2",
                opener_id="U1",
                opened_at=datetime(2026, 11, 28, 14, 0, tzinfo=UTC),
            )
        )

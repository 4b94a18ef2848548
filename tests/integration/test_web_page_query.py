"""The web view's incidents list query: newest first, in pages, filtered, with the same visibility rule as Slack's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.incident import Status
from bot.storage import Database, NewIncident
from bot.web.queries import Filter, incidents_page

TEAM = "T0TEAM"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


async def add(
    db: Database, title: str, *, minutes: int, severity: str = "sev2", private: bool = False, team: str = TEAM
) -> int:
    async with db.transaction() as store:
        incident = await store.add(
            NewIncident(
                team_id=team,
                title=title,
                description="",
                severity=severity,
                opener_id="U0ALICE",
                opened_at=START + timedelta(minutes=minutes),
                private=private,
            )
        )
        await store.update_fields(incident.id, incident.opened_at, channel_id=f"C{incident.id:05d}")
    return incident.id


ANY = Filter()


async def titles(db: Database, wanted: Filter = ANY, visible: frozenset[str] = frozenset()) -> list[str]:
    page = await incidents_page(db, TEAM, wanted, visible_private=visible)
    return [i.title for i in page.incidents]


async def test_pages_go_from_the_newest_to_the_oldest_without_gaps_or_repeats(db: Database) -> None:
    for n in range(7):
        await add(db, f"incident {n}", minutes=n)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await incidents_page(db, TEAM, Filter(), visible_private=(), cursor=cursor, limit=3)
        seen += [i.title for i in page.incidents]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == [f"incident {n}" for n in reversed(range(7))]
    assert pages == 3


async def test_the_filters_keep_only_incidents_of_that_status_and_severity(db: Database) -> None:
    await add(db, "minor open", minutes=1, severity="sev3")
    major = await add(db, "major resolved", minutes=2, severity="sev1")
    await add(db, "major open", minutes=3, severity="sev1")
    async with db.transaction() as store:
        incident = await store.get(major)
        assert incident is not None
        await store.save(incident.with_status(Status.RESOLVED, START + timedelta(hours=1)), START + timedelta(hours=1))

    assert await titles(db, Filter(severity="sev1")) == ["major open", "major resolved"]
    assert await titles(db, Filter(status="resolved")) == ["major resolved"]
    assert await titles(db, Filter(status="open", severity="sev3")) == ["minor open"]


async def test_a_private_incident_is_listed_only_to_members_of_its_channel_and_other_teams_never(
    db: Database,
) -> None:
    await add(db, "public", minutes=1)
    secret = await add(db, "secret", minutes=2, private=True)
    await add(db, "elsewhere", minutes=3, team="T0OTHER")

    assert await titles(db) == ["public"]
    assert await titles(db, visible=frozenset({"C99999"})) == ["public"]
    assert await titles(db, visible=frozenset({f"C{secret:05d}"})) == ["secret", "public"]

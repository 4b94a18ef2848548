"""The web view's queries (bot/storage/web.py) on SQLite and PostgreSQL: the list with its filters, full-text search,
keyset pages, who sees what, trends by month and runbook counts."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text, update

from bot.storage import Database
from bot.storage.tables import IncidentRow, MessageRow, SuggestionRow
from bot.storage.web import IncidentFilter, MonthFigures, Page, WebStore

EVERYONE: frozenset[str] = frozenset()  # no private channel
ALL = IncidentFilter()
_numbers: Iterator[int] = itertools.count(1)


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@dataclass
class Writer:
    db: Database

    async def incident(
        self,
        title: str,
        opened_at: datetime,
        *,
        team: str = "T1",
        status: str = "open",
        severity: str = "sev2",
        private: bool | None = False,
        acknowledged_after: timedelta | None = None,
        mitigated_after: timedelta | None = None,
        resolved_after: timedelta | None = None,
    ) -> int:
        number = next(_numbers)
        row = IncidentRow(
            team_id=team,
            public_id=f"INC-{opened_at.year}-{number:03d}",
            year=opened_at.year,
            number=number,
            title=title,
            description="",
            severity=severity,
            status=status,
            channel_id=f"C{number:04d}",
            channel_name=f"inc-{number}",
            opener_id="U1",
            opened_at=opened_at,
            acknowledged_at=opened_at + acknowledged_after if acknowledged_after else None,
            mitigated_at=opened_at + mitigated_after if mitigated_after else None,
            resolved_at=opened_at + resolved_after if resolved_after else None,
            updated_at=opened_at,
            private=private,
        )
        async with self.db.session() as session, session.begin():
            session.add(row)
        return row.id

    async def channel_of(self, incident_id: int) -> str:
        async with self.db.session() as session:
            return (await session.get_one(IncidentRow, incident_id)).channel_id or ""

    async def message(self, incident_id: int, text: str, *, deleted: bool = False) -> int:
        async with self.db.session() as session, session.begin():
            incident = await session.get_one(IncidentRow, incident_id)
            posted = incident.opened_at + timedelta(minutes=next(_numbers))
            row = MessageRow(
                team_id=incident.team_id,
                incident_id=incident_id,
                channel_id=incident.channel_id or "C0",
                ts=f"{posted.timestamp():.6f}",
                user_id="U2",
                text=text,
                posted_at=posted,
                deleted_at=posted + timedelta(seconds=5) if deleted else None,
            )
            session.add(row)
        return row.id

    async def suggestion(self, incident_id: int, runbook: str, root_cause: str, state: str, error: str = "E1") -> None:
        async with self.db.session() as session, session.begin():
            incident = await session.get_one(IncidentRow, incident_id)
            session.add(
                SuggestionRow(
                    team_id=incident.team_id,
                    incident_id=incident_id,
                    runbook=runbook,
                    runbook_path=f"{runbook.lower()}.md",
                    error=error,
                    root_cause=root_cause,
                    score=0.9,
                    citation="",
                    evidence="[]",
                    alternatives="[]",
                    state=state,
                    posted_at=incident.opened_at,
                    decided_by="U1" if state in ("accepted", "dismissed") else None,
                    decided_at=incident.opened_at + timedelta(minutes=30) if state != "posted" else None,
                )
            )


@pytest.fixture
def write(db: Database) -> Writer:
    return Writer(db)


async def listed(
    db: Database,
    filters: IncidentFilter = ALL,
    *,
    team: str = "T1",
    visible_private: frozenset[str] = EVERYONE,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    async with db.session() as session:
        return await WebStore(session).incidents(
            team, filters, visible_private=visible_private, cursor=cursor, limit=limit
        )


async def titles(
    db: Database,
    filters: IncidentFilter = ALL,
    *,
    team: str = "T1",
    visible_private: frozenset[str] = EVERYONE,
    limit: int = 50,
) -> list[str]:
    page = await listed(db, filters, team=team, visible_private=visible_private, limit=limit)
    return [item.title for item in page.items]


@pytest.fixture
async def five(write: Writer) -> Writer:
    """Five incidents of T1, newest first: E (active sev1), D (resolved sev2, root cause "Pool exhausted"), C
    (mitigated sev2), B (acknowledged sev3, root cause "Disk full"), A (open sev1, a dismissed "Disk full")."""
    a = await write.incident("A", at("2026-09-10"), status="open", severity="sev1")
    b = await write.incident("B", at("2026-10-01"), status="acknowledged", severity="sev3")
    await write.incident("C", at("2026-10-15"), status="mitigated", severity="sev2")
    d = await write.incident("D", at("2026-10-31", 23), status="resolved", severity="sev2")
    await write.incident("E", at("2026-11-02"), status="open", severity="sev1")
    await write.suggestion(b, "Storage", "Disk full", "accepted")
    await write.suggestion(d, "Database", "Pool exhausted", "accepted")
    await write.suggestion(a, "Storage", "Disk full", "dismissed")
    return write


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (IncidentFilter(), ["E", "D", "C", "B", "A"]),
        (IncidentFilter(status="open"), ["E", "A"]),
        (IncidentFilter(status="acknowledged"), ["B"]),
        (IncidentFilter(status="mitigated"), ["C"]),
        (IncidentFilter(status="resolved"), ["D"]),
        (IncidentFilter(status="active"), ["E", "C", "B", "A"]),
        (IncidentFilter(severity="sev2"), ["D", "C"]),
        (IncidentFilter(opened_from=date(2026, 10, 1)), ["E", "D", "C", "B"]),
        (IncidentFilter(opened_to=date(2026, 10, 31)), ["D", "C", "B", "A"]),
        (IncidentFilter(opened_from=date(2026, 10, 15), opened_to=date(2026, 10, 15)), ["C"]),
        (IncidentFilter(root_cause="Disk full"), ["B"]),
        (IncidentFilter(root_cause="Pool exhausted"), ["D"]),
    ],
    ids=lambda v: repr(v) if isinstance(v, IncidentFilter) else None,
)
async def test_each_filter_alone_lists_the_incidents_it_names_newest_first(
    db: Database, five: Writer, filters: IncidentFilter, expected: list[str]
) -> None:
    page = await listed(db, filters)

    assert [item.title for item in page.items] == expected
    assert page.total == len(expected)
    assert page.next_cursor is None


async def test_filters_combine_as_and(db: Database, five: Writer) -> None:
    assert await titles(db, IncidentFilter(status="active", severity="sev2")) == ["C"]
    assert await titles(db, IncidentFilter(severity="sev1", opened_from=date(2026, 11, 1))) == ["E"]
    assert await titles(db, IncidentFilter(status="active", root_cause="Pool exhausted")) == []
    assert await titles(db, IncidentFilter(status="active", root_cause="Disk full", severity="sev3")) == ["B"]


async def test_a_summary_carries_the_accepted_root_cause_and_not_a_dismissed_one(db: Database, five: Writer) -> None:
    page = await listed(db)

    causes = {item.title: item.root_cause for item in page.items}
    assert causes == {"A": None, "B": "Disk full", "C": None, "D": "Pool exhausted", "E": None}


async def test_the_root_cause_choices_are_the_accepted_ones_of_the_workspace(
    db: Database, five: Writer, write: Writer
) -> None:
    other = await write.incident("elsewhere", at("2026-10-02"), team="T2")
    await write.suggestion(other, "Network", "DNS outage", "accepted")

    async with db.session() as session:
        names = await WebStore(session).root_cause_names("T1")

    assert names == ["Disk full", "Pool exhausted"]


async def test_a_word_said_in_a_message_finds_its_incident_with_a_snippet(db: Database, write: Writer) -> None:
    found = await write.incident("Checkout errors", at("2026-10-01"))
    other = await write.incident("Login slow", at("2026-10-02"))
    await write.message(found, "the pgbouncer pool is saturated on db-7, restarting it")
    await write.message(other, "looking at the login service dashboards")

    page = await listed(db, IncidentFilter(text="PgBouncer"))

    assert [item.title for item in page.items] == ["Checkout errors"]
    assert page.total == 1
    assert "pgbouncer" in (page.items[0].matched or "")


async def test_a_word_of_a_title_finds_its_incident_even_with_no_messages(db: Database, write: Writer) -> None:
    await write.incident("Payments gateway timeouts", at("2026-10-01"))
    await write.incident("Login slow", at("2026-10-02"))

    page = await listed(db, IncidentFilter(text="gateway"))

    assert [item.title for item in page.items] == ["Payments gateway timeouts"]
    assert page.items[0].matched == "Payments gateway timeouts"


async def test_every_word_must_be_there_and_an_incident_is_listed_once(db: Database, write: Writer) -> None:
    both = await write.incident("Queue backlog", at("2026-10-01"))
    one = await write.incident("Queue stuck", at("2026-10-02"))
    await write.message(both, "kafka consumer lag growing")
    await write.message(both, "kafka consumer restarted, lag shrinking")
    await write.message(one, "kafka brokers fine")

    page = await listed(db, IncidentFilter(text="kafka lag"))

    assert [item.title for item in page.items] == ["Queue backlog"]
    assert page.total == 1


async def test_a_deleted_message_is_not_found(db: Database, write: Writer) -> None:
    incident = await write.incident("Checkout errors", at("2026-10-01"))
    await write.message(incident, "oops wrong channel: hunter2 password", deleted=True)

    assert await titles(db, IncidentFilter(text="hunter2")) == []


async def test_an_edited_message_is_found_by_its_new_words_not_its_old_ones(db: Database, write: Writer) -> None:
    incident = await write.incident("Checkout errors", at("2026-10-01"))
    message = await write.message(incident, "probably the cache")
    async with db.session() as session, session.begin():
        await session.execute(update(MessageRow).where(MessageRow.id == message).values(text="probably the queue"))

    assert await titles(db, IncidentFilter(text="queue")) == ["Checkout errors"]
    assert await titles(db, IncidentFilter(text="cache")) == []


async def test_search_combines_with_the_filters(db: Database, write: Writer) -> None:
    resolved = await write.incident("Old outage", at("2026-10-01"), status="resolved")
    active = await write.incident("New outage", at("2026-10-02"))
    for incident in (resolved, active):
        await write.message(incident, "redis evictions spiking")

    assert await titles(db, IncidentFilter(text="redis", status="active")) == ["New outage"]
    assert await titles(db, IncidentFilter(text="redis")) == ["New outage", "Old outage"]


@pytest.mark.parametrize(
    "query",
    ['"disk_full" OR 100%', "disk* -full", "disk AND NOT full", "full:disk", "(disk) ^full", "disk' OR '1'='1"],
)
async def test_quotes_operators_and_wildcards_in_a_search_are_plain_words(
    db: Database, write: Writer, query: str
) -> None:
    every_word = await write.incident("Storage", at("2026-10-01"))
    some_words = await write.incident("Nothing to see", at("2026-10-02"))
    await write.message(every_word, "disk full: or and not 100 1")
    await write.message(some_words, "disk only")  # what `disk OR ...` or `disk NOT full` would find

    page = await listed(db, IncidentFilter(text=query))

    assert [item.title for item in page.items] == ["Storage"]


@pytest.mark.parametrize("query", ["%", "_", "*", '"', "%%_*", "'"])
async def test_a_search_with_no_words_finds_nothing_rather_than_everything(
    db: Database, write: Writer, query: str
) -> None:
    incident = await write.incident("100% full", at("2026-10-01"))
    await write.message(incident, "disk_full * % _")

    page = await listed(db, IncidentFilter(text=query))

    assert (page.items, page.total) == ((), 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # FTS5 is SQLite's
async def test_without_fts5_sqlite_searches_with_like_and_says_so(
    db: Database, write: Writer, caplog: pytest.LogCaptureFixture
) -> None:
    incident = await write.incident("Checkout errors", at("2026-10-01"))
    await write.message(incident, "pgbouncer pool at 100% again")
    await write.message(incident, "hunter2", deleted=True)
    async with db.session() as session, session.begin():  # as migration 0017 leaves a SQLite without FTS5
        for search in ("messages_search", "incidents_search"):
            for suffix in ("ai", "ad", "au"):
                await session.execute(text(f"DROP TRIGGER {search}_{suffix}"))
            await session.execute(text(f"DROP TABLE {search}"))

    with caplog.at_level(logging.WARNING, logger="bot.storage.web"):
        found = await listed(db, IncidentFilter(text="PgBouncer 100%"))
        by_title = await titles(db, IncidentFilter(text="checkout"))
        deleted = await titles(db, IncidentFilter(text="hunter2"))
        wildcard = await titles(db, IncidentFilter(text="_"))

    assert [item.title for item in found.items] == ["Checkout errors"]
    assert "pgbouncer" in (found.items[0].matched or "")
    assert (by_title, deleted, wildcard) == (["Checkout errors"], [], [])
    assert any("searching with LIKE" in r.getMessage() for r in caplog.records)


async def test_the_cursor_walks_every_incident_once_newest_first(db: Database, write: Writer) -> None:
    same_moment = at("2026-10-05")
    for n in range(7):
        await write.incident(f"I{n}", same_moment if n in (2, 3, 4) else at("2026-10-01") + timedelta(days=n))
    everything = await titles(db, limit=100)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await listed(db, cursor=cursor, limit=3)
        seen += [item.title for item in page.items]
        pages += 1
        assert page.total == 7
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == everything
    assert sorted(seen) == [f"I{n}" for n in range(7)]
    assert pages == 3


async def test_the_cursor_also_pages_a_search(db: Database, write: Writer) -> None:
    for n in range(5):
        incident = await write.incident(f"I{n}", at("2026-10-01") + timedelta(days=n))
        await write.message(incident, "latency everywhere")

    first = await listed(db, IncidentFilter(text="latency"), limit=2)
    second = await listed(db, IncidentFilter(text="latency"), cursor=first.next_cursor, limit=2)
    third = await listed(db, IncidentFilter(text="latency"), cursor=second.next_cursor, limit=2)

    assert [i.title for p in (first, second, third) for i in p.items] == ["I4", "I3", "I2", "I1", "I0"]
    assert third.next_cursor is None


async def test_a_private_incident_is_seen_only_by_members_of_its_channel(db: Database, write: Writer) -> None:
    await write.incident("Public", at("2026-10-01"))
    secret = await write.incident("Secret", at("2026-10-02"), private=True)
    unknown = await write.incident("Unknown", at("2026-10-03"), private=None)
    await write.message(secret, "layoffs plan leaked")
    channels = {"Secret": await write.channel_of(secret), "Unknown": await write.channel_of(unknown)}

    assert await titles(db) == ["Public"]
    assert await titles(db, IncidentFilter(text="layoffs")) == []
    assert await titles(db, visible_private=frozenset({channels["Secret"]})) == ["Secret", "Public"]
    assert await titles(db, IncidentFilter(text="layoffs"), visible_private=frozenset({channels["Secret"]})) == [
        "Secret"
    ]
    visible = await listed(db, visible_private=frozenset(channels.values()))
    assert [(i.title, i.private) for i in visible.items] == [("Unknown", True), ("Secret", True), ("Public", False)]
    assert visible.total == 3


async def test_another_workspaces_incidents_are_never_seen(db: Database, write: Writer) -> None:
    theirs = await write.incident("Their outage", at("2026-10-01"), team="T2")
    await write.message(theirs, "their secret words")
    their_channel = await write.channel_of(theirs)

    assert await titles(db, visible_private=frozenset({their_channel})) == []
    assert await titles(db, IncidentFilter(text="secret"), visible_private=frozenset({their_channel})) == []
    assert await titles(db, team="T2") == ["Their outage"]


async def test_trends_give_every_month_with_medians_and_p90_of_known_durations(db: Database, write: Writer) -> None:
    minutes = [10, 20, 30, 40, 50]  # time to acknowledge, in minutes, of five incidents in October
    for n, m in enumerate(minutes):
        await write.incident(
            f"Oct {n}",
            at("2026-10-03") + timedelta(days=n),
            severity="sev1" if n == 0 else "sev2",
            status="resolved",
            acknowledged_after=timedelta(minutes=m),
            mitigated_after=timedelta(minutes=2 * m),
            resolved_after=timedelta(hours=m),
        )
    await write.incident("Dec", at("2026-12-31", 23), severity="sev3", acknowledged_after=timedelta(seconds=90))
    await write.incident("Too early", at("2026-08-31", 23), acknowledged_after=timedelta(seconds=1))
    await write.incident("Hidden", at("2026-10-09"), private=True, acknowledged_after=timedelta(days=9))
    await write.incident("Theirs", at("2026-10-09"), team="T2", acknowledged_after=timedelta(days=9))

    async with db.session() as session:
        trends = await WebStore(session).trends(
            "T1", visible_private=EVERYONE, since=date(2026, 9, 1), until=date(2026, 12, 31)
        )

    assert [m.month for m in trends.months] == ["2026-09", "2026-10", "2026-11", "2026-12"]
    september, october, november, december = trends.months
    assert september == MonthFigures("2026-09", 0, None, None, None, None, None, None)
    assert november == MonthFigures("2026-11", 0, None, None, None, None, None, None)
    assert october.incidents == 5
    assert october.ack_median_s == pytest.approx(30 * 60)
    assert october.ack_p90_s == pytest.approx(46 * 60)  # between 40 and 50 minutes, 0.6 of the way
    assert october.mitigate_median_s == pytest.approx(60 * 60)
    assert october.mitigate_p90_s == pytest.approx(92 * 60)
    assert october.resolve_median_s == pytest.approx(30 * 3600)
    assert october.resolve_p90_s == pytest.approx(46 * 3600)
    assert (december.incidents, december.ack_median_s, december.ack_p90_s) == (1, pytest.approx(90), pytest.approx(90))
    assert (december.mitigate_median_s, december.resolve_median_s) == (None, None)
    assert trends.by_severity == (("sev2", 4), ("sev1", 1), ("sev3", 1))


async def test_trends_count_accepted_root_causes_and_their_runbooks_most_frequent_first(
    db: Database, write: Writer
) -> None:
    incidents = [await write.incident(f"I{n}", at("2026-10-01") + timedelta(days=n)) for n in range(5)]
    for incident in incidents[:3]:
        await write.suggestion(incident, "Storage", "Disk full", "accepted")
    await write.suggestion(incidents[3], "Database", "Pool exhausted", "accepted")
    await write.suggestion(incidents[4], "Storage", "Inodes exhausted", "accepted")
    await write.suggestion(incidents[4], "Database", "Pool exhausted", "dismissed")
    before = await write.incident("Before", at("2026-01-01"))
    await write.suggestion(before, "Database", "Pool exhausted", "accepted")

    async with db.session() as session:
        trends = await WebStore(session).trends(
            "T1", visible_private=EVERYONE, since=date(2026, 10, 1), until=date(2026, 10, 31)
        )

    assert trends.root_causes == (("Disk full", 3), ("Inodes exhausted", 1), ("Pool exhausted", 1))
    assert trends.runbooks == (("Storage", 4), ("Database", 1))


async def test_runbook_stats_count_incidents_where_each_root_cause_was_shown_accepted_and_dismissed(
    db: Database, write: Writer
) -> None:
    incidents = [await write.incident(f"I{n}", at("2026-10-01") + timedelta(days=n)) for n in range(4)]
    await write.suggestion(incidents[0], "Storage", "Disk full", "accepted")
    await write.suggestion(incidents[1], "Storage", "Disk full", "dismissed")
    await write.suggestion(incidents[2], "Storage", "Disk full", "superseded")
    await write.suggestion(incidents[2], "Storage", "Inodes exhausted", "accepted")
    await write.suggestion(incidents[3], "Storage", "Disk full", "posted")
    theirs = await write.incident("Theirs", at("2026-10-01"), team="T2")
    await write.suggestion(theirs, "Storage", "Disk full", "accepted")

    async with db.session() as session:
        stats = await WebStore(session).runbook_stats("T1")

    assert [(s.runbook, s.error, s.root_cause, s.suggested, s.accepted, s.dismissed) for s in stats] == [
        ("Storage", "E1", "Disk full", 4, 1, 1),
        ("Storage", "E1", "Inodes exhausted", 1, 1, 0),
    ]


async def test_the_web_store_is_one_of_the_stores_of_a_unit(db: Database, five: Writer) -> None:
    async with db.unit() as stores:
        page = await stores.web.incidents("T1", IncidentFilter(status="resolved"), visible_private=EVERYONE)

    assert [item.title for item in page.items] == ["D"]


async def test_a_search_counts_up_to_its_cap_and_then_says_there_are_more(db: Database, write: Writer) -> None:
    for n in range(4):
        incident = await write.incident(f"I{n}", at("2026-10-01") + timedelta(days=n))
        await write.message(incident, "latency everywhere")
        await write.message(incident, "latency again")
    await write.incident("Quiet", at("2026-10-09"))

    async def counted(walk_from: int, filters: IncidentFilter, cap: int) -> tuple[int, bool, int]:
        async with db.session() as session:
            store = WebStore(session, walk_from_messages=walk_from)
            page = await store.incidents("T1", filters, visible_private=EVERYONE, count_cap=cap)
        return page.total, page.total_capped, len(page.items)

    for walk_from in (0, 10**9):  # PostgreSQL: incident by incident, and reading every match
        assert await counted(walk_from, IncidentFilter(text="latency"), 3) == (3, True, 4)
        assert await counted(walk_from, IncidentFilter(text="latency"), 4) == (4, False, 4)
        assert await counted(walk_from, IncidentFilter(text="latency", opened_to=date(2026, 10, 2)), 1) == (1, True, 2)
        assert await counted(walk_from, ALL, 3) == (5, False, 5)


async def test_searching_incident_by_incident_finds_what_reading_every_match_finds(db: Database, write: Writer) -> None:
    """PostgreSQL searches a common word incident by incident, newest first (SQLite always reads the matches)."""
    hidden = await write.incident("Hidden", at("2026-10-06"), private=True)
    resolved = await write.incident("Old outage", at("2026-10-01"), status="resolved")
    await write.incident("Redis titled", at("2026-10-02"))
    edited = await write.incident("Edited", at("2026-10-03"))
    deleted = await write.incident("Deleted", at("2026-10-04"))
    newest = await write.incident("Newest", at("2026-10-05"))
    await write.incident("Theirs redis", at("2026-10-07"), team="T2")
    for incident in (hidden, resolved, newest):
        await write.message(incident, "redis evictions spiking")
    await write.message(deleted, "redis is fine", deleted=True)
    message = await write.message(edited, "probably the cache")
    async with db.session() as session, session.begin():
        await session.execute(update(MessageRow).where(MessageRow.id == message).values(text="probably redis"))

    async def searched(walk_from: int, filters: IncidentFilter, cursor: str | None = None) -> Page:
        async with db.session() as session:
            store = WebStore(session, walk_from_messages=walk_from)
            return await store.incidents("T1", filters, visible_private=EVERYONE, cursor=cursor, limit=2)

    for walk_from in (0, 10**9):
        first = await searched(walk_from, IncidentFilter(text="redis"))
        second = await searched(walk_from, IncidentFilter(text="redis"), first.next_cursor)
        active = await searched(walk_from, IncidentFilter(text="redis", status="active"))

        assert [i.title for p in (first, second) for i in p.items] == ["Newest", "Edited", "Redis titled", "Old outage"]
        assert (first.total, second.next_cursor) == (4, None)
        assert [i.title for i in active.items] == ["Newest", "Edited"]
        assert "redis" in (first.items[1].matched or "")

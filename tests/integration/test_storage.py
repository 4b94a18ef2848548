"""Storage on SQLite and PostgreSQL: the migrated schema, incident numbers, idempotency keys, the audit."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from bot.domain.incident import Status
from bot.storage import AuditEntry, Database, NewIncident, SuggestionRecord
from bot.storage.tables import Base, described_by_models

OPENED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def new(team: str = "T1", key: str | None = None, at: datetime = OPENED) -> NewIncident:
    return NewIncident(
        team_id=team,
        title="API 500s",
        description="",
        severity="sev2",
        opener_id="U1",
        opened_at=at,
        request_key=key,
    )


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"include_name": described_by_models})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)

    assert differences == []


async def test_upgrading_twice_changes_nothing(db: Database) -> None:
    await db.upgrade()

    async with db.transaction() as store:
        incident = await store.add(new())
    assert incident.public_id == "INC-2026-001"


async def test_a_suggestion_from_a_runbook_with_long_names_is_stored_whole(db: Database) -> None:
    async with db.transaction() as store:
        incident = await store.add(new("T1"))
    runbook, error, cause = "Payments " * 40, "CardAuthorizationDeclinedAtTheIssuer" * 10, "Issuer outage " * 30
    record = SuggestionRecord(
        id=0,
        team_id="T1",
        incident_id=incident.id,
        runbook=runbook,
        runbook_path="payments.md",
        error=error,
        root_cause=cause,
        score=0.9,
        citation="",
        evidence=(),
        alternatives=(),
        remediation="",
        state="posted",
        posted_at=OPENED,
    )

    async with db.unit() as stores:
        shown = await stores.suggestions.show(record)
    async with db.unit() as stores:
        [stored] = await stores.suggestions.for_incident(incident.id)

    assert shown is not None
    assert min(len(runbook), len(error), len(cause)) > 255
    assert (stored.runbook, stored.error, stored.root_cause) == (runbook, error, cause)


async def test_incident_ids_count_up_per_workspace_and_year(db: Database) -> None:
    async with db.transaction() as store:
        first = await store.add(new("T1"))
        second = await store.add(new("T1"))
        other_team = await store.add(new("T2"))
        next_year = await store.add(new("T1", at=OPENED.replace(year=2027)))

    assert [first.public_id, second.public_id, other_team.public_id, next_year.public_id] == [
        "INC-2026-001",
        "INC-2026-002",
        "INC-2026-001",
        "INC-2027-001",
    ]


async def test_twenty_concurrent_transactions_get_twenty_distinct_numbers(db: Database) -> None:
    async def open_one() -> str:
        async with db.transaction() as store:
            incident = await store.add(new())
            await asyncio.sleep(0)  # let the others interleave while this transaction is open
            return incident.public_id

    ids = await asyncio.gather(*(open_one() for _ in range(20)))

    assert sorted(ids) == [f"INC-2026-{n:03d}" for n in range(1, 21)]


async def test_a_number_is_not_handed_out_again_after_its_incident_is_removed(db: Database) -> None:
    async with db.transaction() as store:
        doomed = await store.add(new())
    async with db.transaction() as store:
        await store.remove(doomed.id)

    async with db.transaction() as store:
        after = await store.add(new())

    assert (doomed.public_id, after.public_id) == ("INC-2026-001", "INC-2026-002")


async def test_the_same_request_key_cannot_open_two_incidents(db: Database) -> None:
    async with db.transaction() as store:
        await store.add(new(key="command:123.456"))

    with pytest.raises(IntegrityError):
        async with db.transaction() as store:
            await store.add(new(key="command:123.456"))

    async with db.transaction() as store:
        assert await store.count() == 1
        assert (await store.get_by_request_key("T1", "command:123.456")) is not None


async def test_a_saved_change_is_read_back_with_utc_times(db: Database) -> None:
    async with db.transaction() as store:
        incident = await store.add(new())
    resolved = dataclasses.replace(incident, channel_id="C1", card_ts="1.2").with_status(Status.RESOLVED, OPENED)

    async with db.transaction() as store:
        await store.save(resolved, OPENED)
    async with db.transaction() as store:
        again = await store.get_by_channel("T1", "C1")

    assert again is not None
    assert again.status is Status.RESOLVED
    assert again.resolved_at == OPENED
    assert again.resolved_at is not None
    assert again.resolved_at.tzinfo is not None


async def test_only_unresolved_incidents_with_a_channel_are_listed_as_active(db: Database) -> None:
    async with db.transaction() as store:
        without_channel = await store.add(new())
        active = await store.save(dataclasses.replace(await store.add(new()), channel_id="C2"), OPENED)
        done = await store.add(new())
        await store.save(dataclasses.replace(done, channel_id="C3").with_status(Status.RESOLVED, OPENED), OPENED)

    async with db.transaction() as store:
        listed = await store.list_active("T1")

    assert [i.id for i in listed] == [active.id]
    assert without_channel.id not in [i.id for i in listed]


async def test_the_audit_outlives_a_removed_incident(db: Database) -> None:
    async with db.transaction() as store:
        incident = await store.add(new())
        await store.audit("T1", incident.id, AuditEntry("U1", "opened", OPENED, public_id=incident.public_id))
    async with db.transaction() as store:
        await store.remove(incident.id)

    async with db.transaction() as store:
        trail = await store.audit_trail("T1")

    assert [(e.action, e.public_id) for e in trail] == [("opened", "INC-2026-001")]


async def test_a_participant_is_recorded_once(db: Database) -> None:
    async with db.transaction() as store:
        incident = await store.add(new())
        first = await store.add_participant(incident.id, "U2", "responder", OPENED)
        second = await store.add_participant(incident.id, "U2", "commander", OPENED)
        people = await store.participants(incident.id)

    assert (first, second) == (True, False)
    assert people == [("U2", "commander")]


async def test_a_role_has_one_holder_and_a_cleared_role_none(db: Database) -> None:
    async with db.transaction() as store:
        incident = await store.add(new())
        await store.set_role(incident.id, "comms", "U2", "U1", OPENED)
        await store.set_role(incident.id, "scribe", "U3", "U1", OPENED)
        await store.set_role(incident.id, "comms", "U4", "U1", OPENED)
    async with db.transaction() as store:
        handed_over = await store.role_holders(incident.id)
        await store.set_role(incident.id, "scribe", None, "U1", OPENED)
    async with db.transaction() as store:
        cleared = await store.role_holders(incident.id)

    assert handed_over == {"scribe": "U3", "comms": "U4"}
    assert cleared == {"comms": "U4"}


async def test_a_status_update_is_stored_once_per_request_key_and_the_newest_time_is_known(db: Database) -> None:
    async with db.transaction() as store:
        incident = await store.add(new())
        never = await store.last_update_at(incident.id)
        first = await store.add_update(incident, "U2", "Investigating", OPENED, request_key="command:1")
        again = await store.add_update(incident, "U2", "Investigating", OPENED, request_key="command:1")
        later = OPENED.replace(hour=9)
        second = await store.add_update(incident, "U3", "Mitigated", later, impact="EU", request_key="view:V1")
    async with db.transaction() as store:
        updates = await store.updates(incident.id)
        newest = await store.last_update_at(incident.id)

    assert never is None
    assert first is not None
    assert second is not None
    assert again is None
    assert [(u.author_id, u.text, u.status, u.severity, u.impact) for u in updates] == [
        ("U2", "Investigating", "open", "sev2", None),
        ("U3", "Mitigated", "open", "sev2", "EU"),
    ]
    assert newest == later


async def test_fingerprints_are_kept_per_workspace_replaced_on_a_new_resolution_and_only_resolved_ones_compared(
    db: Database,
) -> None:
    # Arrange: two resolved incidents of T1, one of T2.
    later = OPENED.replace(hour=9)
    async with db.transaction() as store:
        one = await store.save((await store.add(new("T1"))).with_status(Status.RESOLVED, later), later)
        two = await store.save((await store.add(new("T1"))).with_status(Status.RESOLVED, later), later)
        other = await store.save((await store.add(new("T2"))).with_status(Status.RESOLVED, later), later)
    async with db.unit() as stores:
        await stores.fingerprints.put(one.id, "T1", {"x509": 3}, 14, later)
        await stores.fingerprints.put(two.id, "T1", {"disk": 2}, 9, later)
        await stores.fingerprints.put(other.id, "T2", {"x509": 1}, 5, later)
        before = await stores.fingerprints.version("T1")

    # Act: the first is resolved again with more said; the second is reopened.
    async with db.unit() as stores:
        await stores.fingerprints.put(one.id, "T1", {"x509": 4, "unknown+author": 1}, 16, later.replace(hour=10))
        await stores.incidents.save(two.with_status(Status.OPEN, later), later)

    async with db.unit() as stores:
        compared = await stores.fingerprints.resolved("T1")
        after = await stores.fingerprints.version("T1")
    assert compared == {one.id: {"x509": 4, "unknown+author": 1}}
    assert after != before

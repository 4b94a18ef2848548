"""The incident lifecycle, without Slack or SQL."""

from datetime import UTC, datetime

import pytest

from bot.domain.incident import Incident, InvalidTransition, Status, format_public_id

T0 = datetime(2026, 11, 28, 14, 30, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def incident(status: Status = Status.OPEN) -> Incident:
    return Incident(
        id=1,
        team_id="T1",
        public_id="INC-2026-001",
        year=2026,
        number=1,
        title="API 500s",
        description="",
        severity="sev2",
        status=status,
        opener_id="U1",
        opened_at=T0,
    )


def test_public_ids_are_zero_padded_to_three_digits_and_grow_beyond() -> None:
    assert format_public_id(2026, 1) == "INC-2026-001"
    assert format_public_id(2026, 1234) == "INC-2026-1234"


def test_resolving_records_when_it_happened() -> None:
    resolved = incident().with_status(Status.RESOLVED, T1)

    assert resolved.status is Status.RESOLVED
    assert resolved.resolved_at == T1
    assert resolved.acknowledged_at is None


def test_acknowledging_then_mitigating_keeps_both_times() -> None:
    done = incident().with_status(Status.ACKNOWLEDGED, T0).with_status(Status.MITIGATED, T1)

    assert (done.acknowledged_at, done.mitigated_at) == (T0, T1)


def test_a_resolved_incident_cannot_be_acknowledged() -> None:
    with pytest.raises(InvalidTransition, match="is resolved and cannot become acknowledged"):
        incident(Status.RESOLVED).with_status(Status.ACKNOWLEDGED, T1)


def test_resolving_twice_is_refused_so_a_double_click_changes_nothing() -> None:
    with pytest.raises(InvalidTransition, match="already resolved"):
        incident(Status.RESOLVED).with_status(Status.RESOLVED, T1)


def test_changes_list_each_differing_field_with_old_and_new_value() -> None:
    before = incident()

    after = before.with_status(Status.MITIGATED, T1)

    assert after.changes_from(before) == {
        "status": (Status.OPEN, Status.MITIGATED),
        "mitigated_at": (None, T1),
    }


def test_reopening_a_resolved_incident_makes_it_open_and_unresolved_keeping_its_earlier_milestones() -> None:
    resolved = incident().with_status(Status.ACKNOWLEDGED, T0).with_status(Status.RESOLVED, T1)

    reopened = resolved.with_status(Status.OPEN, T1)

    assert reopened.status is Status.OPEN
    assert reopened.resolved_at is None
    assert reopened.acknowledged_at == T0


def test_an_acknowledged_incident_cannot_be_reopened() -> None:
    with pytest.raises(InvalidTransition, match="is acknowledged and cannot become open"):
        incident(Status.ACKNOWLEDGED).with_status(Status.OPEN, T1)

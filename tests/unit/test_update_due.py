"""When a status update is due (`update_due`): the severity's cadence, from the last update or the opening."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config, Severity
from bot.domain.incident import Incident, Status
from bot.services.updates import update_due

OPENED = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
CONFIG = Config(
    path=Path("app.yaml"),
    severities=(
        Severity("sev1", "SEV1", "Outage", update_every_minutes=30),
        Severity("sev3", "SEV3", "Minor"),
    ),
    default_severity="sev3",
)
INCIDENT = Incident(
    id=1,
    team_id="T1",
    public_id="INC-2026-001",
    year=2026,
    number=1,
    title="Checkout down",
    description="",
    severity="sev1",
    status=Status.OPEN,
    opener_id="U1",
    opened_at=OPENED,
)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_the_first_update_is_due_one_period_after_the_opening() -> None:
    assert update_due(INCIDENT, None, OPENED + minutes(5), CONFIG) == OPENED + minutes(30)


def test_each_update_starts_a_new_period() -> None:
    last = OPENED + minutes(20)

    assert update_due(INCIDENT, last, OPENED + minutes(25), CONFIG) == OPENED + minutes(50)


def test_exactly_at_the_due_time_the_update_is_due_then() -> None:
    assert update_due(INCIDENT, None, OPENED + minutes(30), CONFIG) == OPENED + minutes(30)


@pytest.mark.parametrize(
    ("now", "period_start"),
    [(31, 30), (59, 30), (60, 60), (61, 60), (95, 90), (24 * 60 + 1, 24 * 60)],
)
def test_while_overdue_it_is_the_start_of_the_current_overdue_period(now: int, period_start: int) -> None:
    """So a reminder job reminds once per period: the answer changes only when a new period starts."""
    assert update_due(INCIDENT, None, OPENED + minutes(now), CONFIG) == OPENED + minutes(period_start)


def test_a_severity_without_a_cadence_is_never_due() -> None:
    minor = dataclasses.replace(INCIDENT, severity="sev3")

    assert update_due(minor, None, OPENED + minutes(600), CONFIG) is None


def test_a_severity_no_longer_configured_is_never_due() -> None:
    gone = dataclasses.replace(INCIDENT, severity="sev9")

    assert update_due(gone, None, OPENED + minutes(600), CONFIG) is None


def test_a_resolved_incident_is_never_due() -> None:
    resolved = INCIDENT.with_status(Status.RESOLVED, OPENED + minutes(40))

    assert update_due(resolved, None, OPENED + minutes(45), CONFIG) is None


@pytest.mark.parametrize("status", [Status.ACKNOWLEDGED, Status.MITIGATED])
def test_acknowledged_and_mitigated_incidents_still_need_updates(status: Status) -> None:
    moved = INCIDENT.with_status(status, OPENED + minutes(1))

    assert update_due(moved, None, OPENED + minutes(2), CONFIG) == OPENED + minutes(30)


def test_raising_the_severity_applies_its_cadence_from_the_last_update() -> None:
    minor = dataclasses.replace(INCIDENT, severity="sev3")
    last = OPENED + minutes(100)
    assert update_due(minor, last, OPENED + minutes(110), CONFIG) is None

    raised = dataclasses.replace(minor, severity="sev1")

    assert update_due(raised, last, OPENED + minutes(110), CONFIG) == OPENED + minutes(130)

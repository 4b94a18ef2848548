"""The incident as the domain sees it: pure Python, no Slack, no SQL."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """Where an incident is in its life. The order is the order of the lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def is_active(self) -> bool:
        return self is not Status.RESOLVED


class InvalidTransition(ValueError):
    """A status change the lifecycle does not allow (for example acknowledging a resolved incident)."""


_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.MITIGATED, Status.RESOLVED}),
    Status.MITIGATED: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.OPEN}),  # reopened (`/incident reopen`, before the channel is archived)
}


def format_public_id(year: int, number: int) -> str:
    """`INC-2026-001`: the number is zero-padded to three digits and grows past 999 as needed."""
    return f"INC-{year}-{number:03d}"


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    team_id: str
    public_id: str
    year: int
    number: int
    title: str
    description: str
    severity: str
    status: Status
    opener_id: str
    opened_at: datetime
    commander_id: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    card_ts: str | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    private: bool | None = None  # None: not known (opened before it was stored), so treated as private
    setup_done: bool = True  # False while the channel, card and the rest are being set up

    @property
    def may_be_private(self) -> bool:
        return self.private is not False

    def with_status(self, to: Status, at: datetime) -> Incident:
        """The incident moved to `to` at `at`; earlier milestones that were skipped are not invented."""
        if to is self.status:
            raise InvalidTransition(f"{self.public_id} is already {to.value}")
        if to not in _ALLOWED[self.status]:
            raise InvalidTransition(f"{self.public_id} is {self.status.value} and cannot become {to.value}")
        if to is Status.ACKNOWLEDGED:
            return dataclasses.replace(self, status=to, acknowledged_at=at)
        if to is Status.MITIGATED:
            return dataclasses.replace(self, status=to, mitigated_at=at)
        if to is Status.OPEN:  # reopened: not resolved any more (the earlier milestones stay as they happened)
            return dataclasses.replace(self, status=to, resolved_at=None)
        return dataclasses.replace(self, status=to, resolved_at=at)

    def changes_from(self, before: Incident) -> dict[str, tuple[object, object]]:
        """Field -> (old, new) for every field that differs from `before` (used for the audit trail)."""
        out: dict[str, tuple[object, object]] = {}
        for field in dataclasses.fields(self):
            old, new = getattr(before, field.name), getattr(self, field.name)
            if old != new:
                out[field.name] = (old, new)
        return out

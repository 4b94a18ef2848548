"""Resolved incidents an incident's channel was told it resembles ("Seen before"), once per pair.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_before",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("past_incident_id", sa.Integer(), nullable=False),
        sa.Column("runbook", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_seen_before_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["past_incident_id"],
            ["incidents.id"],
            name=op.f("fk_seen_before_past_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_before")),
        sa.UniqueConstraint(
            "incident_id", "past_incident_id", name=op.f("uq_seen_before_incident_id_past_incident_id")
        ),
    )
    op.create_index(op.f("ix_seen_before_incident_id"), "seen_before", ["incident_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_before_incident_id"), table_name="seen_before")
    op.drop_table("seen_before")

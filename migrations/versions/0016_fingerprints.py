"""Fingerprints of resolved incidents' evidence, and "Seen before" told by resemblance of evidence (no shared root
cause): the seen_before row's root cause may be empty, and it keeps the terms both incidents said and the score.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("seen_before") as batch:
        for column in ("runbook", "error", "root_cause"):
            batch.alter_column(column, existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("shared", sa.Text(), nullable=True))
        batch.add_column(sa.Column("score", sa.Float(), nullable=True))
    op.create_table(
        "incident_fingerprints",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_fingerprints_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_fingerprints")),
    )
    op.create_index(op.f("ix_incident_fingerprints_team_id"), "incident_fingerprints", ["team_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_fingerprints_team_id"), table_name="incident_fingerprints")
    op.drop_table("incident_fingerprints")
    op.execute("DELETE FROM seen_before WHERE root_cause IS NULL")
    with op.batch_alter_table("seen_before") as batch:
        batch.drop_column("score")
        batch.drop_column("shared")
        for column in ("runbook", "error", "root_cause"):
            batch.alter_column(column, existing_type=sa.Text(), nullable=False)

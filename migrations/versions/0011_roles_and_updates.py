"""Roles and status updates. `incident_roles`: who holds which role of an incident besides the commander (kept on
the incident itself), one holder per role; a cleared role has no row. `status_updates`: every `/incident update`,
with its author and time, the incident's status and severity when it was posted, and where it was posted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("assigned_by", sa.String(32), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_roles_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_roles")),
        sa.UniqueConstraint("incident_id", "role", name=op.f("uq_incident_roles_incident_id_role")),
    )
    op.create_table(
        "status_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=True),
        sa.Column("next_steps", sa.Text(), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("announcement_ts", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_status_updates_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_updates")),
        sa.UniqueConstraint("incident_id", "request_key", name=op.f("uq_status_updates_incident_id_request_key")),
    )
    op.create_index(op.f("ix_status_updates_incident_id"), "status_updates", ["incident_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_status_updates_incident_id"), table_name="status_updates")
    op.drop_table("status_updates")
    op.drop_table("incident_roles")

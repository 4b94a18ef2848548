"""Paging: the services paged for each incident (PagerDuty Events API v2, Opsgenie), one row per incident and
service, with what the provider answered to the trigger and, once the incident is resolved, to the resolve.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("trigger_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("triggered_at", UTCDateTime(), nullable=True),
        sa.Column("resolve_wanted_at", UTCDateTime(), nullable=True),
        sa.Column("resolve_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("retry_at", UTCDateTime(), nullable=True),
        sa.Column("sending_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_pages_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("incident_id", "service", name=op.f("uq_pages_incident_id_service")),
    )
    op.create_index(op.f("ix_pages_incident_id"), "pages", ["incident_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pages_incident_id"), table_name="pages")
    op.drop_table("pages")

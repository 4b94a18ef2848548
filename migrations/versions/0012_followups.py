"""Follow-ups: actions agreed during an incident (`/incident followup`), numbered per incident, with their owner, due
date, state, and their export to an issue tracker (GitHub Issues or Jira Cloud).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_by", sa.String(32), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("request_key", sa.String(255), nullable=True),
        sa.Column("export_target", sa.String(255), nullable=True),
        sa.Column("export_state", sa.String(16), nullable=True),
        sa.Column("export_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("export_uncertain", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("export_claimed_until", UTCDateTime(), nullable=True),
        sa.Column("export_first_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("export_error", sa.Text(), nullable=True),
        sa.Column("issue_id", sa.String(64), nullable=True),
        sa.Column("issue_url", sa.Text(), nullable=True),
        sa.Column("exported_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_followups_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
        sa.UniqueConstraint("incident_id", "number", name=op.f("uq_followups_incident_id_number")),
        sa.UniqueConstraint("incident_id", "request_key", name=op.f("uq_followups_incident_id_request_key")),
    )
    op.create_index(op.f("ix_followups_incident_id"), "followups", ["incident_id"])
    op.create_index(op.f("ix_followups_export_state"), "followups", ["export_state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_followups_export_state"), table_name="followups")
    op.drop_index(op.f("ix_followups_incident_id"), table_name="followups")
    op.drop_table("followups")

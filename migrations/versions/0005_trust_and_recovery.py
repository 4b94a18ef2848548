"""Trust and recovery: an incident's privacy, the progress of opening it (so a crash half-way is finished at start),
requests already handled (clicks are applied once), and signed events that could never be stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        # NULL for incidents opened before this was stored: treated as private (membership is checked).
        batch.add_column(sa.Column("private", sa.Boolean(), nullable=True))
        # Incidents that existed before are fully set up.
        batch.add_column(sa.Column("setup_done", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("setup_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("setup_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("setup_reply", sa.Text(), nullable=True))
        batch.add_column(sa.Column("channel_intent", sa.String(80), nullable=True))
        batch.add_column(sa.Column("announcement_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("opener_told", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "handled_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handled_requests")),
        sa.UniqueConstraint("team_id", "request_key", name=op.f("uq_handled_requests_team_id_request_key")),
    )
    op.create_table(
        "dropped_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("dropped_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dropped_events")),
    )


def downgrade() -> None:
    op.drop_table("dropped_events")
    op.drop_table("handled_requests")
    with op.batch_alter_table("incidents") as batch:
        for column in (
            "opener_told",
            "announcement_ts",
            "channel_intent",
            "setup_reply",
            "setup_attempts",
            "setup_owner",
            "setup_done",
            "private",
        ):
            batch.drop_column(column)

"""The timeline: every message of incident channels, reaction marks, notes and shortcut entries, people.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_id"], ["incidents.id"], name=op.f(f"fk_{table}_incident_id_incidents"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("bot_id", sa.String(32), nullable=True),
        sa.Column("author_name", sa.String(255), nullable=True),
        sa.Column("is_integration", sa.Boolean(), nullable=False),
        sa.Column("subtype", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("original_text", sa.Text(), nullable=True),
        sa.Column("edited_ts", sa.String(32), nullable=True),
        sa.Column("edited_at", UTCDateTime(), nullable=True),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("files", sa.Text(), nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        _incident_fk("messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("channel_id", "ts", name=op.f("uq_messages_channel_id_ts")),
    )
    op.create_index(op.f("ix_messages_incident_id"), "messages", ["incident_id"])
    op.create_table(
        "marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("reaction", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("marked_at", UTCDateTime(), nullable=False),
        _incident_fk("marks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marks")),
        sa.UniqueConstraint(
            "channel_id", "ts", "reaction", "user_id", name=op.f("uq_marks_channel_id_ts_reaction_user_id")
        ),
    )
    op.create_index(op.f("ix_marks_incident_id"), "marks", ["incident_id"])
    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=True),
        sa.Column("added_by", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=True),
        _incident_fk("timeline_entries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
        sa.UniqueConstraint("incident_id", "request_key", name=op.f("uq_timeline_entries_incident_id_request_key")),
    )
    op.create_index(op.f("ix_timeline_entries_incident_id"), "timeline_entries", ["incident_id"])
    op.create_table(
        "people",
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_people")),
    )


def downgrade() -> None:
    op.drop_table("people")
    op.drop_index(op.f("ix_timeline_entries_incident_id"), table_name="timeline_entries")
    op.drop_table("timeline_entries")
    op.drop_index(op.f("ix_marks_incident_id"), table_name="marks")
    op.drop_table("marks")
    op.drop_index(op.f("ix_messages_incident_id"), table_name="messages")
    op.drop_table("messages")

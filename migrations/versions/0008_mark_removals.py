"""Removed reactions are remembered: `marks.removed_at` is when the reaction was removed (its event time). Slack
delivers reaction_added and reaction_removed in no promised order; an adding older than a removal delivered before
it must not mark the message again. A row with `removed_at` set marks nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marks") as batch:
        batch.add_column(sa.Column("removed_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM marks WHERE removed_at IS NOT NULL")
    with op.batch_alter_table("marks") as batch:
        batch.drop_column("removed_at")

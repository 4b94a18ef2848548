"""A suggestion's runbook title, error name and root-cause name are as long as the runbook writes them: they were
255-character columns, which PostgreSQL enforces (a runbook with a longer name could not be suggested there) and
SQLite does not.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("runbook", "error", "root_cause")


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        for column in COLUMNS:
            batch.alter_column(column, type_=sa.Text(), existing_type=sa.String(255), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        for column in COLUMNS:
            batch.alter_column(column, type_=sa.String(255), existing_type=sa.Text(), existing_nullable=False)

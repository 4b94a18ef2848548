"""Live suggestions: what stands in an incident channel changes as the evidence does. A suggestion may now also be
"superseded" (another root cause took its place in the same message) or "retracted" (withdrawn, the message says
why); `note` keeps why it was updated or withdrawn. Past decisions of a workspace (accepted / dismissed per root
cause) are read by (team_id, state).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_index(op.f("ix_suggestions_team_id_state"), "suggestions", ["team_id", "state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_suggestions_team_id_state"), table_name="suggestions")
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_column("note")

"""Revisions: every write to a message or a timeline entry gives its row a new, larger `revision`, in the order the
writes commit, so that a replica can read what changed in an incident since it last looked (`revision > seen`) and
keep its root-cause evidence in step with the database without reading the whole conversation again.

How the order is kept (readers read one incident at a time, so the order that matters is each incident's):
- SQLite has one writer at a time: a trigger sets `revision` to the table's largest plus one, inside the write.
- PostgreSQL: a trigger takes the next value of the `revisions` sequence, after taking a transaction-level advisory
  lock on the row's incident, (REVISION_LOCK, incident_id), that every write to that incident's messages or
  entries holds until it commits. Without it, a transaction that drew revision 7 could commit after one that drew
  8, and a reader that saw 8 would never look at 7 again. The lock is released after the commit is visible, so a
  reader that sees revision n of an incident also sees every smaller one of it. Writers of other incidents never
  wait for each other. A writer of several incidents takes their locks in ascending order (bot/storage/writer.py
  and sink.py), so two never deadlock.

Only what changes the conversation takes a revision: a new row, and an update of its text or deletion (not a
permalink filled in later: that update takes no lock, so it can never deadlock with a writer).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The first key of the advisory lock (REVISION_LOCK, incident_id) that every write to an incident's messages or
# timeline entries holds until it commits (also in bot/storage/writer.py).
REVISION_LOCK = 0x1B0_4E71


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in ("messages", "timeline_entries"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"))
        op.create_index(op.f(f"ix_{table}_revision"), table, ["revision"])
        op.create_index(op.f(f"ix_{table}_incident_id_revision"), table, ["incident_id", "revision"])
    if postgres:
        op.execute("CREATE SEQUENCE revisions AS bigint")
        op.execute(
            f"""
            CREATE FUNCTION next_revision() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock({REVISION_LOCK}, NEW.incident_id);
                NEW.revision := nextval('revisions');
                RETURN NEW;
            END $$
            """
        )
        for table, said in (("messages", "text, deleted_at"), ("timeline_entries", "text")):
            op.execute(f"UPDATE {table} SET revision = nextval('revisions')")
            op.execute(
                f"CREATE TRIGGER {table}_revision BEFORE INSERT OR UPDATE OF {said} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION next_revision()"
            )
    else:
        for table, said in (("messages", "text, deleted_at"), ("timeline_entries", "text")):
            op.execute(f"UPDATE {table} SET revision = id")
            # (recursive_triggers is off: the trigger's own UPDATE does not fire it again)
            op.execute(
                f"""
                CREATE TRIGGER {table}_revision_insert AFTER INSERT ON {table} BEGIN
                    UPDATE {table} SET revision = (SELECT coalesce(max(revision), 0) + 1 FROM {table})
                    WHERE id = NEW.id;
                END
                """
            )
            op.execute(
                f"""
                CREATE TRIGGER {table}_revision_update AFTER UPDATE OF {said} ON {table}
                WHEN NEW.revision = OLD.revision BEGIN
                    UPDATE {table} SET revision = (SELECT coalesce(max(revision), 0) + 1 FROM {table})
                    WHERE id = NEW.id;
                END
                """
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in ("messages", "timeline_entries"):
        if postgres:
            op.execute(f"DROP TRIGGER {table}_revision ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_revision_insert")
            op.execute(f"DROP TRIGGER {table}_revision_update")
        op.drop_index(op.f(f"ix_{table}_incident_id_revision"), table_name=table)
        op.drop_index(op.f(f"ix_{table}_revision"), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("revision")
    if postgres:
        op.execute("DROP FUNCTION next_revision()")
        op.execute("DROP SEQUENCE revisions")

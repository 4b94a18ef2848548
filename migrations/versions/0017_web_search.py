"""Full-text search for the web view (issue 14): incidents listed newest first by workspace, and their titles and
captured messages searchable.

- Both: an index on incidents (team_id, opened_at, id), the order of the list and of its keyset cursor.
- PostgreSQL: GIN expression indexes on `to_tsvector('simple', ...)` of message texts and of incident titles;
  bot/storage/web.py queries the very same expressions, so the indexes are used.
- SQLite: FTS5 tables over the same columns (external content: the text stays in its own table), kept in step by
  triggers on insert, update and delete, and filled from the rows already there. Where this SQLite has no FTS5, no
  search table is made and searches fall back to LIKE (web.py says so in a log line).

A later migration that rebuilds `messages` or `incidents` on SQLite (batch "move and copy") drops their triggers and
must make them again (`sqlite_search_ddl` below) and rebuild the search tables.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy.exc import OperationalError

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# (search table, content table, column)
_SQLITE_SEARCHED = (("messages_search", "messages", "text"), ("incidents_search", "incidents", "title"))


def sqlite_search_ddl(search: str, table: str, column: str) -> list[str]:
    """The FTS5 table over `table.column` and the triggers that keep it in step."""
    return [
        f"CREATE VIRTUAL TABLE {search} USING fts5({column}, content='{table}', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {search}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {search}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"CREATE TRIGGER {search}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {search}({search}, rowid, {column}) VALUES ('delete', old.id, old.{column}); END",
        f"CREATE TRIGGER {search}_au AFTER UPDATE OF {column} ON {table} BEGIN "
        f"INSERT INTO {search}({search}, rowid, {column}) VALUES ('delete', old.id, old.{column}); "
        f"INSERT INTO {search}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"INSERT INTO {search}({search}) VALUES ('rebuild')",
    ]


def _sqlite_has_fts5() -> bool:
    try:
        op.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except OperationalError:
        return False
    op.execute("DROP TABLE temp.fts5_probe")
    return True


def upgrade() -> None:
    op.create_index("ix_incidents_team_id_opened_at", "incidents", ["team_id", "opened_at", "id"])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # Not a partial index (WHERE deleted_at IS NULL): the planner keeps statistics of an index's expression
        # only for a whole-table index, and without them it guesses every word rare.
        op.execute("CREATE INDEX ix_messages_text_search ON messages USING gin (to_tsvector('simple', text))")
        op.execute("CREATE INDEX ix_incidents_title_search ON incidents USING gin (to_tsvector('simple', title))")
    elif dialect == "sqlite":
        if not _sqlite_has_fts5():
            log.warning("this SQLite has no FTS5: the web view's search will use LIKE (slow on many messages)")
            return
        for search, table, column in _SQLITE_SEARCHED:
            for statement in sqlite_search_ddl(search, table, column):
                op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_incidents_title_search")
        op.execute("DROP INDEX IF EXISTS ix_messages_text_search")
    elif dialect == "sqlite":
        for search, _table, _column in _SQLITE_SEARCHED:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {search}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {search}")
    op.drop_index("ix_incidents_team_id_opened_at", table_name="incidents")

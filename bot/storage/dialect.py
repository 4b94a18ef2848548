"""The one place that knows SQLite and PostgreSQL spell INSERT ... ON CONFLICT with different constructs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def upsert(on: AsyncSession | AsyncConnection, table: Any) -> Any:
    """`insert(table)` that supports `.on_conflict_do_nothing()` / `.on_conflict_do_update()` on this database."""
    name = on.get_bind().dialect.name if isinstance(on, AsyncSession) else on.dialect.name
    return (pg_insert if name == "postgresql" else sqlite_insert)(table)

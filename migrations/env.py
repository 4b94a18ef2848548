"""Alembic environment, async-aware.

`incident-bot db upgrade` and `serve` hand Alembic an open connection (`config.attributes["connection"]`), so
the upgrade runs inside their transaction (and under their migration lock). Run as `alembic upgrade head` from
the repository, it builds an async engine from DATABASE_URL or the `sqlalchemy.url` option itself.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.tables import Base, described_by_models

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=described_by_models,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_configure_and_run)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from bot.config import normalise_database_url  # only for the stand-alone `alembic` command

    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url") or ""
    asyncio.run(_run_with_own_engine(normalise_database_url(url)))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()

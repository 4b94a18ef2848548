"""Engine, sessions and schema upgrades for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

import migrations

from .fingerprints import FingerprintStore
from .followups import FollowupStore
from .jobs import JobStore
from .reports import ReportStore
from .repository import IncidentStore
from .seen_before import SeenBeforeStore
from .suggestions import SuggestionStore
from .timeline import TimelineStore
from .web import WebStore
from .workspaces import WorkspaceStore


@dataclass(frozen=True, slots=True)
class Stores:
    incidents: IncidentStore
    timeline: TimelineStore
    suggestions: SuggestionStore
    reports: ReportStore
    seen_before: SeenBeforeStore
    jobs: JobStore
    followups: FollowupStore
    fingerprints: FingerprintStore
    web: WebStore
    workspaces: WorkspaceStore


# Any constant will do; it only has to be the same in every process that shares the database.
_MIGRATION_LOCK_KEY = 4_817_233_001


def migrations_path() -> Path:
    return Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_path()))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def create_engine(database_url: str) -> AsyncEngine:
    """An engine whose write transactions never deadlock on SQLite and that shares well on PostgreSQL."""
    if is_sqlite(database_url):
        # How long a writer waits for another one to finish: 30 s unless the URL says `?timeout=<seconds>`.
        busy_ms = int(1000 * float(make_url(database_url).query.get("timeout", 30)))  # type: ignore[arg-type]
        engine = create_async_engine(database_url, connect_args={"timeout": busy_ms / 1000})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from pysqlite so that BEGIN IMMEDIATE below is what starts them.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY when another
            # writer got in between; taking the write lock up front makes writers queue (busy_timeout) instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def stores_of(session: AsyncSession) -> Stores:
    """Every store, on one session (and so in its transaction)."""
    return Stores(
        incidents=IncidentStore(session),
        timeline=TimelineStore(session),
        suggestions=SuggestionStore(session),
        reports=ReportStore(session),
        seen_before=SeenBeforeStore(session),
        jobs=JobStore(session),
        followups=FollowupStore(session),
        fingerprints=FingerprintStore(session),
        web=WebStore(session),
        workspaces=WorkspaceStore(session),
    )


class Database:
    """Owns the engine. A service opens one transaction per user intent with `transaction()`."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = create_engine(database_url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[IncidentStore]:
        """Commits when the block ends normally, rolls back when it raises."""
        async with self._sessions() as session, session.begin():
            yield IncidentStore(session)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Stores]:
        """One transaction over every store (commits when the block ends normally)."""
        async with self._sessions() as session, session.begin():
            yield stores_of(session)

    @asynccontextmanager
    async def timeline(self) -> AsyncIterator[TimelineStore]:
        """A transaction on the timeline tables (commits when the block ends normally)."""
        async with self._sessions() as session, session.begin():
            yield TimelineStore(session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration. Safe when several processes start at once."""
        cfg = alembic_config(self.url)
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            await conn.run_sync(_upgrade_on, cfg)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _upgrade_on(connection: Connection, cfg: AlembicConfig) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")

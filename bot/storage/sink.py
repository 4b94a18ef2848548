"""The fastest durable way to append captured messages: one round trip per batch, straight to the driver.

The writer's batches of plain new messages are the bulk of all writes. Going through SQLAlchemy's pool and
session costs more CPU per commit than the whole rest of a request (about 1.5 ms), so these rows take a
shorter road: on SQLite one hop to a dedicated thread that owns a sqlite3 connection (BEGIN IMMEDIATE,
executemany, COMMIT); on PostgreSQL one autocommitted `INSERT ... SELECT FROM unnest(...)` on a dedicated asyncpg
connection. Both are idempotent on (channel_id, ts) like every other timeline write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

COLUMNS = (
    "team_id",
    "incident_id",
    "channel_id",
    "ts",
    "thread_ts",
    "user_id",
    "bot_id",
    "author_name",
    "is_integration",
    "subtype",
    "text",
    "files",
    "posted_at",
)


class MessageSink(Protocol):
    async def insert(self, rows: list[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...


def open_sink(database_url: str) -> MessageSink:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        busy = float(url.query.get("timeout", 30))  # type: ignore[arg-type]
        return SqliteSink(str(url.database), busy)
    return PostgresSink(url.set(drivername="postgresql").render_as_string(hide_password=False))


def _sqlite_time(value: datetime) -> str:
    # The format SQLAlchemy uses for DateTime on SQLite (UTC, no offset), so both roads read back the same.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteSink:
    _SQL = (
        f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
        "ON CONFLICT (channel_id, ts) DO NOTHING"
    )

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sink")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, timeout=self._busy_timeout, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
        return self._conn

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._SQL, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        values = [
            tuple(
                _sqlite_time(r[c]) if c == "posted_at" else int(r[c]) if c == "is_integration" else r[c]
                for c in COLUMNS
            )
            for r in rows
        ]
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, values)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)


class PostgresSink:
    _TYPES = (
        "text",
        "int",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "bool",
        "text",
        "text",
        "text",
        "timestamptz",
    )
    _SQL = (
        f"INSERT INTO messages ({', '.join(COLUMNS)}) "
        f"SELECT * FROM unnest({', '.join(f'${n}::{t}[]' for n, t in enumerate(_TYPES, start=1))}) "
        "ORDER BY 2 "  # incident_id: each row takes its incident's revision lock, in ascending order
        "ON CONFLICT (channel_id, ts) DO NOTHING"
    )

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        columns = [[r[c] for r in rows] for c in COLUMNS]
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn, timeout=5)
            try:
                await self._conn.execute(self._SQL, *columns)
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
                # The connection is gone (the server restarted, or dropped it): start afresh next time.
                await self._discard()
                raise

    async def _discard(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

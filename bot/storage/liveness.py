"""Which processes sharing the database are alive: so that an incident one of them was opening when it died is
finished by another (or by the same one restarted) at once, and one still being opened by a live process is not.

Each process has a boot id and holds a lock named after it for as long as it runs: on PostgreSQL a session-level
advisory lock on a connection of its own (the server drops it the moment the process dies, kill -9 included); on
SQLite an exclusive `flock` on a file next to the database (the kernel drops it the same way). A process is alive
while its lock is held. If the PostgreSQL connection itself is lost, the lock is taken again within a second (a
heartbeat); a process is taken for gone only when it looked gone on two checks `confirm_seconds` apart, and a
process that finds its work taken over stops before its next step. What remains: a Slack call already under way
when the lock was lost for longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import uuid
from pathlib import Path
from typing import IO, Protocol

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

_LOCK_CLASS = 48_172  # the first key of pg_advisory_lock(int, int); the second is the boot id's hash


def new_boot_id() -> str:
    return uuid.uuid4().hex


class Liveness(Protocol):
    boot_id: str
    # How long a process must look gone, on two checks, before its work is taken over: the time it needs to notice
    # a lost lock and take it again (0 where the lock cannot be lost while the process lives).
    confirm_seconds: float

    async def start(self) -> None: ...

    async def is_alive(self, boot_id: str) -> bool: ...

    async def close(self) -> None: ...


def open_liveness(database_url: str, boot_id: str) -> Liveness:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            return SoleProcess(boot_id)
        return FileLocks(Path(path), boot_id)
    return AdvisoryLocks(url.set(drivername="postgresql").render_as_string(hide_password=False), boot_id)


def _key(boot_id: str) -> int:
    return int.from_bytes(hashlib.sha256(boot_id.encode()).digest()[:4], "big", signed=True)


class SoleProcess:
    """An in-memory database has one process: every other boot id is gone."""

    confirm_seconds = 0.0

    def __init__(self, boot_id: str) -> None:
        self.boot_id = boot_id

    async def start(self) -> None:
        return None

    async def is_alive(self, boot_id: str) -> bool:
        return boot_id == self.boot_id

    async def close(self) -> None:
        return None


class FileLocks:
    """SQLite: `<database>.processes/<boot id>`, exclusively flocked by its process while it runs."""

    confirm_seconds = 0.0  # the kernel drops a flock only when its process is gone

    def __init__(self, database: Path, boot_id: str) -> None:
        self.boot_id = boot_id
        self._folder = database.with_name(database.name + ".processes")
        self._mine: IO[bytes] | None = None

    def _path(self, boot_id: str) -> Path:
        return self._folder / boot_id

    async def start(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        handle = self._path(self.boot_id).open("wb")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._mine = handle

    async def is_alive(self, boot_id: str) -> bool:
        if boot_id == self.boot_id:
            return True
        if not all(c in "0123456789abcdef" for c in boot_id):
            return False
        path = self._path(boot_id)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # its process is gone: tidy up
            return False

    async def close(self) -> None:
        if self._mine is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path(self.boot_id).unlink()
            self._mine.close()
            self._mine = None


class AdvisoryLocks:
    """PostgreSQL: a session-level advisory lock on (_LOCK_CLASS, hash(boot id)), on a connection of its own, checked
    every HEARTBEAT_SECONDS and taken again at once if the connection was lost (a server restart, a failover, an idle
    timeout): others wait `confirm_seconds` of absence before they take over this process's work."""

    HEARTBEAT_SECONDS = 1.0
    confirm_seconds = 5.0

    def __init__(self, dsn: str, boot_id: str) -> None:
        self.boot_id = boot_id
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._heartbeat: asyncio.Task[None] | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self._dsn, timeout=5)
            await conn.execute("SELECT pg_advisory_lock($1, $2)", _LOCK_CLASS, _key(self.boot_id))
            self._conn = conn
        return self._conn

    async def start(self) -> None:
        async with self._lock:
            await self._connection()
        self._heartbeat = asyncio.create_task(self._beat(), name="liveness-heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT_SECONDS)
            try:
                async with self._lock:
                    conn = await self._connection()
                    await conn.fetchval("SELECT 1", timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("the liveness lock's connection failed (%s); taking the lock again", type(e).__name__)
                await self._discard()

    async def _discard(self) -> None:
        async with self._lock:
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None

    async def is_alive(self, boot_id: str) -> bool:
        if boot_id == self.boot_id:
            return True
        async with self._lock:
            conn = await self._connection()
            key = _key(boot_id)
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", _LOCK_CLASS, key):
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK_CLASS, key)
                return False
            return True

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        async with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await self._conn.close(timeout=5)
                self._conn = None


__all__ = ["Liveness", "new_boot_id", "open_liveness"]

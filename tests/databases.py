"""Test databases: a fresh SQLite file, or a fresh PostgreSQL database cloned from a migrated template.

PostgreSQL is found at TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Where it does not
answer, PostgreSQL tests skip with the reason, unless INCIDENT_BOT_REQUIRE_POSTGRES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import uuid
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def postgres_required() -> bool:
    return os.environ.get("INCIDENT_BOT_REQUIRE_POSTGRES", "") not in ("", "0", "false")


def async_url(database: str) -> str:
    url = make_url(admin_url()).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(admin_url(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_admin(sql: str) -> None:
    asyncio.run(_admin(sql))


def postgres_unavailable_reason() -> str | None:
    try:
        run_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        return f"PostgreSQL at {admin_url()} is not reachable ({type(e).__name__}: {e}); set TEST_POSTGRES_URL"
    return None


@dataclass
class PostgresTemplate:
    """A database migrated once per test process (each pytest-xdist worker has its own); each test gets its own copy
    (CREATE DATABASE ... TEMPLATE), dropped after it.

    Every database of a test process is named ib_test_<run>_..., <run> being that process's own id, and the process
    holds one connection whose application_name is ib_test_<run> for as long as it runs. A process killed before its
    teardown (a crashed worker, a run stopped twice with Ctrl-C) leaves its databases but not that connection; the
    next test process to start drops them, so the server does not fill up with them."""

    run: str
    holder: _Holder
    numbers: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def name(self) -> str:
        return f"ib_test_{self.run}_template"

    @classmethod
    def create(cls) -> PostgresTemplate:
        from bot.storage import Database

        run = uuid.uuid4().hex[:12]
        template = cls(run, _Holder.start(f"ib_test_{run}"))

        async def migrate() -> None:
            db = Database(async_url(template.name))
            try:
                await db.upgrade()
            finally:
                await db.dispose()

        try:
            asyncio.run(_drop_abandoned())
            run_admin(f'CREATE DATABASE "{template.name}"')
            asyncio.run(migrate())
        except BaseException:
            template.close()
            raise
        return template

    def clone(self) -> str:
        name = f"ib_test_{self.run}_{next(self.numbers)}"
        run_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        return name

    def close(self) -> None:
        """Drop the template; this process's databases are then free for any later run to drop."""
        self.drop(self.name)
        self.holder.stop()

    @staticmethod
    def drop(name: str) -> None:
        run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ABANDONED = """
SELECT datname FROM pg_database
WHERE datname ~ '^ib_test_[0-9a-f]{12}_'
  AND substring(datname FROM '^ib_test_[0-9a-f]{12}') NOT IN (
    SELECT application_name FROM pg_stat_activity WHERE application_name IS NOT NULL
  )
"""


async def _drop_abandoned() -> None:
    """Drop the databases of test processes that no longer run (their holding connection is gone)."""
    conn = await asyncpg.connect(admin_url(), timeout=5)
    try:
        for row in await conn.fetch(ABANDONED):
            # Another process starting now may drop it at the same time; whichever does, it is gone.
            with contextlib.suppress(asyncpg.PostgresError):
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


class _Holder:
    """One idle connection to the server, named `application_name`, held from a thread of its own until stop():
    while it is open, the server knows this process runs."""

    def __init__(self, application_name: str) -> None:
        self._application_name = application_name
        self._connected = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._hold(),), name=application_name, daemon=True)

    @classmethod
    def start(cls, application_name: str) -> _Holder:
        holder = cls(application_name)
        holder._thread.start()
        holder._connected.wait()
        if holder._error is not None:
            raise holder._error
        return holder

    async def _hold(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            conn = await asyncpg.connect(
                admin_url(), timeout=5, server_settings={"application_name": self._application_name}
            )
        except BaseException as e:  # handed to start(), which raises it in the test process's thread
            self._error = e
            return
        finally:
            self._connected.set()
        try:
            await self._stopping.wait()
        finally:
            await conn.close()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._error is None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

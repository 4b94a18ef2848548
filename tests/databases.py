"""Test databases: a fresh SQLite file, or a fresh PostgreSQL database cloned from a migrated template.

PostgreSQL is found at TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Where it does not
answer, PostgreSQL tests skip with the reason, unless INCIDENT_BOT_REQUIRE_POSTGRES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass

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
    """A database migrated once per test session; each test gets its own copy (CREATE DATABASE ... TEMPLATE)."""

    name: str

    @classmethod
    def create(cls) -> PostgresTemplate:
        from bot.storage import Database

        name = f"ib_template_{uuid.uuid4().hex[:10]}"
        run_admin(f'CREATE DATABASE "{name}"')

        async def migrate() -> None:
            db = Database(async_url(name))
            try:
                await db.upgrade()
            finally:
                await db.dispose()

        asyncio.run(migrate())
        return cls(name)

    def clone(self) -> str:
        name = f"ib_test_{uuid.uuid4().hex[:12]}"
        run_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        return name

    @staticmethod
    def drop(name: str) -> None:
        run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

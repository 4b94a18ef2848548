"""Waiting at start for a database that is not up yet, and telling that apart from one that will never answer.

A bot started by `docker compose up`, systemd or Kubernetes often starts before its PostgreSQL accepts connections:
the port is closed, or open and reset (a container's port proxy), or the server answers "the database system is
starting up". Those pass, so the bot tries again, with a bounded, logged backoff. A wrong host name, user, password
or database name never passes by waiting: those stop the bot at once with what to fix.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from bot.config import DatabaseRefused, DatabaseUnavailable

from .database import Database

log = logging.getLogger(__name__)

FIRST_PAUSE = 0.5  # seconds before the second try; doubled after each, up to MAX_PAUSE, ±20% so replicas spread
MAX_PAUSE = 5.0
ATTEMPT_SECONDS = 10.0  # one try's limit: a host that drops packets would otherwise hold a connect for a minute

# Errors of a server that is not up yet, or not accepting connections for a moment.
_PASSING_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.ConnectionDoesNotExistError,  # the connection closed during the handshake
)
_PASSING_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN})


async def wait_for_database(
    db: Database,
    within: float,
    on_wait: Callable[[str], None] = lambda _reason: None,
) -> None:
    """Return once `db` answers a query; keep trying for up to `within` seconds while it is not up yet.

    Each try that fails for a passing reason is logged with what happened and when the next one is; `on_wait` is
    told the reason too (for /healthz). Raises DatabaseRefused at once on a failure waiting will not mend, and
    DatabaseUnavailable when `within` seconds have gone by (`within` 0: one try).
    """
    started = time.monotonic()
    pauses = _pauses()
    tries = 0
    while True:
        tries += 1
        remaining = within - (time.monotonic() - started)
        try:
            async with asyncio.timeout(max(1.0, min(ATTEMPT_SECONDS, remaining))):
                await db.ping()
        except Exception as e:
            reason = describe(e)
            if not is_passing(e):
                raise DatabaseRefused(refusal(db.url, e)) from e
            waited = time.monotonic() - started
            pause = next(pauses)
            if waited + pause > within:
                raise DatabaseUnavailable(
                    f"the database at {_where(db.url)} did not accept connections within {within:.0f} s "
                    f"({tries} {'try' if tries == 1 else 'tries'}; last: {reason}); is it running, and are "
                    "DATABASE_URL's host and port right?"
                ) from e
            on_wait(reason)
            log.warning(
                "waiting for the database at %s: %s; trying again in %.1f s (waited %.1f s of %.0f s)",
                _where(db.url),
                reason,
                pause,
                waited,
                within,
            )
            await asyncio.sleep(pause)
        else:
            if tries > 1:
                log.info("the database at %s answered after %.1f s", _where(db.url), time.monotonic() - started)
            return


def is_passing(error: BaseException) -> bool:
    """Whether waiting may mend `error`, raised trying to reach the database."""
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return cause.errno == socket.EAI_AGAIN  # "temporary failure in name resolution"; unknown host: no
        if isinstance(cause, _PASSING_DRIVER_ERRORS):
            return True
        if isinstance(cause, asyncpg.PostgresError | sqlite3.Error):
            return False  # the server answered: it is up, and said no
        if isinstance(cause, ConnectionError | TimeoutError):  # refused, reset, aborted; no answer in time
            return True
        if isinstance(cause, OSError) and cause.errno in _PASSING_ERRNOS:  # the network is not up yet
            return True
    return False


def describe(error: BaseException) -> str:
    """The innermost cause of `error`, in one line, without SQLAlchemy's background link."""
    causes = list(_causes(error))
    innermost = causes[-1]
    if isinstance(innermost, TimeoutError) and not str(innermost):
        return "no answer in time"
    text = str(innermost).splitlines()[0] if str(innermost) else ""
    return f"{type(innermost).__name__}: {text}" if text else type(innermost).__name__


def refusal(url: str, error: BaseException) -> str:
    """What to tell the operator about an error waiting will not mend."""
    reason = describe(error)
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return f"cannot find the database host in DATABASE_URL ({_where(url)}): {reason}"
        if isinstance(cause, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
            return f"the database at {_where(url)} refused DATABASE_URL's user or password: {reason}"
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return f"the database at {_where(url)} has no such database: {reason}; create it or fix DATABASE_URL"
        if isinstance(cause, sqlite3.Error):
            return f"cannot open the SQLite database {_where(url)}: {reason} (does its folder exist, writable?)"
    return f"cannot use the database at {_where(url)}: {reason}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it wraps (SQLAlchemy's `orig`, then `__cause__` / `__context__`), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = current.orig if isinstance(current, sa_exc.DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__


def _pauses() -> Iterator[float]:
    pause = FIRST_PAUSE
    while True:
        yield pause * random.uniform(0.8, 1.2)
        pause = min(pause * 2, MAX_PAUSE)


def _where(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    host = parsed.host or "localhost"
    return f"{host}:{parsed.port or 5432}/{parsed.database or ''}"

"""Which failures to reach the database at start pass by waiting (bot/storage/waiting.py), as the driver raises
them wrapped by SQLAlchemy."""

from __future__ import annotations

import socket
import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from bot.storage.waiting import describe, is_passing, refusal


def wrapped(cause: BaseException) -> sa_exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises it: a DBAPIError whose `orig` was raised from the driver's error."""
    try:
        try:
            raise cause
        except BaseException as driver_error:
            raise RuntimeError("the dialect's adapted error") from driver_error
    except RuntimeError as adapted:
        return sa_exc.DBAPIError("SELECT 1", None, adapted)


@pytest.mark.parametrize(
    "cause",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        OSError(101, "Network is unreachable"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=lambda cause: type(cause).__name__,
)
def test_a_database_not_up_yet_is_waited_for(cause: BaseException) -> None:
    assert is_passing(cause)
    assert is_passing(wrapped(cause))


@pytest.mark.parametrize(
    ("cause", "told"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "cannot find the database host"),
        (asyncpg.InvalidPasswordError('password authentication failed for user "bot"'), "user or password"),
        (asyncpg.InvalidAuthorizationSpecificationError('role "nobody" does not exist'), "user or password"),
        (asyncpg.InvalidCatalogNameError('database "nodb" does not exist'), "has no such database"),
        (sqlite3.OperationalError("unable to open database file"), "cannot open the SQLite database"),
        (ValueError("something nobody expected"), "cannot use the database"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_a_database_that_answers_no_or_cannot_be_found_stops_the_start_with_what_to_fix(
    cause: BaseException, told: str
) -> None:
    url = "sqlite:///x.db" if isinstance(cause, sqlite3.Error) else "postgresql://bot:secret@db:5432/incidents"

    message = refusal(url, wrapped(cause))

    assert not is_passing(wrapped(cause))
    assert told in message
    assert str(cause) in message  # the driver's own words, not SQLAlchemy's wrapper
    assert "secret" not in message


def test_a_timeout_without_words_is_described_as_no_answer_in_time() -> None:
    assert describe(wrapped(TimeoutError())) == "no answer in time"

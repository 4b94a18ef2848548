"""The group-committing writer for timeline captures: the hot path of the bot.

Every HTTP request that carries a message or a reaction hands its capture to `TimelineWriter.write()` and waits
until it is committed before Slack is answered (a failed write answers 5xx, and Slack retries). Captures that
arrive while a commit is under way wait for the next one, and all of them go into that one transaction: under
load the cost of a commit is shared by many requests (group commit), with no wait at all when idle.

Every write is idempotent on Slack's identity of things, (channel, ts) for messages and (channel, ts, reaction,
person) for marks, so redeliveries and reordering never duplicate anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import and_, func, or_, text, update
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.timeline import Capture, ChannelMessage, Marked, MessageDeleted, MessageEdited, Unmarked

from .database import Database
from .dialect import upsert
from .sink import open_sink
from .tables import MarkRow, MessageRow

log = logging.getLogger(__name__)

# The first key of the advisory lock (REVISION_LOCK, incident_id) that orders an incident's revisions on PostgreSQL
# (migrations/versions/0006_revisions.py).
REVISION_LOCK = 0x1B0_4E71

_Pending = tuple[Capture, "asyncio.Future[bool]"]

# What one bad capture can cause (the others of its batch are then tried one by one). Anything else means the
# database itself is down, locked or gone, and trying again one by one would only fail slower.
_BAD_DATA = (
    IntegrityError,
    DataError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
    ValueError,  # a value the driver or our own conversion refuses (a malformed ts)
    TypeError,
    ArithmeticError,  # OverflowError: a time too far in the future
)


class BadCapture(Exception):
    """This capture can never be stored (the database refuses its data): not worth a retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_MARK_KEY = ["channel_id", "ts", "reaction", "user_id"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def message_values(message: ChannelMessage) -> dict[str, Any]:
    return {
        "team_id": message.team_id,
        "incident_id": message.incident_id,
        "channel_id": message.channel_id,
        "ts": message.ts,
        "thread_ts": message.thread_ts,
        "user_id": message.user_id,
        "bot_id": message.bot_id,
        "author_name": message.author_name,
        "is_integration": message.is_integration,
        "subtype": message.subtype,
        "text": message.text,
        "files": json.dumps([dataclasses.asdict(f) for f in message.files]) if message.files else None,
        "posted_at": message.posted_at,
    }


class DatabaseUnavailable(OperationalError):
    """The database did not take the capture in time (down, locked, or too slow for Slack's deadline)."""

    def __init__(self, why: str) -> None:
        super().__init__(why, None, Exception(why))


class TimelineWriter:
    """`deadline`: how long a capture may wait for its commit before it is failed (Slack waits 3 s for an
    answer; a capture failed in time is answered 503 and Slack delivers it again). One timer per batch, not per
    request: the hot path stays cheap."""

    def __init__(self, db: Database, max_batch: int = 500, deadline: float = 2.5) -> None:
        self._db = db
        self._sink = open_sink(db.url)
        self._max_batch = max_batch
        self._deadline = deadline
        self._pending: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stalled = False  # the batch in progress missed its deadline: fail new captures at once

    async def write(self, capture: Capture) -> bool:
        """Store the capture; returns once it is committed. True when it changed something (a new mark, a
        mark removed); raises when the database could not take it in time."""
        if self._stalled:
            raise DatabaseUnavailable("the database is not answering")
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._wakeup), name="timeline-writer")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((capture, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._fail_waiting(DatabaseUnavailable("the bot is shutting down"))
        await self._sink.close()

    def _fail_waiting(self, error: Exception) -> None:
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)

    def _expire(self, batch: list[_Pending]) -> None:
        self._stalled = True
        late = DatabaseUnavailable(f"not committed within {self._deadline} s")
        for _, future in batch:
            if not future.done():
                future.set_exception(late)
        self._fail_waiting(late)

    async def _run(self, wakeup: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                wakeup.clear()
                await wakeup.wait()
            batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
            if not batch:
                continue
            timer = loop.call_later(self._deadline, self._expire, batch)
            try:
                healthy = await self._commit(batch)
            finally:
                timer.cancel()
                self._stalled = False
            if not healthy:
                # The database is down or locked: what queued up meanwhile would only wait to fail the same
                # way, so it fails now and its requests answer Slack at once (Slack delivers them again).
                self._fail_waiting(DatabaseUnavailable("the database refused the previous batch"))

    async def _commit(self, batch: list[_Pending]) -> bool:
        """Commit the batch and resolve its futures; False when the database itself refused."""
        try:
            results = await self._apply([capture for capture, _ in batch])
        except Exception as error:  # the database refused: each request answers Slack with an error
            unavailable = not isinstance(error, _BAD_DATA)
            if len(batch) > 1 and not unavailable:
                # One bad capture must not fail the others: try each on its own. (Not when the database itself
                # is down or locked: then every one would fail again, one slow failure at a time.)
                for item in batch:
                    await self._commit([item])
                return True
            log.warning("could not store %d timeline capture(s): %s", len(batch), type(error).__name__)
            failure: Exception = (
                error if unavailable else BadCapture(f"refused by the database: {type(error).__name__}")
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return not unavailable
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        return True

    async def _apply(self, captures: Sequence[Capture]) -> list[bool]:
        results: list[bool] = [True] * len(captures)
        others = [(n, c) for n, c in enumerate(captures) if not isinstance(c, ChannelMessage)]
        if others:
            async with self._db.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Message writes hold their incident's revision lock until they commit (migration 0006); taking
                    # them first, before any row lock, in ascending order (as the sink does), means two writers can
                    # never wait on each other in a circle.
                    incidents = sorted(
                        {c.message.incident_id for _, c in others if isinstance(c, MessageEdited | MessageDeleted)}
                    )
                    for incident_id in incidents:
                        await conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key, :incident)"),
                            {"key": REVISION_LOCK, "incident": incident_id},
                        )
                for n, capture in others:
                    results[n] = await _apply_one(conn, capture)
        # New messages go last and on their own road (see sink.py): edits and deletions upsert, so whichever of
        # the two lands first, the row ends up the same.
        inserts = {(c.channel_id, c.ts): message_values(c) for c in captures if isinstance(c, ChannelMessage)}
        if inserts:
            # (On PostgreSQL the sink inserts them by incident: each row takes its incident's revision lock, in
            # ascending order, as above.)
            await self._sink.insert(list(inserts.values()))
        return results


async def _apply_one(conn: AsyncConnection, capture: Capture) -> bool:
    if isinstance(capture, MessageEdited):
        values = message_values(capture.message) | {
            "original_text": capture.previous_text,
            "edited_ts": capture.edited_ts,
            "edited_at": capture.edited_at,
        }
        stmt = upsert(conn, MessageRow).values(values)
        newer = or_(MessageRow.edited_ts.is_(None), MessageRow.edited_ts < stmt.excluded.edited_ts)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["channel_id", "ts"],
                set_={
                    "original_text": func.coalesce(MessageRow.original_text, MessageRow.text),
                    "text": stmt.excluded.text,
                    "edited_ts": stmt.excluded.edited_ts,
                    "edited_at": stmt.excluded.edited_at,
                    "files": func.coalesce(stmt.excluded.files, MessageRow.files),
                },
                where=newer,
            )
        )
        return True
    if isinstance(capture, MessageDeleted):
        stmt = upsert(conn, MessageRow).values(message_values(capture.message) | {"deleted_at": capture.deleted_at})
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["channel_id", "ts"],
                set_={"deleted_at": func.coalesce(MessageRow.deleted_at, stmt.excluded.deleted_at)},
            )
        )
        return True
    if isinstance(capture, Marked):
        # A mark held already stays as it is; a removed one comes back only if this adding came after the removal.
        return await _upsert_mark(conn, capture, capture.incident_id, capture.at, removed=False)
    if isinstance(capture, Unmarked):
        key = and_(
            MarkRow.channel_id == capture.channel_id,
            MarkRow.ts == capture.ts,
            MarkRow.reaction == capture.reaction,
            MarkRow.user_id == capture.user_id,
        )
        if capture.at is None:  # when it happened is not known: whatever mark there is goes
            result = await conn.execute(
                update(MarkRow).where(key, MarkRow.removed_at.is_(None)).values(removed_at=utc_now())
            )
            return bool(result.rowcount)
        # Only an adding older than the removal is undone; one that came after it (delivered first) stays.
        live = await conn.execute(
            update(MarkRow)
            .where(key, MarkRow.removed_at.is_(None), MarkRow.marked_at <= capture.at)
            .values(removed_at=capture.at)
        )
        if capture.incident_id is not None:  # remembered, for an adding delivered after it
            await _upsert_mark(conn, capture, capture.incident_id, capture.at, removed=True)
        return bool(live.rowcount)
    raise TypeError(f"not a timeline capture: {capture!r}")


async def _upsert_mark(
    conn: AsyncConnection, mark: Marked | Unmarked, incident_id: int, at: datetime, *, removed: bool
) -> bool:
    """Writes the row of `mark` (an adding, or with `removed` a removal kept for an adding delivered after it), made
    at `at`. A row there already changes only when it was removed before `at`: an adding then marks again, a removal
    moves the removal later. True when a row was written."""
    stmt = upsert(conn, MarkRow).values(
        team_id=mark.team_id,
        incident_id=incident_id,
        channel_id=mark.channel_id,
        ts=mark.ts,
        reaction=mark.reaction,
        kind=mark.kind,
        user_id=mark.user_id,
        marked_at=at,
        removed_at=at if removed else None,
    )
    again = (
        {"removed_at": stmt.excluded.removed_at}
        if removed
        else {"kind": stmt.excluded.kind, "marked_at": stmt.excluded.marked_at, "removed_at": None}
    )
    written = stmt.on_conflict_do_update(
        index_elements=_MARK_KEY,
        set_=again,
        where=and_(MarkRow.removed_at.is_not(None), MarkRow.removed_at < stmt.excluded.marked_at),
    ).returning(MarkRow.id)
    return (await conn.execute(written)).first() is not None

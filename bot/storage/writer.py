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
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.timeline import Capture, ChannelMessage, Marked, MessageDeleted, MessageEdited, Unmarked

from .database import Database
from .tables import MarkRow, MessageRow

log = logging.getLogger(__name__)

_Pending = tuple[Capture, "asyncio.Future[bool]"]


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


class TimelineWriter:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None

    async def write(self, capture: Capture) -> bool:
        """Store the capture; returns once it is committed. True when it changed something (a new mark, a
        mark removed); raises when the database could not take it."""
        if self._queue is None or self._task is None or self._task.done():
            if self._queue is None:
                self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name="timeline-writer")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((capture, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            if not await self._commit(batch):
                # The database is down or locked: what queued up meanwhile would only wait to fail the same
                # way, so it fails now and its requests answer Slack at once (Slack delivers them again).
                waiting = []
                while not queue.empty():
                    waiting.append(queue.get_nowait())
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(OperationalError("database unavailable", None, Exception("unavailable")))

    async def _commit(self, batch: list[_Pending]) -> bool:
        """Commit the batch and resolve its futures; False when the database itself refused."""
        try:
            results = await self._apply([capture for capture, _ in batch])
        except Exception as error:  # the database refused: each request answers Slack with an error
            unavailable = isinstance(error, OperationalError | InterfaceError | OSError | TimeoutError)
            if len(batch) > 1 and not unavailable:
                # One bad capture must not fail the others: try each on its own. (Not when the database itself
                # is down or locked: then every one would fail again, one slow failure at a time.)
                for item in batch:
                    await self._commit([item])
                return True
            log.warning("could not store %d timeline capture(s): %s", len(batch), type(error).__name__)
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return not unavailable
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        return True

    async def _apply(self, captures: Sequence[Capture]) -> list[bool]:
        async with self._db.engine.begin() as conn:
            results: list[bool] = []
            inserts: dict[tuple[str, str], dict[str, Any]] = {}
            for capture in captures:
                if isinstance(capture, ChannelMessage):
                    inserts.setdefault((capture.channel_id, capture.ts), message_values(capture))
                    results.append(True)
                else:
                    results.append(await _apply_one(conn, capture))
            if inserts:
                # After the edits and deletions of this batch: those upsert, so the order does not matter.
                insert = _insert_for(conn)
                await conn.execute(
                    insert(MessageRow).on_conflict_do_nothing(index_elements=["channel_id", "ts"]),
                    list(inserts.values()),
                )
            return results


def _insert_for(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def _apply_one(conn: AsyncConnection, capture: Capture) -> bool:
    insert = _insert_for(conn)
    if isinstance(capture, MessageEdited):
        values = message_values(capture.message) | {
            "original_text": capture.previous_text,
            "edited_ts": capture.edited_ts,
            "edited_at": capture.edited_at,
        }
        stmt = insert(MessageRow).values(values)
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
        stmt = insert(MessageRow).values(message_values(capture.message) | {"deleted_at": capture.deleted_at})
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["channel_id", "ts"],
                set_={"deleted_at": func.coalesce(MessageRow.deleted_at, stmt.excluded.deleted_at)},
            )
        )
        return True
    if isinstance(capture, Marked):
        stmt = (
            insert(MarkRow)
            .values(
                team_id=capture.team_id,
                incident_id=capture.incident_id,
                channel_id=capture.channel_id,
                ts=capture.ts,
                reaction=capture.reaction,
                kind=capture.kind,
                user_id=capture.user_id,
                marked_at=capture.at,
            )
            .on_conflict_do_nothing(index_elements=["channel_id", "ts", "reaction", "user_id"])
            .returning(MarkRow.id)
        )
        return (await conn.execute(stmt)).first() is not None
    if isinstance(capture, Unmarked):
        result = await conn.execute(
            delete(MarkRow).where(
                and_(
                    MarkRow.channel_id == capture.channel_id,
                    MarkRow.ts == capture.ts,
                    MarkRow.reaction == capture.reaction,
                    MarkRow.user_id == capture.user_id,
                )
            )
        )
        return bool(result.rowcount)
    raise TypeError(f"not a timeline capture: {capture!r}")

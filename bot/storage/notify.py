"""Telling every replica at once that a channel has become an incident channel.

The hot path caches "this channel is not an incident channel" (`IncidentChannels` in bot/services/timeline.py), so
that a message in an ordinary channel costs no database round trip. A channel another replica has just opened must
not stay hidden behind that cache, so whoever records an incident's channel tells the others, and a cached miss is
believed only while nothing says otherwise:

- PostgreSQL: the transaction that records the channel also sends, on the channel `incident_bot_channels`, the
  payload `{"team_id": "T…", "channel_id": "C…", "incident_id": 12}` (`announce_channel`; the server delivers it
  at commit, and only if the transaction commits). Every replica LISTENs on a dedicated asyncpg connection
  (`ChannelListener`), checked every `HEARTBEAT_SECONDS` and opened again as soon as it drops. A notice makes the
  replica remember the channel at once. While the connection is down the replica caches no miss at all, and when it
  is open again every miss cached before is forgotten (a notice may have been missed in between).
- SQLite (replicas on one machine share the file): the replica that recorded the channel appends a line to
  `<database>.channels` after the commit (`SharedFileStamp`); a cached miss is believed only while that file has
  not grown since the lookup began (one `stat` per cached miss, no database).

A cached miss also expires after a short TTL whatever happens (the floor, for what neither can see: a PostgreSQL
connection that is broken but not yet known to be). Nothing here connects or reads the environment at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CHANNEL = "incident_bot_channels"  # the PostgreSQL NOTIFY channel (per database: replicas of other bots never hear it)
APPLICATION_NAME = "incident-bot channel notices"  # how the listening connections show in pg_stat_activity

Heard = Callable[[str, str, int], None]  # (team_id, channel_id, incident_id): this channel is an incident's now
Gap = Callable[[], None]  # notices may have been missed: forget every cached miss


def notice(team_id: str, channel_id: str, incident_id: int) -> str:
    """The NOTIFY payload."""
    return json.dumps({"team_id": team_id, "channel_id": channel_id, "incident_id": incident_id})


def parse_notice(payload: str) -> tuple[str, str, int] | None:
    """(team_id, channel_id, incident_id) from a NOTIFY payload; None if it is not one of ours."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    team, channel, incident = data.get("team_id"), data.get("channel_id"), data.get("incident_id")
    if not (isinstance(team, str) and isinstance(channel, str) and channel and type(incident) is int):
        return None
    return team, channel, incident


async def announce_channel(session: AsyncSession, team_id: str, channel_id: str, incident_id: int) -> None:
    """Call inside the transaction that records an incident's channel: on PostgreSQL every replica hears of it when
    (and only if) that transaction commits. Nothing on SQLite (see `ChannelWatch.opened`)."""
    bind = session.bind
    if bind is None or bind.dialect.name != "postgresql":
        return
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL, "payload": notice(team_id, channel_id, incident_id)},
    )


class ChannelWatch(Protocol):
    def stamp(self) -> Hashable | None:
        """What a cached miss must still match to be believed: taken before a lookup, compared on every use. None:
        nothing may be cached now (the watch cannot see other replicas' channels at the moment)."""
        ...

    def opened(self, team_id: str, channel_id: str, incident_id: int) -> None:
        """This replica has committed an incident's channel (after `announce_channel`, after the commit)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def open_channel_watch(database_url: str, heard: Heard, gap: Gap) -> ChannelWatch:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            return SoleReplica()
        return SharedFileStamp(Path(path))
    return ChannelListener(url.set(drivername="postgresql").render_as_string(hide_password=False), heard, gap)


class SoleReplica:
    """An in-memory database has one process: its own openings are all there is to know."""

    def stamp(self) -> Hashable | None:
        return 0

    def opened(self, team_id: str, channel_id: str, incident_id: int) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class SharedFileStamp:
    """SQLite: `<database>.channels`, one line appended per incident channel recorded by any replica. Appends are
    atomic and the file only grows, so its size changes with every one (its time might not, at coarse clock
    resolution)."""

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".channels")

    def stamp(self) -> Hashable | None:
        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            return (0, 0)
        except OSError:
            return None  # cannot tell: cache nothing
        return (status.st_ino, status.st_size)

    def opened(self, team_id: str, channel_id: str, incident_id: int) -> None:
        try:
            with self._path.open("a", encoding="utf-8") as handle:
                handle.write(f"{team_id} {channel_id} {incident_id}\n")
        except OSError as e:  # the others fall back on the TTL
            log.warning("could not record the new incident channel in %s: %s", self._path, e)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


_CONNECTION_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class ChannelListener:
    """PostgreSQL: LISTEN incident_bot_channels on a connection of its own, kept open (checked every
    HEARTBEAT_SECONDS, opened again at once when it drops, with a growing pause while the server refuses)."""

    HEARTBEAT_SECONDS = 2.0
    CONNECT_SECONDS = 5.0
    MAX_PAUSE = 10.0

    def __init__(self, dsn: str, heard: Heard, gap: Gap) -> None:
        self._dsn = dsn
        self._heard = heard
        self._gap = gap
        self._conn: asyncpg.Connection | None = None
        self._generation = 0  # counts the connections opened: a miss cached on an earlier one is not believed
        self._listening = False
        self._first = asyncio.Event()  # the first attempt to listen is over (listening or not)
        self._task: asyncio.Task[None] | None = None

    def stamp(self) -> Hashable | None:
        return self._generation if self._listening else None

    def opened(self, team_id: str, channel_id: str, incident_id: int) -> None:
        return None  # announced by NOTIFY in the transaction that recorded it

    @property
    def listening(self) -> bool:
        return self._listening

    async def start(self) -> None:
        """Start listening; returns once the first connection is open (or could not be, within CONNECT_SECONDS: it
        is tried again in the background, and misses are not cached meanwhile)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="channel-listener")
        await self._first.wait()

    async def _listen_forever(self) -> None:
        pause = 0.5
        while True:
            try:
                await self._listen_once()
                pause = 0.5  # it was listening: reconnect at once
            except _CONNECTION_FAILURES as e:
                log.warning("the channel notices' connection failed (%s); listening again", type(e).__name__)
            except Exception:
                log.exception("listening for channel notices failed; listening again")
            finally:
                self._first.set()
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.MAX_PAUSE)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(
            self._dsn, timeout=self.CONNECT_SECONDS, server_settings={"application_name": APPLICATION_NAME}
        )
        self._conn = conn
        lost = asyncio.Event()

        def on_lost(_: Any) -> None:
            lost.set()

        try:
            conn.add_termination_listener(on_lost)
            await conn.add_listener(CHANNEL, self._on_notice)
            self._generation += 1
            self._listening = True
            self._gap()  # a notice sent while this replica was not listening was missed
            self._first.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.HEARTBEAT_SECONDS)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=self.CONNECT_SECONDS)
            log.warning("the channel notices' connection was closed; listening again")
        finally:
            self._listening = False
            self._conn = None
            conn.terminate()

    def _on_notice(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        found = parse_notice(payload)
        if found is None:
            log.warning("ignored a malformed notice on %s", CHANNEL)
            self._gap()
            return
        self._heard(*found)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._listening = False


__all__ = [
    "APPLICATION_NAME",
    "CHANNEL",
    "ChannelListener",
    "ChannelWatch",
    "SharedFileStamp",
    "SoleReplica",
    "announce_channel",
    "notice",
    "open_channel_watch",
    "parse_notice",
]

"""The root-cause engine's own process: every incident's evidence state, the runbook index, and all of their CPU.

Why a process and not a thread: the event loop answers Slack between many short system calls, and each of those
gives up the GIL; with an engine thread busy, the loop waits up to the interpreter's switch interval (5 ms) to get
it back after every one. Measured with the engine in a thread, that made the loop stall 80-130 ms under ingest
(and 2-5 ms without the engine). In a process of its own the engine uses the other core and the loop never waits
for it.

The process reads the database itself: a job names an incident, and the process brings that incident's state up to
date by reading on from the last revision it saw (`TimelineStore.said_since`, on its own connection), then ranks.
Nothing but the job and its answer (the top suggestions, picklable) crosses between the processes, and the event
loop only awaits the answer. States are kept for the `KEPT_INCIDENTS` most recently ranked incidents; one missing
(a new process, an incident ranked after a long while, runbooks that changed) is rebuilt the same way, from
revision 0. If the process dies, the next job starts a new one, which rebuilds what it is asked for.

    engine = EngineProcess(Path("runbooks"), "sqlite+aiosqlite:///incident-bot.db")
    ranking = await engine.rank(incident_id, top=10)     # ranking.suggestions, ranking.threshold
    await engine.close()
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.slack.markup import from_slack
from bot.storage import Database, Said, Seen
from bot.suggestions.resemblance import Bag, Resemblances, due, fingerprint

from .errors import UserError

if TYPE_CHECKING:
    from bot.suggestions.engine import Learned, Session, Suggestion, SuggestionEngine
    from bot.suggestions.model import Runbook

log = logging.getLogger(__name__)

# The key the incident's title is held under in its evidence (message keys are "channel/ts" or "entry/id").
TITLE = "title"
# Rows read from the database at a time while catching up.
READ_BATCH = 2000
# Incidents whose evidence is kept in memory, and their messages in all (about 2 KB each): beyond either, the least
# recently ranked incident's evidence is dropped (it is rebuilt from the database when it is needed again).
KEPT_INCIDENTS = 64
KEPT_MESSAGES = 200_000
# Jobs that may wait for the process at a time; more wait their turn before queuing (each incident has at most one
# re-rank at a time, so this bounds the work queued, not the incidents served).
QUEUE = 16
# How long a caller waits for one job (a ranking takes milliseconds; rebuilding a 30,000-message incident, seconds).
JOB_SECONDS = 30.0


class EngineUnavailable(UserError):
    """The engine's process did not answer in time, or died twice in a row: nothing is ranked now."""

    def __init__(self) -> None:
        super().__init__(
            "The root-cause engine is not answering right now (it may be rebuilding a large incident, or the "
            "database is slow). Nothing was lost; try again in a minute."
        )


@dataclass(frozen=True, slots=True)
class Ranking:
    suggestions: tuple[Suggestion, ...]
    threshold: float


# ------------------------------------------------------------------------------------------- in the process


@dataclass(frozen=True, slots=True)
class Alike:
    """A resolved incident whose evidence the incident's resembles strongly enough to say so
    (bot/suggestions/resemblance.py): the distinctive terms both said, as written in this incident."""

    incident_id: int
    score: float
    margin: float
    shared: tuple[str, ...]


@dataclass(slots=True)
class Evidence:
    """An incident's evidence state: the engine session, its bag of terms (for resemblance to past incidents), and
    how far the database was read into them."""

    engine: SuggestionEngine
    session: Session
    seen: Seen = field(default_factory=Seen)
    bag: Bag = field(default_factory=Bag)
    checked: tuple[int, Resemblances] | None = None  # messages when last compared with past incidents, and their index

    def apply(self, said: Sequence[Said]) -> None:
        """New, edited and deleted messages and notes, in revision order. They are stored in Slack's markup
        (`disk &gt; 95% full`, `<@U1>`): the engine reads them as people typed them (`disk > 95% full`, `@U1`)."""
        for change in said:
            if change.gone:
                self.session.remove(change.key, version=change.revision)
                self.bag.remove(change.key)
            else:
                text = from_slack(change.text)
                self.session.put(change.key, text, at=change.at.timestamp(), version=change.revision)
                self.bag.put(change.key, text)


class _Engine:
    """What the process holds: the runbook library, a database connection, and the incidents' evidence."""

    def __init__(self, runbooks: str, database_url: str) -> None:
        from bot.suggestions.engine import RunbookLibrary

        self.library = RunbookLibrary(Path(runbooks))
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.db: Database | None = None
        self.evidence: OrderedDict[int, Evidence] = OrderedDict()
        self.past: dict[str, tuple[tuple[int, Any], Resemblances]] = {}  # workspace -> (version, its index)

    def _evidence(self, incident_id: int, title: str | None) -> Evidence:
        """The incident's evidence, brought up to date with the database (and its title, a hypothesis said before
        everything else)."""
        engine = self.library.engine()
        evidence = self.evidence.get(incident_id)
        if evidence is None or evidence.engine is not engine:  # new here, or the runbooks changed: rebuild
            evidence = Evidence(engine, engine.session())
        self.evidence[incident_id] = evidence
        self.evidence.move_to_end(incident_id)
        self.loop.run_until_complete(self._catch_up(incident_id, evidence))
        if title is not None:
            evidence.session.put(TITLE, title, at=0.0, version=0, hypothesis=True)
            evidence.bag.put(TITLE, title)
        self._make_room()
        return evidence

    def rank(self, incident_id: int, top: int, title: str | None = None, learned: Learned | None = None) -> Ranking:
        evidence = self._evidence(incident_id, title)
        return Ranking(tuple(evidence.session.rank(top, learned)), evidence.engine.threshold)

    def resemble(self, incident_id: int, team_id: str, title: str | None = None) -> Alike | None:
        """The workspace's resolved incident this one's evidence resembles strongly enough to say so, or None."""
        evidence = self._evidence(incident_id, title)
        index = self.loop.run_until_complete(self._past(team_id))
        said = len(evidence.bag) - (1 if title is not None else 0)
        if evidence.checked is not None and evidence.checked[1] is index and not due(said, evidence.checked[0]):
            return None  # checked against this index at about this length: nothing to add
        evidence.checked = (said, index)
        found = index.best(evidence.bag.counts, said, besides=incident_id)
        if found is None:
            return None
        return Alike(found.incident_id, found.score, found.margin, evidence.bag.as_written(found.shared))

    def fingerprint(self, incident_id: int, title: str) -> tuple[dict[str, int], int]:
        """What is kept of a resolved incident's evidence, read from the database from the start, and how many
        messages it was made from (its evidence state, if kept, is not touched: it is read apart)."""
        bag = Bag()
        bag.put(TITLE, title)

        def apply(said: Sequence[Said]) -> None:
            for change in said:
                if change.gone:
                    bag.remove(change.key)
                else:
                    bag.put(change.key, from_slack(change.text))

        self.loop.run_until_complete(self._read(incident_id, Seen(), apply))
        return fingerprint(bag.counts), len(bag) - 1

    async def _past(self, team_id: str) -> Resemblances:
        """The index of the workspace's resolved incidents' fingerprints, read again when one was written."""
        if self.db is None:
            self.db = Database(self.database_url)
        async with self.db.unit() as stores:
            version = await stores.fingerprints.version(team_id)
            held = self.past.get(team_id)
            if held is not None and held[0] == version:
                return held[1]
            index = Resemblances(await stores.fingerprints.resolved(team_id))
        self.past[team_id] = (version, index)
        return index

    def _make_room(self) -> None:
        """Drop the least recently ranked incidents' evidence beyond KEPT_INCIDENTS or KEPT_MESSAGES (never the
        one just ranked)."""
        held = sum(e.session.keys_held for e in self.evidence.values())  # deleted messages count too
        while len(self.evidence) > 1 and (len(self.evidence) > KEPT_INCIDENTS or held > KEPT_MESSAGES):
            _, dropped = self.evidence.popitem(last=False)
            held -= dropped.session.keys_held

    async def _catch_up(self, incident_id: int, evidence: Evidence) -> None:
        evidence.seen = await self._read(incident_id, evidence.seen, evidence.apply)

    async def _read(self, incident_id: int, seen: Seen, apply: Callable[[Sequence[Said]], None]) -> Seen:
        """What was said in the incident after `seen`, in batches, handed to `apply`; returns how far it read."""
        if self.db is None:
            self.db = Database(self.database_url)
        while True:
            async with self.db.timeline() as store:
                said, seen = await store.said_since(incident_id, seen, READ_BATCH)
            apply(said)
            if len(said) < READ_BATCH:
                return seen

    def forget(self, incident_id: int) -> None:
        self.evidence.pop(incident_id, None)

    def close(self) -> None:
        if self.db is not None:
            self.loop.run_until_complete(self.db.dispose())
            self.db = None
        self.loop.close()

    def runbook(self, title: str) -> Runbook | None:
        return next((r for r in self.library.engine().runbooks if r.title == title), None)


_engine: _Engine | None = None


def _start(runbooks: str, database_url: str) -> None:
    """The process's initializer: index the runbooks now, not on the first message."""
    global _engine
    _watch_the_bot()
    _engine = _Engine(runbooks, database_url)
    _engine.library.engine()


def _watch_the_bot() -> None:
    """End this process when the bot's process ends, however it ends (a SIGKILL included): the executor's worker
    would otherwise wait for work forever, and keep its fork server alive with it."""
    bot = multiprocessing.parent_process()
    if bot is None:
        return

    def watch() -> None:
        bot.join()
        os._exit(0)

    threading.Thread(target=watch, name="watch-the-bot", daemon=True).start()


def _call(method: str, *args: Any) -> Any:
    assert _engine is not None, "the engine process was not started"
    return getattr(_engine, method)(*args)


# ----------------------------------------------------------------------------------------- in the bot's process


class EngineProcess:
    """The bot's handle on the engine's process (started on first use)."""

    def __init__(self, runbooks: Path, database_url: str, queue: int = QUEUE) -> None:
        self._runbooks = str(runbooks)
        self._database_url = database_url
        self._pool: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(queue)
        self._starting = asyncio.Lock()
        self._closed = False
        self.jobs = 0

    async def start(self) -> None:
        """Start the process now (it indexes the runbooks while the bot gets ready)."""
        await self._executor()

    async def _executor(self) -> ProcessPoolExecutor:
        """The pool, with its process started. Starting one waits for the fork server (which, the first time,
        starts and imports the engine: most of a second), so it is done in a thread, never on the event loop."""
        async with self._starting:
            if self._closed:
                raise RuntimeError("the engine process was closed")
            if self._pool is None:
                pool = self._new_pool()
                await asyncio.to_thread(lambda: pool.submit(_call, "forget", 0))
                self._pool = pool
            return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        # Not fork: the bot's process has threads (database drivers, the executor's own), and a fork copies
        # their locks in whatever state they are. The fork server forks from a clean process that has only
        # imported the engine, which is as quick as a fork.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            context.set_forkserver_preload(["bot.services.ranking", "bot.suggestions.engine"])
        return ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start, initargs=(self._runbooks, self._database_url)
        )

    @property
    def pid(self) -> int | None:
        """The process's id, while it runs."""
        processes = getattr(self._pool, "_processes", None) or {}
        return next(iter(processes), None)

    async def _run(self, method: str, *args: Any) -> Any:
        """Run a job in the process, given up after JOB_SECONDS (a database that does not answer the process must
        not hold its callers for ever; the job itself finishes or fails there)."""
        try:
            async with self._slots, asyncio.timeout(JOB_SECONDS):
                self.jobs += 1
                loop = asyncio.get_running_loop()
                try:
                    return await loop.run_in_executor(await self._executor(), _call, method, *args)
                except BrokenProcessPool:
                    log.warning("the root-cause engine's process died; starting a new one")
                    self._pool = None
                    return await loop.run_in_executor(await self._executor(), _call, method, *args)
        except (TimeoutError, BrokenProcessPool) as error:
            log.warning("the root-cause engine did not answer (%s)", type(error).__name__)
            raise EngineUnavailable() from error

    async def rank(
        self, incident_id: int, top: int, *, title: str | None = None, learned: Learned | None = None
    ) -> Ranking:
        """The incident's ranking; its `title` counts as a hypothesis, and `learned` is what people of its workspace
        decided about root causes in earlier incidents (see `Session.rank`)."""
        ranking: Ranking = await self._run("rank", incident_id, top, title, dict(learned or {}))
        return ranking

    async def resemble(self, incident_id: int, team_id: str, *, title: str | None = None) -> Alike | None:
        """The resolved incident of the workspace whose evidence the incident's resembles (see `Alike`), or None."""
        alike: Alike | None = await self._run("resemble", incident_id, team_id, title)
        return alike

    async def fingerprint(self, incident_id: int, title: str) -> tuple[dict[str, int], int]:
        """The resolved incident's fingerprint, from everything said in it, and how many messages that was."""
        found: tuple[dict[str, int], int] = await self._run("fingerprint", incident_id, title)
        return found

    async def runbook(self, title: str) -> Runbook | None:
        runbook: Runbook | None = await self._run("runbook", title)
        return runbook

    async def forget(self, incident_id: int) -> None:
        await self._run("forget", incident_id)

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

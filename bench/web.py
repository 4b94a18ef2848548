"""Web view benchmark (issue 14): the storage queries of the web pages (bot/storage/web.py) at 10,000 incidents and
1,000,000 captured messages.

It makes a fresh database (PostgreSQL: a new database on the TEST_POSTGRES_URL server, dropped at the end unless
--keep; SQLite: a file in a temporary folder), migrates it, fills it with synthetic, seeded data written in bulk
(PostgreSQL: COPY; SQLite: executemany), then times each query `--runs` times (200) through `WebStore`, each run in
its own session, as a page request would, and reports p50/p95/max:

- first page: the list, no filter, newest first (50 a page), with its total;
- filtered: resolved sev2 incidents of the last 6 months;
- root cause: incidents whose accepted root cause is one of the 30 (a different one each run);
- search rare: a word said in about 3 messages of the whole database (a different word each run);
- search common: a word in about 5% of all messages (one of four, in turn), so in nearly every incident;
- last page: the last page of the whole list, from the cursor the walk through all pages ended with;
- trends: 12 months of trends (medians and p90 per month, severities, root causes, runbooks).

The viewer is a member of 20 of the private incidents' channels (10% of incidents are private). The data: incidents
over the last two years (5% of them in a second workspace), 10 to 190 messages each (100 on average) of 8 to 20
words from a 5,000-word Zipf-like vocabulary, 2% of them deleted, and an accepted root cause for half of them.

    python bench/web.py                                  # PostgreSQL, 10,000 incidents / 1,000,000 messages
    python bench/web.py --database sqlite                # SQLite, 2,000 / 200,000 unless told otherwise
    python bench/web.py --incidents 1000 --messages 100000 --runs 50 --explain --json

Target: p95 <= 200 ms on PostgreSQL for each query.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bot.storage import Database
from bot.storage.web import IncidentFilter, WebStore

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEAM, OTHER_TEAM = "T1", "T2"
SEVERITIES = (("sev1", 0.1), ("sev2", 0.3), ("sev3", 0.6))
COMMON_WORDS = ("timeout", "rollback", "saturated", "paging")  # each in about 5% of messages
COMMON_SHARE = 0.05
RARE_WORDS = 200  # each said in 3 messages
ROOT_CAUSES = 30
PAGE = 50


@dataclass(frozen=True)
class Data:
    incidents: list[tuple[Any, ...]]
    messages_count: int
    suggestions: list[tuple[Any, ...]]
    rare: list[str]
    root_causes: list[str]
    now: datetime


def word_list(rng: random.Random, n: int, lengths: tuple[int, int] = (3, 10)) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(*lengths))))
    return sorted(words - set(COMMON_WORDS))


def incidents_of(rng: random.Random, n: int, now: datetime) -> list[tuple[Any, ...]]:
    """Rows of `incidents`: (id, team, public_id, year, number, title, severity, status, channel, opened_at,
    acknowledged_at, mitigated_at, resolved_at, private)."""
    rows: list[tuple[Any, ...]] = []
    span = timedelta(days=730).total_seconds()
    titles = word_list(rng, 400, (4, 9))
    for i in range(1, n + 1):
        opened = now - timedelta(seconds=span * (1 - i / n) + rng.random() * 3600)
        team = OTHER_TEAM if rng.random() < 0.05 else TEAM
        severity = rng.choices([s for s, _ in SEVERITIES], [w for _, w in SEVERITIES])[0]
        ack = opened + timedelta(seconds=rng.lognormvariate(5.5, 1.0))
        mitigated = ack + timedelta(seconds=rng.lognormvariate(7.5, 1.0))
        resolved = mitigated + timedelta(seconds=rng.lognormvariate(9.0, 1.0))
        recent = now - opened < timedelta(days=3)
        status = rng.choice(["open", "acknowledged", "mitigated"]) if recent or rng.random() < 0.02 else "resolved"
        reached = ["open", "acknowledged", "mitigated", "resolved"].index(status)
        milestones = [at if reached > n else None for n, at in enumerate((ack, mitigated, resolved))]
        title = " ".join(rng.sample(titles, 3)).capitalize()
        rows.append(
            (
                i,
                team,
                f"INC-{opened.year}-{i:05d}",
                opened.year,
                i,
                title,
                severity,
                status,
                f"C{i:07d}",
                opened,
                *milestones,
                rng.random() < 0.1,
            )
        )
    return rows


def messages_of(
    rng: random.Random, incidents: list[tuple[Any, ...]], total: int, rare: list[str]
) -> Iterator[tuple[Any, ...]]:
    """Rows of `messages`: (id, team, incident_id, channel, ts, user, text, posted_at, deleted_at)."""
    vocabulary = word_list(rng, 5000)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    cumulative = list(_accumulate(weights))
    mean = total / len(incidents)
    counts = [rng.randint(max(1, int(mean / 10)), max(1, int(mean * 1.9))) for _ in incidents]
    scale = total / sum(counts)
    counts = [max(1, int(c * scale)) for c in counts]
    counts[-1] = max(1, counts[-1] + total - sum(counts))
    rare_at = {rng.randrange(total): word for word in rare for _ in range(3)}
    message_id = 0
    for incident, count in zip(incidents, counts, strict=True):
        opened: datetime = incident[9]
        for k in range(count):
            words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(8, 20))
            for common in COMMON_WORDS:
                if rng.random() < COMMON_SHARE:
                    words[rng.randrange(len(words))] = common
            if message_id in rare_at:
                words.append(rare_at[message_id])
            message_id += 1
            posted = opened + timedelta(seconds=30 * k + 1)
            deleted = posted + timedelta(minutes=1) if rng.random() < 0.02 else None
            yield (
                message_id,
                incident[1],
                incident[0],
                incident[8],
                f"{posted.timestamp():.6f}",
                f"U{rng.randrange(300):04d}",
                " ".join(words),
                posted,
                deleted,
            )


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def suggestions_of(rng: random.Random, incidents: list[tuple[Any, ...]], causes: list[str]) -> list[tuple[Any, ...]]:
    """Rows of `suggestions`: (team, incident_id, runbook, runbook_path, error, root_cause, state, posted_at)."""
    rows = []
    for incident in incidents:
        if rng.random() < 0.6:
            cause = causes[min(int(rng.paretovariate(1.0)) - 1, len(causes) - 1)]
            runbook = f"Runbook {causes.index(cause) // 3}"
            state = "accepted" if rng.random() < 0.85 else "dismissed"
            rows.append((incident[1], incident[0], runbook, f"{runbook}.md", "Error", cause, state, incident[9]))
    return rows


def generate(incidents: int, messages: int) -> tuple[Data, Iterator[tuple[Any, ...]]]:
    rng = random.Random(14)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = incidents_of(rng, incidents, now)
    rare = [f"zq{w}" for w in word_list(rng, RARE_WORDS, (6, 8))]
    causes = [f"Cause {i:02d}" for i in range(ROOT_CAUSES)]
    data = Data(rows, messages, suggestions_of(rng, rows, causes), rare, causes, now)
    return data, messages_of(random.Random(15), rows, messages, rare)


# -- filling -----------------------------------------------------------------------------------------------------------

INCIDENT_COLUMNS = [
    *("id", "team_id", "public_id", "year", "number", "title", "severity", "status", "channel_id"),
    *("opened_at", "acknowledged_at", "mitigated_at", "resolved_at", "private"),
]
MESSAGE_COLUMNS = ["id", "team_id", "incident_id", "channel_id", "ts", "user_id", "text", "posted_at", "deleted_at"]
SUGGESTION_COLUMNS = ["team_id", "incident_id", "runbook", "runbook_path", "error", "root_cause", "state", "posted_at"]


async def fill_postgres(url: str, data: Data, messages: Iterator[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        extra = ("description", "opener_id", "updated_at")
        await conn.copy_records_to_table(
            "incidents",
            records=[(*row, "", "U0001", row[9]) for row in data.incidents],
            columns=[*INCIDENT_COLUMNS, *extra],
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('incidents', 'id'), $1)", len(data.incidents))
        columns = [*MESSAGE_COLUMNS, "is_integration"]
        batch: list[tuple[Any, ...]] = []
        for message in messages:
            batch.append((*message, False))
            if len(batch) == 50_000:
                await conn.copy_records_to_table("messages", records=batch, columns=columns)
                batch = []
        if batch:
            await conn.copy_records_to_table("messages", records=batch, columns=columns)
        await conn.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), $1)", data.messages_count)
        await conn.copy_records_to_table(
            "suggestions",
            records=[(*row, 0.9, "", "[]", "[]", "") for row in data.suggestions],
            columns=[*SUGGESTION_COLUMNS, "score", "citation", "evidence", "alternatives", "remediation"],
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def fill_sqlite(path: Path, data: Data, messages: Iterator[tuple[Any, ...]]) -> None:
    def stamp(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        columns = [*INCIDENT_COLUMNS, "description", "opener_id", "updated_at"]
        conn.executemany(
            f"INSERT INTO incidents ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [(*row[:9], *(stamp(v) for v in row[9:13]), row[13], "", "U0001", stamp(row[9])) for row in data.incidents],
        )
        columns = [*MESSAGE_COLUMNS, "is_integration"]
        insert = f"INSERT INTO messages ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[tuple[Any, ...]] = []
        for m in messages:
            batch.append((*m[:7], stamp(m[7]), stamp(m[8]), False))
            if len(batch) == 50_000:
                conn.executemany(insert, batch)
                batch = []
        conn.executemany(insert, batch)
        columns = [*SUGGESTION_COLUMNS, "score", "citation", "evidence", "alternatives", "remediation"]
        conn.executemany(
            f"INSERT INTO suggestions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [(*row[:7], stamp(row[7]), 0.9, "", "[]", "[]", "") for row in data.suggestions],
        )
        conn.commit()
        conn.execute("ANALYZE")
    finally:
        conn.close()


# -- measuring ---------------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    samples: list[float]
    note: str = ""

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        return {
            "query": self.name,
            "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(ordered[-1], 1),
            "note": self.note,
        }


async def timed(runs: int, work: Callable[[int], Awaitable[Any]]) -> tuple[list[float], Any]:
    samples, last = [], None
    for run in range(runs):
        started = time.perf_counter()
        last = await work(run)
        samples.append((time.perf_counter() - started) * 1000)
    return samples, last


async def measure(db: Database, data: Data, runs: int, explain: bool) -> list[Timing]:
    private_channels = [row[8] for row in data.incidents if row[13] and row[1] == TEAM]
    visible = frozenset(private_channels[:: max(1, len(private_channels) // 20)][:20])
    since = (data.now - timedelta(days=365)).date().replace(day=1)
    until = data.now.date() - timedelta(days=1)

    async def listing(filters: IncidentFilter, cursor: str | None = None) -> Any:
        async with db.session() as session:
            return await WebStore(session).incidents(TEAM, filters, visible_private=visible, cursor=cursor, limit=PAGE)

    if explain:
        await show_plans(db, listing, data)

    out = []
    samples, page = await timed(runs, lambda _: listing(IncidentFilter()))
    out.append(Timing("first page", samples, f"{page.total:,} visible incidents"))

    recent = IncidentFilter(status="resolved", severity="sev2", opened_from=data.now.date() - timedelta(days=182))
    samples, page = await timed(runs, lambda _: listing(recent))
    out.append(Timing("filtered (resolved, sev2, last 6 months)", samples, f"{page.total:,} match"))

    samples, page = await timed(
        runs, lambda run: listing(IncidentFilter(root_cause=data.root_causes[run % len(data.root_causes)]))
    )
    out.append(Timing("root cause", samples, "one of 30 accepted root causes in turn"))

    totals: list[int] = []

    async def rare(run: int) -> Any:
        page = await listing(IncidentFilter(text=data.rare[run % len(data.rare)]))
        totals.append(page.total)
        return page

    samples, _ = await timed(runs, rare)
    out.append(Timing("search, a rare word", samples, f"{statistics.mean(totals):.1f} incidents match on average"))

    totals.clear()
    capped: list[bool] = []

    async def common(run: int) -> Any:
        page = await listing(IncidentFilter(text=COMMON_WORDS[run % len(COMMON_WORDS)]))
        totals.append(page.total)
        capped.append(page.total_capped)
        return page

    samples, _ = await timed(runs, common)
    more = "more than " if all(capped) else ""
    out.append(
        Timing(
            "search, a common word",
            samples,
            f"in ~{COMMON_SHARE:.0%} of messages; {more}{statistics.mean(totals):,.0f} incidents match",
        )
    )

    started = time.perf_counter()
    cursor, pages = None, 0
    while True:
        page = await listing(IncidentFilter(), cursor)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    walk_s = time.perf_counter() - started
    samples, page = await timed(runs, lambda _: listing(IncidentFilter(), cursor))
    out.append(Timing("last page (by cursor)", samples, f"page {pages}; walking all {pages} pages took {walk_s:.1f} s"))

    async def trends(_: int) -> Any:
        async with db.session() as session:
            return await WebStore(session).trends(TEAM, visible_private=visible, since=since, until=until)

    samples, figures = await timed(runs, trends)
    out.append(Timing("trends, 12 months", samples, f"{len(figures.months)} months"))
    return out


async def show_plans(db: Database, listing: Callable[..., Awaitable[Any]], data: Data) -> None:
    """EXPLAIN ANALYZE of every statement a search runs (PostgreSQL), to see that the GIN indexes are used."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        for text in (data.rare[0], COMMON_WORDS[0]):
            statements.clear()
            await listing(IncidentFilter(text=text))
            for statement, parameters in list(statements):
                if db.engine.dialect.name == "postgresql":
                    plan = "EXPLAIN (ANALYZE, BUFFERS) " + statement
                else:
                    plan = "EXPLAIN QUERY PLAN " + statement
                async with db.engine.connect() as conn:
                    rows = (await conn.exec_driver_sql(plan, parameters)).all()
                print(f"-- search {text!r}:\n{statement}\n" + "\n".join(str(r[-1]) for r in rows) + "\n")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)


# -- main --------------------------------------------------------------------------------------------------------------


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    data, messages = generate(args.incidents, args.messages)
    result: dict[str, Any] = {
        "database": args.database,
        "incidents": args.incidents,
        "messages": args.messages,
        "runs": args.runs,
    }
    if args.database == "postgresql":
        admin_url = args.url or os.environ.get("TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
        name = args.reuse or f"ib_bench_web_{uuid.uuid4().hex[:8]}"
        if not args.reuse:
            await admin(admin_url, f'CREATE DATABASE "{name}"')
        plain = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        url = make_url(plain).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        try:
            db = Database(url)
            if not args.reuse:
                await db.upgrade()
                await fill_postgres(plain, data, messages)
            result["fill_s"] = round(time.perf_counter() - started, 1)
            result["queries"] = [t.figures() for t in await measure(db, data, args.runs, args.explain)]
            await db.dispose()
        finally:
            if args.keep or args.reuse:
                print(f"kept database {name}")
            else:
                await admin(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')
        return result
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "web.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.upgrade()
        await db.dispose()
        fill_sqlite(path, data, messages)
        result["fill_s"] = round(time.perf_counter() - started, 1)
        db = Database(f"sqlite+aiosqlite:///{path}")
        result["queries"] = [t.figures() for t in await measure(db, data, args.runs, args.explain)]
        await db.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--url", help="PostgreSQL server to make the database on (default: TEST_POSTGRES_URL)")
    parser.add_argument("--incidents", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--explain", action="store_true", help="print the plans of a search's statements")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database (its name is printed)")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a database kept by --keep (same sizes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    big = args.database == "postgresql"
    args.incidents = args.incidents or (10_000 if big else 2_000)
    args.messages = args.messages or (1_000_000 if big else 200_000)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['database']}: {result['incidents']:,} incidents, {result['messages']:,} messages "
        f"(made and filled in {result['fill_s']} s); {result['runs']} runs each"
    )
    print(f"{'query':<42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  note")
    for q in result["queries"]:
        print(f"{q['query']:<42} {q['p50_ms']:>8} {q['p95_ms']:>8} {q['max_ms']:>8}  {q['note']}")


if __name__ == "__main__":
    main()

"""One replica of the scheduler, as its own process, for tests/scenarios/test_scheduler_replicas.py:

    python -m tests.scenarios.scheduler_replica <database url> [--hang-after N] [--wait-for-peer] ...

It runs jobs of kind "record" with the real Scheduler (system clock, its own boot id and liveness lock). Each run
prints `started <key>` (its external effect: at least once), then records `job ran <key>` in the audit log in the
transaction that completes the job (its database effect: exactly once). It prints `ready <boot id>` once it polls,
`hanging <key>` when it stops mid-run on purpose (`--hang-after N`: every run after the N-th never finishes, so the
test can kill it with jobs claimed), and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from sqlalchemy import func, select

from bot.services.scheduler import JobRun, Scheduler
from bot.storage import AuditEntry, Database
from bot.storage.liveness import new_boot_id, open_liveness
from bot.storage.tables import JobRow

KIND = "record"
TEAM = "T-replicas"
ACTION = "job ran"


def say(line: str) -> None:
    print(line, flush=True)


async def main(args: argparse.Namespace) -> None:
    db = Database(args.database)
    liveness = open_liveness(args.database, new_boot_id())
    await liveness.start()
    scheduler = Scheduler(db, liveness, poll=args.poll, concurrency=args.concurrency)
    started = 0
    peer_seen = asyncio.Event()

    async def wait_for_peer() -> None:
        """Until another replica has claimed a job too: both are then running jobs at the same time."""
        while not peer_seen.is_set():
            async with db.session() as session:
                claimers = await session.scalar(select(func.count(JobRow.claimed_by.distinct())))
            if (claimers or 0) >= 2:
                peer_seen.set()
            else:
                await asyncio.sleep(args.poll)

    async def record(run: JobRun) -> None:
        nonlocal started
        started += 1
        say(f"started {run.key}")
        if args.wait_for_peer:
            await wait_for_peer()
        if args.hang_after is not None and started > args.hang_after:
            say(f"hanging {run.key}")
            await asyncio.Event().wait()
        await asyncio.sleep(args.delay)
        async with run.completing() as stores:
            entry = AuditEntry(actor_id=liveness.boot_id, action=ACTION, at=scheduler.clock.now(), new_value=run.key)
            await stores.incidents.audit(TEAM, None, entry)

    scheduler.register(KIND, record)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    scheduler.start()
    say(f"ready {liveness.boot_id}")
    await stop.wait()
    await scheduler.close(grace=5.0)
    await liveness.close()
    await db.dispose()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scheduler_replica")
    parser.add_argument("database")
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds each run takes before completing")
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--hang-after", type=int, default=None)
    parser.add_argument("--wait-for-peer", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))

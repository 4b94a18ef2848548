"""`incident-bot serve` killed with SIGKILL at each step of `/incident open`, then started again: exactly one
incident, one channel, one card, one announcement, and the opener told, whatever step it died at."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.config import load_config
from bot.emulator import Hold, SlackEmulator
from bot.storage import Database
from bot.storage.liveness import _LOCK_CLASS, _key
from tests.conftest import ROOT, People, environment, free_socket, serving, write_config

from .steps import incident_channels, run, wait_for_private
from .test_serve_process import wait_healthy


@asynccontextmanager
async def serving_process(
    emulator: SlackEmulator, env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`incident-bot serve` on a free port, the emulator delivering to it; killed (SIGKILL) at the end if alive."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    out = await asyncio.to_thread(log.open, "ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
        env={**os.environ, **env}, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", log)
        emulator.set_request_url(f"http://127.0.0.1:{port}/slack/events")
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
        out.close()


async def setup_finished(database_url: str) -> bool:
    db = Database(database_url)
    try:
        async with db.transaction() as store:
            return await store.unfinished_setups() == [] and await store.count() == 1
    finally:
        await db.dispose()


STEPS = {
    "after the incident is stored, before the channel exists": ("conversations.create", 1, False),
    "after the channel is created, before its id is stored": ("conversations.create", 1, True),
    "while inviting": ("conversations.invite", 1, True),
    "while setting the topic": ("conversations.setTopic", 1, True),
    "after the card is posted, before its ts is stored": ("chat.postMessage", 1, True),
    "while pinning the card": ("pins.add", 1, True),
    "after the announcement is posted, before it is stored": ("chat.postMessage", 2, True),
    "while telling the opener": ("response_url", 1, True),
}


def hold_step(emulator: SlackEmulator, method: str, nth: int, perform: bool) -> list[Hold]:
    if method == "response_url":
        return [emulator.hold_response_url()]
    return [emulator.hold(method, perform=perform and n == nth) for n in range(1, nth + 1)]


@pytest.mark.parametrize("step", list(STEPS))
async def test_a_bot_killed_at_any_step_of_opening_finishes_the_incident_once_after_a_restart(
    step: str, emulator: SlackEmulator, people: People, database_url: str, tmp_path: Path
) -> None:
    announcements = emulator.add_channel("incidents", members=[people.alice, emulator.bot_user_id])
    config = (ROOT / "app.yaml").read_text(encoding="utf-8")
    path = write_config(
        tmp_path, config.replace("announcement_channel: null", f"announcement_channel: {announcements}")
    )
    env = environment(emulator, database_url, INCIDENT_BOT_CONFIG=str(path))
    log = tmp_path / "serve.log"
    method, nth, perform = STEPS[step]
    holds = hold_step(emulator, method, nth, perform)

    async with serving_process(emulator, env, log) as first:
        await run(emulator, people.alice, people.general, "open Payments down")
        for hold in holds[:-1]:  # the earlier calls of the same method go through
            await asyncio.wait_for(hold.arrived.wait(), timeout=20)
            hold.release()
        await asyncio.wait_for(holds[-1].arrived.wait(), timeout=20)
        first.send_signal(signal.SIGKILL)  # kill -9, in the middle of that step
        await first.wait()
    holds[-1].release()  # its answer goes nowhere: the process that asked is gone

    async with serving_process(emulator, env, log):
        for _ in range(300):
            if await setup_finished(database_url):
                break
            await asyncio.sleep(0.1)
        told = await wait_for_private(emulator, people.alice, "Opened *INC-2026-001*")
        await emulator.wait_idle()

    [channel] = incident_channels(emulator)
    assert f"<#{channel.id}>" in told
    assert people.alice in channel.members
    posted = [m for m in channel.messages if m.bot_id == emulator.bot_id and m.metadata]
    assert [m.metadata["event_type"] for m in posted] == ["incident_card"]  # type: ignore[index]
    assert channel.pins == [posted[0].ts]
    announced = [m for m in emulator.workspace.channels[announcements].messages if m.bot_id == emulator.bot_id]
    assert len(announced) == 1
    db = Database(database_url)
    try:
        async with db.transaction() as store:
            assert await store.count() == 1
            incident = await store.get_by_channel(emulator.team_id, channel.id)
            assert incident is not None
            assert incident.setup_done
    finally:
        await db.dispose()


async def test_a_replica_that_dies_while_opening_leaves_the_incident_to_a_live_replica(
    emulator: SlackEmulator, people: People, postgres_url: str, tmp_path: Path
) -> None:
    env = environment(emulator, postgres_url, INCIDENT_BOT_CONFIG=str(ROOT / "app.yaml"))
    config = load_config(ROOT / "app.yaml", environment(emulator, postgres_url))
    held = emulator.hold("chat.postMessage")  # the card is posted, its answer lost with the replica

    async with serving_process(emulator, env, tmp_path / "replica.log") as replica:
        await run(emulator, people.alice, people.general, "open Payments down")
        await asyncio.wait_for(held.arrived.wait(), timeout=20)
        async with serving(config, emulator, reconcile_seconds=0.2) as survivor:  # a live replica, already up
            assert await survivor.opener.reconcile() == 0  # the opening replica is alive: hands off
            replica.send_signal(signal.SIGKILL)
            await replica.wait()
            held.release()
            await wait_for_private(emulator, people.alice, "Opened *INC-2026-001*", within=20)
            await emulator.wait_idle()

    [channel] = incident_channels(emulator)
    posted = [m for m in channel.messages if m.bot_id == emulator.bot_id and m.metadata]
    assert len(posted) == 1
    assert channel.pins == [posted[0].ts]
    assert await setup_finished(postgres_url)


async def test_a_replica_whose_liveness_connection_drops_keeps_its_opening(
    emulator: SlackEmulator, people: People, postgres_url: str
) -> None:
    config = load_config(ROOT / "app.yaml", environment(emulator, postgres_url))
    held = emulator.hold("chat.postMessage", perform=False)  # the card is on its way to Slack, slowly

    async with serving(config, emulator, reconcile_seconds=0.2) as opening_replica:
        await run(emulator, people.alice, people.general, "open Payments down")
        await asyncio.wait_for(held.arrived.wait(), timeout=20)
        async with serving(config, emulator, reconcile_seconds=0.2) as other_replica:
            key = _key(opening_replica.liveness.boot_id) & 0xFFFFFFFF
            async with other_replica.db.engine.begin() as conn:  # a failover, an idle timeout, a proxy: dropped
                await conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    f"AND classid = {_LOCK_CLASS} AND objid = {key}"
                )
            await asyncio.sleep(other_replica.liveness.confirm_seconds + 1)  # long enough to be taken for gone
            held.release()
            await wait_for_private(emulator, people.alice, "Opened *INC-2026-001*", within=20)
            await emulator.wait_idle()

    [channel] = incident_channels(emulator)
    posted = [m for m in channel.messages if m.bot_id == emulator.bot_id and m.metadata]
    assert len(posted) == 1  # the other replica did not take the opening over and post a second card
    assert channel.pins == [posted[0].ts]
    assert await setup_finished(postgres_url)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), set()).add(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}/stat").exists() and "Z" not in _state(pid)}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
async def test_a_killed_bot_leaves_no_process_of_its_own_behind(
    emulator: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    env = environment(emulator, database_url, INCIDENT_BOT_CONFIG=str(ROOT / "app.yaml"))
    async with serving_process(emulator, env, tmp_path / "bot.log") as bot:
        for _ in range(100):  # the root-cause engine's process (and the fork server it came from)
            below = descendants(bot.pid)
            if len(below) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(below) >= 2

        bot.send_signal(signal.SIGKILL)
        await bot.wait()

        for _ in range(100):
            if not alive(below):
                break
            await asyncio.sleep(0.1)
    assert alive(below) == set()

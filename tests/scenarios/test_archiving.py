"""Archiving (app.yaml `archive`): a resolved incident's channel is archived `after_days` after its resolution, with a
last line first; `/incident reopen` before then cancels it; open follow-ups hold it back; Slack refusing is recorded
and tried again. Time is the test's ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import Config
from bot.domain.incident import Incident, Status
from bot.emulator import Channel, SlackEmulator
from bot.services.archiving import archive_key
from bot.storage import AuditEntry
from bot.storage.jobs import Job
from tests.conftest import ROOT, People, serving, write_config

from .steps import bot_lines, card_field, incident_of, run, run_until_line, settled, wait_for_private

DAYS = 7
GUARD = 30.0  # seconds before a test that hangs fails instead (never an assertion on how long anything takes)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    text = (ROOT / "app.yaml").read_text(encoding="utf-8")
    assert "  after_days: null\n" in text
    return write_config(tmp_path, text.replace("  after_days: null\n", f"  after_days: {DAYS}\n"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def bot(
    config: Config, emulator: SlackEmulator, people: People, clock: ManualClock
) -> AsyncIterator[IncidentBot]:
    async with serving(config, emulator, clock=clock) as incident_bot:
        yield incident_bot


async def resolve(emulator: SlackEmulator, bot: IncidentBot, people: People, channel: Channel) -> Incident:
    await run_until_line(emulator, people.alice, channel, "resolve", "resolved the incident")
    await settled(emulator, bot)
    incident = await incident_of(bot, channel)
    assert incident.status is Status.RESOLVED
    return incident


async def job(bot: IncidentBot, key: str) -> Job | None:
    async with bot.db.unit() as stores:
        return await stores.jobs.get(key)


async def audit_actions(bot: IncidentBot, incident: Incident) -> list[AuditEntry]:
    async with bot.db.unit() as stores:
        return await stores.incidents.audit_trail(incident.team_id, incident.id)


async def run_due(bot: IncidentBot) -> None:
    """A pass of the scheduler's own (beside its polling), then whatever the polling claimed has finished."""
    await bot.scheduler.run_due()
    await bot.scheduler.run_due()


def archiving_lines(emulator: SlackEmulator, channel: Channel) -> list[str]:
    return [line for line in bot_lines(emulator, channel) if line.startswith(":file_cabinet: Archiving this channel")]


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (up to GUARD seconds, then fail) until `check` holds: a job's record is committed after its Slack calls."""
    for _ in range(int(GUARD / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def recorded(bot: IncidentBot, incident: Incident, action: str) -> bool:
    return any(entry.action == action for entry in await audit_actions(bot, incident))


async def job_state(bot: IncidentBot, key: str) -> str | None:
    found = await job(bot, key)
    return None if found is None else found.state


async def test_the_channel_is_archived_after_the_delay_with_a_last_line_and_not_before(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None

    clock.set(resolved.resolved_at + timedelta(days=DAYS) - timedelta(minutes=1))
    await run_due(bot)
    archived_early = incident.is_archived
    lines_early = archiving_lines(emulator, incident)
    clock.set(resolved.resolved_at + timedelta(days=DAYS))
    await emulator.wait_for(lambda: incident.is_archived, what="the incident channel archived")
    await eventually(lambda: recorded(bot, resolved, "channel_archived"), "channel_archived on the audit log")

    assert not archived_early
    assert lines_early == []
    [last] = archiving_lines(emulator, incident)
    assert f"{resolved.public_id} was resolved {DAYS} days ago" in last
    assert "The record and the report stay" in last
    assert bot_lines(emulator, incident)[-1] == last
    assert await job_state(bot, archive_key(resolved)) == "done"
    await emulator.wait_idle()  # Slack's channel_archive event for the bot's own archive is noted no second time
    assert [entry.action for entry in await audit_actions(bot, resolved)].count("channel_archived") == 1


async def test_reopening_before_the_delay_cancels_the_archiving(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None

    clock.set(resolved.resolved_at + timedelta(days=2))
    await run(emulator, people.bob, incident.id, "reopen")
    await emulator.wait_for(lambda: any("reopened the incident" in line for line in bot_lines(emulator, incident)))
    await settled(emulator, bot)
    clock.set(resolved.resolved_at + timedelta(days=DAYS + 1))
    await run_due(bot)

    reopened = await incident_of(bot, incident)
    assert reopened.status is Status.OPEN
    assert reopened.resolved_at is None
    assert card_field(emulator, incident, "Status") == "Open"
    assert await job_state(bot, archive_key(resolved)) == "cancelled"
    assert not incident.is_archived
    assert archiving_lines(emulator, incident) == []
    [change] = [e for e in await audit_actions(bot, reopened) if e.new_value == "open"]
    assert (change.action, change.old_value, change.actor_id) == ("status_changed", "resolved", people.bob)


async def test_resolving_again_after_a_reopen_archives_after_the_delay_from_the_new_resolution(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    first = await resolve(emulator, bot, people, incident)
    assert first.resolved_at is not None
    clock.set(first.resolved_at + timedelta(days=3))
    await run(emulator, people.alice, incident.id, "reopen")
    await emulator.wait_for(lambda: any("reopened the incident" in line for line in bot_lines(emulator, incident)))
    await settled(emulator, bot)
    clock.set(first.resolved_at + timedelta(days=4))
    second = await resolve(emulator, bot, people, incident)
    assert second.resolved_at is not None

    clock.set(first.resolved_at + timedelta(days=DAYS))  # the first resolution's date: nothing happens
    await run_due(bot)
    archived_at_first_date = incident.is_archived
    clock.set(second.resolved_at + timedelta(days=DAYS))
    await emulator.wait_for(lambda: incident.is_archived, what="the incident channel archived")
    await eventually(lambda: recorded(bot, second, "channel_archived"), "channel_archived on the audit log")

    assert archive_key(first) != archive_key(second)
    assert not archived_at_first_date
    assert await job_state(bot, archive_key(second)) == "done"
    assert len(archiving_lines(emulator, incident)) == 1


async def test_reopening_an_incident_that_is_not_resolved_says_it_is_open(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "reopen")

    told = await wait_for_private(emulator, people.alice, "nothing to reopen")
    assert "is open, not resolved" in told
    assert (await incident_of(bot, incident)).status is Status.OPEN


async def test_open_followups_hold_the_archiving_back_saying_so_once_until_they_are_done(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    await run(emulator, people.alice, incident.id, "followup Raise MAX_CONNECTIONS to 200")
    await wait_for_private(emulator, people.alice, "Follow-up #1")
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None

    clock.set(resolved.resolved_at + timedelta(days=DAYS))
    await eventually(lambda: recorded(bot, resolved, "archive_waiting"), "archive_waiting on the audit log")
    clock.set(resolved.resolved_at + timedelta(days=DAYS + 1))
    await eventually(lambda: job_is(bot, archive_key(resolved, 2), "pending"), "the second check scheduled a third")
    still_open = incident.is_archived
    waiting = [line for line in bot_lines(emulator, incident) if "Archiving this channel waits" in line]
    await run(emulator, people.alice, incident.id, "followup done 1")
    await settled(emulator, bot)
    clock.set(resolved.resolved_at + timedelta(days=DAYS + 2))
    await emulator.wait_for(lambda: incident.is_archived, what="the incident channel archived")
    await eventually(lambda: recorded(bot, resolved, "channel_archived"), "channel_archived on the audit log")

    assert not still_open
    assert len(waiting) == 1
    assert "1 open follow-up" in waiting[0]
    assert len(archiving_lines(emulator, incident)) == 1


async def job_is(bot: IncidentBot, key: str, state: str) -> bool:
    return await job_state(bot, key) == state


async def test_slack_refusing_is_recorded_and_the_scheduler_tries_again_posting_the_last_line_once(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None
    emulator.fail_next("conversations.archive", error="restricted_action")

    clock.set(resolved.resolved_at + timedelta(days=DAYS))
    await eventually(lambda: recorded(bot, resolved, "archive_refused"), "archive_refused on the audit log")
    await eventually(lambda: job_is(bot, archive_key(resolved), "pending"), "the job put back to be retried")
    refused = await job(bot, archive_key(resolved))
    archived_after_refusal = incident.is_archived
    clock.advance(timedelta(hours=1))
    await emulator.wait_for(lambda: incident.is_archived, what="the incident channel archived")
    await eventually(lambda: recorded(bot, resolved, "channel_archived"), "channel_archived on the audit log")

    assert not archived_after_refusal
    assert refused is not None
    assert "restricted_action" in (refused.last_error or "")
    [entry] = [e for e in await audit_actions(bot, resolved) if e.action == "archive_refused"]
    assert entry.new_value == "restricted_action"
    assert len(archiving_lines(emulator, incident)) == 1


async def test_a_channel_already_archived_counts_as_archived(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None
    emulator.fail_next("conversations.archive", error="already_archived")

    clock.set(resolved.resolved_at + timedelta(days=DAYS))
    await eventually(lambda: job_is(bot, archive_key(resolved), "done"), "the archive job done")

    actions = [e.action for e in await audit_actions(bot, resolved)]
    assert "channel_archived" in actions
    assert "archive_refused" not in actions


async def test_a_reopen_arriving_while_slack_archives_the_channel_is_refused_saying_why(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None
    held = emulator.hold("conversations.archive")  # the archive job is inside Slack's call, the incident locked
    clock.set(resolved.resolved_at + timedelta(days=DAYS))
    await asyncio.wait_for(held.arrived.wait(), GUARD)

    await run(emulator, people.bob, incident.id, "reopen")
    held.release()
    told = await wait_for_private(emulator, people.bob, "cannot be reopened")
    await settled(emulator, bot)

    assert f"{resolved.public_id} cannot be reopened: its channel <#{incident.id}> is archived" in told
    assert "Slack does not let a bot unarchive a channel" in told
    assert (await incident_of(bot, incident)).status is Status.RESOLVED
    assert incident.is_archived
    assert await recorded(bot, resolved, "channel_archived")


async def test_a_reopen_that_lands_before_the_archive_keeps_the_channel(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, clock: ManualClock
) -> None:
    resolved = await resolve(emulator, bot, people, incident)
    assert resolved.resolved_at is not None
    held = emulator.hold("chat.postMessage")  # the job's last line: it read the incident as resolved
    clock.set(resolved.resolved_at + timedelta(days=DAYS))
    await asyncio.wait_for(held.arrived.wait(), GUARD)

    await run(emulator, people.bob, incident.id, "reopen")
    await emulator.wait_for(lambda: any("reopened the incident" in line for line in bot_lines(emulator, incident)))
    held.release()
    await eventually(lambda: job_is_finished(bot, archive_key(resolved)), "the archive job finished")
    await settled(emulator, bot)

    assert (await incident_of(bot, incident)).status is Status.OPEN
    assert not incident.is_archived
    assert not await recorded(bot, resolved, "channel_archived")


async def job_is_finished(bot: IncidentBot, key: str) -> bool:
    return await job_state(bot, key) in ("done", "cancelled")

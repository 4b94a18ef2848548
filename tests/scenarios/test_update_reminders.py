"""Overdue status-update reminders, on SQLite and PostgreSQL with the test clock: once per period in the incident
channel, naming the comms lead (or the commander); an update starts a new period; none after resolution, none for a
severity without a cadence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import Config
from bot.emulator import Channel, SlackEmulator
from bot.storage.tables import JobRow
from tests.conftest import People, serving

from .steps import bot_lines, jobs_done, open_incident, run, run_until_line

REMINDER = ":alarm_clock:"


@pytest.fixture
async def bot(
    config: Config, emulator: SlackEmulator, people: People, clock: ManualClock
) -> AsyncIterator[IncidentBot]:
    async with serving(config, emulator, clock=clock) as incident_bot:
        yield incident_bot


def reminders(emulator: SlackEmulator, channel: Channel) -> list[str]:
    return [line for line in bot_lines(emulator, channel) if line.startswith(REMINDER)]


async def after(bot: IncidentBot, clock: ManualClock, minutes: int) -> None:
    clock.advance(timedelta(minutes=minutes))
    await jobs_done(bot, clock)


async def test_an_overdue_update_is_reminded_once_per_period_with_the_command_to_post_it(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")

    await after(bot, clock, 29)
    before_due = reminders(emulator, incident)
    await after(bot, clock, 2)  # 31 min: one period overdue
    first = reminders(emulator, incident)
    await jobs_done(bot, clock)  # the scheduler runs again in the same period
    again = reminders(emulator, incident)
    await after(bot, clock, 30)  # 61 min: the next period
    second = reminders(emulator, incident)

    assert before_due == []
    assert len(first) == 1
    assert f"<@{people.alice}>" in first[0]  # the commander: nobody is comms lead
    assert "A status update for INC-" in first[0]
    assert "every 30 min for SEV1" in first[0]
    assert "`/incident update <text>`" in first[0]
    assert again == first
    assert len(second) == 2


async def test_an_update_posted_starts_a_new_period(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
    await after(bot, clock, 20)
    await run_until_line(emulator, people.alice, incident, "update Failing over to the standby", "Status update on")

    await after(bot, clock, 11)  # 31 min after opening, 11 after the update
    at_the_old_time = reminders(emulator, incident)
    await after(bot, clock, 20)  # 51 min: 31 after the update
    at_the_new_time = reminders(emulator, incident)

    assert at_the_old_time == []
    assert len(at_the_new_time) == 1


async def test_no_reminder_comes_after_the_incident_is_resolved(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
    await after(bot, clock, 10)
    await run_until_line(emulator, people.alice, incident, "resolve", "resolved the incident")

    await after(bot, clock, 25)
    await after(bot, clock, 60)

    assert reminders(emulator, incident) == []


async def test_a_severity_without_a_cadence_gets_no_reminder(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev3 Search is slow")

    await after(bot, clock, 24 * 60)

    assert reminders(emulator, incident) == []
    async with bot.db.session() as session:
        jobs = (await session.scalars(select(JobRow.key).where(JobRow.kind == "update-reminder"))).all()
    assert jobs == []


async def test_a_severity_raised_to_one_with_a_cadence_is_reminded_by_its_cadence(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev3 Search is slow")
    await after(bot, clock, 10)
    await run(emulator, people.alice, incident.id, "severity sev2")
    await emulator.wait_for(
        lambda: any("changed the severity" in line for line in bot_lines(emulator, incident)), what="the change"
    )

    await after(bot, clock, 49)  # 59 min after opening
    not_yet = reminders(emulator, incident)
    await after(bot, clock, 2)  # 61 min: SEV2's hour since the opening has passed
    then = reminders(emulator, incident)

    assert not_yet == []
    assert len(then) == 1
    assert "every 60 min for SEV2" in then[0]


async def test_the_reminder_names_the_comms_lead_when_there_is_one(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
    await run(emulator, people.alice, incident.id, "role comms @bob")
    await emulator.wait_for(
        lambda: any("Communications lead" in line for line in bot_lines(emulator, incident)), what="the role"
    )

    await after(bot, clock, 31)

    [reminder] = reminders(emulator, incident)
    assert f"<@{people.bob}>" in reminder
    assert f"<@{people.alice}>" not in reminder


async def reminder_jobs(bot: IncidentBot, *states: str) -> list[str]:
    async with bot.db.session() as session:
        return list(
            await session.scalars(
                select(JobRow.key).where(JobRow.kind == "update-reminder", JobRow.state.in_(states or ["pending"]))
            )
        )


async def forget_reminder_jobs(bot: IncidentBot) -> None:
    """As if the incident had been opened by a version of the bot without reminders."""
    async with bot.db.session() as session, session.begin():
        await session.execute(delete(JobRow).where(JobRow.kind == "update-reminder"))


async def test_an_incident_opened_before_reminders_existed_is_reminded_once_after_the_bot_starts(
    config: Config, emulator: SlackEmulator, people: People, clock: ManualClock
) -> None:
    async with serving(config, emulator, clock=clock) as before:
        incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
        await forget_reminder_jobs(before)

    async with serving(config, emulator, clock=clock) as after_the_upgrade:
        await after(after_the_upgrade, clock, 31)
        once = reminders(emulator, incident)
        await jobs_done(after_the_upgrade, clock)
        still_once = reminders(emulator, incident)

    assert len(once) == 1
    assert still_once == once


async def test_a_reminder_job_that_failed_for_good_is_planned_again(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
    async with bot.db.session() as session, session.begin():
        await session.execute(update(JobRow).where(JobRow.kind == "update-reminder").values(state="failed"))

    await after(bot, clock, 31)
    first = reminders(emulator, incident)
    await after(bot, clock, 30)
    second = reminders(emulator, incident)

    assert len(first) == 1
    assert len(second) == 2


async def test_planning_passes_at_once_leave_one_reminder_job_per_incident(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
    await forget_reminder_jobs(bot)

    planned = await asyncio.gather(*(bot.reminders.plan() for _ in range(4)))  # replicas planning at once
    again = await bot.reminders.plan()

    assert sum(planned) == 1
    assert again == 0
    assert len(await reminder_jobs(bot, "pending", "running")) == 1


async def test_planning_leaves_incidents_that_have_their_reminder_job_alone(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People
) -> None:
    await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
    await open_incident(emulator, people.alice, people.general, "sev3 Search is slow")
    jobs_before = await reminder_jobs(bot)

    planned = await bot.reminders.plan()

    assert planned == 0
    assert await reminder_jobs(bot) == jobs_before

"""Overdue status-update reminders, on SQLite and PostgreSQL with the test clock: once per period in the incident
channel, naming the comms lead (or the commander); an update starts a new period; none after resolution, none for a
severity without a cadence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

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

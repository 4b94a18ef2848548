"""Follow-ups: `/incident followup <what> [@owner] [due <date>]`, `followup list`, `followup done <n>`; on the
timeline, in the report, and listed in the channel when the incident resolves (no tracker configured here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app import IncidentBot
from bot.emulator import Channel, SlackEmulator
from tests.conftest import People

from .steps import (
    bot_lines,
    followups_of,
    incident_of,
    open_incident,
    private_texts,
    report_markdown,
    run,
    run_each,
    settled,
    wait_for_private,
)


async def two_followups_the_second_done(
    emulator: SlackEmulator, bot: IncidentBot, people: People, channel: Channel
) -> None:
    """Alice adds "Raise the pool size" (Bob's, due 2031-01-02) and "Add PgBouncer", and marks the second done."""
    await run_each(
        emulator,
        bot,
        people.alice,
        channel,
        "followup Raise the pool size @bob due 2031-01-02",
        "followup Add PgBouncer",
        "followup done 2",
    )


async def test_a_followup_is_stored_with_its_owner_and_due_date_and_announced_in_the_channel(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup Raise MAX_CONNECTIONS to 200 @bob due 2031-03-15")
    told = await wait_for_private(emulator, people.alice, "Follow-up #1")

    [followup] = await followups_of(bot, incident)
    assert followup.number == 1
    assert followup.text == "Raise MAX_CONNECTIONS to 200"
    assert followup.owner_id == people.bob
    assert followup.due_on is not None
    assert followup.due_on.isoformat() == "2031-03-15"
    assert followup.is_open
    assert followup.export_target is None
    assert "added" in told
    [line] = [line for line in bot_lines(emulator, incident) if "follow-up #1" in line]
    assert f"<@{people.alice}>" in line
    assert f"owner <@{people.bob}>" in line
    assert "due 2031-03-15" in line


async def test_due_dates_may_be_written_in_words(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    today = datetime.now(UTC).date()

    await run_each(
        emulator,
        bot,
        people.alice,
        incident,
        "followup Add an alert on pool saturation due tomorrow",
        "followup Write the capacity plan due in 3 days @carol",
    )

    first, second = await followups_of(bot, incident)
    assert first.due_on in (today + timedelta(days=1), today + timedelta(days=2))  # the test may cross midnight
    assert second.due_on in (today + timedelta(days=3), today + timedelta(days=4))
    assert second.owner_id == people.carol
    assert second.text == "Write the capacity plan"


async def test_an_unreadable_due_date_is_explained_privately_and_nothing_is_stored(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup Rotate the credentials due 2031-13-45")
    told = await wait_for_private(emulator, people.alice, "could not read the due date")

    assert "YYYY-MM-DD" in told
    assert "tomorrow" in told
    assert await followups_of(bot, incident) == []
    assert not any("follow-up" in line for line in bot_lines(emulator, incident))


async def test_due_in_the_words_of_a_followup_stays_part_of_its_text(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup Review the vendor due diligence")
    await wait_for_private(emulator, people.alice, "Follow-up #1")

    [followup] = await followups_of(bot, incident)
    assert followup.text == "Review the vendor due diligence"
    assert followup.due_on is None


async def test_followup_without_words_shows_how_to_use_it(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup")
    told = await wait_for_private(emulator, people.alice, "followup list")

    assert "followup done <n>" in told
    assert await followups_of(bot, incident) == []


async def test_followup_outside_an_incident_channel_says_where_it_works(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await run(emulator, people.alice, people.general, "followup Fix the thing")

    assert "works inside an incident channel" in await wait_for_private(emulator, people.alice, "incident channel")


async def test_followups_are_numbered_per_incident(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    other = await open_incident(emulator, people.bob, people.general, "Search is slow")

    for user, channel, text in (
        (people.alice, incident, "First"),
        (people.alice, incident, "Second"),
        (people.bob, other, "Elsewhere"),
    ):
        await run(emulator, user, channel.id, f"followup {text}")
        await settled(emulator, bot)

    assert [(f.number, f.text) for f in await followups_of(bot, incident)] == [(1, "First"), (2, "Second")]
    assert [(f.number, f.text) for f in await followups_of(bot, other)] == [(1, "Elsewhere")]


async def test_the_list_shows_each_followup_with_its_number_owner_due_date_and_state_only_to_the_asker(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await two_followups_the_second_done(emulator, bot, people, incident)
    lines_before = len(bot_lines(emulator, incident))

    await run(emulator, people.carol, incident.id, "followup list")
    listing = await wait_for_private(emulator, people.carol, "Follow-ups of")

    assert "(1 open of 2)" in listing
    first, second = listing.splitlines()[1:]
    assert first.startswith("1. :white_circle: *Raise the pool size*")
    assert f"owner <@{people.bob}>" in first
    assert "due 2031-01-02" in first
    assert "open" in first
    assert second.startswith("2. :white_check_mark: *Add PgBouncer*")
    assert "done" in second
    assert len(bot_lines(emulator, incident)) == lines_before  # nothing posted for everyone


async def test_done_marks_a_followup_done_once_and_posts_a_line(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup Raise the pool size")
    await settled(emulator, bot)

    await run(emulator, people.bob, incident.id, "followup done 1")
    await wait_for_private(emulator, people.bob, "is done")
    await run(emulator, people.bob, incident.id, "followup done #1")
    again = await wait_for_private(emulator, people.bob, "was already done")

    [followup] = await followups_of(bot, incident)
    assert not followup.is_open
    assert followup.done_by == people.bob
    assert "Follow-up #1" in again
    assert len([line for line in bot_lines(emulator, incident) if "marked follow-up #1 done" in line]) == 1


async def test_done_with_an_unknown_number_says_which_exist(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup done 7")

    told = await wait_for_private(emulator, people.alice, "no follow-up #7")
    assert "followup list" in told


async def test_adding_and_finishing_followups_is_on_the_timeline(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "followup Raise the pool size")
    await settled(emulator, bot)
    await run(emulator, people.bob, incident.id, "followup done 1")
    await settled(emulator, bot)

    found = await incident_of(bot, incident)
    system = [(e.author_id, e.text) for e in await bot.services.timeline.entries(found) if e.source == "system"]
    assert (people.alice, "Follow-up added: #1 Raise the pool size") in system
    assert (people.bob, "Follow-up done: #1 Raise the pool size") in system


async def test_the_same_command_delivered_twice_adds_one_followup(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    first = await run(emulator, people.alice, incident.id, "followup Raise the pool size")
    await settled(emulator, bot)

    again = await emulator.deliver_raw(first.request_body, first.request_headers["Content-Type"], first.request_headers)
    await wait_for_private(emulator, people.alice, "was already added")

    assert again.status == 200
    assert [f.number for f in await followups_of(bot, incident)] == [1]
    assert len([line for line in bot_lines(emulator, incident) if "added follow-up" in line]) == 1


async def test_the_report_lists_the_followups_after_the_long_term_remediation(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await two_followups_the_second_done(emulator, bot, people, incident)

    await run(emulator, people.alice, incident.id, "report")
    await wait_for_private(emulator, people.alice, "is posted")

    markdown = await report_markdown(bot, incident)
    section = markdown[markdown.index("### 3.4. Follow-ups") : markdown.index("## 4. Timeline")]
    assert markdown.index("### 3.3. Long-Term Remediation Suggested") < markdown.index("### 3.4. Follow-ups")
    assert "1.  Raise the pool size" in section
    assert "**Owner:** bob" in section  # Bob's name in Slack
    assert "**Due:** 2031-01-02" in section
    assert "**State:** Open" in section
    assert "2.  Add PgBouncer" in section
    assert "**Owner:** not assigned" in section
    assert "**State:** Done on" in section


async def test_a_report_without_followups_says_none_were_recorded(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "report")
    await wait_for_private(emulator, people.alice, "is posted")

    assert "### 3.4. Follow-ups\n\nNo follow-up actions were recorded." in await report_markdown(bot, incident)


async def test_the_resolved_line_in_the_channel_lists_the_followups_still_open(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_each(
        emulator,
        bot,
        people.alice,
        incident,
        "followup Raise the pool size @bob due 2031-01-02",
        "followup Add PgBouncer",
        "followup Update the runbook",
        "followup done 2",
    )

    await run(emulator, people.alice, incident.id, "resolve")
    await settled(emulator, bot)

    [listing] = [line for line in bot_lines(emulator, incident) if "still open" in line]
    assert listing.startswith(f":white_check_mark: <@{people.alice}> resolved the incident.\n")
    assert "*2 follow-ups still open*" in listing
    assert "1. *Raise the pool size*" in listing
    assert f"owner <@{people.bob}>" in listing
    assert "3. *Update the runbook*" in listing
    assert "Add PgBouncer" not in listing


async def test_resolving_with_every_followup_done_lists_nothing(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_each(emulator, bot, people.alice, incident, "followup Raise the pool size", "followup done 1")

    await run(emulator, people.alice, incident.id, "resolve")
    await settled(emulator, bot)

    assert any("resolved the incident" in line for line in bot_lines(emulator, incident))
    assert not any("still open" in line for line in bot_lines(emulator, incident))
    assert private_texts(emulator, people.alice)

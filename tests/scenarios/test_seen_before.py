""" "Seen before": a second incident like a resolved one is told, once, which incident it resembles, what fixed it and
where its report is; the report lists it. The match is the root cause people accepted, never a resemblance of words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import Channel, Message, SlackEmulator
from bot.slack.ids import ActionId
from tests.conftest import People, environment, serving

from .steps import open_incident, run
from .test_suggestions import SPIKE, config_file, suggestions, talk


@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    return load_config(config_file(tmp_path, interval=0), environment(emulator, database_url))


def seen_before_posts(emulator: SlackEmulator, channel: Channel) -> list[Message]:
    return [m for m in channel.messages if m.bot_id == emulator.bot_id and m.text.startswith("Seen before")]


async def resolved_incident_with_accepted_root_cause(
    emulator: SlackEmulator, bot: IncidentBot, people: People, title: str
) -> Channel:
    """An incident where people talked about the traffic spike, marked the restart as the action taken, accepted the
    suggested root cause (Traffic Spike) and resolved it (its final report posted)."""
    channel = await open_incident(emulator, people.alice, people.general, title)
    await talk(emulator, bot, channel, people.alice, SPIKE)
    restart = await emulator.post_message(
        people.alice, channel.id, "restarted api-service with `sudo systemctl restart`"
    )
    await emulator.react(people.alice, channel.id, restart.ts, "hammer_and_wrench")
    [posted] = suggestions(emulator, channel)
    await emulator.click(people.alice, channel.id, posted.ts, ActionId.SUGGESTION_ACCEPT)
    assert await bot.services.in_flight.drained(within=10)
    await run(emulator, people.alice, channel.id, "resolve")
    assert await bot.services.in_flight.drained(within=20)
    assert await bot.background.drained(within=20)
    await emulator.wait_idle()
    return channel


async def test_a_second_incident_with_the_same_root_cause_is_told_once_what_fixed_the_first_and_where_its_report_is(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    first = await resolved_incident_with_accepted_root_cause(emulator, bot, people, "Login 500s")
    second = await open_incident(emulator, people.carol, people.general, "API errors again")

    await talk(emulator, bot, second, people.carol, SPIKE)
    await talk(emulator, bot, second, people.carol, ["pool timeouts are still climbing", "traffic still at 3x"])

    [told] = seen_before_posts(emulator, second)
    shown = str(told.blocks)
    first_id = told.text.split()[2]
    assert first_id.startswith("INC-")
    assert first_id.endswith("-001")
    assert "*Traffic Spike*" in shown
    assert f"<#{first.id}>" in shown
    assert f"accepted by <@{people.alice}>" in shown
    assert f"What fixed it: <@{people.alice}>: restarted api-service" in shown
    assert "|Its report>" in shown  # the permalink of the first incident's final report
    assert "Matched on the accepted root cause" in shown


async def test_the_report_of_the_second_incident_lists_the_incident_it_was_seen_before_as(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await resolved_incident_with_accepted_root_cause(emulator, bot, people, "Login 500s")
    second = await open_incident(emulator, people.carol, people.general, "API errors again")
    await talk(emulator, bot, second, people.carol, SPIKE)

    stored = await bot.services.incidents.in_channel(emulator.team_id, second.id)
    assert stored is not None
    markdown = await bot.services.reports.render(stored, "Draft 1")

    assert "**Seen Before:**" in markdown
    assert "-001 (Login 500s), resolved " in markdown
    assert "the same root cause, Traffic Spike, was accepted there." in markdown


async def test_an_incident_with_another_root_cause_or_no_resolved_match_is_not_told_anything(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    # Arrange: nothing resolved yet; an incident where the same words are said is open but not resolved.
    earlier = await open_incident(emulator, people.alice, people.general, "Still open")
    await talk(emulator, bot, earlier, people.alice, SPIKE)
    [posted] = suggestions(emulator, earlier)
    await emulator.click(people.alice, earlier.id, posted.ts, ActionId.SUGGESTION_ACCEPT)
    assert await bot.services.in_flight.drained(within=10)

    later = await open_incident(emulator, people.carol, people.general, "Same words, nothing resolved")
    await talk(emulator, bot, later, people.carol, SPIKE)

    assert suggestions(emulator, later)  # a root cause stands...
    assert seen_before_posts(emulator, later) == []  # ...but no resolved incident had it


async def test_a_private_resolved_incident_is_never_named_in_another_channel(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path
) -> None:
    path = config_file(tmp_path, interval=0)
    path.write_text(path.read_text() + "channel:\n  private: true\n")
    private = load_config(path, environment(emulator, database_url))
    async with serving(private, emulator) as bot:
        await resolved_incident_with_accepted_root_cause(emulator, bot, people, "Secret outage")
        second = await open_incident(emulator, people.carol, people.general, "API errors again")

        await talk(emulator, bot, second, people.carol, SPIKE)

    assert second.is_private
    assert suggestions(emulator, second)
    assert seen_before_posts(emulator, second) == []

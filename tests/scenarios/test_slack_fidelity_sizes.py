"""What a real workspace would refuse or show stale, and the emulator now does too (issue 11, items 5-7): the card's
selects after someone else changes the incident, long titles, and the size of what the bot posts."""

from __future__ import annotations

import pytest

from bot.app import IncidentBot
from bot.emulator import Channel, SlackEmulator
from bot.slack.ids import ActionId
from tests.conftest import People

from .steps import bot_lines, card, card_field, open_incident, run


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    channel = await open_incident(emulator, people.alice, people.general, "sev2 Checkout is slow")
    await emulator.join(people.bob, channel.id)
    return channel


async def wait_for_line(emulator: SlackEmulator, channel: Channel, fragment: str) -> None:
    await emulator.wait_for(lambda: any(fragment in line for line in bot_lines(emulator, channel)), what=fragment)


def shown(emulator: SlackEmulator, user: str, channel: Channel, action_id: str) -> object:
    """What the person's Slack client shows in one of the card's menus."""
    return emulator.shown_choice(user, channel.id, str(card(emulator, channel)["ts"]), action_id)


# -- 5. the card's menus show the incident as it is, whoever changed it -------------------------------------------


async def test_after_someone_else_changes_the_severity_the_card_shows_it_to_a_person_who_had_picked_another(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])
    await emulator.click(people.alice, incident.id, card_ts, ActionId.SEVERITY, selected_option="sev1")
    await wait_for_line(emulator, incident, "to *SEV1 · Critical*")

    await run(emulator, people.bob, incident.id, "severity sev3")
    await wait_for_line(emulator, incident, "to *SEV3 · Minor*")

    assert card_field(emulator, incident, "Severity") == "SEV3 · Minor"
    assert shown(emulator, people.alice, incident, ActionId.SEVERITY) == "sev3"


async def test_after_someone_else_hands_over_the_commander_the_card_shows_them_to_a_person_who_had_picked_another(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])
    await emulator.click(people.alice, incident.id, card_ts, ActionId.COMMANDER, selected_user=people.bob)
    await wait_for_line(emulator, incident, f"<@{people.bob}> is now the incident commander")

    await run(emulator, people.bob, incident.id, f"commander <@{people.carol}|carol>")
    await wait_for_line(emulator, incident, f"<@{people.carol}> is now the incident commander")

    assert shown(emulator, people.alice, incident, ActionId.COMMANDER) == people.carol


async def test_the_card_menus_keep_working_on_every_new_version_of_the_card(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])

    for level, label in (("sev1", "SEV1 · Critical"), ("sev4", "SEV4 · Low"), ("sev2", "SEV2 · Major")):
        await emulator.click(people.bob, incident.id, card_ts, ActionId.SEVERITY, selected_option=level)
        await emulator.wait_for(lambda label=label: card_field(emulator, incident, "Severity") == label, what=label)

    assert shown(emulator, people.bob, incident, ActionId.SEVERITY) == "sev2"

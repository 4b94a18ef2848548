"""Who may do what: a card or button acts only on the incident of the channel it was clicked in; a click counts
once; a commander is a real, active person."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.app import IncidentBot
from bot.domain.incident import Incident
from bot.emulator import Channel, SlackEmulator
from bot.slack.ids import ActionId
from tests.conftest import People

from .forgery import send_altered
from .steps import card, card_field, open_incident, run, wait_for_private


async def stored(bot: IncidentBot, emulator: SlackEmulator, channel: Channel) -> Incident:
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    return incident


def new_click(payload: dict[str, Any], **changes: str) -> None:
    action = payload["actions"][0]
    action.update(changes)
    action["action_ts"] = f"{time.time():.6f}"


async def test_a_card_button_acts_on_the_incident_of_its_channel_whatever_its_block_id_and_value_say(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    first = await open_incident(emulator, people.alice, people.general, "Payments down")
    second = await open_incident(emulator, people.alice, people.general, "Search slow")
    other = await stored(bot, emulator, second)
    click = await emulator.click(people.alice, first.id, str(card(emulator, first)["ts"]), ActionId.ACKNOWLEDGE)
    assert await bot.services.in_flight.drained(within=5)

    forged = await send_altered(
        emulator,
        click,
        lambda p: new_click(p, action_id=ActionId.RESOLVE, block_id=f"incident.card.{other.id}", value=str(other.id)),
    )
    assert await bot.services.in_flight.drained(within=5)

    assert forged.status == 200
    assert (await stored(bot, emulator, second)).status.value == "open"
    assert (await stored(bot, emulator, first)).status.value == "resolved"  # the incident of the channel clicked in


async def test_a_replayed_click_is_applied_once(emulator: SlackEmulator, bot: IncidentBot, people: People) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Flapping checks")
    click = await emulator.click(
        people.alice, channel.id, str(card(emulator, channel)["ts"]), ActionId.SEVERITY, selected_option="sev1"
    )
    assert await bot.services.in_flight.drained(within=5)
    await run(emulator, people.alice, channel.id, "severity sev3")
    assert await bot.services.in_flight.drained(within=5)

    replayed = await emulator.redeliver(click)  # the same click again, freshly signed, within five minutes
    assert await bot.services.in_flight.drained(within=5)

    assert replayed.status == 200
    assert (await stored(bot, emulator, channel)).severity == "sev3"
    assert card_field(emulator, channel, "Severity") == "SEV3 · Minor"
    changes = [m.text for m in channel.messages if "changed the severity" in m.text]
    assert len(changes) == 2  # sev3 -> sev1 by the click, sev1 -> sev3 by the command; not a third


@pytest.mark.parametrize(
    "who", ["nobody", "the bot", "a deactivated person", "another app's bot", "someone of another workspace"]
)
async def test_the_commander_must_be_a_real_active_person(
    who: str, emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Queue backlog")
    candidate = {
        "nobody": "U0NOBODY1",
        "the bot": emulator.bot_user_id,
        "a deactivated person": people.carol,
        "another app's bot": emulator.add_user("pagerbot", is_bot=True),
        "someone of another workspace": people.carol,
    }[who]
    if who == "a deactivated person":
        emulator.deactivate_user(people.carol)
    if who == "someone of another workspace":  # as a Slack Connect guest from another organisation appears
        emulator.workspace.users[people.carol].team_id = "T0OTHERWS"
    click = await emulator.click(
        people.alice, channel.id, str(card(emulator, channel)["ts"]), ActionId.COMMANDER, selected_user=people.bob
    )  # a real pick, then the same pick of someone who cannot lead
    assert await bot.services.in_flight.drained(within=5)

    await send_altered(emulator, click, lambda p: new_click(p, selected_user=candidate))
    assert await bot.services.in_flight.drained(within=5)

    assert (await stored(bot, emulator, channel)).commander_id == people.bob
    assert await wait_for_private(emulator, people.alice, "cannot")


async def test_the_commander_subcommand_refuses_the_bot_itself(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Disk full")

    await run(emulator, people.alice, channel.id, "commander @incident-bot")

    assert await wait_for_private(emulator, people.alice, "cannot lead an incident")
    assert (await stored(bot, emulator, channel)).commander_id == people.alice

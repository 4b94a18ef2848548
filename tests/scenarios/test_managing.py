"""Running an incident with `/incident` subcommands and the card, inside and outside its channel."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import IncidentBot
from bot.emulator import Channel, SlackEmulator
from bot.slack.ids import ActionId
from tests.conftest import People

from .steps import (
    bot_lines,
    card,
    card_field,
    incident_channels,
    open_incident,
    run,
    run_until_line,
    wait_for_line,
    wait_for_private,
)


async def test_changing_the_severity_updates_the_card_in_place_and_posts_a_line(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = card(emulator, incident)["ts"]

    line = await run_until_line(emulator, people.alice, incident, "severity sev1", "changed the severity")

    assert "SEV3 · Minor" in line
    assert "SEV1 · Critical" in line
    assert card(emulator, incident)["ts"] == card_ts
    assert card_field(emulator, incident, "Severity") == "SEV1 · Critical"
    assert "SEV1 · Critical" in incident.topic


async def test_an_unknown_severity_is_refused_privately_with_the_known_ones(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "severity catastrophic")
    message = await wait_for_private(emulator, people.alice, "not a severity")

    assert "`sev1`, `sev2`, `sev3`, `sev4`" in message
    assert card_field(emulator, incident, "Severity") == "SEV3 · Minor"
    assert bot_lines(emulator, incident) == []


async def test_an_unknown_severity_when_opening_is_part_of_the_title(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev9 Cache stampede")

    assert card_field(emulator, channel, "Severity") == "SEV3 · Minor"
    assert channel.name.endswith("-sev9-cache-stampede")


async def test_handing_over_the_commander_invites_them_and_shows_them_on_the_card(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    line = await run_until_line(emulator, people.alice, incident, "commander @bob", "is now the incident commander")

    assert f"<@{people.bob}>" in line
    assert people.bob in incident.members
    assert card_field(emulator, incident, "Commander") == f"<@{people.bob}>"


async def test_commander_without_a_mention_asks_who_is_meant(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "commander bob")

    assert "Mention them" in await wait_for_private(emulator, people.alice, "Who should lead")


async def test_resolving_records_it_updates_the_card_and_removes_the_buttons(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "resolve", "resolved the incident")

    assert card_field(emulator, incident, "Status") == "Resolved"
    assert not [b for b in card(emulator, incident)["blocks"] if b["type"] == "actions"]  # type: ignore[attr-defined]
    async with bot.db.transaction() as store:
        stored = await store.get_by_channel(emulator.team_id, incident.id)
    assert stored is not None
    assert stored.resolved_at is not None


async def test_acknowledge_and_mitigate_move_the_status_on(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run(emulator, people.bob, people.general, "help")  # unrelated noise first
    await run_until_line(emulator, people.alice, incident, "ack", "acknowledged the incident")
    await run_until_line(emulator, people.alice, incident, "mitigate", "marked the incident mitigated")

    assert card_field(emulator, incident, "Status") == "Mitigated"


async def test_status_inside_an_incident_channel_shows_that_incident(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run(emulator, people.bob, incident.id, "status")

    message = await wait_for_private(emulator, people.bob, "API 500 errors on User Service")
    assert "INC-" in message


async def test_status_elsewhere_lists_the_open_incidents_with_links(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    second = await open_incident(emulator, people.bob, people.general, "Search is slow")
    await run_until_line(emulator, people.bob, second, "resolve", "resolved the incident")

    await run(emulator, people.carol, people.general, "status")
    message = await wait_for_private(emulator, people.carol, "open incident")

    assert message.startswith("*1 open incident*")
    assert f"<#{incident.id}>" in message
    assert f"<#{second.id}>" not in message


async def test_status_with_no_incidents_says_so(emulator: SlackEmulator, bot: IncidentBot, people: People) -> None:
    await run(emulator, people.carol, people.general, "status")

    assert await wait_for_private(emulator, people.carol, "No incidents are open")


@pytest.mark.parametrize(
    "subcommand",
    ["severity sev1", "commander @bob", "resolve", "ack", "mitigate", "role comms @bob", "update All fine"],
)
async def test_incident_subcommands_outside_an_incident_channel_say_they_need_one(
    emulator: SlackEmulator, bot: IncidentBot, people: People, subcommand: str
) -> None:
    await run(emulator, people.alice, people.general, subcommand)

    message = await wait_for_private(emulator, people.alice, "works inside an incident channel")
    assert "/incident status" in message
    assert incident_channels(emulator) == []


@pytest.mark.parametrize("text", ["help", "", "frobnicate now"])
async def test_help_and_unknown_subcommands_list_every_subcommand(
    emulator: SlackEmulator, bot: IncidentBot, people: People, text: str
) -> None:
    await run(emulator, people.alice, people.general, text)

    message = await wait_for_private(emulator, people.alice, "/incident open [severity] <title>")
    usages = ("status", "severity <level>", "commander @person", "role [<role> @person|none]", "update [text]")
    for usage in (*usages, "resolve", "help [subcommand]"):
        assert f"/incident {usage}" in message
    if text.startswith("frobnicate"):
        assert message.startswith("I don't know `frobnicate`")


async def test_help_for_one_subcommand_explains_it(emulator: SlackEmulator, bot: IncidentBot, people: People) -> None:
    await run(emulator, people.alice, people.general, "help severity")

    message = await wait_for_private(emulator, people.alice, "/incident severity <level>")
    assert "`sev1`" in message
    assert "/incident resolve" not in message


async def test_the_resolve_button_resolves_and_a_double_click_changes_nothing_more(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])

    clicks = await asyncio.gather(
        emulator.click(people.alice, incident.id, card_ts, ActionId.RESOLVE),
        emulator.click(people.alice, incident.id, card_ts, ActionId.RESOLVE),
    )
    await wait_for_line(emulator, incident, "resolved the incident")
    await wait_for_private(emulator, people.alice, "already resolved")

    assert [c.status for c in clicks] == [200, 200]
    assert sum("resolved the incident" in line for line in bot_lines(emulator, incident)) == 1


async def test_the_card_menus_change_severity_and_commander(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])

    await emulator.click(people.bob, incident.id, card_ts, ActionId.SEVERITY, selected_option="sev2")
    await wait_for_line(emulator, incident, "changed the severity")
    await emulator.click(people.bob, incident.id, card_ts, ActionId.COMMANDER, selected_user=people.carol)
    await wait_for_line(emulator, incident, "is now the incident commander")

    assert card_field(emulator, incident, "Severity") == "SEV2 · Major"
    assert card_field(emulator, incident, "Commander") == f"<@{people.carol}>"
    assert people.carol in incident.members


async def test_every_change_is_in_the_audit_trail_with_who_and_what(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.bob, incident, "severity sev2", "changed the severity")
    await run_until_line(emulator, people.bob, incident, "resolve", "resolved the incident")

    async with bot.db.transaction() as store:
        trail = await store.audit_trail(emulator.team_id)

    assert [(e.action, e.actor_id, e.old_value, e.new_value) for e in trail[-2:]] == [
        ("severity_changed", people.bob, "sev3", "sev2"),
        ("status_changed", people.bob, "open", "resolved"),
    ]


async def test_help_inside_an_incident_channel_lists_the_subcommands(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "help")

    message = await wait_for_private(emulator, people.alice, "/incident resolve")
    assert "/incident open [severity] <title>" in message


async def test_opening_from_inside_an_incident_channel_opens_a_separate_incident(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    other = await open_incident(emulator, people.alice, incident.id, "Follow-up: stale cache")

    assert other.id != incident.id
    assert "-002-" in other.name
    assert card_field(emulator, incident, "Status") == "Open"


async def test_when_the_form_cannot_open_the_person_is_told_how_to_open_without_it(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.fail_next("views.open", error="expired_trigger_id")

    await run(emulator, people.alice, people.general, "open")

    message = await wait_for_private(emulator, people.alice, "could not open the form")
    assert "expired_trigger_id" in message
    assert "/incident open <title>" in message


async def test_an_unexpected_failure_is_reported_to_the_person_instead_of_silence(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    async with bot.db.engine.begin() as conn:  # the incidents table disappears under the running bot
        await conn.exec_driver_sql("ALTER TABLE incidents RENAME TO incidents_gone")

    await run(emulator, people.alice, people.general, "status")

    message = await wait_for_private(emulator, people.alice, "Something went wrong on my side")
    assert "try again" in message


async def test_a_click_on_the_card_while_the_incident_is_still_being_set_up_is_not_undone(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.rate_limit_next("pins.add", retry_after=1)  # setting up takes a second longer than usual
    await run(emulator, people.alice, people.general, "open Flapping health checks")
    await emulator.wait_for(lambda: any(m.blocks for c in incident_channels(emulator) for m in c.messages))
    channel = incident_channels(emulator)[0]
    card_message = next(m for m in channel.messages if m.blocks)

    await emulator.click(people.alice, channel.id, card_message.ts, ActionId.RESOLVE)
    await wait_for_private(emulator, people.alice, "Opened *INC-")
    assert await bot.services.in_flight.drained(within=10)

    stored = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert stored is not None
    assert stored.status.value == "resolved"
    assert card_field(emulator, channel, "Status") == "Resolved"
    assert sum("resolved the incident" in line for line in bot_lines(emulator, channel)) == 1

"""Roles of an incident: `/incident role`, the card, the timeline and the report (app.yaml's comms, scribe, sme)."""

from __future__ import annotations

import pytest

from bot.app import IncidentBot
from bot.emulator import Channel, SlackEmulator
from tests.conftest import People

from .steps import (
    bot_lines,
    card,
    card_field,
    report_files,
    run,
    run_until_line,
    settled,
    wait_for_line,
    wait_for_private,
)


def card_roles(emulator: SlackEmulator, channel: Channel) -> list[str]:
    """The lines of the card's Roles section ("Communications lead: <@U…>")."""
    for block in card(emulator, channel)["blocks"]:  # type: ignore[attr-defined]
        text = (block.get("text") or {}).get("text", "")
        if text.startswith("*Roles*\n"):
            return list(text.split("\n")[1:])
    raise AssertionError("the card has no Roles section")


async def role_audits(bot: IncidentBot, emulator: SlackEmulator, channel: Channel) -> list[tuple[str, str | None]]:
    async with bot.db.transaction() as store:
        incident = await store.get_by_channel(emulator.team_id, channel.id)
        assert incident is not None
        trail = await store.audit_trail(incident.team_id, incident.id)
    return [(a.field or "", a.new_value) for a in trail if a.action == "role_assigned"]


async def test_giving_a_role_invites_the_person_posts_a_line_and_shows_them_on_the_card_in_place(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    card_ts = card(emulator, incident)["ts"]
    assert people.bob not in incident.members

    line = await run_until_line(emulator, people.alice, incident, "role comms @bob", "is now *Communications lead*")

    assert f"<@{people.bob}>" in line
    assert f"set by <@{people.alice}>" in line
    assert people.bob in incident.members
    assert card(emulator, incident)["ts"] == card_ts
    assert f"Communications lead: <@{people.bob}>" in card_roles(emulator, incident)
    assert "Scribe: _unassigned_" in card_roles(emulator, incident)
    assert await role_audits(bot, emulator, incident) == [("comms", people.bob)]


async def test_a_new_incident_card_lists_every_configured_role_unassigned(
    emulator: SlackEmulator, incident: Channel
) -> None:
    assert card_roles(emulator, incident) == [
        "Communications lead: _unassigned_",
        "Scribe: _unassigned_",
        "Subject-matter expert: _unassigned_",
    ]


async def test_the_person_and_the_role_may_come_in_either_order(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role @carol scribe", "is now *Scribe*")

    assert f"Scribe: <@{people.carol}>" in card_roles(emulator, incident)


async def test_role_alone_lists_every_role_with_who_holds_it(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role sme @carol", "is now *Subject-matter expert*")

    await run(emulator, people.bob, incident.id, "role")
    listing = await wait_for_private(emulator, people.bob, "Roles of INC-")

    assert f"*Commander* (`commander`): <@{people.alice}>" in listing
    assert f"*Subject-matter expert* (`sme`): <@{people.carol}>" in listing
    assert "*Communications lead* (`comms`): _unassigned_" in listing
    assert "/incident role <role> none" in listing
    assert not any("Roles of" in line for line in bot_lines(emulator, incident))


async def test_a_role_word_alone_says_who_holds_it_and_how_to_give_it(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run(emulator, people.bob, incident.id, "role comms")
    answer = await wait_for_private(emulator, people.bob, "*Communications lead* of INC-")

    assert "_unassigned_" in answer
    assert "/incident role comms @name" in answer


async def test_clearing_a_role_with_none_shows_it_unassigned_again(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role comms @bob", "is now *Communications lead*")

    line = await run_until_line(
        emulator, people.alice, incident, "role comms none", "cleared the role *Communications lead*"
    )

    assert f"was <@{people.bob}>" in line
    assert "Communications lead: _unassigned_" in card_roles(emulator, incident)
    assert await role_audits(bot, emulator, incident) == [("comms", people.bob), ("comms", None)]


async def test_role_commander_hands_over_the_commander_like_the_commander_subcommand(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role commander @bob", "is now the incident commander")

    assert card_field(emulator, incident, "Commander") == f"<@{people.bob}>"
    assert people.bob in incident.members


async def test_the_commander_role_cannot_be_cleared(emulator: SlackEmulator, incident: Channel, people: People) -> None:
    await run(emulator, people.alice, incident.id, "role commander none")

    assert "/incident commander @person" in await wait_for_private(emulator, people.alice, "always has a commander")
    assert card_field(emulator, incident, "Commander") == f"<@{people.alice}>"


async def test_an_unknown_role_is_refused_privately_with_the_known_ones(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "role chef @bob")
    message = await wait_for_private(emulator, people.alice, "is not a role here")

    assert "`commander`, `comms`, `scribe`, `sme`" in message
    await settled(emulator, bot)
    assert people.bob not in incident.members
    assert bot_lines(emulator, incident) == []
    assert await role_audits(bot, emulator, incident) == []


@pytest.mark.parametrize("who", ["bob", "#general", "@here"])
async def test_a_role_given_to_something_that_is_not_a_person_asks_for_a_mention(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, who: str
) -> None:
    await run(emulator, people.alice, incident.id, f"role comms {who}")
    message = await wait_for_private(emulator, people.alice, "Who should be Communications lead?")

    assert "/incident role comms @name" in message
    await settled(emulator, bot)
    assert bot_lines(emulator, incident) == []
    assert "Communications lead: _unassigned_" in card_roles(emulator, incident)


async def test_a_role_given_to_a_bot_is_refused(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    emulator.add_user("deploybot", is_bot=True)

    await run(emulator, people.alice, incident.id, "role scribe @deploybot")
    message = await wait_for_private(emulator, people.alice, "cannot be Scribe")

    assert "a bot or an app" in message
    assert "Scribe: _unassigned_" in card_roles(emulator, incident)


async def test_giving_a_role_to_its_holder_again_says_so_and_changes_nothing(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role comms @bob", "is now *Communications lead*")

    await run(emulator, people.carol, incident.id, "role comms @bob")

    assert await wait_for_private(emulator, people.carol, "is already Communications lead")
    assert await role_audits(bot, emulator, incident) == [("comms", people.bob)]


async def test_the_same_role_command_delivered_twice_gives_the_role_once(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    first = await run(emulator, people.alice, incident.id, "role comms @bob")
    await wait_for_line(emulator, incident, "is now *Communications lead*")

    again = await emulator.deliver_raw(first.request_body, first.request_headers["Content-Type"], first.request_headers)
    await settled(emulator, bot)

    assert again.status == 200
    assert sum("is now *Communications lead*" in line for line in bot_lines(emulator, incident)) == 1
    assert await role_audits(bot, emulator, incident) == [("comms", people.bob)]
    assert not any("already" in text for text in (n.text for n in emulator.notices if n.user == people.alice))


async def test_another_change_keeps_the_role_holders_on_the_card(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role comms @bob", "is now *Communications lead*")

    await run_until_line(emulator, people.alice, incident, "severity sev1", "changed the severity")

    assert card_field(emulator, incident, "Severity") == "SEV1 · Critical"
    assert f"Communications lead: <@{people.bob}>" in card_roles(emulator, incident)


async def test_roles_of_a_resolved_incident_stay_as_they_were(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "resolve", "resolved the incident")

    await run(emulator, people.alice, incident.id, "role comms @bob")

    assert await wait_for_private(emulator, people.alice, "is resolved; its roles stay as they were")
    assert await role_audits(bot, emulator, incident) == []


async def test_a_role_given_is_on_the_timeline(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role scribe @carol", "is now *Scribe*")

    await run(emulator, people.alice, incident.id, "timeline")
    timeline = await wait_for_private(emulator, people.alice, "Timeline of INC-")

    assert "Scribe: @carol" in timeline


async def test_the_report_lists_the_role_holders_among_the_participants(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run_until_line(emulator, people.alice, incident, "role comms @bob", "is now *Communications lead*")
    await run_until_line(emulator, people.alice, incident, "role sme @alice", "is now *Subject-matter expert*")

    await run(emulator, people.alice, incident.id, "report")
    await wait_for_private(emulator, people.alice, "Draft 1 of the report")

    [markdown] = report_files(emulator)
    participants = markdown[markdown.index("## 6. Participants") :]
    assert "*   alice (Commander, Subject-matter expert)" in participants
    assert "*   bob (Communications lead)" in participants
    timeline = markdown[markdown.index("## 4. Timeline") : markdown.index("## 5. Metrics")]
    assert "Communications lead: @bob" in timeline

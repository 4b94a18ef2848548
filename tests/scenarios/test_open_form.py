"""`/incident open` without a title: the form, its checks, and a form submitted twice."""

from __future__ import annotations

import asyncio

from bot.app import IncidentBot
from bot.emulator import SlackEmulator, View
from bot.slack.ids import CallbackId
from tests.conftest import People

from .steps import card_field, incident_channels, run


async def open_form(emulator: SlackEmulator, user: str, channel: str, text: str = "open") -> View:
    await run(emulator, user, channel, text)
    await emulator.wait_for(
        lambda: any(v.callback_id == CallbackId.OPEN_MODAL for v in emulator.views.values()), what="the form opens"
    )
    return next(v for v in emulator.views.values() if v.callback_id == CallbackId.OPEN_MODAL)


def filled(title: str, severity: str = "sev2", description: str = "") -> dict[str, dict[str, object]]:
    return {
        "title": {"value": {"type": "plain_text_input", "value": title}},
        "severity": {
            "value": {
                "type": "static_select",
                "selected_option": {"value": severity, "text": {"type": "plain_text", "text": severity}},
            }
        },
        "description": {"value": {"type": "plain_text_input", "value": description or None}},
    }


async def test_open_without_a_title_opens_a_form_that_opens_the_incident_and_shows_the_link(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    form = await open_form(emulator, people.alice, people.general)

    answer = await emulator.submit_view(people.alice, form.id, filled("Checkout down", "sev2", "Cart answers 502"))
    await emulator.wait_for(lambda: any(c.pins for c in incident_channels(emulator)), what="the incident opens")
    channel = incident_channels(emulator)[0]
    await emulator.wait_for(lambda: f"<#{channel.id}>" in str(emulator.views[form.id].view), what="the link shows")

    assert answer.json()["response_action"] == "update"
    assert channel.name.endswith("-checkout-down")
    assert people.alice in channel.members
    assert card_field(emulator, channel, "Severity") == "SEV2 · Major"
    assert any("Cart answers 502" in str(b) for b in channel.find(channel.pins[0]).blocks)  # type: ignore[union-attr]


async def test_the_form_preselects_a_severity_given_with_open(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    form = await open_form(emulator, people.alice, people.general, "open sev1")

    severity_block = next(b for b in form.view["blocks"] if b["block_id"] == "severity")
    assert severity_block["element"]["initial_option"]["value"] == "sev1"


async def test_a_blank_title_keeps_the_form_open_with_the_error_next_to_the_field(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    form = await open_form(emulator, people.alice, people.general)

    answer = await emulator.submit_view(people.alice, form.id, filled("   "))

    assert answer.json() == {"response_action": "errors", "errors": {"title": answer.json()["errors"]["title"]}}
    assert "title" in answer.json()["errors"]["title"]
    assert await bot.services.in_flight.drained(within=10)
    assert incident_channels(emulator) == []


async def test_a_form_submitted_twice_opens_one_incident(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    form = await open_form(emulator, people.alice, people.general)

    answers = await asyncio.gather(
        emulator.submit_view(people.alice, form.id, filled("Login broken")),
        emulator.submit_view(people.alice, form.id, filled("Login broken")),
    )
    assert await bot.services.in_flight.drained(within=10)

    assert [a.status for a in answers] == [200, 200]
    assert len(incident_channels(emulator)) == 1
    async with bot.db.transaction() as store:
        assert await store.count() == 1

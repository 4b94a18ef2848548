"""A private incident is seen and changed only by its channel's members, the same rule as Slack's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app import IncidentBot
from bot.emulator import SlackEmulator
from bot.slack.ids import CallbackId
from tests.conftest import People, write_config

from .forgery import send_altered
from .steps import open_incident, run, wait_for_private
from .test_authorization import stored


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    text = (Path(__file__).resolve().parents[2] / "app.yaml").read_text(encoding="utf-8")
    return write_config(tmp_path, text.replace("  private: false", "  private: true"))


async def test_status_elsewhere_lists_a_private_incident_only_to_its_members(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Secret merger leak")
    assert channel.is_private
    assert people.carol not in channel.members

    await run(emulator, people.carol, people.general, "status")
    await run(emulator, people.alice, people.general, "status")

    assert "No incidents are open" in await wait_for_private(emulator, people.carol, "incidents are open")
    assert "Secret merger leak" in await wait_for_private(emulator, people.alice, "open incident")
    assert not any("Secret merger" in n.text for n in emulator.notices if n.user == people.carol)


async def test_the_shortcut_offers_and_accepts_a_private_incident_only_to_its_members(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Secret merger leak")
    said = await emulator.post_message(people.carol, people.general, "I saw the numbers on a shared screen")
    await emulator.message_shortcut(people.carol, people.general, said.ts, CallbackId.ADD_TO_TIMELINE)
    await emulator.message_shortcut(people.alice, people.general, said.ts, CallbackId.ADD_TO_TIMELINE)

    def form_of(user: str) -> Any:
        return next((v for v in emulator.views.values() if v.user == user and "Secret" in str(v.view)), None)

    await emulator.wait_for(lambda: form_of(people.alice) is not None, what="alice's form lists the incident")
    await emulator.wait_idle()
    submitted = await emulator.submit_view(people.alice, form_of(people.alice).id, {"kind": {"value": "impact"}})
    assert await bot.services.in_flight.drained(within=5)

    def as_carol(payload: dict[str, Any]) -> None:  # alice's submission, replayed as carol's, from a "new" view
        payload["user"]["id"] = people.carol
        payload["view"]["id"] = "V0FORGED01"

    forged = await send_altered(emulator, submitted, as_carol)
    assert await bot.services.in_flight.drained(within=5)

    assert form_of(people.carol) is None  # carol was never offered it
    assert forged.status == 200
    entries = await bot.services.timeline.entries(await stored(bot, emulator, channel))
    assert len([e for e in entries if e.source == "shortcut"]) == 1  # alice's; carol's forged one was refused

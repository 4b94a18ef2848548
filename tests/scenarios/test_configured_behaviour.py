"""What app.yaml changes: who is invited per severity, announcements, the channel name, the command name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import load_config
from bot.emulator import SlackEmulator
from tests.conftest import People, environment, serving

from .steps import open_incident, wait_for_private

CONFIG = """
command: /inc
channel:
  name_template: "{{severity}}-{{number}}-{{slug}}"
  private: true
severities:
  - name: sev1
    label: "SEV1 · Critical"
    description: Customer-facing outage
    invite: [{sre}]
  - name: sev2
    label: "SEV2 · Major"
    description: Major feature broken
default_severity: sev2
announcement_channel: {announcements}
"""


@pytest.fixture
def announcements(emulator: SlackEmulator, people: People) -> str:
    return emulator.add_channel("incidents", members=[people.alice, people.bob, people.carol])


@pytest.fixture
def config_path(tmp_path: Path, people: People, announcements: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(CONFIG.format(sre=people.carol, announcements=announcements), encoding="utf-8")
    return path


async def open_with(emulator: SlackEmulator, user: str, channel: str, text: str) -> None:
    delivery = await emulator.send_command(user, channel, "/inc", text)
    assert delivery.status == 200


async def test_the_configured_command_template_and_privacy_are_used(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await open_with(emulator, people.alice, people.general, "open Cache stampede")
    await emulator.wait_for(lambda: emulator.channel_by_name("sev2-1-cache-stampede") is not None)

    channel = emulator.channel_by_name("sev2-1-cache-stampede")
    assert channel is not None
    assert channel.is_private
    assert await wait_for_private(emulator, people.alice, f"<#{channel.id}>")


async def test_a_severity_invites_its_people_when_opened_at_that_level(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await open_with(emulator, people.alice, people.general, "open sev1 Payments down")
    await emulator.wait_for(lambda: emulator.channel_by_name("sev1-1-payments-down") is not None)
    channel = emulator.channel_by_name("sev1-1-payments-down")
    assert channel is not None

    await emulator.wait_for(lambda: people.carol in channel.members, what="carol (sev1 invite list) is invited")
    assert people.bob not in channel.members


async def test_escalating_to_a_severity_invites_its_people(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await open_with(emulator, people.alice, people.general, "open Search slow")
    await emulator.wait_for(lambda: bool((c := emulator.channel_by_name("sev2-1-search-slow")) and c.pins))
    channel = emulator.channel_by_name("sev2-1-search-slow")
    assert channel is not None
    assert people.carol not in channel.members

    await emulator.send_command(people.alice, channel.id, "/inc", "severity sev1")

    await emulator.wait_for(lambda: people.carol in channel.members, what="carol is invited on escalation")


async def test_a_new_private_incident_is_announced_without_its_title_or_channel(
    emulator: SlackEmulator, bot: IncidentBot, people: People, announcements: str
) -> None:
    await open_with(emulator, people.alice, people.general, "open Login broken")
    await emulator.wait_for(lambda: len(emulator.workspace.channels[announcements].messages) > 0)

    channel = emulator.channel_by_name("sev2-1-login-broken")
    assert channel is not None
    text = emulator.workspace.channels[announcements].messages[-1].text
    assert "INC-2026-001" in text
    assert "Login broken" not in text  # the announcement channel is not the private channel's members
    assert channel.id not in text


def made_public(config_path: Path) -> None:
    public = config_path.read_text(encoding="utf-8").replace("private: true", "private: false")
    config_path.write_text(public, encoding="utf-8")


async def test_a_new_public_incident_is_announced_with_its_title_and_a_link(
    emulator: SlackEmulator, people: People, announcements: str, config_path: Path, database_url: str
) -> None:
    made_public(config_path)
    async with serving(load_config(config_path, environment(emulator, database_url)), emulator):
        await open_with(emulator, people.alice, people.general, "open Login broken")
        await emulator.wait_for(lambda: len(emulator.workspace.channels[announcements].messages) > 0)

    channel = emulator.channel_by_name("sev2-1-login-broken")
    assert channel is not None
    text = emulator.workspace.channels[announcements].messages[-1].text
    assert "Login broken" in text
    assert f"<#{channel.id}>" in text


async def test_the_default_command_name_is_not_answered_when_another_is_configured(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    delivery = await emulator.send_command(people.alice, people.general, "/incident", "open Wrong command")

    assert delivery.status == 404
    assert emulator.calls_to("conversations.create") == []


REACTION_CONFIG = """
command: /incident
severities:
  - name: sev1
    label: "SEV1"
    description: Outage
default_severity: sev1
timeline:
  reactions:
    eyes: finding
  confirm: reaction
  confirm_reaction: ballot_box_with_check
"""


async def test_a_mark_can_be_confirmed_with_the_bots_own_reaction_which_marks_nothing(
    emulator: SlackEmulator, people: People, database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "reaction.yaml").write_text(REACTION_CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "reaction.yaml", environment(emulator, database_url))
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Eyes on it")
        posted = await emulator.post_message(people.alice, channel.id, "queue depth 10k")

        await emulator.react(people.alice, channel.id, posted.ts, "eyes")
        await emulator.wait_for(lambda: "ballot_box_with_check" in channel.find(posted.ts).reactions)  # type: ignore[union-attr]
        await emulator.wait_idle()
        assert await bot.background.drained(within=5)

        incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
        assert incident is not None
        entries = [e for e in await bot.services.timeline.entries(incident) if e.ts == posted.ts]
    assert [e.kinds for e in entries] == [("finding",)]
    assert channel.find(posted.ts).reactions["ballot_box_with_check"] == [emulator.bot_user_id]  # type: ignore[union-attr]
    assert not any("Marked as" in e.text for e in emulator.ephemerals)


async def test_resolving_links_the_final_report_in_the_announcement_channel(
    emulator: SlackEmulator, bot: IncidentBot, people: People, announcements: str
) -> None:
    await open_with(emulator, people.alice, people.general, "open Login broken")
    await emulator.wait_for(lambda: bool((c := emulator.channel_by_name("sev2-1-login-broken")) and c.pins))
    channel = emulator.channel_by_name("sev2-1-login-broken")
    assert channel is not None

    await emulator.send_command(people.alice, channel.id, "/inc", "resolve")
    await emulator.wait_for(
        lambda: any("post-incident report" in m.text for m in emulator.workspace.channels[announcements].messages),
        timeout=10,
    )

    link = next(m.text for m in emulator.workspace.channels[announcements].messages if "post-incident report" in m.text)
    assert "INC-" in link
    assert f"/archives/{channel.id}/p" in link

"""Opening survives Slack's bad days: a call that took effect although its answer was lost (a 5xx, a timeout) is
checked before it is repeated, so there is one channel and one card, and the opener is told what happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import IncidentBot
from bot.config import Config
from bot.emulator import Message, SlackEmulator
from bot.services import opening
from tests.conftest import People, serving

from .steps import card, incident_channels, run, wait_for_private
from .test_open_form import filled, open_form

TIMEOUT = 1.0  # the bot's Web API timeout in these tests (30 s in production)


@pytest.fixture
async def bot(config: Config, emulator: SlackEmulator, people: People) -> AsyncIterator[IncidentBot]:
    async with serving(config, emulator, slack_timeout=TIMEOUT, reconcile_seconds=0.2) as incident_bot:
        yield incident_bot


async def incidents_stored(bot: IncidentBot) -> int:
    async with bot.db.transaction() as store:
        return await store.count()


def is_card(message: Message) -> bool:
    """The message with the incident card's buttons."""
    return any(str(block.get("block_id", "")).startswith("incident.card.") for block in message.blocks)


def cards(emulator: SlackEmulator) -> list[str]:
    """Every incident card the bot posted, in every incident channel."""
    return [m.ts for c in incident_channels(emulator) for m in c.messages if m.bot_id == emulator.bot_id and is_card(m)]


async def setup_finished(bot: IncidentBot, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        async with bot.db.transaction() as store:
            if not await store.unfinished_setups():
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the setup was not finished within {within} s")


async def opened_once(emulator: SlackEmulator, bot: IncidentBot, people: People) -> None:
    """Exactly one incident, one channel, one pinned card; the opener is in the channel and was told."""
    told = await wait_for_private(emulator, people.alice, "Opened *INC-2026-001*", within=10)
    await setup_finished(bot)  # the opener is told just before the setup is recorded as done
    await emulator.wait_idle()
    assert await bot.services.in_flight.drained(within=10)
    [channel] = incident_channels(emulator)
    assert channel.name == "inc-2026-001-payments-down"
    assert f"<#{channel.id}>" in told
    assert people.alice in channel.members
    assert len(cards(emulator)) == 1
    assert channel.pins == [card(emulator, channel)["ts"]]
    assert await incidents_stored(bot) == 1
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    assert incident.setup_done


async def test_a_channel_created_behind_a_5xx_is_adopted_not_duplicated(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.fail_after_performing("conversations.create", status=500)

    await run(emulator, people.alice, people.general, "open Payments down")

    await opened_once(emulator, bot, people)


async def test_a_channel_created_behind_a_timeout_is_adopted_and_the_opener_is_not_told_nothing_was_created(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.delay_after_performing("conversations.create", TIMEOUT + 1)

    await run(emulator, people.alice, people.general, "open Payments down")

    await opened_once(emulator, bot, people)
    assert not any("Nothing was created" in n.text for n in emulator.notices)


async def test_a_card_posted_behind_a_5xx_is_posted_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.fail_after_performing("chat.postMessage", status=503)

    await run(emulator, people.alice, people.general, "open Payments down")

    await opened_once(emulator, bot, people)


async def test_a_card_posted_behind_a_timeout_is_posted_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.delay_after_performing("chat.postMessage", TIMEOUT + 1)

    await run(emulator, people.alice, people.general, "open Payments down")

    await opened_once(emulator, bot, people)


async def test_when_slack_does_not_answer_at_all_the_incident_is_finished_once_it_does(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    held = emulator.hold("conversations.create", perform=False)  # Slack takes the call and never answers

    await run(emulator, people.alice, people.general, "open Payments down")

    assert "recorded, but Slack is not answering" in await wait_for_private(emulator, people.alice, "recorded")
    await opened_once(emulator, bot, people)  # the next attempt is answered: finished, and the opener told
    assert not held.released


async def test_a_card_posted_behind_a_5xx_while_history_is_rate_limited_is_found_later_not_orphaned(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.fail_after_performing("chat.postMessage", status=503)
    emulator.rate_limit_next("conversations.history", retry_after=1, times=4)  # slack_sdk retries 429 three times

    await run(emulator, people.alice, people.general, "open Payments down")

    await opened_once(emulator, bot, people)  # the card found (by its metadata) once history answered, and pinned
    incident = await bot.services.incidents.in_channel(emulator.team_id, incident_channels(emulator)[0].id)
    assert incident is not None
    assert incident.card_ts == cards(emulator)[0]


async def test_an_opening_given_up_on_keeps_the_channel_it_may_have_created(
    emulator: SlackEmulator, bot: IncidentBot, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opening, "MAX_ATTEMPTS", 1)  # give up at the first retry
    emulator.fail_after_performing("conversations.create", status=503)
    emulator.fail_next("users.conversations", error="internal_error", times=2)  # cannot look for it, twice

    await run(emulator, people.alice, people.general, "open Payments down")

    await opened_once(emulator, bot, people)  # not removed while its channel could exist; adopted once it is seen


async def test_the_opener_of_a_closed_form_is_told_privately_in_the_incident_channel(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    emulator.hold("conversations.create", perform=False)  # Slack does not answer the first attempt at all
    form = await open_form(emulator, people.alice, people.general)
    await emulator.submit_view(people.alice, form.id, filled("Payments down"))
    await emulator.wait_for(lambda: "not answering" in str(emulator.views[form.id].view), what="the form says so")

    await emulator.close_view(people.alice, form.id)

    told = await wait_for_private(emulator, people.alice, "Opened *INC-2026-001*", within=10)
    assert f"<#{incident_channels(emulator)[0].id}>" in told

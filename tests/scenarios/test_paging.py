"""Paging the on-call: automatically for the severities app.yaml names, or with `/incident page <service>`; the pages
resolved when the incident is; against local fakes of PagerDuty's Events API v2 and Opsgenie's Alert API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import Channel, SlackEmulator
from bot.slack.ids import ActionId
from bot.storage.pages import Page
from tests.conftest import ROOT, People, environment, serving
from tests.fakes.opsgenie import FakeOpsgenie
from tests.fakes.pagerduty import FakePagerDuty

from .steps import (
    bot_lines,
    incident_channels,
    open_incident,
    private_texts,
    run,
    run_until_line,
    settled,
    wait_for_line,
    wait_for_private,
)

PAYMENTS_KEY = "0123456789abcdef0123456789abcdef"  # a PagerDuty integration key is 32 characters
SEARCH_KEY = "fedcba9876543210fedcba9876543210"
PLATFORM_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"  # an Opsgenie API integration key

CONFIG = """
command: /incident
paging:
  services:
    - name: payments
      pagerduty_routing_key_env: PAGERDUTY_KEY_PAYMENTS
    - name: search
      pagerduty_routing_key_env: PAGERDUTY_KEY_SEARCH
    - name: platform
      opsgenie_api_key_env: OPSGENIE_KEY_PLATFORM
severities:
  - name: sev1
    label: "SEV1 · Critical"
    description: Customer-facing outage
    page: [payments, platform]
  - name: sev2
    label: "SEV2 · Major"
    description: Major feature broken
    page: [payments]
  - name: sev3
    label: "SEV3 · Minor"
    description: Minor feature broken
default_severity: sev3
suggestions:
  enabled: false
"""


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty({PAYMENTS_KEY, SEARCH_KEY})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def opsgenie() -> AsyncIterator[FakeOpsgenie]:
    fake = FakeOpsgenie({PLATFORM_KEY})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def config(
    tmp_path: Path, emulator: SlackEmulator, database_url: str, pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> Config:
    path = tmp_path / "app.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(
        path,
        environment(
            emulator,
            database_url,
            PAGERDUTY_EVENTS_URL=pagerduty.url,
            OPSGENIE_API_URL=opsgenie.url,
            PAGERDUTY_KEY_PAYMENTS=PAYMENTS_KEY,
            PAGERDUTY_KEY_SEARCH=SEARCH_KEY,
            OPSGENIE_KEY_PLATFORM=PLATFORM_KEY,
        ),
    )


def lines_with(emulator: SlackEmulator, channel: Channel, fragment: str) -> list[str]:
    return [line for line in bot_lines(emulator, channel) if fragment in line]


async def timeline_texts(emulator: SlackEmulator, bot: IncidentBot, channel: Channel) -> list[str]:
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    return [entry.text for entry in await bot.services.timeline.entries(incident)]


async def pages_of(emulator: SlackEmulator, bot: IncidentBot, channel: Channel) -> list[Page]:
    async with bot.db.transaction() as store:
        incident = await store.get_by_channel(emulator.team_id, channel.id)
        assert incident is not None
        return await store.pages.of_incident(incident.id)


# --- automatic pages -------------------------------------------------------------------------------------


async def test_an_incident_opened_at_a_severity_that_pages_pages_its_services_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev1 Checkout is down")
    await wait_for_line(emulator, channel, "Paged *payments* on PagerDuty")
    await wait_for_line(emulator, channel, "Paged *platform* on Opsgenie")
    await settled(emulator, bot)

    [alert] = pagerduty.open_alerts()
    assert alert.routing_key == PAYMENTS_KEY
    assert alert.dedup_key == f"{emulator.team_id}-INC-{alert.dedup_key.split('-INC-')[1]}"
    assert alert.dedup_key.endswith("-payments")
    assert alert.severity == "critical"
    assert "Checkout is down" in alert.summary
    assert alert.body["links"][0]["href"].endswith(f"channel={channel.id}")
    [og] = opsgenie.open_alerts()
    assert og.alias.endswith("-platform")
    assert og.priority == "P1"
    assert lines_with(emulator, channel, "app.yaml pages it for *SEV1 · Critical* incidents")
    assert "Paged payments (PagerDuty)" in await timeline_texts(emulator, bot, channel)


async def test_an_open_command_slack_delivers_twice_pages_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    first = await run(emulator, people.alice, people.general, "open sev2 Refunds fail")
    await emulator.redeliver(first, retry_num=1, retry_reason="http_timeout")
    await emulator.wait_for(lambda: len(pagerduty.events) == 1, what="a page")
    await settled(emulator, bot)

    assert len(pagerduty.events) == 1
    assert len(pagerduty.alerts) == 1


async def test_an_incident_whose_opening_slack_interrupted_pages_once_the_reconciler_finishes_it(
    emulator: SlackEmulator, config: Config, people: People, pagerduty: FakePagerDuty
) -> None:
    async with serving(config, emulator, slack_timeout=1.0, reconcile_seconds=0.2) as bot:
        emulator.fail_after_performing("conversations.create", status=503)  # created, but the answer is lost
        emulator.fail_next("users.conversations", error="internal_error", times=1)  # and it cannot look for it yet
        await run(emulator, people.alice, people.general, "open sev2 Refunds fail")

        await wait_for_private(emulator, people.alice, "Slack is not answering right now")
        await wait_for_private(emulator, people.alice, "Opened *INC-2026-001*", within=10)
        [channel] = incident_channels(emulator)
        await wait_for_line(emulator, channel, "Paged *payments* on PagerDuty")
        await settled(emulator, bot)

    assert len(pagerduty.events) == 1
    assert pagerduty.alerts[0].body["links"][0]["href"].endswith(f"channel={channel.id}")


async def test_a_severity_chosen_on_the_card_pages_too(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Refunds fail")

    await emulator.click(people.bob, channel.id, channel.pins[0], ActionId.SEVERITY, selected_option="sev2")
    line = await wait_for_line(emulator, channel, "Paged *payments* on PagerDuty")

    assert "*SEV2 · Major*" in line
    assert len(pagerduty.alerts) == 1


async def test_an_incident_opened_at_a_severity_that_pages_nobody_pages_nobody(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search is a bit slow")
    await settled(emulator, bot)

    assert pagerduty.events == []
    assert opsgenie.requests == []
    assert lines_with(emulator, channel, ":pager:") == []


async def test_raising_the_severity_pages_what_the_new_level_pages_and_nothing_twice(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Refunds fail")

    await run_until_line(emulator, people.alice, channel, "severity sev2", "Paged *payments* on PagerDuty")
    await run_until_line(emulator, people.alice, channel, "severity sev1", "Paged *platform* on Opsgenie")
    await settled(emulator, bot)

    assert len(pagerduty.accepted("trigger")) == 1  # payments was paged at sev2; sev1 does not page it again
    assert len(pagerduty.open_alerts()) == 1
    assert len(opsgenie.open_alerts()) == 1
    assert len(lines_with(emulator, channel, "Paged *payments*")) == 1


# --- /incident page ----------------------------------------------------------------------------------------


async def test_paging_a_service_by_hand_pages_it_and_says_who_did_in_the_channel_and_on_the_timeline(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")

    line = await run_until_line(emulator, people.bob, channel, "page search", "paged *search* on PagerDuty")
    await settled(emulator, bot)

    assert line.startswith(f":pager: <@{people.bob}> paged *search* on PagerDuty for INC-")
    [alert] = pagerduty.open_alerts()
    assert alert.routing_key == SEARCH_KEY
    assert alert.severity == "warning"  # SEV3, the third level
    assert alert.body["payload"]["custom_details"]["paged_by"] == people.bob
    assert "Paged search (PagerDuty)" in await timeline_texts(emulator, bot, channel)


async def test_an_unknown_service_is_answered_privately_with_the_services_there_are(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")

    await run(emulator, people.bob, channel.id, "page serach")
    message = await wait_for_private(emulator, people.bob, "is not a service I can page")
    await settled(emulator, bot)

    assert "`payments` (PagerDuty), `search` (PagerDuty), `platform` (Opsgenie)" in message
    assert pagerduty.events == []
    assert lines_with(emulator, channel, ":pager:") == []


async def test_page_without_a_service_lists_the_services(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")

    await run(emulator, people.bob, channel.id, "page")

    assert "I can page: `payments`" in await wait_for_private(emulator, people.bob, "Which service?")


async def test_page_outside_an_incident_channel_says_where_it_works(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    await run(emulator, people.bob, people.general, "page payments")

    assert "works inside an incident channel" in await wait_for_private(emulator, people.bob, "page")
    assert pagerduty.events == []


async def test_a_command_slack_delivers_twice_pages_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")

    first = await run(emulator, people.bob, channel.id, "page search")
    await emulator.redeliver(first, retry_num=1, retry_reason="http_timeout")
    await wait_for_line(emulator, channel, "paged *search*")
    await settled(emulator, bot)

    assert len(pagerduty.events) == 1
    assert len(lines_with(emulator, channel, "paged *search*")) == 1


async def test_paging_a_service_already_paged_does_not_page_it_again(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev2 Refunds fail")
    await wait_for_line(emulator, channel, "Paged *payments*")
    await settled(emulator, bot)

    await run(emulator, people.bob, channel.id, "page payments")
    message = await wait_for_private(emulator, people.bob, "was already paged")
    await settled(emulator, bot)

    assert "not paged twice" in message
    assert len(pagerduty.events) == 1
    assert len(lines_with(emulator, channel, "*payments*")) == 1


async def test_two_people_paging_the_same_service_at_once_make_one_alert(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")

    await run(emulator, people.alice, channel.id, "page search")
    await run_until_line(emulator, people.bob, channel, "page search", "paged *search*")
    await settled(emulator, bot)

    assert len(pagerduty.alerts) == 1
    assert len(lines_with(emulator, channel, "paged *search*")) == 1


# --- resolving -------------------------------------------------------------------------------------------


async def test_resolving_the_incident_resolves_every_page_of_it(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev1 Checkout is down")
    await run_until_line(emulator, people.bob, channel, "page search", "paged *search*")
    await wait_for_line(emulator, channel, "Paged *payments*")
    await wait_for_line(emulator, channel, "Paged *platform*")

    await run_until_line(emulator, people.alice, channel, "resolve", "The page of *payments* on PagerDuty is resolved")
    await wait_for_line(emulator, channel, "The page of *search* on PagerDuty is resolved")
    await wait_for_line(emulator, channel, "The page of *platform* on Opsgenie is resolved")
    await settled(emulator, bot)

    assert pagerduty.open_alerts() == []
    assert [a.log for a in pagerduty.alerts] == [["trigger", "resolve"], ["trigger", "resolve"]]
    assert opsgenie.open_alerts() == []
    assert "Page resolved: payments (PagerDuty)" in await timeline_texts(emulator, bot, channel)


async def test_a_resolve_the_provider_does_not_accept_is_told_and_can_be_sent_again_later(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev2 Refunds fail")
    await wait_for_line(emulator, channel, "Paged *payments*")
    await settled(emulator, bot)
    pagerduty.fail_next(500)

    line = await run_until_line(
        emulator, people.alice, channel, "resolve", "I could not resolve the page of *payments* on PagerDuty"
    )
    await settled(emulator, bot)
    [page] = await pages_of(emulator, bot, channel)
    again = await bot.pager.resolve(page.id, people.alice)  # what a retry job would do

    assert "failed on its side (HTTP 500)" in line
    assert "It is still open there" in line
    assert page.resolved_at is None
    assert again is True
    assert pagerduty.open_alerts() == []
    assert await bot.pager.resolve(page.id, people.alice) is False  # resolved once: nothing more is sent
    assert len(pagerduty.accepted("resolve")) == 1


async def test_a_resolved_incident_is_not_paged(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    await run_until_line(emulator, people.alice, channel, "resolve", "resolved the incident")

    await run(emulator, people.bob, channel.id, "page search")

    assert "nobody is paged" in await wait_for_private(emulator, people.bob, "is resolved")
    assert pagerduty.events == []


# --- failures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "said"),
    [
        (429, "30", "rate limited (HTTP 429); it asks to wait 30 s"),
        (500, None, "failed on its side (HTTP 500)"),
        (400, None, "refused the event (HTTP 400): Event object is invalid"),
    ],
)
async def test_a_page_the_provider_does_not_accept_is_told_in_the_channel_and_recorded(
    emulator: SlackEmulator,
    bot: IncidentBot,
    people: People,
    pagerduty: FakePagerDuty,
    status: int,
    retry_after: str | None,
    said: str,
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    pagerduty.fail_next(status, retry_after=retry_after)

    line = await run_until_line(emulator, people.bob, channel, "page search", "I could not page *search* on PagerDuty")
    await settled(emulator, bot)

    assert said in line
    assert "Nobody was paged through me" in line
    assert pagerduty.alerts == []
    timeline = await timeline_texts(emulator, bot, channel)
    assert any(text.startswith(f"Paging failed: search (PagerDuty): {said}") for text in timeline)
    [page] = await pages_of(emulator, bot, channel)
    assert page.triggered_at is None
    assert page.last_error is not None
    assert page.last_error.startswith(said)
    assert (page.retry_at is not None) == (retry_after is not None)
    metrics = bot.metrics.render().decode()
    assert f'incident_bot_pages_total{{action="trigger",outcome="{status}",provider="pagerduty"}} 1.0' in metrics


async def test_a_failed_page_is_sent_again_when_asked_again_and_then_said_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    pagerduty.fail_next(429)
    await run_until_line(emulator, people.bob, channel, "page search", "I could not page *search*")
    await settled(emulator, bot)

    await run_until_line(emulator, people.bob, channel, "page search", "paged *search* on PagerDuty")
    await settled(emulator, bot)

    assert "Paging *search* again" in "\n".join(private_texts(emulator, people.bob))
    assert len(pagerduty.alerts) == 1
    assert len(pagerduty.accepted("trigger")) == 1


async def test_a_page_whose_trigger_is_retried_later_is_idempotent(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev2 Refunds fail")
    await wait_for_line(emulator, channel, "Paged *payments*")
    await settled(emulator, bot)
    [page] = await pages_of(emulator, bot, channel)

    again = await bot.pager.trigger(page.id)  # what a retry job would do

    assert again is False
    assert len(pagerduty.events) == 1


# --- what a page says, and where paging is not set up -------------------------------------------------------


async def test_a_private_incidents_page_names_neither_its_title_nor_its_channel(
    tmp_path: Path, emulator: SlackEmulator, database_url: str, people: People, pagerduty: FakePagerDuty
) -> None:
    path = tmp_path / "private.yaml"
    path.write_text(CONFIG.replace("command: /incident\n", "command: /incident\nchannel:\n  private: true\n"))
    config = load_config(
        path,
        environment(
            emulator,
            database_url,
            PAGERDUTY_EVENTS_URL=pagerduty.url,
            PAGERDUTY_KEY_PAYMENTS=PAYMENTS_KEY,
            PAGERDUTY_KEY_SEARCH=SEARCH_KEY,
            OPSGENIE_KEY_PLATFORM=PLATFORM_KEY,
        ),
    )
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "sev2 Acquisition talks leaked")
        await wait_for_line(emulator, channel, "Paged *payments*")
        await settled(emulator, bot)

    [alert] = pagerduty.alerts
    sent = json.dumps(alert.body)
    assert "Acquisition" not in sent
    assert channel.name not in sent
    assert alert.summary.endswith(": a private incident (SEV2 · Major)")
    assert alert.body["links"][0]["href"].endswith(f"channel={channel.id}")  # useful to its members only


async def test_where_paging_is_not_set_up_the_command_says_so(
    emulator: SlackEmulator, database_url: str, people: People
) -> None:
    config = load_config(ROOT / "app.yaml", environment(emulator, database_url))
    async with serving(config, emulator):
        channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
        await run(emulator, people.bob, channel.id, "page payments")

        assert "app.yaml" in await wait_for_private(emulator, people.bob, "Paging is not set up here")


async def test_a_reopened_incident_pages_again_and_resolving_it_again_resolves_the_new_alerts(
    emulator: SlackEmulator, bot: IncidentBot, people: People, pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev1 Checkout is down")
    await wait_for_line(emulator, channel, "Paged *payments*")
    await wait_for_line(emulator, channel, "Paged *platform*")
    await run(emulator, people.alice, channel.id, "resolve")
    await wait_for_line(emulator, channel, "The page of *payments* on PagerDuty is resolved")
    await wait_for_line(emulator, channel, "The page of *platform* on Opsgenie is resolved")
    await settled(emulator, bot)

    await run(emulator, people.bob, channel.id, "reopen")
    await emulator.wait_for(
        lambda: len(lines_with(emulator, channel, "Paged *payments*")) == 2, what="paged again", timeout=30
    )
    await emulator.wait_for(
        lambda: len(lines_with(emulator, channel, "Paged *platform*")) == 2, what="paged again", timeout=30
    )
    await settled(emulator, bot)
    open_after_reopen = (len(pagerduty.open_alerts()), len(opsgenie.open_alerts()))
    await run(emulator, people.alice, channel.id, "resolve")
    await emulator.wait_for(
        lambda: len(lines_with(emulator, channel, "The page of *payments* on PagerDuty is resolved")) == 2,
        what="resolved again",
        timeout=30,  # Slack paces posts per channel: a guard against a hang, not a timed assertion
    )
    await emulator.wait_for(
        lambda: len(lines_with(emulator, channel, "The page of *platform* on Opsgenie is resolved")) == 2,
        what="resolved again",
        timeout=30,  # Slack paces posts per channel: a guard against a hang, not a timed assertion
    )
    await settled(emulator, bot)

    assert open_after_reopen == (1, 1)
    [first, second] = pagerduty.alerts  # one alert per life of the incident, with the same dedup_key
    assert first.dedup_key == second.dedup_key
    assert [first.log, second.log] == [["trigger", "resolve"], ["trigger", "resolve"]]
    assert pagerduty.open_alerts() == []
    assert opsgenie.open_alerts() == []
    assert len(opsgenie.alerts) == 2
    [payments] = [p for p in await pages_of(emulator, bot, channel) if p.service == "payments"]
    assert payments.requested_by == people.bob  # whose reopening paged it again
    assert payments.resolved_at is not None


async def test_an_opsgenie_alert_that_fails_after_being_accepted_is_told_in_the_channel(
    emulator: SlackEmulator, bot: IncidentBot, people: People, opsgenie: FakeOpsgenie
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    opsgenie.fail_processing_next("Alert creation failed: the integration is disabled")

    await run(emulator, people.bob, channel.id, "page platform")
    told = await wait_for_line(emulator, channel, "I could not page *platform* on Opsgenie")
    await settled(emulator, bot)

    assert "accepted the alert, then failed to create it: Alert creation failed: the integration is disabled" in told
    assert opsgenie.alerts == []
    [page] = await pages_of(emulator, bot, channel)
    assert page.triggered_at is None

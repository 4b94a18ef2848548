"""The paging client (bot/paging.py) against local fakes of PagerDuty's Events API v2 and Opsgenie's Alert API, and
the fakes themselves against the documented request and response shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from bot.config import OPSGENIE, PAGERDUTY, PagingService, PagingSettings, Secret
from bot.paging import Alert, PagingClient, PagingFailed
from tests.conftest import free_socket
from tests.fakes.opsgenie import FakeOpsgenie
from tests.fakes.pagerduty import FakePagerDuty

PD_KEY = "0123456789abcdef0123456789abcdef"
OG_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
PAYMENTS = PagingService("payments", PAGERDUTY, "PAGERDUTY_KEY_PAYMENTS", Secret(PD_KEY))
PLATFORM = PagingService("platform", OPSGENIE, "OPSGENIE_KEY_PLATFORM", Secret(OG_KEY))
ALERT = Alert(
    dedup_key="T1-INC-2026-001-payments",
    summary="INC-2026-001: Checkout is down (SEV1 · Critical)",
    rank=0,
    details={"incident": "INC-2026-001"},
    links=(("https://slack.com/app_redirect?team=T1&channel=C1", "Slack: #inc-2026-001"),),
)


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty({PD_KEY})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def opsgenie() -> AsyncIterator[FakeOpsgenie]:
    fake = FakeOpsgenie({OG_KEY})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def client(pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie) -> AsyncIterator[PagingClient]:
    paging = PagingClient(PagingSettings((PAYMENTS, PLATFORM), pagerduty.url, opsgenie.url))
    yield paging
    await paging.close()


async def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


# --- PagerDuty ---------------------------------------------------------------------------------------------


async def test_a_trigger_sends_the_documented_event_and_pagerduty_opens_one_alert(
    client: PagingClient, pagerduty: FakePagerDuty
) -> None:
    await client.trigger(PAYMENTS, ALERT)

    [alert] = pagerduty.open_alerts()
    assert alert.dedup_key == "T1-INC-2026-001-payments"
    assert alert.body["event_action"] == "trigger"
    assert alert.body["payload"]["severity"] == "critical"
    assert alert.body["payload"]["source"] == "incident-bot"
    assert alert.body["links"] == [{"href": ALERT.links[0][0], "text": ALERT.links[0][1]}]


async def test_a_second_trigger_with_the_same_dedup_key_opens_no_second_alert(
    client: PagingClient, pagerduty: FakePagerDuty
) -> None:
    await client.trigger(PAYMENTS, ALERT)
    await client.trigger(PAYMENTS, ALERT)

    assert len(pagerduty.alerts) == 1
    assert pagerduty.alerts[0].log == ["trigger", "trigger"]


async def test_a_resolve_resolves_the_alert_and_a_later_trigger_opens_a_new_one(
    client: PagingClient, pagerduty: FakePagerDuty
) -> None:
    await client.trigger(PAYMENTS, ALERT)
    await client.resolve(PAYMENTS, ALERT.dedup_key, "resolved")
    await client.trigger(PAYMENTS, ALERT)

    assert [a.status for a in pagerduty.alerts] == ["resolved", "triggered"]


async def test_lower_severities_map_to_pagerdutys_and_a_long_summary_is_cut_to_its_limit(
    client: PagingClient, pagerduty: FakePagerDuty
) -> None:
    await client.trigger(PAYMENTS, Alert("k1", "x" * 2000, rank=1))
    await client.trigger(PAYMENTS, Alert("k2", "y", rank=7))

    assert [a.severity for a in pagerduty.alerts] == ["error", "info"]
    assert len(pagerduty.alerts[0].summary) == 1024


async def test_a_429_is_worth_retrying_after_its_retry_after(client: PagingClient, pagerduty: FakePagerDuty) -> None:
    pagerduty.fail_next(429, retry_after="30")

    with pytest.raises(PagingFailed) as caught:
        await client.trigger(PAYMENTS, ALERT)

    assert (caught.value.status, caught.value.retry, caught.value.retry_after) == (429, True, 30.0)
    assert pagerduty.alerts == []


async def test_a_retry_after_given_as_a_date_is_read_as_seconds(client: PagingClient, pagerduty: FakePagerDuty) -> None:
    pagerduty.fail_next(429, retry_after=format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True))

    with pytest.raises(PagingFailed) as caught:
        await client.trigger(PAYMENTS, ALERT)

    assert caught.value.retry_after is not None
    assert 60 < caught.value.retry_after <= 120


async def test_a_500_is_worth_retrying_and_a_400_is_not(client: PagingClient, pagerduty: FakePagerDuty) -> None:
    pagerduty.fail_next(500)
    with pytest.raises(PagingFailed) as server_error:
        await client.trigger(PAYMENTS, ALERT)
    pagerduty.fail_next(400)
    with pytest.raises(PagingFailed) as invalid:
        await client.trigger(PAYMENTS, ALERT)

    assert server_error.value.retry
    assert not invalid.value.retry
    assert invalid.value.what == "refused the event (HTTP 400): Event object is invalid"


async def test_an_unknown_routing_key_is_refused_with_pagerdutys_words(
    pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    other = PagingService("search", PAGERDUTY, "PAGERDUTY_KEY_SEARCH", Secret("f" * 32))
    client = PagingClient(PagingSettings((other,), pagerduty.url, opsgenie.url))
    try:
        with pytest.raises(PagingFailed) as caught:
            await client.trigger(other, ALERT)
    finally:
        await client.close()

    assert caught.value.what == (
        "refused the event (HTTP 400): Invalid routing key; check PAGERDUTY_KEY_SEARCH in the bot's environment"
    )
    assert not caught.value.retry


async def test_a_key_not_set_is_refused_before_anything_is_sent(client: PagingClient, pagerduty: FakePagerDuty) -> None:
    unset = PagingService("payments", PAGERDUTY, "PAGERDUTY_KEY_PAYMENTS", None)

    with pytest.raises(PagingFailed) as caught:
        await client.trigger(unset, ALERT)

    assert caught.value.what == "PAGERDUTY_KEY_PAYMENTS is not set in the bot's environment"
    assert pagerduty.events == []


async def test_nothing_listening_is_worth_retrying(opsgenie: FakeOpsgenie) -> None:
    sock = free_socket()  # bound, never listening: connections are refused
    client = PagingClient(PagingSettings((PAYMENTS,), f"http://127.0.0.1:{sock.getsockname()[1]}", opsgenie.url))
    try:
        with pytest.raises(PagingFailed) as caught:
            await client.trigger(PAYMENTS, ALERT)
    finally:
        await client.close()
        sock.close()

    assert caught.value.retry
    assert caught.value.what.startswith("could not reach it")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}}, "routing_key"),
        ({"routing_key": PD_KEY, "payload": {"summary": "s", "source": "x", "severity": "info"}}, "event_action"),
        ({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"source": "x", "severity": "info"}}, "summary"),
        ({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": "s", "severity": "info"}}, "source"),
        ({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x"}}, "severity"),
        (
            {
                "routing_key": PD_KEY,
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "x", "severity": "bad"},
            },
            "severity",
        ),
        ({"routing_key": PD_KEY, "event_action": "resolve"}, "dedup_key"),
        ({"routing_key": "short", "event_action": "resolve", "dedup_key": "k"}, "32 characters"),
    ],
)
async def test_the_fake_pagerduty_refuses_an_invalid_event_as_documented(
    pagerduty: FakePagerDuty, body: dict[str, object], error: str
) -> None:
    status, answer = await post(f"{pagerduty.url}/v2/enqueue", body)

    assert status == 400
    assert answer["status"] == "invalid event"
    assert answer["message"] == "Event object is invalid"
    assert any(error in str(e) for e in answer["errors"])  # type: ignore[attr-defined]


async def test_the_fake_pagerduty_answers_an_accepted_event_as_documented(pagerduty: FakePagerDuty) -> None:
    status, answer = await post(
        f"{pagerduty.url}/v2/enqueue",
        {
            "routing_key": PD_KEY,
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "info"},
        },
    )

    assert status == 202
    assert answer["status"] == "success"
    assert answer["message"] == "Event processed"
    assert isinstance(answer["dedup_key"], str)


# --- Opsgenie -----------------------------------------------------------------------------------------------


async def test_an_opsgenie_trigger_creates_one_alert_under_its_alias_and_the_resolve_closes_it(
    client: PagingClient, opsgenie: FakeOpsgenie
) -> None:
    await client.trigger(PLATFORM, ALERT)
    await client.trigger(PLATFORM, ALERT)
    [alert] = opsgenie.open_alerts()
    await client.resolve(PLATFORM, ALERT.dedup_key, "INC-2026-001 was resolved in Slack.")

    assert (alert.alias, alert.priority, alert.count) == ("T1-INC-2026-001-payments", "P1", 2)
    assert alert.status == "closed"
    assert opsgenie.requests[-1][0] == "/v2/alerts/T1-INC-2026-001-payments/close?identifierType=alias"


async def test_an_opsgenie_message_is_cut_to_its_130_characters(client: PagingClient, opsgenie: FakeOpsgenie) -> None:
    await client.trigger(PLATFORM, Alert("k", "z" * 500, rank=4))

    [alert] = opsgenie.open_alerts()
    assert len(alert.message) == 130
    assert alert.priority == "P5"


async def test_a_wrong_opsgenie_key_is_refused_and_not_worth_retrying(
    pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    wrong = PagingService("platform", OPSGENIE, "OPSGENIE_KEY_PLATFORM", Secret("not-the-key"))
    client = PagingClient(PagingSettings((wrong,), pagerduty.url, opsgenie.url))
    try:
        with pytest.raises(PagingFailed) as caught:
            await client.trigger(wrong, ALERT)
    finally:
        await client.close()

    assert caught.value.what == (
        "refused the key (HTTP 401): Could not authenticate; check OPSGENIE_KEY_PLATFORM in the bot's environment"
    )
    assert not caught.value.retry
    assert opsgenie.alerts == []


async def test_the_fake_opsgenie_refuses_an_alert_without_a_message(opsgenie: FakeOpsgenie) -> None:
    status, answer = await post(f"{opsgenie.url}/v2/alerts", {"alias": "a"}, {"Authorization": f"GenieKey {OG_KEY}"})

    assert status == 422
    assert answer["message"] == "Message can not be empty."
    assert "requestId" in answer


async def test_an_opsgenie_create_is_confirmed_by_asking_for_its_request_status(
    client: PagingClient, opsgenie: FakeOpsgenie
) -> None:
    opsgenie.process_later(polls=1)  # not processed at the first look

    await client.trigger(PLATFORM, ALERT)

    [request_id] = list(opsgenie.statuses)
    assert opsgenie.polls == [request_id, request_id]
    assert opsgenie.statuses[request_id]["isSuccess"] is True
    assert len(opsgenie.open_alerts()) == 1


async def test_an_opsgenie_create_that_fails_after_its_202_is_a_failure_in_opsgenies_words(
    client: PagingClient, opsgenie: FakeOpsgenie
) -> None:
    opsgenie.fail_processing_next("Alert creation failed: the integration is disabled")

    with pytest.raises(PagingFailed) as caught:
        await client.trigger(PLATFORM, ALERT)

    assert caught.value.what == (
        "accepted the alert, then failed to create it: Alert creation failed: the integration is disabled"
    )
    assert not caught.value.retry
    assert opsgenie.alerts == []


async def test_an_opsgenie_create_never_processed_within_the_checks_is_taken_as_accepted(
    pagerduty: FakePagerDuty, opsgenie: FakeOpsgenie
) -> None:
    client = PagingClient(PagingSettings((PLATFORM,), pagerduty.url, opsgenie.url), opsgenie_polls=(0, 0, 0))
    opsgenie.process_later(polls=10)
    try:
        await client.trigger(PLATFORM, ALERT)
    finally:
        await client.close()

    assert len(opsgenie.polls) == 3

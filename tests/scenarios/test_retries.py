"""Retries as scheduler jobs, with the test clock, on SQLite and PostgreSQL: a follow-up export GitHub refused and a
page (trigger or resolve) PagerDuty refused are sent again once the clock has moved past their backoff, and once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import Config
from bot.emulator import Channel, SlackEmulator
from bot.storage.tables import JobRow
from tests.conftest import People, serving
from tests.fakes.opsgenie import FakeOpsgenie
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.trackers import FakeGitHub

from .steps import (
    GITHUB_TOKEN,
    exporting_to_github,
    jobs_done,
    open_incident,
    run,
    run_until_line,
    settled,
    wait_for_line,
    wait_for_private,
)
from .test_paging import config, opsgenie, pagerduty  # noqa: F401 (fixtures)


@pytest.fixture
async def bot(
    config: Config,  # noqa: F811 (test_paging's: paging to the fakes)
    emulator: SlackEmulator,
    people: People,
    github: FakeGitHub,
    clock: ManualClock,
) -> AsyncIterator[IncidentBot]:
    async with serving(exporting_to_github(config, github.url), emulator, clock=clock) as incident_bot:
        yield incident_bot


async def search_paged_and_refused(
    emulator: SlackEmulator,
    bot: IncidentBot,
    people: People,
    pagerduty: FakePagerDuty,  # noqa: F811
    status: int,
) -> tuple[Channel, str]:
    """An incident in which Bob paged *search* and PagerDuty answered `status`: the channel, once settled, and what
    the bot said of it."""
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    pagerduty.fail_next(status)
    told = await run_until_line(emulator, people.bob, channel, "page search", "I could not page *search* on PagerDuty")
    await settled(emulator, bot)
    return channel, told


async def test_an_export_github_refused_is_filed_once_the_clock_moves_past_its_backoff(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People, github: FakeGitHub
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    github.fail_next(503)
    await run(emulator, people.alice, channel.id, "followup Add PgBouncer")
    await wait_for_private(emulator, people.alice, "GitHub answered 503")
    await settled(emulator, bot)

    await jobs_done(bot, clock)
    before = len(github.issues)
    clock.advance(timedelta(seconds=31))
    await jobs_done(bot, clock)
    after = len(github.issues)
    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert before == 0
    assert after == 1
    assert len(github.issues) == 1
    assert await bot.followups.pending_exports() == []


async def test_a_page_pagerduty_refused_is_sent_once_the_clock_moves_past_its_backoff(
    emulator: SlackEmulator,
    bot: IncidentBot,
    clock: ManualClock,
    people: People,
    pagerduty: FakePagerDuty,  # noqa: F811
) -> None:
    channel, _ = await search_paged_and_refused(emulator, bot, people, pagerduty, 500)

    await jobs_done(bot, clock)
    before = len(pagerduty.accepted("trigger"))
    clock.advance(timedelta(seconds=31))
    await jobs_done(bot, clock)
    line = await wait_for_line(emulator, channel, "paged *search* on PagerDuty")
    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert before == 0
    assert "paged *search* on PagerDuty" in line
    assert len(pagerduty.accepted("trigger")) == 1
    assert len(pagerduty.events) == 2  # the refused one and the retry: nothing more
    assert len(pagerduty.alerts) == 1


async def test_a_resolve_pagerduty_refused_is_sent_once_the_clock_moves_past_its_backoff(
    emulator: SlackEmulator,
    bot: IncidentBot,
    clock: ManualClock,
    people: People,
    pagerduty: FakePagerDuty,  # noqa: F811
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "sev2 Refunds fail")
    await wait_for_line(emulator, channel, "Paged *payments*")
    await settled(emulator, bot)
    pagerduty.fail_next(500)
    await run_until_line(
        emulator, people.alice, channel, "resolve", "I could not resolve the page of *payments* on PagerDuty"
    )
    await settled(emulator, bot)

    still_open = len(pagerduty.open_alerts())
    clock.advance(timedelta(seconds=31))
    await jobs_done(bot, clock)
    await wait_for_line(emulator, channel, "The page of *payments* on PagerDuty is resolved")
    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert still_open == 1
    assert pagerduty.open_alerts() == []
    assert len(pagerduty.accepted("resolve")) == 1


async def test_a_page_pagerduty_refuses_as_invalid_is_not_retried(
    emulator: SlackEmulator,
    bot: IncidentBot,
    clock: ManualClock,
    people: People,
    pagerduty: FakePagerDuty,  # noqa: F811
) -> None:
    await search_paged_and_refused(emulator, bot, people, pagerduty, 400)

    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert len(pagerduty.events) == 1
    assert pagerduty.alerts == []


@pytest.mark.parametrize("status", [401, 403])
async def test_a_page_whose_key_pagerduty_refuses_names_its_variable_and_is_not_retried(
    emulator: SlackEmulator,
    bot: IncidentBot,
    clock: ManualClock,
    people: People,
    pagerduty: FakePagerDuty,  # noqa: F811
    status: int,
) -> None:
    _, told = await search_paged_and_refused(emulator, bot, people, pagerduty, status)

    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert f"refused the key (HTTP {status})" in told
    assert "check PAGERDUTY_KEY_SEARCH in the bot's environment" in told
    assert "Sending it again will not help until that is fixed" in told
    assert len(pagerduty.events) == 1
    assert await retry_jobs(bot, "page-send") == []


async def test_a_page_whose_key_opsgenie_no_longer_accepts_names_its_variable_and_is_not_retried(
    emulator: SlackEmulator,
    bot: IncidentBot,
    clock: ManualClock,
    people: People,
    opsgenie: FakeOpsgenie,  # noqa: F811
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    opsgenie.api_keys.clear()  # the integration's key was revoked
    await run(emulator, people.bob, channel.id, "page platform")
    told = await wait_for_line(emulator, channel, "I could not page *platform* on Opsgenie")
    await settled(emulator, bot)
    sent = len(opsgenie.requests)

    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert "refused the key (HTTP 401)" in told
    assert "check OPSGENIE_KEY_PLATFORM in the bot's environment" in told
    assert len(opsgenie.requests) == sent
    assert await retry_jobs(bot, "page-send") == []


async def test_an_export_whose_token_github_refuses_names_its_variable_and_is_not_retried(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People, github: FakeGitHub
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    github.token = "rotated"  # the bot's token was revoked
    await run(emulator, people.alice, channel.id, "followup Add PgBouncer")
    told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in GitHub")
    await settled(emulator, bot)
    github.token = GITHUB_TOKEN  # a retry would now succeed: none is made

    clock.advance(timedelta(hours=2))
    await jobs_done(bot, clock)

    assert "GitHub refused the token (401: check GITHUB_TOKEN)" in told
    assert "I will not try again by myself" in told
    assert github.issues == []
    assert await retry_jobs(bot, "followup-export") == []


async def test_an_export_github_answers_with_a_server_error_is_told_it_will_be_tried_again(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People, github: FakeGitHub
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    github.fail_next(502)

    await run(emulator, people.alice, channel.id, "followup Add PgBouncer")
    told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in GitHub")

    assert "I will try again later by myself" in told
    assert len(await retry_jobs(bot, "followup-export")) == 1


async def retry_jobs(bot: IncidentBot, kind: str) -> list[str]:
    """The keys of the retry jobs of `kind` (any state)."""
    async with bot.db.session() as session:
        return list(await session.scalars(select(JobRow.key).where(JobRow.kind == kind)))


async def test_an_export_github_rate_limits_with_a_403_is_retried_after_its_retry_after(
    emulator: SlackEmulator, bot: IncidentBot, clock: ManualClock, people: People, github: FakeGitHub
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    github.fail_next(403, headers={"Retry-After": "600", "x-ratelimit-remaining": "0"})
    await run(emulator, people.alice, channel.id, "followup Add PgBouncer")
    told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in GitHub")
    await settled(emulator, bot)

    clock.advance(timedelta(seconds=599))
    await jobs_done(bot, clock)
    before = len(github.issues)
    clock.advance(timedelta(seconds=1))
    await jobs_done(bot, clock)

    assert "GitHub is rate limiting the token (403: API rate limit exceeded)" in told
    assert "I will try again later by myself" in told
    assert before == 0
    assert len(github.issues) == 1


async def test_a_page_pagerduty_rate_limits_is_sent_again_after_its_retry_after(
    emulator: SlackEmulator,
    bot: IncidentBot,
    clock: ManualClock,
    people: People,
    pagerduty: FakePagerDuty,  # noqa: F811
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search results are empty")
    pagerduty.fail_next(429, retry_after="300")
    await run(emulator, people.bob, channel.id, "page search")
    await wait_for_line(emulator, channel, "I could not page *search* on PagerDuty")
    await settled(emulator, bot)

    clock.advance(timedelta(seconds=299))
    await jobs_done(bot, clock)
    before = len(pagerduty.accepted("trigger"))
    clock.advance(timedelta(seconds=1))
    await jobs_done(bot, clock)
    await wait_for_line(emulator, channel, "paged *search* on PagerDuty")

    assert before == 0
    assert len(pagerduty.accepted("trigger")) == 1

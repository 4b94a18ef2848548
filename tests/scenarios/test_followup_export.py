"""Follow-ups filed in GitHub Issues or Jira Cloud (local fakes that follow their documented shapes): once per
follow-up, whatever is delivered twice, answered late or lost; a failed export is recorded, told, and tried again by
calling the export again."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import IncidentBot
from bot.config import Config, FollowupSettings, JiraExport, Secret
from bot.emulator import Channel, SlackEmulator
from bot.services import FollowupService
from bot.services.followups import LEASE
from bot.trackers import NewIssue
from tests.conftest import People, serving
from tests.fakes.trackers import FakeGitHub, FakeJira

from .steps import (
    EXAMPLE,
    GITHUB_TOKEN,
    REPOSITORY,
    bot_lines,
    exporting_to_github,
    followups_of,
    incident_of,
    open_incident,
    report_markdown,
    run,
    settled,
    wait_for_private,
)

JIRA_EMAIL = "bot@example.com"
JIRA_TOKEN = "jira-api-token"


# ------------------------------------------------------------------------------------------------------- GitHub


@pytest.fixture
async def github_bot(
    config: Config, emulator: SlackEmulator, people: People, github: FakeGitHub
) -> AsyncIterator[IncidentBot]:
    async with serving(exporting_to_github(config, github.url), emulator) as bot:
        yield bot


@pytest.fixture
async def on_github(emulator: SlackEmulator, github_bot: IncidentBot, people: People) -> Channel:
    return await open_incident(emulator, people.alice, people.general, EXAMPLE)


async def test_a_followup_becomes_one_github_issue_and_the_person_gets_its_link(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    await run(emulator, people.alice, on_github.id, "followup Raise MAX_CONNECTIONS @bob due 2031-03-15")
    told = await wait_for_private(emulator, people.alice, "GitHub issue")
    await settled(emulator, github_bot)

    [issue] = github.issues
    assert issue["title"] == "[INC-2026-001] Raise MAX_CONNECTIONS"
    assert "Raise MAX_CONNECTIONS" in issue["body"]
    assert "API 500 errors on User Service" in issue["body"]
    assert f"Owner: bob (Slack {people.bob})" in issue["body"]
    assert "Due: 2031-03-15" in issue["body"]
    assert "<!-- incident-bot-followup-" in issue["body"]
    assert [label["name"] for label in issue["labels"]] == ["incident"]
    assert f"<{issue['html_url']}|1>" in told
    [followup] = await followups_of(github_bot, on_github)
    assert followup.export_state == "exported"
    assert followup.issue_id == "1"
    assert followup.issue_url == f"https://github.com/{REPOSITORY}/issues/1"


async def test_the_list_links_each_exported_followup(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await settled(emulator, github_bot)

    await run(emulator, people.bob, on_github.id, "followup list")
    listing = await wait_for_private(emulator, people.bob, "Follow-ups of")

    assert f"<https://github.com/{REPOSITORY}/issues/1|GitHub 1>" in listing


async def test_exporting_again_files_nothing_more(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await settled(emulator, github_bot)
    [followup] = await followups_of(github_bot, on_github)

    again = await github_bot.followups.export(followup.id)

    assert again.state == "exported"
    assert again.already
    assert again.issue_url == f"https://github.com/{REPOSITORY}/issues/1"
    assert len(github.issues) == 1


async def test_an_answer_lost_after_github_filed_the_issue_is_found_by_the_next_attempt_not_filed_twice(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    github.lose_next_answer()

    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in GitHub")
    await settled(emulator, github_bot)
    [before] = await followups_of(github_bot, on_github)
    retried = await github_bot.followups.export(before.id)

    assert "did not answer" in told
    assert "followup export 1" in told
    assert before.export_state == "failed"
    assert before.export_uncertain  # it may exist: the next attempt looks first
    assert retried.state == "exported"
    assert retried.found
    assert len(github.issues) == 1
    assert retried.issue_url == github.issues[0]["html_url"]
    assert github.requests[-1] == ("GET", f"/repos/{REPOSITORY}/issues")


async def test_a_refused_export_is_recorded_told_kindly_and_succeeds_when_tried_again(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    github.token = "rotated"  # the bot's token no longer works

    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in GitHub")
    await settled(emulator, github_bot)
    [failed] = await followups_of(github_bot, on_github)
    github.token = GITHUB_TOKEN  # fixed
    retried = await github_bot.followups.export(failed.id)

    assert "GitHub refused the token (401: check GITHUB_TOKEN)" in told
    assert "The follow-up itself is saved" in told
    assert failed.export_state == "failed"
    assert failed.export_error == "GitHub refused the token (401: check GITHUB_TOKEN)"
    assert not failed.export_uncertain  # a refusal files nothing: no need to look before trying again
    assert await github_bot.followups.pending_exports() == []
    assert retried.state == "exported"
    assert not retried.found
    assert len(github.issues) == 1
    async with github_bot.db.transaction() as store:
        trail = await store.audit_trail(failed.team_id, failed.incident_id)
    assert [e.action for e in trail if e.action.startswith("followup_")] == [
        "followup_added",
        "followup_export_failed",
        "followup_exported",
    ]


async def test_a_failed_export_is_pending_until_it_succeeds(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    github.fail_next(503)

    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await wait_for_private(emulator, people.alice, "GitHub answered 503")
    await settled(emulator, github_bot)
    pending = await github_bot.followups.pending_exports()
    for followup_id in pending:
        await github_bot.followups.export(followup_id)

    [followup] = await followups_of(github_bot, on_github)
    assert pending == [followup.id]
    assert followup.export_state == "exported"
    assert await github_bot.followups.pending_exports() == []
    assert len(github.issues) == 1


async def test_export_n_tries_a_failed_export_again_from_slack(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    github.fail_next(503)
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await wait_for_private(emulator, people.alice, "GitHub answered 503")
    await settled(emulator, github_bot)

    await run(emulator, people.alice, on_github.id, "followup export 1")
    told = await wait_for_private(emulator, people.alice, "is GitHub issue")

    assert f"<https://github.com/{REPOSITORY}/issues/1|1>" in told
    assert len(github.issues) == 1


async def test_concurrent_exports_of_one_followup_file_one_issue(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    github.fail_next(503)
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await settled(emulator, github_bot)
    [followup] = await followups_of(github_bot, on_github)

    outcomes = await asyncio.gather(*(github_bot.followups.export(followup.id) for _ in range(5)))

    assert len(github.issues) == 1
    assert {o.state for o in outcomes} <= {"exported", "busy"}
    assert sum(1 for o in outcomes if o.state == "exported" and not o.already) == 1


async def test_an_attempt_that_died_after_filing_holds_the_followup_until_its_claim_ends_then_its_issue_is_found(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    github.fail_next(503)
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await settled(emulator, github_bot)
    [followup] = await followups_of(github_bot, on_github)
    incident = await incident_of(github_bot, on_github)
    # Another process claims the export, files the issue, and dies before recording it.
    now = datetime.now(UTC)
    async with github_bot.db.unit() as stores:
        await stores.followups.claim_export(followup.id, now, now + LEASE)
    assert github_bot.followups.tracker is not None
    await github_bot.followups.tracker.create(
        NewIssue("[INC-2026-001] Add PgBouncer", "Add PgBouncer", FollowupService.marker(followup, incident))
    )

    meanwhile = await github_bot.followups.export(followup.id)
    later = FollowupService(  # a replica whose clock is past the dead process's claim
        github_bot.config,
        github_bot.db,
        github_bot.slack,
        github_bot.services.timeline.names,
        github_bot.followups.tracker,
        clock=lambda: datetime.now(UTC) + LEASE + timedelta(seconds=1),
    )
    after = await later.export(followup.id)

    assert meanwhile.state == "busy"
    assert after.state == "exported"
    assert after.found
    assert len(github.issues) == 1


async def test_a_command_slack_delivers_twice_files_one_issue(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    first = await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    again = await emulator.deliver_raw(first.request_body, first.request_headers["Content-Type"], first.request_headers)
    await settled(emulator, github_bot)

    assert again.status == 200
    assert len(await followups_of(github_bot, on_github)) == 1
    assert len(github.issues) == 1
    assert len([line for line in bot_lines(emulator, on_github) if "added follow-up" in line]) == 1


async def test_concurrent_followups_get_distinct_numbers_and_one_issue_each(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    await asyncio.gather(*(run(emulator, people.alice, on_github.id, f"followup Action {n}") for n in range(6)))
    await settled(emulator, github_bot)

    followups = await followups_of(github_bot, on_github)
    assert [f.number for f in followups] == [1, 2, 3, 4, 5, 6]
    assert sorted(f.text for f in followups) == [f"Action {n}" for n in range(6)]
    assert sorted(i["title"] for i in github.issues) == sorted(f"[INC-2026-001] Action {n}" for n in range(6))


async def test_done_says_the_issue_stays_open(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await settled(emulator, github_bot)

    await run(emulator, people.alice, on_github.id, "followup done 1")
    told = await wait_for_private(emulator, people.alice, "is done")

    assert "GitHub issue is not closed by this" in told
    assert github.issues[0]["state"] == "open"


async def test_the_report_names_the_issue_of_each_exported_followup(
    emulator: SlackEmulator, github_bot: IncidentBot, on_github: Channel, people: People, github: FakeGitHub
) -> None:
    await run(emulator, people.alice, on_github.id, "followup Add PgBouncer")
    await settled(emulator, github_bot)

    await run(emulator, people.alice, on_github.id, "report")
    await wait_for_private(emulator, people.alice, "is posted")

    markdown = await report_markdown(github_bot, on_github)
    assert f"**Tracked in:** GitHub 1: `https://github.com/{REPOSITORY}/issues/1`" in markdown


# --------------------------------------------------------------------------------------------------------- Jira


@pytest.fixture
async def jira() -> AsyncIterator[FakeJira]:
    fake = FakeJira(email=JIRA_EMAIL, token=JIRA_TOKEN, project="OPS")
    await fake.start()
    yield fake
    await fake.stop()


def jira_config(config: Config, jira: FakeJira, **changes: str) -> Config:
    export = JiraExport(
        site="https://acme.atlassian.net",
        project="OPS",
        issue_type="Task",
        email=JIRA_EMAIL,
        token=Secret(JIRA_TOKEN),
        api_url=jira.url,
    )
    return dataclasses.replace(config, followups=FollowupSettings(export=dataclasses.replace(export, **changes)))


@pytest.fixture
async def jira_bot(
    config: Config, emulator: SlackEmulator, people: People, jira: FakeJira
) -> AsyncIterator[IncidentBot]:
    async with serving(jira_config(config, jira), emulator) as bot:
        yield bot


@pytest.fixture
async def on_jira(emulator: SlackEmulator, jira_bot: IncidentBot, people: People) -> Channel:
    return await open_incident(emulator, people.alice, people.general, EXAMPLE)


async def test_a_followup_becomes_one_jira_issue_with_its_browse_link(
    emulator: SlackEmulator, jira_bot: IncidentBot, on_jira: Channel, people: People, jira: FakeJira
) -> None:
    await run(emulator, people.alice, on_jira.id, "followup Raise MAX_CONNECTIONS @bob due 2031-03-15")
    told = await wait_for_private(emulator, people.alice, "Jira issue")
    await settled(emulator, jira_bot)

    [issue] = jira.issues
    fields = issue["fields"]
    assert fields["summary"] == "[INC-2026-001] Raise MAX_CONNECTIONS"
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["description"]["type"] == "doc"
    paragraphs = ["".join(node.get("text", "\n") for node in p["content"]) for p in fields["description"]["content"]]
    assert paragraphs[0] == "Raise MAX_CONNECTIONS"
    assert any("Due: 2031-03-15" in p for p in paragraphs)
    assert [label for label in fields["labels"] if label.startswith("incident-bot-followup-")] == fields["labels"]
    assert "<https://acme.atlassian.net/browse/OPS-1|OPS-1>" in told
    [followup] = await followups_of(jira_bot, on_jira)
    assert followup.issue_id == "OPS-1"
    assert followup.issue_url == "https://acme.atlassian.net/browse/OPS-1"


async def test_an_answer_lost_after_jira_filed_the_issue_is_found_by_its_label(
    emulator: SlackEmulator, jira_bot: IncidentBot, on_jira: Channel, people: People, jira: FakeJira
) -> None:
    jira.lose_next_answer()

    await run(emulator, people.alice, on_jira.id, "followup Add PgBouncer")
    await wait_for_private(emulator, people.alice, "could not file follow-up #1 in Jira")
    await settled(emulator, jira_bot)
    [before] = await followups_of(jira_bot, on_jira)
    retried = await jira_bot.followups.export(before.id)
    twice = await jira_bot.followups.export(before.id)

    assert retried.state == "exported"
    assert retried.found
    assert retried.issue_id == "OPS-1"
    assert twice.already
    assert len(jira.issues) == 1
    assert ("POST", "/rest/api/3/search/jql") in jira.requests


async def test_wrong_jira_credentials_are_told_and_recorded(
    emulator: SlackEmulator, jira_bot: IncidentBot, on_jira: Channel, people: People, jira: FakeJira
) -> None:
    jira.token = "revoked"

    await run(emulator, people.alice, on_jira.id, "followup Add PgBouncer")
    told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in Jira")
    await settled(emulator, jira_bot)

    assert "Jira refused the credentials (401: check JIRA_EMAIL and JIRA_API_TOKEN)" in told
    [followup] = await followups_of(jira_bot, on_jira)
    assert followup.export_state == "failed"
    assert jira.issues == []


async def test_an_issue_type_jira_does_not_have_is_refused_with_jiras_reason(
    config: Config, emulator: SlackEmulator, people: People, jira: FakeJira
) -> None:
    async with serving(jira_config(config, jira, issue_type="Story"), emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Search is slow")

        await run(emulator, people.alice, channel.id, "followup Add an index")
        told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in Jira")
        await settled(emulator, bot)

        assert "Jira refused the issue (400: issuetype: Specify an issue type)" in told
        [followup] = await followups_of(bot, channel)
        assert followup.export_state == "failed"
        assert not followup.export_uncertain
        assert jira.issues == []


async def test_without_a_token_the_export_says_which_variable_to_set_and_calls_nothing(
    config: Config, emulator: SlackEmulator, people: People, jira: FakeJira
) -> None:
    without = jira_config(config, jira)
    assert isinstance(without.followups.export, JiraExport)
    without = dataclasses.replace(
        without, followups=FollowupSettings(export=dataclasses.replace(without.followups.export, token=None))
    )
    async with serving(without, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Search is slow")

        await run(emulator, people.alice, channel.id, "followup Add an index")
        told = await wait_for_private(emulator, people.alice, "could not file follow-up #1 in Jira")
        await settled(emulator, bot)

    assert "JIRA_EMAIL and JIRA_API_TOKEN are not both set" in told
    assert jira.requests == []

"""The post-incident report: built from the record, posted in Slack on demand and at resolution."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import Channel, SlackEmulator
from bot.slack.ids import ActionId
from tests.conftest import ROOT, People, environment, serving

from .steps import marked_steps, open_incident, report_files, run, settled, wait_for_private

EXAMPLE_HEADINGS = [
    "# Post-Incident Report: API 500 Errors on User Service",
    "## 1. Executive Summary",
    "## 2. Root Cause",
    "## 3. Remediation Taken/Suggested",
    "### 3.1. Immediate Remediation Taken",
    "### 3.2. Post-Incident Investigation (Verification)",
    "### 3.3. Long-Term Remediation Suggested",
]
CITATION = (
    "`# Engineering Runbook: Database Connection Issues` -> `## Error: ConnectionPoolTimeoutError` -> "
    "`## Root Causes` -> `1. Traffic Spike: Sudden increase in concurrent users exceeding MAX_CONNECTIONS.`"
)


async def say(emulator: SlackEmulator, channel: Channel, user: str, text: str, mark: str | None = None) -> None:
    message = await emulator.post_message(user, channel.id, text)
    if mark:
        await emulator.react(user, channel.id, message.ts, mark)


async def the_example_incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    """The example report's incident, as responders would run it in Slack."""
    channel = await open_incident(emulator, people.alice, people.general, "sev1 API 500 Errors on User Service")
    await emulator.join(people.bob, channel.id)
    await say(
        emulator, channel, people.alice, "Customers cannot log in: the User Service API answers 500", "rotating_light"
    )
    await say(
        emulator,
        channel,
        people.bob,
        'logs: "database connection pool exhaustion" and "hard connection acquisition failure"',
        "mag",
    )
    await say(
        emulator, channel, people.bob, "user-service keeps logging `Timeout waiting for connection from pool`", "mag"
    )
    await say(emulator, channel, people.alice, "traffic spiked to 3x normal at 14:30, the marketing email went out")
    await say(emulator, channel, people.bob, "no sign of zombie connections and no maintenance running")
    await settled(emulator, bot)
    suggestion = next(m for m in channel.messages if m.bot_id == emulator.bot_id and "Likely root cause" in m.text)
    await emulator.click(people.alice, channel.id, suggestion.ts, ActionId.SUGGESTION_ACCEPT)
    await say(emulator, channel, people.bob, "Restarting: `sudo systemctl restart api-service`", "hammer_and_wrench")
    await say(
        emulator,
        channel,
        people.bob,
        "Checked pg_stat_activity after the restart, looks normal: "
        "`SELECT datname, pid, state FROM pg_stat_activity WHERE datname = 'users' ORDER BY state;`",
        "white_check_mark",
    )
    await settled(emulator, bot)
    return channel


async def test_the_report_of_the_example_incident_reads_like_the_example(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await the_example_incident(emulator, bot, people)

    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "Draft 1 of the report")
    await settled(emulator, bot)

    [markdown] = report_files(emulator)
    positions = [markdown.index(h) for h in EXAMPLE_HEADINGS]
    assert positions == sorted(positions)
    for fact in (
        "Timeout waiting for connection from pool",
        "database connection pool exhaustion",
        "**Traffic Spike**",
        CITATION,
        "sudo systemctl restart api-service",
        "pg_stat_activity",
        "MAX_CONNECTIONS",
        "PgBouncer",
        "INC-",
        " UTC",
    ):
        assert fact in markdown, fact
    summary = next(m for m in channel.messages if m.text.startswith("Post-incident report for INC-"))
    assert "Traffic Spike" in str(summary.blocks)


async def test_resolving_posts_the_final_report_and_stores_every_version(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await the_example_incident(emulator, bot, people)
    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "Draft 1 of the report")

    await run(emulator, people.alice, channel.id, "resolve")
    await settled(emulator, bot)

    assert [m.text for m in channel.messages if m.text.startswith("Post-incident report for")][-2:] == [
        f"Post-incident report for {_public_id(channel)} (Draft 1)",
        f"Post-incident report for {_public_id(channel)} (Final)",
    ]
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    async with bot.db.unit() as stores:
        versions = [(r.version, r.final) for r in await stores.reports.all(incident.id)]
    assert versions == [(1, False), (2, True)]


async def test_two_reports_asked_for_at_the_same_moment_each_get_a_version_of_their_own(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await the_example_incident(emulator, bot, people)
    await settled(emulator, bot)
    first = emulator.hold("users.info", perform=False)  # the first report waits for a name, its version chosen

    await run(emulator, people.alice, channel.id, "report")
    await asyncio.wait_for(first.arrived.wait(), timeout=30)
    await run(emulator, people.bob, channel.id, "report")  # ... while the second one is built and stored
    await wait_for_private(emulator, people.bob, "of the report")
    first.release()
    await wait_for_private(emulator, people.alice, "of the report")
    await settled(emulator, bot)

    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    async with bot.db.unit() as stores:
        versions = [r.version for r in await stores.reports.all(incident.id)]
    assert versions == [1, 2]
    posted = [m.text for m in channel.messages if m.text.startswith("Post-incident report for")]
    assert sorted(posted) == [
        f"Post-incident report for {_public_id(channel)} (Draft 1)",
        f"Post-incident report for {_public_id(channel)} (Draft 2)",
    ]


def _public_id(channel: Channel) -> str:
    year, number = channel.name.split("-")[1:3]
    return f"INC-{year}-{number}"


async def test_a_report_without_a_root_cause_says_it_is_not_determined(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Checkout is slow")
    await say(emulator, channel, people.alice, "checkout takes 8 seconds for some users", "rotating_light")
    await settled(emulator, bot)

    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report")
    await settled(emulator, bot)

    [markdown] = report_files(emulator)
    assert "root cause has not been determined" in markdown.lower()
    assert "Traffic Spike" not in markdown


async def test_text_that_could_ping_or_break_the_report_is_neutralised(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Injection @channel test")
    # As Slack delivers it: a broadcast, a mention of someone this workspace does not know, a typed "</script>".
    said = await emulator.post_message(
        people.alice, channel.id, "<!channel> wake up | col | <@U999> &lt;/script&gt; {{ 'zq' ~ 'xj' }}", markup=True
    )
    await emulator.react(people.alice, channel.id, said.ts, "rotating_light")
    await settled(emulator, bot)

    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report")
    await settled(emulator, bot)

    [markdown] = report_files(emulator)
    summary = next(m for m in channel.messages if m.text.startswith("Post-incident report for"))
    assert "<!channel>" not in markdown
    assert "<!channel>" not in str(summary.blocks)
    assert "<@U999>" not in markdown
    assert "'zq'" in markdown  # the template expression is shown...
    assert "zqxj" not in markdown  # ...never evaluated (letters: no date, time or link can contain them)


async def test_report_outside_an_incident_channel_says_where_it_works(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await run(emulator, people.alice, people.general, "report")

    assert await wait_for_private(emulator, people.alice, "works inside an incident channel")


async def test_a_report_of_ten_thousand_timeline_entries_posts_within_slack_limits(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Very long incident")
    await marked_steps(bot, channel, people.bob, 10_000)  # as if captured

    started = datetime.now(UTC)
    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report", within=60)
    await settled(emulator, bot)
    print(f"report of 10,000 entries posted in {(datetime.now(UTC) - started).total_seconds():.1f} s")

    assert [c.error for c in emulator.calls if not c.ok] == []
    [markdown] = report_files(emulator)
    assert "step 9999: checked shard" in markdown


@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    return load_config(ROOT / "app.yaml", environment(emulator, database_url))


def with_template(tmp_path: Path, emulator: SlackEmulator, database_url: str, name: str, template: str) -> Config:
    """The shipped app.yaml, with `report.template` pointing at this template."""
    (tmp_path / name).write_text(template, encoding="utf-8")
    text = (ROOT / "app.yaml").read_text(encoding="utf-8").replace("  template: null", f"  template: {name}")
    (tmp_path / "app.yaml").write_text(text.replace("runbooks: runbooks", f"runbooks: {ROOT / 'runbooks'}"))
    return load_config(tmp_path / "app.yaml", environment(emulator, database_url))


async def test_a_custom_template_from_app_yaml_is_used(
    emulator: SlackEmulator, people: People, database_url: str, tmp_path: Path
) -> None:
    config = with_template(tmp_path, emulator, database_url, "ours.md.j2", "# Our report for {{ report.public_id }}\n")
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Templated")
        await run(emulator, people.alice, channel.id, "report")
        await wait_for_private(emulator, people.alice, "of the report")
        await settled(emulator, bot)

    assert report_files(emulator) == [f"# Our report for {_public_id(channel)}\n"]


async def test_a_broken_template_is_reported_with_its_file_and_line(
    emulator: SlackEmulator, people: People, database_url: str, tmp_path: Path
) -> None:
    config = with_template(tmp_path, emulator, database_url, "broken.md.j2", "# Report\n\n{% if %}\n")
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Broken template")
        await run(emulator, people.alice, channel.id, "report")
        message = await wait_for_private(emulator, people.alice, "template is broken")
        await settled(emulator, bot)

    assert "broken.md.j2" in message
    assert "line 3" in message


async def test_a_report_file_shared_behind_a_5xx_is_shared_once_and_not_repeated_in_the_thread(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Upload trouble")
    emulator.fail_after_performing("files.completeUploadExternal", status=503)

    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report")
    await settled(emulator, bot)

    assert len(report_files(emulator)) == 1
    assert [c for c in emulator.calls_to("chat.postMessage") if c.args.get("thread_ts")] == []

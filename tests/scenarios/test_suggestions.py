"""Root-cause suggestions in the incident channel, as responders talk."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import Channel, Message, SlackEmulator
from bot.services import ranking
from bot.slack.ids import ActionId
from bot.suggestions.engine import RunbookLibrary
from tests.conftest import People, environment, serving

from .forgery import send_altered
from .steps import card, open_incident, run, wait_for_private

RUNBOOK = """# Engineering Runbook: Database Connection Issues

## Error: ConnectionPoolTimeoutError

## Symptoms
- 500 errors from the API; logins fail
- Logs show `Timeout waiting for connection from pool` and `hard connection acquisition failure`
- Database connection pool exhaustion

## Root Causes
1. Traffic Spike: Sudden increase in concurrent users exceeding `MAX_CONNECTIONS`.
   - Signs: traffic or requests jump to several times normal, a campaign or launch, autoscaling
2. Zombie Connections: Connections left open or idle in transaction that are never returned to the pool.
   - Signs: idle in transaction sessions pile up, connection leak, long-running transactions
3. Database Maintenance: Vacuum, reindex or a failover holds locks and slows every query.
   - Signs: maintenance window, vacuum running, failover, locks

## Remediation
1. Restart the service to clear the pool: `sudo systemctl restart api-service`

## Verification
```sql
SELECT state, count(*) FROM pg_stat_activity GROUP BY state;
```

## Long-Term Fixes
1. Increase MAX_CONNECTIONS: raise the pool size.
2. PgBouncer: add a connection pooling proxy.
"""

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"  # the runbooks the bot ships with

SPIKE = [
    "500s on login since 14:30 UTC",
    "user-service logs: Timeout waiting for connection from pool",
    "lots of hard connection acquisition failure lines, the pool is exhausted",
    "traffic jumped to 3x normal right at 14:30, the marketing campaign went out",
    "no sign of zombie connections, and no maintenance is running",
]


def config_file(tmp_path: Path, interval: int) -> Path:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir(exist_ok=True)
    (runbooks / "database-connections.md").write_text(RUNBOOK, encoding="utf-8")
    path = tmp_path / "app.yaml"
    path.write_text(
        "command: /incident\n"
        "severities:\n  - name: sev1\n    label: SEV1\n    description: Outage\n"
        "default_severity: sev1\n"
        f"suggestions:\n  runbooks: runbooks\n  min_interval_seconds: {interval}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    return load_config(config_file(tmp_path, interval=300), environment(emulator, database_url))


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    channel = await open_incident(emulator, people.alice, people.general, "API 500 errors on User Service")
    await emulator.join(people.bob, channel.id)
    return channel


async def talk(emulator: SlackEmulator, bot: IncidentBot, channel: Channel, user: str, lines: list[str]) -> None:
    for line in lines:
        await emulator.post_message(user, channel.id, line)
    await emulator.wait_idle()
    assert await bot.background.drained(within=10)
    await emulator.wait_idle()


def suggestions(emulator: SlackEmulator, channel: Channel) -> list[Message]:
    return [m for m in channel.messages if m.bot_id == emulator.bot_id and "Likely root cause" in m.text]


async def test_a_suggestion_is_posted_once_with_citation_evidence_alternatives_and_remediation(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await talk(emulator, bot, incident, people.bob, SPIKE)
    await talk(emulator, bot, incident, people.alice, ["still seeing the pool timeouts", "restarting now"])

    [posted] = suggestions(emulator, incident)
    shown = str(posted.blocks)
    assert "Likely root cause: Traffic Spike" in shown
    assert "`# Engineering Runbook: Database Connection Issues` -&gt; `## Error: ConnectionPoolTimeoutError`" in shown
    assert "Timeout waiting for connection from pool" in shown
    assert "Zombie Connections" in shown
    assert "sudo systemctl restart api-service" in shown
    assert {e["action_id"] for b in posted.blocks if b["type"] == "actions" for e in b["elements"]} == {
        ActionId.SUGGESTION_ACCEPT,
        ActionId.SUGGESTION_DISMISS,
    }


async def test_an_unrelated_conversation_gets_no_suggestion(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await talk(emulator, bot, incident, people.bob, ["who is on call today?", "the logo on the pricing page is blurry"])

    assert suggestions(emulator, incident) == []


async def test_accepting_stores_the_root_cause_and_says_so_in_the_channel(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await talk(emulator, bot, incident, people.bob, SPIKE)
    [posted] = suggestions(emulator, incident)

    await emulator.click(people.alice, incident.id, posted.ts, ActionId.SUGGESTION_ACCEPT)
    assert await bot.services.in_flight.drained(within=10)

    stored = await bot.services.incidents.in_channel(emulator.team_id, incident.id)
    assert stored is not None
    accepted = await bot.services.suggestions.accepted(stored.id)
    assert accepted is not None
    assert (accepted.root_cause, accepted.error) == ("Traffic Spike", "ConnectionPoolTimeoutError")
    assert "Accepted as the root cause" in str(incident.find(posted.ts).blocks)  # type: ignore[union-attr]
    assert not [b for b in incident.find(posted.ts).blocks if b["type"] == "actions"]  # type: ignore[union-attr]
    assert any("accepted *Traffic Spike* as the root cause" in m.text for m in incident.messages)


async def test_a_dismissed_suggestion_is_never_posted_again(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await talk(emulator, bot, incident, people.bob, SPIKE)
    [posted] = suggestions(emulator, incident)

    await emulator.click(people.alice, incident.id, posted.ts, ActionId.SUGGESTION_DISMISS)
    assert await bot.services.in_flight.drained(within=10)
    await talk(emulator, bot, incident, people.bob, SPIKE)

    assert len(suggestions(emulator, incident)) == 1
    assert "Dismissed by" in str(incident.find(posted.ts).blocks)  # type: ignore[union-attr]


async def test_suggest_shows_the_ranking_with_scores_to_the_person_only(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await talk(emulator, bot, incident, people.bob, SPIKE)

    await run(emulator, people.carol, incident.id, "suggest")

    shown = await wait_for_private(emulator, people.carol, "Root-cause ranking")
    lines = shown.splitlines()
    assert "1. *Traffic Spike*" in lines[1]
    assert "%" in lines[1]
    assert sum(line.startswith(("1.", "2.", "3.")) for line in lines) >= 2


async def test_suggest_outside_an_incident_channel_says_where_it_works(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await run(emulator, people.alice, people.general, "suggest")

    assert await wait_for_private(emulator, people.alice, "works inside an incident channel")


CORRECTION = [
    "correction: traffic is flat, that was a dashboard glitch, no spike at all",
    "found it: hundreds of sessions idle in transaction, a connection leak in the new report job",
    "the zombie connections are never returned to the pool",
]


@pytest.mark.parametrize("interval", [0, 3600], ids=["no-interval", "an-hour"])
async def test_a_new_top_root_cause_corrects_the_posted_suggestion_in_place_whatever_the_interval(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path, interval: int
) -> None:
    config = load_config(config_file(tmp_path, interval=interval), environment(emulator, database_url))
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Pool timeouts")
        await talk(emulator, bot, channel, people.alice, SPIKE)
        first = [m.text for m in suggestions(emulator, channel)]

        await talk(emulator, bot, channel, people.alice, CORRECTION)

        incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
        assert incident is not None
        ranking, _ = await bot.services.suggestions.ranking(incident)
        posted = suggestions(emulator, channel)
    assert ranking[0].cause.name == "Zombie Connections"
    assert len(first) == 1
    assert "Traffic Spike" in first[0]
    assert len(posted) == 1
    assert "Zombie Connections" in posted[0].text


async def test_a_suggestion_button_acts_only_on_a_suggestion_of_the_incident_of_its_channel(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await talk(emulator, bot, incident, people.bob, SPIKE)
    [posted] = suggestions(emulator, incident)
    suggestion_id = next(
        e["value"] for b in posted.blocks if b["type"] == "actions" for e in b["elements"] if e.get("value")
    )
    elsewhere = await open_incident(emulator, people.alice, people.general, "Search is slow")
    card_ts = str(card(emulator, elsewhere)["ts"])
    click = await emulator.click(people.alice, elsewhere.id, card_ts, ActionId.ACKNOWLEDGE)
    assert await bot.services.in_flight.drained(within=5)

    def accept_the_other_incidents_suggestion(payload: dict[str, Any]) -> None:
        payload["actions"][0].update(
            action_id=ActionId.SUGGESTION_ACCEPT,
            block_id=f"suggestion.{suggestion_id}",
            value=suggestion_id,
            type="button",
            action_ts=f"{time.time():.6f}",
        )

    await send_altered(emulator, click, accept_the_other_incidents_suggestion)
    assert await bot.services.in_flight.drained(within=5)

    stored = await bot.services.incidents.in_channel(emulator.team_id, incident.id)
    assert stored is not None
    assert await bot.services.suggestions.accepted(stored.id) is None
    assert await wait_for_private(emulator, people.alice, "no longer exists here")


async def test_when_the_engine_does_not_answer_suggest_says_so_and_the_report_is_still_posted(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: an incident with a strong conversation, and the engine's process frozen (as a paused process is).
    monkeypatch.setattr(ranking, "JOB_SECONDS", 1.0)
    config = load_config(config_file(tmp_path, interval=300), environment(emulator, database_url))
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "Pool timeouts")
        pid = bot.services.suggestions.engine.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            # Act
            await run(emulator, people.alice, channel.id, "suggest")
            told = await wait_for_private(emulator, people.alice, "root-cause engine is not answering", within=10)
            await run(emulator, people.alice, channel.id, "report")
            reported = await wait_for_private(emulator, people.alice, "of the report of", within=10)
        finally:
            os.kill(pid, signal.SIGCONT)

    # Assert: a plain answer, and the report was posted (without a root cause) rather than not at all.
    assert "Nothing was lost" in told
    assert "is posted" in reported


async def test_the_engine_reads_what_people_typed_not_slacks_escaping_of_it(
    tmp_path: Path, emulator: SlackEmulator, database_url: str, people: People
) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(
        "command: /incident\n"
        "severities:\n  - name: sev1\n    label: SEV1\n    description: Outage\n"
        "default_severity: sev1\n"
        f"suggestions:\n  runbooks: {RUNBOOKS}\n",
        encoding="utf-8",
    )
    typed = "db-1: disk > 95% full & writes fail"  # Slack delivers "disk &gt; 95% full &amp; writes fail"
    async with serving(load_config(path, environment(emulator, database_url)), emulator) as bot:
        incident = await open_incident(emulator, people.alice, people.general, "Writes failing on db-1")
        await talk(emulator, bot, incident, people.alice, [typed])

        await run(emulator, people.alice, incident.id, "suggest")
        shown = await wait_for_private(emulator, people.alice, "Root-cause ranking")

    session = RunbookLibrary(RUNBOOKS).engine().session()
    session.put("title", "Writes failing on db-1", at=0.0, hypothesis=True)
    session.put("message", typed, at=1.0)
    [expected] = session.rank(1)
    assert f"1. *{expected.cause.name}*" in shown.splitlines()[1]
    assert f"(score {expected.score:.2f})" in shown.splitlines()[1]

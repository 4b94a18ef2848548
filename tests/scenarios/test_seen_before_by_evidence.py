""" "Seen before" without a runbook: a new incident whose channel says much what a resolved incident's channel said
(the same pasted error, the same component, the same fix discussed) is told once which incident it resembles, with
the words both said, how strong the match is, and what fixed it; an incident that only shares everyday incident
words is told nothing. Resolved incidents are fingerprinted by a scheduler job at resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import Channel, Message, SlackEmulator
from tests.conftest import People, environment

from .steps import open_incident, run
from .test_suggestions import config_file, talk

FIRST = [
    "partner webhooks to acme-logistics failing since 09:10",
    "joining",
    "IC: me, comms: dana",
    "webhook-dispatcher logs: x509: certificate signed by unknown authority (acme-logistics.example.net)",
    "retry queue for acme-logistics at 14k and growing",
    "did they rotate their cert? openssl s_client shows a new chain issued by SectigoRSA intermediate",
    "our dispatcher image pins an old ca-certificates bundle, the new intermediate is not in it",
    "other partners fine, only acme-logistics",
    "status page: delayed shipment notifications for some customers",
    "workaround: mount the intermediate into webhook-dispatcher via the trust-store configmap",
    "configmap updated, rolling webhook-dispatcher",
    "x509 errors gone, retry queue draining",
    "follow-up: rebuild dispatcher image with current ca-certificates and stop pinning the bundle",
    "resolving, thanks all",
]
AGAIN = [
    "webhook deliveries to globex-freight erroring out",
    "joining, looking",
    "IC here. comms: sam",
    "dispatcher: x509: certificate signed by unknown authority (api.globex-freight.example.com)",
    "their endpoint serves a chain from the SectigoRSA intermediate since this morning",
    "is our ca-certificates bundle in the webhook-dispatcher image pinned again?",
    "yes, the base image still pins the old bundle",
    "retry queue at 6k for globex-freight",
    "only that partner affected",
    "status page updated: delayed partner notifications",
    "mounting the intermediate via the trust-store configmap like last time",
    "webhook-dispatcher rolled, retry queue draining",
    "x509 errors gone",
]
UNRELATED = [
    "search results empty for some users",
    "joining",
    "IC: me. comms: ola",
    "elasticsearch cluster yellow, two shards unassigned",
    "disk watermark reached on es-data-3: flood stage 95% exceeded",
    "index is read-only-allow-delete now, writes rejected",
    "snapshot job left 300GB of temp files on es-data-3",
    "cleaning up the temp files",
    "clearing the read-only block on the index",
    "shards assigned, cluster green",
    "search results back",
    "status page updated",
    "follow-up: alert on disk usage at 80%",
]

ELSE = [
    "payments consumer lag climbing",
    "joining",
    "IC: me. comms: ola",
    "kafka consumer group payments-settle rebalancing every few seconds",
    "max.poll.interval.ms exceeded, consumers kicked out of the group",
    "a slow downstream call makes each batch take longer than the poll interval",
    "lowering max.poll.records to 50",
    "rebalances stopped, lag going down",
    "status page updated",
    "follow-up: timeout on the downstream call",
    "lag back to zero",
    "customers seeing settled payments again",
    "thanks all",
]


@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    return load_config(config_file(tmp_path, interval=0), environment(emulator, database_url))


def seen_before_posts(emulator: SlackEmulator, channel: Channel) -> list[Message]:
    return [m for m in channel.messages if m.bot_id == emulator.bot_id and m.text.startswith("Seen before")]


async def resolved(emulator: SlackEmulator, bot: IncidentBot, people: People, title: str, lines: list[str]) -> Channel:
    """An incident where people said `lines`, the fix marked as the action taken, resolved and fingerprinted."""
    channel = await open_incident(emulator, people.alice, people.general, title)
    await talk(emulator, bot, channel, people.alice, lines[:-1])
    fix = next(m for m in channel.messages if "configmap updated" in m.text or "cleaning up" in m.text)
    await emulator.react(people.alice, channel.id, fix.ts, "hammer_and_wrench")
    await talk(emulator, bot, channel, people.alice, lines[-1:])
    await run(emulator, people.alice, channel.id, "resolve")
    assert await bot.services.in_flight.drained(within=20)
    assert await bot.background.drained(within=20)
    await bot.scheduler.run_due()  # the fingerprint job, due at resolution
    await emulator.wait_idle()
    return channel


@pytest.fixture
async def history(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    """Two resolved incidents, fingerprinted: the partner-webhook certificate problem (returned) and a full disk."""
    first = await resolved(emulator, bot, people, "Webhooks to acme-logistics failing", FIRST)
    await resolved(emulator, bot, people, "Search empty for some users", UNRELATED)
    return first


async def test_an_incident_that_says_what_a_resolved_one_said_is_told_once_which_with_the_words_both_said(
    emulator: SlackEmulator, bot: IncidentBot, people: People, history: Channel
) -> None:
    second = await open_incident(emulator, people.carol, people.general, "Partner webhooks failing")

    await talk(emulator, bot, second, people.carol, AGAIN)
    await talk(emulator, bot, second, people.carol, ["queue still draining", "globex confirms deliveries"])

    [told] = seen_before_posts(emulator, second)
    shown = str(told.blocks)
    assert told.text.startswith("Seen before? What is said here closely resembles INC-")
    assert told.text.endswith("-001")
    assert f"<#{history.id}>" in shown
    assert "Both channels said `webhook dispatcher`" in shown
    assert "`unknown authority`" in shown
    assert f"What fixed it: <@{people.alice}>: configmap updated, rolling webhook-dispatcher" in shown
    assert "|Its report>" in shown
    assert "Matched on the wording of the evidence (resemblance 0." in shown
    assert "Its root cause:" not in shown  # none was accepted there


async def test_the_report_lists_the_resolved_incident_it_resembles_with_the_words_both_said(
    emulator: SlackEmulator, bot: IncidentBot, people: People, history: Channel
) -> None:
    second = await open_incident(emulator, people.carol, people.general, "Partner webhooks failing")
    await talk(emulator, bot, second, people.carol, AGAIN)

    stored = await bot.services.incidents.in_channel(emulator.team_id, second.id)
    assert stored is not None
    markdown = await bot.services.reports.render(stored, "Draft 1")

    assert "**Seen Before:**" in markdown
    assert "-001 (Webhooks to acme-logistics failing), resolved " in markdown
    assert ": its channel said much the same (" in markdown


@pytest.mark.parametrize(
    ("title", "lines"),
    [
        pytest.param("Payments queue lagging", ELSE, id="another-problem-in-everyday-incident-words"),
        pytest.param("Partner webhooks failing", AGAIN[:6], id="the-same-opening-but-too-few-messages-yet"),
    ],
)
async def test_an_incident_is_told_nothing_when_the_evidence_is_weak(
    emulator: SlackEmulator, bot: IncidentBot, people: People, history: Channel, title: str, lines: list[str]
) -> None:
    other = await open_incident(emulator, people.carol, people.general, title)

    await talk(emulator, bot, other, people.carol, lines)

    assert seen_before_posts(emulator, other) == []


async def test_a_reopened_incident_is_not_named_until_it_is_resolved_again(
    emulator: SlackEmulator, bot: IncidentBot, people: People, history: Channel
) -> None:
    await run(emulator, people.alice, history.id, "reopen")
    assert await bot.services.in_flight.drained(within=20)
    second = await open_incident(emulator, people.carol, people.general, "Partner webhooks failing")

    await talk(emulator, bot, second, people.carol, AGAIN)

    assert seen_before_posts(emulator, second) == []

"""What a real workspace would refuse or show stale, and the emulator now does too (issue 11, items 5-7): the card's
selects after someone else changes the incident, long titles, and the size of what the bot posts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import Config, Severity, load_config
from bot.domain.incident import Incident, Status
from bot.domain.timeline import Attachment, TimelineEntry
from bot.emulator import Channel, SlackEmulator
from bot.emulator.blocks import block_text_length, validate_blocks
from bot.slack.blocks import (
    BLOCKS_TEXT_MAX,
    TIMELINE_TEXT_MAX,
    card_text,
    escape,
    incident_card,
    suggestion_blocks,
    suggestion_text,
    timeline_text,
)
from bot.slack.ids import ActionId
from bot.storage.suggestions import SuggestionRecord
from tests.conftest import ROOT, People, environment

from .steps import COMMAND, card, card_field, open_incident, run, run_until_line, wait_for_line, wait_for_private

SHOWN = 25  # entries `/incident timeline` shows here (app.yaml: 20; at most 50)


@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    """The shipped app.yaml, but `/incident timeline` shows the newest 25 entries and the runbooks folder (beside
    it) holds only HEAVY_RUNBOOK (below)."""
    shipped = (ROOT / "app.yaml").read_text(encoding="utf-8")
    assert "\n  show: 20\n" in shipped
    assert "\n  runbooks: runbooks\n" in shipped
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "database-connections.md").write_text(HEAVY_RUNBOOK, encoding="utf-8")
    path = tmp_path / "app.yaml"
    path.write_text(shipped.replace("\n  show: 20\n", f"\n  show: {SHOWN}\n"), encoding="utf-8")
    return load_config(path, environment(emulator, database_url))


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    channel = await open_incident(emulator, people.alice, people.general, "sev2 Checkout is slow")
    await emulator.join(people.bob, channel.id)
    return channel


def shown(emulator: SlackEmulator, user: str, channel: Channel, action_id: str) -> object:
    """What the person's Slack client shows in one of the card's menus."""
    return emulator.shown_choice(user, channel.id, str(card(emulator, channel)["ts"]), action_id)


# -- 5. the card's menus show the incident as it is, whoever changed it -------------------------------------------


async def test_after_someone_else_changes_the_severity_the_card_shows_it_to_a_person_who_had_picked_another(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])
    await emulator.click(people.alice, incident.id, card_ts, ActionId.SEVERITY, selected_option="sev1")
    await wait_for_line(emulator, incident, "to *SEV1 · Critical*")

    await run_until_line(emulator, people.bob, incident, "severity sev3", "to *SEV3 · Minor*")

    assert card_field(emulator, incident, "Severity") == "SEV3 · Minor"
    assert shown(emulator, people.alice, incident, ActionId.SEVERITY) == "sev3"


async def test_after_someone_else_hands_over_the_commander_the_card_shows_them_to_a_person_who_had_picked_another(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])
    await emulator.click(people.alice, incident.id, card_ts, ActionId.COMMANDER, selected_user=people.bob)
    await wait_for_line(emulator, incident, f"<@{people.bob}> is now the incident commander")

    await run_until_line(
        emulator, people.bob, incident, "commander @carol", f"<@{people.carol}> is now the incident commander"
    )

    assert shown(emulator, people.alice, incident, ActionId.COMMANDER) == people.carol


async def test_the_card_menus_keep_working_on_every_new_version_of_the_card(
    emulator: SlackEmulator, incident: Channel, people: People
) -> None:
    card_ts = str(card(emulator, incident)["ts"])

    for level, label in (("sev1", "SEV1 · Critical"), ("sev4", "SEV4 · Low"), ("sev2", "SEV2 · Major")):
        await emulator.click(people.bob, incident.id, card_ts, ActionId.SEVERITY, selected_option=level)
        await emulator.wait_for(lambda label=label: card_field(emulator, incident, "Severity") == label, what=label)

    assert shown(emulator, people.bob, incident, ActionId.SEVERITY) == "sev2"


# -- 6. a long title is shortened at open, and the card can always be updated ---------------------------------------

LONG_TITLE = "Payments & checkout <failing> for EU customers: " + "card declined after 3DS challenge, " * 120


async def test_a_title_longer_than_150_characters_is_shortened_at_open_and_kept_whole_as_the_description(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, f"sev2 {LONG_TITLE}")
    told = await wait_for_private(emulator, people.alice, "Opened")

    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    assert len(incident.title) <= 150
    assert incident.title.startswith("Payments & checkout <failing> for EU customers: card declined")
    assert incident.title.endswith("…")
    assert incident.description == LONG_TITLE.strip()
    assert "shortened" in told
    assert "description" in told
    header, summary = card(emulator, channel)["blocks"][:2]  # type: ignore[index]
    assert len(header["text"]["text"]) <= 150
    assert escape(incident.title) in summary["text"]["text"]


async def test_the_card_of_an_incident_opened_with_a_very_long_title_is_updated_by_every_change(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, f"sev2 {LONG_TITLE}")
    await emulator.join(people.bob, channel.id)

    for command, field, value in (
        ("severity sev1", "Severity", "SEV1 · Critical"),
        ("commander @bob", "Commander", f"<@{people.bob}>"),
        ("ack", "Status", "Acknowledged"),
        ("mitigate", "Status", "Mitigated"),
        ("resolve", "Status", "Resolved"),
    ):
        await run(emulator, people.alice, channel.id, command)
        await emulator.wait_for(lambda f=field, v=value: card_field(emulator, channel, f) == v, what=f"{field} {value}")

    updates = emulator.calls_to("chat.update")
    assert len(updates) >= 5
    assert [u.error for u in updates if not u.ok] == []


# -- 7. what the bot posts stays within what Slack shows and accepts ------------------------------------------------

MARKS = ("pushpin", "rotating_light", "mag", "hammer_and_wrench", "white_check_mark")  # every kind of app.yaml


async def test_a_long_timeline_shows_its_newest_entries_and_says_where_the_rest_is(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    # Heavy lines: a person with an 80-character display name shares files with 253-character names, both full of
    # a character Slack's markup escapes (& -> &amp;), and marks each with every kind: 25 lines of 45,000 characters,
    # of which Slack would show the first 40,000, without the newest.
    dana = emulator.add_user("R&D " * 20)
    await emulator.join(dana, incident.id)
    for n in range(SHOWN):
        shared = await emulator.share_file(dana, incident.id, f"{n:02d}-" + "&" * 246 + ".log", "text", "&" * 300)
        for mark in MARKS:
            await emulator.react(dana, incident.id, shared.ts, mark)
    await emulator.wait_idle()

    await run(emulator, people.alice, incident.id, "timeline")
    shown = await wait_for_private(emulator, people.alice, "Timeline of")

    newest = f"{SHOWN - 1}-&amp;&amp;"
    assert newest in shown.splitlines()[-1]
    assert shown.endswith(f"/p{shared.ts.replace('.', '')}|view>")
    assert "earlier entries are not shown" in shown
    assert f"`{COMMAND} report`" in shown
    assert len(shown) <= 12_000


# A runbook as long-winded as the bot takes it (names of at most 255 characters, as it stores them), and logs to
# match: every part of a suggestion from it (the names, the citation, six evidence lines quoting long log strings,
# the other root causes, the remediation) is long, and full of a character Slack's markup escapes (& -> &amp;).
NATO = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")
CO = "&" * 180


def log_line(word: str) -> str:
    return (
        f"ERROR db.pool.{word} [user-service-{word}] {word} timeout waiting for {word} connection from pool after "
        f"30000ms active=100 idle=0 waiting=250 max=100 & retrying <request> {word}-backoff " + f"{word}-detail " * 12
    )


def root_cause(number: int, name: str) -> str:
    what = "A sudden increase in concurrent users & sessions exceeding `MAX_CONNECTIONS` on every replica, " * 20
    signs = "traffic or requests jump to several times normal & a campaign or launch, autoscaling lags, " * 5
    return f"{number}. {name} {CO}: {what}\n   - Signs: {signs}\n"


HEAVY_RUNBOOK = (
    f"# Engineering Runbook: Database Connection Issues & Pool Exhaustion {'&' * 200}\n\n"
    "## Error: ConnectionPoolTimeoutError\n\n## Symptoms\n"
    + "".join(f"- Logs show `{log_line(word)}`\n" for word in NATO)
    + "\n## Root Causes\n"
    + "".join(
        root_cause(n, name)
        for n, name in enumerate(
            (
                "Traffic Spike From A Marketing Campaign Launched Without Warning",
                "Zombie Connections Left Idle In Transaction By A Leaking Code Path",
                "Database Maintenance Vacuum Reindex Or Failover Holding Locks",
                "Network Partition Between Availability Zones",
                "Misconfigured Pool Size After A Deploy",
                "Slow Queries From A Missing Index",
                "DNS Resolution Failures",
            ),
            start=1,
        )
    )
    + "\n## Remediation\n"
    + "".join(
        f"{n}. Restart the service to clear the pool & drain: `sudo systemctl restart api-{n}` then watch <graphs>\n"
        for n in range(60)
    )
    + "\n## Verification\n```sql\nSELECT 1;\n```\n"
)
HEAVY_CONVERSATION = [
    f"user-service logs: {log_line(word)} " + "& the pool is exhausted, traffic jumped to 3x normal " * 3
    for word in NATO
] + ["traffic jumped to 3x normal right at 14:30, the marketing campaign launched without warning"]


async def test_a_suggestion_from_the_longest_runbook_and_logs_is_posted_within_slacks_limit_of_block_text(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    for line in HEAVY_CONVERSATION:
        await emulator.post_message(people.bob, incident.id, line)
    await emulator.wait_idle()
    assert await bot.background.drained(within=20)

    await emulator.wait_for(
        lambda: any("Likely root cause" in m.text for m in incident.messages if m.bot_id == emulator.bot_id),
        what="the suggestion is posted",
    )
    posted = next(m for m in incident.messages if m.bot_id == emulator.bot_id and "Likely root cause" in m.text)
    shown = str(posted.blocks)
    assert "Traffic Spike From A Marketing Campaign" in shown
    assert "ERROR db.pool.alpha" in shown  # evidence, trimmed to fit
    assert "sudo systemctl restart api-0" in shown
    assert block_text_length(posted.blocks) <= 12_000
    assert [c.error for c in emulator.calls_to("chat.postMessage") if not c.ok] == []


# -- the worst cases, measured: what Slack would refuse or cut, whatever people, runbooks and app.yaml hold ---------

AMPERSANDS = "&" * 10_000  # every & is escaped to &amp;: five characters in Slack's markup
WORST_LEVELS = tuple(Severity(name=f"sev{n}", label="&" * 75, description="x") for n in range(120))


def worst_incident(status: Status, severity: str) -> Incident:
    at = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
    return Incident(
        id=10**9,
        team_id="T0EMULATE",
        public_id="INC-2026-1000000",
        year=2026,
        number=10**6,
        title=AMPERSANDS,  # stored before titles were shortened at open
        description=AMPERSANDS,
        severity=severity,
        status=status,
        opener_id="U0123456789",
        opened_at=at,
        commander_id="W0123456789",
        resolved_at=at if status is Status.RESOLVED else None,
    )


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("severity", ["sev0", "sev119"], ids=["offered", "beyond-100-options"])
def test_the_card_fits_what_slack_accepts_whatever_the_incident_and_its_severities(
    status: Status, severity: str
) -> None:
    config = dataclasses.replace(load_config(ROOT / "app.yaml", {}), severities=WORST_LEVELS)
    incident = worst_incident(status, severity)

    card = incident_card(config, incident)

    assert validate_blocks(card) == []
    assert block_text_length(card) <= BLOCKS_TEXT_MAX
    assert len(card_text(config, incident)) <= 4000  # chat.update's limit of text


def worst_suggestion(state: str, note: str | None) -> SuggestionRecord:
    return SuggestionRecord(
        id=10**9,
        team_id="T0EMULATE",
        incident_id=10**9,
        runbook=AMPERSANDS,
        runbook_path=AMPERSANDS,
        error=AMPERSANDS,
        root_cause=AMPERSANDS,
        score=0.99,
        citation=f"`{AMPERSANDS}` -> `{AMPERSANDS}`",
        evidence=tuple(f'"{AMPERSANDS}" (log string) in: "{n}"' for n in range(50)),
        alternatives=tuple(f"{AMPERSANDS}: no evidence mentioned" for _ in range(50)),
        remediation=f"```\n{AMPERSANDS}\n{AMPERSANDS}",
        state=state,
        posted_at=datetime(2026, 12, 6, 14, 30, tzinfo=UTC),
        message_ts="1796562765.343196",
        decided_by="U0123456789",
        note=note,
    )


@pytest.mark.parametrize("state", ["posted", "accepted", "dismissed", "superseded", "retracted"])
@pytest.mark.parametrize("note", [None, AMPERSANDS], ids=["first", "updated"])
def test_a_suggestion_fits_what_slack_accepts_whatever_the_runbook_and_the_conversation(
    state: str, note: str | None
) -> None:
    record = worst_suggestion(state, note)

    posted = suggestion_blocks(record)

    assert validate_blocks(posted) == []
    assert block_text_length(posted) <= BLOCKS_TEXT_MAX
    assert len(suggestion_text(record)) <= 4000  # chat.update's limit of text


def test_the_timeline_answer_fits_in_a_few_screens_whatever_its_entries() -> None:
    config = load_config(ROOT / "app.yaml", {})
    incident = worst_incident(Status.OPEN, "sev1")
    at = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
    link = "https://emulator.slack.com/archives/C0123456789/p1796562765343196?thread_ts=1796562765.343196&cid=C0123"
    entries = [
        TimelineEntry(
            at=at,
            kinds=tuple(kind for _, kind in config.timeline.reactions),
            source="message",
            text=f"{n}: {AMPERSANDS}",
            author_id="U0123456789",
            author_name=AMPERSANDS,
            permalink=link,
            edited=True,
            files=tuple(Attachment(name="&" * 255, type="text", permalink=None) for _ in range(10)),
        )
        for n in range(50)  # timeline.show is at most 50
    ]

    shown = timeline_text(config, incident, entries, total=5000)

    assert len(shown) <= TIMELINE_TEXT_MAX
    assert shown.splitlines()[-1].split(" · ", 1)[1].startswith("*&amp;")  # the newest entry ends it
    assert "49: &amp;" in shown.splitlines()[-1]
    assert "earlier entries are not shown" in shown

"""Live root-cause suggestions: one suggestion stands in an incident channel, updated in place or withdrawn as the
evidence changes, never bringing back what people dismissed, and weighing what the workspace decided before.

Through the real app and the Slack emulator, with the shipped runbooks, and no minimum interval between posts (so
that a second post, had the bot made one, would be seen). The conversations were checked with
`incident-bot suggest --replay --runbooks runbooks` (first line: the title)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import Channel, Message, SlackEmulator
from bot.slack.ids import ActionId
from bot.storage import NewIncident, SuggestionRecord
from tests.conftest import ROOT, People, environment, serving

from .steps import open_incident, private_texts, wait_for_private

TITLE = "API 500s on login"
# The error and a traffic spike in one message: Traffic Spike is posted.
SPIKE = (
    "ConnectionPoolTimeoutError: Timeout waiting for connection from pool; traffic jumped to 3x normal after the "
    "marketing campaign went out"
)
FLAT = "request rate is flat, no traffic spike at all"  # a measurement that rules the spike out
LEAK = [  # evidence for another root cause, stronger than the spike's
    "pg_stat_activity shows hundreds of sessions idle in transaction, a connection leak in the report job",
    "the zombie connections are never returned to the pool",
]
MORE_SPIKE = [
    "traffic is still climbing, 4x normal now",
    "autoscaling added ten pods, requests keep going up",
    "the marketing campaign is driving a huge traffic spike",
]
SPIKE_KEY = ("Database Connection Issues", "ConnectionPoolTimeoutError", "Traffic Spike")
ZOMBIE_KEY = ("Database Connection Issues", "ConnectionPoolTimeoutError", "Zombie Connections")


def config_with(tmp_path: Path, emulator: SlackEmulator, database_url: str, *, interval: int) -> Config:
    path = tmp_path / "app.yaml"
    path.write_text(
        "command: /incident\n"
        "severities:\n  - name: sev1\n    label: SEV1\n    description: Outage\n"
        "default_severity: sev1\n"
        f"suggestions:\n  runbooks: {ROOT / 'runbooks'}\n  min_interval_seconds: {interval}\n",
        encoding="utf-8",
    )
    return load_config(path, environment(emulator, database_url))


@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    return config_with(tmp_path, emulator, database_url, interval=0)


async def open_with_bob(emulator: SlackEmulator, people: People) -> Channel:
    """Alice opens an incident titled TITLE; Bob joins its channel."""
    channel = await open_incident(emulator, people.alice, people.general, TITLE)
    await emulator.join(people.bob, channel.id)
    return channel


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    return await open_with_bob(emulator, people)


async def say(emulator: SlackEmulator, bot: IncidentBot, channel: Channel, user: str, lines: list[str]) -> None:
    """Each line on its own, the bot done with it (re-ranked, Slack told) before the next."""
    for line in lines:
        await emulator.post_message(user, channel.id, line)
        await emulator.wait_idle()
        assert await bot.background.drained(within=20)
        await emulator.wait_idle()


def suggestion_messages(emulator: SlackEmulator, channel: Channel) -> list[Message]:
    """The bot's suggestion messages in the channel (tagged as such), oldest first."""
    return [
        m
        for m in channel.messages
        if m.bot_id == emulator.bot_id and (m.metadata or {}).get("event_type") == "incident_suggestion"
    ]


def shown_after(emulator: SlackEmulator, calls_before: int) -> list[str]:
    """The texts the bot posted or edited messages to since the first `calls_before` Web API calls."""
    return [
        str(c.args.get("text"))
        for c in emulator.calls[calls_before:]
        if c.ok and c.method in ("chat.postMessage", "chat.update")
    ]


def suggestion_posts(emulator: SlackEmulator, channel: Channel) -> int:
    return sum(
        1
        for c in emulator.calls_to("chat.postMessage")
        if c.ok and c.args.get("channel") == channel.id and "incident_suggestion" in str(c.args.get("metadata"))
    )


def updates_of(emulator: SlackEmulator, ts: str) -> list[str]:
    """The texts of the successful chat.update calls on the message `ts`, in order."""
    return [str(c.args.get("text")) for c in emulator.calls_to("chat.update") if c.ok and c.args.get("ts") == ts]


def buttons(message: Message) -> dict[str, str]:
    """action_id -> value of the message's buttons."""
    return {e["action_id"]: e.get("value", "") for b in message.blocks if b["type"] == "actions" for e in b["elements"]}


async def records(
    bot: IncidentBot, emulator: SlackEmulator, channel: Channel
) -> dict[tuple[str, str, str], SuggestionRecord]:
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    async with bot.db.unit() as stores:
        return {r.key: r for r in await stores.suggestions.for_incident(incident.id)}


async def spike_is_standing(emulator: SlackEmulator, bot: IncidentBot, channel: Channel, user: str) -> Message:
    """Arrange: the pool error and a traffic spike: Traffic Spike is posted."""
    await say(emulator, bot, channel, user, [SPIKE])
    [posted] = suggestion_messages(emulator, channel)
    assert "Likely root cause: Traffic Spike" in posted.text
    return posted


async def test_a_hypothesis_ruled_out_by_a_measurement_is_corrected_in_place_saying_why(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await spike_is_standing(emulator, bot, incident, people.bob)
    calls_before = len(emulator.calls)

    await say(emulator, bot, incident, people.bob, [FLAT])

    # Assert: the one suggestion message was edited (replaced by another root cause, or withdrawn), saying why.
    [shown] = suggestion_messages(emulator, incident)
    assert shown.ts == posted.ts
    assert updates_of(emulator, posted.ts)
    assert not [t for t in shown_after(emulator, calls_before) if "Likely root cause: Traffic Spike" in t]
    assert "Traffic Spike was ruled out by “no traffic spike”" in str(shown.blocks)
    assert "Traffic Spike was ruled out by “no traffic spike”" in shown.text
    stored = await records(bot, emulator, incident)
    spike = stored.pop(SPIKE_KEY)
    if spike.state == "retracted":
        assert spike.note == "Traffic Spike was ruled out by “no traffic spike”"
        assert buttons(shown) == {}
        assert [r.state for r in stored.values()] == []
    else:
        assert spike.state == "superseded"
        [now] = stored.values()
        assert (now.state, now.message_ts) == ("posted", posted.ts)
        assert now.note == f"now {now.root_cause}: Traffic Spike was ruled out by “no traffic spike”"
        assert f"Likely root cause: {now.root_cause}" in shown.text
        assert buttons(shown)[ActionId.SUGGESTION_ACCEPT] == str(now.id)


async def test_a_withdrawn_suggestion_says_why_without_buttons_and_a_later_one_is_a_new_message(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    # Arrange: Traffic Spike stands.
    posted = await spike_is_standing(emulator, bot, incident, people.bob)

    # Act: a measurement rules it out, and nothing else is clear yet.
    await say(emulator, bot, incident, people.bob, [FLAT])

    # Assert: the same message now says it is withdrawn, and why; no buttons.
    [shown] = suggestion_messages(emulator, incident)
    assert shown.ts == posted.ts
    assert shown.text.startswith("Suggestion withdrawn: Traffic Spike")
    assert "Traffic Spike was ruled out by “no traffic spike”" in str(shown.blocks)
    assert buttons(shown) == {}
    assert len(updates_of(emulator, posted.ts)) == 1
    stored = await records(bot, emulator, incident)
    why = "Traffic Spike was ruled out by “no traffic spike”"
    assert [(r.state, r.note) for r in stored.values()] == [("retracted", why)]

    # And: when the evidence comes back, the suggestion is posted again as a new message, not on the old one.
    await say(emulator, bot, incident, people.bob, MORE_SPIKE)
    again = suggestion_messages(emulator, incident)
    assert len(again) == 2
    assert again[0].text.startswith("Suggestion withdrawn: Traffic Spike")
    assert "Likely root cause: Traffic Spike" in again[1].text
    restored = await records(bot, emulator, incident)
    [standing] = [r for r in restored.values() if r.state == "posted"]
    assert standing.message_ts == again[1].ts
    assert buttons(again[1])[ActionId.SUGGESTION_ACCEPT] == str(standing.id)


async def test_a_suggestion_is_updated_in_place_not_posted_a_second_time(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await spike_is_standing(emulator, bot, incident, people.bob)

    await say(emulator, bot, incident, people.bob, LEAK)

    [shown] = suggestion_messages(emulator, incident)
    assert suggestion_posts(emulator, incident) == 1
    assert shown.ts == posted.ts
    assert shown.text.startswith("Updated: Likely root cause: Zombie Connections")
    assert updates_of(emulator, posted.ts)
    stored = await records(bot, emulator, incident)
    assert stored[ZOMBIE_KEY].note is not None
    assert stored[ZOMBIE_KEY].note.startswith("now Zombie Connections: ")
    assert stored[ZOMBIE_KEY].note in str(shown.blocks)
    assert buttons(shown) == {
        ActionId.SUGGESTION_ACCEPT: str(stored[ZOMBIE_KEY].id),
        ActionId.SUGGESTION_DISMISS: str(stored[ZOMBIE_KEY].id),
    }
    assert {k: r.state for k, r in stored.items()} == {SPIKE_KEY: "superseded", ZOMBIE_KEY: "posted"}


async def test_a_dismissed_root_cause_is_never_suggested_again_in_the_incident_however_strong_its_evidence(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await spike_is_standing(emulator, bot, incident, people.bob)
    await emulator.click(people.alice, incident.id, posted.ts, ActionId.SUGGESTION_DISMISS)
    assert await bot.services.in_flight.drained(within=10)
    assert await bot.background.drained(within=20)
    calls_before = len(emulator.calls)

    await say(emulator, bot, incident, people.bob, MORE_SPIKE)

    assert not [t for t in shown_after(emulator, calls_before) if "Likely root cause: Traffic Spike" in t]
    others = [m for m in suggestion_messages(emulator, incident) if m.ts != posted.ts]
    assert not [m for m in others if "Likely root cause: Traffic Spike" in m.text]
    assert "Dismissed by" in str(incident.find(posted.ts).blocks)  # type: ignore[union-attr]
    stored = await records(bot, emulator, incident)
    assert stored[SPIKE_KEY].state == "dismissed"
    assert [r.state for r in stored.values()].count("posted") <= 1


async def test_a_root_cause_accepted_in_one_incident_is_weighed_in_the_next_one_of_the_workspace(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    first = await spike_is_standing(emulator, bot, incident, people.bob)
    assert "learned in this workspace" not in str(first.blocks)
    await emulator.click(people.alice, incident.id, first.ts, ActionId.SUGGESTION_ACCEPT)
    assert await bot.services.in_flight.drained(within=10)
    second = await open_with_bob(emulator, people)

    await say(emulator, bot, second, people.bob, [SPIKE])

    [posted] = suggestion_messages(emulator, second)
    assert "Likely root cause: Traffic Spike" in posted.text
    assert "learned in this workspace: accepted once, dismissed never in earlier incidents" in str(posted.blocks)


async def test_what_another_workspace_decided_is_not_learned(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    # Arrange: in the same database, an incident of another workspace whose Traffic Spike was accepted. (The bot
    # serves one workspace; the emulator has one: the other workspace's incident is stored directly.)
    now = datetime.now(UTC)
    async with bot.db.unit() as stores:
        other = await stores.incidents.add(
            NewIncident(
                team_id="T0ANOTHER", title=TITLE, description="", severity="sev1", opener_id="U0", opened_at=now
            )
        )
        shown = await stores.suggestions.show(
            SuggestionRecord(
                id=0,
                team_id="T0ANOTHER",
                incident_id=other.id,
                runbook=SPIKE_KEY[0],
                runbook_path="database-connections.md",
                error=SPIKE_KEY[1],
                root_cause=SPIKE_KEY[2],
                score=1.0,
                citation="",
                evidence=(),
                alternatives=(),
                remediation="",
                state="accepted",
                posted_at=now,
            )
        )
        assert shown is not None

    posted = await spike_is_standing(emulator, bot, incident, people.bob)

    assert "learned in this workspace" not in str(posted.blocks)


async def test_a_click_on_a_replaced_suggestion_changes_nothing_and_tells_the_clicker(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await spike_is_standing(emulator, bot, incident, people.bob)
    spike_id = buttons(posted)[ActionId.SUGGESTION_ACCEPT]
    await say(emulator, bot, incident, people.bob, LEAK)
    before = await records(bot, emulator, incident)
    assert before[SPIKE_KEY].state == "superseded"
    updates_before = len(updates_of(emulator, posted.ts))

    # A client that still shows the old message sends the replaced suggestion's id.
    await emulator.click(people.alice, incident.id, posted.ts, ActionId.SUGGESTION_ACCEPT, value=spike_id)
    assert await bot.services.in_flight.drained(within=10)

    told = await wait_for_private(emulator, people.alice, "That suggestion was replaced")
    assert "nothing was changed" in told
    assert await records(bot, emulator, incident) == before
    assert len(updates_of(emulator, posted.ts)) == updates_before
    assert not any("as the root cause" in m.text for m in incident.messages if m.bot_id == emulator.bot_id)
    assert not [t for t in private_texts(emulator, people.bob) if "replaced" in t]


async def test_an_update_whose_message_was_deleted_is_posted_as_a_new_message(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await spike_is_standing(emulator, bot, incident, people.bob)
    emulator.fail_next("chat.update", error="message_not_found")

    await say(emulator, bot, incident, people.bob, LEAK)

    newest = suggestion_messages(emulator, incident)[-1]
    assert newest.ts != posted.ts
    assert "Likely root cause: Zombie Connections" in newest.text
    stored = await records(bot, emulator, incident)
    assert (stored[ZOMBIE_KEY].state, stored[ZOMBIE_KEY].message_ts) == ("posted", newest.ts)
    assert stored[SPIKE_KEY].state == "superseded"
    assert buttons(newest)[ActionId.SUGGESTION_ACCEPT] == str(stored[ZOMBIE_KEY].id)


async def test_an_update_is_not_held_by_the_minimum_interval_but_a_new_post_is(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path
) -> None:
    config = config_with(tmp_path, emulator, database_url, interval=3600)
    async with serving(config, emulator) as bot:
        leak = await open_with_bob(emulator, people)
        posted = await spike_is_standing(emulator, bot, leak, people.bob)
        spike = await open_with_bob(emulator, people)
        first = await spike_is_standing(emulator, bot, spike, people.bob)

        # Act 1: stronger evidence for another root cause, within the hour: updated at once.
        await say(emulator, bot, leak, people.bob, LEAK)
        updated = [(m.ts, m.text) for m in suggestion_messages(emulator, leak)]

        # Act 2: what stands is withdrawn at once, then the evidence would post it again within the hour.
        await say(emulator, bot, spike, people.bob, [FLAT, *MORE_SPIKE])
        after = suggestion_messages(emulator, spike)
        stored = await records(bot, emulator, spike)

    [(ts, text)] = updated
    assert ts == posted.ts
    assert "Likely root cause: Zombie Connections" in text
    assert [m.ts for m in after] == [first.ts]  # no new post within the hour
    assert after[0].text.startswith("Suggestion withdrawn: Traffic Spike")
    assert "posted" not in [r.state for r in stored.values()]

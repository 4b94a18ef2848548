"""What a real workspace sends that a lenient fake would not: thread replies read back as Slack pages them, deleted
thread parents as tombstones, app and channel lifecycle events, and Slack's own notices in the channel."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.domain.timeline import TimelineEntry
from bot.emulator import Channel, Delivery, SlackEmulator
from bot.slack.manifest import DEFAULT_BEHAVIOUR, EVENT_SCOPES, bot_events
from bot.storage import Seen
from tests.conftest import APP_TOKEN, People, environment, serving_at

from .steps import open_incident, settled
from .test_suggestions import config_file, suggestions

TEAM = "T0EMULATE"  # the emulator's workspace


@pytest.fixture
async def served(config: Config, emulator: SlackEmulator, people: People) -> AsyncIterator[tuple[IncidentBot, str]]:
    """The bot over HTTP, with its base URL (for /healthz)."""
    async with serving_at(config, emulator) as (incident_bot, url):
        emulator.set_request_url(f"{url}/slack/events")
        yield incident_bot, url


@pytest.fixture
def bot(served: tuple[IncidentBot, str]) -> IncidentBot:
    return served[0]


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    channel = await open_incident(emulator, people.alice, people.general, "API 500 errors on User Service")
    await emulator.join(people.bob, channel.id)
    await emulator.join(people.carol, channel.id)
    return channel


async def messages(bot: IncidentBot, channel: Channel) -> dict[str, TimelineEntry]:
    """Every captured message of the incident, by ts."""
    incident = await bot.services.incidents.in_channel(TEAM, channel.id)
    assert incident is not None
    async with bot.db.timeline() as store:
        return {e.ts or "": e for e in await store.messages(incident.id)}


async def said(bot: IncidentBot, channel: Channel) -> dict[str, tuple[str, bool]]:
    """What the root-cause engine reads of each message: "channel/ts" -> (text, gone)."""
    incident = await bot.services.incidents.in_channel(TEAM, channel.id)
    assert incident is not None
    async with bot.db.timeline() as store:
        read, _ = await store.said_since(incident.id, Seen(), limit=10_000)
    return {s.key: (s.text, s.gone) for s in read if not s.key.startswith("entry/")}


async def timeline(bot: IncidentBot, channel: Channel) -> list[TimelineEntry]:
    incident = await bot.services.incidents.in_channel(TEAM, channel.id)
    assert incident is not None
    return await bot.services.timeline.entries(incident)


async def health(base_url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/healthz") as response:
        return response.status, await response.json()


def answered_2xx(delivery: Delivery | None) -> bool:
    return delivery is not None and 200 <= delivery.status < 300


# -- 1. a thread reply is read back from its thread ---------------------------------------------------------
async def test_a_reaction_on_a_reply_whose_message_event_was_lost_stores_the_replys_text_from_its_thread(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    parent = await emulator.post_message(people.bob, incident.id, "looking at user-service logs")
    await emulator.post_message(people.alice, incident.id, "anything?", thread_ts=parent.ts)
    reply = await emulator.post_message(
        people.bob, incident.id, "Timeout waiting for connection from pool", thread_ts=parent.ts, deliver=False
    )
    await emulator.post_message(people.alice, incident.id, "ok", thread_ts=parent.ts)
    await settled(emulator, bot)

    await emulator.react(people.carol, incident.id, reply.ts, "mag")
    await settled(emulator, bot)

    stored = (await messages(bot, incident))[reply.ts]
    assert stored.text == "Timeout waiting for connection from pool"
    assert stored.author_id == people.bob
    assert stored.kinds == ("finding",)
    marked = [e for e in await timeline(bot, incident) if e.ts == reply.ts]
    assert [e.text for e in marked] == ["Timeout waiting for connection from pool"]


# -- 2. a deleted thread parent is a deletion ---------------------------------------------------------------
async def test_a_deleted_thread_parent_is_recorded_as_deleted_not_as_an_edit_and_its_replies_stay(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    parent = await emulator.post_message(people.bob, incident.id, "traffic jumped to 3x normal at 14:30")
    reply = await emulator.post_message(people.alice, incident.id, "where do you see that?", thread_ts=parent.ts)
    await settled(emulator, bot)

    answer = await emulator.delete_message(people.bob, incident.id, parent.ts)
    await settled(emulator, bot)

    assert answered_2xx(answer)
    stored = await messages(bot, incident)
    assert stored[parent.ts].deleted is True
    assert stored[parent.ts].edited is False
    assert stored[parent.ts].text == "traffic jumped to 3x normal at 14:30"  # what was said, kept in the record
    assert stored[reply.ts].deleted is False
    engine_reads = await said(bot, incident)
    assert engine_reads[f"{incident.id}/{parent.ts}"][1] is True  # gone: no longer counted as said
    assert engine_reads[f"{incident.id}/{reply.ts}"] == ("where do you see that?", False)
    assert "This message was deleted." not in {text for text, _ in engine_reads.values()}


async def test_deleting_the_last_reply_under_a_tombstone_keeps_the_parent_deleted_and_its_words(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    parent = await emulator.post_message(people.bob, incident.id, "rolled back the deploy")
    reply = await emulator.post_message(people.bob, incident.id, "no, not yet", thread_ts=parent.ts)
    await settled(emulator, bot)
    await emulator.delete_message(people.bob, incident.id, parent.ts)

    await emulator.delete_message(people.bob, incident.id, reply.ts)
    await settled(emulator, bot)

    stored = await messages(bot, incident)
    assert (stored[parent.ts].text, stored[parent.ts].deleted) == ("rolled back the deploy", True)
    assert (stored[reply.ts].text, stored[reply.ts].deleted) == ("no, not yet", True)
    assert emulator.failed_deliveries == []


# -- 3. app and channel lifecycle ---------------------------------------------------------------------------
async def test_app_rate_limited_is_answered_200_logged_and_counted(
    emulator: SlackEmulator, bot: IncidentBot, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = await emulator.send_app_rate_limited(minute_rate_limited=1518467820)

    assert answer.status == 200
    assert 'incident_bot_slack_app_events_total{type="app_rate_limited"} 1.0' in bot.metrics.render().decode()
    assert any("app_rate_limited" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_app_rate_limited_over_socket_mode_is_acked(
    emulator: SlackEmulator, database_url: str, people: People, config_path: Path
) -> None:
    config = load_config(config_path, environment(emulator, database_url, SLACK_APP_TOKEN=APP_TOKEN))
    incident_bot = IncidentBot(config)
    await incident_bot.start()
    handler = incident_bot.socket_mode_handler(APP_TOKEN)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await emulator.wait_for(lambda: emulator.socket_connected, what="the bot connects over Socket Mode")

        answer = await emulator.send_app_rate_limited()

        assert answer.mode == "socket"
        assert answer.ok
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await incident_bot.close()


async def test_revoked_tokens_are_answered_200_and_the_bot_says_it_is_not_ready(
    emulator: SlackEmulator, served: tuple[IncidentBot, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, url = served
    assert (await health(url))[0] == 200

    with caplog.at_level(logging.ERROR):
        answer = await emulator.revoke_tokens()

    assert answered_2xx(answer)
    status, body = await health(url)
    assert status == 503
    assert "revoked" in body["status"]
    assert any("tokens_revoked" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


async def test_an_uninstalled_app_is_answered_200_and_the_bot_says_it_is_not_ready(
    emulator: SlackEmulator, served: tuple[IncidentBot, str]
) -> None:
    answers = await emulator.uninstall()

    assert all(answered_2xx(a) for a in answers)
    status, body = await health(served[1])
    assert status == 503
    assert "uninstalled" in body["status"]


async def test_renaming_an_incident_channel_keeps_its_name_current_and_notes_it_once_on_the_timeline(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    old = incident.name

    answer = await emulator.rename_channel(people.bob, incident.id, "inc-db-pool")
    await emulator.redeliver(emulator.deliveries[-1])  # Slack delivers it again (a retry): noted once
    await settled(emulator, bot)

    assert answered_2xx(answer)
    found = await bot.services.incidents.in_channel(TEAM, incident.id)
    assert found is not None
    assert found.channel_name == "inc-db-pool"
    notes = [e for e in await timeline(bot, incident) if e.source == "system" and "renamed" in e.text]
    assert [e.text for e in notes] == [f"Channel renamed from #{old} to #inc-db-pool"]
    report = await bot.services.reports.render(found, "Draft 1")
    assert "inc-db-pool" in report
    assert emulator.failed_deliveries == []


async def test_archiving_an_incident_channel_is_noted_on_the_timeline_with_who_did_it(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    answer = await emulator.archive_channel(people.bob, incident.id)
    await settled(emulator, bot)

    assert answered_2xx(answer)
    [note] = [e for e in await timeline(bot, incident) if e.source == "system" and "archived" in e.text]
    assert (note.text, note.author_id) == ("Channel archived", people.bob)


async def test_renaming_or_archiving_a_channel_that_is_no_incident_is_answered_200_and_changes_nothing(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    renamed = await emulator.rename_channel(people.alice, people.general, "town-square")
    archived = await emulator.archive_channel(people.alice, people.general)
    await settled(emulator, bot)

    assert answered_2xx(renamed)
    assert answered_2xx(archived)
    async with bot.db.transaction() as store:
        assert await store.count() == 0


async def test_a_rename_that_is_not_shaped_like_slacks_is_answered_200_and_recorded_as_dropped(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel
) -> None:
    answer = await emulator.send_event({"type": "channel_rename", "channel": {"id": incident.id, "name": 42}})

    assert answer.status == 200
    async with bot.db.timeline() as store:
        [(_, reason)] = await store.dropped()
    assert reason.startswith("malformed channel name")
    found = await bot.services.incidents.in_channel(TEAM, incident.id)
    assert found is not None
    assert found.channel_name == incident.name


# What Slack sends for each subscription (the inner event), as its event docs show it.
SUBSCRIBED: dict[str, dict[str, Any]] = {
    "message.channels": {"type": "message", "channel": "C0NOTINC1", "user": "U0SOMEONE", "text": "hi", "ts": "1.1"},
    "message.groups": {"type": "message", "channel": "C0NOTINC2", "user": "U0SOMEONE", "text": "hi", "ts": "1.2"},
    "member_joined_channel": {"type": "member_joined_channel", "user": "U0SOMEONE", "channel": "C0NOTINC1"},
    "member_left_channel": {"type": "member_left_channel", "user": "U0SOMEONE", "channel": "C0NOTINC1"},
    "reaction_added": {
        "type": "reaction_added",
        "user": "U0SOMEONE",
        "reaction": "eyes",
        "item": {"type": "message", "channel": "C0NOTINC1", "ts": "1.1"},
    },
    "reaction_removed": {
        "type": "reaction_removed",
        "user": "U0SOMEONE",
        "reaction": "eyes",
        "item": {"type": "message", "channel": "C0NOTINC1", "ts": "1.1"},
    },
    "channel_rename": {"type": "channel_rename", "channel": {"id": "C0NOTINC1", "name": "renamed", "created": 1}},
    "group_rename": {"type": "group_rename", "channel": {"id": "C0NOTINC2", "name": "renamed", "created": 1}},
    "channel_archive": {"type": "channel_archive", "channel": "C0NOTINC1", "user": "U0SOMEONE"},
    "group_archive": {"type": "group_archive", "channel": "C0NOTINC2"},
    "tokens_revoked": {"type": "tokens_revoked", "tokens": {"oauth": ["U0SOMEONE"], "bot": []}},
    "app_uninstalled": {"type": "app_uninstalled"},
}


@pytest.mark.parametrize("subscription", sorted(EVENT_SCOPES))
async def test_every_event_the_manifest_subscribes_to_is_answered_2xx(
    emulator: SlackEmulator, bot: IncidentBot, subscription: str
) -> None:
    assert subscription in SUBSCRIBED, f"no example of {subscription}: add one so that its answer is tested"

    answer = await emulator.send_event(SUBSCRIBED[subscription])

    assert answered_2xx(answer), f"{subscription} was answered {answer.status}: {answer.body}"


@pytest.mark.parametrize("subscription", ["channel_rename", "channel_archive", "tokens_revoked", "app_uninstalled"])
def test_the_manifest_subscribes_to_the_lifecycle_events_the_bot_acts_on(subscription: str) -> None:
    assert subscription in bot_events(DEFAULT_BEHAVIOUR)


async def test_an_event_type_the_bot_has_no_use_for_is_still_answered_2xx(
    emulator: SlackEmulator, bot: IncidentBot
) -> None:
    answer = await emulator.send_event({"type": "app_home_opened", "user": "U0SOMEONE", "tab": "home"})

    assert answered_2xx(answer)


# -- 4. Slack's own notices are no message of a responder ---------------------------------------------------
@pytest.fixture
def config(tmp_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    """The bot with a runbook the notices below would match, were they read as what someone said."""
    return load_config(config_file(tmp_path, interval=0), environment(emulator, database_url))


NOTICES = [  # (subtype, what Slack writes): each names a root cause of the runbook in plain words
    ("channel_topic", "set the channel topic: connection leak, idle in transaction sessions pile up"),
    ("channel_purpose", "set the channel purpose: Timeout waiting for connection from pool"),
    ("pinned_item", "pinned a message: hundreds of sessions idle in transaction, a connection leak"),
    ("bot_add", "added an integration to this channel: idle-in-transaction connection leak watcher"),
    ("reminder_add", "set up a reminder “kill the idle in transaction sessions, connection leak” in this channel"),
    ("channel_posting_permissions", "changed who can post: connection leak war room"),
]


async def test_slacks_notices_stay_in_the_record_but_say_nothing_to_the_engine_the_timeline_or_the_report(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = [await emulator.notice(people.bob, incident.id, subtype, text) for subtype, text in NOTICES]
    await settled(emulator, bot)

    stored = await messages(bot, incident)
    assert [stored[m.ts].text for m in posted] == [text for _, text in NOTICES]  # kept, as Slack wrote them
    engine_reads = await said(bot, incident)
    assert [engine_reads[f"{incident.id}/{m.ts}"] for m in posted] == [("", False)] * len(NOTICES)
    joins = [k for k, (text, _) in engine_reads.items() if stored[k.split("/")[1]].text.endswith("joined the channel")]
    assert joins
    assert all(engine_reads[k] == ("", False) for k in joins)
    assert suggestions(emulator, incident) == []
    assert [e for e in await timeline(bot, incident) if e.source == "message"] == []
    found = await bot.services.incidents.in_channel(TEAM, incident.id)
    assert found is not None
    assert "idle in transaction" not in await bot.services.reports.render(found, "Draft 1")

    # The same words said by a responder are evidence: the engine would have read the notices had they counted.
    for _, text in NOTICES:
        await emulator.post_message(people.bob, incident.id, text)
    await settled(emulator, bot)
    assert suggestions(emulator, incident)

"""The timeline: responders just talk; the bot keeps every message, and reactions mark the ones that matter."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bot.app import IncidentBot
from bot.domain.timeline import TimelineEntry
from bot.emulator import Channel, SlackEmulator
from bot.slack.ids import CallbackId
from tests.conftest import People

from .steps import open_incident, run, settled, wait_for_private


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    channel = await open_incident(emulator, people.alice, people.general, "API 500 errors on User Service")
    await emulator.join(people.bob, channel.id)
    return channel


async def messages(bot: IncidentBot, channel: Channel) -> list[TimelineEntry]:
    incident = await bot.services.incidents.in_channel(TEAM, channel.id)
    assert incident is not None
    async with bot.db.timeline() as store:
        return await store.messages(incident.id)


async def timeline(bot: IncidentBot, channel: Channel) -> list[TimelineEntry]:
    incident = await bot.services.incidents.in_channel(TEAM, channel.id)
    assert incident is not None
    return await bot.services.timeline.entries(incident)


TEAM = "T0EMULATE"  # the emulator's workspace


async def rows(bot: IncidentBot, table: str, **where: object) -> int:
    """How many rows of a table match (straight from the database, not through the code under test)."""
    clause = " AND ".join(f"{column} = :{column}" for column in where) or "1 = 1"
    async with bot.db.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {clause}"), where)).scalar_one())


def texts(entries: list[TimelineEntry]) -> list[str]:
    return [e.text for e in entries]


async def test_every_message_of_the_channel_is_kept_with_its_author_and_slack_time(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    first = await emulator.post_message(people.bob, incident.id, "500s started at 14:30")
    await emulator.post_message(people.alice, incident.id, "DB pool is exhausted")
    await settled(emulator, bot)

    stored = [e for e in await messages(bot, incident) if e.text in ("500s started at 14:30", "DB pool is exhausted")]

    assert [(e.author_id, e.text) for e in stored] == [
        (people.bob, "500s started at 14:30"),
        (people.alice, "DB pool is exhausted"),
    ]
    assert stored[0].at == datetime.fromtimestamp(float(first.ts), tz=UTC)


async def test_the_bots_own_posts_are_not_captured(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "severity sev2")
    await settled(emulator, bot)

    stored = await messages(bot, incident)

    assert all(e.author_id != emulator.bot_user_id for e in stored)
    assert not any("changed the severity" in e.text for e in stored)


async def test_messages_outside_incident_channels_are_not_kept(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    elsewhere = emulator.add_channel("random", members=[people.bob, emulator.bot_user_id])

    await emulator.post_message(people.bob, elsewhere, "lunch?")
    await settled(emulator, bot)

    assert "lunch?" not in texts(await messages(bot, incident))
    assert await rows(bot, "messages", channel_id=elsewhere) == 0


async def test_a_thread_reply_is_kept_with_its_thread(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    parent = await emulator.post_message(people.bob, incident.id, "what changed at 14:25?")
    reply = await emulator.post_message(people.alice, incident.id, "deploy of user-service", thread_ts=parent.ts)
    await settled(emulator, bot)

    stored = {e.ts: e for e in await messages(bot, incident)}

    assert stored[reply.ts].text == "deploy of user-service"
    assert parent.ts in stored


async def test_an_edit_keeps_the_original_text_and_when_it_was_edited(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "pool at 100%")
    await settled(emulator, bot)

    answer = await emulator.edit_message(people.bob, incident.id, posted.ts, "pool at 100% on db-2")

    stored = {e.ts: e for e in await messages(bot, incident)}[posted.ts]
    assert answer is not None
    assert answer.status == 200
    assert (stored.text, stored.original_text, stored.edited) == ("pool at 100% on db-2", "pool at 100%", True)


async def test_a_deleted_message_is_kept_for_the_record_and_marked_deleted(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "oops, wrong channel")
    await emulator.react(people.alice, incident.id, posted.ts, "pushpin")
    await settled(emulator, bot)

    await emulator.delete_message(people.bob, incident.id, posted.ts)
    await settled(emulator, bot)

    [entry] = [e for e in await timeline(bot, incident) if e.ts == posted.ts]
    assert entry.deleted
    assert entry.text == "oops, wrong channel"
    assert entry.kinds == ("key_event",)


async def test_an_edit_after_a_mark_keeps_the_mark_and_shows_the_new_text(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "root cause: trafic spike")
    await emulator.react(people.alice, incident.id, posted.ts, "mag")
    await settled(emulator, bot)

    await emulator.edit_message(people.bob, incident.id, posted.ts, "root cause: traffic spike")
    await settled(emulator, bot)

    [entry] = [e for e in await timeline(bot, incident) if e.ts == posted.ts]
    assert (entry.text, entry.kinds, entry.edited) == ("root cause: traffic spike", ("finding",), True)


async def test_a_shared_file_is_kept_with_name_type_and_link(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    shared = await emulator.share_file(people.bob, incident.id, "error-rate.png", filetype="png", text="the spike")
    await settled(emulator, bot)

    [entry] = [e for e in await messages(bot, incident) if e.ts == shared.ts]
    assert [(f.name, f.type) for f in entry.files] == [("error-rate.png", "png")]
    assert entry.files[0].permalink


async def test_an_alerting_integrations_messages_are_kept_and_marked_as_integration(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    pager = emulator.add_user("pagerduty", is_bot=True)
    await emulator.join(pager, incident.id)

    alert = await emulator.post_message(pager, incident.id, "[FIRING] HighErrorRate user-service")
    await settled(emulator, bot)

    [entry] = [e for e in await messages(bot, incident) if e.ts == alert.ts]
    assert entry.text == "[FIRING] HighErrorRate user-service"
    assert entry.author_name == "pagerduty"
    pager_bot = emulator.workspace.users[pager].bot_id
    assert await rows(bot, "messages", ts=alert.ts, is_integration=True, bot_id=pager_bot) == 1


async def test_a_reaction_marks_the_message_as_its_kind_and_the_person_is_told_discreetly(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "error rate back to normal")

    await emulator.react(people.alice, incident.id, posted.ts, "white_check_mark")
    await settled(emulator, bot)

    [entry] = [e for e in await timeline(bot, incident) if e.ts == posted.ts]
    assert entry.kinds == ("verification",)
    assert await wait_for_private(emulator, people.alice, "Marked as *Verification*")
    assert not any(m.text.startswith(":white_check_mark: Marked") for m in incident.messages)


async def test_a_kind_stays_while_one_person_still_has_the_reaction(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "login works again")
    await emulator.react(people.alice, incident.id, posted.ts, "pushpin")
    await emulator.react(people.bob, incident.id, posted.ts, "pushpin")
    await settled(emulator, bot)

    await emulator.unreact(people.alice, incident.id, posted.ts, "pushpin")
    await settled(emulator, bot)
    after_one = [e.kinds for e in await timeline(bot, incident) if e.ts == posted.ts]
    await emulator.unreact(people.bob, incident.id, posted.ts, "pushpin")
    await settled(emulator, bot)
    after_both = [e.kinds for e in await timeline(bot, incident) if e.ts == posted.ts]

    assert after_one == [("key_event",)]
    assert after_both == []


def reaction(kind: str, user: str, channel: Channel, ts: str, name: str, event_ts: str) -> dict[str, object]:
    """A reaction_added / reaction_removed event as Slack sends it."""
    return {
        "type": kind,
        "user": user,
        "item": {"type": "message", "channel": channel.id, "ts": ts},
        "reaction": name,
        "event_ts": event_ts,
    }


async def test_a_reaction_removed_before_slack_delivered_its_adding_leaves_the_message_unmarked(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "maybe the cache?")
    await settled(emulator, bot)
    added = reaction("reaction_added", people.alice, incident, posted.ts, "mag", emulator.workspace.next_ts())
    removed = reaction("reaction_removed", people.alice, incident, posted.ts, "mag", emulator.workspace.next_ts())

    await emulator.send_event(removed)  # the two events crossed: the removal is delivered first
    await emulator.send_event(added)
    await settled(emulator, bot)

    assert [e for e in await timeline(bot, incident) if e.ts == posted.ts] == []


async def test_a_reaction_added_again_after_its_removal_marks_whatever_order_slack_delivers_them_in(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "it is the cache")
    await settled(emulator, bot)
    stamps = [emulator.workspace.next_ts() for _ in range(3)]
    first = reaction("reaction_added", people.alice, incident, posted.ts, "mag", stamps[0])
    removed = reaction("reaction_removed", people.alice, incident, posted.ts, "mag", stamps[1])
    again = reaction("reaction_added", people.alice, incident, posted.ts, "mag", stamps[2])

    for event in (again, first, removed):
        await emulator.send_event(event)
    await settled(emulator, bot)

    [entry] = [e for e in await timeline(bot, incident) if e.ts == posted.ts]
    assert entry.kinds == ("finding",)


async def test_several_kinds_can_mark_one_message(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "restarted api-service; errors gone")

    await emulator.react(people.alice, incident.id, posted.ts, "hammer_and_wrench")
    await emulator.react(people.alice, incident.id, posted.ts, "white_check_mark")
    await emulator.react(people.alice, incident.id, posted.ts, "tada")  # not a timeline emoji
    await settled(emulator, bot)

    [entry] = [e for e in await timeline(bot, incident) if e.ts == posted.ts]
    assert entry.kinds == ("action_taken", "verification")


async def test_reactions_outside_incident_channels_are_ignored(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    elsewhere = emulator.add_channel("random", members=[people.bob, emulator.bot_user_id])
    posted = await emulator.post_message(people.bob, elsewhere, "nice graph")

    await emulator.react(people.alice, elsewhere, posted.ts, "pushpin")
    await settled(emulator, bot)

    assert await rows(bot, "marks") == 0
    assert not any("Marked as" in t for t in [e.text for e in emulator.ephemerals])


async def test_the_same_message_event_delivered_three_times_is_stored_once(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "retry me", deliver=False)
    first = await emulator.deliver_message_event(incident.id, posted.ts)

    retries = [await emulator.redeliver(first, retry_num=n) for n in (1, 2, 3)]
    await settled(emulator, bot)

    assert [d.status for d in [first, *retries]] == [200, 200, 200, 200]
    assert texts(await messages(bot, incident)).count("retry me") == 1


async def test_the_same_reaction_delivered_three_times_marks_once_and_confirms_once(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "key moment")
    first = await emulator.react(people.alice, incident.id, posted.ts, "pushpin")
    assert first is not None

    for n in (1, 2, 3):
        await emulator.redeliver(first, retry_num=n)
    await settled(emulator, bot)

    assert await rows(bot, "marks") == 1
    assert sum("Marked as" in e.text for e in emulator.ephemerals) == 1


async def test_a_reaction_that_arrives_before_its_message_is_not_lost(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "the event for this one is late", deliver=False)

    await emulator.react(people.alice, incident.id, posted.ts, "pushpin")
    await settled(emulator, bot)
    before = [e for e in await timeline(bot, incident) if e.ts == posted.ts]
    late = await emulator.deliver_message_event(incident.id, posted.ts)
    await settled(emulator, bot)

    after = [e for e in await messages(bot, incident) if e.ts == posted.ts]
    assert [(e.text, e.kinds) for e in before] == [("the event for this one is late", ("key_event",))]
    assert emulator.calls_to("conversations.history")
    assert late.status == 200
    assert len(after) == 1


async def test_a_note_goes_on_the_timeline_and_the_timeline_command_shows_it_with_marks_and_changes(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "connection pool exhausted on db-2")
    await emulator.react(people.alice, incident.id, posted.ts, "mag")
    await run(emulator, people.alice, incident.id, "note customer support informed")
    await wait_for_private(emulator, people.alice, "Noted on the timeline")
    await run(emulator, people.alice, incident.id, "severity sev1")
    await settled(emulator, bot)

    await run(emulator, people.bob, incident.id, "timeline")
    shown = await wait_for_private(emulator, people.bob, "*Timeline of INC-")

    lines = shown.splitlines()
    assert "times in UTC" in lines[0]
    assert any("Finding" in line and "connection pool exhausted on db-2" in line and "|view>" in line for line in lines)
    assert any("Note" in line and "customer support informed" in line for line in lines)
    assert any("Severity changed from SEV3 · Minor to SEV1 · Critical" in line for line in lines)
    assert any("Incident opened" in line for line in lines)
    kinds = [e.kinds[0] for e in await timeline(bot, incident)]
    assert kinds.index("system") < kinds.index("finding") < kinds.index("note")


async def test_the_timeline_command_outside_an_incident_channel_says_where_it_works(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    await run(emulator, people.alice, people.general, "timeline")

    assert await wait_for_private(emulator, people.alice, "works inside an incident channel")


async def test_the_shortcut_adds_a_message_from_any_channel_to_an_open_incident(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    elsewhere = await emulator.post_message(people.carol, people.general, "customers report login failures in EU")

    answer = await emulator.message_shortcut(people.carol, people.general, elsewhere.ts, CallbackId.ADD_TO_TIMELINE)
    await emulator.wait_for(
        lambda: any(v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM for v in emulator.views.values())
    )
    form = next(v for v in emulator.views.values() if v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM)
    submitted = await emulator.submit_view(people.carol, form.id, {"kind": {"value": "impact"}})
    await settled(emulator, bot)

    assert (answer.status, submitted.status) == (200, 200)
    [entry] = [e for e in await timeline(bot, incident) if e.source == "shortcut"]
    assert (entry.text, entry.kinds, entry.author_id) == (
        "customers report login failures in EU",
        ("impact",),
        people.carol,
    )
    assert entry.permalink is not None
    assert entry.permalink.endswith(elsewhere.ts.replace(".", ""))
    assert "Added to the timeline" in str(emulator.views[form.id].view)


async def test_a_burst_of_a_thousand_messages_with_a_fifth_redelivered_stores_exactly_a_thousand(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = [await emulator.post_message(people.bob, incident.id, f"log line {n}", deliver=False) for n in range(1000)]
    order = [*posted, *random.Random(3).sample(posted, 200)]
    random.Random(4).shuffle(order)
    gate = asyncio.Semaphore(50)

    async def deliver(ts: str) -> int:
        async with gate:
            return (await emulator.deliver_message_event(incident.id, ts, ordered=False)).status

    statuses = await asyncio.gather(*(deliver(m.ts) for m in order))
    await settled(emulator, bot)

    assert set(statuses) == {200}
    stored = [e for e in await messages(bot, incident) if e.text.startswith("log line ")]
    assert len(stored) == 1000
    assert {e.ts for e in stored} == {m.ts for m in posted}


async def test_authors_are_named_by_their_slack_display_name_looked_up_once(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    for n in range(3):
        posted = await emulator.post_message(people.bob, incident.id, f"finding {n}")
        await emulator.react(people.alice, incident.id, posted.ts, "mag")
    await settled(emulator, bot)

    first = await timeline(bot, incident)
    second = await timeline(bot, incident)

    findings = [e for e in first if e.kinds == ("finding",)]
    assert {e.author_name for e in findings} == {"bob"}
    assert [e.author_name for e in second if e.kinds == ("finding",)] == ["bob"] * 3
    looked_up = [c.args.get("user") for c in emulator.calls_to("users.info")]
    assert looked_up.count(people.bob) == 1


async def test_what_people_typed_is_shown_in_the_timeline_as_they_typed_it_with_people_by_name(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "p99 > 2s & errors < 1% since @carol's deploy")
    await emulator.react(people.alice, incident.id, posted.ts, "mag")
    await run(emulator, people.alice, incident.id, "note rollback <approved> by @carol & @bob")
    await run(emulator, people.alice, incident.id, "commander @bob")
    await settled(emulator, bot)

    await run(emulator, people.alice, incident.id, "timeline")
    shown = await wait_for_private(emulator, people.alice, "*Timeline of INC-")

    assert "p99 &gt; 2s &amp; errors &lt; 1% since @carol's deploy" in shown
    assert "rollback &lt;approved&gt; by @carol &amp; @bob" in shown
    assert "Commander changed to @bob" in shown
    assert "&amp;gt;" not in shown
    assert "&amp;amp;" not in shown


async def test_a_message_marked_before_its_own_event_arrived_is_shown_with_its_words_in_the_timeline(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    posted = await emulator.post_message(people.bob, incident.id, "pool exhausted on db-2", deliver=False)  # late
    looking_up = emulator.hold("conversations.history")  # the bot's own look-up of the marked message is slow
    await emulator.react(people.alice, incident.id, posted.ts, "mag")
    await asyncio.wait_for(looking_up.arrived.wait(), 5)

    await run(emulator, people.alice, incident.id, "timeline")
    shown = await wait_for_private(emulator, people.alice, "*Timeline of INC-")
    looking_up.release()

    [line] = [line for line in shown.splitlines() if "Finding" in line]
    assert "pool exhausted on db-2" in line
    assert "*bob*" in line

"""Slack as it is in real workspaces (issue 11, item 8): the shortcut's three seconds and its form's size limit,
invitations Slack refuses for one person or for the whole channel, the report's thread at Slack's pace, Slack's two
ways of saying "too fast", and menus of at most 100 options. (The emulator's own limits: tests/emulator/.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import IncidentBot
from bot.config import ConfigError, load_config
from bot.emulator import Channel, SlackEmulator, View
from bot.reports import markdown_for_slack, report_sections_for_slack
from bot.slack.ids import CallbackId
from tests.conftest import People

from .steps import bot_lines, marked_steps, open_incident, run, settled, wait_for_private

CONFIG = """
command: /incident
severities:
  - name: sev1
    label: "SEV1 · Critical"
    description: Customer-facing outage
    invite: [{bob}, {carol}, {gina}]
  - name: sev3
    label: "SEV3 · Minor"
    description: Minor feature broken
default_severity: sev3
suggestions:
  enabled: false
"""

LONG = " ".join(f"word{n}" for n in range(700))  # 4,500 characters: a message Slack takes, too long for a form


@pytest.fixture
def gina(emulator: SlackEmulator) -> str:
    """A guest account: Slack keeps her out of channels she was not let into."""
    return emulator.add_user("gina", real_name="Gina Guest")


@pytest.fixture
def config_path(tmp_path: Path, people: People, gina: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(CONFIG.format(bob=people.bob, carol=people.carol, gina=gina), encoding="utf-8")
    return path


def timeline_form(emulator: SlackEmulator) -> View:
    return next(v for v in emulator.views.values() if v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM)


def shown_in(view: View) -> str:
    return str(view.blocks)


@asynccontextmanager
async def incidents_unreadable(bot: IncidentBot) -> AsyncIterator[None]:
    """The database fails every query of the incidents (as when it breaks, whatever the backend)."""
    async with bot.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE incidents RENAME TO incidents_away"))
    try:
        yield
    finally:
        async with bot.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE incidents_away RENAME TO incidents"))


# -- the message shortcut ------------------------------------------------------------------------------------


async def test_the_shortcut_form_opens_at_once_and_says_so_when_the_open_incidents_cannot_be_read(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    said = await emulator.post_message(people.carol, people.general, "customers report login failures")

    async with incidents_unreadable(bot):
        answer = await emulator.message_shortcut(people.carol, people.general, said.ts, CallbackId.ADD_TO_TIMELINE)
        await settled(emulator, bot)

    [opened] = emulator.calls_to("views.open")
    [form] = [v for v in emulator.views.values() if v.user == people.carol]
    assert answer.status == 200
    assert opened.ok  # the form opened within the trigger's three seconds, before any database query
    assert "could not load the open incidents" in shown_in(form)
    assert "Loading" not in shown_in(form)


async def test_a_message_too_long_for_the_form_is_added_whole_from_an_incident_channel(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Login failures")
    await emulator.join(people.bob, channel.id)
    said = await emulator.post_message(people.bob, channel.id, LONG)

    await emulator.message_shortcut(people.bob, channel.id, said.ts, CallbackId.ADD_TO_TIMELINE)
    await emulator.wait_for(
        lambda: any(v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM for v in emulator.views.values())
    )
    form = timeline_form(emulator)
    await emulator.submit_view(people.bob, form.id, {"kind": {"value": "impact"}})
    await settled(emulator, bot)

    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    [entry] = [e for e in await bot.services.timeline.entries(incident) if e.source == "shortcut"]
    assert len(form.private_metadata) <= 3000
    assert entry.text == LONG
    assert "Added to the timeline" in shown_in(emulator.views[form.id])


async def test_a_message_too_long_for_the_form_in_a_channel_the_bot_cannot_read_is_never_cut(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Login failures")
    said = await emulator.post_message(people.carol, people.general, LONG)  # #general: the bot is not in it

    await emulator.message_shortcut(people.carol, people.general, said.ts, CallbackId.ADD_TO_TIMELINE)
    await emulator.wait_for(
        lambda: any(v.callback_id == CallbackId.ADD_TO_TIMELINE_FORM for v in emulator.views.values())
    )
    form = timeline_form(emulator)
    await emulator.submit_view(people.carol, form.id, {"kind": {"value": "impact"}})
    await settled(emulator, bot)

    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    assert [e for e in await bot.services.timeline.entries(incident) if e.source == "shortcut"] == []
    told = shown_in(emulator.views[form.id])
    assert "too long" in told
    assert "Invite me" in told


# -- invitations ---------------------------------------------------------------------------------------------


async def test_people_slack_will_not_add_are_each_named_with_slacks_reason_and_the_others_are_invited(
    emulator: SlackEmulator, bot: IncidentBot, people: People, gina: str
) -> None:
    emulator.workspace.policy.refuse_invites(gina, "user_is_restricted")  # a guest kept out of new channels
    await run(emulator, people.alice, people.general, "open sev1 Payments down")
    told = await wait_for_private(emulator, people.alice, "Opened *INC-")
    await settled(emulator, bot)

    channel = emulator.channel_by_name("inc-2026-001-payments-down")
    assert channel is not None
    assert {people.alice, people.bob, people.carol} <= channel.members
    assert gina not in channel.members
    assert f"I could not invite <@{gina}> (`user_is_restricted`)" in told
    assert f"<@{people.bob}>" not in told
    assert f"<@{people.carol}>" not in told
    # Slack named the guest in its refusal: the others were invited in one more call, not one call per person.
    assert len(emulator.calls_to("conversations.invite")) == 2


async def test_a_channel_slack_refuses_invitations_to_is_reported_once_and_no_one_is_blamed(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search slow")
    await settled(emulator, bot)
    channel.members.discard(emulator.bot_user_id)  # someone removed the bot from the incident channel
    before = len(emulator.calls_to("conversations.invite"))

    await run(emulator, people.alice, channel.id, "severity sev1")
    told = await wait_for_private(emulator, people.alice, "Done, with problems")
    await settled(emulator, bot)

    assert len(emulator.calls_to("conversations.invite")) == before + 1
    assert told.count("refused invitations to this channel (`not_in_channel`)") == 1
    assert f"I could not invite <@{people.bob}> (" not in told  # nobody blamed for the channel's refusal


async def test_invitations_still_rate_limited_after_waiting_stop_and_are_reported_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search slow")
    await settled(emulator, bot)
    before = len(emulator.calls_to("conversations.invite"))
    emulator.rate_limit_next("conversations.invite", retry_after=1, times=4)  # the first try and slack_sdk's three

    await run(emulator, people.alice, channel.id, "severity sev1")
    told = await wait_for_private(emulator, people.alice, "Done, with problems", within=20)
    await settled(emulator, bot)

    assert len(emulator.calls_to("conversations.invite")) == before + 4  # Retry-After honoured, then no more
    assert told.count("refused invitations to this channel (`ratelimited`)") == 1
    assert f"I could not invite <@{people.bob}> (" not in told
    assert people.bob not in channel.members


# -- the report's thread -------------------------------------------------------------------------------------


async def incident_with_a_long_record(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    """An open incident whose report runs to about ten messages, in a workspace where file uploads are disabled."""
    emulator.workspace.policy.file_uploads = False
    channel = await open_incident(emulator, people.alice, people.general, "Very long incident")
    await marked_steps(bot, channel, people.bob, 400, " and found nothing unusual there")
    await settled(emulator, bot)
    return channel


async def stored_markdown(bot: IncidentBot, channel: Channel) -> str:
    async with bot.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT markdown FROM reports ORDER BY id"))
        return str(rows.scalars().all()[-1])


def thread_replies(emulator: SlackEmulator, channel: Channel) -> list[str]:
    summary = next(m for m in channel.messages if m.text.startswith("Post-incident report for"))
    return [m.text for m in channel.replies(summary.ts)]


async def test_a_report_posted_as_thread_replies_keeps_to_slacks_pace_and_loses_nothing(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await incident_with_a_long_record(emulator, bot, people)

    await run(emulator, people.alice, channel.id, "report")
    await wait_for_private(emulator, people.alice, "of the report", within=60)
    await settled(emulator, bot)

    sections = report_sections_for_slack(await stored_markdown(bot, channel))
    assert len(sections) > 6  # more than Slack lets through in one burst
    assert thread_replies(emulator, channel) == [markdown_for_slack(s) for s in sections]
    assert [c.http_status for c in emulator.calls_to("chat.postMessage") if c.http_status != 200] == []


async def test_a_thread_reply_answered_rate_limited_with_http_200_is_posted_after_a_pause(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await incident_with_a_long_record(emulator, bot, people)
    upload = emulator.hold("files.getUploadURLExternal")  # the summary is posted; its file is about to be refused

    await run(emulator, people.alice, channel.id, "report")
    await asyncio.wait_for(upload.arrived.wait(), timeout=30)
    emulator.fail_next("chat.postMessage", error="rate_limited")  # "Application has posted too many messages"
    upload.release()
    await wait_for_private(emulator, people.alice, "of the report", within=60)
    await settled(emulator, bot)

    sections = report_sections_for_slack(await stored_markdown(bot, channel))
    assert [c.error for c in emulator.calls_to("chat.postMessage") if not c.ok] == ["rate_limited"]
    assert thread_replies(emulator, channel) == [markdown_for_slack(s) for s in sections]


async def test_a_thread_slack_stops_part_way_is_reported_to_the_person_and_the_report_is_kept(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await incident_with_a_long_record(emulator, bot, people)
    upload = emulator.hold("files.getUploadURLExternal")

    await run(emulator, people.alice, channel.id, "report")
    await asyncio.wait_for(upload.arrived.wait(), timeout=30)
    emulator.workspace.policy.restrict("chat.postMessage")  # an admin restricts the app's posting meanwhile
    upload.release()
    told = await wait_for_private(emulator, people.alice, "is saved", within=60)
    await settled(emulator, bot)

    sections = report_sections_for_slack(await stored_markdown(bot, channel))
    assert thread_replies(emulator, channel) == []
    assert "The report (Draft 1) is saved" in told
    assert "(`restricted_action`)" in told
    assert f"after 0 of its {len(sections)} parts" in told
    assert "incident-bot report INC-" in told


# -- Slack's rate limits elsewhere ---------------------------------------------------------------------------


async def test_a_channel_line_answered_rate_limited_with_http_200_is_posted_after_a_pause(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Search slow")
    await settled(emulator, bot)
    emulator.fail_next("chat.postMessage", error="rate_limited")

    await run(emulator, people.alice, channel.id, "ack")
    await settled(emulator, bot)

    assert [line for line in bot_lines(emulator, channel) if "acknowledged" in line.lower()] != []
    assert not any("Done, with problems" in n.text for n in emulator.notices if n.user == people.alice)


# -- menus of at most 100 options ----------------------------------------------------------------------------


def test_more_than_a_hundred_severities_is_refused_at_load_naming_the_file_and_line(tmp_path: Path) -> None:
    levels = "".join(f"  - name: sev{n}\n    label: SEV{n}\n    description: level {n}\n" for n in range(101))
    path = tmp_path / "app.yaml"
    path.write_text(f"command: /incident\nseverities:\n{levels}default_severity: sev0\n", encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_config(path, {})

    assert f"{path}:{3 + 3 * 100}: severities[100]: at most 100 severities" in str(refused.value)


def test_more_than_ninety_nine_timeline_kinds_is_refused_at_load_naming_the_file_and_line(tmp_path: Path) -> None:
    reactions = "".join(f"    emoji{n}: kind{n}\n" for n in range(100))
    path = tmp_path / "app.yaml"
    path.write_text(
        "command: /incident\nseverities:\n  - name: sev1\n    label: SEV1\n    description: outage\n"
        f"default_severity: sev1\ntimeline:\n  reactions:\n{reactions}",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as refused:
        load_config(path, {})

    assert f"{path}:{9 + 99}: timeline.reactions.emoji99: at most 99 different kinds" in str(refused.value)

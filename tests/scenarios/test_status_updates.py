"""Status updates: `/incident update <text>` and its form, in the incident channel and the announcement channel, on
the timeline and in the report; once per request."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import load_config
from bot.emulator import Channel, SlackEmulator, View
from bot.services.updates import POST_AFTER
from bot.slack.ids import CallbackId
from tests.conftest import ROOT, People, environment, serving, write_config

from .steps import bot_lines, jobs_done, open_incident, report_files, run, settled, wait_for_private
from .test_crash_recovery import serving_process

HEADER = "Status update · INC-"


@pytest.fixture
def announcements(emulator: SlackEmulator, people: People) -> str:
    return emulator.add_channel("incidents", members=[people.alice, people.bob, people.carol])


def shipped_with(announcements: str, *, private: bool = False) -> str:
    text = (ROOT / "app.yaml").read_text(encoding="utf-8")
    text = text.replace("announcement_channel: null", f"announcement_channel: {announcements}")
    return text.replace("  private: false", "  private: true") if private else text


@pytest.fixture
def config_path(tmp_path: Path, announcements: str) -> Path:
    return write_config(tmp_path, shipped_with(announcements))


@pytest.fixture
async def incident(emulator: SlackEmulator, bot: IncidentBot, people: People) -> Channel:
    return await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails for EU customers")


def updates_in(emulator: SlackEmulator, channel_id: str) -> list[Any]:
    """The bot's status update posts in a channel, oldest first."""
    return [
        m
        for m in emulator.workspace.channels[channel_id].messages
        if m.bot_id == emulator.bot_id and m.text.startswith(":loudspeaker: Status update on")
    ]


def block_texts(message: Any) -> str:
    """Every text of a message's blocks, in order, one per line."""
    out: list[str] = []
    for block in message.blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", []) if isinstance(e, dict) and "text" in e]
    return "\n".join(out)


async def stored_updates(bot: IncidentBot, emulator: SlackEmulator, channel: Channel) -> list[Any]:
    incident = await bot.services.incidents.in_channel(emulator.team_id, channel.id)
    assert incident is not None
    return await bot.services.updates.updates(incident)


async def test_an_update_is_posted_in_the_incident_channel_with_status_severity_text_author_and_time(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.bob, incident.id, "update Failing over to the standby database; ETA 15 min")
    await emulator.wait_for(lambda: bool(updates_in(emulator, incident.id)), what="the update in the channel")

    [posted] = updates_in(emulator, incident.id)
    shown = block_texts(posted)
    assert posted.blocks[0]["text"]["text"].startswith(HEADER)
    assert "*Status*\nOpen" in shown
    assert "*Severity*\nSEV1 · Critical" in shown
    assert "Failing over to the standby database; ETA 15 min" in shown
    assert f"Posted by <@{people.bob}>" in shown
    assert "<!date^" in shown
    assert await wait_for_private(emulator, people.bob, "Posted the status update of INC-")


async def test_an_update_is_stored_with_its_author_time_status_and_severity(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.alice, incident.id, "ack")
    await emulator.wait_for(lambda: any("acknowledged" in line for line in bot_lines(emulator, incident)))

    await run(emulator, people.bob, incident.id, "update Rolled back the deploy")
    await emulator.wait_for(lambda: bool(updates_in(emulator, incident.id)))
    await settled(emulator, bot)

    [update] = await stored_updates(bot, emulator, incident)
    assert (update.author_id, update.status, update.severity, update.text) == (
        people.bob,
        "acknowledged",
        "sev1",
        "Rolled back the deploy",
    )
    assert update.posted_at.tzinfo is not None
    assert update.message_ts == updates_in(emulator, incident.id)[0].ts


async def test_an_update_is_copied_to_the_announcement_channel_with_a_link_to_the_incident(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, announcements: str
) -> None:
    await run(emulator, people.bob, incident.id, "update Payments are flowing again for 80% of customers")
    await emulator.wait_for(lambda: bool(updates_in(emulator, announcements)), what="the announcement copy")

    [copy] = updates_in(emulator, announcements)
    shown = block_texts(copy)
    assert "Payments are flowing again for 80% of customers" in shown
    assert "*Severity*\nSEV1 · Critical" in shown
    assert f"in <#{incident.id}>" in shown
    assert "Checkout fails for EU customers" in copy.blocks[0]["text"]["text"]


async def test_an_update_is_on_the_timeline_and_in_the_report_as_an_update(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    await run(emulator, people.bob, incident.id, "update Root cause found: expired TLS certificate")
    await emulator.wait_for(lambda: bool(updates_in(emulator, incident.id)))

    await run(emulator, people.alice, incident.id, "timeline")
    timeline = await wait_for_private(emulator, people.alice, "Timeline of INC-")
    await run(emulator, people.alice, incident.id, "report")
    await wait_for_private(emulator, people.alice, "Draft 1 of the report")

    assert ":loudspeaker: Update · *bob*: Status update (Open, SEV1 · Critical): Root cause found" in timeline
    [markdown] = report_files(emulator)
    rows = markdown[markdown.index("## 4. Timeline") : markdown.index("## 5. Metrics")].splitlines()
    [row] = [r for r in rows if "Root cause found" in r]
    assert "| Update | bob | Status update (Open, SEV1 · Critical): Root cause found: expired TLS certificate |" in row


async def open_update_form(emulator: SlackEmulator, user: str, channel: str) -> View:
    await run(emulator, user, channel, "update")
    await emulator.wait_for(
        lambda: any(v.callback_id == CallbackId.UPDATE_MODAL for v in emulator.views.values()), what="the form opens"
    )
    return next(v for v in emulator.views.values() if v.callback_id == CallbackId.UPDATE_MODAL)


def filled(status: str, impact: str = "", next_steps: str = "") -> dict[str, dict[str, object]]:
    def typed(value: str) -> dict[str, object]:
        return {"value": {"type": "plain_text_input", "value": value or None}}

    return {"update_status": typed(status), "update_impact": typed(impact), "update_next_steps": typed(next_steps)}


async def test_update_without_text_opens_a_form_whose_status_impact_and_next_steps_are_posted(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, announcements: str
) -> None:
    form = await open_update_form(emulator, people.carol, incident.id)

    answer = await emulator.submit_view(
        people.carol,
        form.id,
        filled("Standby is serving traffic", "EU checkout <failed> for 20 min", "Watch error rates & report at 15:00"),
    )
    await emulator.wait_for(lambda: bool(updates_in(emulator, announcements)), what="the update is posted")
    await emulator.wait_for(lambda: "Posted the status update" in str(emulator.views[form.id].view))

    assert answer.status == 200
    [posted] = updates_in(emulator, incident.id)
    shown = block_texts(posted)
    assert "Standby is serving traffic" in shown
    assert "*Impact*\nEU checkout &lt;failed&gt; for 20 min" in shown
    assert "*Next steps*\nWatch error rates &amp; report at 15:00" in shown
    assert f"Posted by <@{people.carol}>" in shown
    assert "*Impact*" in block_texts(updates_in(emulator, announcements)[0])
    [update] = await stored_updates(bot, emulator, incident)
    assert update.impact == "EU checkout &lt;failed&gt; for 20 min"  # stored in Slack's markup, like command text


async def test_a_blank_form_stays_open_with_the_error_next_to_the_status(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People
) -> None:
    form = await open_update_form(emulator, people.carol, incident.id)

    answer = await emulator.submit_view(people.carol, form.id, filled("   ", "some impact"))

    assert answer.json()["response_action"] == "errors"
    assert list(answer.json()["errors"]) == ["update_status"]
    await settled(emulator, bot)
    assert updates_in(emulator, incident.id) == []
    assert await stored_updates(bot, emulator, incident) == []


async def test_a_form_submitted_twice_posts_one_update(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, announcements: str
) -> None:
    form = await open_update_form(emulator, people.carol, incident.id)

    answers = await asyncio.gather(
        emulator.submit_view(people.carol, form.id, filled("Mitigated by a restart")),
        emulator.submit_view(people.carol, form.id, filled("Mitigated by a restart")),
    )
    await settled(emulator, bot)

    assert [a.status for a in answers] == [200, 200]
    assert len(updates_in(emulator, incident.id)) == 1
    assert len(updates_in(emulator, announcements)) == 1
    assert len(await stored_updates(bot, emulator, incident)) == 1


async def test_the_same_update_command_delivered_twice_posts_once(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, announcements: str
) -> None:
    first = await run(emulator, people.bob, incident.id, "update Still investigating")
    await emulator.wait_for(lambda: bool(updates_in(emulator, announcements)))

    again = await emulator.deliver_raw(first.request_body, first.request_headers["Content-Type"], first.request_headers)
    await settled(emulator, bot)

    assert again.status == 200
    assert len(updates_in(emulator, incident.id)) == 1
    assert len(updates_in(emulator, announcements)) == 1
    assert len(await stored_updates(bot, emulator, incident)) == 1


async def test_update_text_cannot_ping_the_announcement_channel(
    emulator: SlackEmulator, bot: IncidentBot, incident: Channel, people: People, announcements: str
) -> None:
    await run(emulator, people.bob, incident.id, "update <!channel> all good <https://evil.example|docs>", markup=True)
    await emulator.wait_for(lambda: bool(updates_in(emulator, announcements)))

    for message in (updates_in(emulator, incident.id)[0], updates_in(emulator, announcements)[0]):
        everything = message.text + block_texts(message)
        assert "<!channel>" not in everything
        assert "@channel" not in everything
        assert "docs (https://evil.example)" in everything


async def test_update_outside_an_incident_channel_says_it_needs_one(
    emulator: SlackEmulator, bot: IncidentBot, people: People, announcements: str
) -> None:
    await run(emulator, people.bob, people.general, "update All fine")

    assert await wait_for_private(emulator, people.bob, "works inside an incident channel")
    await settled(emulator, bot)
    assert updates_in(emulator, announcements) == []


async def test_a_private_incidents_update_is_announced_without_its_title_or_words(
    emulator: SlackEmulator, people: People, tmp_path: Path, database_url: str, announcements: str
) -> None:
    config = load_config(
        write_config(tmp_path, shipped_with(announcements, private=True)), environment(emulator, database_url)
    )
    async with serving(config, emulator) as bot:
        channel = await open_incident(emulator, people.alice, people.general, "sev1 Payroll export leaks salaries")
        await run(emulator, people.alice, channel.id, "update Export disabled; auditing who downloaded it")
        await emulator.wait_for(lambda: bool(updates_in(emulator, announcements)))
        await settled(emulator, bot)

    [copy] = updates_in(emulator, announcements)
    everything = copy.text + block_texts(copy)
    assert "a private incident" in copy.text
    assert "SEV1 · Critical" in copy.text
    assert "Payroll" not in everything
    assert "auditing" not in everything
    assert channel.id not in everything
    assert "auditing who downloaded it" in block_texts(updates_in(emulator, channel.id)[0])


def bot_reads(emulator: SlackEmulator, announcements: str) -> None:
    """The bot is a member of the announcement channel: it can read back what it posted there after a failure."""
    emulator.workspace.channels[announcements].members.add(emulator.bot_user_id)


async def test_an_update_recorded_by_a_bot_killed_before_posting_it_is_posted_once_after_a_restart(
    emulator: SlackEmulator, people: People, announcements: str, config_path: Path, database_url: str, tmp_path: Path
) -> None:
    bot_reads(emulator, announcements)
    config = load_config(config_path, environment(emulator, database_url))
    env = environment(emulator, database_url, INCIDENT_BOT_CONFIG=str(config_path))
    async with serving_process(emulator, env, tmp_path / "killed.log") as killed:
        incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
        await wait_for_private(emulator, people.alice, "Opened *INC-")  # the opening's posts are all made
        held = emulator.hold("chat.postMessage", perform=False)  # the update's post, never to take effect
        await run(emulator, people.bob, incident.id, "update Failing over to the standby database")
        await asyncio.wait_for(held.arrived.wait(), timeout=20)
        killed.send_signal(signal.SIGKILL)
        await killed.wait()
    not_posted = updates_in(emulator, incident.id)

    clock = ManualClock(datetime.now(UTC))
    async with serving(config, emulator, clock=clock) as restarted:
        clock.advance(POST_AFTER)
        await jobs_done(restarted, clock)
        await emulator.wait_idle()
        clock.advance(timedelta(hours=1))  # any later run of the job finds it done
        await jobs_done(restarted, clock)

    assert not_posted == []
    [posted] = updates_in(emulator, incident.id)
    assert "Failing over to the standby database" in block_texts(posted)
    assert len(updates_in(emulator, announcements)) == 1


async def test_an_update_posted_at_once_is_not_posted_again_by_its_job(
    emulator: SlackEmulator, people: People, config_path: Path, database_url: str, announcements: str
) -> None:
    config = load_config(config_path, environment(emulator, database_url))
    clock = ManualClock()
    async with serving(config, emulator, clock=clock) as bot:
        incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
        await run(emulator, people.bob, incident.id, "update Failing over to the standby database")
        await wait_for_private(emulator, people.bob, "Posted the status update of INC-")

        clock.advance(POST_AFTER * 2)
        await jobs_done(bot, clock)
        await emulator.wait_idle()

    assert len(updates_in(emulator, incident.id)) == 1
    assert len(updates_in(emulator, announcements)) == 1


async def test_an_update_slack_refused_is_posted_by_its_job_a_minute_later(
    emulator: SlackEmulator, people: People, config_path: Path, database_url: str, announcements: str
) -> None:
    bot_reads(emulator, announcements)
    config = load_config(config_path, environment(emulator, database_url))
    clock = ManualClock()
    async with serving(config, emulator, clock=clock) as bot:
        incident = await open_incident(emulator, people.alice, people.general, "sev1 Checkout fails")
        emulator.fail_next("chat.postMessage", error="restricted_action", times=2)
        await run(emulator, people.bob, incident.id, "update Failing over to the standby database")
        told = await wait_for_private(emulator, people.bob, "I will try posting it again in a minute")
        refused = updates_in(emulator, incident.id)

        clock.advance(POST_AFTER)
        await jobs_done(bot, clock)
        await emulator.wait_idle()

    assert "I could not post the update in the incident channel" in told
    assert refused == []
    assert len(updates_in(emulator, incident.id)) == 1
    assert len(updates_in(emulator, announcements)) == 1

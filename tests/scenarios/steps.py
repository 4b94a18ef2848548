"""Steps shared by scenario tests: what a person does in Slack, and what they then see."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import Config, FollowupSettings, GitHubExport, Secret
from bot.domain.incident import Incident
from bot.domain.timeline import ChannelMessage
from bot.emulator import Channel, Delivery, SlackEmulator
from bot.storage import Followup
from bot.storage.tables import JobRow

if TYPE_CHECKING:
    from bot.app import IncidentBot

COMMAND = "/incident"
EXAMPLE = "API 500 errors on User Service"  # the title of the incident most scenarios open
GITHUB_TOKEN = "ghp_test_token"  # what the GitHub fake (the `github` fixture) accepts
REPOSITORY = "acme/ops"  # the repository it holds


def exporting_to_github(config: Config, api_url: str) -> Config:
    """`config` with follow-ups filed as issues of REPOSITORY (labelled "incident") through the GitHub API at
    `api_url`."""
    export = GitHubExport(repository=REPOSITORY, labels=("incident",), token=Secret(GITHUB_TOKEN), api_url=api_url)
    return dataclasses.replace(config, followups=FollowupSettings(export=export))


async def run(emulator: SlackEmulator, user: str, channel: str, text: str, *, markup: bool = False) -> Delivery:
    """A person types `/incident <text>` (markup=True: `text` is the command text exactly as Slack sends it); Slack
    must get its answer within 3 seconds."""
    delivery = await emulator.send_command(user, channel, COMMAND, text, markup=markup)
    assert delivery.status == 200, (
        f"/incident {text} was answered {delivery.status} ({delivery.failure}): {delivery.body}"
    )
    assert delivery.elapsed < 3.0
    return delivery


def incident_channels(emulator: SlackEmulator) -> list[Channel]:
    return [c for c in emulator.workspace.channels.values() if c.name.startswith("inc-")]


async def open_incident(
    emulator: SlackEmulator, user: str, channel: str, text: str, *, markup: bool = False
) -> Channel:
    """`/incident open ...` and wait until the incident channel has its pinned card."""
    before = {c.id for c in incident_channels(emulator)}
    await run(emulator, user, channel, f"open {text}", markup=markup)

    def ready() -> bool:
        return any(c.id not in before and c.pins for c in incident_channels(emulator))

    await emulator.wait_for(ready, what="a new incident channel with a pinned card")
    return next(c for c in incident_channels(emulator) if c.id not in before)


async def settled(emulator: SlackEmulator, bot: IncidentBot, within: float = 30.0) -> None:
    """Slack has delivered everything and the bot has finished what it does after answering (timeline writes,
    pages, exports). `within` guards against a hang; it times nothing."""
    await emulator.wait_idle()
    assert await bot.services.in_flight.drained(within=within)
    assert await bot.background.drained(within=within)
    assert await bot.services.in_flight.drained(within=within)
    await emulator.wait_idle()


async def incident_of(bot: IncidentBot, channel: Channel) -> Incident:
    """The stored incident of an incident channel."""
    assert bot.slack.me is not None
    incident = await bot.services.incidents.in_channel(bot.slack.me.team_id, channel.id)
    assert incident is not None
    return incident


async def followups_of(bot: IncidentBot, channel: Channel) -> list[Followup]:
    return await bot.followups.of_incident(await incident_of(bot, channel))


async def report_markdown(bot: IncidentBot, channel: Channel) -> str:
    """The Markdown of the incident's latest report, as stored."""
    incident = await incident_of(bot, channel)
    async with bot.db.unit() as stores:
        report = await stores.reports.latest(incident.id)
    assert report is not None
    return report.markdown


async def run_each(emulator: SlackEmulator, bot: IncidentBot, user: str, channel: Channel, *texts: str) -> None:
    """`/incident <text>` in the channel for each text in turn, each settled before the next."""
    for text in texts:
        await run(emulator, user, channel.id, text)
        await settled(emulator, bot)


async def marked_steps(bot: IncidentBot, channel: Channel, user: str, count: int, more: str = "") -> None:
    """`count` messages of `user` in the incident channel ("step <n>: checked shard <n % 97>" and `more`), written
    as the capture path writes them, each marked a key event: a long record without sending it through Slack."""
    incident = await incident_of(bot, channel)
    start = 1_764_338_400
    for n in range(count):
        await bot.writer.write(
            ChannelMessage(
                team_id=incident.team_id,
                incident_id=incident.id,
                channel_id=channel.id,
                ts=f"{start + n}.000100",
                text=f"step {n}: checked shard {n % 97}{more}",
                user_id=user,
            )
        )
    async with bot.db.engine.begin() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO marks (team_id, incident_id, channel_id, ts, reaction, kind, user_id, marked_at) "
            "SELECT team_id, incident_id, channel_id, ts, 'pushpin', 'key_event', user_id, posted_at FROM messages"
        )


def private_texts(emulator: SlackEmulator, user: str) -> list[str]:
    """Everything only this person saw: command answers, ephemeral responses and messages."""
    return [n.text for n in emulator.notices if n.user == user] + [
        e.text for e in emulator.ephemerals if e.user == user
    ]


async def wait_for_private(emulator: SlackEmulator, user: str, fragment: str, within: float = 5.0) -> str:
    await emulator.wait_for(
        lambda: any(fragment in t for t in private_texts(emulator, user)),
        timeout=within,
        what=f"{user} is told {fragment!r}",
    )
    return next(t for t in private_texts(emulator, user) if fragment in t)


def card(emulator: SlackEmulator, channel: Channel) -> dict[str, object]:
    """The pinned card as Slack holds it now (after any chat.update)."""
    message = channel.find(channel.pins[0])
    assert message is not None
    return {"text": message.text, "blocks": message.blocks, "ts": message.ts}


def card_field(emulator: SlackEmulator, channel: Channel, label: str) -> str:
    for block in card(emulator, channel)["blocks"]:  # type: ignore[attr-defined]
        for field in block.get("fields", []):
            title, _, value = field["text"].partition("\n")
            if title == f"*{label}*":
                return str(value)
    raise AssertionError(f"the card has no {label} field")


def bot_lines(emulator: SlackEmulator, channel: Channel) -> list[str]:
    """Messages the bot posted in the channel, oldest first, without the card."""
    pinned = set(channel.pins)
    return [m.text for m in channel.messages if m.bot_id == emulator.bot_id and m.ts not in pinned]


def report_files(emulator: SlackEmulator) -> list[str]:
    """The reports uploaded to Slack, as Markdown."""
    return [f.content.decode() for f in emulator.workspace.files.values() if f.filename.endswith(".md") and f.content]


async def wait_for_line(emulator: SlackEmulator, channel: Channel, fragment: str) -> str:
    """The bot's first line in the channel that says `fragment`, once there is one."""
    await emulator.wait_for(lambda: any(fragment in line for line in bot_lines(emulator, channel)), what=fragment)
    return next(line for line in bot_lines(emulator, channel) if fragment in line)


async def run_until_line(emulator: SlackEmulator, user: str, channel: Channel, text: str, fragment: str) -> str:
    """`/incident <text>` in the channel, and the bot's line there that says `fragment`."""
    await run(emulator, user, channel.id, text)
    return await wait_for_line(emulator, channel, fragment)


async def jobs_done(bot: IncidentBot, clock: ManualClock) -> None:
    """Every job due by the clock's time has run (the bot's own polling or this pass, whichever claims it)."""

    async def due_left() -> int:
        async with bot.db.session() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(JobRow)
                    .where(JobRow.state.in_(["pending", "running"]), JobRow.due_at <= clock.now())
                )
                or 0
            )

    async def drain() -> None:
        while True:
            await bot.scheduler.run_due()
            if not await due_left():
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(drain(), 30.0)  # a guard against a hang, not a timed assertion

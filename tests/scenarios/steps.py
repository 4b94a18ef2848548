"""Steps shared by scenario tests: what a person does in Slack, and what they then see."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.emulator import Channel, Delivery, SlackEmulator
from bot.storage.tables import JobRow

if TYPE_CHECKING:
    from bot.app import IncidentBot

COMMAND = "/incident"


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

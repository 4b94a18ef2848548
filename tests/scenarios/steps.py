"""Steps shared by scenario tests: what a person does in Slack, and what they then see."""

from __future__ import annotations

from bot.emulator import Channel, Delivery, SlackEmulator

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

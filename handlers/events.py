"""Event listeners. Every event the manifest subscribes to is answered, so Slack never sees a 404 and retries."""

from slack_bolt.async_app import AsyncApp

from bot.config import Config
from bot.services import Services


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def acknowledge_only() -> None:
        """Messages and membership changes are captured by the timeline (a later feature); for now: 200."""

    for event in ("message", "member_joined_channel", "member_left_channel"):
        app.event(event)(acknowledge_only)

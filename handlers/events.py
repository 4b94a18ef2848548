"""Event listeners. Every event the manifest subscribes to is answered, so Slack never sees a 404 and retries."""

from slack_bolt.async_app import AsyncApp

from bot.config import Config
from bot.services import Services


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def acknowledge_only() -> None:
        """Membership changes need nothing more than the 200. (Messages and reactions never get here over
        HTTP or Socket Mode: the timeline captures them in front of Bolt, see bot/slack/http.py.)"""

    for event in ("message", "reaction_added", "reaction_removed", "member_joined_channel", "member_left_channel"):
        app.event(event)(acknowledge_only)

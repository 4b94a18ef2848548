"""Event listeners. Every event is answered 2xx, so that Slack never sees a 404, never retries, and never counts a
failure towards turning the app's event subscriptions off.

Messages, reactions, channels renamed or archived, the bot's access lost and `app_rate_limited` never get here (over
HTTP or Socket Mode): the fast path answers them in front of Bolt, once what they mean is stored (see
bot/services/timeline.py, bot/slack/http.py)."""

import logging
import re

from slack_bolt.async_app import AsyncApp

from bot.config import Config
from bot.services import Services

log = logging.getLogger(__name__)


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def acknowledge_only() -> None:
        """Membership changes need nothing more than the 200."""

    for event in ("member_joined_channel", "member_left_channel"):
        app.event(event)(acknowledge_only)

    async def acknowledge_unused(event: dict[str, object]) -> None:
        """An event the bot has no use for (subscribed to by hand, or new from Slack): answered all the same."""
        log.debug("answered an event the bot does not use: %s", event.get("type"))

    app.event(re.compile(".*"))(acknowledge_unused)

"""What Bolt calls when a listener raises: log it and tell the person, instead of leaving them in silence."""

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.config import Config
from bot.services import Services


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def handle_unexpected_error(error: Exception, body: dict[str, Any]) -> None:
        await services.failures.report(error, body)

    app.error(handle_unexpected_error)

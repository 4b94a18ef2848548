"""The slash command listener."""

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.config import Config
from bot.services import Services
from bot.slack.payloads import command_request


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def handle_incident_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        request = command_request(body)
        await ack(text=services.commands.acknowledgement(request) or "")
        async with services.in_flight, services.failures.guard(body):
            await services.commands.run(request)

    app.command(config.command)(handle_incident_command)

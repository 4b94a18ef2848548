"""Listeners for the incident card's buttons and selects, and for the buttons of root-cause suggestions."""

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.config import Config
from bot.services import Services
from bot.slack.ids import ActionId
from bot.slack.payloads import action_request

CARD_ACTIONS = re.compile("^(" + "|".join(re.escape(a.value) for a in ActionId if a.startswith("incident.")) + ")$")
SUGGESTION_ACTIONS = re.compile(
    "^(" + "|".join(re.escape(a.value) for a in ActionId if a.startswith("suggestion.")) + ")$"
)


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def handle_card_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        async with services.in_flight, services.failures.guard(body):
            await services.card_actions.run(action_request(body))

    async def handle_suggestion_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        async with services.in_flight, services.failures.guard(body):
            await services.suggestion_buttons.run(action_request(body))

    app.action(CARD_ACTIONS)(handle_card_action)
    app.action(SUGGESTION_ACTIONS)(handle_suggestion_action)

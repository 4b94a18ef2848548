"""The message shortcut "Add to incident timeline" and its form."""

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.config import Config
from bot.services import Services
from bot.slack.ids import CallbackId
from bot.slack.payloads import message_shortcut, timeline_form_submission


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def handle_add_to_timeline(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        async with services.in_flight, services.failures.guard(body):
            await services.timeline_shortcut.open_form(message_shortcut(body))

    async def handle_timeline_form(ack: AsyncAck, body: dict[str, Any]) -> None:
        submission = timeline_form_submission(body)
        errors = services.timeline_shortcut.errors(submission)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        async with services.in_flight, services.failures.guard(body):
            await services.timeline_shortcut.add(submission, ack)

    app.message_shortcut(CallbackId.ADD_TO_TIMELINE.value)(handle_add_to_timeline)
    app.view(CallbackId.ADD_TO_TIMELINE_FORM.value)(handle_timeline_form)

"""The message shortcut "Add to incident timeline" and its form."""

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.config import Config
from bot.services import Services
from bot.slack import blocks
from bot.slack.ids import CallbackId
from bot.slack.payloads import message_shortcut, timeline_form_submission


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def handle_add_to_timeline(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        async with services.in_flight:
            await services.timeline_shortcut.open_form(message_shortcut(body))

    async def handle_timeline_form(ack: AsyncAck, body: dict[str, Any]) -> None:
        submission = timeline_form_submission(body)
        errors = services.timeline_shortcut.errors(submission)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack(response_action="update", view=blocks.message_modal("Add to timeline", ":hourglass: Adding…"))
        async with services.in_flight:
            await services.timeline_shortcut.add(submission)

    app.message_shortcut(CallbackId.ADD_TO_TIMELINE.value)(handle_add_to_timeline)
    app.view(CallbackId.ADD_TO_TIMELINE_FORM.value)(handle_timeline_form)

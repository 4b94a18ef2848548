"""Listeners for the open-incident modal and the status update modal."""

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.config import Config
from bot.services import Services
from bot.slack.ids import CallbackId
from bot.slack.payloads import open_modal_submission, update_form_submission


def register(app: AsyncApp, config: Config, services: Services) -> None:
    async def handle_open_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        submission = open_modal_submission(body)
        errors = services.open_modal.errors(submission)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        async with services.in_flight, services.failures.guard(body):
            await services.open_modal.run(submission, ack)

    async def handle_update_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        submission = update_form_submission(body)
        errors = services.update_modal.errors(submission)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        async with services.in_flight, services.failures.guard(body):
            await services.update_modal.run(submission, ack)

    app.view(CallbackId.OPEN_MODAL.value)(handle_open_submission)
    app.view(CallbackId.UPDATE_MODAL.value)(handle_update_submission)

"""Card buttons and selects, and the open-incident modal. Same services as the subcommands, other answers:
buttons answer privately with chat.postEphemeral, the modal answers in the modal itself."""

from __future__ import annotations

import logging

from bot.config import Config
from bot.domain.incident import Status
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.ids import ActionId, ModalBlock
from bot.slack.payloads import ActionRequest, OpenModalSubmission

from .commands import opened_text
from .errors import UserError
from .incidents import Changed, IncidentService, OpenRequest

log = logging.getLogger(__name__)

_STATUS_ACTIONS = {
    ActionId.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    ActionId.MITIGATE: Status.MITIGATED,
    ActionId.RESOLVE: Status.RESOLVED,
}


class CardActions:
    def __init__(self, incidents: IncidentService, slack: SlackGateway) -> None:
        self._incidents = incidents
        self._slack = slack

    async def run(self, request: ActionRequest) -> None:
        try:
            changed = await self._run(request)
        except UserError as e:
            await self._tell(request, f":warning: {e}")
            return
        except SlackError as e:
            await self._tell(request, f":warning: Slack did not let me do that (`{e.code}`). Please try again.")
            return
        if changed.warnings:
            await self._tell(request, "Done, with problems:\n" + "\n".join(changed.warnings))

    async def _run(self, request: ActionRequest) -> Changed:
        incident_id = request.incident_id
        if incident_id is None:
            incident = await self._incidents.in_channel(request.team_id, request.channel_id)
            if incident is None:
                raise UserError("This card belongs to no incident I know.")
            incident_id = incident.id
        action = ActionId(request.action_id)
        if action in _STATUS_ACTIONS:
            return await self._incidents.change_status(incident_id, request.user_id, _STATUS_ACTIONS[action])
        if not request.value:
            raise UserError("Pick a value first.")
        if action is ActionId.SEVERITY:
            return await self._incidents.change_severity(incident_id, request.user_id, request.value)
        return await self._incidents.set_commander(incident_id, request.user_id, request.value)

    async def _tell(self, request: ActionRequest, text: str) -> None:
        try:
            await self._slack.post_ephemeral(request.channel_id, request.user_id, text)
        except SlackError as e:
            log.warning("could not tell %s: %s", request.user_id, e.code)


class OpenModal:
    def __init__(self, config: Config, incidents: IncidentService, slack: SlackGateway) -> None:
        self._config = config
        self._incidents = incidents
        self._slack = slack

    def errors(self, submission: OpenModalSubmission) -> dict[str, str]:
        """Checked before the ack, so Slack shows them next to the fields and the modal stays open."""
        errors: dict[str, str] = {}
        if not submission.title.strip():
            errors[ModalBlock.TITLE] = "Give the incident a title: what is broken, in a few words."
        if self._config.severity(submission.severity) is None:
            errors[ModalBlock.SEVERITY] = "Pick a severity."
        return errors

    async def run(self, submission: OpenModalSubmission) -> None:
        try:
            opened = await self._incidents.open(
                OpenRequest(
                    team_id=submission.team_id,
                    user_id=submission.user_id,
                    title=submission.title,
                    severity=submission.severity,
                    description=submission.description,
                    request_key=f"view:{submission.view_id}",
                )
            )
            text = opened_text(opened.incident, opened.created, opened.warnings)
        except UserError as e:
            text = f":warning: {e}"
        try:
            await self._slack.update_view(submission.view_id, blocks.message_modal("Incident", text))
        except SlackError as e:
            log.warning("could not show the result of the open-incident form: %s", e.code)

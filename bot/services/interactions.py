"""Card buttons and selects, and the open-incident modal. Same services as the subcommands, other answers:
buttons answer privately with chat.postEphemeral, the modal answers in the modal itself."""

from __future__ import annotations

import json
import logging

from bot.config import Config, kind_label
from bot.domain.incident import Status
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.ids import ActionId, ModalBlock
from bot.slack.payloads import ActionRequest, MessageShortcut, OpenModalSubmission, TimelineFormSubmission

from .commands import opened_text
from .errors import UserError
from .incidents import Changed, IncidentService, OpenRequest
from .suggestions import SuggestionService
from .timeline import TimelineService

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


class TimelineShortcut:
    """The message shortcut "Add to incident timeline", usable in any channel."""

    def __init__(
        self, config: Config, incidents: IncidentService, timeline: TimelineService, slack: SlackGateway
    ) -> None:
        self._config = config
        self._incidents = incidents
        self._timeline = timeline
        self._slack = slack

    async def open_form(self, shortcut: MessageShortcut) -> None:
        active = await self._incidents.active(shortcut.team_id)
        if not active:
            view = blocks.message_modal(
                "Add to timeline", f"No incident is open. Open one with `{self._config.command} open <title>`."
            )
        else:
            here = await self._incidents.in_channel(shortcut.team_id, shortcut.channel_id)
            preselected = here if here and here.status.is_active else active[0] if len(active) == 1 else None
            view = blocks.add_to_timeline_modal(self._config, active, preselected, _metadata(shortcut), shortcut.text)
        try:
            await self._slack.open_view(shortcut.trigger_id, view)
        except SlackError as e:
            log.warning("could not open the add-to-timeline form: %s", e.code)

    def errors(self, submission: TimelineFormSubmission) -> dict[str, str]:
        errors: dict[str, str] = {}
        if submission.incident_id is None:
            errors[ModalBlock.INCIDENT] = "Pick the incident."
        if submission.kind not in (*self._config.timeline.kinds, "note"):
            errors[ModalBlock.KIND] = "Pick a kind."
        return errors

    async def add(self, submission: TimelineFormSubmission) -> None:
        try:
            message = json.loads(submission.metadata)
            incident = await self._incidents.get(submission.incident_id) if submission.incident_id else None
            if incident is None or incident.team_id != submission.team_id:
                raise UserError("That incident no longer exists.")
            await self._timeline.add_message(
                incident,
                kind=submission.kind,
                added_by=submission.user_id,
                author_id=message.get("a"),
                text=str(message.get("x") or ""),
                channel_id=str(message["c"]),
                ts=str(message["t"]),
                request_key=f"view:{submission.view_id}",
            )
            kind = kind_label(submission.kind)
            text = f":white_check_mark: Added to the timeline of *{incident.public_id}* as *{kind}*."
        except UserError as e:
            text = f":warning: {e}"
        try:
            await self._slack.update_view(submission.view_id, blocks.message_modal("Add to timeline", text))
        except SlackError as e:
            log.warning("could not show the result of the add-to-timeline form: %s", e.code)


def _metadata(shortcut: MessageShortcut) -> str:
    """What the form must remember about the message (private_metadata holds at most 3000 characters)."""
    text = shortcut.text
    while True:
        metadata = json.dumps({"c": shortcut.channel_id, "t": shortcut.message_ts, "a": shortcut.author_id, "x": text})
        if len(metadata) <= 3000:
            return metadata
        text = text[: max(0, len(text) - (len(metadata) - 3000) - 16)] + "…"


class SuggestionButtons:
    """Accept / Dismiss on a posted root-cause suggestion."""

    def __init__(self, suggestions: SuggestionService, slack: SlackGateway) -> None:
        self._suggestions = suggestions
        self._slack = slack

    async def run(self, request: ActionRequest) -> None:
        try:
            if not (request.value or "").isdigit():
                raise UserError("That suggestion no longer exists.")
            await self._suggestions.decide(
                int(str(request.value)), request.user_id, request.action_id == ActionId.SUGGESTION_ACCEPT
            )
        except UserError as e:
            try:
                await self._slack.post_ephemeral(request.channel_id, request.user_id, f":warning: {e}")
            except SlackError as error:
                log.warning("could not tell %s: %s", request.user_id, error.code)

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
from bot.slack.markup import to_markup
from bot.slack.payloads import (
    ActionRequest,
    MessageShortcut,
    OpenModalSubmission,
    TimelineFormSubmission,
    UpdateFormSubmission,
)
from bot.slack.replies import Ack, ModalReply

from .errors import AlreadyHandled, UserError
from .incidents import Changed, IncidentService
from .opening import IncidentOpener, OpenRequest, SetupPending
from .suggestions import SuggestionService
from .timeline import TimelineService
from .updates import StatusUpdates

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
        except AlreadyHandled:
            return  # the same click again (a replay): applied once already
        except UserError as e:
            await self._tell(request, f":warning: {e}")
            return
        except SlackError as e:
            await self._tell(request, f":warning: Slack did not let me do that (`{e.code}`). Please try again.")
            return
        if changed.warnings:
            await self._tell(request, "Done, with problems:\n" + "\n".join(changed.warnings))

    async def _run(self, request: ActionRequest) -> Changed:
        # The card acts on the incident of the channel it was clicked in, whatever its block_id or value say.
        incident = await self._incidents.in_channel(request.team_id, request.channel_id)
        if incident is None:
            raise UserError("This card belongs to no incident I know.")
        action = ActionId(request.action_id)
        key = request.request_key
        if action in _STATUS_ACTIONS:
            return await self._incidents.change_status(
                incident.id, request.user_id, _STATUS_ACTIONS[action], request_key=key
            )
        if not request.value:
            raise UserError("Pick a value first.")
        if action is ActionId.SEVERITY:
            return await self._incidents.change_severity(incident.id, request.user_id, request.value, request_key=key)
        return await self._incidents.set_commander(incident.id, request.user_id, request.value, request_key=key)

    async def _tell(self, request: ActionRequest, text: str) -> None:
        try:
            await self._slack.post_ephemeral(request.channel_id, request.user_id, text)
        except SlackError as e:
            log.warning("could not tell %s: %s", request.user_id, e.code)


class OpenModal:
    def __init__(self, config: Config, opener: IncidentOpener, slack: SlackGateway) -> None:
        self._config = config
        self._opener = opener
        self._slack = slack

    def errors(self, submission: OpenModalSubmission) -> dict[str, str]:
        """Checked before the ack, so Slack shows them next to the fields and the modal stays open."""
        errors: dict[str, str] = {}
        if not submission.title.strip():
            errors[ModalBlock.TITLE] = "Give the incident a title: what is broken, in a few words."
        if self._config.severity(submission.severity) is None:
            errors[ModalBlock.SEVERITY] = "Pick a severity."
        return errors

    async def run(self, submission: OpenModalSubmission, ack: Ack) -> None:
        async with ModalReply(
            ack, self._slack, submission.view_id, "Incident", ":hourglass_flowing_sand: Opening…"
        ) as reply:
            try:
                opened = await self._opener.open(
                    OpenRequest(
                        team_id=submission.team_id,
                        user_id=submission.user_id,
                        title=submission.title,
                        severity=submission.severity,
                        description=submission.description,
                        request_key=f"view:{submission.view_id}",
                        view_id=submission.view_id,
                        origin_channel=submission.origin_channel or None,
                    ),
                    tell=reply.show,
                )
                if not opened.created:
                    await reply.show(blocks.opened_text(opened.incident, opened.created, opened.warnings))
            except UserError as e:
                await reply.show(f":warning: {e}")
            except SetupPending as e:
                await reply.show(blocks.pending_text(e.incident))


class UpdateModal:
    """The status update form (`/incident update` without text)."""

    def __init__(self, incidents: IncidentService, updates: StatusUpdates, slack: SlackGateway) -> None:
        self._incidents = incidents
        self._updates = updates
        self._slack = slack

    def errors(self, submission: UpdateFormSubmission) -> dict[str, str]:
        if not submission.status.strip():
            return {ModalBlock.UPDATE_STATUS: "Say where things stand: this is what people outside the channel read."}
        return {}

    async def run(self, submission: UpdateFormSubmission, ack: Ack) -> None:
        async with ModalReply(ack, self._slack, submission.view_id, "Status update", ":hourglass: Posting…") as reply:
            try:
                await reply.show(await self._post(submission))
            except UserError as e:
                await reply.show(f":warning: {e}")

    async def _post(self, submission: UpdateFormSubmission) -> str:
        # The form acts on the incident of the channel it was opened from (kept by Slack with the form).
        incident = await self._incidents.in_channel(submission.team_id, submission.channel_id)
        if incident is None:
            raise UserError("That channel belongs to no incident I know.")
        # What people type in a form is plain text; stored in Slack's markup, like what they type in a command.
        posted = await self._updates.post(
            incident,
            submission.user_id,
            to_markup(submission.status),
            impact=to_markup(submission.impact),
            next_steps=to_markup(submission.next_steps),
            request_key=f"view:{submission.view_id}",
        )
        text = f":loudspeaker: Posted the status update of *{incident.public_id}* in <#{incident.channel_id}>."
        if posted.warnings:
            text += "\n" + "\n".join(posted.warnings)
        return text


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
        """Open the form at once (the trigger expires within 3 s), then fill it in with the incidents this person
        may see: the public ones, and the private ones whose channel they are in."""
        try:
            view_id = await self._slack.open_view(
                shortcut.trigger_id, blocks.message_modal("Add to timeline", ":hourglass_flowing_sand: Loading…")
            )
        except SlackError as e:
            log.warning("could not open the add-to-timeline form: %s", e.code)
            return
        try:
            active, unsure = await self._incidents.visible_to(
                shortcut.user_id, await self._incidents.active(shortcut.team_id)
            )
        except Exception:  # the database failed: the form says so rather than loading forever
            log.exception("could not list the open incidents for the add-to-timeline form")
            text = ":warning: I could not load the open incidents just now; please try again in a moment."
            await self._fill(view_id, blocks.message_modal("Add to timeline", text))
            return
        if not active:
            text = f"No incident is open. Open one with `{self._config.command} open <title>`."
            if unsure:
                text = "I could not check which private incidents you are in; please try again in a moment."
            view = blocks.message_modal("Add to timeline", text)
        else:
            here = next((i for i in active if i.channel_id == shortcut.channel_id), None)
            preselected = here if here is not None else active[0] if len(active) == 1 else None
            view = blocks.add_to_timeline_modal(self._config, active, preselected, _metadata(shortcut), shortcut.text)
        await self._fill(view_id, view)

    async def _fill(self, view_id: str, view: dict[str, object]) -> None:
        try:
            await self._slack.update_view(view_id, view)
        except SlackError as e:
            log.warning("could not fill in the add-to-timeline form: %s", e.code)

    def errors(self, submission: TimelineFormSubmission) -> dict[str, str]:
        errors: dict[str, str] = {}
        if submission.incident_id is None:
            errors[ModalBlock.INCIDENT] = "Pick the incident."
        if submission.kind not in (*self._config.timeline.kinds, "note"):
            errors[ModalBlock.KIND] = "Pick a kind."
        return errors

    async def add(self, submission: TimelineFormSubmission, ack: Ack) -> None:
        async with ModalReply(ack, self._slack, submission.view_id, "Add to timeline", ":hourglass: Adding…") as reply:
            try:
                await reply.show(await self._add(submission))
            except UserError as e:
                await reply.show(f":warning: {e}")

    async def _add(self, submission: TimelineFormSubmission) -> str:
        message = json.loads(submission.metadata)
        incident = await self._incidents.get(submission.incident_id) if submission.incident_id else None
        if (
            incident is None
            or incident.team_id != submission.team_id
            or not incident.status.is_active
            or not await self._incidents.may_see(submission.user_id, incident)
        ):
            raise UserError("That incident is not open, or not one you are in.")
        channel, ts = str(message["c"]), str(message["t"])
        text = message.get("x")
        await self._timeline.add_message(
            incident,
            kind=submission.kind,
            added_by=submission.user_id,
            author_id=message.get("a"),
            text=str(text) if text is not None else await self._text_of(channel, ts),
            channel_id=channel,
            ts=ts,
            request_key=f"view:{submission.view_id}",
        )
        return f":white_check_mark: Added to the timeline of *{incident.public_id}* as *{kind_label(submission.kind)}*."

    async def _text_of(self, channel: str, ts: str) -> str:
        """The whole text of a message too long for the form to carry, read from Slack (never cut)."""
        try:
            found = await self._slack.fetch_message(channel, ts)
        except SlackError as e:
            raise UserError(
                f"That message is too long for me to carry through the form, and Slack does not let me read it in "
                f"<#{channel}> (`{e.code}`). Invite me to that channel and try again, or add the message from a "
                "channel I am in."
            ) from e
        if found is None:
            raise UserError("That message is no longer there (deleted?), so there is nothing to add.")
        return str(found.get("text") or "")


PRIVATE_METADATA_LIMIT = 3000  # Slack's limit on a view's private_metadata, in characters


def _metadata(shortcut: MessageShortcut) -> str:
    """What the form must remember about the message: where it is, who wrote it and, when it fits in
    private_metadata, its text. A longer text is never cut: it is read from Slack when the form is submitted."""
    where = {"c": shortcut.channel_id, "t": shortcut.message_ts, "a": shortcut.author_id}
    with_text = json.dumps({**where, "x": shortcut.text})  # ASCII only: fits however Slack counts characters
    return with_text if len(with_text) <= PRIVATE_METADATA_LIMIT else json.dumps(where)


class SuggestionButtons:
    """Accept / Dismiss on a posted root-cause suggestion."""

    def __init__(self, incidents: IncidentService, suggestions: SuggestionService, slack: SlackGateway) -> None:
        self._incidents = incidents
        self._suggestions = suggestions
        self._slack = slack

    async def run(self, request: ActionRequest) -> None:
        try:
            if not (request.value or "").isdigit():
                raise UserError("That suggestion no longer exists.")
            # The button decides only a suggestion of the incident of the channel it was clicked in.
            incident = await self._incidents.in_channel(request.team_id, request.channel_id)
            if incident is None:
                raise UserError("That suggestion belongs to no incident of this channel.")
            await self._suggestions.decide(
                incident,
                int(str(request.value)),
                request.user_id,
                request.action_id == ActionId.SUGGESTION_ACCEPT,
                request_key=request.request_key,
            )
        except AlreadyHandled:
            return
        except UserError as e:
            try:
                await self._slack.post_ephemeral(request.channel_id, request.user_id, f":warning: {e}")
            except SlackError as error:
                log.warning("could not tell %s: %s", request.user_id, error.code)

"""Action, callback and block IDs: the contract between the blocks we post and the listeners that answer."""

from enum import StrEnum


class ActionId(StrEnum):
    ACKNOWLEDGE = "incident.acknowledge"
    MITIGATE = "incident.mitigate"
    RESOLVE = "incident.resolve"
    SEVERITY = "incident.severity"
    COMMANDER = "incident.commander"
    SUGGESTION_ACCEPT = "suggestion.accept"
    SUGGESTION_DISMISS = "suggestion.dismiss"


class CallbackId(StrEnum):
    OPEN_MODAL = "incident.open"
    ADD_TO_TIMELINE = "timeline.add"  # the message shortcut
    ADD_TO_TIMELINE_FORM = "timeline.add.form"
    UPDATE_MODAL = "incident.update"


class ModalBlock(StrEnum):
    TITLE = "title"
    SEVERITY = "severity"
    DESCRIPTION = "description"
    INCIDENT = "incident"
    KIND = "kind"
    UPDATE_STATUS = "update_status"
    UPDATE_IMPACT = "update_impact"
    UPDATE_NEXT_STEPS = "update_next_steps"


MODAL_INPUT_ACTION = "value"

"""Action, callback and block IDs: the contract between the blocks we post and the listeners that answer."""

from enum import StrEnum


class ActionId(StrEnum):
    ACKNOWLEDGE = "incident.acknowledge"
    MITIGATE = "incident.mitigate"
    RESOLVE = "incident.resolve"
    SEVERITY = "incident.severity"
    COMMANDER = "incident.commander"


class CallbackId(StrEnum):
    OPEN_MODAL = "incident.open"


class ModalBlock(StrEnum):
    TITLE = "title"
    SEVERITY = "severity"
    DESCRIPTION = "description"


MODAL_INPUT_ACTION = "value"

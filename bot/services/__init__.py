from dataclasses import dataclass

from bot.lifecycle import InFlight

from .commands import IncidentCommands
from .errors import UserError
from .failures import Failures
from .followups import ExportOutcome, FollowupService
from .incidents import IncidentService
from .interactions import CardActions, OpenModal, SuggestionButtons, TimelineShortcut, UpdateModal
from .opening import IncidentOpener, Opened, OpenRequest, SetupPending
from .reports import ReportService
from .suggestions import SuggestionService
from .timeline import TimelineCapture, TimelineService
from .updates import StatusUpdates, update_due


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the Slack listeners may call, built once by the composition root (bot.app)."""

    incidents: IncidentService
    opener: IncidentOpener
    timeline: TimelineService
    capture: TimelineCapture
    commands: IncidentCommands
    card_actions: CardActions
    open_modal: OpenModal
    timeline_shortcut: TimelineShortcut
    suggestions: SuggestionService
    suggestion_buttons: SuggestionButtons
    reports: ReportService
    updates: StatusUpdates
    update_modal: UpdateModal
    followups: FollowupService
    failures: Failures
    in_flight: InFlight  # listeners do their after-ack work inside `async with in_flight:`


__all__ = [
    "CardActions",
    "ExportOutcome",
    "Failures",
    "FollowupService",
    "IncidentCommands",
    "IncidentOpener",
    "IncidentService",
    "OpenModal",
    "OpenRequest",
    "Opened",
    "ReportService",
    "Services",
    "SetupPending",
    "StatusUpdates",
    "SuggestionButtons",
    "SuggestionService",
    "TimelineCapture",
    "TimelineService",
    "TimelineShortcut",
    "UpdateModal",
    "UserError",
    "update_due",
]

from .database import Database, create_engine, is_sqlite
from .followups import Followup, FollowupStore
from .reports import ReportStore, StoredReport
from .repository import AuditEntry, IncidentStore, NewIncident, SetupState
from .suggestions import SuggestionRecord, SuggestionStore
from .timeline import NewEntry, Said, Seen, TimelineStore
from .writer import TimelineWriter

__all__ = [
    "AuditEntry",
    "Database",
    "Followup",
    "FollowupStore",
    "IncidentStore",
    "NewEntry",
    "NewIncident",
    "ReportStore",
    "Said",
    "Seen",
    "SetupState",
    "StoredReport",
    "SuggestionRecord",
    "SuggestionStore",
    "TimelineStore",
    "TimelineWriter",
    "create_engine",
    "is_sqlite",
]

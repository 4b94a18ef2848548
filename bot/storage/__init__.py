from .database import Database, create_engine, is_sqlite
from .followups import Followup, FollowupStore
from .jobs import Job, JobState, JobStore, Scheduled
from .reports import ReportStore, StoredReport
from .repository import AuditEntry, IncidentStore, NewIncident, SetupState, StatusUpdate
from .suggestions import SuggestionRecord, SuggestionStore
from .timeline import NewEntry, Said, Seen, TimelineStore
from .writer import TimelineWriter

__all__ = [
    "AuditEntry",
    "Database",
    "Followup",
    "FollowupStore",
    "IncidentStore",
    "Job",
    "JobState",
    "JobStore",
    "NewEntry",
    "NewIncident",
    "ReportStore",
    "Said",
    "Scheduled",
    "Seen",
    "SetupState",
    "StatusUpdate",
    "StoredReport",
    "SuggestionRecord",
    "SuggestionStore",
    "TimelineStore",
    "TimelineWriter",
    "create_engine",
    "is_sqlite",
]

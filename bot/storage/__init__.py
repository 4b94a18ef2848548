from .database import Database, create_engine, is_sqlite
from .repository import AuditEntry, IncidentStore, NewIncident
from .timeline import NewEntry, TimelineStore
from .writer import TimelineWriter

__all__ = [
    "AuditEntry",
    "Database",
    "IncidentStore",
    "NewEntry",
    "NewIncident",
    "TimelineStore",
    "TimelineWriter",
    "create_engine",
    "is_sqlite",
]

from .database import Database, create_engine, is_sqlite
from .repository import AuditEntry, IncidentStore, NewIncident

__all__ = ["AuditEntry", "Database", "IncidentStore", "NewIncident", "create_engine", "is_sqlite"]

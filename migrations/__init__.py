"""Alembic migrations (a package so that an installed incident-bot can upgrade its own schema)."""

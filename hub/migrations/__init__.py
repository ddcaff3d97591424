"""Alembic migrations of the hub database (see hub.db.migrate)."""

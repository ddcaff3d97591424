"""Alembic environment: runs migrations on the connection the hub passes in, or on the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hub.db import include_object, make_engine, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    with make_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        _run(conn)

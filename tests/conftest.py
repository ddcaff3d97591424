"""Shared fixtures: a private Mosquitto per test, one private PostgreSQL cluster per run, hub databases.

Hub tests take ``hub_db_url``, parametrised over SQLite and PostgreSQL, so each runs on both. Servers are
real processes in temporary directories on free loopback ports, stopped at the end; a test may kill and
restart its broker (``broker.kill()``, ``broker.start()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from hub.local_services import MosquittoServer, PostgresServer

_db_names = itertools.count(1)


@pytest.fixture
def broker() -> Iterator[MosquittoServer]:
    server = MosquittoServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer(durable=False).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty hub database URL, on SQLite and on PostgreSQL in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"hub_{next(_db_names)}")


@pytest.fixture
def hub_engine(hub_db_url: str) -> Iterator[sa.Engine]:
    """A migrated hub database on each backend."""
    engine = db.make_engine(hub_db_url)
    db.migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()

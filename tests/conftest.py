"""Shared fixtures: a private Mosquitto per test, one private PostgreSQL cluster per run, hub databases.

Hub tests take ``hub_db_url``, parametrised over SQLite and PostgreSQL, so each runs on both. Servers are
real processes in temporary directories on free loopback ports, stopped at the end; a test may kill and
restart its broker (``broker.kill()``, ``broker.start()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
import sqlalchemy as sa

from hub import db
from hub.local_services import MosquittoServer, PostgresServer

_db_names = itertools.count(1)

DATE_SENSITIVE: Final = frozenset(
    {
        "tests/core/test_points.py",  # lots, expiry
        "tests/core/test_promotions_engine.py",  # birthdays, seasons, days of the week
        "tests/core/test_tiers.py",
        "tests/edge_agent/test_customers.py",  # enrolment date, birth dates
        "tests/edge_agent/test_stock.py",  # report periods
        "tests/hub/test_customers.py",  # tiers, history
        "tests/hub/test_erp_sync.py",
        "tests/hub/test_erp_tryton.py",  # the ERP company's "today"
        "tests/hub/test_jobs.py",
        "tests/hub/test_ledger.py",  # expiry, settlement periods, reports
        "tests/hub/test_postings.py",  # merchant program periods
    }
)
"""Modules whose outcome could depend on the date or the hour: marked ``dates``; ``make test`` runs them a
second and third time under libfaketime (05:30 UTC, and 23:30 in America/Mexico_City)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        if Path(item.path).relative_to(root).as_posix() in DATE_SENSITIVE:
            item.add_marker(pytest.mark.dates)


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

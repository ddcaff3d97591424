"""Shared fixtures: a private Mosquitto per test, one private PostgreSQL cluster per run, hub databases.

Hub tests take ``hub_db_url``, parametrised over SQLite and PostgreSQL, so each runs on both. Servers are
real processes in temporary directories on free loopback ports, stopped at the end; a test may kill and
restart its broker (``broker.kill()``, ``broker.start()``).

Collection marks every test by the servers it starts, so ``-m "not mqtt and not postgres and not browser
and not erp"`` runs none: from the fixtures it uses (:data:`SERVER_FIXTURES`), from a fixture parameter
that puts it on PostgreSQL (:data:`POSTGRES_PARAM`), and, for the few tests that start servers in their own
body or through a subprocess, from :data:`SELF_STARTING`. ``tests/test_markers.py`` proves the marks hold,
and a test that starts a server in this process without its marker fails at once (:data:`GUARDED_STARTS`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final, NoReturn

import pytest
import sqlalchemy as sa

from devkit.services import BoxProcess, HubProcess, MosquittoServer, PostgresServer
from hub import db
from tests.hub.tryton_server import TrytonServer

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


SERVER_FIXTURES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "broker": "mqtt",  # a private Mosquitto
        "pg_server": "postgres",  # the run's private PostgreSQL cluster
        "tryton_template": "erp",  # builds a Tryton database; every ERP test's server starts from it
        "browser": "browser",  # a headless Chromium (tests/edge_agent/web/test_browser.py)
    }
)
"""Fixture name -> the marker of the server it starts. A test using one, directly or through another fixture
(``item.fixturenames`` is the closure), carries the marker."""

POSTGRES_PARAM: Final = "postgresql"
"""A fixture parameter with this value (``hub_db_url``, a module's own database fixture) means the test runs on
PostgreSQL: the fixture asks for ``pg_server`` only then, so ``item.fixturenames`` does not show it."""

SELF_STARTING: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        # python -m devkit.demo starts its own broker, hub and boxes (on SQLite).
        "tests/hub/test_demo_and_cli.py::test_the_demo_reconciles_and_leaves_no_process_behind": frozenset({"mqtt"}),
        # The ingest and latency benchmarks start a broker, a PostgreSQL cluster, a hub and boxes.
        "tests/test_bench.py::test_quick_benchmark_reports_ratios_against_a_same_run_baseline[ingest]": frozenset(
            {"mqtt", "postgres"}
        ),
        "tests/test_bench.py::test_quick_benchmark_reports_ratios_against_a_same_run_baseline[latency]": frozenset(
            {"mqtt", "postgres"}
        ),
        # The ledger benchmark starts a PostgreSQL cluster of its own.
        "tests/hub/test_ledger_bench.py::test_quick_ledger_benchmark_reports_ratios_against_same_run_copies": frozenset(
            {"postgres"}
        ),
    }
)
"""Tests that start servers without a fixture of :data:`SERVER_FIXTURES`: node id (a module, a test function,
or one parametrisation of it) -> the markers. ``tests/test_markers.py`` finds such tests in the source and
fails when one is missing here or an entry matches no test."""


def covers(key: str, nodeid: str) -> bool:
    """Whether a :data:`SELF_STARTING` key names this test: the test itself, its function, or its module."""
    return nodeid == key or nodeid.startswith((key + "[", key + "::"))


def server_markers(nodeid: str, fixturenames: list[str], params: Mapping[str, object]) -> frozenset[str]:
    """The markers a test must carry for the servers it starts (see the module's docstring)."""
    found = {marker for name, marker in SERVER_FIXTURES.items() if name in fixturenames}
    if POSTGRES_PARAM in params.values():
        found.add("postgres")
    for key, markers in SELF_STARTING.items():
        if covers(key, nodeid):
            found |= markers
    return frozenset(found)


GUARDED_STARTS: Final[tuple[tuple[str, type[object], str], ...]] = (
    ("mqtt", MosquittoServer, "a Mosquitto broker"),
    ("mqtt", BoxProcess, "a box process (it needs a broker)"),
    ("mqtt", HubProcess, "a hub process (it needs a broker)"),
    ("postgres", PostgresServer, "a PostgreSQL cluster"),
    ("erp", TrytonServer, "a Tryton server"),
)
"""Marker, class whose ``start`` a test without that marker may not call, and what it would have started."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        if Path(item.path).relative_to(root).as_posix() in DATE_SENSITIVE:
            item.add_marker(pytest.mark.dates)
        callspec = getattr(item, "callspec", None)
        params: Mapping[str, object] = callspec.params if callspec is not None else {}
        fixturenames: list[str] = list(getattr(item, "fixturenames", ()))
        have = {mark.name for mark in item.iter_markers()}
        for marker in sorted(server_markers(item.nodeid, fixturenames, params) - have):
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(autouse=True)
def _servers_only_under_their_markers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``start`` fail for the servers of the markers this test lacks (a server fixture of a wider scope,
    set up before this one, is not covered; its users are marked from ``item.fixturenames``)."""
    have = {mark.name for mark in request.node.iter_markers()}
    for marker, server_class, what in GUARDED_STARTS:
        if marker not in have:
            monkeypatch.setattr(server_class, "start", _refusal(request.node.nodeid, marker, what))


def _refusal(nodeid: str, marker: str, what: str) -> Callable[..., NoReturn]:
    def start(*_args: object, **_kwargs: object) -> NoReturn:
        pytest.fail(
            f"{nodeid} starts {what} but is not marked {marker!r}: use the fixture that starts it "
            f"(see SERVER_FIXTURES in tests/conftest.py), or list the test in SELF_STARTING there",
            pytrace=False,
        )

    return start


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

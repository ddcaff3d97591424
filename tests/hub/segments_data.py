"""A small fixed network of members and their tickets for the segments, combinations, scorecard, levels and
manufacturer tests; every figure the tests expect is worked out by hand from what is written here.

The network is :mod:`tests.hub.analytics_data`'s (tenant ``acme``, America/Mexico_City, UTC-6): ``store-a``
of ``shop-a`` in Nuevo León, ``store-b`` of ``shop-b`` in Jalisco; items ``arroz`` (abarrotes, brand
``verde`` of ``granos``, 20.00) and ``soda`` (bebidas, brand ``fizz`` of ``fizzco``, 15.00), plus ``chips``
(botanas, brand ``fizz``, 10.00) added here. "Now" is 2026-03-31 18:00 UTC (12:00 local).

Members (gender, born, enrolment store):

* ANA (female, 1990-05-01, store-a), tier ``oro``: four March tickets at store-a, each with arroz:
  A1 03-02 2 arroz + 1 soda = 55.00; A2 03-09 1 arroz = 20.00; A3 03-16 1 arroz + 1 chips = 30.00;
  A4 03-23 3 arroz = 60.00. Spend 165.00, average 41.25. Points 3,000 earned, 500 redeemed (balance 2,500).
* BEA (female, 1992-07-15, store-a): B1 03-05 2 soda = 30.00; B2 03-20 1 arroz + 1 soda = 35.00 at store-a.
  Points 500 earned.
* CARLOS (male, 1960-01-20, store-b): C1 03-25 60 arroz = 1,200.00 at store-b (average above $1,000).
* DORA (female, 1991-02-02, store-a): D1 2026-01-10 1 soda = 15.00 at store-a; nothing since (lapsed).
* EVA (female, 1989-11-30, store-a): no ticket; points 2,500 earned, never redeemed.

And two walk-in tickets at store-b: W1 03-26, 1 soda + 1 chips = 25.00; W2 03-27, 1 arroz + 1 soda + 1 chips =
45.00.

February: ANA had one ticket (F1 02-14, 1 arroz = 20.00) so she moves between months in the levels.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core import identity
from devkit.services import PostgresServer
from hub import catalogue, db
from hub import ledger as lg
from hub.analytics import facts
from hub.programs import points as program_points
from tests.hub import analytics_data as ad

TENANT = ad.TENANT
NOW = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
ANA, BEA, CARLOS, DORA, EVA = (identity.make(ad.PREFIX, n) for n in range(11, 16))
MEMBERS: dict[str, tuple[str, str, date, str, str | None]] = {
    ANA: ("Ana", "female", date(1990, 5, 1), "store-a", "oro"),
    BEA: ("Bea", "female", date(1992, 7, 15), "store-a", None),
    CARLOS: ("Carlos", "male", date(1960, 1, 20), "store-b", None),
    DORA: ("Dora", "female", date(1991, 2, 2), "store-a", None),
    EVA: ("Eva", "female", date(1989, 11, 30), "store-a", None),
}


def local(day: date, hour: int = 10) -> datetime:
    """``hour`` o'clock on ``day`` in Mexico City (UTC-6) as UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(hours=6)


TICKETS: list[tuple[str, str, str | None, date, list[tuple[str, int, int]]]] = [
    ("A1", "store-a", ANA, date(2026, 3, 2), [("arroz", 2, 2000), ("soda", 1, 1500)]),
    ("A2", "store-a", ANA, date(2026, 3, 9), [("arroz", 1, 2000)]),
    ("A3", "store-a", ANA, date(2026, 3, 16), [("arroz", 1, 2000), ("chips", 1, 1000)]),
    ("A4", "store-a", ANA, date(2026, 3, 23), [("arroz", 3, 2000)]),
    ("F1", "store-a", ANA, date(2026, 2, 14), [("arroz", 1, 2000)]),
    ("B1", "store-a", BEA, date(2026, 3, 5), [("soda", 2, 1500)]),
    ("B2", "store-a", BEA, date(2026, 3, 20), [("arroz", 1, 2000), ("soda", 1, 1500)]),
    ("C1", "store-b", CARLOS, date(2026, 3, 25), [("arroz", 60, 2000)]),
    ("D1", "store-a", DORA, date(2026, 1, 10), [("soda", 1, 1500)]),
    ("W1", "store-b", None, date(2026, 3, 26), [("soda", 1, 1500), ("chips", 1, 1000)]),
    ("W2", "store-b", None, date(2026, 3, 27), [("arroz", 1, 2000), ("soda", 1, 1500), ("chips", 1, 1000)]),
]


def _customers(conn: sa.Connection) -> None:
    for lid, (name, gender, born, store, tier) in MEMBERS.items():
        conn.execute(
            sa.insert(db.customer).values(
                tenant=TENANT,
                loyalty_id=lid,
                state="active",
                name=name,
                gender=gender,
                birth_date=born,
                has_face=False,
                has_signature=False,
                field_times={},
                enrolled_on=date(2025, 6, 1),
                enrolled_store=store,
                marketing_consent=lid != DORA,
                tier_id=tier,
                tier_value=0,
                tier_grace_used=0,
                created_at=ad.T0,
                updated_at=ad.T0,
            )
        )


def _points(conn: sa.Connection) -> None:
    program = program_points.tenant_program(conn, TENANT, now=ad.T0)
    pid = program.id
    accounts = [lg.AccountSpec(TENANT, pid, lg.Kind.ISSUANCE, "distributor")]
    accounts += [lg.AccountSpec(TENANT, pid, lg.Kind.RETAILER, "shop-a")]
    accounts += [lg.AccountSpec(TENANT, pid, lg.Kind.CUSTOMER, lid) for lid in (ANA, BEA, EVA)]
    lg.open_accounts(conn, accounts, now=ad.T0)
    issuance = lg.account_id(TENANT, pid, lg.Kind.ISSUANCE, "distributor")

    def customer(lid: str) -> uuid.UUID:
        return lg.account_id(TENANT, pid, lg.Kind.CUSTOMER, lid)

    transfers = [
        lg.Transfer(uuid.uuid4(), issuance, customer(ANA), 3000, lg.Code.EARN, ref="seed-ana"),
        lg.Transfer(uuid.uuid4(), issuance, customer(BEA), 500, lg.Code.EARN, ref="seed-bea"),
        lg.Transfer(uuid.uuid4(), issuance, customer(EVA), 2500, lg.Code.EARN, ref="seed-eva"),
        lg.Transfer(
            uuid.uuid4(),
            customer(ANA),
            lg.account_id(TENANT, pid, lg.Kind.RETAILER, "shop-a"),
            500,
            lg.Code.REDEEM,
            ref="redeem-ana",
        ),
    ]
    results = lg.apply_transfers(conn, transfers, now=ad.T0)
    assert all(r.ok for r in results), results


def load(engine: sa.Engine) -> None:
    """The network, members, points and tickets of the module docstring, loaded into the facts."""
    with engine.begin() as conn:
        ad.setup_network(conn)
        catalogue.upsert_items(
            conn,
            TENANT,
            [
                catalogue.Item(
                    sku="chips",
                    name="Chips 45 g",
                    category="botanas",
                    tax_category="alimentos",
                    brand="fizz",
                    currency="MXN",
                    unit_price_minor=1000,
                )
            ],
            source="admin",
            now=ad.T0,
        )
        _customers(conn)
        _points(conn)
    messages: list[Any] = []
    for sale_id, store, lid, day, lines in TICKETS:
        device = store.replace("store", "box")
        data = ad.sale(sale_id, store, [ad.line(sku, qty, price) for sku, qty, price in lines], customer=lid)
        messages.append(ad.message(device, data, at=local(day)))
    ad.ingest(engine, *messages)
    with db.writing(engine) as conn:
        while facts.load_facts(conn, TENANT, now=NOW).more:
            pass


_db_names = itertools.count(1)


def loaded_database(server: PostgresServer | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """A module's database with :func:`load` done once (on ``server``, None: SQLite). Tests that
    write do it in :func:`rolled_back`, so the data stays as the docstring says for every test."""
    if server is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('segments') / 'hub.sqlite3'}"
    else:
        url = server.create_database(f"segments_{os.getpid()}_{next(_db_names)}")
    engine = db.make_engine(url)
    db.migrate(engine)
    load(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def rolled_back(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection whose writes are all rolled back at the end."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            yield conn
        finally:
            tx.rollback()

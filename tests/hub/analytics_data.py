"""A small fixed network and its sales, shared by the analytics tests; every figure the tests expect is worked
out by hand from what is written here.

Tenant ``acme`` (America/Mexico_City, UTC-6 all year). Distribution centre ``dc-norte`` (Nuevo León).
``store-a`` of ``shop-a`` in Nuevo León, supplied by ``dc-norte``; ``store-b`` of ``shop-b`` in Jalisco, no
centre. Items: ``arroz`` (abarrotes, brand ``verde`` of ``granos``, cost 15.00), ``soda`` (bebidas, brand
``fizz`` of ``fizzco``, no cost known).

Sales (local time):

1. Tue 2026-03-10 09:00 at store-a, member ANA, 8 points earned: 2 arroz at 20.00, 1 soda at 15.00 (55.00);
2. Tue 2026-03-10 21:30 at store-b (03:30 UTC on the 11th), nobody: 1 arroz at 20.00;
3. Thu 2026-03-12 10:00 at store-a: the soda of sale 1 refunded (15.00), the refund naming no customer.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from core import identity, wire
from devkit.services import PostgresServer
from hub import catalogue, db, network
from hub.catalogue import brands
from hub.ingest.worker import Incoming, apply_batch

TENANT = "acme"
PREFIX = 482
ZONE = "America/Mexico_City"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ANA = identity.make(PREFIX, 1)
SALE_1_AT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SALE_2_AT = datetime(2026, 3, 11, 3, 30, tzinfo=UTC)
REFUND_AT = datetime(2026, 3, 12, 16, 0, tzinfo=UTC)
_ids = itertools.count(1)


def setup_network(conn: sa.Connection) -> None:
    network.add_tenant(conn, TENANT, "Acme", PREFIX, now=T0)
    network.add_dc(conn, TENANT, "dc-norte", "CEDIS Norte", "Nuevo León", now=T0)
    for store, retailer, region, dc in (
        ("store-a", "shop-a", "Nuevo León", "dc-norte"),
        ("store-b", "shop-b", "Jalisco", None),
    ):
        network.add_store(
            conn,
            network.Store(
                tenant=TENANT,
                store=store,
                retailer=retailer,
                name=store,
                timezone=ZONE,
                currency="MXN",
                jurisdiction="mx-general",
                language="es",
                offline_allowance_points=100,
                country="MX",
                region=region,
                postal_code="64000" if store == "store-a" else "44100",
                dc=dc,
            ),
            now=T0,
        )
        network.add_device(conn, TENANT, store.replace("store", "box"), store, now=T0)
    brands.add_manufacturer(conn, TENANT, "granos", "Granos SA", now=T0)
    brands.add_manufacturer(conn, TENANT, "fizzco", "Fizz Co", now=T0)
    brands.add_brand(conn, TENANT, "verde", "Verde", manufacturer="granos", now=T0)
    brands.add_brand(conn, TENANT, "fizz", "Fizz", manufacturer="fizzco", now=T0)
    catalogue.upsert_items(
        conn,
        TENANT,
        [
            catalogue.Item(
                sku="arroz",
                name="Arroz 1 kg",
                category="abarrotes",
                tax_category="alimentos",
                brand="verde",
                currency="MXN",
                unit_price_minor=2000,
                cost_minor=1500,
            ),
            catalogue.Item(
                sku="soda",
                name="Soda 600 ml",
                category="bebidas",
                tax_category="alimentos",
                brand="fizz",
                currency="MXN",
                unit_price_minor=1500,
            ),
        ],
        source="admin",
        now=T0,
    )


def message(device: str, data: Any, *, at: datetime, received_at: datetime | None = None) -> Incoming:
    n = next(_ids)
    event_id = wire.uuid7(int(at.timestamp() * 1000), n.to_bytes(10, "big"))
    raw = wire.encode(id=event_id, seq=n, ts=at, device=device, data=data)
    return Incoming(str(wire.event_topic(TENANT, device, data.TYPE)), raw, received_at or at)


def line(sku: str, qty: int, price: int) -> wire.SaleLine:
    return wire.SaleLine(sku=sku, name=sku, qty=qty, unit_price_minor=price, amount_minor=qty * price)


def sale(sale_id: str, store: str, lines: list[wire.SaleLine], customer: str | None = None, earned: int = 0) -> Any:
    total = sum(ln.amount_minor for ln in lines)
    return wire.SaleData(
        sale_id=sale_id,
        store=store,
        currency="MXN",
        lines=lines,
        total_minor=total,
        customer=customer,
        tenders=[wire.TenderRecord(kind="cash", amount_minor=total)],
        points_earned=earned,
    )


def ingest(engine: sa.Engine, *items: Incoming) -> None:
    with engine.begin() as conn:
        result = apply_batch(conn, list(items))
    assert result.dead_letters == 0, result


def the_sales() -> list[Incoming]:
    """The three events of the module docstring."""
    return [
        message(
            "box-a",
            sale("s-1", "store-a", [line("arroz", 2, 2000), line("soda", 1, 1500)], customer=ANA, earned=8),
            at=SALE_1_AT,
        ),
        message("box-b", sale("s-2", "store-b", [line("arroz", 1, 2000)]), at=SALE_2_AT),
        message(
            "box-a",
            wire.RefundData(
                refund_id="r-1",
                sale_id="s-1",
                store="store-a",
                currency="MXN",
                lines=[wire.RefundLine(line_no=2, sku="soda", qty=1, amount_minor=1500)],
                total_minor=1500,
                tenders=[wire.TenderRecord(kind="cash", amount_minor=1500)],
            ),
            at=REFUND_AT,
        ),
    ]


def load_all(engine: sa.Engine) -> None:
    """The network and the three events, ingested and loaded into the facts."""
    from hub.analytics import facts

    with engine.begin() as conn:
        setup_network(conn)
    for item in the_sales():
        ingest(engine, item)
    with db.writing(engine) as conn:
        facts.load_facts(conn, TENANT, now=REFUND_AT)


@contextmanager
def loaded_engine(server: PostgresServer | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """A migrated database with :func:`load_all` done, on ``server`` (None: SQLite): for a module-scoped fixture
    shared by tests that only read (the fixture, parametrised on ``postgresql``, asks for the server)."""
    if server is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'hub.sqlite3'}"
    else:
        url = server.create_database(f"analytics_{uuid.uuid4().hex[:12]}")
    engine = db.make_engine(url)
    db.migrate(engine)
    load_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()

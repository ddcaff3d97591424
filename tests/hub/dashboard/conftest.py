"""A small network for the dashboard's tests: one distributor (t1) with two retailers whose figures differ in
every digit, another distributor (t2) that must never show, and a user of each role.

The hub's clock is fixed at :data:`NOW` (a Wednesday, 12:00 in Mexico City), so "today", "a week ago" and
the period presets give the same figures at any hour on any machine.
"""

from __future__ import annotations

import itertools
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from devkit.services import PostgresServer
from hub import db, network
from hub.analytics.facts import load_facts
from hub.api import ApiSettings, create_app
from hub.api.accounts import Role, create_user

NOW = datetime(2025, 3, 5, 18, 0, tzinfo=UTC)
"""Wednesday 5 March 2025, 12:00 in America/Mexico_City (UTC-6)."""
PASSWORD = "correct horse battery"
ZONE = "America/Mexico_City"
_db_names = itertools.count(1)
_seq = itertools.count(1)

# Retailer r1's store s1 and retailer r2's store s2; amounts chosen so no figure of one appears in the other's.
SALES: tuple[tuple[str, str, timedelta, int, str | None, int, int], ...] = (
    # store, device, age before NOW, total_minor, customer, points earned, points spent
    ("s1", "box-1", timedelta(hours=2), 12_345, "501000000011", 12, 0),  # today 10:00 local
    ("s1", "box-1", timedelta(hours=1), 4_321, None, 0, 0),  # today 11:00 local
    ("s1", "box-1", timedelta(days=7, hours=3), 5_000, "501000000011", 5, 40),  # last Wednesday 09:00
    ("s1", "box-1", timedelta(days=3), 7_000, "501000000029", 7, 0),  # Sunday
    ("s2", "box-2", timedelta(hours=3), 98_765, "501000000037", 98, 150),  # today 09:00 local
    ("s2", "box-2", timedelta(days=20), 66_666, None, 0, 0),  # outside 7 days, inside 30
)
LINE_SKUS = ("GALLETA-MARIAS", "LECHE-1L")
ITEMS = {
    # sku: name, category, brand, cost per unit as a share (percent) of what it sold for
    "GALLETA-MARIAS": ("Galletas María 170 g", "galletas", "gamesa", 70),
    "LECHE-1L": ("Leche entera 1 L", "lacteos", "lala", 80),
}
RETAILER_NAMES = {"r1": "Grupo Lupita", "r2": "Comercial Don Pepe", "r9": "Otra Red SA"}
STORE_NAMES = {"s1": "Abarrotes Lupita", "s2": "Miscelánea Don Pepe", "s9": "Otra Red Centro"}


@dataclass
class World:
    """The app, its engine, and the emails of the users by (tenant, role, retailer)."""

    engine: sa.Engine
    app: FastAPI
    settings: ApiSettings
    emails: dict[tuple[str, Role, str], str] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False, headers={"accept": "text/html"})


def _insert_sale(
    conn: sa.Connection,
    tenant: str,
    store: str,
    device: str,
    when: datetime,
    total: int,
    customer: str | None,
    earned: int,
    spent: int,
) -> None:
    event_id = uuid.uuid4()
    seq = next(_seq)
    conn.execute(
        db.inbox.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            seq=seq,
            type="sale",
            payload_sha256="0" * 64,
            box_ts=when,
            received_at=when,
        )
    )
    conn.execute(
        db.sale.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            store=store,
            sale_id=f"S-{seq}",
            currency="MXN",
            total_minor=total,
            line_count=1,
            customer=customer,
            box_ts=when,
            received_at=when,
        )
    )
    first = total * 2 // 3
    for line_no, (sku, amount) in enumerate(((LINE_SKUS[0], first), (LINE_SKUS[1], total - first)), start=1):
        conn.execute(
            db.sale_line.insert().values(
                event_id=event_id,
                line_no=line_no,
                sku=sku,
                name=ITEMS[sku][0],
                qty=1,
                unit_price_minor=amount,
                discount_minor=0,
                amount_minor=amount,
            )
        )
    conn.execute(
        db.posting.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            type="sale",
            store=store,
            retailer="r1" if store == "s1" else ("r2" if store == "s2" else "r9"),
            customer=customer,
            program="main",
            sale_id=f"S-{seq}",
            total_minor=total,
            box_points=earned,
            hub_points=earned,
            distributor_points=earned,
            retailer_points=0,
            redeemed_points=spent,
            hold_points=0,
            verdict="match",
            box_ts=when,
            posted_at=when,
        )
    )


def _insert_event(conn: sa.Connection, tenant: str, store: str, device: str, when: datetime, kind: str) -> None:
    event_id = uuid.uuid4()
    conn.execute(
        db.inbox.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            seq=next(_seq),
            type=kind,
            payload_sha256="1" * 64,
            box_ts=when,
            received_at=when,
        )
    )
    conn.execute(
        db.business_event.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            seq=next(_seq),
            type=kind,
            store=store,
            data={"sku": "COCA-600", "on_hand": 1},
            box_ts=when,
            received_at=when,
        )
    )


def seed(conn: sa.Connection, settings: ApiSettings) -> dict[tuple[str, Role, str], str]:
    for tenant, prefix, stores in (("t1", 501, {"s1": "r1", "s2": "r2"}), ("t2", 502, {"s9": "r9"})):
        network.add_tenant(conn, tenant, f"Distribuidora {tenant}", prefix, now=NOW)
        for retailer in sorted(set(stores.values())):
            network.add_retailer(conn, tenant, retailer, RETAILER_NAMES[retailer], now=NOW)
        for store, retailer in stores.items():
            network.add_store(
                conn,
                network.Store(tenant, store, retailer, STORE_NAMES[store], ZONE, "MXN", "mx-general", "es"),
                now=NOW,
            )
            network.add_device(conn, tenant, f"box-{store[1:]}", store, now=NOW)
    for tenant in ("t1", "t2"):
        for sku, (name, category, brand, _cost) in ITEMS.items():
            conn.execute(
                db.catalogue_item.insert().values(
                    tenant=tenant,
                    sku=sku,
                    name=name,
                    category=category,
                    tax_category="alimentos",
                    brand=brand,
                    distributor=None,
                    currency="MXN",
                    unit_price_minor=2000,
                    cost_minor=1500,
                    measure_per_unit_milli=0,
                    active=True,
                    source="admin",
                    erp_id=None,
                    updated_at=NOW,
                )
            )
    for store, device, age, total, customer, earned, spent in SALES:
        _insert_sale(conn, "t1", store, device, NOW - age, total, customer, earned, spent)
    _insert_sale(conn, "t2", "s9", "box-9", NOW - timedelta(hours=1), 55_555, None, 0, 0)
    _insert_event(conn, "t1", "s1", "box-1", NOW - timedelta(minutes=30), "stock_alert")
    _insert_event(conn, "t1", "s2", "box-2", NOW - timedelta(minutes=20), "refund")
    for tenant in ("t1", "t2"):
        load_facts(conn, tenant, now=NOW)
    emails: dict[tuple[str, Role, str], str] = {}
    for tenant, retailers in (("t1", ("r1", "r2")), ("t2", ("r9",))):
        for role in Role:
            if role is Role.MANUFACTURER:
                continue  # no dashboard yet; its API is tested in tests/hub/test_segments.py
            for who in retailers if role is Role.RETAILER else ("",):
                email = f"{role.value}{'.' + who if who else ''}@{tenant}.example.com"
                create_user(
                    conn,
                    settings,
                    tenant=tenant,
                    email=email,
                    password=PASSWORD,
                    role=role,
                    retailer=who or None,
                    devices=[f"box-{'1' if tenant == 't1' else '9'}"] if role is Role.TECHNICIAN else (),
                )
                emails[(tenant, role, who)] = email
    return emails


def cheap_settings(**overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "clock": lambda: NOW,
        "account_failures_max": 3,
        "address_failures_max": 50,
    }
    values.update(overrides)
    return ApiSettings(**values)


def build_world(url: str) -> World:
    engine = db.make_engine(url)
    db.migrate(engine)
    settings = cheap_settings()
    app = create_app(engine, settings)
    world = World(engine, app, settings)
    with engine.begin() as conn:
        world.emails = seed(conn, settings)
    return world


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'hub.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.create_database(f"dashboard_{next(_db_names)}")
    w = build_world(url)
    try:
        yield w
    finally:
        w.engine.dispose()


LOGIN_CSRF = 'name="csrf" value="'


def csrf_in(html: str) -> str:
    start = html.index(LOGIN_CSRF) + len(LOGIN_CSRF)
    return html[start : html.index('"', start)]


def sign_in(client: TestClient, email: str, *, tenant: str = "t1", password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"tenant": tenant, "email": email, "password": password, "csrf": csrf_in(page.text), "next": "/"},
    )

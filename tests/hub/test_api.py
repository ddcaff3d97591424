"""The hub's HTTP API: every endpoint's roles (allowed or 403), tenant and retailer scoping (other ids are
404, never their data), tokens, login limits, validation messages and the OpenAPI document, on SQLite and
PostgreSQL. The behaviour of the customers, promotions, network and catalogue routes is in test_api_domain.py,
on this module's ``world``."""

from __future__ import annotations

import itertools
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its test client; httpx (a project dependency) still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from core import identity
from core.points import PointsProgram, Redemption
from devkit.services import PostgresServer
from hub import catalogue, db, ledger, network
from hub.api import ApiSettings, create_app
from hub.api.accounts import Role, create_user, issue_token
from hub.api.app import ROUTERS
from hub.catalogue import brands
from hub.ledger import reports as ledger_reports
from hub.programs import promotions as pa
from hub.segments import manufacturers as mf
from hub.segments import saved as sg

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
_db_names = itertools.count(1)
_numbers = itertools.count(1000)


class Clock:
    """A settable clock for the app: tests age tokens and lockouts with it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def cheap_settings(clock: Clock, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "clock": clock,
        "account_failures_max": 3,
        "address_failures_max": 10,
    }
    values.update(overrides)
    return ApiSettings(**values)


@dataclass
class World:
    """Two tenants' worth of data; ``ids`` are tenant t1's (retailer r1's where that matters)."""

    engine: sa.Engine
    clock: Clock
    client: TestClient
    users: dict[tuple[str, Role, str], uuid.UUID] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)

    def token(self, tenant: str, role: Role, who: str = "") -> str:
        with self.engine.begin() as conn:
            token, _ = issue_token(conn, settings_of(self.client), self.users[(tenant, role, who)])
        return token

    def headers(self, tenant: str, role: Role, who: str = "") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, role, who)}"}


def _sale(conn: sa.Connection, tenant: str, device: str, store: str, when: datetime) -> str:
    event_id = uuid.uuid4()
    conn.execute(
        db.inbox.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            seq=1,
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
            sale_id=f"S-{event_id.hex[:8]}",
            currency="MXN",
            total_minor=2500,
            line_count=1,
            box_ts=when,
            received_at=when,
        )
    )
    conn.execute(
        db.sale_line.insert().values(
            event_id=event_id,
            line_no=1,
            sku="COCA-600",
            name="Coca-Cola 600 ml",
            qty=1,
            unit_price_minor=2500,
            discount_minor=0,
            amount_minor=2500,
        )
    )
    return str(event_id)


def _event(conn: sa.Connection, tenant: str, device: str, store: str, when: datetime) -> str:
    event_id = uuid.uuid4()
    conn.execute(
        db.inbox.insert().values(
            event_id=event_id,
            tenant=tenant,
            device=device,
            seq=2,
            type="stock_alert",
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
            seq=2,
            type="stock_alert",
            store=store,
            data={"sku": "COCA-600", "on_hand": 1},
            box_ts=when,
            received_at=when,
        )
    )
    return str(event_id)


def _alert(conn: sa.Connection, tenant: str) -> str:
    alert_id = conn.execute(
        db.alert.insert()
        .values(created_at=T0, kind="replay_conflict", tenant=tenant, device=None, detail="x")
        .returning(db.alert.c.id)
    ).scalar_one()
    return str(alert_id)


def _points(conn: sa.Connection, tenant: str, loyalty_id: str, name: str) -> None:
    program = PointsProgram(
        id=name, name="Club", currency="MXN", redemption=Redemption(points_per_step=10, value_minor_per_step=100)
    )
    ledger.register_program(conn, tenant, program, lot_expiry_months=12, now=T0)
    customer = ledger.AccountSpec(tenant, name, ledger.Kind.CUSTOMER, loyalty_id)
    issuance = ledger.AccountSpec(tenant, name, ledger.Kind.ISSUANCE, ledger.DISTRIBUTOR)
    ledger.open_accounts(conn, [customer, issuance], now=T0)
    results = ledger.apply_transfers(
        conn,
        [ledger.Transfer(uuid.uuid4(), issuance.id, customer.id, 120, ledger.Code.EARN, "sale", effective_at=T0)],
        now=T0,
    )
    assert all(r.ok for r in results)
    ledger_reports.settle_period(conn, tenant, name, period_start=T0 - timedelta(days=30), period_end=T0, now=T0)


def _network(conn: sa.Connection, tenant: str, prefix: int, stores: dict[str, str], devices: dict[str, str]) -> None:
    network.add_tenant(conn, tenant, f"Distribuidora {tenant}", prefix, now=T0)
    for store, retailer in stores.items():
        network.add_store(
            conn,
            network.Store(tenant, store, retailer, f"Tienda {store}", "America/Mexico_City", "MXN", "mx-general", "es"),
            now=T0,
        )
    for device, store in devices.items():
        network.add_device(conn, tenant, device, store, now=T0)
        conn.execute(
            db.device.insert().values(
                tenant=tenant,
                device=device,
                online=True,
                status_seq=1,
                status_reason="connected",
                software="1.0",
                status_ts=T0,
                updated_at=T0,
            )
        )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'hub.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.create_database(f"api_{next(_db_names)}")
    engine = db.make_engine(url)
    db.migrate(engine)
    clock = Clock(T0)
    settings = cheap_settings(clock)
    app = create_app(engine, settings)
    w = World(engine, clock, TestClient(app))
    with engine.begin() as conn:
        _network(conn, "t1", 501, {"s1": "r1", "s2": "r2"}, {"box-1": "s1", "box-2": "s2"})
        _network(conn, "t2", 502, {"s9": "r9"}, {"box-9": "s9"})
        w.ids = {
            "store": "s1",
            "device": "box-1",
            "sale": _sale(conn, "t1", "box-1", "s1", T0 - timedelta(hours=1)),
            "event": _event(conn, "t1", "box-1", "s1", T0 - timedelta(hours=1)),
            "program": "main",
            "loyalty_id": identity.make(501, 1),
        }
        w.ids["sale_r2"] = _sale(conn, "t1", "box-2", "s2", T0 - timedelta(hours=2))
        w.ids["event_r2"] = _event(conn, "t1", "box-2", "s2", T0 - timedelta(hours=2))
        w.other = {"sale": _sale(conn, "t2", "box-9", "s9", T0), "event": _event(conn, "t2", "box-9", "s9", T0)}
        w.other["alert"] = _alert(conn, "t2")
        conn.execute(
            db.dead_letter.insert(),
            [
                {
                    "received_at": T0,
                    "topic": f"mo/v1/{t}/{d}/evt/sale",
                    "tenant": t,
                    "device": d,
                    "event_id": None,
                    "reason": "bad_payload",
                    "detail": "lines: field required",
                    "payload": b"{}",
                    "payload_size": 2,
                    "payload_sha256": "2" * 64,
                }
                for t, d in (("t1", "box-1"), ("t2", "box-9"))
            ],
        )
        _points(conn, "t1", w.ids["loyalty_id"], "main")
        _points(conn, "t2", identity.make(502, 1), "club")  # tenant t2's own program; t1's "main" is not its
        for tenant, maker in (("t1", "mk-1"), ("t2", "mk-9")):
            brands.add_manufacturer(conn, tenant, maker, f"Maker of {tenant}", now=T0)
        for tenant, retailers, devices in (("t1", ("r1", "r2"), ("box-1",)), ("t2", ("r9",), ("box-9",))):
            for role in Role:
                whos = retailers if role is Role.RETAILER else ("",)
                for who in whos:
                    user = create_user(
                        conn,
                        settings,
                        tenant=tenant,
                        email=f"{role.value}{who}@{tenant}.example.com",
                        password=PASSWORD,
                        role=role,
                        retailer=who or None,
                        devices=devices if role is Role.TECHNICIAN else (),
                        manufacturer=("mk-1" if tenant == "t1" else "mk-9") if role is Role.MANUFACTURER else None,
                    )
                    w.users[(tenant, role, who)] = user.id
        w.ids["user"] = str(w.users[("t1", Role.ANALYST, "")])
        w.other["user"] = str(w.users[("t2", Role.ANALYST, "")])
        _domain(conn, w)
    try:
        yield w
    finally:
        w.client.close()
        engine.dispose()


def add_customer(
    conn: sa.Connection,
    tenant: str,
    loyalty_id: str,
    *,
    store: str | None,
    name: str = "Ana López",
    phone: str | None = None,
) -> str:
    """A customer row as the hub holds one after its enrolment was applied (enrolled at ``store``)."""
    conn.execute(
        db.customer.insert().values(
            tenant=tenant,
            loyalty_id=loyalty_id,
            state="active",
            name=name,
            phone_e164=phone,
            has_face=False,
            has_signature=False,
            field_times={},
            enrolled_on=T0.date(),
            enrolled_store=store,
            marketing_consent=False,
            marketing_consent_at=T0 - timedelta(days=10),
            tier_value=0,
            tier_grace_used=0,
            created_at=T0,
            updated_at=T0,
        )
    )
    return loyalty_id


def fresh_id(prefix: int = 501) -> str:
    return identity.make(prefix, next(_numbers))


def promotion(pid: str, *, retailer_funded: bool = False) -> dict[str, Any]:
    """Core Promotion JSON: 10 % off the 'bebidas' category."""
    return {
        "id": pid,
        "name": f"Promo {pid}",
        "scope": {"kind": "category", "ids": ["bebidas"]},
        "effect": {"type": "percent_off", "percent": "10%"},
        "funding": {"distributor_bp": 0, "retailer_bp": 10000}
        if retailer_funded
        else {"distributor_bp": 10000, "retailer_bp": 0},
    }


def _domain(conn: sa.Connection, w: World) -> None:
    """Customers, promotions, the catalogue and stock of both tenants."""
    add_customer(conn, "t1", w.ids["loyalty_id"], store="s1", phone="+525512345678")
    w.ids["loyalty_id_r2"] = add_customer(conn, "t1", identity.make(501, 2), store="s2", name="Beto Ruiz")
    w.other["loyalty_id"] = add_customer(conn, "t2", identity.make(502, 1), store="s9", name="Carla Díaz")
    program = PointsProgram(
        id="main", name="Club", currency="MXN", redemption=Redemption(points_per_step=10, value_minor_per_step=100)
    )
    conn.execute(
        db.points_program.insert().values(
            tenant="t1", program="main", body=program.model_dump(mode="json"), updated_at=T0
        )
    )
    pa.define(conn, "t1", promotion("r1-promo", retailer_funded=True), owner="r1", stores=["s1"], now=T0)
    pa.define(conn, "t1", promotion("r2-promo", retailer_funded=True), owner="r2", stores=["s2"], now=T0)
    pa.define(conn, "t1", promotion("dist-promo"), now=T0)
    pa.define(conn, "t2", promotion("t2-promo"), now=T0)
    w.ids["promotion_id"] = "r1-promo"
    w.ids["sku"] = "COCA-600"
    w.ids["warehouse"] = "wh-1"
    for tenant in ("t1", "t2"):
        catalogue.upsert_items(
            conn,
            tenant,
            [
                catalogue.Item(
                    "COCA-600" if tenant == "t1" else "PEPSI-600",
                    "Coca-Cola 600 ml" if tenant == "t1" else "Pepsi 600 ml",
                    "bebidas",
                    "alimentos",
                    2500,
                    "MXN",
                    barcodes=("7501055300075",) if tenant == "t1" else (),
                ),
                catalogue.Item("GALL-1", "Galletas María", "galletas", "alimentos", 2000, "MXN"),
            ],
            source="admin",
            now=T0,
        )
    catalogue.set_stock(conn, "t1", "store", "s1", [("COCA-600", 12, None)], now=T0)
    catalogue.set_stock(conn, "t1", "store", "s2", [("COCA-600", 7, None)], now=T0)
    catalogue.set_stock(conn, "t1", "warehouse", "wh-1", [("COCA-600", 900, 950), ("GALL-1", 40, None)], now=T0)
    catalogue.set_stock(conn, "t2", "warehouse", "wh-9", [("PEPSI-600", 5, None)], now=T0)
    brands.add_brand(conn, "t1", "cola", "Cola", manufacturer="mk-1", now=T0)
    mf.grant(conn, "t1", "mk-1", "cola", by="admin@t1.example.com", now=T0)
    sg.create(conn, "t1", "regulars", "Regulars", {"kind": "frequency", "window_days": 30, "min": 2}, now=T0)
    w.ids["segment"] = "regulars"
    w.ids["manufacturer"] = "mk-1"
    w.ids["brand"] = "cola"


def settings_of(client: TestClient) -> ApiSettings:
    settings: ApiSettings = client.app.state.settings  # type: ignore[attr-defined]
    return settings


def role_headers(world: World, role: Role) -> dict[str, str]:
    """Tenant t1's user of ``role``; its retailer is r1."""
    return world.headers("t1", role, "r1" if role is Role.RETAILER else "")


# --- the endpoint table: every route, its roles, and how to call it ------------------------------------

A, N, R, TE, M = Role.DISTRIBUTOR_ADMIN, Role.ANALYST, Role.RETAILER, Role.TECHNICIAN, Role.MANUFACTURER
PERIOD = {"period_start": (T0 - timedelta(days=30)).isoformat(), "period_end": T0.isoformat()}


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    roles: frozenset[Role]
    body: Callable[[dict[str, str]], dict[str, Any]] | None = None
    """The JSON body, from the ids of the call."""
    prepare: Callable[[World], dict[str, str]] | None = None
    """Makes fresh ids for a call that uses them up (an alert resolves once)."""
    files: Callable[[], dict[str, Any]] | None = None
    """A multipart upload (``files`` and ``data`` of the test client) instead of a JSON body."""
    allowed_status: frozenset[int] | None = None
    """What an allowed role gets when not a 2xx (publishing without a broker in this world: 503)."""
    retailer_scoped: bool = True
    """False for the tenant-wide catalogue, which every retailer of the tenant reads."""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}"

    def values(self, world: World, ids: dict[str, str] | None = None) -> dict[str, str]:
        values = dict(world.ids)
        if self.prepare is not None:
            values.update(self.prepare(world))
        values.update(ids or {})
        return values


def _fresh_alert(world: World) -> dict[str, str]:
    with world.engine.begin() as conn:
        return {"alert": _alert(conn, "t1")}


def _fresh_customer(world: World) -> dict[str, str]:
    with world.engine.begin() as conn:
        return {"loyalty_id": add_customer(conn, "t1", fresh_id(), store="s1")}


def _fresh_pair(world: World) -> dict[str, str]:
    with world.engine.begin() as conn:
        a = add_customer(conn, "t1", fresh_id(), store="s1", phone="+525500000001")
        b = add_customer(conn, "t1", fresh_id(), store="s1", phone="+525500000001")
        first, second = sorted((a, b))
        conn.execute(
            db.customer_duplicate.insert().values(
                tenant="t1", loyalty_id=first, other_id=second, reason="phone", detected_at=T0
            )
        )
    return {"loyalty_id": a, "duplicate": b}


def _fresh_promotion(world: World) -> dict[str, str]:
    pid = f"p-{uuid.uuid4().hex[:10]}"
    with world.engine.begin() as conn:
        pa.define(conn, "t1", promotion(pid, retailer_funded=True), owner="r1", stores=["s1"], now=T0)
    return {"promotion_id": pid}


def _new_promotion(_ids: dict[str, str]) -> dict[str, Any]:
    return {"promotion": promotion(f"p-{uuid.uuid4().hex[:10]}", retailer_funded=True), "stores": ["s1"]}


def _products_file() -> dict[str, Any]:
    text = (
        "sku,name,category,tax_category,price,cost,barcodes,distributor\n"
        "NEW-1,Jugo 1 l,bebidas,alimentos,32.50,,,acme\n"
    )
    return {"files": {"file": ("products.csv", text.encode(), "text/csv")}, "data": {"kind": "products"}}


def _new_segment(_ids: dict[str, str]) -> dict[str, Any]:
    return {"segment": f"s-{uuid.uuid4().hex[:10]}", "name": "New", "rule": {"kind": "recency", "within_days": 7}}


def _fresh_segment(world: World) -> dict[str, str]:
    body = _new_segment({})
    with world.engine.begin() as conn:
        sg.create(conn, "t1", body["segment"], "Fresh", body["rule"], now=T0)
    return {"segment": body["segment"]}


def _fresh_grant(world: World) -> dict[str, str]:
    brand = f"b-{uuid.uuid4().hex[:10]}"
    with world.engine.begin() as conn:
        brands.add_brand(conn, "t1", brand, "Fresh brand", manufacturer="mk-1", now=T0)
        mf.grant(conn, "t1", "mk-1", brand, by="admin@t1.example.com", now=T0)
    return {"brand": brand}


def _new_user(_ids: dict[str, str] | None = None) -> dict[str, Any]:
    return {"email": f"new-{uuid.uuid4().hex[:10]}@t1.example.com", "password": PASSWORD, "role": "analyst"}


ENDPOINTS = [
    Endpoint("POST", "/auth/logout", frozenset(Role)),
    Endpoint("GET", "/auth/me", frozenset(Role)),
    Endpoint("GET", "/sales", frozenset({A, N, R})),
    Endpoint("GET", "/sales/{sale}", frozenset({A, N, R})),
    Endpoint("GET", "/stores/{store}/sales", frozenset({A, N, R})),
    Endpoint("GET", "/devices/{device}/sales", frozenset({A, N, R})),
    Endpoint("GET", "/events", frozenset({A, N, R})),
    Endpoint("GET", "/events/{event}", frozenset({A, N, R})),
    Endpoint("GET", "/dead-letters", frozenset({A})),
    Endpoint("GET", "/alerts", frozenset({A})),
    Endpoint("POST", "/alerts/{alert}/resolve", frozenset({A}), prepare=_fresh_alert),
    Endpoint("GET", "/devices", frozenset({A, TE})),
    Endpoint("GET", "/devices/{device}", frozenset({A, TE})),
    Endpoint("GET", "/points/programs", frozenset({A, N})),
    Endpoint("GET", "/points/{program}/customers/{loyalty_id}", frozenset({A, N})),
    Endpoint("GET", "/points/{program}/customers/{loyalty_id}/history", frozenset({A, N})),
    Endpoint("GET", "/points/{program}/liability", frozenset({A, N})),
    Endpoint("GET", "/points/{program}/settlements", frozenset({A, N, R})),
    Endpoint("POST", "/points/{program}/settlements", frozenset({A}), body=lambda _v: PERIOD),
    Endpoint("GET", "/users", frozenset({A})),
    Endpoint("POST", "/users", frozenset({A}), body=_new_user),
    Endpoint("GET", "/users/{user}", frozenset({A})),
    Endpoint("PATCH", "/users/{user}", frozenset({A}), body=lambda _v: {"active": True}),
    # customers
    Endpoint("GET", "/customers", frozenset({A, N, R})),
    Endpoint("GET", "/customers/duplicates", frozenset({A, N})),
    Endpoint("POST", "/customers/duplicates/scan", frozenset({A})),
    Endpoint(
        "POST",
        "/customers/duplicates/dismiss",
        frozenset({A}),
        prepare=_fresh_pair,
        body=lambda v: {"a": v["loyalty_id"], "b": v["duplicate"]},
    ),
    Endpoint("GET", "/customers/{loyalty_id}", frozenset({A, N, R})),
    Endpoint("GET", "/customers/{loyalty_id}/history", frozenset({A, N, R})),
    Endpoint(
        "POST",
        "/customers/{loyalty_id}/consents",
        frozenset({A, R}),
        body=lambda _v: {"kind": "marketing", "granted": True, "at": (T0 - timedelta(hours=1)).isoformat()},
    ),
    Endpoint("POST", "/customers/{loyalty_id}/erase", frozenset({A}), prepare=_fresh_customer),
    Endpoint(
        "POST",
        "/customers/{loyalty_id}/merge",
        frozenset({A}),
        prepare=_fresh_pair,
        body=lambda v: {"duplicate": v["duplicate"]},
    ),
    Endpoint("POST", "/customers/{loyalty_id}/tier", frozenset({A}), body=lambda _v: {}),
    # promotions
    Endpoint("GET", "/promotions", frozenset({A, N, R})),
    Endpoint("POST", "/promotions", frozenset({A, R}), body=_new_promotion),
    Endpoint("GET", "/promotions/{promotion_id}", frozenset({A, N, R})),
    Endpoint("POST", "/promotions/{promotion_id}/withdraw", frozenset({A, R}), prepare=_fresh_promotion),
    Endpoint("GET", "/promotions/{promotion_id}/preview", frozenset({A, N, R})),
    Endpoint("POST", "/promotions/publish", frozenset({A, R}), body=lambda _v: {}, allowed_status=frozenset({503})),
    # network and catalogue
    Endpoint("GET", "/stores", frozenset({A, N, R})),
    Endpoint("GET", "/stores/{store}", frozenset({A, N, R})),
    Endpoint("GET", "/stores/{store}/devices", frozenset({A, N, R})),
    Endpoint("GET", "/items", frozenset({A, N, R})),
    Endpoint("GET", "/items/{sku}", frozenset({A, N, R}), retailer_scoped=False),
    Endpoint("GET", "/stock", frozenset({A, N, R})),
    Endpoint("GET", "/stores/{store}/stock", frozenset({A, N, R})),
    Endpoint("GET", "/warehouses/{warehouse}/stock", frozenset({A, N})),
    Endpoint("POST", "/catalogue/import", frozenset({A}), files=_products_file),
    # segments
    Endpoint("GET", "/segments", frozenset({A, N})),
    Endpoint("POST", "/segments", frozenset({A}), body=_new_segment),
    Endpoint("GET", "/segments/{segment}", frozenset({A, N})),
    Endpoint("PATCH", "/segments/{segment}", frozenset({A}), body=lambda _v: {"name": "Regulars"}),
    Endpoint("DELETE", "/segments/{segment}", frozenset({A}), prepare=_fresh_segment),
    Endpoint("POST", "/segments/{segment}/evaluate", frozenset({A})),
    Endpoint("GET", "/segments/{segment}/members", frozenset({A, N})),
    # combinations, the scorecard, levels
    Endpoint("GET", "/analytics/combinations", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/scorecard/returns", frozenset({A, N})),
    Endpoint("GET", "/analytics/scorecard/loyal-profile", frozenset({A, N})),
    Endpoint("GET", "/analytics/scorecard/lapsed-lookalikes", frozenset({A, N})),
    Endpoint("GET", "/analytics/scorecard/seasons", frozenset({A, N})),
    Endpoint("GET", "/analytics/scorecard/cross-selling", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/scorecard/zones", frozenset({A, N})),
    Endpoint("GET", "/analytics/levels", frozenset({A, N})),
    Endpoint("GET", "/analytics/levels/scheme", frozenset({A, N})),
    Endpoint(
        "PUT",
        "/analytics/levels/scheme",
        frozenset({A}),
        body=lambda _v: {"level1_max": 50, "level2_max": 100, "level3_over": 150},
    ),
    # manufacturers
    Endpoint("GET", "/manufacturers/{manufacturer}/grants", frozenset({A, N})),
    Endpoint("PUT", "/manufacturers/{manufacturer}/grants/{brand}", frozenset({A})),
    Endpoint("DELETE", "/manufacturers/{manufacturer}/grants/{brand}", frozenset({A}), prepare=_fresh_grant),
    Endpoint("GET", "/manufacturers/me/sell-out", frozenset({M})),
    Endpoint("GET", "/manufacturers/{manufacturer}/sell-out", frozenset({A, N})),
    # analytics
    Endpoint("GET", "/analytics/activity", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/feed", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/best-sellers", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/seasons", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/top-retailers", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/top-members", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/top-trend", frozenset({A, N, R})),
    Endpoint("GET", "/analytics/heatmap", frozenset({A, N, R})),
]
PUBLIC = {"POST /auth/login"}


def call(world: World, endpoint: Endpoint, headers: dict[str, str], ids: dict[str, str] | None = None) -> Any:
    values = endpoint.values(world, ids)
    path = endpoint.template.format(**values)
    if endpoint.files is not None:
        upload = endpoint.files()
        return world.client.request(endpoint.method, path, headers=headers, files=upload["files"], data=upload["data"])
    body = endpoint.body(values) if endpoint.body is not None else None
    return world.client.request(endpoint.method, path, headers=headers, json=body)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_each_endpoint_serves_its_roles_and_refuses_the_others_with_403(
    world: World, endpoint: Endpoint, role: Role
) -> None:
    response = call(world, endpoint, role_headers(world, role))
    if role in endpoint.roles and endpoint.allowed_status is not None:
        assert response.status_code in endpoint.allowed_status, response.text
    elif role in endpoint.roles:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_each_endpoint_refuses_a_call_without_a_valid_token(world: World, endpoint: Endpoint) -> None:
    assert call(world, endpoint, {}).status_code == 401
    response = call(world, endpoint, {"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


WITH_IDS = [e for e in ENDPOINTS if "{" in e.template]


@pytest.mark.parametrize("endpoint", WITH_IDS, ids=lambda e: e.id)
def test_another_tenants_ids_are_not_found_for_an_admin(world: World, endpoint: Endpoint) -> None:
    """Tenant t2's admin asks for tenant t1's ids: 404, and nothing of t1 in the body."""
    response = call(world, endpoint, world.headers("t2", A))
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"code", "message", "field"}
    assert world.ids["store"] not in response.text or endpoint.template.startswith("/stores")


@pytest.mark.parametrize(
    "endpoint", [e for e in WITH_IDS if R in e.roles and "program" not in e.template and e.retailer_scoped]
)
def test_another_retailers_ids_are_not_found_for_a_retailer(world: World, endpoint: Endpoint) -> None:
    """Retailer r2 asks for retailer r1's store, box, sale, event, customer and promotion: 404."""
    response = call(world, endpoint, world.headers("t1", R, "r2"))
    assert response.status_code == 404, response.text


def test_a_retailer_sees_its_own_stores_sale_and_event(world: World) -> None:
    headers = world.headers("t1", R, "r2")
    assert world.client.get(f"/sales/{world.ids['sale_r2']}", headers=headers).status_code == 200
    assert world.client.get(f"/events/{world.ids['event_r2']}", headers=headers).status_code == 200
    assert world.client.get("/stores/s2/sales", headers=headers).json()["items"][0]["store"] == "s2"
    assert world.client.get("/devices/box-2/sales", headers=headers).json()["items"][0]["device"] == "box-2"


@pytest.mark.parametrize(("path", "key"), [("/sales", "store"), ("/events", "store")], ids=["sales", "events"])
def test_lists_hold_only_the_callers_rows(world: World, path: str, key: str) -> None:
    everyone = world.client.get(path, headers=world.headers("t1", A)).json()["items"]
    assert {row[key] for row in everyone} == {"s1", "s2"}
    own = world.client.get(path, headers=world.headers("t1", R, "r1")).json()["items"]
    assert {row[key] for row in own} == {"s1"}
    # A filter naming another retailer's store cannot widen the scope.
    filtered = world.client.get(path, params={"store": "s2"}, headers=world.headers("t1", R, "r1")).json()
    assert filtered["items"] == []
    other = world.client.get(path, headers=world.headers("t2", A)).json()["items"]
    assert {row[key] for row in other} == {"s9"}


def test_admin_lists_of_dead_letters_alerts_and_users_hold_only_the_tenant(world: World) -> None:
    headers = world.headers("t2", A)
    letters = world.client.get("/dead-letters", headers=headers).json()["items"]
    assert [d["device"] for d in letters] == ["box-9"]
    alerts = world.client.get("/alerts", headers=headers).json()["items"]
    assert [str(a["id"]) for a in alerts] == [world.other["alert"]]
    emails = [u["email"] for u in world.client.get("/users", headers=headers).json()["items"]]
    assert emails and all(e.endswith("@t2.example.com") for e in emails)


def test_a_technician_sees_only_its_devices(world: World) -> None:
    headers = role_headers(world, TE)
    listed = world.client.get("/devices", headers=headers).json()["items"]
    assert [d["device"] for d in listed] == ["box-1"]
    assert listed[0]["online"] is True and listed[0]["store"] == "s1"
    assert world.client.get("/devices/box-2", headers=headers).status_code == 404
    admin = world.client.get("/devices", headers=world.headers("t1", A)).json()["items"]
    assert [d["device"] for d in admin] == ["box-1", "box-2"]


def test_a_retailer_reads_only_its_own_settlement_line(world: World) -> None:
    admin = world.client.get("/points/main/settlements", headers=world.headers("t1", A)).json()
    assert admin and admin[0]["lines"][-1]["party"] == ledger.DISTRIBUTOR
    own = world.client.get("/points/main/settlements", headers=world.headers("t1", R, "r1")).json()
    assert all(line["party"] == "r1" for s in own for line in s["lines"])


def test_a_customer_balance_history_and_liability_come_from_the_ledger(world: World) -> None:
    headers = world.headers("t1", N)
    lid = world.ids["loyalty_id"]
    balance = world.client.get(f"/points/main/customers/{lid}", headers=headers).json()
    assert balance["posted"] == 120 and balance["available"] == 120
    history = world.client.get(f"/points/main/customers/{lid}/history", headers=headers).json()
    assert [(m["code"], m["points"]) for m in history["items"]] == [("earn", 120)]
    report = world.client.get("/points/main/liability", headers=headers).json()
    assert report["outstanding_points"] == 120 and report["outstanding_minor"] == 1200
    missing = world.client.get("/points/main/customers/501000000025", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "customer_not_found"


def test_paging_returns_the_next_offset_until_the_last_page(world: World) -> None:
    headers = world.headers("t1", A)
    first = world.client.get("/sales", params={"limit": 1}, headers=headers).json()
    assert len(first["items"]) == 1 and first["next_offset"] == 1
    second = world.client.get("/sales", params={"limit": 1, "offset": 1}, headers=headers).json()
    assert len(second["items"]) == 1 and second["next_offset"] is None
    assert first["items"][0]["event_id"] != second["items"][0]["event_id"]


# --- tokens --------------------------------------------------------------------------------------------


def test_a_token_stops_working_when_it_expires(world: World) -> None:
    headers = world.headers("t1", N)
    assert world.client.get("/auth/me", headers=headers).status_code == 200
    world.clock.now = T0 + timedelta(seconds=settings_of(world.client).token_ttl_s)
    try:
        response = world.client.get("/auth/me", headers=headers)
    finally:
        world.clock.now = T0
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def test_logout_revokes_the_token_and_only_that_token(world: World) -> None:
    first, second = world.headers("t1", N), world.headers("t1", N)
    assert world.client.post("/auth/logout", headers=first).status_code == 204
    assert world.client.get("/auth/me", headers=first).status_code == 401
    assert world.client.get("/auth/me", headers=second).status_code == 200


def test_deactivating_a_user_revokes_its_tokens_and_its_login(world: World) -> None:
    admin = world.headers("t1", A)
    created = world.client.post("/users", json=_new_user(), headers=admin).json()
    login = {"tenant": "t1", "email": created["email"], "password": PASSWORD}
    token = world.client.post("/auth/login", json=login).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/auth/me", headers=bearer).json()["email"] == created["email"]
    patched = world.client.patch(f"/users/{created['id']}", json={"active": False}, headers=admin)
    assert patched.json()["active"] is False
    assert world.client.get("/auth/me", headers=bearer).status_code == 401
    assert world.client.post("/auth/login", json=login).status_code == 401


def test_only_the_tokens_hash_is_stored(world: World) -> None:
    token = world.client.post(
        "/auth/login", json={"tenant": "t1", "email": "analyst@t1.example.com", "password": PASSWORD}
    ).json()["access_token"]
    with world.engine.connect() as conn:
        stored = conn.execute(sa.select(db.api_token.c.token_sha256)).scalars().all()
        hashes = conn.execute(sa.select(db.api_user.c.password_hash)).scalars().all()
    assert token not in stored and len(token) >= 43
    assert all(h.startswith("$argon2id$") for h in hashes)


# --- login limits --------------------------------------------------------------------------------------


@pytest.fixture
def fresh(hub_db_url: str) -> Iterator[tuple[TestClient, sa.Engine, Clock]]:
    """An app of its own, for tests that lock accounts or addresses."""
    engine = db.make_engine(hub_db_url)
    db.migrate(engine)
    clock = Clock(T0)
    settings = cheap_settings(clock)
    with engine.begin() as conn:
        network.add_tenant(conn, "t1", "Distribuidora", 501, now=T0)
        for n in range(3):
            create_user(conn, settings, tenant="t1", email=f"u{n}@t1.example.com", password=PASSWORD, role=Role.ANALYST)
    with TestClient(create_app(engine, settings)) as client:
        yield client, engine, clock
    engine.dispose()


def _login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/auth/login", json={"tenant": "t1", "email": email, "password": password})


def test_an_account_is_locked_in_the_database_after_repeated_failures(
    fresh: tuple[TestClient, sa.Engine, Clock],
) -> None:
    client, engine, clock = fresh
    for _ in range(3):
        assert _login(client, "u0@t1.example.com", "wrong password!").status_code == 401
    locked = _login(client, "u0@t1.example.com", PASSWORD)
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) == settings_of(client).lockout_s
    with engine.connect() as conn:
        until = conn.execute(sa.select(db.api_user.c.locked_until).where(db.api_user.c.email == "u0@t1.example.com"))
        assert until.scalar_one() is not None
    # Another API process (a fresh app on the same database) honours the lock too.
    with TestClient(create_app(engine, settings_of(client))) as other:
        assert _login(other, "u0@t1.example.com", PASSWORD).status_code == 429
    assert _login(client, "u1@t1.example.com", PASSWORD).status_code == 200
    clock.now = T0 + timedelta(seconds=settings_of(client).lockout_s + 1)
    assert _login(client, "u0@t1.example.com", PASSWORD).status_code == 200


def test_an_admin_can_unlock_a_locked_account(fresh: tuple[TestClient, sa.Engine, Clock]) -> None:
    client, engine, _clock = fresh
    for _ in range(3):
        _login(client, "u0@t1.example.com", "wrong password!")
    with engine.begin() as conn:
        admin = create_user(conn, settings_of(client), tenant="t1", email="a@t1.example.com", password=PASSWORD, role=A)
        token, _ = issue_token(conn, settings_of(client), admin.id)
        target = conn.execute(sa.select(db.api_user.c.id).where(db.api_user.c.email == "u0@t1.example.com"))
        target_id = target.scalar_one()
    response = client.patch(f"/users/{target_id}", json={"unlock": True}, headers={"Authorization": f"Bearer {token}"})
    assert response.json()["locked_until"] is None
    assert _login(client, "u0@t1.example.com", PASSWORD).status_code == 200


def test_an_address_that_fails_too_often_must_wait_whatever_account_it_tries(
    fresh: tuple[TestClient, sa.Engine, Clock],
) -> None:
    client, _engine, clock = fresh
    for n in range(10):
        assert _login(client, f"nobody{n}@t1.example.com", "wrong password!").status_code == 401
    refused = _login(client, "u2@t1.example.com", PASSWORD)
    assert refused.status_code == 429 and "address" in refused.json()["message"]
    clock.now = T0 + timedelta(seconds=settings_of(client).login_window_s + 1)
    assert _login(client, "u2@t1.example.com", PASSWORD).status_code == 200


def test_the_login_limiter_forgets_the_oldest_keys_beyond_its_bound() -> None:
    from hub.api.accounts import LoginLimiter

    limiter = LoginLimiter(max_failures=2, window_s=60, max_keys=3)
    for n in range(10):
        limiter.failed(f"k{n}", 0.0)
    assert len(limiter) == 3
    assert limiter.failed("k9", 1.0) is True
    assert limiter.retry_after_s("k9", 1.0) == pytest.approx(59.0)  # the oldest failure, at 0.0, leaves first
    assert limiter.retry_after_s("k0", 1.0) == 0.0


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    fresh: tuple[TestClient, sa.Engine, Clock],
) -> None:
    client, _engine, _clock = fresh
    wrong = _login(client, "u0@t1.example.com", "wrong password!")
    unknown = _login(client, "nobody@t1.example.com", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


# --- validation ----------------------------------------------------------------------------------------


def test_schema_errors_are_422_naming_each_field(world: World) -> None:
    headers = world.headers("t1", A)
    response = world.client.post("/users", json={"email": "x@t1.example.com", "password": "short"}, headers=headers)
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert {("body", "password"), ("body", "role")} <= locs
    assert all(d["msg"] for d in response.json()["detail"])
    paging = world.client.get("/sales", params={"limit": 0}, headers=headers)
    assert paging.status_code == 422 and paging.json()["detail"][0]["loc"] == ["query", "limit"]
    bad_id = world.client.get("/sales/not-a-uuid", headers=headers)
    assert bad_id.status_code == 422 and bad_id.json()["detail"][0]["loc"] == ["path", "event_id"]


def _text_query_params() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or "GET" not in (route.methods or set()):
                continue
            for param in route.dependant.query_params:
                if "str" in repr(param.field_info.annotation) or param.field_info.annotation is str:
                    found.append((route.path, param.alias))
    return found


@pytest.mark.parametrize(("path", "name"), _text_query_params())
def test_a_nul_in_any_text_query_parameter_is_422_naming_it(world: World, path: str, name: str) -> None:
    url = path.replace("{", "").replace("}", "")  # path parameters get their own names as values
    response = world.client.get(url, params={name: "ab\x00c"}, headers=world.headers("t1", A))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", name]
    assert response.json()["detail"][0]["type"] == "nul_character"


def test_a_nul_in_a_json_body_or_the_path_is_422_and_nothing_is_written(world: World) -> None:
    headers = world.headers("t1", A)
    body = {"email": "nul\x00@t1.example.com", "password": "a long enough password", "role": "analyst"}
    response = world.client.post("/users", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]
    with world.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM api_user WHERE email LIKE 'nul%'")).scalar_one()
    assert stored == 0
    path = world.client.get("/customers/12%0034", headers=headers)
    assert path.status_code == 422 and path.json()["detail"][0]["loc"] == ["path"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"email": "not an email", "role": "analyst"}, 400, "invalid_input", "email"),
        ({"email": "x@t1.example.com", "role": "retailer"}, 400, "invalid_input", "retailer"),
        ({"email": "x@t1.example.com", "role": "retailer", "retailer": "r9"}, 400, "invalid_input", "retailer"),
        ({"email": "x@t1.example.com", "role": "technician", "devices": ["box-9"]}, 400, "invalid_input", "devices"),
        ({"email": "x@t1.example.com", "role": "analyst", "devices": ["box-1"]}, 400, "invalid_input", "devices"),
        ({"email": "analyst@t1.example.com", "role": "analyst"}, 409, "email_taken", "email"),
    ],
    ids=["bad-email", "no-retailer", "other-tenants-retailer", "other-tenants-device", "devices-not-tech", "taken"],
)
def test_user_errors_carry_a_stable_code_and_the_field(
    world: World, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    response = world.client.post("/users", json={"password": PASSWORD, **body}, headers=world.headers("t1", A))
    assert response.status_code == status, response.text
    assert response.json()["code"] == code and response.json()["field"] == field and response.json()["message"]


def test_closing_a_period_that_is_not_over_is_a_409(world: World) -> None:
    period = {"period_start": T0.isoformat(), "period_end": (T0 + timedelta(days=30)).isoformat()}
    response = world.client.post("/points/main/settlements", json=period, headers=world.headers("t1", A))
    assert response.status_code == 409 and response.json()["code"] == "period_conflict"


def test_an_unknown_path_is_a_404_with_a_code(world: World) -> None:
    response = world.client.get("/nowhere")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- the OpenAPI document ------------------------------------------------------------------------------


def test_the_openapi_document_lists_every_route_and_the_table_covers_them(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    published = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    routes = {
        f"{m} {r.path}" for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) for m in r.methods or ()
    }
    table = {f"{e.method} {_openapi_path(e.template)}" for e in ENDPOINTS} | PUBLIC
    assert routes == published == table
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert world.client.get("/docs").status_code == 200


def _openapi_path(template: str) -> str:
    names = {"{sale}": "{event_id}", "{event}": "{event_id}", "{alert}": "{alert_id}", "{user}": "{user_id}"}
    for ours, theirs in names.items():
        template = template.replace(ours, theirs)
    return template


# --- the command line ----------------------------------------------------------------------------------


def test_add_user_reads_the_password_twice_and_refuses_a_mismatch(tmp_path: Path) -> None:
    import argparse

    from hub.cli import api as cli

    engine = db.make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    db.migrate(engine)
    with engine.begin() as conn:
        network.add_tenant(conn, "t1", "Distribuidora", 501, now=T0)
    args = argparse.Namespace(
        tenant="t1",
        email="Ana@T1.example.com",
        role="analyst",
        retailer=None,
        manufacturer=None,
        device=[],
        command="add-user",
    )
    answers = iter([PASSWORD, "something else"])
    assert cli.add_user(engine, args, ask=lambda _prompt: next(answers)) == 2
    answers = iter([PASSWORD, PASSWORD])
    assert cli.add_user(engine, args, ask=lambda _prompt: next(answers)) == 0
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.api_user)).one()
    assert row.email == "ana@t1.example.com" and row.role == "analyst"
    assert row.password_hash.startswith("$argon2id$")
    engine.dispose()

"""Fixtures for the counter UI's tests: a box with the demo configuration, cashiers, and a signed-in client."""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its test client; httpx (a project dependency) still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout
from edge_agent.context import CONTEXT_KINDS, ContextProvider, body_sha256, default_body
from edge_agent.customers import CustomerBook
from edge_agent.payments import SimulatedAcquirer
from edge_agent.stock import StockBook
from edge_agent.store import Store
from edge_agent.sync import apply_config_in
from edge_agent.web import WebAppSettings, WebServices, create_app, create_cashier
from hardware.printer.simulated import SimulatedPrinter

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""Argon2 parameters small enough for tests; the box uses argon2-cffi's defaults."""
CASHIER_PIN = "4321"
MANAGER_PIN = "987654"
BOX_KEY = bytes(range(32))


ITEMS = (
    # sku, name, category, tax category, price, cost, barcode
    ("GALLETA-MARIAS-170", "Galletas María 170 g", "galletas", "alta_densidad", 1600, 1100, "7501234000291"),
    ("LECHE-ENTERA-1L", "Leche entera 1 L", "lacteos", "alimentos", 2900, 2300, "7501234000109"),
    ("ARROZ-1KG", "Arroz 1 kg", "abarrotes", "alimentos", 3300, 2500, "7501234000178"),
    ("JABON-BARRA-150", "Jabón de barra 150 g", "higiene", "general", 2100, 1500, "7501234000369"),
)
OPENING_STOCK = {"GALLETA-MARIAS-170": 20, "LECHE-ENTERA-1L": 8, "ARROZ-1KG": 3, "JABON-BARRA-150": 0}
STOCK_RULES = {
    "rules": [
        {
            "sku": "ARROZ-1KG",
            "low_at": 4,
            "reorder_point": 3,
            "order_up_to": 12,
            "preferred_distributor": "dist-abarrotes",
        },
        {"sku": "LECHE-ENTERA-1L", "low_at": 2, "reorder_point": 1, "order_up_to": 10, "preferred_distributor": None},
    ]
}


def seed(store: Store) -> None:
    """The demo shop's settings, program and promotions, with a small catalogue of this suite's own."""
    bodies = {kind: default_body(kind) for kind in CONTEXT_KINDS}
    catalogue = {
        "items": [
            {
                "sku": sku,
                "name": name,
                "category": category,
                "tax_category": tax,
                "brand": None,
                "distributor": "dist-abarrotes",
                "unit_price_minor": price,
                "cost_minor": cost,
                "measure_per_unit_milli": 0,
                "active": True,
                "barcodes": [barcode],
                "distributors": ["dist-abarrotes"],
            }
            for sku, name, category, tax, price, cost, barcode in ITEMS
        ]
    }
    with store.transaction() as tx:
        now = tx.now.isoformat()
        for kind, body in bodies.items():
            tx.conn.execute(
                "INSERT INTO config (kind, version, sha256, body, applied_at) VALUES (?, 1, ?, ?, ?)",
                (kind, body_sha256(body), body, now),
            )
        apply_config_in(tx, "catalogue", 1, json.dumps(catalogue).encode())
        for sku, on_hand in OPENING_STOCK.items():
            tx.conn.execute("INSERT INTO stock (sku, on_hand, updated_at) VALUES (?, ?, ?)", (sku, on_hand, now))
        apply_config_in(tx, "stock_rules", 1, json.dumps(STOCK_RULES).encode())


def build_services(db_path: Path, device: str = "box-7") -> WebServices:
    store = Store(db_path, tenant="acme", device=device, threads=True)
    seed(store)
    create_cashier(store, "ana", "Ana López", CASHIER_PIN, "cashier", hasher=CHEAP_HASHER)
    create_cashier(store, "lupita", "Lupita Pérez", MANAGER_PIN, "manager", hasher=CHEAP_HASHER)
    context = ContextProvider(store)
    catalogue = Catalogue(store, tax_categories=context.current().jurisdiction.category_ids)
    customers = CustomerBook(store, box_key=BOX_KEY)
    stock = StockBook(store)
    checkout = Checkout(
        store,
        context,
        stock,
        customers,
        SimulatedAcquirer(),
        SimulatedPrinter(),
        None,
        lambda: datetime.now(UTC),
        catalogue=catalogue,
    )
    return WebServices(
        store=store, context=context, catalogue=catalogue, customers=customers, checkout=checkout, stock=stock
    )


@dataclass
class Box:
    """A test box: its app, its database file, and a reader on it."""

    app: FastAPI
    db_path: Path

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()


@pytest.fixture
def box(tmp_path: Path) -> Box:
    db_path = tmp_path / "box.sqlite3"
    app = create_app(lambda: build_services(db_path), WebAppSettings(pin_hasher=CHEAP_HASHER))
    return Box(app, db_path)


@pytest.fixture
def client(box: Box) -> Iterator[TestClient]:
    with TestClient(box.app, follow_redirects=False) as test_client:
        yield test_client


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, cashier_id: str = "ana", pin: str = CASHIER_PIN, lang: str | None = None) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/login" + (f"?lang={lang}" if lang else ""))
    response = client.post(
        "/login" + (f"?lang={lang}" if lang else ""),
        data={"csrf": csrf_of(page.text), "cashier_id": cashier_id, "pin": pin},
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/customers").text)


@pytest.fixture
def cashier(client: TestClient) -> str:
    return sign_in(client)


@pytest.fixture
def manager(client: TestClient) -> str:
    return sign_in(client, "lupita", MANAGER_PIN)

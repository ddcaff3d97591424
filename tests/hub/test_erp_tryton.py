"""The Tryton connector against a real trytond (product, stock, purchase) on SQLite, through JSON-RPC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from core.wire import ReorderLine, ReorderRequestData
from hub.erp import (
    ERPAuthFailed,
    ERPProtocolError,
    ERPRejected,
    ERPUnavailable,
    OrderLine,
    PurchaseRequest,
    purchase_requests_from_reorder,
)
from hub.erp import tryton as tryton_module
from hub.erp.tryton import TrytonConnector, TrytonSettings
from tests.hub.tryton_server import (
    ADMIN_LOGIN,
    CONNECTOR_LOGIN,
    CONNECTOR_PASSWORD,
    DATABASE,
    Template,
    TrytonServer,
)

pytestmark = pytest.mark.erp

POLL_DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def tryton(tryton_template: Template) -> Iterator[TrytonServer]:
    with TrytonServer(tryton_template) as server:
        yield server


def _settings(server: TrytonServer, **overrides: Any) -> TrytonSettings:
    values: dict[str, Any] = {
        "url": server.url,
        "database": DATABASE,
        "login": CONNECTOR_LOGIN,
        "password": CONNECTOR_PASSWORD,
        "default_warehouse": "WH",
        "timeout_s": 20.0,
    }
    values.update(overrides)
    return TrytonSettings(**values)


@pytest.fixture
def connector(tryton: TrytonServer) -> Iterator[TrytonConnector]:
    with TrytonConnector(_settings(tryton)) as conn:
        yield conn


@pytest.fixture
def admin(tryton: TrytonServer) -> Iterator[TrytonConnector]:
    """Tryton's administrator, playing the distributor's staff editing the ERP."""
    settings = _settings(tryton, login=ADMIN_LOGIN, password=tryton.template.admin_password)
    with TrytonConnector(settings) as conn:
        yield conn


def _product_id(admin: TrytonConnector, sku: str) -> tuple[int, int]:
    (row,) = admin.call_model("product.product", "search_read", [("code", "=", sku)], 0, 1, None, ["template"])
    return int(row["id"]), int(row["template"])


# Products are shared by the module's server: these tests change only the products named in their own test.


def test_products_read_with_prices_converted_exactly_to_minor_units(connector: TrytonConnector) -> None:
    changes = connector.products_changed_since(None)

    assert changes.complete
    by_sku = {p.sku: p for p in changes.products}
    cola = by_sku["REF-COLA-600"]
    assert (cola.name, cola.category, cola.price_minor, cola.cost_minor, cola.currency) == (
        "Refresco de cola 600 ml",
        "Bebidas",
        1850,
        1320,
        "MXN",
    )
    assert cola.barcodes == ("7501055300075",)
    assert cola.active
    galletas = by_sku["GAL-MARIA-170"]
    assert (galletas.price_minor, galletas.cost_minor) == (2200, 1575)
    assert sorted(galletas.barcodes) == ["7501000111206", "7501000111213"]


def test_price_finer_than_the_currency_is_reported_not_rounded(connector: TrytonConnector) -> None:
    changes = connector.products_changed_since(None)

    assert "DUL-GRANEL-1" not in {p.sku for p in changes.products}
    (problem,) = [p for p in changes.problems if p.sku == "DUL-GRANEL-1"]
    assert problem.field == "list_price"
    assert "1.2345" in problem.problem and "decimal places" in problem.problem


def test_price_changed_in_tryton_is_seen_by_the_next_poll(connector: TrytonConnector, admin: TrytonConnector) -> None:
    cursor = connector.products_changed_since(None).cursor
    _, template_id = _product_id(admin, "JAB-BARRA-150")

    admin.call_model("product.template", "write", [template_id], {"list_price": Decimal("10.40")}, safe=False)

    deadline = time.monotonic() + POLL_DEADLINE_S
    seen: dict[str, int] = {}
    while time.monotonic() < deadline and seen.get("JAB-BARRA-150") != 1040:
        changes = connector.products_changed_since(cursor)
        cursor = changes.cursor
        seen.update({p.sku: p.price_minor for p in changes.products})
    assert seen.get("JAB-BARRA-150") == 1040


def test_poll_with_nothing_changed_returns_only_the_overlap_and_keeps_the_cursor(
    connector: TrytonConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tryton_module, "CURSOR_OVERLAP_S", 0.0)
    first = connector.products_changed_since(None)
    time.sleep(0.01)

    again = connector.products_changed_since(first.cursor)

    assert again.cursor == first.cursor
    # Only records stamped exactly at the cursor instant (the newest write) may come back.
    assert len(again.products) + len(again.problems) < len(first.products) + len(first.problems)


def test_full_read_is_paged_and_resumes_from_its_cursor(
    connector: TrytonConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tryton_module, "PAGE_SIZE", 2)
    monkeypatch.setattr(tryton_module, "FULL_PAGES_PER_POLL", 1)

    first = connector.products_changed_since(None)
    rest = connector.products_changed_since(first.cursor)
    last = rest if rest.complete else connector.products_changed_since(rest.cursor)

    assert not first.complete
    assert last.complete and ":since:" in last.cursor
    skus = [p.sku for p in (*first.products, *rest.products, *(() if last is rest else last.products))]
    skus += [p.sku for p in (*first.problems, *rest.problems, *(() if last is rest else last.problems)) if p.sku]
    assert sorted(skus) == sorted(["REF-COLA-600", "GAL-MARIA-170", "JAB-BARRA-150", "DUL-GRANEL-1"])


def test_stock_levels_are_read_per_warehouse(connector: TrytonConnector) -> None:
    levels = connector.stock_levels(skus=["REF-COLA-600", "GAL-MARIA-170"])

    on_hand = {(level.sku, level.warehouse): level.on_hand for level in levels}
    assert on_hand == {
        ("REF-COLA-600", "WH"): 48,
        ("REF-COLA-600", "SUR"): 12,
        ("GAL-MARIA-170", "WH"): 30,
        ("GAL-MARIA-170", "SUR"): 0,
    }


def test_stock_found_in_tryton_shows_in_the_next_read(connector: TrytonConnector, admin: TrytonConnector) -> None:
    product_id, _ = _product_id(admin, "GAL-MARIA-170")
    (storage,) = admin.call_model("stock.location", "search", [("code", "=", "STO")], 0, 1, None)
    (found,) = admin.call_model("stock.location", "search", [("type", "=", "lost_found")], 0, 1, None)
    (unit,) = admin.call_model("product.uom", "search", [("symbol", "=", "u")], 0, 1, None)
    move = {"product": product_id, "unit": unit, "quantity": Decimal(4), "from_location": found, "to_location": storage}
    move_ids = admin.call_model("stock.move", "create", [move], safe=False)
    # The move's buttons are for the stock group, which the hub's user is in (the administrator is not).
    connector.call_model("stock.move", "do", move_ids, safe=False)

    (level,) = connector.stock_levels(skus=["GAL-MARIA-170"], warehouses=["WH"])

    assert (level.sku, level.warehouse, level.on_hand) == ("GAL-MARIA-170", "WH", 34)


def test_reorder_request_becomes_a_draft_purchase_order_with_its_lines(
    tryton: TrytonServer, connector: TrytonConnector, admin: TrytonConnector
) -> None:
    event = ReorderRequestData(
        request_id="rr-0193-auto-1",
        store="tienda-centro",
        lines=[
            ReorderLine(sku="REF-COLA-600", qty=24, on_hand=2),
            ReorderLine(sku="JAB-BARRA-150", qty=6, on_hand=1),
        ],
    )
    (request,) = purchase_requests_from_reorder(event, default_supplier=tryton.seed.supplier_code)

    order = connector.create_purchase_order(request)

    assert order.created and order.state == "draft" and order.reference == "rr-0193-auto-1"
    (purchase,) = admin.call_model(
        "purchase.purchase",
        "search_read",
        [("reference", "=", "rr-0193-auto-1")],
        0,
        2,
        None,
        ["state", "party.code", "warehouse.code", "lines", "description"],
    )
    assert (purchase["state"], purchase["party."]["code"], purchase["warehouse."]["code"]) == ("draft", "SUP-EV", "WH")
    assert "tienda-centro" in purchase["description"]
    lines = admin.call_model(
        "purchase.line", "read", purchase["lines"], ["product.code", "quantity", "unit_price", "unit.symbol"]
    )
    got = sorted((line["product."]["code"], line["quantity"], line["unit_price"]) for line in lines)
    assert got == [("JAB-BARRA-150", Decimal(6), Decimal("6.10")), ("REF-COLA-600", Decimal(24), Decimal("13.20"))]
    assert f"purchase.purchase,{purchase['id']}" == order.erp_id


def test_same_reorder_request_twice_places_one_order(connector: TrytonConnector, tryton: TrytonServer) -> None:
    request = PurchaseRequest("rr-twice", tryton.seed.supplier_name, (OrderLine("GAL-MARIA-170", 10),))

    first = connector.create_purchase_order(request)
    second = connector.create_purchase_order(request)

    assert first.created and not second.created
    assert second.erp_id == first.erp_id


def test_purchase_for_unknown_supplier_or_sku_is_rejected_with_the_fix(
    connector: TrytonConnector, tryton: TrytonServer
) -> None:
    with pytest.raises(ERPRejected, match=r"no party with code or name 'Nadie'.*create the supplier"):
        connector.create_purchase_order(PurchaseRequest("rr-x1", "Nadie", (OrderLine("REF-COLA-600", 1),)))
    with pytest.raises(ERPRejected, match="no active product with code NO-SUCH"):
        connector.create_purchase_order(PurchaseRequest("rr-x2", tryton.seed.supplier_code, (OrderLine("NO-SUCH", 1),)))


def test_bad_credentials_raise_auth_failed_naming_what_to_check(tryton: TrytonServer) -> None:
    with (
        TrytonConnector(_settings(tryton, password="not-the-password")) as conn,
        pytest.raises(ERPAuthFailed, match=r"refused the login 'mostrador'.*check the login and password"),
    ):
        conn.products_changed_since(None)


def test_wrong_database_name_is_a_protocol_error_naming_the_database(tryton: TrytonServer) -> None:
    with (
        TrytonConnector(_settings(tryton, database="nonexistent")) as conn,
        pytest.raises(ERPProtocolError, match="no database 'nonexistent'"),
    ):
        conn.login()


def test_erp_going_down_raises_unavailable_after_bounded_retries(tryton_template: Template) -> None:
    server = TrytonServer(tryton_template).start()
    pauses: list[float] = []
    with TrytonConnector(_settings(server, attempts=3, timeout_s=2.0), sleep=pauses.append) as conn:
        conn.login()
        server.close()

        with pytest.raises(
            ERPUnavailable, match=r"did not answer .* after 3 attempt\(s\).*check that trytond is running"
        ):
            conn.stock_levels()
    assert pauses == [0.25, 0.5]

"""Stock: sales and refunds, counts and adjustments, alerts on crossing, auto-reorder, suggestions, rankings."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from core import wire
from core.errors import InvalidInput
from edge_agent import stock
from edge_agent.stock import StockBook
from edge_agent.store import Store

T = TypeVar("T")
NOW = datetime(2026, 3, 14, 17, 30, tzinfo=UTC)
SETTINGS = {"store": {"store_id": "tienda-7", "timezone": "America/Mexico_City"}, "loyalty_prefix": 481}
ITEMS = [  # sku, name, price, cost, distributors
    ("cola", "Refresco cola 600 ml", 1800, 1100, ["dist-a", "dist-b"]),
    ("chips", "Papas 45 g", 1500, 700, ["dist-b"]),
    ("soap", "Jabón de barra", 2500, None, []),
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "box.sqlite3", tenant="acme", device="box-42", clock=lambda: NOW)
    with s.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO config (kind, version, sha256, body, applied_at) VALUES ('settings', 1, 'x', ?, ?)",
            (json.dumps(SETTINGS), NOW.isoformat()),
        )
        for sku, name, price, cost, distributors in ITEMS:
            tx.conn.execute(
                "INSERT INTO item (sku, name, category, tax_category, unit_price_minor, cost_minor, origin, "
                "updated_at) VALUES (?, ?, 'abarrotes', 'standard', ?, ?, 'hub', ?)",
                (sku, name, price, cost, NOW.isoformat()),
            )
            tx.conn.executemany(
                "INSERT INTO item_distributor (sku, distributor) VALUES (?, ?)", [(sku, d) for d in distributors]
            )
    return s


@pytest.fixture
def book(store: Store) -> StockBook:
    return StockBook(store)


def _rule(
    store: Store,
    sku: str,
    *,
    low_at: int | None = None,
    reorder_point: int | None = None,
    order_up_to: int | None = None,
    preferred: str | None = None,
) -> None:
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO stock_rule (sku, low_at, reorder_point, order_up_to, preferred_distributor) "
            "VALUES (?, ?, ?, ?, ?)",
            (sku, low_at, reorder_point, order_up_to, preferred),
        )


def _sell(store: Store, sale_id: str, *lines: tuple[str, int]) -> None:
    with store.transaction() as tx:
        stock.apply_sale(tx, sale_id, lines)


def _events(store: Store, kind: type[T]) -> list[T]:
    found: list[T] = []
    for row in store.outbox_after(0, 1000):
        data = wire.decode(row.topic, row.payload).data
        if isinstance(data, kind):
            found.append(data)
    return found


# -- movements ------------------------------------------------------------------------------------------------


def test_a_sale_takes_its_lines_off_stock_and_records_each_movement(store: Store, book: StockBook) -> None:
    book.count("cola", 10)
    _sell(store, "s1", ("cola", 2), ("chips", 1), ("cola", 1))
    assert (book.on_hand("cola"), book.on_hand("chips")) == (7, -1)
    movements = store.conn.execute(
        "SELECT sku, delta, on_hand_after, reason, ref FROM stock_movement WHERE reason = 'sale' ORDER BY id"
    ).fetchall()
    assert movements == [("cola", -3, 7, "sale", "s1"), ("chips", -1, -1, "sale", "s1")]


def test_a_refund_puts_stock_back(store: Store, book: StockBook) -> None:
    book.count("cola", 5)
    _sell(store, "s1", ("cola", 3))
    with store.transaction() as tx:
        stock.apply_refund(tx, "r1", [("cola", 2)])
    assert book.on_hand("cola") == 4
    assert store.conn.execute("SELECT ref FROM stock_movement WHERE reason = 'refund'").fetchone() == ("r1",)


@pytest.mark.parametrize(
    ("lines", "field"),
    [([("nope", 1)], "lines[0].sku"), ([("cola", 0)], "lines[0].qty"), ([("cola", 1), ("chips", 1.5)], "lines[1].qty")],
)
def test_a_bad_sale_line_names_it_and_moves_nothing(
    store: Store, book: StockBook, lines: list[tuple[str, int]], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        _sell(store, "s1", *lines)
    assert err.value.field == field
    assert store.conn.execute("SELECT count(*) FROM stock_movement").fetchone() == (0,)


# -- counts and adjustments -------------------------------------------------------------------------------------


def test_a_count_sets_on_hand_and_reports_the_difference(store: Store, book: StockBook) -> None:
    book.count("chips", 12)
    result = book.count("chips", 9, cashier="lupita", note="conteo semanal")
    assert (result.delta, result.on_hand_after) == (-3, 9)
    event = _events(store, wire.StockAdjustmentData)[-1]
    assert isinstance(event, wire.StockAdjustmentData)
    assert (event.sku, event.delta, event.on_hand_after, event.reason) == ("chips", -3, 9, "count")
    assert (event.store, event.cashier, event.note, event.adjustment_id) == (
        "tienda-7",
        "lupita",
        "conteo semanal",
        result.adjustment_id,
    )


@pytest.mark.parametrize(
    ("reason", "qty", "expected"),
    [("received", 24, 34), ("returned", 1, 11), ("damaged", 2, 8), ("lost", 3, 7), ("correction", -4, 6)],
)
def test_adjustments_move_stock_in_the_direction_of_their_reason(
    store: Store, book: StockBook, reason: stock.AdjustReason, qty: int, expected: int
) -> None:
    book.count("cola", 10)
    assert book.adjust("cola", reason, qty).on_hand_after == expected
    event = _events(store, wire.StockAdjustmentData)[-1]
    assert isinstance(event, wire.StockAdjustmentData)
    assert (event.reason, event.delta) == (reason, expected - 10)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda b: b.adjust("cola", "damaged", 0), "qty"),
        (lambda b: b.adjust("cola", "damaged", -2), "qty"),
        (lambda b: b.adjust("cola", "correction", 0), "qty"),
        (lambda b: b.adjust("cola", "stolen", 1), "reason"),
        (lambda b: b.adjust("ghost", "received", 1), "sku"),
        (lambda b: b.adjust("cola", "received", 1, note="x" * 201), "note"),
        (lambda b: b.count("cola", -1), "counted"),
        (lambda b: b.count("ghost", 1), "sku"),
    ],
)
def test_bad_adjustments_name_the_field_and_write_nothing(
    store: Store, book: StockBook, call: Callable[[StockBook], object], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        call(book)
    assert err.value.field == field
    assert store.outbox_depth() == 0


# -- alerts -----------------------------------------------------------------------------------------------------


def test_a_stock_alert_is_emitted_once_per_level_crossing(store: Store, book: StockBook) -> None:
    _rule(store, "cola", low_at=5)
    book.count("cola", 8)
    for n, qty in enumerate((2, 1, 1, 1, 3)):  # 6, 5 (low), 4, 3, 0 (out)
        _sell(store, f"s{n}", ("cola", qty))
    with store.transaction() as tx:
        stock.apply_refund(tx, "r1", [("cola", 10)])  # back to 10: ok
    alerts = [(a.level, a.on_hand, a.threshold) for a in _events(store, wire.StockAlertData)]
    assert alerts == [("low", 5, 5), ("out", 0, 0), ("ok", 10, 5)]
    assert store.conn.execute("SELECT alert_level FROM stock_rule WHERE sku = 'cola'").fetchone() == ("ok",)


def test_items_without_a_rule_raise_no_alerts(store: Store) -> None:
    _sell(store, "s1", ("soap", 3))
    assert _events(store, wire.StockAlertData) == []


# -- auto-reorder -----------------------------------------------------------------------------------------------


def _requests(store: Store) -> list[wire.ReorderRequestData]:
    return _events(store, wire.ReorderRequestData)


def test_reorder_asks_up_to_the_order_level_from_the_preferred_distributor_once(store: Store, book: StockBook) -> None:
    _rule(store, "cola", reorder_point=4, order_up_to=20, preferred="dist-b")
    book.count("cola", 10)
    _sell(store, "s1", ("cola", 7))
    _sell(store, "s2", ("cola", 1))  # still outstanding: no second request
    [request] = _requests(store)
    assert request.origin == "auto" and request.store == "tienda-7"
    assert [(line.sku, line.qty, line.distributor, line.on_hand) for line in request.lines] == [
        ("cola", 17, "dist-b", 3)
    ]
    row = store.conn.execute("SELECT origin, body FROM reorder_request").fetchone()
    assert row[0] == "auto" and json.loads(row[1])["data"]["request_id"] == request.request_id
    assert book.suggestions()[0].outstanding_request == request.request_id


def test_reorder_names_the_only_carrier_or_leaves_any_distributor(store: Store, book: StockBook) -> None:
    _rule(store, "chips", reorder_point=2, order_up_to=10)
    _rule(store, "cola", reorder_point=2, order_up_to=10)
    _sell(store, "s1", ("chips", 1), ("cola", 1))
    [request] = _requests(store)
    assert {line.sku: line.distributor for line in request.lines} == {"chips": "dist-b", "cola": None}
    assert {line.sku: line.qty for line in request.lines} == {"chips": 11, "cola": 11}


def test_a_request_is_outstanding_until_stock_rises_above_the_reorder_point(store: Store, book: StockBook) -> None:
    _rule(store, "cola", reorder_point=4, order_up_to=20)
    book.count("cola", 6)
    _sell(store, "s1", ("cola", 3))  # 3: request
    book.adjust("cola", "correction", 5)  # 8: above the point, closed
    _sell(store, "s2", ("cola", 5))  # 3: a new request
    assert [r.lines[0].qty for r in _requests(store)] == [17, 17]
    first = json.loads(store.conn.execute("SELECT body FROM reorder_request ORDER BY created_at, rowid").fetchone()[0])
    assert first["closed"]["cola"]["why"] == "stock above the reorder point"


def test_a_short_delivery_closes_the_request_and_asks_for_the_rest(store: Store, book: StockBook) -> None:
    _rule(store, "cola", reorder_point=10, order_up_to=30)
    book.count("cola", 2)  # 2: request for 28
    book.adjust("cola", "received", 5)  # 7: delivered, still low: request for 23
    assert [r.lines[0].qty for r in _requests(store)] == [28, 23]


def test_a_manual_request_makes_the_item_outstanding(store: Store, book: StockBook) -> None:
    _rule(store, "cola", reorder_point=4, order_up_to=20)
    book.count("cola", 10)
    request_id = book.request_reorder([("cola", 12, "dist-a")], cashier="lupita")
    _sell(store, "s1", ("cola", 8))
    [request] = _requests(store)
    assert request.request_id == request_id and request.origin == "manual" and request.cashier == "lupita"


def test_suggestions_list_items_at_their_reorder_point_most_urgent_first(store: Store, book: StockBook) -> None:
    _rule(store, "cola", reorder_point=5, order_up_to=20)
    _rule(store, "chips", low_at=3)
    book.count("cola", 5)
    book.count("chips", 1)
    book.count("soap", 0)  # no rule: not suggested
    suggestions = book.suggestions()
    assert [(s.sku, s.on_hand, s.level, s.suggested_qty) for s in suggestions] == [
        ("chips", 1, "low", None),
        ("cola", 5, "ok", 15),
    ]
    assert suggestions[1].outstanding_request is not None


# -- reports ----------------------------------------------------------------------------------------------------


def _sale_rows(store: Store, when: datetime, *lines: tuple[str, int, int, int | None, int]) -> None:
    """Lines are (sku, qty, amount_minor, unit cost_minor, refunded_qty)."""
    with store.transaction() as tx:
        n = tx.conn.execute("SELECT count(*) FROM sale").fetchone()[0]
        pk = tx.conn.execute(
            "INSERT INTO sale (sale_id, event_id, store, currency, total_minor, created_at) "
            "VALUES (?, ?, 'tienda-7', 'MXN', ?, ?)",
            (f"s{n}", f"e{n}", sum(line[2] for line in lines), when.isoformat()),
        ).lastrowid
        for no, (sku, qty, amount, cost, refunded) in enumerate(lines, start=1):
            tx.conn.execute(
                "INSERT INTO sale_line (sale_pk, line_no, sku, name, qty, unit_price_minor, discount_minor, "
                "amount_minor, cost_minor, refunded_qty) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (pk, no, sku, sku, qty, amount // qty, amount, cost, refunded),
            )


def test_best_sellers_rank_by_units_or_revenue_net_of_refunds(store: Store, book: StockBook) -> None:
    day = NOW - timedelta(days=3)
    _sale_rows(store, day, ("cola", 4, 7200, 1100, 0), ("chips", 2, 3000, 700, 0))
    _sale_rows(store, day, ("chips", 4, 6000, 700, 1), ("soap", 1, 2500, None, 0))
    _sale_rows(store, NOW - timedelta(days=40), ("soap", 50, 125_000, None, 0))  # outside the range
    start, end = NOW - timedelta(days=7), NOW
    by_units = book.best_sellers(start, end)
    assert [(r.sku, r.units, r.revenue_minor) for r in by_units] == [
        ("chips", 5, 7500),
        ("cola", 4, 7200),
        ("soap", 1, 2500),
    ]
    assert by_units[1].name == "Refresco cola 600 ml"
    assert [r.sku for r in book.best_sellers(start, end, by="revenue")] == ["chips", "cola", "soap"]
    assert [r.sku for r in book.best_sellers(start, end, limit=1)] == ["chips"]


def test_best_margins_use_the_unit_cost_at_sale_and_skip_unknown_costs(store: Store, book: StockBook) -> None:
    day = NOW - timedelta(days=1)
    _sale_rows(store, day, ("cola", 4, 7200, 1100, 0), ("chips", 5, 7500, 700, 1), ("soap", 3, 7500, None, 0))
    rows = book.best_margins(NOW - timedelta(days=2), NOW)
    assert [(r.sku, r.units, r.revenue_minor, r.cost_minor, r.margin_minor) for r in rows] == [
        ("chips", 4, 6000, 2800, 3200),
        ("cola", 4, 7200, 4400, 2800),
    ]
    assert rows[0].margin_bp == 5333


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (NOW, NOW - timedelta(days=1), "end"),
        (NOW - timedelta(days=400), NOW, "end"),
        (datetime(2026, 1, 1), NOW, "start"),  # noqa: DTZ001 - no time zone on purpose
    ],
)
def test_reports_refuse_bad_or_unbounded_ranges(book: StockBook, start: datetime, end: datetime, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        book.best_sellers(start, end)
    assert err.value.field == field

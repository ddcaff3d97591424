"""Stock at the counter: movements, counts and adjustments, alert rules, auto-reorder, and sales reports.

Every change of an item's on-hand quantity is a ``stock_movement`` row (``reason``: ``sale``, ``refund``,
``count``, ``received``, ``damaged``, ``lost``, ``returned``, ``correction``) written in the transaction that
caused it. Counts and adjustments made by the shopkeeper also emit ``stock_adjustment`` events; sales and
refunds do not (their own events carry the lines).

After each change the item's rule (``stock_rule``, from the hub's ``stock_rules`` configuration) is
evaluated in the same transaction:

* **alerts**: the level is ``out`` when on hand <= 0, ``low`` when on hand <= ``low_at``, else ``ok``. A
  ``stock_alert`` event is emitted only when the level changes (``stock_rule.alert_level`` holds the last
  one), so a shop selling its last ten units one by one hears about it once. Items without a rule have no
  alerts.
* **auto-reorder**: with ``reorder_point`` and ``order_up_to`` set, on hand <= ``reorder_point`` asks for
  ``order_up_to - on_hand`` units (a ``reorder_request`` row and event) from the preferred distributor, or
  else from the only distributor that carries the item (``item_distributor``), or else from any (``None``).
  A request stays **outstanding** for an item, and no new one is made for it, until stock rises above the
  reorder point or a delivery of the item is received (an adjustment with reason ``received``; if the
  delivery still leaves the item at or below its reorder point, a request for the rest follows at once).
  Outstanding requests are ``setting`` rows ``stock.reorder_open.<sku>`` naming the request; the request's
  ``body`` is ``{"data": <ReorderRequestData as JSON>, "closed": {sku: {"at", "why"}}}``.

Reports (best sellers, best margins) read ``sale_line`` net of refunded units over a bounded date range;
``sale_line.cost_minor`` is the unit cost at the time of the sale, as ``unit_price_minor`` is the unit price.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from core import wire
from core.errors import InvalidInput
from edge_agent.customers import NotConfigured
from edge_agent.store import Store, Transaction

MAX_LINES: Final = wire.MAX_SALE_LINES
"""Most lines in one sale, refund or reorder request handled at once."""
MAX_ADJUST_QTY: Final = wire.MAX_QUANTITY
"""Largest quantity in one count or adjustment."""
MAX_COUNTED: Final = 10**9
MAX_NOTE_CHARS: Final = 200
MAX_REPORT_DAYS: Final = 366
"""Longest date range a report covers."""
MAX_REPORT_ROWS: Final = 100
MAX_SUGGESTIONS: Final = 500

AdjustReason = Literal["received", "damaged", "lost", "returned", "correction"]
_INBOUND: Final = frozenset({"received", "returned"})
_OUTBOUND: Final = frozenset({"damaged", "lost"})
_OPEN_KEY: Final = "stock.reorder_open."


@dataclass(frozen=True)
class Adjustment:
    """A count or adjustment as recorded: the change and the quantity on hand after it."""

    adjustment_id: str
    sku: str
    delta: int
    on_hand_after: int


@dataclass(frozen=True)
class Suggestion:
    """An item at or below its reorder point (or low/out), with what to order and any outstanding request."""

    sku: str
    name: str
    on_hand: int
    level: str
    reorder_point: int | None
    suggested_qty: int | None
    distributor: str | None
    outstanding_request: str | None


@dataclass(frozen=True)
class SellerRow:
    """One item's sales over a period, net of refunds."""

    sku: str
    name: str
    units: int
    revenue_minor: int


@dataclass(frozen=True)
class MarginRow:
    """One item's margin over a period: revenue less unit cost times units, net of refunds."""

    sku: str
    name: str
    units: int
    revenue_minor: int
    cost_minor: int
    margin_minor: int
    margin_bp: int
    """Margin as basis points of revenue (2,500 = 25 %); 0 when there was no revenue."""


# ------------------------------------------------------------------------------------------------ helpers


def _store_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT json_extract(body, '$.store.store_id') FROM config WHERE kind = 'settings'").fetchone()
    if row is None or not isinstance(row[0], str):
        raise NotConfigured("this box has no settings with a store id yet: connect it to the hub")
    return row[0]


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}, got {value}")
    return value


def _known_sku(conn: sqlite3.Connection, sku: object, field: str) -> str:
    if not isinstance(sku, str) or conn.execute("SELECT 1 FROM item WHERE sku = ?", (sku,)).fetchone() is None:
        raise InvalidInput(field, f"{sku!r} is not in the catalogue; add the item first")
    return sku


def _change(tx: Transaction, sku: str, delta: int, reason: str, ref: str | None) -> int:
    """Apply ``delta`` to the item's on hand and record the movement; returns on hand after."""
    row = tx.conn.execute(
        "INSERT INTO stock (sku, on_hand, updated_at) VALUES (?, ?, ?) ON CONFLICT (sku) DO UPDATE SET "
        "on_hand = stock.on_hand + excluded.on_hand, updated_at = excluded.updated_at RETURNING on_hand",
        (sku, delta, tx.now.isoformat()),
    ).fetchone()
    on_hand = int(row[0])
    tx.conn.execute(
        "INSERT INTO stock_movement (sku, delta, on_hand_after, reason, ref, at) VALUES (?, ?, ?, ?, ?, ?)",
        (sku, delta, on_hand, reason, ref, tx.now.isoformat()),
    )
    return on_hand


def _level(on_hand: int, low_at: int | None) -> str:
    if on_hand <= 0:
        return "out"
    if low_at is not None and on_hand <= low_at:
        return "low"
    return "ok"


def _outstanding(conn: sqlite3.Connection, sku: str) -> str | None:
    row = conn.execute("SELECT value FROM setting WHERE key = ?", (_OPEN_KEY + sku,)).fetchone()
    return None if row is None else str(row[0])


def _close(tx: Transaction, sku: str, why: str) -> None:
    request_id = _outstanding(tx.conn, sku)
    if request_id is None:
        return
    tx.conn.execute("DELETE FROM setting WHERE key = ?", (_OPEN_KEY + sku,))
    row = tx.conn.execute("SELECT body FROM reorder_request WHERE request_id = ?", (request_id,)).fetchone()
    if row is not None:
        body = json.loads(row[0])
        body.setdefault("closed", {})[sku] = {"at": tx.now.isoformat(), "why": why}
        tx.conn.execute("UPDATE reorder_request SET body = ? WHERE request_id = ?", (json.dumps(body), request_id))


def _distributor(conn: sqlite3.Connection, sku: str, preferred: str | None) -> str | None:
    if preferred:
        return preferred
    carriers = [r[0] for r in conn.execute("SELECT distributor FROM item_distributor WHERE sku = ? LIMIT 2", (sku,))]
    return carriers[0] if len(carriers) == 1 else None


def _record_request(
    tx: Transaction,
    store_id: str,
    lines: list[wire.ReorderLine],
    origin: Literal["auto", "manual"],
    cashier: str | None,
) -> str:
    request_id = str(tx.store.new_event_id())
    data = wire.ReorderRequestData(request_id=request_id, store=store_id, lines=lines, origin=origin, cashier=cashier)
    tx.conn.execute(
        "INSERT INTO reorder_request (request_id, created_at, origin, body) VALUES (?, ?, ?, ?)",
        (request_id, tx.now.isoformat(), origin, json.dumps({"data": data.model_dump(mode="json"), "closed": {}})),
    )
    tx.conn.executemany(
        "INSERT INTO setting (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [(_OPEN_KEY + line.sku, request_id, tx.now.isoformat()) for line in lines],
    )
    tx.emit(data)
    return request_id


def _evaluate(tx: Transaction, levels: dict[str, int], *, delivered: frozenset[str] = frozenset()) -> None:
    """Alerts and auto-reorder for the items just changed (``{sku: on hand}``), in the caller's transaction."""
    store_id: str | None = None
    reorder: list[wire.ReorderLine] = []
    for sku, on_hand in levels.items():
        rule = tx.conn.execute(
            "SELECT low_at, reorder_point, order_up_to, preferred_distributor, alert_level FROM stock_rule "
            "WHERE sku = ?",
            (sku,),
        ).fetchone()
        if rule is None:
            continue
        low_at, reorder_point, order_up_to, preferred, previous = rule
        store_id = store_id or _store_id(tx.conn)
        level = _level(on_hand, low_at)
        if level != previous:
            tx.conn.execute("UPDATE stock_rule SET alert_level = ? WHERE sku = ?", (level, sku))
            threshold = 0 if level == "out" or low_at is None else int(low_at)
            tx.emit(wire.StockAlertData(store=store_id, sku=sku, level=level, on_hand=on_hand, threshold=threshold))
        if reorder_point is None or order_up_to is None:
            continue
        if sku in delivered:
            _close(tx, sku, "delivery received")
        if on_hand > reorder_point:
            _close(tx, sku, "stock above the reorder point")
        elif _outstanding(tx.conn, sku) is None:
            qty = min(int(order_up_to) - on_hand, MAX_ADJUST_QTY)
            reorder.append(
                wire.ReorderLine(sku=sku, qty=qty, distributor=_distributor(tx.conn, sku, preferred), on_hand=on_hand)
            )
    if reorder and store_id is not None:
        _record_request(tx, store_id, reorder, "auto", None)


def _lines(conn: sqlite3.Connection, lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    if len(lines) > MAX_LINES:
        raise InvalidInput("lines", f"{len(lines)} lines; at most {MAX_LINES} at once")
    totals: dict[str, int] = {}
    for i, (sku, qty) in enumerate(lines):
        _known_sku(conn, sku, f"lines[{i}].sku")
        totals[sku] = totals.get(sku, 0) + _int(qty, f"lines[{i}].qty", 1, wire.MAX_QUANTITY)
    return totals


# ------------------------------------------------------------------------------------------------ sales


def apply_sale(tx: Transaction, sale_id: str, lines: Sequence[tuple[str, int]]) -> None:
    """Take the sold ``(sku, qty)`` lines off stock in the sale's transaction, then run alerts and reorder."""
    levels = {sku: _change(tx, sku, -qty, "sale", sale_id) for sku, qty in _lines(tx.conn, lines).items()}
    _evaluate(tx, levels)


def apply_refund(tx: Transaction, refund_id: str, lines: Sequence[tuple[str, int]]) -> None:
    """Put refunded ``(sku, qty)`` lines back on stock in the refund's transaction, then re-evaluate."""
    levels = {sku: _change(tx, sku, qty, "refund", refund_id) for sku, qty in _lines(tx.conn, lines).items()}
    _evaluate(tx, levels)


# ------------------------------------------------------------------------------------------------ the book


def _check_note(note: str) -> str:
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise InvalidInput("note", f"must be text of at most {MAX_NOTE_CHARS} characters")
    return note


def _period(start: datetime, end: datetime) -> tuple[str, str]:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInput(name, "must be a date and time with its time zone")
    if end <= start:
        raise InvalidInput("end", "must be after start")
    if end - start > timedelta(days=MAX_REPORT_DAYS):
        raise InvalidInput("end", f"a report covers at most {MAX_REPORT_DAYS} days; choose a shorter range")
    return start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()


class StockBook:
    """The shopkeeper's stock operations on one store; :func:`apply_sale` and :func:`apply_refund` too."""

    def __init__(self, store: Store) -> None:
        self.store = store

    apply_sale = staticmethod(apply_sale)
    apply_refund = staticmethod(apply_refund)

    def on_hand(self, sku: str) -> int:
        row = self.store.conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()
        return 0 if row is None else int(row[0])

    def _adjust(self, sku: str, delta: int, reason: str, cashier: str | None, note: str) -> Adjustment:
        with self.store.transaction() as tx:
            _known_sku(tx.conn, sku, "sku")
            store_id = _store_id(tx.conn)
            adjustment_id = str(self.store.new_event_id())
            on_hand = _change(tx, sku, delta, reason, adjustment_id)
            tx.emit(
                wire.StockAdjustmentData(
                    adjustment_id=adjustment_id,
                    store=store_id,
                    sku=sku,
                    delta=delta,
                    on_hand_after=on_hand,
                    reason=reason,
                    cashier=cashier,
                    note=note,
                )
            )
            _evaluate(tx, {sku: on_hand}, delivered=frozenset({sku}) if reason == "received" else frozenset())
        return Adjustment(adjustment_id, sku, delta, on_hand)

    def count(self, sku: str, counted: int, *, cashier: str | None = None, note: str = "") -> Adjustment:
        """Set on hand to a counted figure; the event carries the difference (0 confirms the figure)."""
        counted = _int(counted, "counted", 0, MAX_COUNTED)
        note = _check_note(note)
        _known_sku(self.store.conn, sku, "sku")
        return self._adjust(sku, counted - self.on_hand(sku), "count", cashier, note)

    def adjust(
        self, sku: str, reason: AdjustReason, qty: int, *, cashier: str | None = None, note: str = ""
    ) -> Adjustment:
        """Record a delivery received or a return (adds ``qty``), damage or loss (removes ``qty``), or a
        correction (``qty`` is the signed change)."""
        note = _check_note(note)
        if reason in _INBOUND or reason in _OUTBOUND:
            qty = _int(qty, "qty", 1, MAX_ADJUST_QTY)
            delta = qty if reason in _INBOUND else -qty
        elif reason == "correction":
            delta = _int(qty, "qty", -MAX_ADJUST_QTY, MAX_ADJUST_QTY)
            if delta == 0:
                raise InvalidInput("qty", "a correction of 0 changes nothing; count the item instead")
        else:
            raise InvalidInput("reason", f"{reason!r} is not one of received, damaged, lost, returned, correction")
        return self._adjust(sku, delta, reason, cashier, note)

    def request_reorder(self, lines: Sequence[tuple[str, int, str | None]], *, cashier: str | None = None) -> str:
        """A manual reorder of ``(sku, qty, distributor or None)`` lines; the items become outstanding."""
        if not 1 <= len(lines) <= MAX_LINES:
            raise InvalidInput("lines", f"a request has 1 to {MAX_LINES} lines")
        with self.store.transaction() as tx:
            wanted = []
            for i, (sku, qty, distributor) in enumerate(lines):
                _known_sku(tx.conn, sku, f"lines[{i}].sku")
                wanted.append(
                    wire.ReorderLine(
                        sku=sku,
                        qty=_int(qty, f"lines[{i}].qty", 1, wire.MAX_QUANTITY),
                        distributor=distributor,
                        on_hand=self.on_hand(sku),
                    )
                )
            return _record_request(tx, _store_id(tx.conn), wanted, "manual", cashier)

    def suggestions(self, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
        """Items to reorder or watch, most urgent first: at or below the reorder point, or low or out."""
        limit = _int(limit, "limit", 1, MAX_SUGGESTIONS)
        rows = self.store.conn.execute(
            "SELECT r.sku, i.name, coalesce(s.on_hand, 0) AS on_hand, r.low_at, r.reorder_point, r.order_up_to, "
            "r.preferred_distributor, st.value FROM stock_rule r JOIN item i ON i.sku = r.sku "
            "LEFT JOIN stock s ON s.sku = r.sku LEFT JOIN setting st ON st.key = ? || r.sku "
            "WHERE i.active = 1 AND ((r.reorder_point IS NOT NULL AND coalesce(s.on_hand, 0) <= r.reorder_point) "
            "OR coalesce(s.on_hand, 0) <= coalesce(r.low_at, 0)) "
            "ORDER BY coalesce(s.on_hand, 0) - coalesce(r.reorder_point, r.low_at, 0), r.sku LIMIT ?",
            (_OPEN_KEY, limit),
        ).fetchall()
        return [
            Suggestion(
                sku=sku,
                name=name,
                on_hand=on_hand,
                level=_level(on_hand, low_at),
                reorder_point=reorder_point,
                suggested_qty=max(order_up_to - on_hand, 1) if order_up_to is not None else None,
                distributor=_distributor(self.store.conn, sku, preferred),
                outstanding_request=request,
            )
            for sku, name, on_hand, low_at, reorder_point, order_up_to, preferred, request in rows
        ]

    # -- reports --------------------------------------------------------------------------------------------

    _NET = (
        "SELECT l.sku AS sku, coalesce(max(i.name), max(l.name)) AS name, sum(l.qty - l.refunded_qty) AS units, "
        # The line's amount shared over its units, rounded half up, for the units not given back.
        "sum((l.amount_minor * (l.qty - l.refunded_qty) * 2 + l.qty) / (2 * l.qty)) AS revenue, "
        "sum(l.cost_minor * (l.qty - l.refunded_qty)) AS cost "
        "FROM sale s JOIN sale_line l ON l.sale_pk = s.id LEFT JOIN item i ON i.sku = l.sku "
        "WHERE s.created_at >= ? AND s.created_at < ? {extra} GROUP BY l.sku HAVING units > 0 "
    )

    def best_sellers(
        self, start: datetime, end: datetime, *, by: Literal["units", "revenue"] = "units", limit: int = 20
    ) -> list[SellerRow]:
        """Items ranked by units sold (or revenue) in ``[start, end)``, net of refunds."""
        period = _period(start, end)
        limit = _int(limit, "limit", 1, MAX_REPORT_ROWS)
        if by not in ("units", "revenue"):
            raise InvalidInput("by", "must be 'units' or 'revenue'")
        order = "units DESC, revenue DESC" if by == "units" else "revenue DESC, units DESC"
        rows = self.store.conn.execute(
            self._NET.format(extra="") + f"ORDER BY {order}, sku LIMIT ?",
            (*period, limit),
        ).fetchall()
        return [SellerRow(sku, name, int(units), int(revenue)) for sku, name, units, revenue, _ in rows]

    def best_margins(self, start: datetime, end: datetime, *, limit: int = 20) -> list[MarginRow]:
        """Items ranked by margin (revenue - cost) in ``[start, end)``; lines sold without a known cost are
        left out."""
        period = _period(start, end)
        limit = _int(limit, "limit", 1, MAX_REPORT_ROWS)
        rows = self.store.conn.execute(
            self._NET.format(extra="AND l.cost_minor IS NOT NULL") + "ORDER BY revenue - cost DESC, sku LIMIT ?",
            (*period, limit),
        ).fetchall()
        result = []
        for sku, name, units, revenue, cost in rows:
            margin = int(revenue) - int(cost)
            bp = (margin * 10_000) // int(revenue) if revenue else 0
            result.append(MarginRow(sku, name, int(units), int(revenue), int(cost), margin, bp))
        return result

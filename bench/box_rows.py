"""Benchmark helpers: boxes that sell through the real checkout, and the rows one sale writes, replayed plainly.

:func:`counter_box` opens a box's store with the demo defaults, a member with points and stock high enough
that no sale raises an alert or a reorder, and the box's real services (:func:`edge_agent.counter_sim.
simulated_counter`). :func:`ring_up` is one small-shop ticket at its checkout. :func:`sale_rows` reads back
what a sale's transaction wrote (the sale, its lines, the stock changes and movements, the customer's points
journal, the outbox rows) and
:class:`PlainBox` writes the same rows with nothing but ``sqlite3`` into the box's whole schema, one
transaction per sale: the floor the checkout path is compared with.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from core import identity
from edge_agent.counter_sim import SimulatedCashier, simulated_counter
from edge_agent.store import MIGRATIONS, Store
from edge_agent.web.services import WebServices

MEMBER: Final = identity.make(481, 4242)
MEMBER_PHONE: Final = "+522221234567"
BENCH_STOCK: Final = 10**9
"""Units on hand of every item at the start, so a run never reaches an alert level or a reorder point."""
MAX_TICKET_LINES: Final = 6
MEMBER_EVERY: Final = 3
"""One ticket in this many is a member's (identified by phone, earning points)."""
BOX_KEY: Final = bytes(range(32))


def counter_box(path: Path, *, tenant: str = "bench", device: str = "box-1", durable: bool = True) -> WebServices:
    """A box's store at ``path`` with its real services, a member and :data:`BENCH_STOCK` of every item."""
    store = Store(path, tenant=tenant, device=device, durable=durable)
    services = simulated_counter(store, box_key=BOX_KEY)
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO customer (loyalty_id, name, phone_e164, tier_points, balance_points, balance_at, "
            "origin, updated_at) VALUES (?, 'María López', ?, 1500, 1000000000, ?, 'hub', ?)",
            (MEMBER, MEMBER_PHONE, tx.now.isoformat(), tx.now.isoformat()),
        )
        tx.conn.execute("UPDATE stock SET on_hand = ?", (BENCH_STOCK,))
    return services


def barcodes(store: Store) -> list[str]:
    """One barcode per active item, in SKU order."""
    return [
        row[0]
        for row in store.conn.execute(
            "SELECT min(b.barcode) FROM item_barcode b JOIN item i ON i.sku = b.sku WHERE i.active = 1 "
            "GROUP BY b.sku ORDER BY b.sku"
        )
    ]


def ring_up(services: WebServices, codes: list[str], rng: random.Random) -> str:
    """One small-shop ticket: one to six items scanned, a member on one ticket in three, paid in cash."""
    sale = services.checkout.start(cashier="bench")
    for code in rng.sample(codes, rng.randint(1, MAX_TICKET_LINES)):
        sale.add_barcode(code, rng.choice((1, 1, 1, 2, 3)))
    if rng.randrange(MEMBER_EVERY) == 0:
        sale.identify(MEMBER_PHONE)
    sale.add_cash(sale.settlement().cash_due_minor)
    return sale.complete().sale_id


def fill_box(path: Path, *, tenant: str, device: str, sales: int, seed: int) -> int:
    """A box whose outbox holds ``sales`` tickets of a simulated cashier (members enrolled and found, points
    earned and spent, refunds now and then); returns the number of events waiting. Not durable: a fixture."""
    with Store(path, tenant=tenant, device=device, durable=False) as store:
        services = simulated_counter(store, box_key=BOX_KEY)
        cashier = SimulatedCashier(random.Random(seed))
        while cashier.stats.sales < sales:
            if cashier.ring_up(services) is None:
                raise RuntimeError(f"{device}: the checkout refused a ticket: {cashier.stats.last_problem}")
        return store.outbox_depth()


@dataclass(frozen=True)
class SaleRows:
    """Everything one sale's transaction wrote, as plain tuples."""

    sale: tuple[Any, ...]
    lines: list[tuple[Any, ...]]
    movements: list[tuple[Any, ...]]
    journal: list[tuple[Any, ...]]
    outbox: list[tuple[Any, ...]]


SALE_COLUMNS: Final = (
    "sale_id, event_id, store, currency, total_minor, created_at, customer, cashier, tax_added_minor, "
    "points_earned, points_redeemed, refunded_minor, detail"
)
LINE_COLUMNS: Final = (
    "line_no, sku, name, qty, unit_price_minor, discount_minor, amount_minor, category, cost_minor, refunded_qty"
)


def sale_rows(store: Store, sale_id: str) -> SaleRows:
    """The rows the checkout wrote for ``sale_id`` (journal and outbox rows: those of its transaction)."""
    conn = store.conn
    pk, *sale = conn.execute(f"SELECT id, {SALE_COLUMNS} FROM sale WHERE sale_id = ?", (sale_id,)).fetchone()
    lines = conn.execute(f"SELECT {LINE_COLUMNS} FROM sale_line WHERE sale_pk = ? ORDER BY line_no", (pk,)).fetchall()
    movements = conn.execute(
        "SELECT sku, delta, on_hand_after, reason, ref, at FROM stock_movement WHERE ref = ? ORDER BY id", (sale_id,)
    ).fetchall()
    journal = conn.execute(
        "SELECT seq, loyalty_id, redeemed, earned, created_at FROM points_journal WHERE created_at = ? ORDER BY seq",
        (sale[5],),
    ).fetchall()
    outbox = conn.execute(
        "SELECT seq, event_id, type, topic, payload, created_at FROM outbox WHERE created_at = ? ORDER BY seq",
        (sale[5],),
    ).fetchall()
    return SaleRows(tuple(sale), lines, movements, journal, outbox)


class PlainBox:
    """A fresh database with the box's whole schema (every migration, indexes included), the same pragmas
    (WAL, ``synchronous=FULL``, foreign keys) and the source box's items and stock, written with plain
    ``sqlite3``."""

    def __init__(self, path: Path, source: Store) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        for migration in MIGRATIONS:
            for statement in migration:
                self.conn.execute(statement)
        self.conn.execute("BEGIN")
        for table in ("item", "stock"):
            rows = source.conn.execute(f"SELECT * FROM {table}").fetchall()
            if rows:
                marks = ",".join("?" * len(rows[0]))
                self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        self.conn.execute("COMMIT")

    def write(self, rows: SaleRows) -> None:
        """The sale's rows in one transaction, as the checkout's transaction writes them."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(f"INSERT INTO sale ({SALE_COLUMNS}) VALUES ({','.join('?' * 13)})", rows.sale)
        conn.executemany(
            f"INSERT INTO sale_line (sale_pk, {LINE_COLUMNS}) VALUES ({','.join('?' * 11)})",
            [(cur.lastrowid, *line) for line in rows.lines],
        )
        for sku, delta, after, reason, ref, at in rows.movements:
            conn.execute("UPDATE stock SET on_hand = on_hand + ?, updated_at = ? WHERE sku = ?", (delta, at, sku))
            conn.execute(
                "INSERT INTO stock_movement (sku, delta, on_hand_after, reason, ref, at) VALUES (?, ?, ?, ?, ?, ?)",
                (sku, delta, after, reason, ref, at),
            )
        conn.executemany(
            "INSERT INTO points_journal (seq, loyalty_id, redeemed, earned, created_at) VALUES (?, ?, ?, ?, ?)",
            rows.journal,
        )
        conn.executemany(
            "INSERT INTO outbox (seq, event_id, type, topic, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows.outbox,
        )
        conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

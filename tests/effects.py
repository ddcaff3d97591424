"""After faults: every business effect of the boxes' sales and refunds happened exactly once, at the box and the hub.

:func:`assert_effects_once` is what every kill and fault test checks at its end. At each box (its SQLite file,
read only, after the box stopped):

* every sale has its lines, and its stock movements (reason ``sale``, ``ref`` the sale id) take exactly its
  quantities off, one movement per item; every refund's movements (reason ``refund``) put back exactly what
  it gave back; every sale line's refunded quantity is what its refunds gave back; no sale or refund
  movement names a sale or refund the box does not have; and each item's stock on hand is the sum of its
  movements.

With the hub's database as well:

* every sale and every refund of each box is at the hub exactly once, with the same amounts;
* every sale with a customer and every refund has its ledger posting, with the box's points;
* the points ledger balances (:func:`hub.ledger.reports.check_ledger`: debits equal credits, lots equal
  balances, floors hold) and each customer's balance is what the postings of their sales and refunds add up
  to, so no transfer was applied twice or lost; no posting failed.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from hub import db
from hub.ingest.postings import ALERT_FAILED
from hub.ledger.reports import check_ledger


class BoxFile(Protocol):
    """A box as the check needs it: its device name and its database file (a ``BoxProcess`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def db_path(self) -> Path: ...


@dataclass(frozen=True)
class Box:
    """A box's device name and database file."""

    name: str
    db_path: Path


@dataclass(frozen=True)
class BoxEffects:
    """What one box recorded, as the check read it."""

    sales: dict[uuid.UUID, tuple[str, int, str | None, int, int]]
    """Event id -> (sale id, total, customer, points earned, points redeemed)."""
    refunds: dict[uuid.UUID, tuple[str, int, int]]
    """Event id -> (refund id, total, points reversed)."""
    movements: int


def _box_effects(box: BoxFile) -> BoxEffects:
    conn = sqlite3.connect(f"file:{box.db_path}?mode=ro", uri=True)
    try:
        return _check_box(box.name, conn)
    finally:
        conn.close()


def _check_box(name: str, conn: sqlite3.Connection) -> BoxEffects:
    sales: dict[uuid.UUID, tuple[str, int, str | None, int, int]] = {}
    sold: dict[str, Counter[str]] = {}
    refunded_qty: dict[str, int] = {}
    for pk, sale_id, event_id, total, customer, earned, redeemed in conn.execute(
        "SELECT id, sale_id, event_id, total_minor, customer, points_earned, points_redeemed FROM sale"
    ):
        sales[uuid.UUID(event_id)] = (sale_id, int(total), customer, int(earned), int(redeemed))
        lines = Counter[str]()
        for sku, qty, back in conn.execute("SELECT sku, qty, refunded_qty FROM sale_line WHERE sale_pk = ?", (pk,)):
            lines[sku] += int(qty)
            refunded_qty[sale_id] = refunded_qty.get(sale_id, 0) + int(back)
        assert lines, f"{name}: sale {sale_id} has no lines"
        sold[sale_id] = lines
    refunds: dict[uuid.UUID, tuple[str, int, int]] = {}
    given_back: dict[str, Counter[str]] = {}
    given_back_by_sale: Counter[str] = Counter()
    for refund_id, sale_id, event_id, total, reversed_, detail in conn.execute(
        "SELECT refund_id, sale_id, event_id, total_minor, points_reversed, detail FROM refund"
    ):
        refunds[uuid.UUID(event_id)] = (refund_id, int(total), int(reversed_))
        lines = Counter[str]()
        for line in json.loads(detail)["lines"]:
            lines[line["sku"]] += int(line["qty"])
        given_back[refund_id] = lines
        given_back_by_sale[sale_id] += sum(lines.values())
    for sale_id, back in given_back_by_sale.items():
        assert refunded_qty.get(sale_id) == back, (
            f"{name}: sale {sale_id} says {refunded_qty.get(sale_id)} units refunded, its refunds gave back {back}"
        )
    moved: dict[tuple[str, str], Counter[str]] = {}
    per_ref: Counter[tuple[str, str, str]] = Counter()
    for sku, delta, reason, ref in conn.execute(
        "SELECT sku, delta, reason, ref FROM stock_movement WHERE reason IN ('sale', 'refund')"
    ):
        moved.setdefault((reason, ref), Counter())[sku] += int(delta)
        per_ref[(reason, ref, sku)] += 1
    twice = [key for key, n in per_ref.items() if n > 1]
    assert not twice, f"{name}: stock moved more than once for {twice[:5]}"
    for sale_id, lines in sold.items():
        taken = {sku: -delta for sku, delta in moved.pop(("sale", sale_id), Counter()).items()}
        assert taken == dict(lines), f"{name}: sale {sale_id} sold {dict(lines)} but stock moved {taken}"
    for refund_id, lines in given_back.items():
        back = dict(moved.pop(("refund", refund_id), Counter()))
        assert back == dict(lines), f"{name}: refund {refund_id} gave back {dict(lines)} but stock moved {back}"
    assert not moved, f"{name}: stock moved for sales or refunds the box does not have: {sorted(moved)[:5]}"
    drift = conn.execute(
        "SELECT s.sku, s.on_hand, coalesce(sum(m.delta), 0) FROM stock s LEFT JOIN stock_movement m ON m.sku = s.sku "
        "GROUP BY s.sku HAVING s.on_hand <> coalesce(sum(m.delta), 0)"
    ).fetchall()
    assert not drift, f"{name}: stock on hand differs from its movements (sku, on hand, movements): {drift[:5]}"
    movements = int(conn.execute("SELECT count(*) FROM stock_movement WHERE reason = 'sale'").fetchone()[0])
    return BoxEffects(sales, refunds, movements)


def _check_hub(engine: sa.Engine, tenant: str, name: str, box: BoxEffects) -> dict[str, int]:
    """One box against the hub; returns the points each customer of this box's postings is owed."""
    with engine.connect() as conn:
        s, be, p = db.sale, db.business_event, db.posting
        at_hub = conn.execute(
            sa.select(s.c.event_id, s.c.sale_id, s.c.total_minor, s.c.customer).where(
                s.c.tenant == tenant, s.c.device == name
            )
        ).all()
        ids = Counter(r[0] for r in at_hub)
        assert all(n == 1 for n in ids.values()), f"{name}: a sale was applied twice at the hub"
        hub_sales = {r[0]: (r[1], int(r[2]), r[3]) for r in at_hub}
        box_sales = {e: (sale_id, total, customer) for e, (sale_id, total, customer, _, _) in box.sales.items()}
        assert hub_sales == box_sales, (
            f"{name}: {len(box_sales)} sales at the box, {len(hub_sales)} at the hub; missing "
            f"{len(set(box_sales) - set(hub_sales))}, unknown {len(set(hub_sales) - set(box_sales))}, "
            f"different {sum(1 for e in set(box_sales) & set(hub_sales) if box_sales[e] != hub_sales[e])}"
        )
        hub_refunds = {
            r[0]: (r[1]["refund_id"], int(r[1]["total_minor"]), int(r[1]["points_reversed"]))
            for r in conn.execute(
                sa.select(be.c.event_id, be.c.data).where(
                    be.c.tenant == tenant, be.c.device == name, be.c.type == "refund"
                )
            )
        }
        assert hub_refunds == box.refunds, (
            f"{name}: {len(box.refunds)} refunds at the box, {len(hub_refunds)} at the hub "
            f"(missing {len(set(box.refunds) - set(hub_refunds))}, unknown {len(set(hub_refunds) - set(box.refunds))})"
        )
        postings = {
            r[0]: r
            for r in conn.execute(
                sa.select(
                    p.c.event_id, p.c.type, p.c.customer, p.c.box_points, p.c.hub_points, p.c.redeemed_points
                ).where(p.c.tenant == tenant, p.c.device == name)
            )
        }
    owed: Counter[str] = Counter()
    for event_id, (sale_id, _total, customer, earned, redeemed) in box.sales.items():
        if customer is None:
            continue
        posting = postings.get(event_id)
        assert posting is not None, f"{name}: sale {sale_id} of customer {customer} has no ledger posting"
        assert (posting.type, posting.customer, posting.box_points, posting.redeemed_points) == (
            "sale",
            customer,
            earned,
            redeemed,
        ), f"{name}: sale {sale_id} is posted as {posting}, the box earned {earned} and redeemed {redeemed}"
        owed[customer] += int(posting.hub_points) - int(posting.redeemed_points)
    for event_id, (refund_id, _total, reversed_) in box.refunds.items():
        posting = postings.get(event_id)
        assert posting is not None, f"{name}: refund {refund_id} has no ledger posting"
        assert posting.type == "refund" and (posting.customer is None or posting.box_points == reversed_), (
            f"{name}: refund {refund_id} is posted as {posting}, the box reversed {reversed_} points"
        )
        if posting.customer is not None:
            owed[posting.customer] += int(posting.redeemed_points) - int(posting.hub_points)
    return dict(owed)


def _check_ledger(engine: sa.Engine, tenant: str, owed: Counter[str]) -> None:
    a = db.ledger_account
    with engine.connect() as conn:
        programs = sorted(conn.execute(sa.select(a.c.program).where(a.c.tenant == tenant).distinct()).scalars().all())
        assert programs, f"{tenant}: the hub's points ledger has no accounts: no points were posted"
        for program in programs:
            problems = check_ledger(conn, tenant, program)
            assert not problems, f"{tenant}/{program}: the points ledger does not balance: {problems}"
        postings = db.posting
        sale_program = conn.execute(
            sa.select(postings.c.program).where(postings.c.tenant == tenant, postings.c.type == "sale").limit(1)
        ).scalar_one()
        balances = {
            owner: int(credits) - int(debits)
            for owner, credits, debits in conn.execute(
                sa.select(a.c.owner, a.c.credits_posted, a.c.debits_posted).where(
                    a.c.tenant == tenant, a.c.program == sale_program, a.c.kind == "customer"
                )
            )
        }
        failed = (
            conn.execute(
                sa.select(db.alert.c.detail).where(db.alert.c.tenant == tenant, db.alert.c.kind == ALERT_FAILED)
            )
            .scalars()
            .all()
        )
    assert not failed, f"{tenant}: ledger postings failed: {failed[:3]}"
    wrong = {c: (balances.get(c, 0), n) for c, n in owed.items() if balances.get(c, 0) != n}
    assert not wrong, f"{tenant}: customer balances differ from their postings (balance, postings): {wrong}"


def assert_effects_once(boxes: Sequence[BoxFile], engine: sa.Engine | None = None, *, tenant: str = "acme") -> None:
    """Check every effect of the boxes' sales and refunds happened exactly once (see the module docstring).

    Also checks the run proved something: the boxes sold, moved stock, and sold to customers who earned
    points, and refunded at least once.
    """
    effects = {box.name: _box_effects(box) for box in boxes}
    for name, box in effects.items():
        assert box.sales, f"{name} sold nothing: the test proved nothing"
        assert box.movements, f"{name} moved no stock: the test proved nothing"
    assert any(c is not None for box in effects.values() for _, _, c, _, _ in box.sales.values()), (
        "no sale had a customer: the test proved nothing about points"
    )
    assert any(box.refunds for box in effects.values()), "no box refunded: the test proved nothing about refunds"
    if engine is None:
        return
    owed: Counter[str] = Counter()
    for name, box in effects.items():
        owed.update(_check_hub(engine, tenant, name, box))
    _check_ledger(engine, tenant, owed)

"""Points spent offline at several boxes at once: the real checkout on each box, the hub's rule from core.

Each box is a real box database with the demo defaults, offline, holding the same hub snapshot of one
customer. Random sequences of sales earn and spend points at each box; then the hub sees every box's sale
events, in any interleaving that keeps each box's own order, and settles every offline redemption with
:func:`core.points.settle_offline_hold`. What must hold:

* a box never lets the customer spend more than it knows they have, so its known balance and every
  receipt stay at zero or above, and one box's events alone never take the hub's balance below zero;
* however the boxes' spending overlaps, the hub's balance never goes below minus the allowance: the
  network's exposure for the customer is bounded by it.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from core import wire
from core.points import PointsOverBalance, settle_offline_hold, spendable_points
from edge_agent import stock
from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout
from edge_agent.context import ContextProvider, load_defaults
from edge_agent.customers import CustomerBook
from edge_agent.payments import SimulatedAcquirer
from edge_agent.store import Store
from tests.edge_agent.conftest import MEMBER_ID, add_member, fixed_clock

COLA: Final = "7501234000017"
COLA_MINOR: Final = 1800
MINOR_PER_POINT: Final = 10
"""The demo program spends points in steps of 10 points for 1.00 MXN."""
MAX_BOXES: Final = 3
MAX_SALES_PER_BOX: Final = 5
CASH_MINOR: Final = 100_000
"""Cash handed over in every sale: enough for the largest basket drawn here."""


@dataclass(frozen=True)
class HubSale:
    """What the hub needs of one sale event to post its points."""

    box: int
    redeemed: int
    offline_hold: int
    earned: int


def _box(directory: Path, number: int, snapshot: int, allowance: int) -> Checkout:
    store = Store(
        directory / f"box-{number}.sqlite3", tenant="acme", device=f"box-{number}", clock=fixed_clock, durable=False
    )
    load_defaults(store)
    add_member(store, balance_points=snapshot, allowance_points=allowance)
    context = ContextProvider(store)
    return Checkout(
        store,
        context,
        stock,
        CustomerBook(store, box_key=bytes(range(32)), clock=fixed_clock),
        SimulatedAcquirer(),
        None,
        None,
        fixed_clock,
        online=lambda: False,
        catalogue=Catalogue(store, tax_categories=context.tax_categories),
    )


def _sell(checkout: Checkout, qty: int, points: int) -> None:
    """One offline sale of ``qty`` colas, paying ``points`` if the box lets the customer spend them."""
    sale = checkout.start(cashier="ana")
    sale.identify(MEMBER_ID)
    sale.add_barcode(COLA, qty=qty)
    # Points pay part of the ticket only, so cash always settles the rest.
    points = min(points, (qty * COLA_MINOR - COLA_MINOR // 2) // MINOR_PER_POINT // 10 * 10)
    if points:
        sale.use_points(points)
        try:
            sale.price()
        except PointsOverBalance as refused:
            # The box offers what the customer has; the cashier takes that (in the program's steps) or none.
            offered = refused.available_points // 10 * 10
            sale.use_points(offered if offered >= 10 else 0)
    sale.add_cash(CASH_MINOR)
    done = sale.complete()
    assert done.customer is not None and done.receipt.loyalty is not None
    assert done.receipt.loyalty.balance >= 0, "a receipt never shows a negative balance"
    customer = checkout.customers.get(MEMBER_ID)
    assert customer is not None
    assert checkout.customers.balance(customer) >= 0, "a box alone never takes the balance below zero"


def _events(checkout: Checkout, number: int) -> list[HubSale]:
    rows = checkout.store.conn.execute("SELECT payload FROM outbox WHERE type = 'sale' ORDER BY seq").fetchall()
    out = []
    for (payload,) in rows:
        data = wire.SaleData.model_validate(json.loads(bytes(payload))["data"])
        out.append(HubSale(number, data.points_redeemed, data.offline_hold_points, data.points_earned))
    return out


def _hub(snapshot: int, allowance: int, sales: list[HubSale]) -> tuple[int, int, int]:
    """Apply ``sales`` in order at the hub: (lowest balance reached, final balance, points voided)."""
    balance = lowest = snapshot
    voided = 0
    for sale in sales:
        assert sale.offline_hold == sale.redeemed, "every point spent offline is a hold"
        settled = settle_offline_hold(balance, sale.offline_hold, allowance)
        balance -= settled.posted_points
        voided += settled.voided_points
        lowest = min(lowest, balance)
        balance += sale.earned
    return lowest, balance, voided


sale_plan = st.tuples(st.integers(1, 8), st.sampled_from([0, 10, 20, 50, 100, 150, 300]))


@settings(max_examples=20, deadline=None)
@given(
    snapshot=st.integers(0, 300),
    allowance=st.sampled_from([0, 50, 200]),
    plans=st.lists(st.lists(sale_plan, min_size=1, max_size=MAX_SALES_PER_BOX), min_size=1, max_size=MAX_BOXES),
    order=st.randoms(use_true_random=False),
)
def test_offline_spending_at_several_boxes_never_exposes_more_than_the_allowance(
    snapshot: int, allowance: int, plans: list[list[tuple[int, int]]], order: random.Random
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        boxes = [_box(Path(directory), n, snapshot, allowance) for n in range(len(plans))]
        try:
            for checkout, plan in zip(boxes, plans, strict=True):
                for qty, points in plan:
                    _sell(checkout, qty, points)
            per_box = [_events(checkout, n) for n, checkout in enumerate(boxes)]
        finally:
            for checkout in boxes:
                checkout.store.close()
    for events in per_box:
        lowest, _, voided = _hub(snapshot, allowance, events)
        assert lowest >= 0 and voided == 0, "one box's spending alone never overdraws the customer"
    # Any interleaving of the boxes' events that keeps each box's own order (as the hub receives them).
    queues = [list(events) for events in per_box]
    merged: list[HubSale] = []
    while any(queues):
        pick = order.choice([q for q in queues if q])
        merged.append(pick.pop(0))
    lowest, final, _ = _hub(snapshot, allowance, merged)
    assert lowest >= -allowance, f"exposure {-lowest} beyond the allowance {allowance}"
    assert spendable_points(final) >= 0

"""Fixtures of the counter application's tests: a box with the demo defaults, simulated devices, a fixed clock.

``box`` is a :class:`edge_agent.store.Store` in ``tmp_path`` with ``edge_agent/defaults/`` loaded; ``checkout``
wires the real context provider, catalogue, customer book, stock book and simulated acquirer, printer and
display around it. ``network`` switches the box online or offline; ``member`` is a customer from the hub's
snapshot with points to spend. ``sell`` rings up a sale on any box's store through the real checkout: the
only way a test (or the box) gets a sale into the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import identity
from edge_agent import stock
from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout, CompletedSale
from edge_agent.context import ContextProvider, load_defaults
from edge_agent.counter_sim import simulated_counter
from edge_agent.customers import CachedCustomer, CustomerBook
from edge_agent.payments import SimulatedAcquirer
from edge_agent.store import Store
from edge_agent.web.services import WebServices
from hardware.display import SimulatedDisplay
from hardware.printer import SimulatedPrinter

FIXED_NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
"""Monday 23 November 2026, noon in Mexico City: after the shipped tax rates take effect."""
MEMBER_PREFIX = 481
MEMBER_ID = identity.make(MEMBER_PREFIX, 4242)
MEMBER_BALANCE = 500
BOX_KEY = bytes(range(32))
"""The test boxes' key for biometrics at rest."""


def fixed_clock() -> datetime:
    return FIXED_NOW


@dataclass
class Network:
    """Whether the box reaches the hub; tests flip ``up``."""

    up: bool = True

    def __call__(self) -> bool:
        return self.up


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Store]:
    """A box database with the demo defaults loaded."""
    store = Store(tmp_path / "box.sqlite3", tenant="acme", device="box-1", clock=fixed_clock, durable=False)
    load_defaults(store)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def context_provider(box: Store) -> ContextProvider:
    return ContextProvider(box)


@pytest.fixture
def catalogue(box: Store, context_provider: ContextProvider) -> Catalogue:
    return Catalogue(box, tax_categories=context_provider.tax_categories)


@pytest.fixture
def customers(box: Store) -> CustomerBook:
    return CustomerBook(box, box_key=BOX_KEY, clock=fixed_clock)


@pytest.fixture
def printer() -> SimulatedPrinter:
    return SimulatedPrinter()


@pytest.fixture
def display() -> SimulatedDisplay:
    return SimulatedDisplay()


@pytest.fixture
def acquirer() -> SimulatedAcquirer:
    return SimulatedAcquirer()


@pytest.fixture
def network() -> Network:
    return Network()


def add_member(
    store: Store,
    loyalty_id: str = MEMBER_ID,
    *,
    balance_points: int = MEMBER_BALANCE,
    tier_points: int = 1500,
    allowance_points: int = 0,
    phone: str = "+522221234567",
) -> None:
    """A customer as the hub's ``customers`` snapshot leaves them in the cache."""
    with store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO customer (loyalty_id, name, phone_e164, sticker, tier_points, balance_points, balance_at, "
            "offline_allowance_points, origin, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'hub', ?)",
            (
                loyalty_id,
                "María López",
                phone,
                identity.parse(loyalty_id).sticker,
                tier_points,
                balance_points,
                FIXED_NOW.isoformat(),
                allowance_points,
                FIXED_NOW.isoformat(),
            ),
        )


@pytest.fixture
def member(box: Store, customers: CustomerBook) -> CachedCustomer:
    """A Silver member with 500 points, cached from the hub."""
    add_member(box)
    found = customers.get(MEMBER_ID)
    assert found is not None
    return found


@pytest.fixture
def checkout(
    box: Store,
    context_provider: ContextProvider,
    customers: CustomerBook,
    acquirer: SimulatedAcquirer,
    printer: SimulatedPrinter,
    display: SimulatedDisplay,
    network: Network,
    catalogue: Catalogue,
) -> Checkout:
    return Checkout(
        box,
        context_provider,
        stock,
        customers,
        acquirer,
        printer,
        display,
        fixed_clock,
        online=network,
        catalogue=catalogue,
    )


Sell = Callable[[Store], CompletedSale]


@pytest.fixture
def sell() -> Sell:
    """``sell(store)``: one cash sale of one unit of an item, through the real checkout on that box's store.

    The box gets the demo defaults first when it has no configuration. The item is, at each call, the one
    with the most stock left above its alert level, so the first few hundred sales on a box never raise a
    stock alert or a reorder: each adds exactly one event, the sale's, to the outbox.
    """
    counters: dict[Store, WebServices] = {}

    def one(store: Store) -> CompletedSale:
        services = counters.get(store)
        if services is None:
            services = counters[store] = simulated_counter(store, clock=fixed_clock, box_key=BOX_KEY)
        (sku,) = store.conn.execute(
            "SELECT i.sku FROM item i JOIN stock s ON s.sku = i.sku LEFT JOIN stock_rule r ON r.sku = i.sku "
            "WHERE i.active = 1 ORDER BY s.on_hand - coalesce(r.low_at, 0) DESC, i.sku LIMIT 1"
        ).fetchone()
        sale = services.checkout.start(cashier="test")
        sale.add_sku(sku)
        sale.add_cash(sale.settlement().cash_due_minor)
        return sale.complete()

    return one

"""Points spent offline at several boxes at once: the real checkout on each box, the real hub's postings.

Each box is a real box database with the demo defaults, offline, holding the same hub snapshot of one
customer. Random sequences of sales earn and spend points at each box; then a real hub (an SQLite database,
its ingest and postings, which settle every offline redemption with :func:`core.points.settle_offline_hold`)
receives every box's sale events, in any interleaving that keeps each box's own order. What must hold:

* a box never lets the customer spend more than it knows they have, so its known balance and every
  receipt stay at zero or above, and one box's events alone never take the hub's balance below zero;
* however the boxes' spending overlaps, the hub's balance never goes below minus the allowance: the
  network's exposure for the customer is bounded by it.

One box alone, with a model of the hub (the core rule) committing and acking its events and sending
customers snapshots at random points (a snapshot may be built before some commits and arrive after their
acks): the box's known balance is always exactly the customer's balance over every event of the box,
committed or not, so no point is spent twice and no redemption takes the hub's balance below zero.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from core import identity, wire
from core.points import PointsOverBalance, settle_offline_hold, spendable_points
from edge_agent import stock
from edge_agent.catalogue import Catalogue
from edge_agent.checkout import Checkout, CompletedSale
from edge_agent.context import ContextProvider, load_defaults
from edge_agent.customers import CustomerBook
from edge_agent.payments import SimulatedAcquirer
from edge_agent.store import Store
from edge_agent.sync import apply_config
from hub import db, network
from hub import ledger as lg
from hub.ingest.worker import Incoming, apply_batch
from hub.programs import points as program_points
from tests.edge_agent.conftest import FIXED_NOW, MEMBER_ID, MEMBER_PREFIX, add_member, fixed_clock

COLA: Final = "7501234000017"
COLA_MINOR: Final = 1800
MINOR_PER_POINT: Final = 10
"""The demo program spends points in steps of 10 points for 1.00 MXN."""
MAX_BOXES: Final = 3
MAX_SALES_PER_BOX: Final = 5
CASH_MINOR: Final = 100_000
"""Cash handed over in every sale: enough for the largest basket drawn here."""
TENANT: Final = "acme"
STORE: Final = "tienda-0001"
"""The store of the demo defaults, which every box here belongs to."""
RETAILER: Final = "abarrotes-dona-lupita"
PROGRAM: Final = "puntos-mostrador"
"""The demo defaults' program, which the hub registers for a tenant that has none."""
MEMBER_PHONE: Final = "+522221234567"
MEMBER_TIER_POINTS: Final = 1500
"""The member as conftest.add_member caches them: a snapshot repeats these so pricing stays the same."""
MAX_STEPS: Final = 14


@dataclass(frozen=True)
class HubSale:
    """One sale event as its box would publish it."""

    box: int
    topic: str
    payload: bytes
    redeemed: int
    offline_hold: int


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


def _sell(checkout: Checkout, qty: int, points: int) -> CompletedSale:
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
    return done


def _known(checkout: Checkout) -> int:
    customer = checkout.customers.get(MEMBER_ID)
    assert customer is not None
    return checkout.customers.balance(customer)


def _sell_within_balance(checkout: Checkout, qty: int, points: int) -> None:
    _sell(checkout, qty, points)
    assert _known(checkout) >= 0, "a box alone never takes the balance below zero"


def _ack_all(checkout: Checkout) -> None:
    """The hub commits every waiting event and the box hears its acks."""
    rows = checkout.store.outbox_after(0, 1000)
    checkout.store.settle([wire.AckResult(id=r.event_id, seq=r.seq, status="committed") for r in rows])
    assert checkout.store.outbox_depth() == 0


def _snapshot_body(balance: int, watermark: int | None, allowance: int = 0) -> bytes:
    """The hub's customers snapshot of the member; ``watermark`` None is a hub that does not state one."""
    body: dict[str, object] = {
        "customers": [
            {
                "loyalty_id": MEMBER_ID,
                "name": "María López",
                "phone_e164": MEMBER_PHONE,
                "sticker": identity.parse(MEMBER_ID).sticker,
                "tier_points": MEMBER_TIER_POINTS,
                "balance_points": balance,
                "balance_at": FIXED_NOW.isoformat(),
                "offline_allowance_points": allowance,
            }
        ]
    }
    if watermark is not None:
        body["watermark_seq"] = watermark
    return wire.config_body_json(body)


def _events(checkout: Checkout, number: int) -> list[HubSale]:
    rows = checkout.store.conn.execute("SELECT payload FROM outbox WHERE type = 'sale' ORDER BY seq").fetchall()
    out = []
    topic = str(wire.event_topic(TENANT, f"box-{number}", "sale"))
    for (payload,) in rows:
        data = wire.SaleData.model_validate(json.loads(bytes(payload))["data"])
        out.append(HubSale(number, topic, bytes(payload), data.points_redeemed, data.offline_hold_points))
    return out


def _store_row(allowance: int) -> network.Store:
    return network.Store(
        tenant=TENANT,
        store=STORE,
        retailer=RETAILER,
        name="Tienda",
        timezone="America/Mexico_City",
        currency="MXN",
        jurisdiction="mx-general",
        language="es",
        offline_allowance_points=allowance,
    )


@pytest.fixture(scope="module")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated hub database that knows the tenant, its store and the boxes, copied for every hub below
    (migrating each one would take most of the test's time)."""
    path = tmp_path_factory.mktemp("hub") / "hub-template.sqlite3"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        db.migrate(engine)
        with engine.begin() as conn:
            network.add_tenant(conn, TENANT, "Acme", MEMBER_PREFIX, now=FIXED_NOW)
            network.add_store(conn, _store_row(0), now=FIXED_NOW)
            for box in range(MAX_BOXES):
                network.add_device(conn, TENANT, f"box-{box}", STORE, now=FIXED_NOW)
            assert program_points.tenant_program(conn, TENANT, now=FIXED_NOW).id == PROGRAM
    finally:
        engine.dispose()
    return path


def _hub(template: Path, path: Path, snapshot: int, allowance: int, sales: list[HubSale]) -> tuple[int, int, int]:
    """A hub that knew the customer with ``snapshot`` points, and the store with ``allowance``, receives
    ``sales`` in order: (lowest balance reached, final balance, points voided)."""
    shutil.copyfile(template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    account = lg.account_id(TENANT, PROGRAM, lg.Kind.CUSTOMER, MEMBER_ID)
    try:
        with engine.begin() as conn:
            network.add_store(conn, _store_row(allowance), now=FIXED_NOW)
            lg.open_accounts(conn, lg.sale_accounts(TENANT, PROGRAM, RETAILER, MEMBER_ID, allowance), now=FIXED_NOW)
            if snapshot:
                issuance = lg.account_id(TENANT, PROGRAM, lg.Kind.ISSUANCE, lg.DISTRIBUTOR)
                earned = lg.Transfer(lg.derived_id("snapshot"), issuance, account, snapshot, lg.Code.EARN, "snapshot")
                assert lg.apply_transfers(conn, [earned], now=FIXED_NOW)[0].ok
        final = snapshot
        lowest = snapshot
        for sale in sales:
            assert sale.offline_hold == sale.redeemed, "every point spent offline is a hold"
            with engine.begin() as conn:
                assert apply_batch(conn, [Incoming(sale.topic, sale.payload, FIXED_NOW)]).dead_letters == 0
                held = lg.balance(conn, account)
            assert held.debits_pending == 0, "the hub settles a hold as soon as it sees the sale"
            final = held.posted
            lowest = min(lowest, final)
        with engine.connect() as conn:
            voided = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(db.points_voided.c.voided_points), 0)))
            return lowest, final, int(voided.scalar_one())
    finally:
        engine.dispose()


sale_plan = st.tuples(st.integers(1, 8), st.sampled_from([0, 10, 20, 50, 100, 150, 300]))


@settings(max_examples=20, deadline=None)
@given(
    snapshot=st.integers(0, 300),
    allowance=st.sampled_from([0, 50, 200]),
    plans=st.lists(st.lists(sale_plan, min_size=1, max_size=MAX_SALES_PER_BOX), min_size=1, max_size=MAX_BOXES),
    order=st.randoms(use_true_random=False),
)
def test_offline_spending_at_several_boxes_never_exposes_more_than_the_allowance(
    hub_template: Path, snapshot: int, allowance: int, plans: list[list[tuple[int, int]]], order: random.Random
) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        boxes = [_box(directory, n, snapshot, allowance) for n in range(len(plans))]
        try:
            for checkout, plan in zip(boxes, plans, strict=True):
                for qty, points in plan:
                    _sell_within_balance(checkout, qty, points)
            per_box = [_events(checkout, n) for n, checkout in enumerate(boxes)]
        finally:
            for checkout in boxes:
                checkout.store.close()
        for number, events in enumerate(per_box):
            lowest, _, voided = _hub(hub_template, directory / f"hub-{number}.sqlite3", snapshot, allowance, events)
            assert lowest >= 0 and voided == 0, "one box's spending alone never overdraws the customer"
        # Any interleaving of the boxes' events that keeps each box's own order (as the hub receives them).
        queues = [list(events) for events in per_box]
        merged: list[HubSale] = []
        while any(queues):
            pick = order.choice([q for q in queues if q])
            merged.append(pick.pop(0))
        lowest, final, _ = _hub(hub_template, directory / "hub.sqlite3", snapshot, allowance, merged)
    assert lowest >= -allowance, f"exposure {-lowest} beyond the allowance {allowance}"
    assert spendable_points(final) >= 0


def test_an_acked_redemption_counts_until_a_snapshot_includes_it(tmp_path: Path) -> None:
    box = _box(tmp_path, 0, snapshot=100, allowance=200)
    try:
        done = _sell(box, 2, 100)
        assert done.settlement.points_spent == 100 and done.priced.points is not None
        earned = done.priced.points.total
        _ack_all(box)
        # The hub committed the sale, its next snapshot is not here yet, and the box is offline.
        assert _known(box) == 100 - 100 + earned
        again = box.start(cashier="ana")
        again.identify(MEMBER_ID)
        again.add_barcode(COLA, qty=2)
        again.use_points(100)
        with pytest.raises(PointsOverBalance) as refused:
            again.price()
        assert refused.value.available_points == earned, "the 100 points are spent once"
        # A snapshot built before the hub committed the sale still has the 100 points: the sale counts on it.
        apply_config(box.store, "customers", 1, _snapshot_body(100, done.seq - 1))
        assert _known(box) == 100 - 100 + earned
        # One that includes the sale: its balance alone, the sale is not taken off twice.
        apply_config(box.store, "customers", 2, _snapshot_body(100 - 100 + earned, done.seq))
        assert _known(box) == earned
        assert box.store.conn.execute("SELECT count(*) FROM points_journal").fetchone()[0] == 0
    finally:
        box.store.close()


def test_a_snapshot_without_a_watermark_leaves_every_movement_counted(tmp_path: Path) -> None:
    box = _box(tmp_path, 0, snapshot=100, allowance=0)
    try:
        done = _sell(box, 2, 50)
        assert done.priced.points is not None
        _ack_all(box)
        apply_config(box.store, "customers", 1, _snapshot_body(100, None))
        assert _known(box) == 100 - 50 + done.priced.points.total
    finally:
        box.store.close()


@dataclass
class _Hub:
    """The hub as one box sees it: the customer's balance over the box's committed events, the acks not yet
    heard, and the newest customers snapshot built and not yet delivered."""

    balance: int
    allowance: int
    committed_seq: int = 0
    acks: list[wire.AckResult] = field(default_factory=list)
    built: tuple[int, int] | None = None
    version: int = 0

    def commit(self, checkout: Checkout, count: int) -> None:
        """Commit the next ``count`` events the box sent, in order, as ingest does."""
        rows = [r for r in checkout.store.outbox_after(0, 1000) if r.seq > self.committed_seq][:count]
        for row in rows:
            data = json.loads(row.payload)["data"]
            if row.type == "sale":
                sale = wire.SaleData.model_validate(data)
                assert sale.offline_hold_points == sale.points_redeemed, "every point spent offline is a hold"
                settled = settle_offline_hold(self.balance, sale.offline_hold_points, self.allowance)
                assert settled.voided_points == 0, "the box spent no point the customer did not have"
                self.balance -= settled.posted_points
                if sale.points_redeemed:
                    assert self.balance >= 0, "one box's redemption never takes the balance below zero"
                self.balance += sale.points_earned
            elif row.type == "refund":
                refund = wire.RefundData.model_validate(data)
                self.balance += sum(t.points for t in refund.tenders if t.kind == "points")
                self.balance -= refund.points_reversed
            self.committed_seq = row.seq
            self.acks.append(wire.AckResult(id=row.event_id, seq=row.seq, status="committed"))

    def build(self) -> None:
        self.built = (self.balance, self.committed_seq)

    def deliver(self, checkout: Checkout) -> None:
        if self.built is None:
            return
        self.version += 1
        balance, watermark = self.built
        apply_config(checkout.store, "customers", self.version, _snapshot_body(balance, watermark, self.allowance))
        self.built = None


def _pending_movements(checkout: Checkout, hub: _Hub) -> int:
    """What the box's events the hub has not committed do to the balance (the truth the box must know)."""
    total = 0
    for row in checkout.store.outbox_after(hub.committed_seq, 1000):
        data = json.loads(row.payload)["data"]
        if row.type == "sale":
            total += data["points_earned"] - data["points_redeemed"]
        elif row.type == "refund":
            total += sum(t["points"] for t in data["tenders"] if t["kind"] == "points") - data["points_reversed"]
    return total


step = st.one_of(
    st.tuples(st.just("sell"), sale_plan),
    st.tuples(st.just("refund"), st.integers(0, MAX_STEPS)),
    st.tuples(st.just("commit"), st.integers(1, 3)),
    st.tuples(st.just("ack"), st.integers(1, 3)),
    st.tuples(st.just("build"), st.none()),
    st.tuples(st.just("deliver"), st.none()),
)


@settings(max_examples=25, deadline=None)
@given(
    snapshot=st.integers(0, 300),
    allowance=st.sampled_from([0, 200]),
    steps=st.lists(step, min_size=1, max_size=MAX_STEPS),
)
def test_acks_and_snapshots_at_any_point_never_let_one_box_spend_a_point_twice(
    snapshot: int, allowance: int, steps: list[tuple[str, object]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        box = _box(Path(directory), 0, snapshot, allowance)
        hub = _Hub(snapshot, allowance)
        sales: list[str] = []
        try:
            for kind, arg in steps:
                if kind == "sell":
                    assert isinstance(arg, tuple)
                    sales.append(_sell(box, *arg).sale_id)
                elif kind == "refund" and sales:
                    assert isinstance(arg, int)
                    sale_id = sales.pop(arg % len(sales))
                    box.refund(sale_id, cashier="ana")
                elif kind == "commit":
                    assert isinstance(arg, int)
                    hub.commit(box, arg)
                elif kind == "ack":
                    assert isinstance(arg, int)
                    heard, hub.acks = hub.acks[:arg], hub.acks[arg:]
                    box.store.settle(heard)
                elif kind == "build":
                    hub.build()
                elif kind == "deliver":
                    hub.deliver(box)
                assert _known(box) == hub.balance + _pending_movements(box, hub), (
                    f"after {kind}: the box must know the balance over all of its own events"
                )
            hub.commit(box, 1000)
            assert _known(box) == hub.balance
        finally:
            box.store.close()

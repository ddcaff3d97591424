"""Box events become ledger postings through the ingest, on SQLite and PostgreSQL: earn and redeem across
retailers, recomputed points, replays, refunds, offline holds, and the merchant program."""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core import identity, wire
from core.errors import InvalidInput
from hub import customers, db, network
from hub import ledger as lg
from hub.ingest import postings
from hub.ingest import worker as hub_ingest
from hub.ingest.worker import Incoming, apply_batch
from hub.ledger import reports as rep
from hub.programs import merchant
from hub.programs import points as program_points

TENANT = "acme"
PREFIX = 481
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
ANA = identity.make(PREFIX, 1)
BEA = identity.make(PREFIX, 2)
PROGRAM = "puntos-mostrador"  # the boxes' default program, registered for a tenant that has none
_ids = itertools.count(1)


ALLOWANCE = 100
"""The stores' offline allowance: a customer's account may go 100 points below zero, no further."""


def add_store(conn: sa.Connection, store: str, retailer: str, allowance: int = ALLOWANCE) -> None:
    """Create or update ``store`` (of ``retailer``) with its box, ``box-`` and the store's letter."""
    network.add_store(
        conn,
        network.Store(
            tenant=TENANT,
            store=store,
            retailer=retailer,
            name=store,
            timezone="America/Mexico_City",
            currency="MXN",
            jurisdiction="mx-general",
            language="es",
            offline_allowance_points=allowance,
        ),
        now=T0,
    )
    network.add_device(conn, TENANT, store.replace("store", "box"), store, now=T0)


@pytest.fixture
def engine(hub_engine: Engine) -> Engine:
    with hub_engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Acme", PREFIX, now=T0)
        for store, retailer in (("store-a", "shop-a"), ("store-b", "shop-b")):
            add_store(conn, store, retailer)
    return hub_engine


def message(device: str, data: Any, *, at: datetime = T0) -> Incoming:
    n = next(_ids)
    event_id = wire.uuid7(int(at.timestamp() * 1000), n.to_bytes(10, "big"))
    raw = wire.encode(id=event_id, seq=n, ts=at, device=device, data=data)
    return Incoming(str(wire.event_topic(TENANT, device, data.TYPE)), raw, at)


def ingest(engine: Engine, *items: Incoming) -> None:
    with engine.begin() as conn:
        result = apply_batch(conn, list(items))
    assert result.dead_letters == 0


def enrol(engine: Engine, customer: str, store: str = "store-a", device: str = "box-a") -> Incoming:
    item = message(
        device,
        wire.EnrolmentData(
            customer=customer, store=store, fields=wire.CustomerFields(name="Ana López", sticker=customer)
        ),
    )
    ingest(engine, item)
    with engine.begin() as conn:
        customers.apply_events(conn, TENANT, now=T0)
    return item


def sale(
    store: str,
    customer: str | None,
    *,
    earned: int = 0,
    redeemed: int = 0,
    hold: int = 0,
    amount: int = 10_000,
    version: int | None = 0,
    sale_id: str | None = None,
) -> wire.SaleData:
    """One line of groceries (``abarrotes``, 1.5 points per 10.00 MXN in the default program)."""
    points_minor = redeemed * 10  # the default program: 10 points pay 1.00 MXN
    tenders = [wire.TenderRecord(kind="cash", amount_minor=amount - points_minor)]
    if redeemed:
        tenders.append(wire.TenderRecord(kind="points", amount_minor=points_minor, points=redeemed))
    return wire.SaleData(
        sale_id=sale_id or f"s-{next(_ids)}",
        store=store,
        currency="MXN",
        lines=[
            wire.SaleLine(
                sku="arroz-1kg",
                name="Arroz 1 kg",
                qty=1,
                unit_price_minor=amount,
                amount_minor=amount,
                category="abarrotes",
                tax_category="alimentos",
            )
        ],
        total_minor=amount,
        customer=customer,
        tenders=tenders,
        points_earned=earned,
        points_redeemed=redeemed,
        offline_hold_points=hold,
        promotion_set_version=version,
    )


def refund(sale_data: wire.SaleData, *, reversed_points: int, returned_points: int = 0) -> wire.RefundData:
    tenders = [wire.TenderRecord(kind="cash", amount_minor=sale_data.total_minor - returned_points * 10)]
    if returned_points:
        tenders.append(wire.TenderRecord(kind="points", amount_minor=returned_points * 10, points=returned_points))
    return wire.RefundData(
        refund_id=f"r-{next(_ids)}",
        sale_id=sale_data.sale_id,
        store=sale_data.store,
        currency="MXN",
        lines=[wire.RefundLine(line_no=1, sku="arroz-1kg", qty=1, amount_minor=sale_data.total_minor)],
        total_minor=sale_data.total_minor,
        tenders=tenders,
        points_reversed=reversed_points,
        customer=sale_data.customer,
    )


def posted(engine: Engine, owner: str, kind: lg.Kind = lg.Kind.CUSTOMER, program: str = PROGRAM) -> int:
    with engine.connect() as conn:
        return lg.balance(conn, lg.account_id(TENANT, program, kind, owner)).posted


def alerts(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.kind, r.detail) for r in conn.execute(sa.select(db.alert).order_by(db.alert.c.id))]


def check(engine: Engine) -> None:
    with engine.connect() as conn:
        assert rep.check_ledger(conn, TENANT, PROGRAM) == []


def test_points_earned_at_one_retailer_and_spent_at_another_are_settled_between_them(engine: Engine) -> None:
    enrol(engine, ANA)
    ingest(engine, message("box-a", sale("store-a", ANA, earned=15)))
    assert posted(engine, ANA) == 15 and alerts(engine) == []
    # 49.00 MXN paid in money: 4 whole steps of 10.00 MXN, 1.5 points each
    ingest(
        engine, message("box-b", sale("store-b", ANA, earned=6, redeemed=10, amount=5_000), at=T0 + timedelta(hours=1))
    )
    assert alerts(engine) == []
    assert posted(engine, ANA) == 11 and posted(engine, "shop-b", lg.Kind.RETAILER) == 10
    with engine.begin() as conn:
        statement = rep.settle_period(
            conn,
            TENANT,
            PROGRAM,
            period_start=T0 - timedelta(days=1),
            period_end=T0 + timedelta(days=1),
            now=T0 + timedelta(days=2),
        )
    shop_b = statement.line("shop-b")
    # 10 points pay 1.00 MXN: the distributor, who funded them, owes shop-b 1.00 MXN.
    assert (shop_b.accepted_points, shop_b.net_minor) == (10, 100)
    assert statement.line(lg.DISTRIBUTOR).net_minor == -100
    assert posted(engine, "shop-b", lg.Kind.RETAILER) == 0
    check(engine)


def test_a_points_mismatch_is_alerted_and_the_hubs_figure_is_posted(engine: Engine) -> None:
    enrol(engine, ANA)
    ingest(engine, message("box-a", sale("store-a", ANA, earned=99)))
    assert posted(engine, ANA) == 15
    assert alerts(engine) == [("points_mismatch", "box 99, hub 15: the hub's figure is posted")]
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.posting).where(db.posting.c.type == "sale")).one()
    assert (row.box_points, row.hub_points, row.verdict) == (99, 15, "mismatch")


def test_a_sale_the_hub_cannot_price_posts_the_box_figure_with_an_unverified_alert(engine: Engine) -> None:
    enrol(engine, ANA)
    ingest(engine, message("box-a", sale("store-a", ANA, earned=12, version=7)))
    ingest(engine, message("box-a", sale("store-a", BEA, earned=3)))  # BEA never enrolled at the hub
    assert posted(engine, ANA) == 12 and posted(engine, BEA) == 3
    kinds = [kind for kind, _ in alerts(engine)]
    assert kinds == ["points_unverified", "points_unverified"]
    assert "promotion set 7" in alerts(engine)[0][1] and "not known at the hub" in alerts(engine)[1][1]


def test_replayed_events_change_nothing(engine: Engine) -> None:
    enrol(engine, ANA)
    first = message("box-a", sale("store-a", ANA, earned=99))
    second = message("box-a", sale("store-a", ANA, earned=1, redeemed=10, amount=2_000))
    ingest(engine, first, second)
    before = (posted(engine, ANA), alerts(engine))
    ingest(engine, first, second, first)
    with engine.begin() as conn:  # even handed to the postings again, past the inbox
        events = [(wire.decode(wire.Topic.parse(i.topic), i.payload), i.received_at) for i in (first, second)]
        report = postings.post_events(conn, events, now=T0)
    assert (report.sales, report.alerts) == (0, [])
    assert (
        (posted(engine, ANA), alerts(engine))
        == before
        == (6, [("points_mismatch", "box 99, hub 15: the hub's figure is posted")])
    )
    check(engine)


def test_a_refund_reverses_earned_points_in_proportion_and_gives_redeemed_points_back(engine: Engine) -> None:
    enrol(engine, ANA)
    ingest(engine, message("box-a", sale("store-a", ANA, earned=15)))
    paid = sale("store-b", ANA, earned=4, redeemed=10, amount=4_000)  # 3.00 MXN of money earns 4 points (1.5 x 3)
    ingest(engine, message("box-b", paid))
    assert posted(engine, ANA) == 15 + 4 - 10
    ingest(engine, message("box-b", refund(paid, reversed_points=2, returned_points=5)))
    assert posted(engine, ANA) == 9 - 2 + 5 and posted(engine, "shop-b", lg.Kind.RETAILER) == 5
    ingest(engine, message("box-b", refund(paid, reversed_points=9, returned_points=5)))
    # Never more than the sale earned or redeemed: 4 and 10 points in all.
    assert posted(engine, ANA) == 15 and posted(engine, "shop-b", lg.Kind.RETAILER) == 0
    with engine.connect() as conn:
        t = db.ledger_transfer
        refs = {r.ref for r in conn.execute(sa.select(t.c.ref).where(t.c.code == lg.Code.REVERSE.value))}
    assert refs == {str(lg.derived_id(_event_of(engine, paid.sale_id), part)) for part in ("redeem",)} | {
        str(lg.derived_id(_event_of(engine, paid.sale_id), "earn", lg.DISTRIBUTOR))
    }
    check(engine)


def _event_of(engine: Engine, sale_id: str) -> uuid.UUID:
    with engine.connect() as conn:
        found: uuid.UUID = conn.execute(
            sa.select(db.posting.c.event_id).where(db.posting.c.sale_id == sale_id, db.posting.c.type == "sale")
        ).scalar_one()
    return found


def test_a_refund_whose_sale_never_comes_waits_then_is_alerted_once(engine: Engine) -> None:
    ghost = sale("store-a", ANA, earned=15, sale_id="never-sent")
    ingest(engine, message("box-a", refund(ghost, reversed_points=15)))
    assert alerts(engine) == [] and waiting(engine) == ["never-sent"]
    with engine.begin() as conn:
        postings.sweep_waiting_refunds(conn, TENANT, now=T0 + timedelta(hours=1))
    assert alerts(engine) == []
    for hours in (1, 2):  # once past the wait, alerted once; it goes on waiting for its sale
        with engine.begin() as conn:
            postings.sweep_waiting_refunds(conn, TENANT, now=T0 + postings.REFUND_WAIT_MAX + timedelta(hours=hours))
    assert [kind for kind, _ in alerts(engine)] == ["refund_unmatched"]
    assert "never-sent" in alerts(engine)[0][1] and waiting(engine) == ["never-sent"]


def test_a_refund_of_a_sale_that_had_no_customer_is_alerted_at_once(engine: Engine) -> None:
    anonymous = sale("store-a", None)
    ingest(engine, message("box-a", anonymous))
    ingest(engine, message("box-a", refund(anonymous.model_copy(update={"customer": ANA}), reversed_points=15)))
    assert [kind for kind, _ in alerts(engine)] == ["refund_unmatched"] and waiting(engine) == []


def test_a_refund_that_arrives_before_its_sale_is_posted_when_the_sale_lands(engine: Engine) -> None:
    enrol(engine, ANA)
    paid = sale("store-b", ANA, earned=4, redeemed=10, amount=4_000)
    sale_msg = message("box-b", paid)
    refund_msg = message("box-b", refund(paid, reversed_points=2, returned_points=5))
    ingest(engine, refund_msg)  # another worker still has the sale
    assert alerts(engine) == [] and waiting(engine) == [paid.sale_id]
    ingest(engine, sale_msg)
    assert alerts(engine) == [] and waiting(engine) == []
    assert posted(engine, ANA) == 4 - 10 - 2 + 5 and posted(engine, "shop-b", lg.Kind.RETAILER) == 5
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.posting).where(db.posting.c.type == "refund")).one()
    assert (row.sale_id, row.hub_points, row.redeemed_points, row.customer) == (paid.sale_id, 2, 5, ANA)
    ingest(engine, refund_msg, sale_msg)  # replays change nothing
    assert posted(engine, ANA) == -3
    check(engine)


def test_a_waiting_refund_is_posted_by_the_jobs_sweep_when_its_sale_landed_meanwhile(engine: Engine) -> None:
    enrol(engine, ANA)
    first = sale("store-a", ANA, earned=15)
    ingest(engine, message("box-a", refund(first, reversed_points=15)))
    # The sale committed by another worker without seeing the waiting refund (the sweep catches that).
    with engine.begin() as conn:
        conn.execute(sa.update(db.refund_waiting).values(sale_id="elsewhere"))
    ingest(engine, message("box-a", first))
    with engine.begin() as conn:
        conn.execute(sa.update(db.refund_waiting).values(sale_id=first.sale_id))
        assert postings.sweep_waiting_refunds(conn, TENANT, now=T0).refunds == 1
    assert posted(engine, ANA) == 0 and waiting(engine) == []
    check(engine)


def waiting(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.refund_waiting.c.sale_id)).scalars())


def unverified(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.posting_unverified.c.customer)).scalars())


def sale_verdict(engine: Engine, sale_id: str) -> str:
    with engine.connect() as conn:
        found: str = conn.execute(
            sa.select(db.posting.c.verdict).where(db.posting.c.sale_id == sale_id, db.posting.c.type == "sale")
        ).scalar_one()
    return found


def test_a_first_sale_posted_before_its_enrolment_is_verified_when_the_enrolment_lands(engine: Engine) -> None:
    first = sale("store-a", ANA, earned=15)
    ingest(engine, message("box-a", first))  # the enrolment went to the other worker
    assert [kind for kind, _ in alerts(engine)] == ["points_unverified"] and unverified(engine) == [ANA]
    assert sale_verdict(engine, first.sale_id) == "unverified"
    enrol(engine, ANA)
    assert sale_verdict(engine, first.sale_id) == "match" and unverified(engine) == []
    assert [kind for kind, _ in alerts(engine)] == ["points_unverified"] and posted(engine, ANA) == 15


def test_a_first_sale_verified_late_with_other_points_raises_the_usual_mismatch(engine: Engine) -> None:
    first = sale("store-a", ANA, earned=99)
    ingest(engine, message("box-a", first))
    enrol(engine, ANA)
    assert sale_verdict(engine, first.sale_id) == "mismatch" and unverified(engine) == []
    kinds = [kind for kind, _ in alerts(engine)]
    assert kinds == ["points_unverified", "points_mismatch"]
    assert alerts(engine)[1][1].startswith("box 99, hub 15")
    assert posted(engine, ANA) == 99  # the box's figure stays posted, flagged for staff
    check(engine)


def test_the_jobs_loop_verifies_sales_whose_customer_arrived_by_another_path(engine: Engine) -> None:
    first = sale("store-a", ANA, earned=15)
    ingest(engine, message("box-a", first))
    with engine.begin() as conn:  # the customer came in, but not through an enrolment posted here
        network_enrol = wire.EnrolmentData(
            customer=ANA, store="store-a", fields=wire.CustomerFields(name="Ana", sticker=ANA)
        )
        conn.execute(
            sa.insert(db.inbox).values(
                event_id=uuid.uuid4(),
                tenant=TENANT,
                device="box-a",
                seq=999,
                type="enrolment",
                payload_sha256="0" * 64,
                box_ts=T0,
                received_at=T0,
            )
        )
        event_id = conn.execute(sa.select(db.inbox.c.event_id).where(db.inbox.c.seq == 999)).scalar_one()
        conn.execute(
            sa.insert(db.business_event).values(
                event_id=event_id,
                tenant=TENANT,
                device="box-a",
                seq=999,
                type="enrolment",
                store="store-a",
                data=network_enrol.model_dump(mode="json"),
                box_ts=T0,
                received_at=T0,
            )
        )
        customers.apply_events(conn, TENANT, now=T0)
        assert postings.verify_sales(conn, TENANT, now=T0).verified == 1
        assert postings.verify_sales(conn, TENANT, now=T0).verified == 0
    assert sale_verdict(engine, first.sale_id) == "match" and unverified(engine) == []


def test_an_offline_redemption_is_held_within_the_allowance_then_posted(engine: Engine) -> None:
    enrol(engine, ANA)
    ingest(engine, message("box-a", sale("store-a", ANA, earned=15)))
    offline = sale("store-b", ANA, redeemed=60, hold=60, amount=1_000)  # 45 points below zero: within 100
    ingest(engine, message("box-b", offline))
    event_id = _event_of(engine, offline.sale_id)
    with engine.connect() as conn:
        t = db.ledger_transfer
        rows = {r.id: r for r in conn.execute(sa.select(t).where(t.c.ref == str(event_id)))}
        account = lg.balance(conn, lg.account_id(TENANT, PROGRAM, lg.Kind.CUSTOMER, ANA))
        overdrafts = rep.open_overdrafts(conn, TENANT, PROGRAM)
    hold, post = rows[lg.derived_id(event_id, "hold")], rows[lg.derived_id(event_id, "hold-post")]
    assert (hold.state, hold.flags & lg.TransferFlag.OFFLINE, post.state, post.pending_id) == (
        "pending",
        lg.TransferFlag.OFFLINE,
        "posted",
        hold.id,
    )
    assert (account.posted, account.debits_pending, account.floor_points) == (-45, 0, -100)
    assert overdrafts == []
    check(engine)


def test_an_online_redemption_beyond_the_balance_the_counter_honoured_becomes_an_overdraft(engine: Engine) -> None:
    enrol(engine, ANA)
    # Online, 120 points where the allowance lets a customer go 100 below zero (8.00 MXN of money earn nothing):
    # the offline rule does not apply, nothing is voided.
    ingest(engine, message("box-b", sale("store-b", ANA, redeemed=120, amount=2_000)))
    assert posted(engine, ANA) == -120
    assert [kind for kind, _ in alerts(engine)] == ["points_overdraft"]
    with engine.connect() as conn:
        assert [o.shortfall_points for o in rep.open_overdrafts(conn, TENANT, PROGRAM)] == [20]
        assert postings.voided_redemptions(conn, TENANT) == []


def test_two_boxes_spending_the_same_points_offline_void_what_goes_beyond_the_allowance(engine: Engine) -> None:
    enrol(engine, ANA)
    # 1015.00 MXN, 15.00 off from 200.00 in the default promotions: 1000.00 earn 150 points.
    ingest(engine, message("box-a", sale("store-a", ANA, earned=150, amount=101_500)))
    # Both boxes are offline and know 150 points: each lets Ana pay 15.00 MXN with all of them.
    first = sale("store-a", ANA, redeemed=150, hold=150, amount=1_500)
    second = sale("store-b", ANA, redeemed=150, hold=150, amount=1_500)
    ingest(engine, message("box-a", first, at=T0 + timedelta(hours=1)))
    assert posted(engine, ANA) == 0 and alerts(engine) == []
    late = message("box-b", second, at=T0 + timedelta(hours=2))
    ingest(engine, late)
    ingest(engine, late)  # a replay voids nothing more

    # Posted down to minus the allowance and no further; the rest voided, kept and alerted.
    assert posted(engine, ANA) == -ALLOWANCE
    with engine.connect() as conn:
        assert rep.open_overdrafts(conn, TENANT, PROGRAM) == []
        [voided] = postings.voided_redemptions(conn, TENANT)
        held = conn.execute(sa.select(db.ledger_transfer).where(db.ledger_transfer.c.ref == str(voided.event_id))).all()
    where = (voided.store, voided.retailer, voided.customer, voided.sale_id)
    assert where == ("store-b", "shop-b", ANA, second.sale_id)
    assert (voided.hold_points, voided.posted_points, voided.voided_points) == (150, 100, 50)
    assert (voided.available_points, voided.allowance_points) == (0, ALLOWANCE)
    assert sorted((t.state, t.amount) for t in held) == [("pending", 100), ("posted", 100)]
    [(kind, detail)] = alerts(engine)
    assert kind == "points_voided"
    assert detail.startswith(
        f"50 of the 150 points customer {ANA} redeemed offline at store store-b (sale {second.sale_id}) voided, "
        "100 posted: the customer had 0 points at the hub and may go no lower than -100"
    )
    check(engine)

    # Settlement: each store is paid for the points the hub posted at its counter; the voided 50 are shop-b's.
    with engine.begin() as conn:
        statement = rep.settle_period(
            conn,
            TENANT,
            PROGRAM,
            period_start=T0 - timedelta(days=1),
            period_end=T0 + timedelta(days=1),
            now=T0 + timedelta(days=2),
        )
    lines = {line.party: (line.accepted_points, line.funded_points, line.net_minor) for line in statement.lines}
    # 10 points pay 1.00 MXN. The distributor funded Ana's 150 points and bears the 100 of her allowance.
    assert lines == {"shop-a": (150, 0, 1_500), "shop-b": (100, 0, 1_000), lg.DISTRIBUTOR: (0, 250, -2_500)}
    assert sum(line.net_minor for line in statement.lines) == 0
    check(engine)


def test_a_refund_of_a_partly_voided_redemption_gives_back_only_the_points_posted(engine: Engine) -> None:
    enrol(engine, ANA)
    ingest(engine, message("box-a", sale("store-a", ANA, earned=150, amount=101_500)))
    ingest(engine, message("box-a", sale("store-a", ANA, redeemed=150, hold=150, amount=1_500)))
    second = sale("store-b", ANA, redeemed=150, hold=150, amount=1_500)
    ingest(engine, message("box-b", second))
    assert posted(engine, ANA) == -ALLOWANCE
    # The box pays the 150 points back; the hub had taken 100 of them.
    ingest(engine, message("box-b", refund(second, reversed_points=0, returned_points=150)))
    assert posted(engine, ANA) == 0 and posted(engine, "shop-b", lg.Kind.RETAILER) == 0
    check(engine)


OFFLINE_EXAMPLES = 25
"""Random runs of the property below, on each database."""
STORES = (("store-a", "shop-a"), ("store-b", "shop-b"), ("store-c", "shop-c"))
_customers = itertools.count(100)

redemption = st.tuples(
    st.sampled_from([store for store, _ in STORES]),
    st.integers(1, 30).map(lambda steps: steps * 10),  # the default program spends 10 points at a time
    st.integers(0, 40),  # points the same sale earns
)


@settings(
    max_examples=OFFLINE_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    allowance=st.sampled_from([0, 50, 100, 200]),
    snapshot=st.integers(0, 300),
    redemptions=st.lists(redemption, min_size=1, max_size=6),
)
def test_offline_redemptions_at_several_stores_never_take_a_customer_below_minus_the_allowance(
    engine: Engine, allowance: int, snapshot: int, redemptions: list[tuple[str, int, int]]
) -> None:
    customer = identity.make(PREFIX, next(_customers))  # a customer of their own in every example
    with engine.begin() as conn:
        for store, retailer in STORES:
            add_store(conn, store, retailer, allowance)
    if snapshot:
        ingest(engine, message("box-a", sale("store-a", customer, earned=snapshot, amount=100_000)))
    # Every box knew the snapshot and spent from it offline; the hub sees the sales one after the other.
    held = voided = 0
    for store, points, earned in redemptions:
        ingest(
            engine,
            message(store.replace("store", "box"), sale(store, customer, redeemed=points, hold=points, earned=earned)),
        )
        held += points
        assert posted(engine, customer) >= -allowance
    with engine.connect() as conn:
        account = lg.balance(conn, lg.account_id(TENANT, PROGRAM, lg.Kind.CUSTOMER, customer))
        mine = [v for v in postings.voided_redemptions(conn, TENANT) if v.customer == customer]
        voided = sum(v.voided_points for v in mine)
        assert rep.open_overdrafts(conn, TENANT, PROGRAM) == []
        assert rep.check_ledger(conn, TENANT, PROGRAM) == []
    assert account.debits_pending == 0
    # Every point held is either posted or voided, and voided points were alerted.
    earned_total = snapshot + sum(earned for _, _, earned in redemptions)
    assert account.posted == earned_total - (held - voided)
    assert len([k for k, d in alerts(engine) if k == "points_voided" and customer in d]) == len(mine)


def test_a_retailer_earns_merchant_points_once_per_consumer_it_enrols(engine: Engine) -> None:
    first = enrol(engine, ANA)
    enrol(engine, BEA, store="store-b", device="box-b")
    ingest(
        engine,
        message(
            "box-a",
            wire.EnrolmentData(customer=ANA, store="store-a", fields=wire.CustomerFields(name="Ana", sticker=ANA)),
        ),
    )
    with engine.connect() as conn:
        rules = merchant.merchant_rules(conn, TENANT)
        assert merchant.merchant_balance(conn, TENANT, "shop-a") == rules.enrolment_points == 50
        assert merchant.merchant_balance(conn, TENANT, "shop-b") == 50
    with engine.begin() as conn:
        events = [(wire.decode(wire.Topic.parse(first.topic), first.payload), first.received_at)]
        assert postings.post_events(conn, events).enrolments == 0
        assert merchant.merchant_balance(conn, TENANT, "shop-a") == 50


def test_purchases_from_the_distributor_earn_merchant_points_once_per_order(engine: Engine) -> None:
    with engine.begin() as conn:
        assert merchant.record_purchase(conn, TENANT, "shop-a", 2_599_000, "PO-17", now=T0) == 259
        assert merchant.record_purchase(conn, TENANT, "shop-a", 2_599_000, "PO-17", now=T0) == 259
        assert merchant.merchant_balance(conn, TENANT, "shop-a") == 259
        with pytest.raises(InvalidInput, match="amount_minor"):
            merchant.record_purchase(conn, TENANT, "shop-a", -1, "PO-18", now=T0)


def test_a_target_is_awarded_once_per_retailer_and_period(engine: Engine) -> None:
    rules = merchant.MerchantRules(
        targets=(
            merchant.Target(id="three-sales", metric="count", at_least=3, points=70),
            merchant.Target(id="big-month", metric="value", at_least=1_000_000, points=500),
        )
    )
    with engine.begin() as conn:
        merchant.set_merchant_rules(conn, TENANT, rules, now=T0)
    ingest(engine, *(message("box-a", sale("store-a", None)) for _ in range(3)))
    ingest(engine, message("box-b", sale("store-b", None)))
    ingest(engine, message("box-a", sale("store-a", None), at=T0 + timedelta(days=30)))  # April: not March
    with engine.begin() as conn:
        awarded = merchant.award_targets(conn, TENANT, "2026-03", now=T0)
        assert awarded == [merchant.TargetAward("shop-a", "three-sales", 3, 70)]
        assert merchant.award_targets(conn, TENANT, "2026-03", now=T0) == []
        assert merchant.award_targets(conn, TENANT, "2026-04", now=T0) == []
        assert merchant.merchant_balance(conn, TENANT, "shop-a") == 70
        assert merchant.merchant_balance(conn, TENANT, "shop-b") == 0
        with pytest.raises(InvalidInput, match="period"):
            merchant.award_targets(conn, TENANT, "2026-13")


def event_id_of(item: Incoming) -> uuid.UUID:
    found, _seq = wire.peek_id(item.payload)
    assert found is not None
    return found


def deadlock() -> sa.exc.OperationalError:
    return sa.exc.OperationalError(
        "INSERT INTO ledger_account", {}, psycopg.errors.DeadlockDetected('deadlock detected in "ledger_account"')
    )


def test_a_batch_that_meets_a_deadlock_is_tried_again_and_commits_with_its_postings(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(engine, ANA)
    real = postings._post_sale  # type: ignore[attr-defined]
    tries: list[uuid.UUID] = []

    def deadlocked_twice(batch: Any, msg: wire.Message, data: wire.SaleData) -> None:
        tries.append(msg.envelope.id)
        if len(tries) <= 2:
            raise deadlock()
        real(batch, msg, data)

    monkeypatch.setattr(postings, "_post_sale", deadlocked_twice)
    monkeypatch.setattr(hub_ingest, "CONFLICT_RETRY_MIN_S", 0.001)
    result = hub_ingest.commit_batch(engine, [message("box-a", sale("store-a", ANA, earned=15))])
    assert result.committed == 1 and len(tries) == 3
    assert posted(engine, ANA) == 15 and alerts(engine) == []
    check(engine)


def test_a_batch_still_deadlocked_after_its_retries_is_left_uncommitted_for_the_worker_to_retry(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(engine, ANA)

    def always_deadlocked(batch: Any, msg: wire.Message, data: wire.SaleData) -> None:
        raise deadlock()

    monkeypatch.setattr(postings, "_post_sale", always_deadlocked)
    monkeypatch.setattr(hub_ingest, "CONFLICT_RETRY_MIN_S", 0.001)
    item = message("box-a", sale("store-a", ANA, earned=15))
    with pytest.raises(sa.exc.OperationalError, match="deadlock"):
        hub_ingest.commit_batch(engine, [item])
    with engine.connect() as conn:  # nothing of it committed: the worker keeps the batch, unacknowledged
        assert conn.execute(sa.select(db.inbox).where(db.inbox.c.event_id == event_id_of(item))).first() is None
        assert conn.execute(sa.select(db.posting).where(db.posting.c.type == "sale")).first() is None
    assert alerts(engine) == []


def test_an_event_whose_postings_fail_is_neither_committed_nor_acked_and_goes_in_when_sent_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(engine, ANA)
    bad = message("box-a", sale("store-a", ANA, earned=15))
    good = message("box-a", sale("store-a", ANA, earned=15))
    real = postings._post_sale  # type: ignore[attr-defined]

    def broken_for_one(batch: Any, msg: wire.Message, data: wire.SaleData) -> None:
        if msg.envelope.id == event_id_of(bad):
            raise lg.LedgerError("injected: the ledger cannot take this sale now")
        real(batch, msg, data)

    monkeypatch.setattr(postings, "_post_sale", broken_for_one)
    result = hub_ingest.commit_batch(engine, [bad, good])
    assert {a.id: a.status for a in result.acks[TENANT, "box-a"]} == {event_id_of(good): "committed"}
    with engine.connect() as conn:
        seen = set(conn.execute(sa.select(db.inbox.c.event_id)).scalars())
        assert event_id_of(bad) not in seen and event_id_of(good) in seen
        assert conn.execute(sa.select(db.sale).where(db.sale.c.event_id == event_id_of(bad))).first() is None
    assert posted(engine, ANA) == 15
    [(kind, detail)] = alerts(engine)
    assert kind == "posting_failed" and "injected" in detail and "sends it again" in detail
    monkeypatch.setattr(postings, "_post_sale", real)
    again = hub_ingest.commit_batch(engine, [bad])  # the box sends it again
    assert [a.status for a in again.acks[TENANT, "box-a"]] == ["committed"]
    assert posted(engine, ANA) == 30
    check(engine)


def test_two_workers_posting_for_the_same_new_tenant_lose_no_posting(
    engine: Engine, hub_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent transactions that can deadlock: PostgreSQL (SQLite has one writer at a time)")
    carla, dora = identity.make(PREFIX, 3), identity.make(PREFIX, 4)
    with engine.begin() as conn:  # the tenant's programs are known, none of its ledger accounts exist yet
        program_points.tenant_program(conn, TENANT, now=T0)
    # Worker 1: a sale then an enrolment; worker 2: an enrolment then a sale: each takes the consumer and the
    # merchant program's issuance accounts in the other order.
    one = [message("box-a", sale("store-a", ANA, earned=15))]
    one.append(message("box-a", enrolment(BEA, "store-a")))
    two = [message("box-b", enrolment(carla, "store-b"))]
    two.append(message("box-b", sale("store-b", dora, earned=24, amount=16_000)))
    # Both workers hold the accounts of their first postings before either goes on (at most 2 s: a worker
    # that has to wait for the other's transaction cannot reach this point meanwhile).
    together = threading.Barrier(2, timeout=2.0)
    real = lg.apply_transfers
    first_call: set[int] = set()

    def apply_then_meet(*args: Any, **kwargs: Any) -> list[lg.TransferResult]:
        results = real(*args, **kwargs)
        if threading.get_ident() not in first_call:
            first_call.add(threading.get_ident())
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
        return results

    monkeypatch.setattr(lg, "apply_transfers", apply_then_meet)
    outcomes: dict[str, hub_ingest.BatchResult | BaseException] = {}

    def worker(name: str, batch: list[Incoming]) -> Callable[[], None]:
        def run() -> None:
            own = db.make_engine(hub_db_url)  # its own connection pool, as a separate worker process has
            try:
                outcomes[name] = hub_ingest.commit_batch(own, batch)
            except BaseException as exc:  # reported by the assertion below
                outcomes[name] = exc
            finally:
                own.dispose()

        return run

    threads = [threading.Thread(target=worker(n, b)) for n, b in (("one", one), ("two", two))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(o, hub_ingest.BatchResult) and o.committed == 2 for o in outcomes.values()), outcomes
    with engine.connect() as conn:
        posted_events = set(conn.execute(sa.select(db.posting.c.event_id)).scalars())
        rules = merchant.merchant_rules(conn, TENANT)
        balances = [merchant.merchant_balance(conn, TENANT, shop) for shop in ("shop-a", "shop-b")]
    assert posted_events == {event_id_of(i) for i in one + two}
    assert "posting_failed" not in [kind for kind, _ in alerts(engine)]
    assert (posted(engine, ANA), posted(engine, dora)) == (15, 24)
    assert balances == [rules.enrolment_points] * 2
    check(engine)


def enrolment(customer: str, store: str) -> wire.EnrolmentData:
    return wire.EnrolmentData(
        customer=customer, store=store, fields=wire.CustomerFields(name="Cliente", sticker=customer)
    )


def test_two_workers_sharing_customers_events_verify_every_first_sale_and_match_every_refund(
    engine: Engine, hub_db_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent transactions: PostgreSQL (SQLite has one writer at a time)")
    members = [identity.make(PREFIX, 100 + n) for n in range(12)]
    enrolments = [message("box-a", enrolment(m, "store-a")) for m in members]
    firsts = [sale("store-b", m, earned=15) for m in members]
    sales = [message("box-b", s) for s in firsts]
    refunds = [message("box-b", refund(s, reversed_points=15)) for s in firsts]
    # The shared subscription hands a customer's enrolment and refund to one worker, their sale to the other.
    # First, worker one has refunds of sales worker two has not seen yet, while worker two has sales whose
    # enrolment worker one has not seen yet; then both go on at the same time with the rest.
    half = len(members) // 2
    one = ([refunds[:half]], [enrolments[half:], enrolments[:half]])
    two = ([sales[half:]], [sales[:half], refunds[half:]])
    first_part_done = threading.Barrier(2, timeout=30)
    acks: list[wire.AckResult] = []
    errors: list[BaseException] = []

    def worker(parts: tuple[list[list[Incoming]], list[list[Incoming]]]) -> None:
        own = db.make_engine(hub_db_url)  # its own connections, as a separate worker process has
        try:
            for n, batches in enumerate(parts):
                if n:
                    first_part_done.wait()
                for batch in batches:
                    result = hub_ingest.commit_batch(own, batch)
                    acks.extend(a for results in result.acks.values() for a in results)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(parts,)) for parts in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    everything = enrolments + sales + refunds
    assert sorted(a.status for a in acks) == ["committed"] * len(everything)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.posting.c.event_id, db.posting.c.type, db.posting.c.verdict)).all()
        left_unverified = conn.execute(sa.select(db.posting_unverified)).all()
        left_waiting = conn.execute(sa.select(db.refund_waiting)).all()
    assert {r.event_id for r in rows} == {event_id_of(i) for i in everything}
    assert sorted(r.verdict for r in rows if r.type == "sale") == ["match"] * len(members)
    assert (left_unverified, left_waiting) == ([], [])
    kinds = {kind for kind, _ in alerts(engine)}
    assert not kinds & {"posting_failed", "refund_unmatched", "points_mismatch"}, alerts(engine)
    assert [posted(engine, m) for m in members] == [0] * len(members)  # each sale's points taken back
    check(engine)

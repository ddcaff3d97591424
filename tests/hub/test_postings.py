"""Box events become ledger postings through the ingest, on SQLite and PostgreSQL: earn and redeem across
retailers, recomputed points, replays, refunds, offline holds, and the merchant program."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import identity, wire
from core.errors import InvalidInput
from hub import customers, db, network, postings
from hub import ledger as lg
from hub import ledger_reports as rep
from hub.ingest import Incoming, apply_batch

TENANT = "acme"
PREFIX = 481
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
ANA = identity.make(PREFIX, 1)
BEA = identity.make(PREFIX, 2)
PROGRAM = "puntos-mostrador"  # the boxes' default program, registered for a tenant that has none
_ids = itertools.count(1)


@pytest.fixture
def engine(hub_engine: Engine) -> Engine:
    with hub_engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Acme", PREFIX, now=T0)
        for store, retailer in (("store-a", "shop-a"), ("store-b", "shop-b")):
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
                    offline_allowance_points=100,
                ),
                now=T0,
            )
            network.add_device(conn, TENANT, store.replace("store", "box"), store, now=T0)
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


def test_a_refund_of_a_sale_the_hub_never_posted_is_alerted(engine: Engine) -> None:
    ghost = sale("store-a", ANA, earned=15, sale_id="never-sent")
    ingest(engine, message("box-a", refund(ghost, reversed_points=15)))
    assert [kind for kind, _ in alerts(engine)] == ["refund_unmatched"]


def test_a_refund_that_reaches_the_hub_before_its_sale_is_posted_when_the_sale_arrives(engine: Engine) -> None:
    enrol(engine, ANA)
    paid = sale("store-a", ANA, earned=15, redeemed=10, amount=11_000)
    sold = message("box-a", paid)  # committed first at the box, but lost with a killed hub and sent again later
    ingest(engine, message("box-a", refund(paid, reversed_points=15, returned_points=10)))
    assert [kind for kind, _ in alerts(engine)] == ["refund_unmatched"]
    ingest(engine, sold)
    # The sale's points earned are taken back and its points paid given back: as if both came in order.
    assert posted(engine, ANA) == 0 and posted(engine, "shop-a", lg.Kind.RETAILER) == 0
    with engine.connect() as conn:
        p = db.posting
        verdicts = conn.execute(sa.select(p.c.type, p.c.verdict, p.c.hub_points).where(p.c.type != "enrolment")).all()
        unresolved = conn.execute(
            sa.select(sa.func.count()).select_from(db.alert).where(db.alert.c.resolved_at.is_(None))
        ).scalar_one()
    assert sorted(tuple(v) for v in verdicts) == [("refund", "posted", 15), ("sale", "match", 15)]
    assert unresolved == 0
    ingest(engine, sold)  # replayed again: nothing changes
    assert posted(engine, ANA) == 0
    check(engine)


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


def test_a_redemption_beyond_the_balance_the_counter_honoured_becomes_an_overdraft(engine: Engine) -> None:
    enrol(engine, ANA)
    # 120 points where the allowance lets a customer go 100 below zero (8.00 MXN of money earn nothing)
    ingest(engine, message("box-b", sale("store-b", ANA, redeemed=120, amount=2_000)))
    assert posted(engine, ANA) == -120
    assert [kind for kind, _ in alerts(engine)] == ["points_overdraft"]
    with engine.connect() as conn:
        assert [o.shortfall_points for o in rep.open_overdrafts(conn, TENANT, PROGRAM)] == [20]


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
        rules = postings.merchant_rules(conn, TENANT)
        assert postings.merchant_balance(conn, TENANT, "shop-a") == rules.enrolment_points == 50
        assert postings.merchant_balance(conn, TENANT, "shop-b") == 50
    with engine.begin() as conn:
        events = [(wire.decode(wire.Topic.parse(first.topic), first.payload), first.received_at)]
        assert postings.post_events(conn, events).enrolments == 0
        assert postings.merchant_balance(conn, TENANT, "shop-a") == 50


def test_purchases_from_the_distributor_earn_merchant_points_once_per_order(engine: Engine) -> None:
    with engine.begin() as conn:
        assert postings.record_purchase(conn, TENANT, "shop-a", 2_599_000, "PO-17", now=T0) == 259
        assert postings.record_purchase(conn, TENANT, "shop-a", 2_599_000, "PO-17", now=T0) == 259
        assert postings.merchant_balance(conn, TENANT, "shop-a") == 259
        with pytest.raises(InvalidInput, match="amount_minor"):
            postings.record_purchase(conn, TENANT, "shop-a", -1, "PO-18", now=T0)


def test_a_target_is_awarded_once_per_retailer_and_period(engine: Engine) -> None:
    rules = postings.MerchantRules(
        targets=(
            postings.Target(id="three-sales", metric="count", at_least=3, points=70),
            postings.Target(id="big-month", metric="value", at_least=1_000_000, points=500),
        )
    )
    with engine.begin() as conn:
        postings.set_merchant_rules(conn, TENANT, rules, now=T0)
    ingest(engine, *(message("box-a", sale("store-a", None)) for _ in range(3)))
    ingest(engine, message("box-b", sale("store-b", None)))
    ingest(engine, message("box-a", sale("store-a", None), at=T0 + timedelta(days=30)))  # April: not March
    with engine.begin() as conn:
        awarded = postings.award_targets(conn, TENANT, "2026-03", now=T0)
        assert awarded == [postings.TargetAward("shop-a", "three-sales", 3, 70)]
        assert postings.award_targets(conn, TENANT, "2026-03", now=T0) == []
        assert postings.award_targets(conn, TENANT, "2026-04", now=T0) == []
        assert postings.merchant_balance(conn, TENANT, "shop-a") == 70
        assert postings.merchant_balance(conn, TENANT, "shop-b") == 0
        with pytest.raises(InvalidInput, match="period"):
            postings.award_targets(conn, TENANT, "2026-13")

"""Customers at the hub, on SQLite and PostgreSQL: enrolments and updates applied once, consents, templates,
duplicates and merges with their points, erasure reaching the boxes' snapshot, history, tiers."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import identity, wire
from core.errors import InvalidInput
from core.points import PointsProgram
from core.tiers import DEFAULT_ACTIVITY_TIERS, DEFAULT_POINTS_TIERS
from devkit.services import MosquittoServer
from hub import customers as cu
from hub import db, network
from hub import ledger as lg
from hub.programs import tiers
from hub.publishing.retained import read_retained
from hub.publishing.snapshots import Publisher, connect_broker

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TENANT = "acme"
PROGRAM = PointsProgram(id="club", name="Club", currency="MXN")
ANA = identity.make(501, 10001)
BEA = identity.make(501, 20001)
CARLOS = identity.make(501, 10002)
TEMPLATE = base64.b64encode(b"sealed-template-bytes").decode()


@pytest.fixture
def conn(hub_engine: Engine) -> Iterator[Connection]:
    with hub_engine.begin() as c:
        network.add_tenant(c, TENANT, "Acme", 501, now=T0)
        for store, retailer in (("s1", "r1"), ("s2", "r2")):
            network.add_store(
                c,
                network.Store(
                    TENANT,
                    store,
                    retailer,
                    f"Store {store}",
                    "America/Mexico_City",
                    "MXN",
                    "mx-general",
                    "es",
                    offline_allowance_points=50,
                ),
                now=T0,
            )
        lg.register_program(c, TENANT, PROGRAM, lot_expiry_months=12, now=T0)
        yield c


_seq = iter(range(1, 1_000_000))


def event(
    c: Connection, data: wire.EnrolmentData | wire.CustomerUpdateData, *, device: str = "box-1", at: datetime = T0
) -> uuid.UUID:
    """Store a business event the way ingest does."""
    event_id = uuid.uuid4()
    seq = next(_seq)
    c.execute(
        sa.insert(db.inbox).values(
            event_id=event_id,
            tenant=TENANT,
            device=device,
            seq=seq,
            type=data.TYPE,
            payload_sha256="0" * 64,
            box_ts=at,
            received_at=at,
        )
    )
    c.execute(
        sa.insert(db.business_event).values(
            event_id=event_id,
            tenant=TENANT,
            device=device,
            seq=seq,
            type=data.TYPE,
            store=data.store,
            data=data.model_dump(mode="json"),
            box_ts=at,
            received_at=at,
        )
    )
    return event_id


def consent(granted: bool, at: datetime = T0) -> wire.Consent:
    return wire.Consent(granted=granted, at=at)


def enrol(
    c: Connection,
    lid: str,
    *,
    name: str = "Ana López",
    phone: str | None = "+525512345678",
    store: str = "s1",
    device: str = "box-1",
    at: datetime = T0,
    template: str | None = None,
    birth: date | None = None,
) -> uuid.UUID:
    fields = wire.CustomerFields(
        name=name,
        phone_e164=phone,
        birth_date=birth,
        marketing_consent=consent(True, at),
        fingerprint_consent=consent(True, at) if template else None,
        sticker=None if phone else f"MO1:{lid}",
    )
    data = wire.EnrolmentData(customer=lid, store=store, fields=fields, fingerprint_template=template)
    return event(c, data, device=device, at=at)


def update(c: Connection, lid: str, at: datetime, **fields: Any) -> uuid.UUID:
    erase_fp = fields.pop("erase_fingerprint", False)
    template = fields.pop("template", None)
    data = wire.CustomerUpdateData(
        customer=lid,
        store=fields.pop("store", "s1"),
        fields=wire.CustomerFields(**fields),
        fingerprint_template=template,
        erase_fingerprint=erase_fp,
    )
    return event(c, data, at=at)


def earn(c: Connection, lid: str, points: int, *, store: str = "s1", at: datetime = T0, redeem: int = 0) -> uuid.UUID:
    """A sale at ``store`` that earned ``points`` for ``lid``, as the sale applier books it."""
    event_id = uuid.uuid4()
    c.execute(
        sa.insert(db.inbox).values(
            event_id=event_id,
            tenant=TENANT,
            device="box-1",
            seq=next(_seq),
            type="sale",
            payload_sha256="0" * 64,
            box_ts=at,
            received_at=at,
        )
    )
    c.execute(
        sa.insert(db.sale).values(
            event_id=event_id,
            tenant=TENANT,
            device="box-1",
            store=store,
            sale_id=f"S-{event_id.hex[:8]}",
            currency="MXN",
            total_minor=10_000,
            line_count=1,
            box_ts=at,
            received_at=at,
        )
    )
    retailer = "r1" if store == "s1" else "r2"
    lg.open_accounts(c, lg.sale_accounts(TENANT, PROGRAM.id, retailer, lid, 50), now=at)
    results = lg.apply_transfers(
        c,
        lg.sale_transfers(
            tenant=TENANT,
            program=PROGRAM.id,
            event_id=event_id,
            retailer=retailer,
            customer=lid,
            distributor_points=points,
            retailer_points=0,
            redeemed_points=redeem,
            effective_at=at,
        ),
        now=at,
    )
    assert all(r.ok for r in results), results
    return event_id


def applied_at(c: Connection, event_id: uuid.UUID) -> Any:
    be = db.business_event
    return c.execute(sa.select(be.c.applied_at).where(be.c.event_id == event_id)).scalar_one()


def test_an_enrolment_is_applied_once_and_marked_applied(conn: Connection) -> None:
    eid = enrol(conn, ANA, template=TEMPLATE)
    report = cu.apply_events(conn, TENANT, now=T0)
    assert (report.applied, report.enrolled) == (1, 1)
    assert applied_at(conn, eid) is not None
    again = cu.apply_events(conn, TENANT, now=T0)
    assert again.applied == 0
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None
    assert (ana.name, ana.phone_e164, ana.enrolled_store, ana.enrolled_device) == (
        "Ana López",
        "+525512345678",
        "s1",
        "box-1",
    )
    assert ana.enrolled_on == date(2026, 3, 10)
    assert ana.marketing_consent is True and ana.fingerprint_consent is True and ana.has_template
    consents = conn.execute(sa.select(db.customer_consent).where(db.customer_consent.c.loyalty_id == ANA)).all()
    assert sorted((r.kind, r.granted) for r in consents) == [("fingerprint", True), ("marketing", True)]


def test_the_newest_value_of_each_field_wins_whatever_the_order_events_are_applied_in(conn: Connection) -> None:
    enrol(conn, ANA)
    update(conn, ANA, T0 + timedelta(hours=2), name="Ana María López")
    update(conn, ANA, T0 + timedelta(hours=1), name="Ana M. López", gender="female")
    cu.apply_events(conn, TENANT, now=T0)
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None
    assert ana.name == "Ana María López"
    assert ana.gender == "female"


def test_an_update_that_arrives_before_its_enrolment_is_kept_and_the_enrolment_fills_the_rest(conn: Connection) -> None:
    update(conn, ANA, T0 + timedelta(hours=1), name="Ana María", store="s2")
    cu.apply_events(conn, TENANT, now=T0)
    enrol(conn, ANA, name="Ana", at=T0)
    cu.apply_events(conn, TENANT, now=T0)
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None
    assert (ana.name, ana.enrolled_store, ana.phone_e164) == ("Ana María", "s1", "+525512345678")


def test_withdrawing_fingerprint_consent_deletes_the_template_and_keeps_the_history(conn: Connection) -> None:
    enrol(conn, ANA, template=TEMPLATE)
    update(conn, ANA, T0 + timedelta(days=1), erase_fingerprint=True)
    cu.apply_events(conn, TENANT, now=T0)
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None and ana.fingerprint_consent is False and not ana.has_template
    history = [
        (r.kind, r.granted)
        for r in conn.execute(
            sa.select(db.customer_consent)
            .where(db.customer_consent.c.kind == "fingerprint")
            .order_by(db.customer_consent.c.at)
        )
    ]
    assert history == [("fingerprint", True), ("fingerprint", False)]


def test_a_template_without_a_standing_consent_is_not_stored(conn: Connection) -> None:
    enrol(conn, ANA)
    update(conn, ANA, T0 + timedelta(days=1), fingerprint_consent=consent(False, T0 + timedelta(days=1)))
    cu.apply_events(conn, TENANT, now=T0)
    cu.set_consent(conn, TENANT, ANA, "fingerprint", False, at=T0 + timedelta(days=2), now=T0)
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None and not ana.has_template and ana.fingerprint_consent is False


def test_two_boxes_enrolling_the_same_phone_offline_are_reported_as_duplicates(conn: Connection) -> None:
    enrol(conn, ANA, device="box-1")
    enrol(conn, BEA, device="box-2", store="s2", name="Ana Lopez")
    report = cu.apply_events(conn, TENANT, now=T0)
    assert report.duplicates == 1
    assert [(d.loyalty_id, d.other_id, d.reason) for d in cu.duplicates(conn, TENANT)] == [(ANA, BEA, "phone")]


def test_the_duplicate_scan_finds_the_same_name_and_birth_date(conn: Connection) -> None:
    enrol(conn, ANA, phone="+525500000001", birth=date(1990, 5, 1))
    enrol(conn, BEA, phone="+525500000002", name="ana  lópez", birth=date(1990, 5, 1))
    cu.apply_events(conn, TENANT, now=T0)
    found = cu.find_duplicates(conn, TENANT, now=T0)
    assert [(d.loyalty_id, d.other_id, d.reason) for d in found] == [(ANA, BEA, "name_birth")]
    cu.dismiss_duplicate(conn, TENANT, BEA, ANA, now=T0)
    assert cu.duplicates(conn, TENANT) == []


def test_a_merge_moves_the_points_through_the_ledger_and_makes_the_other_id_an_alias(conn: Connection) -> None:
    enrol(conn, ANA, template=TEMPLATE)
    enrol(conn, BEA, device="box-2", store="s2", phone=None)
    cu.apply_events(conn, TENANT, now=T0)
    earn(conn, ANA, 100)
    earn(conn, BEA, 40, store="s2")
    result = cu.merge(conn, TENANT, ANA, BEA, now=T0 + timedelta(days=1))
    assert result.transfers[0]["points"] == 40 and result.transfers[0]["status"] == "created"
    assert cu.resolve(conn, TENANT, BEA) == ANA
    bal = cu.balance(conn, TENANT, BEA, PROGRAM.id)
    assert (bal.loyalty_id, bal.posted, bal.available) == (ANA, 140, 140)
    assert bal.by_store == {"s1": (100, 0), "s2": (40, 0)}
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None and ana.sticker == f"MO1:{BEA}" and ana.aliases == (BEA,)
    # Merging again moves nothing twice.
    again = cu.merge(conn, TENANT, ANA, BEA, now=T0 + timedelta(days=2))
    assert again.transfers == ()
    assert cu.balance(conn, TENANT, ANA, PROGRAM.id).posted == 140
    # Events naming the old id apply to the survivor.
    update(conn, BEA, T0 + timedelta(days=3), gender="female")
    cu.apply_events(conn, TENANT, now=T0)
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None and ana.gender == "female"


def test_a_customer_cannot_be_merged_into_itself_or_into_an_unknown_id(conn: Connection) -> None:
    enrol(conn, ANA)
    cu.apply_events(conn, TENANT, now=T0)
    with pytest.raises(InvalidInput, match="survivor itself"):
        cu.merge(conn, TENANT, ANA, ANA, now=T0)
    with pytest.raises(cu.UnknownCustomer):
        cu.merge(conn, TENANT, ANA, CARLOS, now=T0)
    with pytest.raises(InvalidInput, match=r"check digit|loyalty"):
        cu.merge(conn, TENANT, ANA, "501000100019", now=T0)


def test_erasure_removes_personal_data_everywhere_and_reaches_every_box(conn: Connection) -> None:
    eid = enrol(conn, ANA, template=TEMPLATE)
    cu.apply_events(conn, TENANT, now=T0)
    earn(conn, ANA, 30)
    erased = cu.erase(conn, TENANT, ANA, now=T0 + timedelta(days=5))
    assert erased == [ANA]
    ana = cu.get_customer(conn, TENANT, ANA)
    assert ana is not None and ana.state == "erased"
    assert (ana.name, ana.phone_e164, ana.has_template, ana.marketing_consent, ana.fingerprint_consent) == (
        None,
        None,
        False,
        False,
        False,
    )
    stored = conn.execute(sa.select(db.business_event.c.data).where(db.business_event.c.event_id == eid)).scalar_one()
    assert "López" not in json.dumps(stored) and TEMPLATE not in json.dumps(stored)
    for store in ("s1", "s2"):
        body = cu.customers_body(conn, TENANT, store, program=PROGRAM, now=T0 + timedelta(days=6))
        wire.CustomersBody.model_validate(body)
        assert body["erased"] == [ANA]
        assert all(c["loyalty_id"] != ANA for c in body["customers"])
    # A late update from a box that had not heard yet does not bring the data back.
    late = update(conn, ANA, T0 + timedelta(days=4), name="Ana")
    report = cu.apply_events(conn, TENANT, now=T0)
    assert report.ignored == 1
    assert cu.get_customer(conn, TENANT, ANA).name is None  # type: ignore[union-attr]
    assert "Ana" not in json.dumps(
        conn.execute(sa.select(db.business_event.c.data).where(db.business_event.c.event_id == late)).scalar_one()
    )


def test_the_snapshot_lists_the_stores_regulars_with_balance_tier_and_template(conn: Connection) -> None:
    enrol(conn, ANA, template=TEMPLATE)
    enrol(conn, BEA, store="s2", device="box-2", phone="+525500000009", at=T0 - timedelta(days=200))
    enrol(conn, CARLOS, store="s2", device="box-2", phone="+525500000010")
    cu.apply_events(conn, TENANT, now=T0)
    earn(conn, BEA, 70, store="s1", at=T0 - timedelta(days=3))  # BEA enrolled long ago at s2, shops at s1 now
    earn(conn, ANA, 20, store="s1", at=T0 - timedelta(days=1))
    body = cu.customers_body(conn, TENANT, "s1", program=PROGRAM, now=T0 + timedelta(days=1))
    parsed = wire.CustomersBody.model_validate(body)
    # The store's regulars first; then the rest of the network, so Carlos is found by phone here too.
    assert [c.loyalty_id for c in parsed.customers] == [ANA, BEA, CARLOS]
    ana, bea, carlos = parsed.customers
    assert (ana.balance_points, ana.offline_allowance_points, ana.fingerprint_template) == (20, 50, TEMPLATE)
    assert (bea.balance_points, bea.fingerprint_template) == (70, None)
    assert carlos.phone_e164 == "+525500000010"
    others = wire.CustomersBody.model_validate(cu.customers_body(conn, TENANT, "s2", program=PROGRAM, now=T0))
    assert others.customers[0].loyalty_id == CARLOS
    # A regular of another store travels without their fingerprint template.
    assert all(c.fingerprint_template is None for c in others.customers)
    assert [
        c.loyalty_id
        for c in wire.CustomersBody.model_validate(
            cu.customers_body(conn, TENANT, "s2", program=PROGRAM, now=T0, limit=1)
        ).customers
    ] == [CARLOS]


def test_history_spans_stores_newest_first(conn: Connection) -> None:
    enrol(conn, ANA)
    cu.apply_events(conn, TENANT, now=T0)
    earn(conn, ANA, 100, store="s1", at=T0 + timedelta(days=1))
    earn(conn, ANA, 5, store="s2", at=T0 + timedelta(days=2), redeem=50)
    entries = cu.history(conn, TENANT, ANA)
    kinds = [(e.kind, e.store, e.points) for e in entries]
    assert ("earn", "s1", 100) in kinds and ("redeem", "s2", -50) in kinds and ("earn", "s2", 5) in kinds
    assert entries[-1].kind in ("enrolment", "marketing_consent")
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)


def test_tiers_upgrade_at_once_and_downgrade_only_after_the_grace_period() -> None:
    rules = tiers.TierRules(grace_periods=1)
    scheme = DEFAULT_POINTS_TIERS
    start = tiers.TierState()
    up = tiers.decide_tier(scheme, rules, start, value_now=1200, closed_value=None, now=T0)
    assert (up.change, up.state.tier_id) == ("upgrade", "silver")
    mid = tiers.decide_tier(scheme, rules, up.state, value_now=100, closed_value=None, now=T0 + timedelta(days=3))
    assert (mid.change, mid.state.tier_id) == ("kept", "silver")
    first_end = tiers.decide_tier(
        scheme, rules, mid.state, value_now=100, closed_value=600, now=T0 + timedelta(days=30)
    )
    assert (first_end.change, first_end.state.tier_id, first_end.state.grace_used) == ("kept", "silver", 1)
    second_end = tiers.decide_tier(
        scheme, rules, first_end.state, value_now=100, closed_value=600, now=T0 + timedelta(days=60)
    )
    assert (second_end.change, second_end.state.tier_id) == ("downgrade", "bronze")
    immediate = tiers.decide_tier(
        scheme, tiers.TierRules(downgrade="immediate"), up.state, value_now=0, closed_value=None, now=T0
    )
    assert (immediate.change, immediate.state.tier_id) == ("downgrade", None)


def test_a_recomputed_tier_is_stored_and_sent_so_the_box_classifies_it_the_same(conn: Connection) -> None:
    enrol(conn, ANA)
    cu.apply_events(conn, TENANT, now=T0)
    earn(conn, ANA, 1100, at=T0 - timedelta(days=20))
    decision = tiers.recompute_tier(conn, TENANT, ANA, PROGRAM, tiers.TierRules(), now=T0)
    assert (decision.change, decision.state.tier_id, decision.state.value) == ("upgrade", "silver", 1100)
    # With a one-month window the points no longer count two weeks later, but the tier holds: no period closed.
    short = tiers.TierRules(points_window_months=1)
    held = tiers.recompute_tier(conn, TENANT, ANA, PROGRAM, short, now=T0 + timedelta(days=15))
    assert (held.change, held.state.tier_id, held.state.value) == ("kept", "silver", 0)
    body = cu.customers_body(conn, TENANT, "s1", program=PROGRAM, now=T0 + timedelta(days=15))
    record = wire.CustomersBody.model_validate(body).customers[0]
    assert record.tier_points == 1000  # Silver's minimum: the box classifies Silver too
    # March closed with no qualifying points and no grace period: down at the next review.
    after = tiers.recompute_tier(conn, TENANT, ANA, PROGRAM, short, now=T0 + timedelta(days=40))
    assert (after.change, after.previous, after.state.tier_id) == ("downgrade", "silver", None)


def test_activity_tiers_count_transactions_in_the_month(conn: Connection) -> None:
    enrol(conn, ANA)
    cu.apply_events(conn, TENANT, now=T0)
    for day in range(3):
        earn(conn, ANA, 1, at=T0 + timedelta(hours=day))
    value = tiers.tier_value(
        conn,
        TENANT,
        ANA,
        PROGRAM.id,
        DEFAULT_ACTIVITY_TIERS.basis,
        datetime(2026, 3, 1, tzinfo=UTC),
        T0 + timedelta(days=1),
    )
    assert value == 3
    program = PROGRAM.model_copy(update={"tiers": DEFAULT_ACTIVITY_TIERS})
    decision = tiers.recompute_tier(conn, TENANT, ANA, program, tiers.TierRules(), now=T0 + timedelta(days=1))
    assert decision.state.tier_id == "level_1" and decision.state.value == 3


def test_an_erasure_is_published_to_every_box_of_the_network(
    hub_engine: Engine, conn: Connection, broker: MosquittoServer
) -> None:
    network.add_device(conn, TENANT, "box-1", "s1", now=T0)
    network.add_device(conn, TENANT, "box-2", "s2", now=T0)
    enrol(conn, ANA, template=TEMPLATE)
    cu.apply_events(conn, TENANT, now=T0)
    cu.erase(conn, TENANT, ANA, now=T0)
    conn.commit()
    client = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    try:
        outcomes = cu.publish_to_boxes(Publisher(hub_engine, client), TENANT, PROGRAM, now=T0)
        assert sorted((o.device, o.error) for o in outcomes) == [("box-1", None), ("box-2", None)]
        for device in ("box-1", "box-2"):
            manifest = read_retained(client, TENANT, device, "customers").manifest
            assert manifest is not None
            with hub_engine.connect() as c:
                body = cu.customers_body(c, TENANT, "s1" if device == "box-1" else "s2", program=PROGRAM, now=T0)
                sent = {**body, "watermark_seq": cu.watermark_seq(c, TENANT, device)}
            assert manifest.sha256 == hashlib.sha256(wire.config_body_json(sent)).hexdigest()
            assert body["erased"] == [ANA]
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_customer_erased_while_the_snapshot_is_read_is_never_both_a_customer_and_erased(
    hub_engine: Engine, conn: Connection
) -> None:
    enrol(conn, ANA)
    enrol(conn, BEA, phone="+525587654321")
    cu.apply_events(conn, TENANT, now=T0)
    conn.commit()
    erased_now: list[str] = []

    def erase_midway(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The erasure commits, from another connection, just before the snapshot reads the erased list.
        if "customer_erased" in statement and not erased_now:
            with hub_engine.begin() as writer:
                erased_now.extend(cu.erase(writer, TENANT, ANA, now=T0 + timedelta(hours=1)))

    with hub_engine.connect() as reader:
        sa.event.listen(reader, "before_cursor_execute", erase_midway)
        body = cu.customers_body(reader, TENANT, "s1", program=PROGRAM, now=T0 + timedelta(hours=2))
    assert erased_now == [ANA]
    wire.CustomersBody.model_validate(body)
    assert ANA not in [c["loyalty_id"] for c in body["customers"]]
    assert [c["loyalty_id"] for c in body["customers"]] == [BEA]


def _committed(c: Connection, device: str, *seqs: int) -> None:
    """Events of ``device`` with these seqs, committed as ingest commits them (their effects do not matter)."""
    c.execute(
        sa.insert(db.inbox),
        [
            {
                "event_id": uuid.uuid4(),
                "tenant": TENANT,
                "device": device,
                "seq": seq,
                "type": "stock_count",
                "payload_sha256": "0" * 64,
                "box_ts": T0,
                "received_at": T0,
            }
            for seq in seqs
        ],
    )


def _refused(c: Connection, device: str, seq: int) -> None:
    """An event of ``device`` the hub refused for good, as ingest keeps it among the dead letters."""
    payload = json.dumps({"v": 1, "id": str(uuid.uuid4()), "seq": seq, "type": "sale", "data": {}}).encode()
    c.execute(
        sa.insert(db.dead_letter).values(
            received_at=T0,
            topic=f"mo/v1/{TENANT}/{device}/evt/sale",
            tenant=TENANT,
            device=device,
            event_id=None,
            reason="bad_payload",
            detail="test",
            payload=payload,
            payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
        )
    )


def test_the_watermark_stops_below_a_box_event_not_committed_yet(conn: Connection) -> None:
    assert cu.watermark_seq(conn, TENANT, "box-1") == 0, "no event of the box committed"
    _committed(conn, "box-1", 1, 2, 3, 5, 6)
    _committed(conn, "box-2", 1, 2, 3, 4, 5, 6, 7)
    # Another ingest worker committed 5 and 6 before 4: a snapshot stating 6 would make the box forget 4.
    assert cu.watermark_seq(conn, TENANT, "box-1") == 3
    assert cu.watermark_seq(conn, TENANT, "box-2") == 7
    _committed(conn, "box-1", 4)
    assert cu.watermark_seq(conn, TENANT, "box-1") == 6


def test_an_event_refused_for_good_does_not_hold_the_watermark_back(conn: Connection) -> None:
    _committed(conn, "box-1", 1, 2, 4)
    _refused(conn, "box-1", 3)
    _refused(conn, "box-2", 5)
    assert cu.watermark_seq(conn, TENANT, "box-1") == 4


def test_each_box_of_a_store_gets_the_watermark_of_its_own_events(
    hub_engine: Engine, conn: Connection, broker: MosquittoServer
) -> None:
    network.add_device(conn, TENANT, "box-1", "s1", now=T0)
    network.add_device(conn, TENANT, "box-3", "s1", now=T0)
    _committed(conn, "box-1", 1, 2, 3)
    conn.commit()
    client = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    try:
        outcomes = cu.publish_to_boxes(Publisher(hub_engine, client), TENANT, PROGRAM, stores=["s1"], now=T0)
        assert sorted((o.device, o.error) for o in outcomes) == [("box-1", None), ("box-3", None)]
        with hub_engine.connect() as c:
            body = cu.customers_body(c, TENANT, "s1", program=PROGRAM, now=T0)
        for device, watermark in (("box-1", 3), ("box-3", 0)):
            manifest = read_retained(client, TENANT, device, "customers").manifest
            assert manifest is not None
            sent = wire.config_body_json({**body, "watermark_seq": watermark})
            assert manifest.sha256 == hashlib.sha256(sent).hexdigest()
            parsed = wire.decode_config_body("customers", sent)
            assert isinstance(parsed, wire.CustomersBody) and parsed.watermark_seq == watermark
    finally:
        client.loop_stop()
        client.disconnect()

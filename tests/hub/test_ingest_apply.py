"""Batched apply on SQLite and PostgreSQL: inbox idempotency, conflicts, dead letters, device status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import wire
from hub import db
from hub.ingest.worker import Incoming, apply_batch, encode_acks

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOPIC = "mo/v1/acme/box-1/evt/sale"


def sale_payload(n: int, *, total: int = 1000, device: str = "box-1") -> tuple[wire.Topic, bytes, wire.AckResult]:
    event_id = wire.uuid7(1_795_000_000_000 + n, n.to_bytes(10, "big"))
    data = wire.SaleData(
        sale_id=f"s-{n}",
        store="store-1",
        currency="MXN",
        lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=total, amount_minor=total)],
        total_minor=total,
    )
    raw = wire.encode(id=event_id, seq=n, ts=NOW, device=device, data=data)
    return (
        wire.event_topic("acme", device, "sale"),
        raw,
        wire.AckResult(id=event_id, seq=n, status="committed"),
    )


def incoming(topic: wire.Topic | str, raw: bytes) -> Incoming:
    return Incoming(str(topic), raw, NOW)


def apply(engine: Engine, *items: Incoming):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return apply_batch(conn, list(items))


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_batch_of_sales_is_committed_once_with_its_lines(hub_engine: Engine) -> None:
    items = [sale_payload(n, total=100 * n) for n in range(1, 6)]
    result = apply(hub_engine, *(incoming(t, r) for t, r, _ in items))
    assert result.committed == 5
    assert [a.status for a in result.acks["acme", "box-1"]] == ["committed"] * 5
    with hub_engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(db.sale.c.total_minor))).scalar_one()
    assert total == 100 * (1 + 2 + 3 + 4 + 5)
    assert count(hub_engine, db.sale_line) == 5 and count(hub_engine, db.inbox) == 5


def test_replaying_an_event_re_acks_it_as_duplicate_without_effect(hub_engine: Engine) -> None:
    topic, raw, _ = sale_payload(1)
    apply(hub_engine, incoming(topic, raw))
    again = apply(hub_engine, incoming(topic, raw), incoming(topic, raw))
    assert again.committed == 0 and again.duplicates == 2
    assert [a.status for a in again.acks["acme", "box-1"]] == ["duplicate", "duplicate"]
    assert count(hub_engine, db.sale) == 1


def test_the_same_event_twice_in_one_batch_is_applied_once(hub_engine: Engine) -> None:
    topic, raw, _ = sale_payload(1)
    result = apply(hub_engine, incoming(topic, raw), incoming(topic, raw))
    assert (result.committed, result.duplicates) == (1, 1)
    assert count(hub_engine, db.sale) == 1


def test_a_known_id_with_a_different_payload_is_rejected_dead_lettered_and_alerted(
    hub_engine: Engine,
) -> None:
    topic, raw, ack = sale_payload(1)
    apply(hub_engine, incoming(topic, raw))
    forged = json.loads(raw)
    forged["data"]["lines"][0].update(unit_price_minor=1, amount_minor=1)
    forged["data"]["total_minor"] = 1
    result = apply(hub_engine, incoming(topic, json.dumps(forged).encode()))
    assert result.conflicts == 1
    [verdict] = result.acks["acme", "box-1"]
    assert (verdict.id, verdict.status, verdict.reason) == (ack.id, "rejected", "id_conflict")
    with hub_engine.connect() as conn:
        assert conn.execute(sa.select(db.sale.c.total_minor)).scalar_one() == 1000
        assert conn.execute(sa.select(db.dead_letter.c.reason)).scalar_one() == "id_conflict"
        assert conn.execute(sa.select(db.alert.c.kind, db.alert.c.event_id)).one() == ("id_conflict", ack.id)


def test_bad_messages_become_dead_letters_and_do_not_stop_good_ones(hub_engine: Engine) -> None:
    good_topic, good, _ = sale_payload(1)
    _, wrong_device, _ = sale_payload(2, device="box-2")
    v2 = json.loads(sale_payload(3)[1])
    v2["v"] = 2
    result = apply(
        hub_engine,
        incoming(TOPIC, b"{oops"),
        incoming(TOPIC, b"x" * (wire.MAX_PAYLOAD_BYTES + 1)),
        incoming(TOPIC, json.dumps(v2).encode()),
        incoming(TOPIC, wrong_device),
        incoming("mo/v1/acme/box-1/evt", b"{}"),
        incoming(good_topic, good),
    )
    assert result.committed == 1 and result.dead_letters == 5
    with hub_engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.dead_letter.c.reason, db.dead_letter.c.payload_size, db.dead_letter.c.detail).order_by(
                db.dead_letter.c.id
            )
        ).all()
    assert [r.reason for r in rows] == [
        "malformed_json",
        "oversized",
        "unsupported_version",
        "device_mismatch",
        "bad_topic",
    ]
    assert rows[1].payload_size == wire.MAX_PAYLOAD_BYTES + 1
    assert all(r.detail for r in rows)
    # The box whose event was refused is told so, by id, and keeps it aside instead of retrying forever.
    statuses = sorted(a.status for a in result.acks["acme", "box-1"])
    assert statuses == ["committed", "rejected", "rejected"]


def test_device_status_keeps_the_newest_connection(hub_engine: Engine) -> None:
    def status(seq: int, state: str, reason: str, minutes: int) -> Incoming:
        data = wire.StatusData.model_validate({"state": state, "reason": reason})
        eid = wire.uuid7(1_795_000_000_000 + seq * 10 + minutes, bytes(10))
        raw = wire.encode(id=eid, seq=seq, ts=NOW + timedelta(minutes=minutes), device="box-1", data=data)
        return incoming("mo/v1/acme/box-1/status", raw)

    def online() -> bool:
        with hub_engine.connect() as conn:
            return bool(conn.execute(sa.select(db.device.c.online)).scalar_one())

    apply(hub_engine, status(1, "online", "connected", 0))
    assert online()
    apply(hub_engine, status(2, "online", "connected", 2))
    apply(hub_engine, status(1, "offline", "connection_lost", 3))  # a late will from the old connection
    assert online()
    apply(hub_engine, status(2, "offline", "connection_lost", 4))
    assert not online()


def test_acks_are_split_at_the_contract_bound() -> None:
    from hub.ingest.worker import BatchResult

    result = BatchResult()
    _, _, ack = sale_payload(1)
    result.acks["acme", "box-1"].extend([ack] * (wire.MAX_ACK_RESULTS + 1))
    seq = iter(range(1, 10))
    out = encode_acks(result, "hub-1", lambda: next(seq), NOW)
    decoded = [wire.decode(t, p).data for t, p in out]
    assert [len(d.results) for d in decoded if isinstance(d, wire.AckData)] == [wire.MAX_ACK_RESULTS, 1]
    assert {t for t, _ in out} == {"mo/v1/acme/box-1/ack"}


@pytest.mark.parametrize("n", [1500])
def test_large_batches_apply_in_one_transaction(hub_engine: Engine, n: int) -> None:
    result = apply(hub_engine, *(incoming(t, r) for t, r, _ in (sale_payload(i) for i in range(1, n + 1))))
    assert result.committed == n and count(hub_engine, db.sale) == n


def test_text_with_tabs_backslashes_and_newlines_is_stored_exactly(hub_engine: Engine) -> None:
    awkward = 'Té\tverde\\ "chino"\nlínea 2\r 茶'
    data = wire.SaleData(
        sale_id="s-awkward",
        store="store-1",
        currency="MXN",
        lines=[wire.SaleLine(sku="a\\b", name=awkward, qty=1, unit_price_minor=5, amount_minor=5)],
        total_minor=5,
    )
    raw = wire.encode(id=wire.uuid7(1_795_000_000_000, bytes(10)), seq=1, ts=NOW, device="box-1", data=data)
    apply(hub_engine, incoming(TOPIC, raw))
    with hub_engine.connect() as conn:
        assert conn.execute(sa.select(db.sale_line.c.sku, db.sale_line.c.name)).one() == ("a\\b", awkward)


def test_a_message_the_database_refuses_is_dead_lettered_and_its_batch_still_commits(
    hub_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.ingest import worker as ingest

    real = ingest._apply_sales

    def refuse_poison(conn: sa.Connection, sales: list[tuple[wire.Message, Incoming]]) -> None:
        if any(isinstance(m.data, wire.SaleData) and m.data.sale_id == "s-2" for m, _ in sales):
            raise sa.exc.IntegrityError("INSERT INTO sale", {}, Exception("constraint refused the row"))
        real(conn, sales)

    monkeypatch.setattr(ingest, "_apply_sales", refuse_poison)
    items = [sale_payload(n) for n in (1, 2, 3)]
    result = ingest.commit_batch(hub_engine, [incoming(t, r) for t, r, _ in items])
    assert (result.committed, result.dead_letters) == (2, 1)
    verdicts = {a.seq: (a.status, a.reason) for a in result.acks["acme", "box-1"]}
    assert verdicts == {1: ("committed", None), 2: ("rejected", "apply_failed"), 3: ("committed", None)}
    with hub_engine.connect() as conn:
        assert conn.execute(sa.select(db.dead_letter.c.reason)).scalar_one() == "apply_failed"
        assert count(hub_engine, db.sale) == 2
        assert count(hub_engine, db.inbox) == 2  # the refused event is not marked as seen: it may be replayed


def test_an_outage_is_not_mistaken_for_bad_data(hub_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.ingest import worker as ingest

    def outage(conn: sa.Connection, sales: list[tuple[wire.Message, Incoming]]) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ingest, "_apply_sales", outage)
    with pytest.raises(sa.exc.OperationalError):
        ingest.commit_batch(hub_engine, [incoming(t, r) for t, r, _ in (sale_payload(1),)])
    assert count(hub_engine, db.dead_letter) == 0 and count(hub_engine, db.inbox) == 0


def test_business_events_other_than_sales_are_kept_once_for_the_services_that_apply_them(
    hub_engine: Engine,
) -> None:
    refund = wire.RefundData(
        refund_id="r-1",
        sale_id="s-1",
        store="store-1",
        currency="MXN",
        lines=[wire.RefundLine(line_no=1, sku="a", qty=1, amount_minor=500)],
        total_minor=500,
        tenders=[wire.TenderRecord(kind="cash", amount_minor=500)],
    )
    alert = wire.StockAlertData(store="store-1", sku="a", level="low", on_hand=2, threshold=3)
    items = []
    for n, data in ((10, refund), (11, alert)):
        event_id = wire.uuid7(1_795_000_000_000 + n, n.to_bytes(10, "big"))
        raw = wire.encode(id=event_id, seq=n, ts=NOW, device="box-1", data=data)
        items.append(incoming(wire.event_topic("acme", "box-1", data.TYPE), raw))
    first = apply(hub_engine, *items)
    again = apply(hub_engine, *items)
    assert (first.committed, again.committed, again.duplicates) == (2, 0, 2)
    with hub_engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.business_event.c.type, db.business_event.c.store, db.business_event.c.data).order_by(
                db.business_event.c.seq
            )
        ).all()
    assert [(r.type, r.store) for r in rows] == [("refund", "store-1"), ("stock_alert", "store-1")]
    assert rows[0].data["total_minor"] == 500 and rows[1].data["level"] == "low"
    assert count(hub_engine, db.sale) == 0 and count(hub_engine, db.dead_letter) == 0


def test_a_sale_whose_tenders_do_not_pay_its_total_is_refused_at_the_contract() -> None:
    with pytest.raises(ValueError, match="tenders pay"):
        wire.SaleData(
            sale_id="s-1",
            store="store-1",
            currency="MXN",
            lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=1000, amount_minor=1000)],
            total_minor=1000,
            tenders=[wire.TenderRecord(kind="cash", amount_minor=900)],
        )


def test_a_sale_keeps_the_customer_it_was_made_for(hub_engine: Engine) -> None:
    event_id = wire.uuid7(1_795_000_000_500, bytes(10))
    data = wire.SaleData(
        sale_id="s-member",
        store="store-1",
        currency="MXN",
        lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=1000, amount_minor=1000)],
        total_minor=1000,
        customer="123456789012",
    )
    raw = wire.encode(id=event_id, seq=1, ts=NOW, device="box-1", data=data)
    topic, walk_in, _ = sale_payload(2)
    apply(hub_engine, incoming(wire.event_topic("acme", "box-1", "sale"), raw), incoming(topic, walk_in))
    with hub_engine.connect() as conn:
        rows = dict(conn.execute(sa.select(db.sale.c.sale_id, db.sale.c.customer)).all())
    assert rows == {"s-member": "123456789012", "s-2": None}


def test_a_customer_enrolled_in_the_same_batch_as_their_first_sale_has_its_points_checked(
    hub_engine: Engine,
) -> None:
    from core import identity

    member = identity.make(481, 10_001)
    enrolment = wire.EnrolmentData(
        customer=member,
        store="store-1",
        fields=wire.CustomerFields(name="Rosa Flores", phone_e164="+525512345678"),
    )
    sale = wire.SaleData(
        sale_id="s-first",
        store="store-1",
        currency="MXN",
        lines=[
            wire.SaleLine(
                sku="ARROZ-1KG",
                qty=1,
                unit_price_minor=3300,
                amount_minor=3300,
                category="abarrotes",
                tax_category="alimentos",
            )
        ],
        total_minor=3300,
        customer=member,
        tenders=[wire.TenderRecord(kind="cash", amount_minor=3300)],
        points_earned=3,
        promotion_set_version=0,
    )
    items = []
    for n, data in ((20, enrolment), (21, sale)):
        event_id = wire.uuid7(1_795_000_000_000 + n, n.to_bytes(10, "big"))
        raw = wire.encode(id=event_id, seq=n, ts=NOW, device="box-1", data=data)
        items.append(incoming(wire.event_topic("acme", "box-1", data.TYPE), raw))
    assert apply(hub_engine, *items).committed == 2
    with hub_engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(sa.select(db.alert.c.kind))]
        applied = conn.execute(sa.select(db.business_event.c.applied_at)).scalar_one()
    assert "points_unverified" not in kinds
    assert applied is not None

"""The box store: sale and outbox in one transaction, durability settings, migrations, settling acks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core import wire
from core.errors import InvalidInput
from edge_agent.store import (
    MIGRATIONS,
    POINTS_JOURNAL_MIGRATION,
    LineDraft,
    OutboxFull,
    SaleDraft,
    SchemaTooNew,
    Store,
    StoreError,
)

DRAFT = SaleDraft(
    "store-1", "MXN", [LineDraft("a", 2, 1850, name="Refresco"), LineDraft("b", 1, 990, discount_minor=90)]
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "box.sqlite3", tenant="acme", device="box-1")


def test_store_runs_in_wal_with_full_sync_at_the_newest_schema(store: Store) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == len(MIGRATIONS)


def test_a_sale_and_its_outbox_event_are_written_together(store: Store) -> None:
    recorded = store.record_sale(DRAFT)
    assert recorded.total_minor == 2 * 1850 + 990 - 90
    [row] = store.outbox_after(0, 10)
    assert (row.seq, row.event_id) == (recorded.seq, recorded.event_id)
    message = wire.decode(row.topic, row.payload)
    assert isinstance(message.data, wire.SaleData)
    assert message.data.total_minor == recorded.total_minor
    assert message.envelope.device == "box-1" and str(message.topic) == "mo/v1/acme/box-1/evt/sale"


def test_sequence_numbers_increase_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant="acme", device="box-1") as first:
        seqs = [first.record_sale(DRAFT).seq for _ in range(3)]
    with Store(path, tenant="acme", device="box-1") as again:
        seqs.append(again.record_sale(DRAFT).seq)
    assert seqs == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (SaleDraft("store-1", "MXN", []), "lines"),
        (SaleDraft("store-1", "MXN", [LineDraft("a", 0, 100)]), "lines.0.qty"),
        (SaleDraft("store-1", "MXN", [LineDraft("a", 1, -5)]), "lines.0.unit_price_minor"),
        (SaleDraft("store-1", "MXN", [LineDraft("a", 1, 10.5)]), "lines[0].unit_price_minor"),  # type: ignore[arg-type]
        (SaleDraft("store-1", "pesos", [LineDraft("a", 1, 100)]), "currency"),
        (SaleDraft("store-1", "MXN", [LineDraft("a", 1, 100, discount_minor=101)]), "lines.0"),
        (SaleDraft("", "MXN", [LineDraft("a", 1, 100)]), "store"),
    ],
)
def test_bad_sales_name_the_field_and_write_nothing(store: Store, draft: SaleDraft, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        store.record_sale(draft)
    assert err.value.field.startswith(field)
    assert store.totals().sales == 0 and store.outbox_depth() == 0


def test_a_full_outbox_refuses_new_sales_and_keeps_the_old(tmp_path: Path) -> None:
    store = Store(tmp_path / "b.sqlite3", tenant="acme", device="box-1", max_outbox_rows=2)
    store.record_sale(DRAFT)
    store.record_sale(DRAFT)
    with pytest.raises(OutboxFull, match="network"):
        store.record_sale(DRAFT)
    assert store.totals().sales == 2 and store.outbox_depth() == 2


def test_settle_deletes_committed_and_duplicates_and_keeps_rejected_aside(store: Store) -> None:
    a, b, c = (store.record_sale(DRAFT) for _ in range(3))
    settled = store.settle(
        [
            wire.AckResult(id=a.event_id, seq=a.seq, status="committed"),
            wire.AckResult(id=b.event_id, seq=b.seq, status="duplicate"),
            wire.AckResult(id=c.event_id, seq=c.seq, status="rejected", reason="bad_data"),
        ]
    )
    assert settled == 3
    totals = store.totals()
    assert (totals.outbox_depth, totals.acked, totals.rejected, totals.sales) == (0, 2, 1, 3)
    reason = store._db.execute("SELECT reason FROM outbox_rejected WHERE event_id = ?", (str(c.event_id),))
    assert reason.fetchone()[0] == "bad_data"


def test_settling_the_same_ack_twice_changes_nothing(store: Store) -> None:
    a = store.record_sale(DRAFT)
    ack = [wire.AckResult(id=a.event_id, seq=a.seq, status="committed")]
    assert store.settle(ack) == 1
    assert store.settle(ack) == 0
    assert store.totals().acked == 1


def test_a_database_of_another_box_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "x.sqlite3", tenant="acme", device="box-1").close()
    with pytest.raises(StoreError, match="wrong database"):
        Store(tmp_path / "x.sqlite3", tenant="acme", device="box-2")


def test_a_database_from_a_newer_agent_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "x.sqlite3", tenant="acme", device="box-1").close()
    sqlite3.connect(tmp_path / "x.sqlite3").execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew, match="upgrade"):
        Store(tmp_path / "x.sqlite3", tenant="acme", device="box-1")


def test_outbox_payload_is_exact_json_the_hub_can_hash(store: Store) -> None:
    store.record_sale(DRAFT)
    [row] = store.outbox_after(0, 1)
    assert json.loads(row.payload)["seq"] == row.seq
    assert wire.decode(row.topic, row.payload).sha256 == wire.payload_sha256(row.payload)


def test_sequence_numbers_never_repeat_after_everything_was_acked_and_the_box_restarted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant="acme", device="box-1") as first:
        sold = [first.record_sale(DRAFT) for _ in range(3)]
        first.settle([wire.AckResult(id=s.event_id, seq=s.seq, status="committed") for s in sold])
        assert first.outbox_depth() == 0
    with Store(path, tenant="acme", device="box-1") as again:
        assert again.record_sale(DRAFT).seq == 4


def test_two_writers_on_one_file_never_share_a_sequence_number(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite3"
    a = Store(path, tenant="acme", device="box-1")
    b = Store(path, tenant="acme", device="box-1")
    seqs = [a.record_sale(DRAFT).seq, b.record_sale(DRAFT).seq, a.record_sale(DRAFT).seq]
    assert seqs == [1, 2, 3]
    assert a.outbox_depth() == 3


def test_a_sale_id_is_recorded_once(store: Store) -> None:
    draft = SaleDraft("store-1", "MXN", [LineDraft("a", 1, 100)], sale_id="T-0001")
    store.record_sale(draft)
    with pytest.raises(InvalidInput, match="already recorded"):
        store.record_sale(draft)
    assert store.totals().sales == 1 and store.outbox_depth() == 1


def test_the_outbox_bound_counts_what_the_relay_has_settled_since(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    seller = Store(path, tenant="acme", device="box-1", max_outbox_rows=2)
    relay = Store(path, tenant="acme", device="box-1")
    first = seller.record_sale(DRAFT)
    seller.record_sale(DRAFT)
    relay.settle([wire.AckResult(id=first.event_id, seq=first.seq, status="committed")])
    seller.record_sale(DRAFT)  # room was made by another connection
    with pytest.raises(OutboxFull):
        seller.record_sale(DRAFT)


def test_a_transaction_writes_rows_and_events_together_or_not_at_all(tmp_path: Path) -> None:
    store = Store(tmp_path / "box.db", tenant="acme", device="box-1")
    alert = wire.StockAlertData(store="s1", sku="a", level="low", on_hand=1, threshold=2)
    with store.transaction() as tx:
        tx.conn.execute("INSERT INTO setting (key, value, updated_at) VALUES ('k', 'v', ?)", (tx.now.isoformat(),))
        _, first = tx.emit(alert)
        _, second = tx.emit(alert)
    assert (first, second) == (1, 2) and store.outbox_depth() == 2

    def crash_mid_transaction() -> None:
        with store.transaction() as tx:
            tx.conn.execute("INSERT INTO setting (key, value, updated_at) VALUES ('k2', 'v', ?)", (tx.now.isoformat(),))
            tx.emit(alert)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_mid_transaction()
    assert store.outbox_depth() == 2
    assert store.conn.execute("SELECT count(*) FROM setting").fetchone()[0] == 1
    # A bare sale after transactional events continues the same sequence.
    recorded = store.record_sale(SaleDraft(store="s1", currency="MXN", lines=[LineDraft("a", 1, 100)]))
    assert recorded.seq == 3


def test_a_transaction_sees_events_another_connection_wrote(tmp_path: Path) -> None:
    one = Store(tmp_path / "box.db", tenant="acme", device="box-1")
    two = Store(tmp_path / "box.db", tenant="acme", device="box-1")
    alert = wire.StockAlertData(store="s1", sku="a", level="out", on_hand=0, threshold=2)
    with one.transaction() as tx:
        tx.emit(alert)
    with two.transaction() as tx:
        _, seq = tx.emit(alert)
    assert seq == 2 and [r.seq for r in one.outbox_after(0, 10)] == [1, 2]


def test_a_transaction_past_the_outbox_bound_is_refused_whole(tmp_path: Path) -> None:
    store = Store(tmp_path / "box.db", tenant="acme", device="box-1", max_outbox_rows=3)
    alert = wire.StockAlertData(store="s1", sku="a", level="low", on_hand=1, threshold=2)
    with store.transaction() as tx:
        tx.emit(alert)
        tx.emit(alert)

    def two_more() -> None:
        with store.transaction() as tx:
            tx.emit(alert)
            tx.emit(alert)

    with pytest.raises(OutboxFull, match="network"):
        two_more()
    assert store.outbox_depth() == 2
    with store.transaction() as tx:
        tx.emit(alert)
    assert store.outbox_depth() == 3


def test_an_upgraded_box_journals_the_points_of_its_sales_and_refunds_still_in_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite3"
    customer = "481000042429"
    with Store(path, tenant="acme", device="box-1") as box:
        # Back to the schema before the journal, as a box running the previous agent has it.
        box.conn.execute("DROP TABLE points_journal")
        box.conn.execute("ALTER TABLE customer DROP COLUMN balance_seq")
        box.conn.execute(f"PRAGMA user_version = {MIGRATIONS.index(POINTS_JOURNAL_MIGRATION)}")
        seqs = []
        for sale_id, earned, redeemed in (("acked", 40, 0), ("s1", 10, 100), ("s2", 5, 0)):
            with box.transaction() as tx:
                data = wire.SaleData(
                    sale_id=sale_id,
                    store="store-1",
                    currency="MXN",
                    lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=1000, amount_minor=1000)],
                    total_minor=1000,
                    customer=customer,
                    points_earned=earned,
                    points_redeemed=redeemed,
                )
                event_id, seq = tx.emit(data)
                tx.conn.execute(
                    "INSERT INTO sale (sale_id, event_id, store, currency, total_minor, created_at, customer, "
                    "points_earned, points_redeemed) VALUES (?, ?, 'store-1', 'MXN', 1000, ?, ?, ?, ?)",
                    (sale_id, str(event_id), tx.now.isoformat(), customer, earned, redeemed),
                )
                seqs.append((event_id, seq))
        with box.transaction() as tx:
            refund = wire.RefundData(
                refund_id="r1",
                sale_id="s1",
                store="store-1",
                currency="MXN",
                lines=[wire.RefundLine(line_no=1, sku="a", qty=1, amount_minor=1000)],
                total_minor=1000,
                tenders=[wire.TenderRecord(kind="points", amount_minor=1000, points=100)],
                points_reversed=10,
                customer=customer,
            )
            refund_event, refund_seq = tx.emit(refund)
            tx.conn.execute(
                "INSERT INTO refund (refund_id, sale_id, event_id, total_minor, points_reversed, created_at, detail) "
                "VALUES ('r1', 's1', ?, 1000, 10, ?, '{}')",
                (str(refund_event), tx.now.isoformat()),
            )
        box.settle([wire.AckResult(id=seqs[0][0], seq=seqs[0][1], status="committed")])
    with Store(path, tenant="acme", device="box-1") as box:
        assert box.schema_version == len(MIGRATIONS)
        rows = box.conn.execute("SELECT seq, loyalty_id, redeemed, earned FROM points_journal ORDER BY seq").fetchall()
    assert rows == [
        (seqs[1][1], customer, 100, 10),
        (seqs[2][1], customer, 0, 5),
        (refund_seq, customer, -100, -10),
    ], "what the box counted before (its events still in the outbox) is what it counts after"

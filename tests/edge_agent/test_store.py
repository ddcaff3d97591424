"""The box store: rows and outbox in one transaction, durability settings, migrations, settling acks.

Sales come from the real checkout (the ``sell`` fixture): the store has no sale writer of its own.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

import edge_agent
from core import wire
from devkit.services import BoxProcess, MosquittoServer
from edge_agent import store as store_module
from edge_agent.checkout import CompletedSale
from edge_agent.store import MIGRATIONS, POINTS_JOURNAL_MIGRATION, OutboxFull, SchemaTooNew, Store, StoreError
from tests.edge_agent.conftest import Sell
from tests.effects import assert_effects_once

SALE_WRITE = re.compile(r"\b(?:INSERT|REPLACE)\b(?:\s+OR\s+\w+)?\s+INTO\s+sale(?:_line)?\b", re.IGNORECASE)
"""SQL that writes a sale or its lines."""
KILL_AFTER_SALES = 40
KILL_WAIT_S = 30.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "box.sqlite3", tenant="acme", device="box-1")


def test_store_runs_in_wal_with_full_sync_at_the_newest_schema(store: Store) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == len(MIGRATIONS)


def test_the_checkout_is_the_only_writer_of_sales() -> None:
    root = Path(edge_agent.__file__).parent
    writers = sorted(
        path.relative_to(root).as_posix() for path in root.rglob("*.py") if SALE_WRITE.search(path.read_text())
    )
    assert writers == ["checkout.py"], f"sales are written outside the checkout: {writers}"
    public = [n for n in (*dir(Store), *dir(store_module)) if not n.startswith("_")]
    writers_by_name = [n for n in public if re.search(r"(record|write|insert|add|commit|new)_?sale", n, re.I)]
    assert not writers_by_name, f"the store offers a sale writer besides the checkout: {writers_by_name}"


def test_a_sale_and_its_outbox_event_are_written_together(store: Store, sell: Sell) -> None:
    done = sell(store)
    [row] = store.outbox_after(0, 10)
    assert (row.seq, str(row.event_id)) == (done.seq, done.event_id)
    message = wire.decode(row.topic, row.payload)
    assert isinstance(message.data, wire.SaleData) and message.data.sale_id == done.sale_id
    (total,) = store.conn.execute("SELECT total_minor FROM sale WHERE sale_id = ?", (done.sale_id,)).fetchone()
    assert message.data.total_minor == total == done.priced.totals.total_minor
    assert message.envelope.device == "box-1" and str(message.topic) == "mo/v1/acme/box-1/evt/sale"


def test_sequence_numbers_increase_and_survive_reopening(tmp_path: Path, sell: Sell) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant="acme", device="box-1") as first:
        seqs = [sell(first).seq for _ in range(3)]
    with Store(path, tenant="acme", device="box-1") as again:
        seqs.append(sell(again).seq)
    assert seqs == [1, 2, 3, 4]


def test_a_full_outbox_refuses_new_sales_and_keeps_the_old(tmp_path: Path, sell: Sell) -> None:
    store = Store(tmp_path / "b.sqlite3", tenant="acme", device="box-1", max_outbox_rows=2)
    sell(store)
    sell(store)
    moves = store.conn.execute("SELECT count(*) FROM stock_movement").fetchone()[0]
    with pytest.raises(OutboxFull, match="network"):
        sell(store)
    assert store.totals().sales == 2 and store.outbox_depth() == 2
    assert store.conn.execute("SELECT count(*) FROM stock_movement").fetchone()[0] == moves  # no stock moved


def _ack(done: CompletedSale, status: wire.AckStatus, reason: str | None = None) -> wire.AckResult:
    return wire.AckResult(id=uuid.UUID(done.event_id), seq=done.seq, status=status, reason=reason)


def test_settle_deletes_committed_and_duplicates_and_keeps_rejected_aside(store: Store, sell: Sell) -> None:
    a, b, c = (sell(store) for _ in range(3))
    settled = store.settle([_ack(a, "committed"), _ack(b, "duplicate"), _ack(c, "rejected", "bad_data")])
    assert settled == 3
    totals = store.totals()
    assert (totals.outbox_depth, totals.acked, totals.rejected, totals.sales) == (0, 2, 1, 3)
    reason = store._db.execute("SELECT reason FROM outbox_rejected WHERE event_id = ?", (str(c.event_id),))
    assert reason.fetchone()[0] == "bad_data"


def test_settling_the_same_ack_twice_changes_nothing(store: Store, sell: Sell) -> None:
    ack = [_ack(sell(store), "committed")]
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


def test_outbox_payload_is_exact_json_the_hub_can_hash(store: Store, sell: Sell) -> None:
    sell(store)
    [row] = store.outbox_after(0, 1)
    assert json.loads(row.payload)["seq"] == row.seq
    assert wire.decode(row.topic, row.payload).sha256 == wire.payload_sha256(row.payload)


def test_sequence_numbers_never_repeat_after_everything_was_acked_and_the_box_restarted(
    tmp_path: Path, sell: Sell
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant="acme", device="box-1") as first:
        sold = [sell(first) for _ in range(3)]
        first.settle([_ack(s, "committed") for s in sold])
        assert first.outbox_depth() == 0
    with Store(path, tenant="acme", device="box-1") as again:
        assert sell(again).seq == 4


def test_two_writers_on_one_file_never_share_a_sequence_number(tmp_path: Path, sell: Sell) -> None:
    path = tmp_path / "box.sqlite3"
    a = Store(path, tenant="acme", device="box-1")
    b = Store(path, tenant="acme", device="box-1")
    seqs = [sell(a).seq, sell(b).seq, sell(a).seq]
    assert seqs == [1, 2, 3]
    assert a.outbox_depth() == 3


def test_the_outbox_bound_counts_what_the_relay_has_settled_since(tmp_path: Path, sell: Sell) -> None:
    path = tmp_path / "b.sqlite3"
    seller = Store(path, tenant="acme", device="box-1", max_outbox_rows=2)
    relay = Store(path, tenant="acme", device="box-1")
    first = sell(seller)
    sell(seller)
    relay.settle([_ack(first, "committed")])
    sell(seller)  # room was made by another connection
    with pytest.raises(OutboxFull):
        sell(seller)


def test_a_transaction_writes_rows_and_events_together_or_not_at_all(tmp_path: Path, sell: Sell) -> None:
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
    # A sale after other transactional events continues the same sequence.
    assert sell(store).seq == 3


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


def test_a_box_killed_while_selling_keeps_every_sale_whole(tmp_path: Path, broker: MosquittoServer) -> None:
    # No hub: nothing is acknowledged, so every sale and refund the box committed must still wait in its outbox.
    box = BoxProcess(
        tmp_path / "box-1", broker, tenant="acme", device="box-1", rate=60, seed=9, extra=["--refund-every", "5"]
    ).start()
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        while int(box.stats().get("sales", 0)) < KILL_AFTER_SALES:
            assert time.monotonic() < deadline and box.running, f"the box did not sell:\n{box.tail()}"
            time.sleep(0.05)
        box.kill()  # SIGKILL, mid-ticket as often as not
    finally:
        box.stop()
    assert_effects_once([box])
    with sqlite3.connect(f"file:{box.db_path}?mode=ro", uri=True) as conn:
        committed = {e for (e,) in conn.execute("SELECT event_id FROM sale UNION ALL SELECT event_id FROM refund")}
        waiting = {e for (e,) in conn.execute("SELECT event_id FROM outbox WHERE type IN ('sale', 'refund')")}
    assert committed == waiting, (
        f"{len(committed - waiting)} committed without their event, {len(waiting - committed)} events alone"
    )


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

"""Days offline: the box keeps selling, then its relay drains the backlog to a real hub, in order, once each.

The box's clock is simulated (sales 90 seconds apart over days); the broker, the relay, the hub ingest and
its database are real.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import wire
from devkit.services import MosquittoServer
from edge_agent.relay import Relay, RelayConfig
from edge_agent.store import Store
from hub import db
from hub.ingest.worker import IngestConfig, IngestWorker
from tests.waiting import wait_until

TENANT = "acme"
DEVICE = "box-1"
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SALE_EVERY = timedelta(seconds=90)


class Clock:
    """The box's wall clock, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Sold:
    sale_ids: list[str]
    events: int
    total_minor: int


def sell(store: Store, clock: Clock, count: int, prefix: str) -> Sold:
    """``count`` cash sales, one transaction each; every tenth also adjusts stock (a second event)."""
    sale_ids: list[str] = []
    events = 0
    total = 0
    for n in range(count):
        qty = 1 + n % 3
        amount = qty * 1850
        data = wire.SaleData(
            sale_id=f"{prefix}-{n:05d}",
            store="store-1",
            currency="MXN",
            lines=[
                wire.SaleLine(sku="7501055300075", name="Refresco", qty=qty, unit_price_minor=1850, amount_minor=amount)
            ],
            total_minor=amount,
            tenders=[wire.TenderRecord(kind="cash", amount_minor=amount)],
            offline=True,
        )
        with store.transaction() as tx:
            event_id, _seq = tx.emit(data)
            tx.conn.execute(
                "INSERT INTO sale (sale_id, event_id, store, currency, total_minor, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (data.sale_id, str(event_id), data.store, data.currency, amount, tx.now.isoformat()),
            )
            events += 1
            if n % 10 == 0:
                tx.emit(
                    wire.StockAdjustmentData(
                        adjustment_id=f"{prefix}-adj-{n}",
                        store="store-1",
                        sku="7501055300075",
                        delta=24,
                        on_hand_after=100 + n,
                        reason="received",
                    )
                )
                events += 1
        sale_ids.append(data.sale_id)
        total += amount
        clock.at += SALE_EVERY
    return Sold(sale_ids, events, total)


class Hub:
    """An in-process hub ingest worker on an SQLite database; restartable with the same session."""

    def __init__(self, broker: MosquittoServer, path: Path) -> None:
        self.engine = db.make_engine(f"sqlite:///{path}")
        db.migrate(self.engine)
        self.config = IngestConfig(
            host="127.0.0.1",
            port=broker.port,
            username=broker.hub.username,
            password=broker.hub.password,
            worker_id=f"hub-{uuid.uuid4().hex[:8]}",
        )
        self.worker: IngestWorker | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> IngestWorker:
        worker = IngestWorker(self.engine, self.config)
        worker.start()
        self.thread = threading.Thread(target=worker.run, name="hub", daemon=True)
        self.thread.start()
        self.worker = worker
        return worker

    def stop(self) -> None:
        if self.worker is not None and self.thread is not None:
            self.worker.stop()
            self.thread.join(10)
        self.worker = self.thread = None

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]


@pytest.fixture
def hub(broker: MosquittoServer, tmp_path: Path) -> Iterator[Hub]:
    the_hub = Hub(broker, tmp_path / "hub.sqlite3")
    yield the_hub
    the_hub.stop()
    the_hub.engine.dispose()


def make_relay(broker: MosquittoServer, path: Path, **overrides: float) -> Relay:
    config = RelayConfig(
        host="127.0.0.1",
        port=broker.box_port,
        tenant=TENANT,
        device=DEVICE,
        username=broker.box_credentials(TENANT, DEVICE).username,
        password=broker.box_credentials(TENANT, DEVICE).password,
        reconnect_min_s=0.5,
        reconnect_max_s=1.0,
        **overrides,  # type: ignore[arg-type]
    )
    return Relay(path, config)


def assert_hub_has_exactly(hub: Hub, sold: Sold) -> None:
    assert hub.rows("SELECT count(*), count(DISTINCT sale_id), sum(total_minor) FROM sale") == [
        (len(sold.sale_ids), len(sold.sale_ids), sold.total_minor)
    ]
    assert {r[0] for r in hub.rows("SELECT sale_id FROM sale")} == set(sold.sale_ids)
    assert hub.rows("SELECT count(*) FROM inbox") == [(sold.events,)]
    assert hub.rows("SELECT count(*) FROM business_event WHERE type = 'stock_adjustment'") == [
        (sold.events - len(sold.sale_ids),)
    ]
    assert hub.rows("SELECT count(*) FROM dead_letter") == [(0,)]


def test_days_of_sales_made_with_the_broker_down_drain_in_order_once_each(
    broker: MosquittoServer, hub: Hub, tmp_path: Path
) -> None:
    path = tmp_path / "box.sqlite3"
    clock = Clock(START)
    hub.start()
    wait_until(lambda: hub.worker is not None and hub.worker.stats.connected, 10, "the hub to connect")
    # A clean stop keeps the hub's persistent session (test_faults kills the broker outright).
    broker.stop()
    relay = make_relay(broker, path, ack_timeout_s=60.0, ack_timeout_max_s=60.0)
    relay.start()
    try:
        with Store(path, tenant=TENANT, device=DEVICE, clock=clock, durable=False) as store:
            sold = sell(store, clock, 3000, "off")
            assert clock.at - START > timedelta(days=3)
            assert store.outbox_depth() == sold.events
        assert relay.stats.published == 0
        broker.start()
        wait_until(lambda: relay.outbox_depth() == 0, 15, "the backlog to drain")
    finally:
        relay.stop()
    assert_hub_has_exactly(hub, sold)
    arrival = [int(str(r[0])) for r in hub.rows("SELECT seq FROM inbox ORDER BY received_at, seq")]
    assert arrival == sorted(arrival) and arrival == list(range(1, sold.events + 1))
    first, last = hub.rows("SELECT min(box_ts), max(box_ts) FROM inbox")[0]
    assert str(first).startswith("2026-11-20") and str(last).startswith("2026-11-23")
    assert relay.stats.republished == 0


def test_a_hub_outage_with_the_broker_up_loses_and_repeats_nothing(
    broker: MosquittoServer, hub: Hub, tmp_path: Path
) -> None:
    path = tmp_path / "box.sqlite3"
    clock = Clock(START)
    # The hub's persistent session exists, so the broker keeps what arrives while the hub is away.
    hub.start()
    wait_until(lambda: hub.worker is not None and hub.worker.stats.connected, 10, "the hub to connect")
    time.sleep(0.2)
    hub.stop()
    relay = make_relay(broker, path, ack_timeout_s=0.5, ack_timeout_max_s=1.0, window=200)
    relay.start()
    try:
        with Store(path, tenant=TENANT, device=DEVICE, clock=clock, durable=False) as store:
            sold = sell(store, clock, 1500, "hubdown")
        wait_until(lambda: relay.stats.republished > 0, 10, "the relay to publish again without acks")
        assert relay.outbox_depth() == sold.events  # nothing is deleted without the hub's commit
        worker = hub.start()
        wait_until(lambda: relay.outbox_depth() == 0, 15, "the backlog to drain")
    finally:
        relay.stop()
    assert_hub_has_exactly(hub, sold)
    # The copies the relay published again reached the hub too, and were recognised as duplicates.
    assert worker.stats.committed == sold.events
    assert worker.stats.duplicates >= 1
    assert relay.stats.acked == sold.events + worker.stats.duplicates

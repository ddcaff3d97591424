"""Exactly-once from box to hub with real processes and real kills (DESIGN.md, "Exactly-once effects").

Each test runs a private Mosquitto, a hub ingest process (on SQLite and on PostgreSQL) and simulated boxes
as separate processes, kills one of them with SIGKILL at a busy moment, restarts it, and then checks that
every sale committed at a box is at the hub exactly once and that the hub is still running.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from core import wire
from hub import db
from hub.local_services import BoxProcess, HubProcess, MosquittoServer

TENANT = "acme"
DRAIN_TIMEOUT_S = 60.0


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def box_sales(box: BoxProcess) -> dict[uuid.UUID, int]:
    with sqlite3.connect(f"file:{box.db_path}?mode=ro", uri=True) as conn:
        return {uuid.UUID(e): t for e, t in conn.execute("SELECT event_id, total_minor FROM sale")}


def hub_sales(engine: sa.Engine, device: str) -> list[tuple[uuid.UUID, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.sale.c.event_id, db.sale.c.total_minor).where(db.sale.c.device == device)
        ).all()
    return [(r[0], int(r[1])) for r in rows]


def hub_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.sale)).scalar_one())


def assert_exactly_once(engine: sa.Engine, boxes: list[BoxProcess]) -> None:
    for box in boxes:
        at_box = box_sales(box)
        at_hub = hub_sales(engine, box.name)
        assert at_box, f"{box.name} sold nothing: the test proved nothing"
        ids = [event_id for event_id, _ in at_hub]
        assert len(ids) == len(set(ids)), f"{box.name}: a sale was applied twice"
        assert dict(at_hub) == at_box, (
            f"{box.name}: {len(at_box)} sales at the box, {len(at_hub)} at the hub; "
            f"missing {len(set(at_box) - set(ids))}, unknown {len(set(ids) - set(at_box))}"
        )


def device_state(engine: sa.Engine, device: str) -> tuple[bool, str] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(db.device.c.online, db.device.c.status_reason).where(db.device.c.device == device)
        ).first()
    return None if row is None else (bool(row[0]), str(row[1]))


def stop_and_drain(boxes: list[BoxProcess]) -> None:
    for box in boxes:
        box.terminate()
    for box in boxes:
        code = box.wait(DRAIN_TIMEOUT_S)
        assert code == 0, f"{box.name} could not drain its outbox (exit {code}):\n{box.tail()}"


class Cluster:
    """A broker, one hub worker and boxes, all real processes, for one test."""

    def __init__(self, root: Path, broker: MosquittoServer, db_url: str) -> None:
        self.root = root
        self.broker = broker
        self.engine = db.make_engine(db_url)
        db.migrate(self.engine)
        self.hub = HubProcess(root / "hub", broker, db_url).start()
        self.boxes: list[BoxProcess] = []

    def box(self, device: str, rate: float, seed: int) -> BoxProcess:
        proc = BoxProcess(
            self.root / device,
            self.broker,
            tenant=TENANT,
            device=device,
            rate=rate,
            extra=["--ack-timeout-s", "2"],
            seed=seed,
        )
        self.boxes.append(proc.start())
        return proc

    def close(self) -> None:
        for proc in [*self.boxes, self.hub]:
            proc.stop()
        self.engine.dispose()


@pytest.fixture
def cluster(tmp_path: Path, broker: MosquittoServer, hub_db_url: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path, broker, hub_db_url)
    try:
        yield c
    finally:
        c.close()


def test_sales_survive_the_broker_killed_mid_stream(cluster: Cluster) -> None:
    boxes = [cluster.box("box-1", rate=25, seed=1), cluster.box("box-2", rate=25, seed=2)]
    wait_until(lambda: hub_count(cluster.engine) >= 40, 30, "the first sales at the hub")
    cluster.broker.kill()
    time.sleep(1.0)  # the boxes keep selling with no broker
    cluster.broker.start()
    wait_until(lambda: hub_count(cluster.engine) >= 120, 40, "sales after the broker came back")
    stop_and_drain(boxes)
    assert_exactly_once(cluster.engine, boxes)
    assert cluster.hub.running


def test_sales_survive_the_hub_killed_mid_batch_again_and_again(cluster: Cluster) -> None:
    boxes = [cluster.box("box-1", rate=40, seed=3), cluster.box("box-2", rate=40, seed=4)]
    for round_ in range(3):
        target = 30 * (round_ + 1)

        def reached(goal: int = target) -> bool:
            return hub_count(cluster.engine) >= goal

        wait_until(reached, 40, f"{target} sales at the hub")
        cluster.hub.kill()
        time.sleep(0.5)
        cluster.hub.start()
    stop_and_drain(boxes)
    assert_exactly_once(cluster.engine, boxes)
    assert cluster.hub.running


def test_a_box_killed_between_its_commit_and_the_hub_ack_loses_and_repeats_nothing(cluster: Cluster) -> None:
    box = cluster.box("box-1", rate=30, seed=5)
    wait_until(lambda: hub_count(cluster.engine) >= 20, 30, "the first sales at the hub")
    cluster.hub.stop()  # no acks from now on: everything the box commits stays between commit and ack
    wait_until(lambda: int(box.stats().get("outbox_depth", 0)) >= 20, 30, "sales waiting for an ack")
    box.kill()
    waiting = len(box_sales(box)) - hub_count(cluster.engine)
    assert waiting >= 20
    cluster.hub.start()
    # The broker published the box's last will when its connection died: the hub marks it offline.
    wait_until(lambda: device_state(cluster.engine, "box-1") == (False, "connection_lost"), 20, "the last will")
    assert box.relay_only().wait(DRAIN_TIMEOUT_S) == 0, box.tail()
    assert_exactly_once(cluster.engine, [box])
    assert cluster.hub.running


def _rogue_publish(broker: MosquittoServer, device: str, payloads: list[bytes]) -> None:
    cred = broker.box_credentials(TENANT, device)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cred.username, protocol=mqtt.MQTTv5)
    client.username_pw_set(cred.username, cred.password)
    client.connect("127.0.0.1", broker.box_port)
    client.loop_start()
    try:
        for raw in payloads:
            client.publish(str(wire.event_topic(TENANT, device, "sale")), raw, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_bad_messages_are_dead_lettered_with_their_reason_and_the_hub_keeps_going(cluster: Cluster) -> None:
    box = cluster.box("box-1", rate=20, seed=6)
    wait_until(lambda: hub_count(cluster.engine) >= 5, 30, "the first sales at the hub")
    data = wire.SaleData(
        sale_id="rogue",
        store="store-1",
        currency="MXN",
        total_minor=100,
        lines=[wire.SaleLine(sku="a", qty=1, unit_price_minor=100, amount_minor=100)],
    )
    now = datetime.now(UTC)
    good = json.loads(wire.encode(id=wire.uuid7(0, os.urandom(10)), seq=1, ts=now, device="box-1", data=data))
    unknown_version = {**good, "v": 2, "id": str(wire.uuid7(1_795_000_000_000, os.urandom(10)))}
    other_device = {**good, "id": str(wire.uuid7(1_795_000_000_001, os.urandom(10)))}
    _rogue_publish(
        cluster.broker,
        "box-9",
        [
            b'{"v":1,"id":',
            b"[" + b"0," * (wire.MAX_PAYLOAD_BYTES // 2) + b"0]",
            json.dumps(unknown_version).encode(),
            json.dumps(other_device).encode(),  # says box-1 inside, came on box-9's topic
        ],
    )
    expected = {"malformed_json", "oversized", "unsupported_version", "device_mismatch"}

    def dead_reasons() -> set[str]:
        with cluster.engine.connect() as conn:
            return set(conn.execute(sa.select(db.dead_letter.c.reason)).scalars())

    wait_until(lambda: dead_reasons() >= expected, 30, f"dead letters {expected}")
    sold = hub_count(cluster.engine)
    wait_until(lambda: hub_count(cluster.engine) >= sold + 10, 30, "good sales after the bad messages")
    stop_and_drain([box])
    assert_exactly_once(cluster.engine, [box])
    assert cluster.hub.running
    with cluster.engine.connect() as conn:
        details = conn.execute(sa.select(db.dead_letter.c.detail)).scalars().all()
    assert all(details)

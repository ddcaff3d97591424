"""Exactly-once from box to hub with real processes and real kills (DESIGN.md, "Exactly-once effects").

Each test runs a private Mosquitto, a hub ingest process (on SQLite and on PostgreSQL) and simulated boxes
as separate processes, each box's simulated cashier selling through the box's real checkout (customers,
points, stock, refunds), kills one of them with SIGKILL at a busy moment, restarts it, and then checks with
:func:`tests.effects.assert_effects_once` that every sale and refund committed at a box is at the hub exactly
once, with its ledger postings, that the points ledger balances and that the boxes' stock moved once per sale
and refund; and that the hub is still running. The soak (marked ``slow``: ``make bench`` runs it, ``make
test`` its short version) does every kind of kill again and again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from core import wire
from devkit.services import BoxProcess, HubProcess, MosquittoServer
from hub import db
from tests.effects import assert_effects_once
from tests.waiting import wait_until

TENANT = "acme"
DRAIN_TIMEOUT_S = 60.0
REFUND_EVERY = 8
"""The simulated cashiers refund about one ticket in this many: every test sees refunds."""
KILLS: Final = ("broker", "hub", "box")
SHORT_ROUNDS: Final = len(KILLS)
"""``make test``: each kind of kill once, in turn."""
SOAK_ROUNDS: Final = 30 * len(KILLS)
"""``make bench``: each kind of kill thirty times, a few minutes on each hub backend."""
SALES_PER_ROUND: Final = 15
SOAK_TIMEOUT_S: Final = 1800
"""The soak's own time limit (the suite's default per test is five minutes)."""


def box_sales(box: BoxProcess) -> dict[uuid.UUID, int]:
    with sqlite3.connect(f"file:{box.db_path}?mode=ro", uri=True) as conn:
        return {uuid.UUID(e): t for e, t in conn.execute("SELECT event_id, total_minor FROM sale")}


def hub_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.sale)).scalar_one())


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
            extra=["--ack-timeout-s", "2", "--refund-every", str(REFUND_EVERY)],
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
    assert_effects_once(boxes, cluster.engine, tenant=TENANT)
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
    assert_effects_once(boxes, cluster.engine, tenant=TENANT)
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
    assert_effects_once([box], cluster.engine, tenant=TENANT)
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
    assert_effects_once([box], cluster.engine, tenant=TENANT)
    assert cluster.hub.running
    with cluster.engine.connect() as conn:
        details = conn.execute(sa.select(db.dead_letter.c.detail)).scalars().all()
    assert all(details)


@pytest.mark.parametrize(
    "rounds",
    [
        pytest.param(SHORT_ROUNDS, id="short"),
        pytest.param(SOAK_ROUNDS, id="soak", marks=[pytest.mark.slow, pytest.mark.timeout(SOAK_TIMEOUT_S)]),
    ],
)
def test_every_kind_of_kill_again_and_again_loses_and_repeats_nothing(cluster: Cluster, rounds: int) -> None:
    boxes = [cluster.box("box-1", rate=20, seed=7), cluster.box("box-2", rate=20, seed=8)]
    for round_ in range(rounds):
        kind = KILLS[round_ % len(KILLS)]
        goal = hub_count(cluster.engine) + SALES_PER_ROUND

        def reached(target: int = goal) -> bool:
            return hub_count(cluster.engine) >= target

        wait_until(reached, 60, f"{goal} sales at the hub before killing the {kind} (round {round_ + 1})")
        if kind == "broker":
            cluster.broker.kill()
            time.sleep(0.5)  # the boxes keep selling with no broker
            cluster.broker.start()
        elif kind == "hub":
            cluster.hub.kill()
            time.sleep(0.5)
            cluster.hub.start()
        else:
            box = boxes[round_ % len(boxes)]
            box.kill()  # mid-ticket as often as not
            restarted = time.time()
            box.start()  # the same box sells on from its database

            def selling(box: BoxProcess = box, since: float = restarted) -> bool:
                return float(box.stats().get("updated", 0)) > since

            wait_until(selling, 30, f"{box.name} selling again")
    stop_and_drain(boxes)
    assert_effects_once(boxes, cluster.engine, tenant=TENANT)
    assert cluster.hub.running

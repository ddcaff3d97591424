"""On a real Mosquitto: each box is confined to its own subtree by its own credentials, and the hub still works.

Box A (``acme/box-1``) tries everything against box B (``acme/box-2``) and against a box of another tenant
with the same device id (``other/box-1``): connecting as them, reading their retained snapshots and acks,
publishing in their subtrees, writing acks (its own included), taking over B's session.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devkit.services import Credentials, MosquittoServer
from edge_agent.counter_sim import SimulatedCashier, simulated_counter
from edge_agent.relay import Relay, RelayConfig
from edge_agent.store import Store
from hub import db
from hub.ingest.worker import IngestConfig, IngestWorker
from tests.waiting import wait_until

pytestmark = pytest.mark.mqtt

A = ("acme", "box-1")
B = ("acme", "box-2")
C = ("other", "box-1")
WAIT_S = 10.0
QUIET_S = 0.5
"""How long a test waits to be sure a message that should not arrive does not."""


@dataclass
class Client:
    """A paho client that records what it receives, whether it connected, and its disconnections."""

    mqtt: mqtt.Client
    received: list[tuple[str, bytes]] = field(default_factory=list)
    connack: list[tuple[bool, bool]] = field(default_factory=list)
    """(refused, session present) of each CONNACK."""
    disconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _p in self.received]

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


def connect(port: int, cred: Credentials, *, client_id: str | None = None, clean_start: bool = True) -> Client:
    raw = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    raw.username_pw_set(cred.username, cred.password)
    client = Client(raw)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with client.lock:
            client.received.append((msg.topic, bytes(msg.payload)))

    def on_connect(_c: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, reason: object, _p: object) -> None:
        client.connack.append((bool(getattr(reason, "is_failure", True)), bool(flags.session_present)))

    def on_disconnect(*_args: object) -> None:
        client.disconnects += 1

    raw.on_message, raw.on_connect, raw.on_disconnect = on_message, on_connect, on_disconnect
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    raw.connect("127.0.0.1", port, clean_start=clean_start, properties=props)
    raw.loop_start()
    wait_until(lambda: bool(client.connack), WAIT_S, "the CONNACK")
    return client


def box(broker: MosquittoServer, who: tuple[str, str], **kwargs: object) -> Client:
    cred = broker.box_credentials(*who)
    client = connect(broker.box_port, cred, client_id=cred.username, **kwargs)  # type: ignore[arg-type]
    assert client.connack[-1][0] is False, f"{cred.username} was refused"
    return client


def subscribe(client: Client, *filters: str) -> None:
    done = threading.Event()
    client.mqtt.on_subscribe = lambda *_: done.set()
    client.mqtt.subscribe([(f, 1) for f in filters])
    assert done.wait(WAIT_S)


@pytest.fixture
def hub(broker: MosquittoServer) -> Iterator[Client]:
    client = connect(broker.port, broker.hub)
    assert client.connack[-1][0] is False
    yield client
    client.close()


def topic(who: tuple[str, str], rest: str) -> str:
    return f"mo/v1/{who[0]}/{who[1]}/{rest}"


def test_a_box_cannot_connect_as_another_box_nor_on_the_hub_listener(broker: MosquittoServer) -> None:
    a, b = broker.box_credentials(*A), broker.box_credentials(*B)
    as_b = connect(broker.box_port, Credentials(b.username, a.password))
    assert as_b.connack[-1][0] is True
    as_b.close()
    as_other_tenant = connect(broker.box_port, Credentials(broker_username(C), a.password))
    assert as_other_tenant.connack[-1][0] is True
    as_other_tenant.close()
    on_hub_listener = connect(broker.port, a)
    assert on_hub_listener.connack[-1][0] is True
    on_hub_listener.close()
    as_hub = connect(broker.box_port, Credentials(broker.hub.username, a.password))
    assert as_hub.connack[-1][0] is True
    as_hub.close()


def broker_username(who: tuple[str, str]) -> str:
    return f"{who[0]}/{who[1]}"


def test_a_box_reads_nothing_of_another_box_or_tenant(broker: MosquittoServer, hub: Client) -> None:
    broker.box_credentials(*C)
    for who in (B, C):
        hub.mqtt.publish(topic(who, "cfg/customers"), b"names and phones", qos=1, retain=True).wait_for_publish(5)
    a = box(broker, A)
    try:
        subscribe(
            a,
            topic(B, "cfg/#"),
            topic(C, "cfg/#"),
            "mo/v1/+/+/cfg/#",
            "mo/#",
            "#",
            topic(B, "ack"),
            topic(B, "evt/#"),
            topic(A, "cmd/+"),
        )
        hub.mqtt.publish(topic(B, "ack"), b"ack for B", qos=1).wait_for_publish(5)
        hub.mqtt.publish(topic(C, "cmd/reboot"), b"command for C", qos=1).wait_for_publish(5)
        b = box(broker, B)
        b.mqtt.publish(topic(B, "evt/sale"), b"B's sale", qos=1).wait_for_publish(5)
        b.close()
        # A command for A itself marks the end: everything above was sent before it.
        hub.mqtt.publish(topic(A, "cmd/probe"), b"probe", qos=1).wait_for_publish(5)
        wait_until(lambda: topic(A, "cmd/probe") in a.topics(), WAIT_S, "A's own command")
        time.sleep(QUIET_S)
        assert set(a.topics()) == {topic(A, "cmd/probe")}  # once per matching subscription
    finally:
        a.close()


def test_a_box_cannot_publish_outside_its_subtree_nor_forge_acks_or_snapshots(
    broker: MosquittoServer, hub: Client
) -> None:
    broker.box_credentials(*B)
    broker.box_credentials(*C)
    subscribe(hub, "mo/#")
    a = box(broker, A)
    try:
        subscribe(a, topic(A, "ack"), topic(A, "cfg/#"))
        forged = [
            topic(B, "evt/sale"),
            topic(C, "evt/sale"),
            topic(B, "status"),
            topic(B, "cmd/x/res"),
            topic(A, "ack"),
            topic(B, "ack"),
            topic(A, "cfg/customers"),
            topic(B, "cfg/customers"),
            "mo/v1/acme/evt/sale",
            "elsewhere/sale",
        ]
        for name in forged:
            a.mqtt.publish(name, b"forged", qos=1, retain=name.endswith("customers")).wait_for_publish(5)
        a.mqtt.publish(topic(A, "evt/sale"), b"A's own sale", qos=1).wait_for_publish(5)
        wait_until(lambda: topic(A, "evt/sale") in hub.topics(), WAIT_S, "A's own event at the hub")
        time.sleep(QUIET_S)
        assert hub.topics() == [topic(A, "evt/sale")]
        assert a.topics() == []  # no forged ack came back to A, no forged snapshot was retained for it
    finally:
        a.close()
    late = box(broker, B)
    try:
        subscribe(late, topic(B, "cfg/#"))
        time.sleep(QUIET_S)
        assert late.topics() == []  # nothing forged was retained for B either
    finally:
        late.close()


def test_a_box_cannot_take_over_another_box_session(broker: MosquittoServer, hub: Client) -> None:
    b = box(broker, B, clean_start=False)
    subscribe(b, topic(B, "ack"))
    b.close()
    hub.mqtt.publish(topic(B, "ack"), b"queued for B", qos=1).wait_for_publish(5)
    a_cred = broker.box_credentials(*A)
    intruder = connect(broker.box_port, a_cred, client_id=broker_username(B), clean_start=False)
    try:
        assert intruder.connack[-1] == (False, False)  # connected as itself: no session of B's
        time.sleep(QUIET_S)
        assert intruder.topics() == []
    finally:
        intruder.close()
    b = box(broker, B, clean_start=False)
    try:
        assert b.connack[-1] == (False, True)
        wait_until(lambda: topic(B, "ack") in b.topics(), WAIT_S, "B's queued ack")
        # A live B is not thrown off by A naming B's client id either.
        intruder = connect(broker.box_port, a_cred, client_id=broker_username(B))
        intruder.close()
        time.sleep(QUIET_S)
        assert b.disconnects == 0
    finally:
        b.close()


def test_the_hub_still_gets_a_box_events_and_the_box_its_acks(broker: MosquittoServer, tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    db.migrate(engine)
    worker = IngestWorker(
        engine,
        IngestConfig("127.0.0.1", broker.port, broker.hub.username, broker.hub.password, worker_id="hub-iso"),
    )
    worker.start()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    path = tmp_path / "box.sqlite3"
    cashier = SimulatedCashier(random.Random(7))
    with Store(path, tenant=A[0], device=A[1]) as store:
        services = simulated_counter(store, box_key=bytes(32))
        for _ in range(3):
            assert cashier.ring_up(services, lines=2) is not None, cashier.stats.last_problem
    relay = Relay(
        path,
        RelayConfig(
            host="127.0.0.1",
            port=broker.box_port,
            tenant=A[0],
            device=A[1],
            password=broker.box_credentials(*A).password,
        ),
    )
    relay.start()
    try:
        wait_until(lambda: relay.outbox_depth() == 0, 20, "the hub's acks at the box")
        with engine.connect() as conn:
            stored = conn.execute(sa.select(db.sale.c.device, sa.func.count()).group_by(db.sale.c.device)).all()
            online = conn.execute(sa.select(db.device.c.online).where(db.device.c.device == A[1])).scalar()
        assert [tuple(r) for r in stored] == [(A[1], 3)]
        assert online is True
    finally:
        relay.stop()
        worker.stop()
        thread.join(10)
        engine.dispose()

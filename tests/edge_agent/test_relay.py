"""The outbox relay against a real broker, with the test playing the hub; sales come from the real checkout."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core import wire
from devkit.services import MosquittoServer
from edge_agent.counter_sim import SimulatedCashier, simulated_counter
from edge_agent.relay import Relay, RelayConfig
from edge_agent.store import Store
from tests.edge_agent.conftest import BOX_KEY, Sell
from tests.effects import Box, assert_effects_once
from tests.waiting import wait_until

TENANT = "acme"
DEVICE = "box-1"
OFFLINE_TICKETS = 30
OFFLINE_REFUND_EVERY = 5


class FakeHub:
    """Records what the box publishes and acknowledges only when told to."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.events: list[wire.Message] = []
        self.statuses: list[wire.StatusData] = []
        self._lock = threading.Lock()
        self._seq = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fake-hub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(broker.hub.username, broker.hub.password)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe([(f"mo/v1/{TENANT}/+/evt/#", 1), (f"mo/v1/{TENANT}/+/status", 1)])
        time.sleep(0.2)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        message = wire.decode(msg.topic, bytes(msg.payload))
        with self._lock:
            if isinstance(message.data, wire.StatusData):
                self.statuses.append(message.data)
            else:
                self.events.append(message)

    def distinct_ids(self) -> set[uuid.UUID]:
        with self._lock:
            return {m.envelope.id for m in self.events}

    def ack(
        self, messages: list[wire.Message], status: wire.AckStatus = "committed", reason: str | None = None
    ) -> None:
        results = [wire.AckResult(id=m.envelope.id, seq=m.envelope.seq, status=status, reason=reason) for m in messages]
        self._seq += 1
        raw = wire.encode(
            id=wire.uuid7(int(time.time() * 1000), bytes(10)),
            seq=self._seq,
            ts=datetime.now(UTC),
            device="fake-hub",
            data=wire.AckData(results=results),
        )
        self.client.publish(str(wire.ack_topic(TENANT, DEVICE)), raw, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def hub(broker: MosquittoServer) -> Iterator[FakeHub]:
    fake = FakeHub(broker)
    yield fake
    fake.close()


def make_relay(broker: MosquittoServer, path: Path, **overrides: object) -> Relay:
    config = RelayConfig(
        host="127.0.0.1",
        port=broker.box_port,
        tenant=TENANT,
        device=DEVICE,
        username=broker.box_credentials(TENANT, DEVICE).username,
        password=broker.box_credentials(TENANT, DEVICE).password,
        **overrides,  # type: ignore[arg-type]
    )
    return Relay(path, config)


def test_the_relay_keeps_at_most_window_events_unacknowledged(
    broker: MosquittoServer, hub: FakeHub, tmp_path: Path, sell: Sell
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant=TENANT, device=DEVICE) as store:
        for _ in range(30):
            sell(store)
    relay = make_relay(broker, path, window=10, ack_timeout_s=30.0)
    relay.start()
    try:
        wait_until(lambda: len(hub.distinct_ids()) >= 10, 10, "the first window")
        time.sleep(0.5)
        assert len(hub.distinct_ids()) == 10
        assert [m.envelope.seq for m in hub.events] == list(range(1, 11))  # in order
        hub.ack(hub.events[:4])
        wait_until(lambda: len(hub.distinct_ids()) >= 14, 10, "four more after four acks")
        time.sleep(0.5)
        assert len(hub.distinct_ids()) == 14
        assert relay.outbox_depth() == 26
    finally:
        relay.stop()


def test_a_broker_puback_does_not_delete_only_the_hub_ack_does(
    broker: MosquittoServer, hub: FakeHub, tmp_path: Path, sell: Sell
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant=TENANT, device=DEVICE) as store:
        sell(store)
    relay = make_relay(broker, path)
    relay.start()
    try:
        wait_until(lambda: len(hub.events) == 1, 10, "the event at the hub")
        time.sleep(0.3)
        assert relay.outbox_depth() == 1  # published and PUBACKed, but not committed by the hub
        hub.ack(hub.events[:1])
        wait_until(lambda: relay.outbox_depth() == 0, 10, "the outbox to empty after the hub's ack")
        assert relay.stats.acked == 1
    finally:
        relay.stop()


def test_an_unacknowledged_event_is_published_again_byte_for_byte(
    broker: MosquittoServer, hub: FakeHub, tmp_path: Path, sell: Sell
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant=TENANT, device=DEVICE) as store:
        sell(store)
    relay = make_relay(broker, path, ack_timeout_s=0.3)
    relay.start()
    try:
        wait_until(lambda: len(hub.events) >= 2, 10, "a republication")
        first, second = hub.events[:2]
        assert first.envelope.id == second.envelope.id and first.sha256 == second.sha256
        assert relay.stats.republished >= 1
    finally:
        relay.stop()


def test_a_rejected_event_is_kept_aside_and_not_sent_again(
    broker: MosquittoServer, hub: FakeHub, tmp_path: Path, sell: Sell
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant=TENANT, device=DEVICE) as store:
        sell(store)
        relay = make_relay(broker, path, ack_timeout_s=0.3)
        relay.start()
        try:
            wait_until(lambda: len(hub.events) >= 1, 10, "the event")
            hub.ack(hub.events[:1], status="rejected", reason="bad_data")
            wait_until(lambda: store.totals().rejected == 1, 10, "the rejection to be recorded")
            seen = len(hub.events)
            time.sleep(1.0)
            assert len(hub.events) == seen  # no more retries
            assert store.outbox_depth() == 0
        finally:
            relay.stop()


def test_the_box_announces_itself_and_says_goodbye(broker: MosquittoServer, hub: FakeHub, tmp_path: Path) -> None:
    relay = make_relay(broker, tmp_path / "box.sqlite3")
    relay.start()
    wait_until(lambda: any(s.state == "online" for s in hub.statuses), 10, "the birth message")
    relay.stop()
    wait_until(lambda: hub.statuses[-1].state == "offline", 10, "the goodbye")
    assert hub.statuses[-1].reason == "shutdown"


def test_sales_made_while_the_broker_is_down_go_out_when_it_returns(
    broker: MosquittoServer, hub: FakeHub, tmp_path: Path
) -> None:
    path = tmp_path / "box.sqlite3"
    relay = make_relay(broker, path, ack_timeout_s=1.0, reconnect_max_s=2.0)
    relay.start()
    try:
        wait_until(lambda: relay.stats.connected, 10, "the first connection")
        broker.kill()
        cashier = SimulatedCashier(random.Random(3), refund_every=OFFLINE_REFUND_EVERY)
        with Store(path, tenant=TENANT, device=DEVICE) as store:
            services = simulated_counter(store, box_key=BOX_KEY, online=lambda: False)
            for _ in range(OFFLINE_TICKETS):  # the box sells on, offline: members, points, refunds
                cashier.ring_up(services)
            waiting = store.outbox_depth()
        assert cashier.stats.sales == OFFLINE_TICKETS and cashier.stats.refunds, cashier.stats
        relay.notify()
        broker.start()
        hub.close()  # its subscription died with the broker
        hub2 = FakeHub(broker)
        try:
            wait_until(lambda: len(hub2.distinct_ids()) == waiting, 20, "the offline events after reconnection")
            hub2.ack(hub2.events)
            wait_until(lambda: relay.outbox_depth() == 0, 10, "the outbox to drain")
        finally:
            hub2.close()
    finally:
        relay.stop()
    assert relay.stats.connections >= 2
    assert_effects_once([Box(DEVICE, path)])


def test_a_bad_ack_is_ignored_and_the_event_stays(
    broker: MosquittoServer, hub: FakeHub, tmp_path: Path, sell: Sell
) -> None:
    path = tmp_path / "box.sqlite3"
    with Store(path, tenant=TENANT, device=DEVICE) as store:
        sell(store)
    relay = make_relay(broker, path, ack_timeout_s=30.0)
    relay.start()
    try:
        wait_until(lambda: len(hub.events) == 1, 10, "the event")
        hub.client.publish(str(wire.ack_topic(TENANT, DEVICE)), json.dumps({"v": 1}), qos=1).wait_for_publish(5)
        time.sleep(0.5)
        assert relay.outbox_depth() == 1
    finally:
        relay.stop()

"""The hub's MQTT set-up against a real Mosquitto: a publisher's connection says why it failed, and the
ingest worker's persistent session keeps what was published to it while it was away."""

from __future__ import annotations

import queue
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from devkit.services import MosquittoServer, free_port
from hub import mqtt as hub_mqtt

ANSWER_TIMEOUT_S = 10.0


def test_connect_now_returns_a_connected_client_with_its_loop_running(broker: MosquittoServer) -> None:
    client = hub_mqtt.new_client(f"t-{uuid.uuid4().hex[:8]}", broker.hub.username, broker.hub.password)
    hub_mqtt.connect_now(client, "127.0.0.1", broker.port, timeout_s=ANSWER_TIMEOUT_S)
    try:
        assert client.is_connected()
        info = client.publish(f"mo/test/{uuid.uuid4().hex}", b"x", qos=1)
        info.wait_for_publish(ANSWER_TIMEOUT_S)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_connect_now_names_the_broker_and_the_credentials_when_refused(broker: MosquittoServer) -> None:
    client = hub_mqtt.new_client(f"t-{uuid.uuid4().hex[:8]}", broker.hub.username, "not-the-password")
    with pytest.raises(hub_mqtt.BrokerUnavailable, match=rf"127\.0\.0\.1:{broker.port} refused.*credentials"):
        hub_mqtt.connect_now(client, "127.0.0.1", broker.port, timeout_s=ANSWER_TIMEOUT_S)


def test_connect_now_says_when_nothing_listens() -> None:
    port = free_port()
    client = hub_mqtt.new_client(f"t-{uuid.uuid4().hex[:8]}", None, None)
    with pytest.raises(hub_mqtt.BrokerUnavailable, match=rf"cannot reach the broker at 127\.0\.0\.1:{port}"):
        hub_mqtt.connect_now(client, "127.0.0.1", port, timeout_s=ANSWER_TIMEOUT_S)


def _session(broker: MosquittoServer, client_id: str, topic: str, got: queue.Queue[bytes]) -> mqtt.Client:
    client = hub_mqtt.new_client(client_id, broker.hub.username, broker.hub.password)
    subscribed = threading.Event()

    def on_connect(c: mqtt.Client, _u: object, _f: mqtt.ConnectFlags, reason: object, _p: object) -> None:
        c.subscribe(topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _c, _u, msg: got.put(bytes(msg.payload))
    hub_mqtt.start_session(client, "127.0.0.1", broker.port, keepalive_s=30, session_expiry_s=600)
    assert subscribed.wait(ANSWER_TIMEOUT_S), "the persistent session did not connect and subscribe"
    return client


def test_a_persistent_session_receives_what_was_published_while_it_was_away(broker: MosquittoServer) -> None:
    client_id = f"t-{uuid.uuid4().hex[:8]}"
    topic = f"mo/test/{uuid.uuid4().hex}"
    got: queue.Queue[bytes] = queue.Queue()
    first = _session(broker, client_id, topic, got)
    first.disconnect()
    first.loop_stop()

    sender = hub_mqtt.new_client(f"t-{uuid.uuid4().hex[:8]}", broker.hub.username, broker.hub.password)
    hub_mqtt.connect_now(sender, "127.0.0.1", broker.port, timeout_s=ANSWER_TIMEOUT_S)
    sender.publish(topic, b"while away", qos=1).wait_for_publish(ANSWER_TIMEOUT_S)
    sender.disconnect()
    sender.loop_stop()

    again = _session(broker, client_id, topic, got)
    try:
        assert got.get(timeout=ANSWER_TIMEOUT_S) == b"while away"
    finally:
        again.disconnect()
        again.loop_stop()

"""The box's MQTT set-up against a real Mosquitto: its session on the boxes' listener outlives a connection,
so what the hub sent while the box was away arrives when it comes back."""

from __future__ import annotations

import queue
import threading
import uuid

import paho.mqtt.client as mqtt

from core import wire
from devkit.services import MosquittoServer
from edge_agent import mqtt as box_mqtt
from hub import mqtt as hub_mqtt

ANSWER_TIMEOUT_S = 10.0
TENANT = "acme"


def _box_session(broker: MosquittoServer, device: str, got: queue.Queue[bytes]) -> mqtt.Client:
    cred = broker.box_credentials(TENANT, device)
    client = box_mqtt.new_client(cred.username, cred.password, tls=None, max_inflight=8)
    subscribed = threading.Event()

    def on_connect(c: mqtt.Client, _u: object, _f: mqtt.ConnectFlags, reason: object, _p: object) -> None:
        c.subscribe(str(wire.ack_topic(TENANT, device)), qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _c, _u, msg: got.put(bytes(msg.payload))
    box_mqtt.start_session(
        client,
        "127.0.0.1",
        broker.box_port,
        keepalive_s=30,
        session_expiry_s=600,
        reconnect_min_s=0.5,
        reconnect_max_s=30.0,
    )
    assert subscribed.wait(ANSWER_TIMEOUT_S), "the box's session did not connect and subscribe"
    return client


def test_the_box_session_receives_what_the_hub_sent_while_it_was_away(broker: MosquittoServer) -> None:
    device = f"box-{uuid.uuid4().hex[:8]}"
    got: queue.Queue[bytes] = queue.Queue()
    first = _box_session(broker, device, got)
    first.disconnect()
    first.loop_stop()

    hub = hub_mqtt.new_client(f"t-{uuid.uuid4().hex[:8]}", broker.hub.username, broker.hub.password)
    hub_mqtt.connect_now(hub, "127.0.0.1", broker.port, timeout_s=ANSWER_TIMEOUT_S)
    hub.publish(str(wire.ack_topic(TENANT, device)), b"while away", qos=1).wait_for_publish(ANSWER_TIMEOUT_S)
    hub.disconnect()
    hub.loop_stop()

    again = _box_session(broker, device, got)
    try:
        assert got.get(timeout=ANSWER_TIMEOUT_S) == b"while away"
    finally:
        again.disconnect()
        again.loop_stop()

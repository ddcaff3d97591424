"""Baseline publisher: sends a box's outbox payloads with plain paho, QoS 1, and waits for every PUBACK.

``python -m bench.raw_publisher DB PORT USER PASSWORD_FILE`` (the box's own broker user). It is the ingest
benchmark's baseline sender: no outbox bookkeeping, no acks from the hub, nothing but MQTT.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

WINDOW = 256


def main(argv: list[str]) -> int:
    db_path, port, user, password_file = argv
    rows = sqlite3.connect(db_path).execute("SELECT topic, payload FROM outbox ORDER BY seq").fetchall()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, Path(password_file).read_text().splitlines()[0])
    client.max_inflight_messages_set(WINDOW)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", int(port))
    client.loop_start()
    infos = [client.publish(topic, bytes(payload), qos=1) for topic, payload in rows]
    deadline = time.monotonic() + 300
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

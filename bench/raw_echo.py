"""Baseline hub for the latency benchmark: sends every box event's payload straight back to the box's ack topic.

``python -m bench.raw_echo PORT USER PASSWORD_FILE SECONDS``: no validation, no database, no batching; the
broker round trip a box would see from a hub that does nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main(argv: list[str]) -> int:
    port, user, password_file, seconds = argv
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-echo", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, Path(password_file).read_text().splitlines()[0])

    def echo(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        tenant_device = msg.topic.rsplit("/evt/", 1)[0]
        c.publish(f"{tenant_device}/ack", msg.payload, qos=1)

    client.on_connect = lambda c, *_: c.subscribe("mo/v1/+/+/evt/#", qos=1)
    client.on_message = echo
    client.connect("127.0.0.1", int(port))
    client.loop_start()
    print("ready", flush=True)
    time.sleep(float(seconds))
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark child: many counter boxes in one process, selling at a steady rate, timing commit to hub ack.

``python -m bench.latency_boxes MODE DIR TENANT FIRST COUNT RATE SECONDS PORT SECRETS_DIR`` (box ``box-N``
connects as ``TENANT/box-N`` with the password in ``SECRETS_DIR/box-N.pw``)

* ``ours``: each box is a real store (WAL, ``synchronous=FULL``) and relay; a sale is committed with its
  outbox row and timed until the relay has settled the hub's ack for it.
* ``raw``: each box is a plain paho client publishing a small payload at QoS 1, timed until the raw echo
  (``bench.raw_echo``) sends it back: the broker round trip with no database on either side.

Prints one JSON line: ``{"latencies_ms": [...], "sent": n, "lost": n}``.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core import broker_auth, wire
from edge_agent.relay import Relay, RelayConfig
from edge_agent.simulate import random_sale
from edge_agent.store import Store

DRAIN_S = 30.0


class _Box:
    def __init__(self, mode: str, directory: Path, tenant: str, device: str, port: int, user: str, pw: str) -> None:
        self.mode = mode
        self.device = device
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        if mode == "ours":
            self.store = Store(directory / f"{device}.sqlite3", tenant=tenant, device=device)
            config = RelayConfig(host="127.0.0.1", port=port, tenant=tenant, device=device, username=user, password=pw)
            self.relay = Relay(directory / f"{device}.sqlite3", config, on_settled=self._settled)
            self.relay.start()
        else:
            self.topic = f"mo/v1/{tenant}/{device}/evt/sale"
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
            self.client.username_pw_set(user, pw)
            self.client.on_connect = lambda c, *_: c.subscribe(f"mo/v1/{tenant}/{device}/ack", qos=1)
            self.client.on_message = self._echoed
            self.client.connect("127.0.0.1", port)
            self.client.loop_start()

    def _settled(self, results: Sequence[wire.AckResult]) -> None:
        now = time.monotonic()
        with self.lock:
            for result in results:
                started = self.sent.pop(str(result.id), None)
                if started is not None:
                    self.latencies.append((now - started) * 1000)

    def _echoed(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self.lock:
            started = self.sent.pop(bytes(msg.payload).decode(), None)
            if started is not None:
                self.latencies.append((now - started) * 1000)

    def sell(self, rng: random.Random) -> None:
        if self.mode == "ours":
            started = time.monotonic()
            recorded = self.store.record_sale(random_sale(rng, "store-1", "MXN"))
            with self.lock:
                self.sent[str(recorded.event_id)] = started
            self.relay.notify()
        else:
            key = str(uuid.uuid4())
            with self.lock:
                self.sent[key] = time.monotonic()
            self.client.publish(self.topic, key.encode(), qos=1)

    def waiting(self) -> int:
        with self.lock:
            return len(self.sent)

    def close(self) -> None:
        if self.mode == "ours":
            self.relay.stop()
            self.store.close()
        else:
            self.client.disconnect()
            self.client.loop_stop()


def main(argv: list[str]) -> int:
    mode, directory, tenant, first, count, rate, seconds, port, secrets = argv

    def make_box(device: str) -> _Box:
        # Every box has its own broker user and password (see provisioning): ``{secrets}/{device}.pw``.
        pw = (Path(secrets) / f"{device}.pw").read_text().splitlines()[0]
        return _Box(mode, Path(directory), tenant, device, int(port), broker_auth.box_username(tenant, device), pw)

    boxes = [make_box(f"box-{n}") for n in range(int(first), int(first) + int(count))]
    time.sleep(1.0)  # connections up
    rng = random.Random(int(first))
    interval = 1.0 / float(rate)
    started = time.monotonic()
    # Each box sells every ``interval`` seconds, the boxes spread evenly across it.
    offsets = [interval * i / len(boxes) for i in range(len(boxes))]
    tick = 0
    while time.monotonic() - started < float(seconds):
        base = started + tick * interval
        for box, offset in zip(boxes, offsets, strict=True):
            delay = base + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            box.sell(rng)
        tick += 1
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and any(box.waiting() for box in boxes):
        time.sleep(0.05)
    latencies = [ms for box in boxes for ms in box.latencies]
    lost = sum(box.waiting() for box in boxes)
    for box in boxes:
        box.close()
    print(json.dumps({"latencies_ms": latencies, "sent": len(latencies) + lost, "lost": lost}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

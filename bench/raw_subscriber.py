"""Baseline subscriber: inserts each raw payload into one PostgreSQL table with executemany.

``python -m bench.raw_subscriber DSN PORT USER PASSWORD_FILE EXPECTED``: subscribes to every box event, inserts
payloads in batches of up to ``BATCH_MAX`` (or what arrived within ``BATCH_WAIT_S``) and exits once EXPECTED
rows are in. No validation, no inbox, no acks: the floor the hub's ingest is compared with.
"""

from __future__ import annotations

import queue
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

BATCH_MAX = 1000
BATCH_WAIT_S = 0.02


def main(argv: list[str]) -> int:
    dsn, port, user, password_file, expected = argv
    inbox: queue.Queue[bytes] = queue.Queue(20_000)
    conn = psycopg.connect(dsn)
    conn.execute("CREATE TABLE IF NOT EXISTS raw_event (payload bytea NOT NULL)")
    conn.commit()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-subscriber", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, Path(password_file).read_text().splitlines()[0])
    client.on_connect = lambda c, *_: c.subscribe("mo/v1/+/+/evt/#", qos=1)
    client.on_message = lambda _c, _u, msg: inbox.put(bytes(msg.payload))
    client.connect("127.0.0.1", int(port))
    client.loop_start()
    stored = 0
    print("ready", flush=True)
    while stored < int(expected):
        batch = [inbox.get()]
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH_MAX and (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(inbox.get(timeout=left))
            except queue.Empty:
                break
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO raw_event (payload) VALUES (%s)", [(p,) for p in batch])
        conn.commit()
        stored += len(batch)
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The outbox relay: publishes the box's events to the hub and settles them on the hub's commit ack.

One relay per box. It publishes outbox rows in sequence order over an MQTT 5 persistent session (QoS 1),
keeps at most ``window`` events published but not yet acknowledged by the hub, and deletes a row only when
an ``ack`` from the hub says the hub committed it (PUBACK from the broker is not durability: a broker killed
with SIGKILL loses what it acknowledged). An event the hub has not acknowledged within ``ack_timeout_s`` is
published again, with the wait doubling up to ``ack_timeout_max_s``; the hub's inbox makes the repeat
harmless. Connection loss is retried with exponential backoff by paho (``reconnect_min_s`` to
``reconnect_max_s``).

Threads: paho's network thread runs the callbacks, which only hand work over; the relay's own thread
(``pump``) owns its SQLite connection, reads the outbox, publishes and applies acks.

The relay's session is the box's one MQTT session: the broker's ACL ties a box's subtree to its own username
(``{tenant}/{device}``, :func:`core.broker_auth.box_username`), which the boxes' listener also takes as the
client id, so a second connection of the box would end the first. Other parts of the box that read from the
hub (configuration snapshots) register with :meth:`Relay.subscribe`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core import broker_auth, wire
from edge_agent import mqtt as box_mqtt
from edge_agent.store import Store

log = logging.getLogger(__name__)

ACK_QUEUE_MAX = 10_000
"""Ack messages received but not yet applied; paho's thread waits when it is full (backpressure)."""
MAX_ACKS_PER_PASS = 64

MessageHandler = Callable[[str, bytes], None]
"""Receives (topic, payload) of a message on an extra subscription, on paho's network thread."""


@dataclass(frozen=True)
class RelayConfig:
    """Where and how the relay talks to the broker. Times in seconds."""

    host: str
    port: int
    tenant: str
    device: str
    username: str | None = None
    """The box's broker user; ``None``: ``{tenant}/{device}``, the username provisioning gives every box."""
    password: str | None = None
    window: int = 256
    ack_timeout_s: float = 10.0
    ack_timeout_max_s: float = 300.0
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    session_expiry_s: int = 14 * 24 * 3600
    poll_s: float = 0.5
    software: str = "mostrador-edge"
    ca_file: str | None = None
    """TLS: the CA that signed the broker's certificate; TLS is on when this is set."""
    cert_file: str | None = None
    """TLS: this box's client certificate (CN = its broker username, ``{tenant}/{device}``) and its key."""
    key_file: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.window <= wire.MAX_EVENTS_IN_FLIGHT:
            raise ValueError(f"window must be 1..{wire.MAX_EVENTS_IN_FLIGHT}, got {self.window}")
        if self.ack_timeout_s <= 0 or self.ack_timeout_max_s < self.ack_timeout_s:
            raise ValueError("need 0 < ack_timeout_s <= ack_timeout_max_s")


@dataclass
class _Pending:
    due: float
    wait_s: float


@dataclass
class RelayStats:
    """Counters for the live table and the technician's status screen."""

    published: int = 0
    republished: int = 0
    acked: int = 0
    rejected: int = 0
    connected: bool = False
    connections: int = 0
    last_error: str = ""
    pending: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Relay:
    """Publishes one box's outbox and settles it from the hub's acks."""

    def __init__(
        self,
        store_path: Path | str,
        config: RelayConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_settled: Callable[[Sequence[wire.AckResult]], None] | None = None,
    ):
        """``on_settled`` is called on the relay's thread with the hub's verdicts once they are settled in the
        store (events out of the outbox): for a status screen or a latency measurement."""
        self.config = config
        self.on_settled = on_settled
        self._store_path = Path(store_path)
        self._clock = clock
        self.stats = RelayStats()
        self._acks: queue.Queue[wire.AckData] = queue.Queue(ACK_QUEUE_MAX)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._reset_pending = threading.Event()
        self._pending: dict[int, _Pending] = {}
        self._rows: dict[int, tuple[str, bytes]] = {}
        self._high_seq = 0
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._store: Store | None = None
        self._status_topic = str(wire.status_topic(config.tenant, config.device))
        self._ack_topic = str(wire.ack_topic(config.tenant, config.device))
        self._subscriptions: list[tuple[str, MessageHandler]] = []

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Also subscribe to ``topic_filter`` (QoS 1, at every connect) on the box's session.

        Messages on matching topics go to ``handler(topic, payload)`` on paho's network thread: it must only
        hand them over (to a bounded queue, say) and return. Call before :meth:`start`.
        """
        if self._thread is not None:
            raise RuntimeError("subscribe before the relay starts")
        self._subscriptions.append((topic_filter, handler))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect (in the background: the box sells whether or not the broker is there) and start pumping."""
        if self._thread is not None:
            raise RuntimeError("relay already started")
        with Store(self._store_path, tenant=self.config.tenant, device=self.config.device) as store:
            connection = store.next_connection()
        self._client = self._make_client(connection)
        self._thread = threading.Thread(target=self._pump, name=f"relay-{self.config.device}", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Tell the relay a new event is in the outbox (it also polls every ``poll_s``)."""
        self._wake.set()

    def stop(self, *, drain_s: float = 0.0) -> None:
        """Stop: optionally wait up to ``drain_s`` for the outbox to empty, then say goodbye and disconnect.

        Whatever is still in the outbox stays there and goes out at the next start.
        """
        if self._thread is None or self._client is None:
            return
        deadline = self._clock() + drain_s
        while drain_s and self._clock() < deadline and self.outbox_depth() > 0:
            time.sleep(0.05)
        self._stopping.set()
        self._wake.set()
        self._thread.join(10)
        client = self._client
        if self._connected.is_set():
            goodbye = self._status(wire.StatusData(state="offline", reason="shutdown", software=self.config.software))
            info = client.publish(self._status_topic, goodbye, qos=1, retain=True)
            info.wait_for_publish(3)
        client.disconnect()
        client.loop_stop()
        self._thread = None

    def outbox_depth(self) -> int:
        with Store(self._store_path, tenant=self.config.tenant, device=self.config.device) as store:
            return store.outbox_depth()

    # ------------------------------------------------------------------ MQTT

    def _status(self, data: wire.StatusData) -> bytes:
        now = datetime.now(UTC)
        return wire.encode(
            id=wire.uuid7(int(now.timestamp() * 1000), os.urandom(10)),
            seq=self._connection,
            ts=now,
            device=self.config.device,
            data=data,
        )

    def _make_client(self, connection: int) -> mqtt.Client:
        cfg = self.config
        self._connection = connection
        username = cfg.username if cfg.username is not None else broker_auth.box_username(cfg.tenant, cfg.device)
        tls = None if cfg.ca_file is None else box_mqtt.TlsFiles(cfg.ca_file, cfg.cert_file, cfg.key_file)
        client = box_mqtt.new_client(
            username, cfg.password, tls=tls, max_inflight=min(cfg.window, wire.MAX_EVENTS_IN_FLIGHT)
        )
        will = self._status(wire.StatusData(state="offline", reason="connection_lost", software=cfg.software))
        client.will_set(self._status_topic, will, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        box_mqtt.start_session(
            client,
            cfg.host,
            cfg.port,
            keepalive_s=cfg.keepalive_s,
            session_expiry_s=cfg.session_expiry_s,
            reconnect_min_s=cfg.reconnect_min_s,
            reconnect_max_s=cfg.reconnect_max_s,
        )
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.stats.last_error = f"broker refused the connection: {reason}"
            log.warning("%s: %s", self.config.device, self.stats.last_error)
            return
        client.subscribe([(self._ack_topic, 1), *((pattern, 1) for pattern, _handler in self._subscriptions)])
        birth = self._status(wire.StatusData(state="online", reason="connected", software=self.config.software))
        client.publish(self._status_topic, birth, qos=1, retain=True)
        self.stats.connections += 1
        self.stats.connected = True
        self._connected.set()
        if not flags.session_present:
            # The broker forgot us (first connect, or its state was lost): nothing we sent is in flight.
            self._reset_pending.set()
        self._wake.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.stats.connected = False
        self._connected.clear()
        if not self._stopping.is_set():
            self.stats.last_error = f"disconnected: {reason}"
            # Whatever the broker accepted may be lost with it: resend unacked events soon after reconnecting.
            self._reset_pending.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        for pattern, handler in self._subscriptions:
            if wire.topic_matches(pattern, msg.topic):
                handler(msg.topic, bytes(msg.payload))
                return
        try:
            message = wire.decode(msg.topic, bytes(msg.payload))
        except wire.ContractViolation as exc:
            log.warning("%s: ignoring a bad ack on %s: %s", self.config.device, msg.topic, exc)
            return
        if isinstance(message.data, wire.AckData):
            self._acks.put(message.data)
            self._wake.set()

    # ------------------------------------------------------------------ pump

    def _pump(self) -> None:
        # The pump thread owns this connection: sqlite3 connections stay in the thread that made them.
        self._store = Store(self._store_path, tenant=self.config.tenant, device=self.config.device)
        while not self._stopping.is_set():
            try:
                self._pump_once()
            except Exception:  # the relay must outlive any single bad pass; it logs and retries
                log.exception("%s: relay pass failed; retrying", self.config.device)
                self._stopping.wait(1.0)
            timeout = self._next_wait()
            self._wake.wait(timeout)
            self._wake.clear()
        self._store.close()

    def _pump_once(self) -> None:
        store = self._store
        client = self._client
        assert store is not None and client is not None
        self._apply_acks(store)
        if not self._connected.is_set():
            return
        now = self._clock()
        if self._reset_pending.is_set():
            self._reset_pending.clear()
            for pending in self._pending.values():
                pending.due = now
                pending.wait_s = self.config.ack_timeout_s
        for seq, pending in sorted(self._pending.items()):
            if pending.due <= now and self._connected.is_set():
                topic, payload = self._rows[seq]
                client.publish(topic, payload, qos=1)
                pending.wait_s = min(pending.wait_s * 2, self.config.ack_timeout_max_s)
                pending.due = now + pending.wait_s
                self.stats.republished += 1
        room = self.config.window - len(self._pending)
        if room > 0:
            for row in store.outbox_after(self._high_seq, room):
                client.publish(row.topic, row.payload, qos=1)
                self._pending[row.seq] = _Pending(now + self.config.ack_timeout_s, self.config.ack_timeout_s)
                self._rows[row.seq] = (row.topic, row.payload)
                self._high_seq = row.seq
                self.stats.published += 1
        self.stats.pending = len(self._pending)

    def _apply_acks(self, store: Store) -> None:
        results: list[wire.AckResult] = []
        for _ in range(MAX_ACKS_PER_PASS):
            try:
                results.extend(self._acks.get_nowait().results)
            except queue.Empty:
                break
        if not results:
            return
        store.settle(results)
        if self.on_settled is not None:
            self.on_settled(results)
        for result in results:
            self._pending.pop(result.seq, None)
            self._rows.pop(result.seq, None)
            if result.status == "rejected":
                self.stats.rejected += 1
                log.error(
                    "%s: hub rejected event %s (seq %d): %s",
                    self.config.device,
                    result.id,
                    result.seq,
                    result.reason,
                )
            else:
                self.stats.acked += 1
        self.stats.pending = len(self._pending)
        if not self._acks.empty():
            self._wake.set()

    def _next_wait(self) -> float:
        if not self._pending:
            return self.config.poll_s
        soonest = min(p.due for p in self._pending.values()) - self._clock()
        return max(0.01, min(self.config.poll_s, soonest))

"""The hub's MQTT client set-up: one place where a hub process makes its paho client and connects it.

Every hub client speaks MQTT 5 with paho's version-2 callbacks. Two ways to connect:

* :func:`connect_now`, for a publisher's short-lived connection (snapshots, promotion sets, the jobs, the
  API): connect at once, start the network loop and wait for the broker's answer; an unreachable or
  refusing broker raises :class:`BrokerUnavailable` with a message that says which and what to check.
* :func:`start_session`, for the ingest worker's persistent session: connect in the background with
  ``clean_start=False`` and a session expiry (the broker keeps the subscriptions and the messages queued
  while the worker is away); paho reconnects with a delay doubling from :data:`RECONNECT_MIN_S` to
  :data:`RECONNECT_MAX_S`.

Subscriptions, callbacks and what a client logs on connect and disconnect stay with the code that owns the
client: they depend on what it is for.
"""

from __future__ import annotations

import threading
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.errors import HubError

DEFAULT_PORT: Final = 1883
"""The broker's port when a URL names none."""
KEEPALIVE_S: Final = 30
"""MQTT keepalive of the hub's short-lived connections."""
RECONNECT_MIN_S: Final = 1
RECONNECT_MAX_S: Final = 30
"""Bounds of paho's reconnect delay (doubling) for a persistent session."""


class BrokerUnavailable(HubError, ConnectionError):
    """The broker could not be reached, refused the connection, or did not answer in time."""

    code = "broker_unavailable"


def new_client(
    client_id: str,
    username: str | None,
    password: str | None,
    *,
    manual_ack: bool = False,
    max_inflight: int | None = None,
) -> mqtt.Client:
    """An MQTT 5 paho client (version-2 callbacks), not yet connected.

    ``username`` None: no credentials are sent. ``manual_ack``: the owner acknowledges each received QoS 1
    message itself. ``max_inflight``: messages published and not yet acknowledged by the broker (paho's
    default when None)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if username is not None:
        client.username_pw_set(username, password)
    if max_inflight is not None:
        client.max_inflight_messages_set(max_inflight)
    return client


def connect_now(client: mqtt.Client, host: str, port: int, *, timeout_s: float, keepalive_s: int = KEEPALIVE_S) -> None:
    """Connect ``client``, start its network loop and wait up to ``timeout_s`` for the broker to accept.

    Sets ``client.on_connect``. Raises :class:`BrokerUnavailable` when the broker cannot be reached, refuses
    the connection or does not answer in time (the loop is stopped again then)."""
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: mqtt.ConnectFlags, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            failure.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=keepalive_s)
    except OSError as exc:
        raise BrokerUnavailable(f"cannot reach the broker at {host}:{port}: {exc}") from exc
    client.loop_start()
    if not connected.wait(timeout_s) or failure:
        client.loop_stop()
        why = failure[0] if failure else f"no answer within {timeout_s} s"
        raise BrokerUnavailable(
            f"the broker at {host}:{port} refused the connection: {why}; check the hub's broker credentials"
        )


def start_session(
    client: mqtt.Client,
    host: str,
    port: int,
    *,
    keepalive_s: int,
    session_expiry_s: int,
    receive_maximum: int | None = None,
) -> None:
    """Connect ``client`` in the background to a persistent session and start its network loop.

    The session outlives the connection by ``session_expiry_s``; ``receive_maximum`` bounds the messages the
    broker may have in flight to this client (the broker's default when None). The outcome of each attempt
    reaches the client's own ``on_connect``; paho keeps trying with backoff."""
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    client.connect_async(host, port, keepalive_s, clean_start=False, properties=props)
    client.loop_start()

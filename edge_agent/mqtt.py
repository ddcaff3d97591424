"""The box's MQTT client set-up: its one client, its credentials and TLS, and its persistent session.

The box has one MQTT session (the relay's, :mod:`edge_agent.relay`): the boxes' listener takes the broker
username as the client id, so a second connection of the box would end the first. :func:`new_client` makes
that MQTT 5 client (paho's version-2 callbacks, the username as client id, TLS when a CA is given);
:func:`start_session` connects it in the background with ``clean_start=False`` and a session expiry, and
paho reconnects on its own with a doubling delay. Callbacks, the last will and what is logged stay with the
relay, which owns the session.
"""

from __future__ import annotations

from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["TlsFiles", "new_client", "start_session"]

MIN_RECONNECT_DELAY_S = 1
"""paho counts its reconnect delay in whole seconds: a shorter one is raised to this."""


@dataclass(frozen=True)
class TlsFiles:
    """TLS to the broker: the CA that signed its certificate, and optionally this box's certificate and key."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


def new_client(username: str, password: str | None, *, tls: TlsFiles | None, max_inflight: int) -> mqtt.Client:
    """The box's MQTT 5 client, not yet connected: client id and username ``username``.

    ``max_inflight``: events published and not yet acknowledged by the broker; nothing is queued beyond
    them while the box is offline (the outbox is the queue)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5, reconnect_on_failure=True
    )
    client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    return client


def start_session(
    client: mqtt.Client,
    host: str,
    port: int,
    *,
    keepalive_s: int,
    session_expiry_s: int,
    reconnect_min_s: float,
    reconnect_max_s: float,
) -> None:
    """Connect ``client`` in the background to its persistent session and start its network loop.

    The broker keeps the session (subscriptions, unacknowledged messages) for ``session_expiry_s`` after a
    connection ends; a lost connection is retried by paho, the delay doubling from ``reconnect_min_s`` to
    ``reconnect_max_s``. Each attempt's outcome reaches the client's own ``on_connect``."""
    client.reconnect_delay_set(
        max(MIN_RECONNECT_DELAY_S, int(reconnect_min_s)), max(MIN_RECONNECT_DELAY_S, int(reconnect_max_s))
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    client.connect_async(host, port, keepalive=keepalive_s, clean_start=False, properties=props)
    client.loop_start()

"""Publish a configuration snapshot to one box: retained, versioned, in parts (docs/protocol.md).

:func:`publish_config` validates the body for its kind, reads what the broker retains for that box and
kind, refuses a version lower than the retained one (and the retained version with another body), then
publishes the parts and, last, the manifest, all retained at QoS 1, waiting for each PUBACK. Parts a
previous, longer snapshot left retained beyond the new count are cleared afterwards (an empty retained
message deletes one). A box connected at that moment assembles the new version from the live messages; a
box connecting later gets the retained snapshot.

Reading the retained state: the publisher subscribes to the manifest and part topics, then publishes a probe
on a private topic (``mo/hub/probe/{random}``) it also subscribes to. The broker sends a client its retained
messages when the subscription is made, before anything published after it, so when the probe comes back
every retained message has arrived. The hub's broker account therefore needs read and write on ``mo/#``.

Command line: ``python -m hub publish-config --tenant T --device D --kind K --file body.json --version N``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from core import wire
from core.errors import InvalidInput
from hub import mqtt as hub_mqtt
from hub.errors import HubError

__all__ = [
    "MAX_BODY_FILE_BYTES",
    "MAX_INFLIGHT",
    "PUBLISHER_ID",
    "PUBLISH_TIMEOUT_S",
    "PublishError",
    "Published",
    "RetainedState",
    "VersionRefused",
    "publish_config",
    "read_retained",
]

log = logging.getLogger(__name__)


PUBLISHER_ID: Final = "hub-config"
"""The ``device`` field of the envelopes the publisher sends."""


PUBLISH_TIMEOUT_S: Final = 30.0
"""How long one PUBACK, the connection or the retained-state probe may take."""


MAX_INFLIGHT: Final = 32
"""Parts published and not yet acknowledged by the broker, on the publisher's own connection."""


MAX_BODY_FILE_BYTES: Final = wire.MAX_CONFIG_BODY_BYTES


class PublishError(HubError, RuntimeError):
    """The snapshot could not be published (broker unreachable, refused, or too slow); nothing is promised."""

    code = "publish_failed"


class VersionRefused(PublishError, ValueError):
    """The version is lower than the retained one, or equal to it with another body: versions only increase."""


@dataclass(frozen=True)
class Published:
    """What :func:`publish_config` did. ``unchanged``: this exact snapshot was already retained."""

    kind: str
    version: int
    parts: int
    cleared: int
    body_bytes: int
    transfer_bytes: int
    unchanged: bool = False


@dataclass(frozen=True)
class RetainedState:
    """What the broker retains for one box and kind: the manifest (if readable) and the part indices."""

    manifest: wire.ConfigManifestData | None
    parts: frozenset[int]


def _envelope(data: wire.MessageData, version: int, publisher: str) -> bytes:
    now = datetime.now(UTC)
    return wire.encode(
        id=wire.uuid7(int(now.timestamp() * 1000), os.urandom(10)), seq=version, ts=now, device=publisher, data=data
    )


def _connect(url: str, password: str | None) -> mqtt.Client:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise InvalidInput("broker_url", f"{url!r} is not mqtt://[user[:password]@]host[:port]")
    username = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else password
    client = hub_mqtt.new_client(f"{PUBLISHER_ID}-{uuid.uuid4().hex[:12]}", username, secret, max_inflight=MAX_INFLIGHT)
    try:
        hub_mqtt.connect_now(client, parts.hostname, parts.port or hub_mqtt.DEFAULT_PORT, timeout_s=PUBLISH_TIMEOUT_S)
    except hub_mqtt.BrokerUnavailable as exc:
        raise PublishError(str(exc)) from exc
    return client


def read_retained(client: mqtt.Client, tenant: str, device: str, kind: str) -> RetainedState:
    """The manifest and parts the broker retains for ``device``'s ``kind`` (``client`` must be connected)."""
    manifest_topic = str(wire.cfg_topic(tenant, device, kind))
    parts_filter = f"{manifest_topic}/+"
    probe_topic = f"{wire.TOPIC_ROOT}/hub/probe/{uuid.uuid4().hex}"
    retained: dict[str, bytes] = {}
    done = threading.Event()

    def on_retained(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            retained[msg.topic] = bytes(msg.payload)

    def on_probe(_c: mqtt.Client, _u: object, _msg: mqtt.MQTTMessage) -> None:
        done.set()

    client.message_callback_add(manifest_topic, on_retained)
    client.message_callback_add(parts_filter, on_retained)
    client.message_callback_add(probe_topic, on_probe)
    try:
        client.subscribe([(manifest_topic, 1), (parts_filter, 1), (probe_topic, 1)])
        client.publish(probe_topic, b"probe", qos=1)
        if not done.wait(PUBLISH_TIMEOUT_S):
            raise PublishError(
                f"the broker did not echo the probe within {PUBLISH_TIMEOUT_S} s; is {probe_topic} allowed?"
            )
        client.unsubscribe([manifest_topic, parts_filter, probe_topic])
    finally:
        client.message_callback_remove(manifest_topic)
        client.message_callback_remove(parts_filter)
        client.message_callback_remove(probe_topic)
    manifest: wire.ConfigManifestData | None = None
    indices: set[int] = set()
    for topic, payload in retained.items():
        try:
            message = wire.decode(topic, payload)
        except wire.ContractViolation as exc:
            log.warning("ignoring an unreadable retained message on %s: %s", topic, exc)
            parsed = _part_index(topic)
            if parsed is not None:
                indices.add(parsed)
            continue
        if isinstance(message.data, wire.ConfigManifestData):
            manifest = message.data
        elif isinstance(message.data, wire.ConfigPartData):
            indices.add(message.data.index)
    return RetainedState(manifest, frozenset(indices))


def _part_index(topic: str) -> int | None:
    try:
        return wire.Topic.parse(topic).part
    except wire.ContractViolation:
        return None


def _publish(client: mqtt.Client, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
    info = client.publish(topic, payload, qos=1, retain=True)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        raise PublishError(f"publishing to {topic} failed: {mqtt.error_string(info.rc)}")
    return info


def _wait(infos: list[mqtt.MQTTMessageInfo], deadline: float) -> None:
    for info in infos:
        left = deadline - time.monotonic()
        try:
            info.wait_for_publish(max(0.001, left))
        except (RuntimeError, ValueError) as exc:
            raise PublishError(f"message {info.mid} was not sent: {exc}") from exc
        if not info.is_published():
            raise PublishError(f"the broker did not acknowledge message {info.mid} within {PUBLISH_TIMEOUT_S} s")


def publish_config(
    client_or_broker_url: mqtt.Client | str,
    tenant: str,
    device: str,
    kind: str,
    body: Mapping[str, Any] | bytes,
    version: int,
    *,
    password: str | None = None,
    compress: bool = True,
    publisher: str = PUBLISHER_ID,
) -> Published:
    """Publish ``body`` as ``version`` of ``device``'s ``kind`` snapshot, retained, and wait for the broker.

    ``client_or_broker_url``: a connected paho client with its loop running (it is borrowed: subscriptions
    to this box's ``cfg/{kind}`` topics are made and removed), or ``mqtt://user[:password]@host:port``
    (``password=`` keeps it off the URL). ``body``: the snapshot as a JSON object or its UTF-8 JSON bytes.

    Raises ``core.errors.InvalidInput`` (a ``ContractViolation``) for a body its kind's schema refuses,
    :class:`VersionRefused` for a version that does not increase, :class:`PublishError` when the broker
    cannot be used. Publishing the retained snapshot again is a no-op (``unchanged``).
    """
    wire.check_name(tenant, "tenant")
    wire.check_name(device, "device")
    if kind not in wire.CONFIG_KINDS:
        raise InvalidInput("kind", f"{kind!r} is not one of {', '.join(wire.CONFIG_KINDS)}")
    raw = wire.config_body_json(body) if isinstance(body, Mapping) else bytes(body)
    wire.decode_config_body(kind, raw)
    manifest, parts = wire.split_config(kind, version, raw, compress=compress)
    own = isinstance(client_or_broker_url, str)
    client = _connect(client_or_broker_url, password) if isinstance(client_or_broker_url, str) else client_or_broker_url
    try:
        state = read_retained(client, tenant, device, kind)
        current = state.manifest
        if current is not None and version <= current.version:
            if version == current.version and current.sha256 == manifest.sha256:
                return Published(kind, version, current.parts, 0, current.body_bytes, current.transfer_bytes, True)
            raise VersionRefused(
                f"{tenant}/{device} {kind}: version {version} "
                f"{'is lower than' if version < current.version else 'has another body than'} the retained "
                f"version {current.version}; publish version {current.version + 1} or higher"
            )
        deadline = time.monotonic() + PUBLISH_TIMEOUT_S * max(1, len(parts) // MAX_INFLIGHT)
        _wait(
            [
                _publish(
                    client, str(wire.cfg_part_topic(tenant, device, kind, p.index)), _envelope(p, version, publisher)
                )
                for p in parts
            ],
            deadline,
        )
        # The manifest goes last: a box that sees it can find every part it names.
        _wait(
            [_publish(client, str(wire.cfg_topic(tenant, device, kind)), _envelope(manifest, version, publisher))],
            time.monotonic() + PUBLISH_TIMEOUT_S,
        )
        stale = sorted(i for i in state.parts if i >= manifest.parts)
        _wait(
            [_publish(client, str(wire.cfg_part_topic(tenant, device, kind, i)), b"") for i in stale],
            time.monotonic() + PUBLISH_TIMEOUT_S,
        )
    finally:
        if own:
            client.disconnect()
            client.loop_stop()
    log.info(
        "published %s/%s %s version %d: %d parts, %d bytes (%d on the wire), %d stale parts cleared",
        tenant,
        device,
        kind,
        version,
        manifest.parts,
        manifest.body_bytes,
        manifest.transfer_bytes,
        len(stale),
    )
    return Published(kind, version, manifest.parts, len(stale), manifest.body_bytes, manifest.transfer_bytes)

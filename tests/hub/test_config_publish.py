"""Publishing configuration snapshots: what the broker retains, version rules, the CLI, and the wire pieces."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core import wire
from core.errors import InvalidInput
from devkit.services import MosquittoServer
from hub.publishing.retained import VersionRefused, publish_config, read_retained
from hub.publishing.snapshots import connect_broker

TENANT = "acme"
DEVICE = "box-7"


def items(count: int, start: int = 0) -> dict[str, Any]:
    return {
        "items": [
            {
                "sku": f"S{n:06d}",
                "name": f"Artículo {n} con un nombre largo de catálogo",
                "category": f"cat-{n % 11}",
                "tax_category": "general",
                "unit_price_minor": 500 + n,
                "barcodes": [f"{7500000000000 + n * 7919}"],
            }
            for n in range(start, start + count)
        ]
    }


@pytest.fixture
def client(broker: MosquittoServer) -> Iterator[mqtt.Client]:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hub-test-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    c.username_pw_set(broker.hub.username, broker.hub.password)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    yield c
    c.disconnect()
    c.loop_stop()


def retained_as_box(broker: MosquittoServer, device: str = DEVICE) -> dict[str, bytes]:
    """Every retained cfg message a box would get at connect, read with the box's own credentials.

    The retained messages come right after the SUBACK; a command the hub sends afterwards on the same
    connection marks their end (a box may read commands, not write them).
    """
    got: dict[str, bytes] = {}
    done = threading.Event()
    subscribed = threading.Event()
    cred = broker.box_credentials(TENANT, device)
    box = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cred.username, protocol=mqtt.MQTTv5)
    box.username_pw_set(cred.username, cred.password)
    probe = str(wire.cmd_topic(TENANT, device, "probe"))

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == probe:
            done.set()
        elif msg.retain:
            got[msg.topic] = bytes(msg.payload)

    box.on_message = on_message
    box.on_subscribe = lambda *_: subscribed.set()
    box.connect("127.0.0.1", broker.box_port)
    box.loop_start()
    box.subscribe([(wire.box_config_filter(TENANT, device), 1), (probe, 1)])
    assert subscribed.wait(5)
    hub = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    try:
        hub.publish(probe, b"", qos=1).wait_for_publish(5)
        assert done.wait(5)
    finally:
        hub.disconnect()
        hub.loop_stop()
    box.disconnect()
    box.loop_stop()
    return got


def assemble(retained: dict[str, bytes], kind: str) -> tuple[wire.ConfigManifestData, bytes]:
    messages = [wire.decode(t, p).data for t, p in retained.items() if f"/cfg/{kind}" in t]
    manifest = next(m for m in messages if isinstance(m, wire.ConfigManifestData))
    parts = [m for m in messages if isinstance(m, wire.ConfigPartData) and m.version == manifest.version]
    return manifest, wire.assemble_config(manifest, parts)


def test_a_snapshot_is_retained_as_a_manifest_and_parts_a_box_can_assemble(
    broker: MosquittoServer, client: mqtt.Client
) -> None:
    body = items(6000)
    done = publish_config(client, TENANT, DEVICE, "catalogue", body, 1)
    assert done.parts >= 2 and not done.unchanged
    retained = retained_as_box(broker)
    assert len(retained) == done.parts + 1
    manifest, assembled = assemble(retained, "catalogue")
    assert (manifest.version, manifest.encoding) == (1, "zlib")
    assert json.loads(assembled) == body
    assert all(len(payload) <= wire.MAX_PAYLOAD_BYTES for payload in retained.values())


def test_a_shorter_snapshot_clears_the_parts_it_no_longer_uses(broker: MosquittoServer, client: mqtt.Client) -> None:
    first = publish_config(client, TENANT, DEVICE, "catalogue", items(6000), 1, compress=False)
    second = publish_config(client, TENANT, DEVICE, "catalogue", items(10), 2, compress=False)
    assert (first.parts > 3, second.parts, second.cleared) == (True, 1, first.parts - 1)
    retained = retained_as_box(broker)
    assert sorted(retained) == sorted(
        [str(wire.cfg_topic(TENANT, DEVICE, "catalogue")), str(wire.cfg_part_topic(TENANT, DEVICE, "catalogue", 0))]
    )
    assert json.loads(assemble(retained, "catalogue")[1]) == items(10)


def test_versions_only_go_up_and_a_repeat_is_a_no_op(client: mqtt.Client) -> None:
    publish_config(client, TENANT, DEVICE, "program", {"program": None}, 7)
    assert publish_config(client, TENANT, DEVICE, "program", {"program": None}, 7).unchanged
    with pytest.raises(VersionRefused, match="lower than the retained version 7"):
        publish_config(client, TENANT, DEVICE, "program", {"program": None}, 6)
    with pytest.raises(VersionRefused, match="another body"):
        publish_config(client, TENANT, DEVICE, "program", {"program": None, "note": "x"}, 7)
    state = read_retained(client, TENANT, DEVICE, "program")
    assert state.manifest is not None and state.manifest.version == 7
    # Another box's snapshots are its own.
    assert not publish_config(client, TENANT, "box-8", "program", {"program": None}, 1).unchanged


def test_an_invalid_body_is_refused_before_anything_is_published(broker: MosquittoServer, client: mqtt.Client) -> None:
    bad = items(3)
    bad["items"][1]["unit_price_minor"] = 12.5
    with pytest.raises(wire.ContractViolation, match=r"items\.1\.unit_price_minor"):
        publish_config(client, TENANT, DEVICE, "catalogue", bad, 1)
    with pytest.raises(wire.ContractViolation, match="loyalty_id"):
        publish_config(
            client, TENANT, DEVICE, "customers", {"customers": [{"loyalty_id": "481000000420", "name": "A"}]}, 1
        )
    assert retained_as_box(broker) == {}


def run_cli(broker: MosquittoServer, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    secret = tmp_path / "hub.password"
    secret.write_text(broker.hub.password + "\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "publish-config",
            "--mqtt-port",
            str(broker.port),
            "--mqtt-user",
            broker.hub.username,
            "--mqtt-password-file",
            str(secret),
            "--tenant",
            TENANT,
            "--device",
            DEVICE,
            *argv,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "MOSTRADOR_MQTT_PASSWORD": ""},
    )


def test_the_cli_publishes_a_file_and_refuses_a_lower_version(broker: MosquittoServer, tmp_path: Path) -> None:
    body = tmp_path / "rules.json"
    body.write_text(json.dumps({"rules": [{"sku": "S000001", "low_at": 2, "reorder_point": 1, "order_up_to": 10}]}))
    ok = run_cli(broker, tmp_path, "--kind", "stock_rules", "--file", str(body), "--version", "3")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) | {"body_bytes": 0, "transfer_bytes": 0} == {
        "kind": "stock_rules",
        "version": 3,
        "parts": 1,
        "cleared": 0,
        "body_bytes": 0,
        "transfer_bytes": 0,
        "unchanged": False,
    }
    lower = run_cli(broker, tmp_path, "--kind", "stock_rules", "--file", str(body), "--version", "2")
    assert lower.returncode == 2
    assert "lower than the retained version 3" in lower.stderr
    body.write_text("[1, 2]")
    bad = run_cli(broker, tmp_path, "--kind", "stock_rules", "--file", str(body), "--version", "4")
    assert bad.returncode == 2 and "JSON object" in bad.stderr


def test_the_cli_names_a_broker_it_cannot_reach(tmp_path: Path) -> None:
    body = tmp_path / "p.json"
    body.write_text('{"program": null}')
    result = subprocess.run(
        [
            *(sys.executable, "-m", "hub", "publish-config", "--mqtt-port", "1", "--tenant", TENANT),
            *("--device", DEVICE, "--kind", "program", "--file", str(body), "--version", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach the broker" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------ wire pieces


def test_part_topics_round_trip_and_only_config_has_parts() -> None:
    topic = wire.cfg_part_topic(TENANT, DEVICE, "catalogue", 12)
    assert str(topic) == f"mo/v1/{TENANT}/{DEVICE}/cfg/catalogue/12"
    assert wire.Topic.parse(str(topic)) == topic and topic.retain
    assert wire.Topic.parse(f"mo/v1/{TENANT}/{DEVICE}/cfg/catalogue").part is None
    for text in (
        f"mo/v1/{TENANT}/{DEVICE}/cfg/catalogue/012",
        f"mo/v1/{TENANT}/{DEVICE}/cfg/catalogue/{wire.MAX_CONFIG_PARTS}",
        f"mo/v1/{TENANT}/{DEVICE}/cfg/catalogue/x",
        f"mo/v1/{TENANT}/{DEVICE}/evt/sale/3",
        f"mo/v1/{TENANT}/{DEVICE}/cfg/catalogue/1/2",
    ):
        with pytest.raises(wire.ContractViolation) as err:
            wire.Topic.parse(text)
        assert err.value.reason == "bad_topic"


def encoded(data: wire.MessageData) -> bytes:
    return wire.encode(id=wire.uuid7(1, bytes(10)), seq=1, ts=datetime.now(UTC), device="hub", data=data)


def test_a_part_on_another_part_s_topic_or_kind_is_refused() -> None:
    _, parts = wire.split_config("catalogue", 1, wire.config_body_json(items(3)))
    payload = encoded(parts[0])
    assert isinstance(
        wire.decode(wire.cfg_part_topic(TENANT, DEVICE, "catalogue", 0), payload).data, wire.ConfigPartData
    )
    for topic in (
        wire.cfg_part_topic(TENANT, DEVICE, "catalogue", 1),
        wire.cfg_part_topic(TENANT, DEVICE, "customers", 0),
        wire.cfg_topic(TENANT, DEVICE, "catalogue"),
    ):
        with pytest.raises(wire.ContractViolation) as err:
            wire.decode(topic, payload)
        assert err.value.reason == "type_mismatch"


@pytest.mark.parametrize("garbage", [b"", b"\xff\xfe", b"[]", b'{"v":1}', b'{"v":1,"data":{}}'])
def test_decoding_junk_on_config_topics_raises_only_contract_violations(garbage: bytes) -> None:
    for topic in (wire.cfg_topic(TENANT, DEVICE, "settings"), wire.cfg_part_topic(TENANT, DEVICE, "settings", 0)):
        with pytest.raises(wire.ContractViolation):
            wire.decode(topic, garbage)


def test_assembly_refuses_a_wrong_hash_a_missing_part_and_a_body_that_inflates_past_its_size() -> None:
    body = wire.config_body_json(items(4000))
    manifest, parts = wire.split_config("catalogue", 2, body)
    assert wire.assemble_config(manifest, list(reversed(parts))) == body
    cases = [
        (manifest.model_copy(update={"sha256": "f" * 64}), parts, "sha256"),
        (manifest, parts[1:], "missing"),
        (manifest.model_copy(update={"body_bytes": manifest.body_bytes - 10}), parts, "inflates past"),
    ]
    bomb = zlib.compress(b"{" + b" " * 5_000_000 + b"}")
    bomb_manifest = wire.ConfigManifestData(
        kind="settings",
        version=1,
        parts=1,
        encoding="zlib",
        body_bytes=100,
        transfer_bytes=len(bomb),
        sha256="0" * 64,
    )
    bomb_part = wire.ConfigPartData(kind="settings", version=1, index=0, data=base64.b64encode(bomb).decode())
    cases.append((bomb_manifest, [bomb_part], "inflates past"))
    for m, p, words in cases:
        with pytest.raises(wire.ContractViolation, match=words) as err:
            wire.assemble_config(m, p)
        assert err.value.reason == "bad_snapshot"


def test_each_kind_s_body_is_checked_with_the_field_named() -> None:
    bad_bodies: dict[str, tuple[dict[str, Any], str]] = {
        "settings": ({"store": {"store_id": "s", "retailer_id": "r", "timezone": "Mars/Olympus"}}, "timezone"),
        "promotions": ({"promotions": [{"id": "p1"}]}, "promotions"),
        "program": ({"program": {"currency": "XXX"}}, "program"),
        "catalogue": ({"items": [items(1)["items"][0]] * 2}, "appears twice"),
        "stock_rules": ({"rules": [{"sku": "a", "reorder_point": 5, "order_up_to": 5}]}, "order_up_to"),
        "customers": ({"customers": [], "erased": ["12"]}, "erased.0"),
    }
    for kind, (body, words) in bad_bodies.items():
        with pytest.raises(wire.ContractViolation, match=words) as err:
            wire.decode_config_body(kind, wire.config_body_json(body))
        assert err.value.reason == "bad_data", kind
    with pytest.raises(wire.ContractViolation) as err:
        wire.decode_config_body("catalogue", b"[1]")
    assert err.value.reason == "not_an_object"


def test_a_snapshot_body_over_the_bound_is_refused_before_splitting() -> None:
    with pytest.raises(InvalidInput, match="snapshot bound"):
        wire.split_config("catalogue", 1, b"{" + b" " * wire.MAX_CONFIG_BODY_BYTES + b"}")


def test_publishing_waits_for_the_broker_and_takes_under_a_few_seconds(client: mqtt.Client) -> None:
    start = time.monotonic()
    done = publish_config(client, TENANT, DEVICE, "catalogue", items(20000), 1)
    assert done.parts >= 3
    assert time.monotonic() - start < 10


def test_every_event_and_snapshot_example_in_the_protocol_document_is_valid() -> None:
    lines = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text().splitlines()
    label: tuple[str, str] | None = None
    checked: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("### `evt/"):
            label = ("evt", line.split("`")[1].split("/")[1])
        elif line.startswith("**`") and line.endswith("`**"):
            label = ("cfg", line[3:-3])
        elif line.startswith(("## ", "### `status", "### `ack")):
            label = None
        if line.startswith("```json") and label is not None:
            text = "\n".join(lines[i + 1 : lines.index("```", i + 1)])
            if label[0] == "evt":
                wire.EVENT_TYPES[label[1]].model_validate_json(text)
            else:
                wire.decode_config_body(label[1], text.encode())
            checked.append(label[1])
    assert sorted(set(checked)) == sorted({*wire.EVENT_TYPES, *wire.CONFIG_KINDS})

"""Configuration snapshots from the hub to a box, through a real Mosquitto, the box's relay and its store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core import identity, wire
from devkit.services import MosquittoServer
from edge_agent.customers import CustomerBook
from edge_agent.relay import Relay, RelayConfig
from edge_agent.sealing import Sealer
from edge_agent.store import Store
from edge_agent.sync import ConfigRefused, ConfigSync, TemplateKeeper, apply_config
from hub.publishing.retained import publish_config
from tests.waiting import wait_until

TENANT = "acme"
DEVICE = "box-1"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def item(n: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sku": f"SKU{n:05d}",
        "name": f"Producto de prueba número {n}",
        "category": "abarrotes",
        "tax_category": "general",
        "brand": f"marca-{n % 37}",
        "distributor": "dist-1",
        "unit_price_minor": 1000 + 7 * n,
        "cost_minor": 700 + 5 * n,
        "measure_per_unit_milli": 0,
        "active": True,
        "barcodes": [f"750{n * 7919 % 10**10:010d}"],
        "distributors": ["dist-1"],
    }
    return doc | changes


def catalogue(count: int, start: int = 0) -> dict[str, Any]:
    return {"items": [item(n) for n in range(start, start + count)]}


def customer(number: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "loyalty_id": identity.make(481, number),
        "name": f"Cliente {number}",
        "phone_e164": f"+5215500000{number:03d}",
        "tier_points": 120,
        "balance_points": 300,
        "balance_at": "2026-11-23T10:00:00Z",
        "offline_allowance_points": 50,
        "marketing_consent": True,
    }
    return doc | changes


class HubClient:
    """The hub's side of the broker: publishes snapshots, and raw messages for the faults."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-hub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(broker.hub.username, broker.hub.password)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def publish(self, kind: str, body: Mapping[str, Any], version: int, **kwargs: Any) -> int:
        return publish_config(self.client, TENANT, DEVICE, kind, body, version, **kwargs).parts

    def raw(self, manifest: wire.ConfigManifestData | None, parts: list[wire.ConfigPartData]) -> None:
        """Publish a snapshot exactly as given (the publisher's own checks bypassed), retained."""
        now = datetime.now(UTC)
        infos = []
        messages: list[wire.ConfigManifestData | wire.ConfigPartData] = [*parts, *([manifest] if manifest else [])]
        for data in messages:
            payload = wire.encode(
                id=wire.uuid7(int(now.timestamp() * 1000), uuid.uuid4().bytes),
                seq=data.version,
                ts=now,
                device="test-hub",
                data=data,
            )
            topic = (
                wire.cfg_topic(TENANT, DEVICE, data.kind)
                if isinstance(data, wire.ConfigManifestData)
                else wire.cfg_part_topic(TENANT, DEVICE, data.kind, data.index)
            )
            infos.append(self.client.publish(str(topic), payload, qos=1, retain=True))
        for info in infos:
            info.wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Box:
    """A box's store, relay and config sync, started and stopped together."""

    broker: MosquittoServer
    path: Path
    erased: list[dict[str, int | None]] = field(default_factory=list)
    keep_template: TemplateKeeper | None = None
    relay: Relay | None = None
    sync: ConfigSync | None = None

    def start(self) -> ConfigSync:
        config = RelayConfig(
            host="127.0.0.1",
            port=self.broker.box_port,
            tenant=TENANT,
            device=DEVICE,
            username=self.broker.box_credentials(TENANT, DEVICE).username,
            password=self.broker.box_credentials(TENANT, DEVICE).password,
        )
        self.relay = Relay(self.path, config)
        self.sync = ConfigSync(
            self.path,
            tenant=TENANT,
            device=DEVICE,
            on_erased=lambda ids: self.erased.append(dict(ids)),
            keep_template=self.keep_template,
        )
        self.sync.attach(self.relay)
        self.sync.start()
        self.relay.start()
        return self.sync

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.sync is not None:
            self.sync.stop()
        self.relay = self.sync = None

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return query(self.path, sql, *params)


def query(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with Store(path, tenant=TENANT, device=DEVICE) as store, store.transaction() as tx:
        return list(tx.conn.execute(sql, params))


@pytest.fixture
def hub(broker: MosquittoServer) -> Iterator[HubClient]:
    client = HubClient(broker)
    yield client
    client.close()


@pytest.fixture
def box(broker: MosquittoServer, tmp_path: Path) -> Iterator[Box]:
    the_box = Box(broker, tmp_path / "box.sqlite3")
    yield the_box
    the_box.stop()


def local_item(path: Path, sku: str, barcode: str) -> None:
    with Store(path, tenant=TENANT, device=DEVICE) as store, store.transaction() as tx:
        tx.conn.execute(
            "INSERT INTO item (sku, name, category, tax_category, unit_price_minor, origin, updated_at) "
            "VALUES (?, 'Pan de la casa', 'panaderia', 'general', 900, 'local', ?)",
            (sku, tx.now.isoformat()),
        )
        tx.conn.execute("INSERT INTO item_barcode (barcode, sku) VALUES (?, ?)", (barcode, sku))


def test_a_catalogue_over_the_payload_bound_arrives_in_parts_and_applies_whole(
    hub: HubClient, box: Box, broker: MosquittoServer
) -> None:
    local_item(box.path, "LOCAL-1", "2000000000017")
    sync = box.start()
    body = catalogue(5000)
    assert len(wire.config_body_json(body)) > 20 * wire.MAX_PAYLOAD_BYTES
    parts = hub.publish("catalogue", body, 1)
    assert parts >= 2
    assert sync.wait_for("catalogue", 1, 15), sync.status()["catalogue"]
    assert box.query("SELECT count(*), sum(unit_price_minor) FROM item WHERE origin = 'hub' AND active = 1") == [
        (5000, sum(1000 + 7 * n for n in range(5000)))
    ]
    assert box.query("SELECT count(*) FROM item_barcode") == [(5001,)]
    assert box.query("SELECT origin, active FROM item WHERE sku = 'LOCAL-1'") == [("local", 1)]
    status = sync.status()["catalogue"]
    assert (status.version, status.last_error) == (1, None)
    assert status.sha256 == wire.payload_sha256(wire.config_body_json(body))

    # A new version: one item gone (inactive), one repriced, the local item taken over by the hub.
    new = catalogue(4999, start=1)
    new["items"].append(item(9000, sku="LOCAL-1", barcodes=["2000000000017"], unit_price_minor=950))
    hub.publish("catalogue", new, 2)
    assert sync.wait_for("catalogue", 2, 15)
    assert box.query("SELECT active FROM item WHERE sku = 'SKU00000'") == [(0,)]
    assert box.query("SELECT origin, unit_price_minor FROM item WHERE sku = 'LOCAL-1'") == [("hub", 950)]
    assert box.query("SELECT count(*) FROM item WHERE active = 1") == [(5000,)]


def test_a_box_that_connects_after_publication_gets_the_retained_snapshot(hub: HubClient, box: Box) -> None:
    hub.publish("catalogue", catalogue(3), 4)
    hub.publish(
        "settings",
        {
            "store": {"store_id": "store-1", "retailer_id": "ret-1", "timezone": "America/Mexico_City"},
            "currency": "MXN",
            "jurisdiction": "mx-general",
            "language": "es",
            "loyalty_prefix": 481,
            "receipt": {"header": ["Abarrotes Lupita"], "footer": ["Gracias"]},
            "offline_allowance_points": 200,
            "wallets_enabled": True,
        },
        1,
    )
    sync = box.start()
    assert sync.wait_for("catalogue", 4, 10) and sync.wait_for("settings", 1, 10)
    assert box.query("SELECT kind, version FROM config ORDER BY kind") == [("catalogue", 4), ("settings", 1)]
    assert box.query("SELECT count(*) FROM item") == [(3,)]


def test_a_stale_retained_part_of_an_older_version_is_ignored(hub: HubClient, box: Box) -> None:
    big = catalogue(5000)
    assert hub.publish("catalogue", big, 1, compress=False) > 3
    _, old_parts = wire.split_config("catalogue", 1, wire.config_body_json(big), compress=False)
    small = catalogue(2, start=7000)
    assert hub.publish("catalogue", small, 2, compress=False) == 1
    # As if the publisher had died before clearing: version 1's parts 1 to 3 are retained again.
    hub.raw(None, old_parts[1:4])
    sync = box.start()
    assert sync.wait_for("catalogue", 2, 10)
    time.sleep(0.3)
    assert box.query("SELECT sku FROM item ORDER BY sku") == [("SKU07000",), ("SKU07001",)]
    status = sync.status()["catalogue"]
    assert (status.version, status.last_error, status.receiving) == (2, None, None)


def test_parts_of_two_versions_arriving_interleaved_are_never_mixed(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite3"
    v1, v2 = catalogue(3000), catalogue(3000, start=10)
    m1, p1 = wire.split_config("catalogue", 1, wire.config_body_json(v1), compress=False)
    m2, p2 = wire.split_config("catalogue", 2, wire.config_body_json(v2), compress=False)
    assert len(p1) == len(p2) > 2

    def payload(data: wire.MessageData) -> bytes:
        return wire.encode(id=wire.uuid7(1, bytes(10)), seq=1, ts=NOW, device="hub", data=data)

    sync = ConfigSync(path, tenant=TENANT, device=DEVICE)
    with Store(path, tenant=TENANT, device=DEVICE) as store:
        feed: list[tuple[wire.ConfigManifestData | wire.ConfigPartData, int | None]] = [(m2, None)]
        feed += [(p, p.index) for pair in zip(p2, p1, strict=True) for p in pair]
        applied = []
        for data, index in feed:
            topic = (
                wire.cfg_topic(TENANT, DEVICE, "catalogue")
                if index is None
                else wire.cfg_part_topic(TENANT, DEVICE, "catalogue", index)
            )
            applied.append(sync.receive(store, str(topic), payload(data)))
        assert [a.version for a in applied if a is not None] == [2]
        # Version 1's manifest after version 2 is a rollback: refused, logged, version 2 stays.
        assert sync.receive(store, str(wire.cfg_topic(TENANT, DEVICE, "catalogue")), payload(m1)) is None
    assert "rollback" in (sync.status()["catalogue"].last_error or "")
    assert query(path, "SELECT min(sku), count(*) FROM item") == [("SKU00010", 3000)]


def test_a_lower_version_is_refused_and_the_applied_one_stays(hub: HubClient, box: Box) -> None:
    sync = box.start()
    hub.publish("catalogue", catalogue(5), 3)
    assert sync.wait_for("catalogue", 3, 10)
    manifest, parts = wire.split_config("catalogue", 2, wire.config_body_json(catalogue(1, start=500)))
    hub.raw(manifest, parts)
    wait_until(lambda: sync.status()["catalogue"].last_error is not None, 10, "the refusal")
    assert "rollback" in (sync.status()["catalogue"].last_error or "")
    assert sync.status()["catalogue"].version == 3
    assert box.query("SELECT count(*) FROM item") == [(5,)]


def test_the_publisher_refuses_a_version_lower_than_the_retained_one(hub: HubClient) -> None:
    from hub.publishing.retained import VersionRefused

    hub.publish("catalogue", catalogue(2), 5)
    with pytest.raises(VersionRefused, match="lower than the retained version 5"):
        hub.publish("catalogue", catalogue(2), 4)


def test_a_corrupted_snapshot_leaves_the_previous_config(hub: HubClient, box: Box) -> None:
    sync = box.start()
    hub.publish("catalogue", catalogue(4), 1)
    assert sync.wait_for("catalogue", 1, 10)

    # A body whose hash is not the manifest's.
    manifest, parts = wire.split_config("catalogue", 2, wire.config_body_json(catalogue(9)))
    hub.raw(manifest.model_copy(update={"sha256": "0" * 64}), parts)
    wait_until(lambda: "sha256" in (sync.status()["catalogue"].last_error or ""), 10, "the hash refusal")

    # A well-formed snapshot whose item breaks the schema (a negative price).
    bad = catalogue(9)
    bad["items"][3]["unit_price_minor"] = -5
    manifest, parts = wire.split_config("catalogue", 3, wire.config_body_json(bad))
    hub.raw(manifest, parts)
    wait_until(lambda: "bad_data" in (sync.status()["catalogue"].last_error or ""), 10, "the schema refusal")
    assert "items.3.unit_price_minor" in (sync.status()["catalogue"].last_error or "")

    assert sync.status()["catalogue"].version == 1
    assert box.query("SELECT count(*) FROM item") == [(4,)]
    assert box.query("SELECT version FROM config WHERE kind = 'catalogue'") == [(1,)]

    # The next good version applies and clears the error.
    hub.publish("catalogue", catalogue(6), 4)
    assert sync.wait_for("catalogue", 4, 10)
    assert sync.status()["catalogue"].last_error is None


def test_an_erased_customer_loses_row_and_biometric_and_the_sensor_is_told(hub: HubClient, box: Box) -> None:
    gone, kept = identity.make(481, 7), identity.make(481, 8)
    with Store(box.path, tenant=TENANT, device=DEVICE) as store, store.transaction() as tx:
        for lid, phone in ((gone, "+5215511111111"), (kept, "+5215522222222")):
            tx.conn.execute(
                "INSERT INTO customer (loyalty_id, name, phone_e164, origin, updated_at) "
                "VALUES (?, 'X', ?, 'local', ?)",
                (lid, phone, tx.now.isoformat()),
            )
        tx.conn.execute(
            "INSERT INTO biometric (loyalty_id, fingerprint_sealed, sensor_slot) VALUES (?, x'01020304', 17)", (gone,)
        )
    box_key, tenant_key = bytes(range(32)), bytes(range(32, 64))
    with Store(box.path, tenant=TENANT, device=DEVICE) as store:
        book = CustomerBook(store, box_key=box_key, tenant_key=tenant_key)
        box.keep_template = book.keep_hub_template
        sync = box.start()
        template = b"the sensor's template bytes"
        sealed = Sealer(tenant_key, "transport").seal_text(template, loyalty_id=kept, kind="fingerprint")
        body = {
            "customers": [customer(8, fingerprint_consent=True, fingerprint_template=sealed), customer(9)],
            "erased": [gone],
        }
        hub.publish("customers", body, 1)
        assert sync.wait_for("customers", 1, 10), sync.status()["customers"]
        assert book.fingerprint_template(kept) == template
    assert box.query("SELECT count(*) FROM customer WHERE loyalty_id = ?", gone) == [(0,)]
    assert box.query("SELECT count(*) FROM biometric WHERE loyalty_id = ?", gone) == [(0,)]
    assert box.erased == [{gone: 17}]
    assert box.query("SELECT origin, balance_points, phone_e164 FROM customer WHERE loyalty_id = ?", kept) == [
        ("hub", 300, "+5215500000008")
    ]
    assert box.query("SELECT count(*) FROM customer") == [(2,)]


def test_stock_rules_wait_for_their_items_and_apply_with_the_catalogue(tmp_path: Path) -> None:
    with Store(tmp_path / "box.sqlite3", tenant=TENANT, device=DEVICE) as store:
        rules = {"rules": [{"sku": "SKU00001", "low_at": 3, "reorder_point": 2, "order_up_to": 12}]}
        assert apply_config(store, "stock_rules", 1, wire.config_body_json(rules)).skipped == 1
        apply_config(store, "catalogue", 1, wire.config_body_json(catalogue(3)))
        with store.transaction() as tx:
            assert list(tx.conn.execute("SELECT sku, low_at, order_up_to FROM stock_rule")) == [("SKU00001", 3, 12)]
        apply_config(store, "stock_rules", 2, wire.config_body_json({"rules": []}))
        with store.transaction() as tx:
            assert list(tx.conn.execute("SELECT count(*) FROM stock_rule")) == [(0,)]


def test_apply_config_is_idempotent_and_refuses_a_reused_version(tmp_path: Path) -> None:
    with Store(tmp_path / "box.sqlite3", tenant=TENANT, device=DEVICE) as store:
        body = wire.config_body_json({"program": None})
        assert apply_config(store, "program", 2, body).changed
        assert not apply_config(store, "program", 2, body).changed
        with pytest.raises(ConfigRefused) as err:
            apply_config(store, "program", 2, wire.config_body_json({"program": {"nope": 1}}))
        assert err.value.reason == "bad_data"
        with pytest.raises(ConfigRefused) as err:
            apply_config(store, "promotions", 1, b'{"promotions": "x"}')
        assert err.value.reason == "bad_data"


def test_a_snapshot_that_fails_half_way_through_applying_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken_keeper(_tx: object, _loyalty_id: str, _sealed: str) -> None:
        raise OSError("disk full")

    body = {"customers": [customer(1), customer(2, fingerprint_consent=True, fingerprint_template="AAAA")]}
    with (
        Store(tmp_path / "box.sqlite3", tenant=TENANT, device=DEVICE) as store,
        pytest.raises(OSError, match="disk full"),
    ):
        apply_config(store, "customers", 1, wire.config_body_json(body), keep_template=broken_keeper)
    assert query(tmp_path / "box.sqlite3", "SELECT count(*) FROM customer") == [(0,)]
    assert query(tmp_path / "box.sqlite3", "SELECT count(*) FROM config") == [(0,)]

"""The ERP loop: products and stock into the hub, catalogue snapshots out to the boxes, reorders to the ERP.

Unit tests use :class:`FakeERP`, an in-memory ERP behind the connector interface. The tests marked ``erp``
run the real thing: a private Tryton, a private Mosquitto and a box's relay and config sync.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from core import wire
from devkit.services import MosquittoServer
from hub import catalogue, db, network
from hub.erp.base import (
    ERPConnector,
    ERPProduct,
    ERPRejected,
    ERPUnavailable,
    ProductChanges,
    ProductProblem,
    PurchaseOrderRef,
    PurchaseRequest,
    StockLevel,
)
from hub.erp.sync import ERPSync, SyncConfig
from hub.network import Store
from hub.publishing.retained import read_retained
from hub.publishing.snapshots import Publisher, connect_broker
from tests.waiting import wait_until

TENANT = "acme"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def product(sku: str, price_minor: int, *, barcode: str | None = None, name: str | None = None) -> ERPProduct:
    codes = (barcode,) if barcode else ()
    return ERPProduct(
        sku, name or f"Producto {sku}", "Bebidas", price_minor, "MXN", price_minor * 3 // 4, codes, True, sku
    )


class FakeERP:
    """An ERP in memory: products stamped with a change counter, stock, and purchase orders by reference."""

    def __init__(self) -> None:
        self.products: dict[str, tuple[int, ERPProduct]] = {}
        self.problems: list[ProductProblem] = []
        self.stamp = 0
        self.cursors: list[str | None] = []
        self.levels: list[StockLevel] = []
        self.orders: dict[str, PurchaseRequest] = {}
        self.fail: Exception | None = None
        self.reject: set[str] = set()
        self.closed = False

    def put(self, *products: ERPProduct) -> None:
        for p in products:
            self.stamp += 1
            self.products[p.sku] = (self.stamp, p)

    def products_changed_since(self, cursor: str | None) -> ProductChanges:
        self.cursors.append(cursor)
        if self.fail is not None:
            raise self.fail
        since = int(cursor) if cursor is not None else 0
        changed = tuple(p for stamp, p in self.products.values() if stamp > since)
        return ProductChanges(changed, tuple(self.problems), str(self.stamp))

    def stock_levels(
        self, *, skus: Sequence[str] | None = None, warehouses: Sequence[str] | None = None
    ) -> list[StockLevel]:
        return list(self.levels)

    def create_purchase_order(self, request: PurchaseRequest) -> PurchaseOrderRef:
        if self.fail is not None:
            raise self.fail
        if request.supplier in self.reject:
            raise ERPRejected(f"no party with code or name {request.supplier!r}; create the supplier in the ERP")
        created = request.reference not in self.orders
        self.orders.setdefault(request.reference, request)
        return PurchaseOrderRef(f"purchase.purchase,{len(self.orders)}", request.reference, "draft", None, created)

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def test_the_fake_is_a_connector() -> None:
    assert isinstance(FakeERP(), ERPConnector)


@pytest.fixture
def acme(hub_engine: sa.Engine) -> sa.Engine:
    with hub_engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Distribuidora Acme", 481, erp_supplier="SUP-EV", now=START)
        for store, warehouse in (("t1", "WH"), ("t2", "SUR")):
            network.add_store(
                conn,
                Store(
                    TENANT, store, "r1", store, "America/Mexico_City", "MXN", "mx-general", "es", warehouse=warehouse
                ),
                now=START,
            )
        network.add_device(conn, TENANT, "box-1", "t1", now=START)
        network.add_device(conn, TENANT, "box-2", "t2", now=START)
    return hub_engine


def prices(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {i.sku: i.unit_price_minor for i in catalogue.items(conn, TENANT)}


def test_a_poll_upserts_products_and_the_next_poll_starts_from_the_stored_cursor(acme: sa.Engine) -> None:
    erp = FakeERP()
    erp.put(product("A", 1850, barcode="7501055300075"), product("B", 2200))
    first = ERPSync(acme, erp, SyncConfig(TENANT)).sync_products()
    erp.put(product("B", 2300))

    second = ERPSync(acme, erp, SyncConfig(TENANT)).sync_products()  # a new process resumes from the table

    assert (first.changed, second.changed) == (("A", "B"), ("B",))
    assert erp.cursors == [None, "2"]
    assert prices(acme) == {"A": 1850, "B": 2300}
    with acme.connect() as conn:
        (a, _b) = catalogue.items(conn, TENANT)
    assert (a.distributor, a.tax_category, a.barcodes) == ("SUP-EV", "general", ("7501055300075",))


def test_a_product_sent_again_unchanged_is_no_change(acme: sa.Engine) -> None:
    erp = FakeERP()
    erp.put(product("A", 1850))
    sync = ERPSync(acme, erp, SyncConfig(TENANT))
    sync.sync_products()
    erp.put(product("A", 1850))  # the ERP stamps it again (an overlap, or an edit of another field)

    assert sync.sync_products().changed == ()


def test_products_the_erp_or_the_hub_refuse_are_reported_and_the_rest_stored(acme: sa.Engine) -> None:
    erp = FakeERP()
    erp.put(product("OK", 100), product("LONG", 100, name="n" * 200))
    erp.problems = [ProductProblem("9", "DUL-1", "list_price", "1.2345 MXN has more than 2 decimal places")]

    result = ERPSync(acme, erp, SyncConfig(TENANT)).sync_products()

    assert result.changed == ("OK",)
    assert sorted((p.sku, p.field) for p in result.problems) == [("DUL-1", "list_price"), ("LONG", "name")]


def test_a_full_read_comes_again_when_its_interval_has_passed(acme: sa.Engine) -> None:
    erp, clock = FakeERP(), Clock()
    erp.put(product("A", 100))
    sync = ERPSync(acme, erp, SyncConfig(TENANT, full_read_interval_s=3600), clock=clock)
    sync.sync_products()
    sync.sync_products()
    clock.now += timedelta(hours=1)
    sync.sync_products()

    assert erp.cursors == [None, "1", None]


def test_warehouse_stock_is_read_when_due(acme: sa.Engine) -> None:
    erp, clock = FakeERP(), Clock()
    erp.levels = [StockLevel("A", "WH", 48, 60), StockLevel("A", "SUR", 12, 12)]
    sync = ERPSync(acme, erp, SyncConfig(TENANT, stock_interval_s=300), clock=clock)

    assert sync.sync_stock() == 2
    erp.levels = [StockLevel("A", "WH", 40, 60)]
    assert sync.sync_stock() == 0  # not due yet
    clock.now += timedelta(seconds=300)
    assert sync.sync_stock() == 1

    with acme.connect() as conn:
        rows = catalogue.stock(conn, TENANT, sku="A")
    assert [(r.location, r.on_hand, r.forecast) for r in rows] == [("SUR", 12, 12), ("WH", 40, 60)]


# ------------------------------------------------------------------------------------------------ reorders


def reorder_event(engine: sa.Engine, store: str, request_id: str, lines: list[dict[str, Any]]) -> uuid.UUID:
    """A ``reorder_request`` event as ingest stores it."""
    data = wire.ReorderRequestData.model_validate({"request_id": request_id, "store": store, "lines": lines})
    event_id = uuid.uuid4()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        seq = conn.execute(sa.select(sa.func.count()).select_from(db.inbox)).scalar_one() + 1
        conn.execute(
            sa.insert(db.inbox).values(
                event_id=event_id,
                tenant=TENANT,
                device="box-1",
                seq=seq,
                type="reorder_request",
                payload_sha256=hashlib.sha256(event_id.bytes).hexdigest(),
                box_ts=now,
                received_at=now,
            )
        )
        conn.execute(
            sa.insert(db.business_event).values(
                event_id=event_id,
                tenant=TENANT,
                device="box-1",
                seq=seq,
                type="reorder_request",
                store=store,
                data=data.model_dump(mode="json"),
                box_ts=now,
                received_at=now,
            )
        )
    return event_id


def applied(engine: sa.Engine, event_id: uuid.UUID) -> bool:
    with engine.connect() as conn:
        e = db.business_event
        return conn.execute(sa.select(e.c.applied_at).where(e.c.event_id == event_id)).scalar() is not None


def test_a_reorder_becomes_one_order_per_distributor_delivered_to_the_stores_warehouse(acme: sa.Engine) -> None:
    erp = FakeERP()
    event = reorder_event(
        acme,
        "t2",
        "rr-1",
        [
            {"sku": "A", "qty": 24, "on_hand": 2},
            {"sku": "B", "qty": 6, "on_hand": 1, "distributor": "dist-b"},
            {"sku": "A", "qty": 12, "on_hand": 2},
        ],
    )

    result = ERPSync(acme, erp, SyncConfig(TENANT)).place_reorders()

    assert sorted(result.placed) == ["rr-1/SUP-EV", "rr-1/dist-b"] and result.applied == 1
    order = erp.orders["rr-1/SUP-EV"]
    assert (order.supplier, order.warehouse, [(line.sku, line.qty) for line in order.lines]) == (
        "SUP-EV",
        "SUR",
        [("A", 36)],
    )
    assert applied(acme, event)
    with acme.connect() as conn:
        rows = conn.execute(sa.select(db.purchase_order.c.reference, db.purchase_order.c.erp_id)).all()
        store_stock = {(r.sku, r.on_hand) for r in catalogue.stock(conn, TENANT) if r.location == "t2"}
    assert sorted(r.reference for r in rows) == ["rr-1/SUP-EV", "rr-1/dist-b"] and all(r.erp_id for r in rows)
    assert store_stock == {("A", 2), ("B", 1)}


def test_a_reorder_is_placed_once_however_often_the_loop_runs(acme: sa.Engine) -> None:
    erp = FakeERP()
    event = reorder_event(acme, "t1", "rr-2", [{"sku": "A", "qty": 1, "on_hand": 0}])
    sync = ERPSync(acme, erp, SyncConfig(TENANT))
    sync.place_reorders()
    # As if the hub had stopped after placing the order and before marking the event applied.
    with acme.begin() as conn:
        conn.execute(sa.update(db.business_event).values(applied_at=None))

    again = sync.place_reorders()

    assert list(erp.orders) == ["rr-2"] and again.placed == ["rr-2"] and applied(acme, event)
    with acme.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.purchase_order)).scalar() == 1


def test_a_reorder_waits_while_the_erp_is_down(acme: sa.Engine) -> None:
    erp = FakeERP()
    event = reorder_event(acme, "t1", "rr-3", [{"sku": "A", "qty": 1, "on_hand": 0}])
    erp.fail = ERPUnavailable("Tryton did not answer")
    sync = ERPSync(acme, erp, SyncConfig(TENANT))

    down = sync.place_reorders()
    erp.fail = None
    up = sync.place_reorders()

    assert (down.pending, down.placed, up.placed) == (1, [], ["rr-3"])
    assert applied(acme, event)


def test_a_reorder_the_erp_refuses_is_recorded_and_raised_as_an_alert(acme: sa.Engine) -> None:
    erp = FakeERP()
    erp.reject = {"dist-x"}
    event = reorder_event(acme, "t1", "rr-4", [{"sku": "A", "qty": 1, "on_hand": 0, "distributor": "dist-x"}])

    result = ERPSync(acme, erp, SyncConfig(TENANT)).place_reorders()

    assert result.rejected == ["rr-4"] and applied(acme, event)
    with acme.connect() as conn:
        state, detail = conn.execute(sa.select(db.purchase_order.c.state, db.purchase_order.c.detail)).one()
        alert = conn.execute(sa.select(db.alert.c.kind, db.alert.c.detail)).one()
    assert state == "rejected" and "create the supplier" in detail
    assert alert.kind == "reorder_refused" and "rr-4" in alert.detail


def test_the_loop_outlives_erp_failures_and_backs_off(acme: sa.Engine) -> None:
    erp = FakeERP()
    erp.fail = ERPUnavailable("down")
    pauses: list[float] = []
    rounds = iter(range(4))

    ERPSync(acme, erp, SyncConfig(TENANT, poll_interval_s=1.0)).run(
        until=lambda: next(rounds, None) is None, sleep=pauses.append
    )

    assert pauses == [2.0, 4.0, 8.0, 16.0]


# ------------------------------------------------------------------------------------------------ publishing


@pytest.fixture
def hub_client(broker: MosquittoServer) -> Iterator[mqtt.Client]:
    client = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    yield client
    client.disconnect()
    client.loop_stop()


def retained_body(client: mqtt.Client, device: str, kind: str) -> tuple[int, dict[str, Any]] | None:
    """The version and body the broker retains for a box (assembled as the box would)."""
    got: dict[str, bytes] = {}
    topic = str(wire.cfg_topic(TENANT, device, kind))

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            got[msg.topic] = bytes(msg.payload)

    state = read_retained(client, TENANT, device, kind)
    if state.manifest is None:
        return None
    client.message_callback_add(f"{topic}/#", on_message)
    client.message_callback_add(topic, on_message)
    client.subscribe([(topic, 1), (f"{topic}/+", 1)])
    deadline = time.monotonic() + 5
    while len(got) < state.manifest.parts + 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    client.unsubscribe([topic, f"{topic}/+"])
    client.message_callback_remove(topic)
    client.message_callback_remove(f"{topic}/#")
    messages = [wire.decode(t, p).data for t, p in got.items()]
    manifest = next(m for m in messages if isinstance(m, wire.ConfigManifestData))
    parts = [m for m in messages if isinstance(m, wire.ConfigPartData) and m.version == manifest.version]
    return manifest.version, json.loads(wire.assemble_config(manifest, parts))


@pytest.mark.mqtt
def test_a_price_change_republishes_the_catalogue_to_every_box_and_no_change_publishes_nothing(
    acme: sa.Engine, hub_client: mqtt.Client
) -> None:
    erp = FakeERP()
    erp.put(product("A", 1850, barcode="7501055300075"))
    sync = ERPSync(acme, erp, SyncConfig(TENANT), Publisher(acme, hub_client))

    first = sync.run_once()
    quiet = sync.run_once()
    erp.put(product("A", 1990, barcode="7501055300075"))
    changed = sync.run_once()

    assert {(o.device, o.kind, o.version) for o in first.published} == {
        (d, k, 1) for d in ("box-1", "box-2") for k in ("settings", "catalogue", "stock_rules")
    }
    assert quiet.published == []
    assert {(o.device, o.kind, o.version, o.unchanged) for o in changed.published} == {
        ("box-1", "catalogue", 2, False),
        ("box-2", "catalogue", 2, False),
    }
    retained = retained_body(hub_client, "box-2", "catalogue")
    assert retained is not None and retained[0] == 2
    assert [(i["sku"], i["unit_price_minor"]) for i in retained[1]["items"]] == [("A", 1990)]


@pytest.mark.mqtt
def test_versions_continue_above_what_the_broker_retains(acme: sa.Engine, hub_client: mqtt.Client) -> None:
    publisher = Publisher(acme, hub_client)
    publisher.publish_device(TENANT, "box-1", ("stock_rules",))
    with acme.begin() as conn:  # the hub's database restored from an older backup
        conn.execute(sa.delete(db.config_version))
        catalogue.set_stock_rules(conn, TENANT, [catalogue.Rule("A", 3, 2, 12)])

    (outcome,) = publisher.publish_device(TENANT, "box-1", ("stock_rules",))

    assert outcome.version == 2
    retained = retained_body(hub_client, "box-1", "stock_rules")
    assert retained is not None and retained[0] == 2 and retained[1]["rules"][0]["sku"] == "A"


# ------------------------------------------------------------------------------------------------ real Tryton


def _tryton_fixtures() -> Any:
    from tests.hub import tryton_server

    return tryton_server


@pytest.fixture(scope="module")
def tryton(tryton_template: Any) -> Iterator[Any]:
    with _tryton_fixtures().TrytonServer(tryton_template) as server:
        yield server


def _tryton_connector(server: Any, *, admin: bool = False) -> Any:
    from hub.erp.tryton import TrytonConnector, TrytonSettings

    ts = _tryton_fixtures()
    login, password = (
        (ts.ADMIN_LOGIN, server.template.admin_password) if admin else (ts.CONNECTOR_LOGIN, ts.CONNECTOR_PASSWORD)
    )
    settings = TrytonSettings(
        url=server.url, database=ts.DATABASE, login=login, password=password, default_warehouse="WH", timeout_s=20.0
    )
    return TrytonConnector(settings)


@pytest.fixture
def tryton_hub(tmp_path: Path, tryton: Any) -> Iterator[sa.Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    db.migrate(engine)
    with engine.begin() as conn:
        network.add_tenant(conn, TENANT, "Embotelladora del Valle", 481, erp_supplier=tryton.seed.supplier_code)
        store = Store(TENANT, "t1", "r1", "Tienda 1", "America/Mexico_City", "MXN", "mx-general", "es", warehouse="WH")
        network.add_store(conn, store)
        network.add_device(conn, TENANT, "box-1", "t1")
    yield engine
    engine.dispose()


@pytest.mark.erp
@pytest.mark.mqtt
def test_a_price_changed_in_tryton_reaches_the_boxs_item_table_within_seconds(
    tryton: Any, tryton_hub: sa.Engine, broker: MosquittoServer, hub_client: mqtt.Client, tmp_path: Path
) -> None:
    from edge_agent.relay import Relay, RelayConfig
    from edge_agent.store import Store as BoxStore
    from edge_agent.sync import ConfigSync

    box_path = tmp_path / "box.sqlite3"

    def box_price(sku: str) -> int | None:
        with BoxStore(box_path, tenant=TENANT, device="box-1") as store:
            row = store.conn.execute("SELECT unit_price_minor FROM item WHERE sku = ?", (sku,)).fetchone()
        return None if row is None else int(row[0])

    relay = Relay(
        box_path,
        RelayConfig(
            host="127.0.0.1",
            port=broker.box_port,
            tenant=TENANT,
            device="box-1",
            username=broker.box_credentials(TENANT, "box-1").username,
            password=broker.box_credentials(TENANT, "box-1").password,
        ),
    )
    sync = ConfigSync(box_path, tenant=TENANT, device="box-1")
    sync.attach(relay)
    sync.start()
    relay.start()
    stop = threading.Event()
    with _tryton_connector(tryton) as connector, _tryton_connector(tryton, admin=True) as admin:
        erp_sync = ERPSync(
            tryton_hub, connector, SyncConfig(TENANT, poll_interval_s=0.5), Publisher(tryton_hub, hub_client)
        )
        loop = threading.Thread(target=erp_sync.run, kwargs={"until": stop.is_set, "sleep": stop.wait})
        loop.start()
        try:
            assert sync.wait_for("catalogue", 1, 30), sync.status()["catalogue"]
            assert box_price("REF-COLA-600") == 1850
            (row,) = admin.call_model(
                "product.product", "search_read", [("code", "=", "REF-COLA-600")], 0, 1, None, ["template"]
            )
            admin.call_model(
                "product.template", "write", [row["template"]], {"list_price": Decimal("19.90")}, safe=False
            )

            took_s = wait_until(lambda: box_price("REF-COLA-600") == 1990, 10, "the new price on the box")
        finally:
            stop.set()
            loop.join(30)
            relay.stop()
            sync.stop()
    assert took_s < 10
    with tryton_hub.connect() as conn:
        v = db.config_version
        assert conn.execute(sa.select(v.c.version).where(v.c.kind == "catalogue")).scalar() == 2


@pytest.mark.erp
def test_a_reorder_request_becomes_a_draft_purchase_order_in_tryton(tryton: Any, tryton_hub: sa.Engine) -> None:
    event = reorder_event(tryton_hub, "t1", "rr-e2e-1", [{"sku": "GAL-MARIA-170", "qty": 12, "on_hand": 1}])
    with _tryton_connector(tryton) as connector, _tryton_connector(tryton, admin=True) as admin:
        sync = ERPSync(tryton_hub, connector, SyncConfig(TENANT))
        first = sync.place_reorders()
        with tryton_hub.begin() as conn:  # replayed, as after a crash before the event was marked
            conn.execute(sa.update(db.business_event).values(applied_at=None))
        again = sync.place_reorders()
        purchases = admin.call_model(
            "purchase.purchase",
            "search_read",
            [("reference", "=", "rr-e2e-1")],
            0,
            5,
            None,
            ["state", "party.code", "warehouse.code", "lines"],
        )

    assert first.placed == again.placed == ["rr-e2e-1"] and applied(tryton_hub, event)
    (purchase,) = purchases
    assert (purchase["state"], purchase["party."]["code"], purchase["warehouse."]["code"]) == ("draft", "SUP-EV", "WH")
    with tryton_hub.connect() as conn:
        erp_id, state = conn.execute(sa.select(db.purchase_order.c.erp_id, db.purchase_order.c.state)).one()
    assert (erp_id, state) == (f"purchase.purchase,{purchase['id']}", "draft")

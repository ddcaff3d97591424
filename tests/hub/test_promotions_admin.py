"""Promotions admin on SQLite and PostgreSQL: define with core validation, schedule, target, fund, publish
versioned sets per store (every version kept), and preview against the last 30 days of baskets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import identity, wire
from core.errors import InvalidInput
from core.points import PointsProgram
from devkit.services import MosquittoServer
from hub import catalogue, db, network
from hub import ledger as lg
from hub.programs import promotions as pa
from hub.publishing.retained import publish_config, read_retained
from hub.publishing.snapshots import connect_broker

T0 = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
TENANT = "acme"
PROGRAM = PointsProgram(id="club", name="Club", currency="MXN")
ANA = identity.make(501, 10001)


def promo(pid: str = "galletas-2x1", **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "name": "Galletas 2x1",
        "scope": {"kind": "category", "ids": ["galletas"]},
        "effect": {"type": "buy_get_free", "buy": 1, "get": 1},
        "funding": {"distributor_bp": 10000, "retailer_bp": 0},
        **extra,
    }


@pytest.fixture
def conn(hub_engine: Engine) -> Iterator[Connection]:
    with hub_engine.begin() as c:
        network.add_tenant(c, TENANT, "Acme", 501, default_tax_category="alimentos", now=T0)
        for store, retailer in (("s1", "r1"), ("s2", "r1"), ("s3", "r2")):
            network.add_store(
                c,
                network.Store(
                    TENANT, store, retailer, f"Store {store}", "America/Mexico_City", "MXN", "mx-general", "es"
                ),
                now=T0,
            )
        catalogue.upsert_items(
            c,
            TENANT,
            [
                catalogue.Item("gall-1", "Galletas María", "galletas", "alimentos", 2000, "MXN"),
                catalogue.Item("refresco", "Refresco 600 ml", "bebidas", "alimentos", 1800, "MXN"),
            ],
            source="admin",
            now=T0,
        )
        yield c


_seq = iter(range(1, 1_000_000))


def sale(
    c: Connection, store: str, lines: list[tuple[str, int, int]], at: datetime, customer: str | None = None
) -> uuid.UUID:
    """A sale as ingest stores it: (sku, qty, unit price) lines; with a customer, its points in the ledger."""
    event_id = uuid.uuid4()
    total = sum(q * p for _, q, p in lines)
    c.execute(
        sa.insert(db.inbox).values(
            event_id=event_id,
            tenant=TENANT,
            device="box-1",
            seq=next(_seq),
            type="sale",
            payload_sha256="0" * 64,
            box_ts=at,
            received_at=at,
        )
    )
    c.execute(
        sa.insert(db.sale).values(
            event_id=event_id,
            tenant=TENANT,
            device="box-1",
            store=store,
            sale_id=event_id.hex[:12],
            currency="MXN",
            total_minor=total,
            line_count=len(lines),
            box_ts=at,
            received_at=at,
        )
    )
    c.execute(
        sa.insert(db.sale_line),
        [
            {
                "event_id": event_id,
                "line_no": n,
                "sku": sku,
                "name": sku,
                "qty": q,
                "unit_price_minor": p,
                "discount_minor": 0,
                "amount_minor": q * p,
            }
            for n, (sku, q, p) in enumerate(lines, start=1)
        ],
    )
    if customer is not None:
        lg.register_program(c, TENANT, PROGRAM, lot_expiry_months=12, now=at)
        lg.open_accounts(c, lg.sale_accounts(TENANT, PROGRAM.id, "r1", customer), now=at)
        lg.apply_transfers(
            c,
            lg.sale_transfers(
                tenant=TENANT,
                program=PROGRAM.id,
                event_id=event_id,
                retailer="r1",
                customer=customer,
                distributor_points=total // 1000,
                retailer_points=0,
                redeemed_points=0,
                effective_at=at,
            ),
            now=at,
        )
    return event_id


def test_a_promotion_is_validated_by_core_and_errors_name_the_field(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match=r"body\.effect"):
        pa.define(conn, TENANT, promo(effect={"type": "percent_off", "percent": "150%"}), now=T0)
    with pytest.raises(InvalidInput, match=r"starts_at / ends_at"):
        pa.define(conn, TENANT, promo(conditions={"valid_from": "2026-03-01"}), now=T0)
    with pytest.raises(InvalidInput, match="ends_at"):
        pa.define(conn, TENANT, promo(), starts_at=T0, ends_at=T0 - timedelta(days=1), now=T0)
    with pytest.raises(InvalidInput, match=r"stores\.0"):
        pa.define(conn, TENANT, promo(), stores=["nowhere"], now=T0)
    with pytest.raises(InvalidInput, match=r"audience\.ids\.0"):
        pa.define(conn, TENANT, promo(), audience={"kind": "customers", "ids": ["501000100019"]}, now=T0)


def test_a_retailer_funds_its_own_promotions_and_runs_them_only_at_its_stores(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="funding"):
        pa.define(conn, TENANT, promo(), owner="r1", now=T0)
    with pytest.raises(InvalidInput, match=r"stores\.0"):
        pa.define(
            conn,
            TENANT,
            promo(),
            owner="r1",
            stores=["s3"],
            funding={"distributor_bp": 0, "retailer_bp": 10000},
            now=T0,
        )
    with pytest.raises(InvalidInput, match="owner"):
        pa.define(conn, TENANT, promo(), owner="r9", now=T0)
    record = pa.define(conn, TENANT, promo(), owner="r1", funding={"distributor_bp": 0, "retailer_bp": 10000}, now=T0)
    assert record.body["funding"] == {"distributor_bp": 0, "retailer_bp": 10000}
    assert [p["id"] for p in pa.active_promotions(conn, TENANT, "s2", now=T0)] == ["galletas-2x1"]
    assert pa.active_promotions(conn, TENANT, "s3", now=T0) == []


def test_targeting_and_split_funding_reach_the_published_json(conn: Connection) -> None:
    pa.define(
        conn,
        TENANT,
        promo(),
        audience={"kind": "tiers", "ids": ["gold"]},
        funding={"distributor_bp": 6000, "retailer_bp": 4000},
        starts_at=T0,
        ends_at=T0 + timedelta(days=7),
        now=T0,
    )
    (published,) = pa.active_promotions(conn, TENANT, "s1", now=T0)
    assert published["audience"] == {"kind": "tiers", "ids": ["gold"]}
    assert published["funding"] == {"distributor_bp": 6000, "retailer_bp": 4000}
    assert published["conditions"] == {
        "valid_from": T0.isoformat(),
        "valid_until": (T0 + timedelta(days=7)).isoformat(),
    }
    wire.PromotionsBody.model_validate({"promotions": [published]})


def test_publish_makes_a_new_version_only_when_a_stores_set_changes_and_keeps_every_version(conn: Connection) -> None:
    pa.define(conn, TENANT, promo(), stores=["s1"], now=T0)
    first = {p.store: p for p in pa.publish(conn, TENANT, now=T0)}
    assert first["s1"].changed and first["s1"].version >= 1
    again = {p.store: p for p in pa.publish(conn, TENANT, now=T0 + timedelta(minutes=5))}
    assert not again["s1"].changed and again["s1"].version == first["s1"].version
    pa.define(
        conn,
        TENANT,
        promo(
            "refresco-10",
            name="Refresco 10%",
            scope={"kind": "item", "ids": ["refresco"]},
            effect={"type": "percent_off", "percent": "10%"},
        ),
        now=T0,
    )
    second = {p.store: p for p in pa.publish(conn, TENANT, now=T0 + timedelta(minutes=10))}
    assert second["s1"].changed and second["s1"].version > first["s1"].version
    assert [p["id"] for p in second["s1"].body["promotions"]] == ["galletas-2x1", "refresco-10"]
    # The set a sale reports by its version is the one it was priced with.
    old = pa.promotion_set(conn, TENANT, "s1", first["s1"].version)
    assert [p.id for p in old.promotions] == ["galletas-2x1"]
    with pytest.raises(InvalidInput, match="promotion_set_version"):
        pa.promotion_set(conn, TENANT, "s1", 999)


def test_an_ended_or_withdrawn_promotion_leaves_the_set(conn: Connection) -> None:
    pa.define(conn, TENANT, promo(), ends_at=T0 + timedelta(days=1), now=T0)
    pa.define(conn, TENANT, promo("other", name="Other"), now=T0)
    assert [p["id"] for p in pa.promotions_body(conn, TENANT, "s1", now=T0)["promotions"]] == ["galletas-2x1", "other"]
    assert [p["id"] for p in pa.promotions_body(conn, TENANT, "s1", now=T0 + timedelta(days=2))["promotions"]] == [
        "other"
    ]
    pa.withdraw(conn, TENANT, "other", now=T0)
    snapshot = pa.promotions_snapshot(conn, TENANT, "s1", now=T0 + timedelta(days=2))
    assert snapshot.body == {"promotions": []}
    wire.PromotionsBody.model_validate(snapshot.body)


def test_preview_counts_the_sales_touched_the_discount_and_who_pays(conn: Connection) -> None:
    pa.define(conn, TENANT, promo(funding={"distributor_bp": 5000, "retailer_bp": 5000}), now=T0)
    sale(conn, "s1", [("gall-1", 2, 2000)], T0 - timedelta(days=3))  # one free: 20.00 off
    sale(conn, "s2", [("gall-1", 4, 2000), ("refresco", 1, 1800)], T0 - timedelta(days=10))  # two free: 40.00
    sale(conn, "s1", [("refresco", 2, 1800)], T0 - timedelta(days=1))  # not touched
    sale(conn, "s3", [("gall-1", 2, 2000)], T0 - timedelta(days=40))  # too old
    report = pa.preview(conn, TENANT, "galletas-2x1", now=T0)
    assert (report.sales_considered, report.sales_touched, report.sales_skipped) == (3, 2, 0)
    assert report.discount_minor == {"MXN": 6000}
    assert report.funders["distributor"].discount_minor == 3000
    assert report.funders["retailer"].discount_minor == 3000
    assert report.by_store == {"s1": 1, "s2": 1}


def test_preview_of_a_points_promotion_for_listed_customers_finds_them_through_the_ledger(conn: Connection) -> None:
    record = pa.PromotionRecord(
        "bonus",
        pa.DISTRIBUTOR,
        {
            "id": "bonus",
            "name": "Bonus",
            "scope": {"kind": "ticket"},
            "effect": {"type": "bonus_points", "points": 25},
            "audience": {"kind": "customers", "ids": [ANA]},
            "funding": {"distributor_bp": 10000, "retailer_bp": 0},
        },
        None,
        None,
        (),
        True,
        1,
    )
    sale(conn, "s1", [("gall-1", 1, 2000)], T0 - timedelta(days=2), customer=ANA)
    sale(conn, "s1", [("gall-1", 1, 2000)], T0 - timedelta(days=2))
    report = pa.preview(conn, TENANT, record, program=PROGRAM, now=T0)
    assert (report.sales_considered, report.sales_touched, report.points) == (2, 1, 25)
    assert report.funders["distributor"].points == 25 and report.funders["retailer"].points == 0
    with pytest.raises(InvalidInput, match="days"):
        pa.preview(conn, TENANT, record, days=0, now=T0)


@pytest.fixture
def hub_client(broker: MosquittoServer) -> Iterator[mqtt.Client]:
    client = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    try:
        yield client
    finally:
        client.loop_stop()
        client.disconnect()


def test_each_box_retains_its_stores_set_under_the_sets_version(
    hub_engine: Engine, conn: Connection, hub_client: mqtt.Client
) -> None:
    network.add_device(conn, TENANT, "box-1", "s1", now=T0)
    network.add_device(conn, TENANT, "box-3", "s3", now=T0)
    pa.define(conn, TENANT, promo(), stores=["s1"], now=T0)
    conn.commit()
    first = {o.device: o for o in pa.publish_to_boxes(hub_engine, hub_client, TENANT, now=T0)}
    with hub_engine.connect() as c:
        s1 = pa.latest_set(c, TENANT, "s1")
    assert s1 is not None and first["box-1"].version == s1.version and not first["box-1"].unchanged
    retained = read_retained(hub_client, TENANT, "box-1", "promotions").manifest
    assert retained is not None and (retained.version, retained.sha256) == (s1.version, s1.sha256)
    again = {o.device: o for o in pa.publish_to_boxes(hub_engine, hub_client, TENANT, now=T0)}
    assert again["box-1"].unchanged and again["box-3"].unchanged
    # A box that holds a higher version (it served another store before) gets the set under a higher one.
    publish_config(hub_client, TENANT, "box-1", "promotions", {"promotions": []}, 50)
    with hub_engine.begin() as c:
        pa.define(c, TENANT, promo("other", name="Other"), stores=["s1"], now=T0)
    moved = {o.device: o for o in pa.publish_to_boxes(hub_engine, hub_client, TENANT, now=T0)}
    assert moved["box-1"].version is not None and moved["box-1"].version > 50
    assert read_retained(hub_client, TENANT, "box-1", "promotions").manifest.version == moved["box-1"].version  # type: ignore[union-attr]

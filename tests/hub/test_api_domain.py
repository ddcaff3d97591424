"""The hub API's customers, promotions, network and catalogue routes: what each returns, how a retailer's view
is narrowed to its own stores and customers, field-level validation messages, publishing to a real broker,
and the catalogue import's per-row report, on SQLite and PostgreSQL (the ``world`` of test_api.py; roles and
404s for every route are covered by its endpoint table)."""

from __future__ import annotations

import dataclasses
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from devkit.services import MosquittoServer
from hub import db
from hub.api import create_app
from hub.api.accounts import Role
from hub.api.settings import BrokerSettings
from hub.publishing.retained import read_retained
from hub.publishing.snapshots import connect_broker
from tests.hub.test_api import T0, World, _sale, add_customer, fresh_id, promotion, settings_of, world

__all__ = ["world"]  # the fixture, imported from test_api.py: this module gets its own instance

A, N, R = Role.DISTRIBUTOR_ADMIN, Role.ANALYST, Role.RETAILER


def _get(world: World, path: str, role: Role, who: str = "", tenant: str = "t1", **params: Any) -> Any:
    response = world.client.get(path, params=params, headers=world.headers(tenant, role, who))
    assert response.status_code == 200, response.text
    return response.json()


def _customer_event(conn: sa.Connection, lid: str, store: str, device: str, hours_ago: int) -> None:
    conn.execute(
        db.customer_event.insert().values(
            event_id=uuid.uuid4(),
            tenant="t1",
            loyalty_id=lid,
            type="customer_update",
            store=store,
            device=device,
            box_ts=T0 - timedelta(hours=hours_ago),
        )
    )


# --- customers ------------------------------------------------------------------------------------------


def test_a_retailer_lists_the_customers_enrolled_or_seen_at_its_stores_only(world: World) -> None:
    with world.engine.begin() as conn:
        updated_at_s2 = add_customer(conn, "t1", fresh_id(), store=None, name="Dora Updated")
        _customer_event(conn, updated_at_s2, "s2", "box-2", 3)
        earned_at_s2 = add_customer(conn, "t1", fresh_id(), store=None, name="Eva Earned")
        conn.execute(
            db.posting.insert().values(
                event_id=uuid.uuid4(),
                tenant="t1",
                device="box-2",
                type="sale",
                store="s2",
                retailer="r2",
                customer=earned_at_s2,
                program="main",
                sale_id="S-1",
                total_minor=2500,
                box_points=2,
                hub_points=2,
                distributor_points=2,
                retailer_points=0,
                redeemed_points=0,
                hold_points=0,
                verdict="match",
                box_ts=T0,
                posted_at=T0,
            )
        )
    admin = {c["loyalty_id"] for c in _get(world, "/customers", A, limit=500)["items"]}
    r1 = {c["loyalty_id"] for c in _get(world, "/customers", R, "r1", limit=500)["items"]}
    r2 = {c["loyalty_id"] for c in _get(world, "/customers", R, "r2", limit=500)["items"]}
    assert {world.ids["loyalty_id"], world.ids["loyalty_id_r2"], updated_at_s2, earned_at_s2} <= admin
    assert world.other["loyalty_id"] not in admin
    assert world.ids["loyalty_id"] in r1 and not r1 & {world.ids["loyalty_id_r2"], updated_at_s2, earned_at_s2}
    assert {world.ids["loyalty_id_r2"], updated_at_s2, earned_at_s2} <= r2 and world.ids["loyalty_id"] not in r2
    assert world.client.get(f"/customers/{earned_at_s2}", headers=world.headers("t1", R, "r1")).status_code == 404


@pytest.mark.parametrize(("q", "expected"), [("ana", "loyalty_id"), ("5512345", "loyalty_id"), ("50100000002", "r2")])
def test_customers_are_found_by_name_phone_or_loyalty_id_prefix(world: World, q: str, expected: str) -> None:
    found = [c["loyalty_id"] for c in _get(world, "/customers", A, q=q, limit=500)["items"]]
    wanted = world.ids["loyalty_id"] if expected == "loyalty_id" else world.ids["loyalty_id_r2"]
    assert wanted in found


def test_a_customer_detail_carries_its_points_balance_per_program(world: World) -> None:
    detail = _get(world, f"/customers/{world.ids['loyalty_id']}", N)
    assert detail["name"] == "Ana López" and detail["enrolled_store"] == "s1"
    main = next(b for b in detail["balances"] if b["program"] == "main")
    assert (main["posted"], main["held"], main["available"]) == (120, 0, 120)


def test_a_retailer_reads_only_its_own_stores_entries_of_a_customers_history(world: World) -> None:
    with world.engine.begin() as conn:
        lid = add_customer(conn, "t1", fresh_id(), store="s1", name="Fer Both")
        _customer_event(conn, lid, "s1", "box-1", 5)
        _customer_event(conn, lid, "s2", "box-2", 4)
    everything = {e["store"] for e in _get(world, f"/customers/{lid}/history", A)["items"]}
    assert everything == {"s1", "s2"}
    assert {e["store"] for e in _get(world, f"/customers/{lid}/history", R, "r1")["items"]} == {"s1"}
    assert {e["store"] for e in _get(world, f"/customers/{lid}/history", R, "r2")["items"]} == {"s2"}


def test_a_consent_change_is_recorded_and_a_future_time_is_refused_on_its_field(world: World) -> None:
    with world.engine.begin() as conn:
        lid = add_customer(conn, "t1", fresh_id(), store="s1")
    headers = world.headers("t1", R, "r1")
    at = (T0 - timedelta(minutes=5)).isoformat()
    given = world.client.post(
        f"/customers/{lid}/consents", json={"kind": "marketing", "granted": True, "at": at}, headers=headers
    )
    assert given.status_code == 200 and given.json()["marketing_consent"] is True
    future = (T0 + timedelta(days=1)).isoformat()
    refused = world.client.post(
        f"/customers/{lid}/consents", json={"kind": "marketing", "granted": False, "at": future}, headers=headers
    )
    assert refused.status_code == 400 and refused.json()["field"] == "at"
    unknown = world.client.post(
        f"/customers/{lid}/consents", json={"kind": "sms", "granted": True, "at": at}, headers=headers
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "kind"]


def test_a_mistyped_loyalty_id_is_a_400_naming_the_field(world: World) -> None:
    response = world.client.get("/customers/501000000015", headers=world.headers("t1", A))
    assert response.status_code == 400 and response.json()["field"] == "loyalty_id"


def test_erasure_empties_the_personal_fields_and_is_sent_to_the_boxes_once(world: World) -> None:
    with world.engine.begin() as conn:
        lid = add_customer(conn, "t1", fresh_id(), store="s1", phone="+525599999999")
    headers = world.headers("t1", A)
    erased = world.client.post(f"/customers/{lid}/erase", headers=headers)
    assert erased.status_code == 200 and erased.json()["erased"] == [lid]
    detail = _get(world, f"/customers/{lid}", A)
    assert detail["state"] == "erased" and detail["name"] is None and detail["phone_e164"] is None
    with world.engine.connect() as conn:
        listed = conn.execute(sa.select(db.customer_erased.c.loyalty_id).where(db.customer_erased.c.tenant == "t1"))
        assert lid in set(listed.scalars())
    again = world.client.post(f"/customers/{lid}/erase", headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "already_erased"


def test_duplicates_are_found_merged_and_dismissed(world: World) -> None:
    with world.engine.begin() as conn:
        a = add_customer(conn, "t1", fresh_id(), store="s1", name="Gil Twin", phone="+525511112222")
        b = add_customer(conn, "t1", fresh_id(), store="s1", name="Gil Twin", phone="+525511112222")
        c = add_customer(conn, "t1", fresh_id(), store="s1", name="Hugo One", phone="+525533334444")
        d = add_customer(conn, "t1", fresh_id(), store="s1", name="Hugo Two", phone="+525533334444")
    headers = world.headers("t1", A)
    scanned = world.client.post("/customers/duplicates/scan", params={"limit": 500}, headers=headers).json()["items"]
    pairs = {(p["loyalty_id"], p["other_id"]) for p in scanned}
    assert tuple(sorted((a, b))) in pairs and tuple(sorted((c, d))) in pairs
    merged = world.client.post(f"/customers/{a}/merge", json={"duplicate": b}, headers=headers)
    assert merged.status_code == 200 and merged.json()["merged"] == b
    assert _get(world, f"/customers/{b}", A)["loyalty_id"] == a  # the alias gives its survivor
    assert b in _get(world, f"/customers/{a}", A)["aliases"]
    dismissed = world.client.post("/customers/duplicates/dismiss", json={"a": d, "b": c}, headers=headers)
    assert dismissed.status_code == 204
    listed = {(p["loyalty_id"], p["other_id"]) for p in _get(world, "/customers/duplicates", N, limit=500)["items"]}
    assert not listed & {tuple(sorted((a, b))), tuple(sorted((c, d)))}
    twice = world.client.post("/customers/duplicates/dismiss", json={"a": c, "b": d}, headers=headers)
    assert twice.status_code == 400 and twice.json()["field"] == "b"
    itself = world.client.post(f"/customers/{a}/merge", json={"duplicate": a}, headers=headers)
    assert itself.status_code == 400 and itself.json()["field"] == "duplicate"
    missing = world.client.post(f"/customers/{a}/merge", json={"duplicate": fresh_id()}, headers=headers)
    assert missing.status_code == 404 and missing.json()["field"] == "duplicate"


def test_a_tier_review_uses_the_tenants_program(world: World) -> None:
    review = world.client.post(f"/customers/{world.ids['loyalty_id']}/tier", json={}, headers=world.headers("t1", A))
    assert review.status_code == 200, review.text
    assert review.json()["change"] in ("upgrade", "kept") and review.json()["value"] == 120
    bad = world.client.post(
        f"/customers/{world.ids['loyalty_id']}/tier", json={"grace_periods": 99}, headers=world.headers("t1", A)
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "grace_periods"]


# --- promotions -----------------------------------------------------------------------------------------


def test_a_promotion_core_refuses_is_a_400_naming_the_field(world: World) -> None:
    body = promotion("bad-rate")
    body["effect"]["percent"] = 10
    response = world.client.post("/promotions", json={"promotion": body}, headers=world.headers("t1", A))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "promotion.effect.percent" and response.json()["message"]
    late = world.client.post(
        "/promotions",
        json={"promotion": promotion("late"), "starts_at": T0.isoformat(), "ends_at": T0.isoformat()},
        headers=world.headers("t1", A),
    )
    assert late.status_code == 400 and late.json()["field"] == "ends_at"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"stores": ["s2"]}, "stores.0"),
        ({"owner": "r2"}, "owner"),
        ({"funding": {"distributor_bp": 5000, "retailer_bp": 5000}}, "funding"),
    ],
    ids=["another-retailers-store", "another-owner", "distributor-funding"],
)
def test_a_retailer_defines_only_its_own_retailer_funded_promotions_at_its_stores(
    world: World, extra: dict[str, Any], field: str
) -> None:
    body = {"promotion": promotion(f"r1-{uuid.uuid4().hex[:8]}", retailer_funded=True), **extra}
    response = world.client.post("/promotions", json=body, headers=world.headers("t1", R, "r1"))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert "r2" not in response.json()["message"] or field == "owner"


def test_a_retailers_promotion_is_owned_by_it_and_its_id_is_not_another_owners(world: World) -> None:
    created = world.client.post(
        "/promotions",
        json={"promotion": promotion("r1-own", retailer_funded=True), "stores": ["s1"]},
        headers=world.headers("t1", R, "r1"),
    )
    assert created.status_code == 201 and created.json()["owner"] == "r1"
    taken = world.client.post(
        "/promotions",
        json={"promotion": promotion("r1-own", retailer_funded=True)},
        headers=world.headers("t1", R, "r2"),
    )
    assert taken.status_code == 409 and taken.json()["code"] == "promotion_id_taken"
    assert "r1" not in taken.json()["message"].replace("r1-own", "")


def test_a_retailer_lists_its_own_and_the_distributors_promotions(world: World) -> None:
    r1 = {p["promotion_id"] for p in _get(world, "/promotions", R, "r1", limit=500)["items"]}
    assert {"r1-promo", "dist-promo"} <= r1 and "r2-promo" not in r1
    admin = {p["promotion_id"] for p in _get(world, "/promotions", A, limit=500)["items"]}
    assert {"r1-promo", "r2-promo", "dist-promo"} <= admin and "t2-promo" not in admin
    assert _get(world, "/promotions/dist-promo", R, "r2")["owner"] == "distributor"
    refused = world.client.post("/promotions/dist-promo/withdraw", headers=world.headers("t1", R, "r1"))
    assert refused.status_code == 403


def test_withdrawing_disables_the_promotion_and_raises_its_revision(world: World) -> None:
    world.client.post(
        "/promotions", json={"promotion": promotion("to-stop"), "stores": ["s1"]}, headers=world.headers("t1", A)
    )
    stopped = world.client.post("/promotions/to-stop/withdraw", headers=world.headers("t1", A)).json()
    assert stopped["enabled"] is False and stopped["revision"] == 2


def test_a_preview_prices_the_last_30_days_of_sales_and_says_who_pays(world: World) -> None:
    # mx-general is in force from 2026: the world's 2025 sale cannot be priced again, and the report says why.
    skipped = _get(world, "/promotions/r1-promo/preview", R, "r1")
    assert (skipped["sales_considered"], skipped["sales_skipped"]) == (1, 1)
    assert "jurisdiction" in skipped["skip_reasons"][0]
    later = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with world.engine.begin() as conn:
        _sale(conn, "t1", "box-1", "s1", later - timedelta(days=2))
        _sale(conn, "t1", "box-2", "s2", later - timedelta(days=2))
    world.clock.now = later
    try:
        report = _get(world, "/promotions/r1-promo/preview", R, "r1")
        too_long = world.client.get("/promotions/r1-promo/preview", params={"days": 91}, headers=world.headers("t1", A))
    finally:
        world.clock.now = T0
    assert report["stores"] == ["s1"] and report["sales_considered"] == 1 and report["sales_touched"] == 1
    assert report["discount_minor"] == {"MXN": 250} and report["by_store"] == {"s1": 1}
    assert report["funders"]["retailer"]["discount_minor"] == 250
    assert report["funders"]["distributor"]["discount_minor"] == 0
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["query", "days"]


def test_publishing_without_a_broker_is_a_503_that_says_so(world: World) -> None:
    response = world.client.post("/promotions/publish", json={}, headers=world.headers("t1", A))
    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert "broker" in response.json()["message"]


@pytest.fixture
def published(world: World, broker: MosquittoServer) -> Iterator[tuple[TestClient, mqtt.Client]]:
    with_broker = dataclasses.replace(
        settings_of(world.client),
        broker=BrokerSettings("127.0.0.1", broker.port, broker.hub.username, broker.hub.password),
    )
    reader = connect_broker("127.0.0.1", broker.port, broker.hub.username, broker.hub.password)
    try:
        with TestClient(create_app(world.engine, with_broker)) as client:
            yield client, reader
    finally:
        reader.loop_stop()
        reader.disconnect()


def test_publishing_sends_each_store_its_set_as_a_retained_versioned_snapshot(
    world: World, published: tuple[TestClient, mqtt.Client]
) -> None:
    client, reader = published
    headers = world.headers("t1", R, "r1")
    refused = client.post("/promotions/publish", json={"stores": ["s2"]}, headers=headers)
    assert refused.status_code == 404 and refused.json()["code"] == "store_not_found"
    first = client.post("/promotions/publish", json={}, headers=headers)
    assert first.status_code == 200, first.text
    boxes = first.json()["boxes"]
    assert [b["device"] for b in boxes] == ["box-1"] and first.json()["complete"] is True
    retained = read_retained(reader, "t1", "box-1", "promotions")
    assert retained.manifest is not None and retained.manifest.version == boxes[0]["version"]
    again = client.post("/promotions/publish", json={"stores": ["s1"]}, headers=world.headers("t1", A)).json()
    assert again["boxes"][0]["unchanged"] is True
    everyone = client.post("/promotions/publish", json={}, headers=world.headers("t1", A)).json()
    assert {b["device"] for b in everyone["boxes"]} == {"box-1", "box-2"}


# --- network and catalogue ------------------------------------------------------------------------------


def test_stores_and_their_boxes_are_scoped_to_the_retailer(world: World) -> None:
    assert [s["store"] for s in _get(world, "/stores", R, "r1")["items"]] == ["s1"]
    assert [s["store"] for s in _get(world, "/stores", N)["items"]] == ["s1", "s2"]
    assert [s["store"] for s in _get(world, "/stores", A, tenant="t2")["items"]] == ["s9"]
    boxes = _get(world, "/stores/s1/devices", R, "r1")["items"]
    assert [(b["device"], b["online"]) for b in boxes] == [("box-1", True)]
    assert boxes[0]["loyalty_first"] <= boxes[0]["loyalty_last"]


def test_items_are_searched_by_name_sku_or_barcode_and_paged(world: World) -> None:
    assert [i["sku"] for i in _get(world, "/items", R, "r2", q="coca")["items"]] == ["COCA-600"]
    assert [i["sku"] for i in _get(world, "/items", N, q="7501055300075")["items"]] == ["COCA-600"]
    assert [i["sku"] for i in _get(world, "/items", N, category="galletas")["items"]] == ["GALL-1"]
    first = _get(world, "/items", N, limit=1)
    assert len(first["items"]) == 1 and first["next_offset"] == 1
    item = _get(world, "/items/COCA-600", R, "r1")
    assert item["unit_price_minor"] == 2500 and item["barcodes"] == ["7501055300075"]
    assert [i["sku"] for i in _get(world, "/items", A, tenant="t2", q="coca")["items"]] == []


def test_stock_is_read_per_store_and_per_warehouse_within_scope(world: World) -> None:
    own = _get(world, "/stock", R, "r1")["items"]
    assert [(s["location_kind"], s["location"], s["on_hand"]) for s in own] == [("store", "s1", 12)]
    every = {(s["location_kind"], s["location"]) for s in _get(world, "/stock", N, sku="COCA-600")["items"]}
    assert every == {("store", "s1"), ("store", "s2"), ("warehouse", "wh-1")}
    assert _get(world, "/stores/s2/stock", R, "r2")["items"][0]["on_hand"] == 7
    warehouse = _get(world, "/warehouses/wh-1/stock", N)["items"]
    assert [(s["sku"], s["on_hand"], s["forecast"]) for s in warehouse] == [
        ("COCA-600", 900, 950),
        ("GALL-1", 40, None),
    ]
    missing = world.client.get("/warehouses/wh-9/stock", headers=world.headers("t1", N))
    assert missing.status_code == 404 and missing.json()["code"] == "warehouse_not_found"


def _upload(world: World, name: str, content: str, **data: str) -> Any:
    return world.client.post(
        "/catalogue/import",
        files={"file": (name, content.encode(), "text/plain")},
        data={"kind": "products", **data},
        headers=world.headers("t1", A),
    )


HEADER = "sku,name,category,tax_category,price,cost,barcodes,distributor\n"


def test_an_import_stores_the_good_rows_and_reports_each_bad_row(world: World) -> None:
    text = HEADER + "JUGO-1,Jugo 1 l,bebidas,alimentos,32.50,20.00,,acme\nBAD-1,Sin precio,bebidas,alimentos,,,,acme\n"
    response = _upload(world, "products.csv", text)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["accepted"], report["changed"]) == (2, 1, ["JUGO-1"])
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "price")]
    assert _get(world, "/items/JUGO-1", A)["unit_price_minor"] == 3250
    dry = _upload(
        world,
        "more.json",
        '[{"sku": "DRY-1", "name": "Agua", "category": "bebidas", '
        '"tax_category": "alimentos", "price": "10.00", "cost": null, "barcodes": [], '
        '"distributor": "acme"}]',
        dry_run="true",
    ).json()
    assert dry["dry_run"] is True and dry["accepted"] == 1 and dry["changed_count"] == 0
    assert world.client.get("/items/DRY-1", headers=world.headers("t1", A)).status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "field"),
    [("products.xlsx", HEADER, "file"), ("products.csv", "sku,name\nA,B\n", "header")],
    ids=["not-csv-or-json", "missing-columns"],
)
def test_an_import_file_of_the_wrong_shape_is_a_400_naming_the_problem(
    world: World, name: str, content: str, field: str
) -> None:
    response = _upload(world, name, content)
    assert response.status_code == 400 and response.json()["field"] == field and response.json()["message"]


def test_an_import_larger_than_the_bound_is_refused_with_413(world: World) -> None:
    small = dataclasses.replace(settings_of(world.client), import_max_bytes=100)
    with TestClient(create_app(world.engine, small)) as client:
        response = client.post(
            "/catalogue/import",
            files={"file": ("big.csv", (HEADER + "X,Y,c,t,1.00,,,d\n" * 20).encode(), "text/csv")},
            data={"kind": "products"},
            headers=world.headers("t1", A),
        )
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"

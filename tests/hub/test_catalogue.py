"""The hub catalogue: items and barcodes upserted with real change detection, stock, rules, the file import."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import wire
from core.errors import InvalidInput
from hub import catalogue, db, network
from hub.catalogue import Item, Rule
from hub.erp.__main__ import main as erp_main
from hub.erp.base import ERPProduct
from hub.network import Store
from hub.publishing import snapshots as publish

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def an_item(sku: str = "REF-COLA-600", **changes: object) -> Item:
    values: dict[str, object] = {
        "sku": sku,
        "name": "Refresco de cola 600 ml",
        "category": "refrescos",
        "tax_category": "bebida_azucarada",
        "unit_price_minor": 1800,
        "currency": "MXN",
        "cost_minor": 1350,
        "brand": "cola-del-norte",
        "distributor": "dist-bebidas",
        "barcodes": ("7501234000017",),
        "distributors": ("dist-bebidas",),
    }
    values.update(changes)
    return Item(**values)  # type: ignore[arg-type]


@pytest.fixture
def acme(hub_engine: sa.Engine) -> sa.Engine:
    with hub_engine.begin() as conn:
        network.add_tenant(conn, "acme", "Distribuidora Acme", 481, erp_supplier="SUP-EV", now=NOW)
        store = Store("acme", "t1", "r1", "Tienda 1", "America/Mexico_City", "MXN", "mx-general", "es")
        network.add_store(conn, store, now=NOW)
    return hub_engine


def upsert(engine: sa.Engine, *items: Item, source: str = "admin") -> catalogue.UpsertResult:
    with engine.begin() as conn:
        return catalogue.upsert_items(conn, "acme", items, source=source, now=NOW)


def test_an_item_is_stored_with_barcodes_and_carriers_and_a_repeat_changes_nothing(acme: sa.Engine) -> None:
    item = an_item(barcodes=("7501234000017", "7501234000024"), distributors=("dist-b", "dist-a"))

    assert upsert(acme, item).changed == ("REF-COLA-600",)
    assert upsert(acme, item).changed == ()
    assert upsert(acme, dataclasses.replace(item, unit_price_minor=1900)).changed == ("REF-COLA-600",)

    with acme.connect() as conn:
        (stored,) = catalogue.items(conn, "acme")
    assert stored.unit_price_minor == 1900
    assert stored.barcodes == ("7501234000017", "7501234000024")
    assert stored.distributors == ("dist-a", "dist-b")


def test_a_barcode_given_to_another_item_leaves_the_first_and_both_count_as_changed(acme: sa.Engine) -> None:
    upsert(acme, an_item("A", barcodes=("111", "222")), an_item("B", barcodes=()))

    result = upsert(acme, an_item("B", barcodes=("222",)))

    assert result.changed == ("A", "B")
    with acme.connect() as conn:
        found = {i.sku: i.barcodes for i in catalogue.items(conn, "acme")}
        body = publish.catalogue_body(conn, "acme", "t1")
    assert found == {"A": ("111",), "B": ("222",)}
    wire.decode_config_body("catalogue", wire.config_body_json(body))


def test_an_item_a_box_could_not_carry_is_refused_alone(acme: sa.Engine) -> None:
    result = upsert(acme, an_item("LONG", name="x" * 121), an_item("OK"), an_item("NEG", unit_price_minor=-1))

    assert result.changed == ("OK",)
    assert [(p.sku, p.field) for p in result.problems] == [("LONG", "name"), ("NEG", "unit_price_minor")]


def test_an_erp_product_keeps_the_hub_only_facts_of_the_stored_item(acme: sa.Engine) -> None:
    product = ERPProduct("REF-COLA-600", "Cola 600", "Bebidas", 1850, "MXN", 1320, ("7501055300075",), True, "7")
    new = catalogue.item_from_erp(product, None, erp_supplier="SUP-EV", tax_category="general")
    stored = an_item(measure_per_unit_milli=600)
    known = catalogue.item_from_erp(product, stored, erp_supplier="SUP-EV", tax_category="general")

    assert (new.tax_category, new.brand, new.distributor, new.distributors) == ("general", None, "SUP-EV", ("SUP-EV",))
    assert (known.tax_category, known.brand, known.measure_per_unit_milli) == (
        "bebida_azucarada",
        "cola-del-norte",
        600,
    )
    assert (known.unit_price_minor, known.cost_minor, known.category, known.erp_id) == (1850, 1320, "Bebidas", "7")
    assert known.distributors == ("SUP-EV", "dist-bebidas")


def test_the_store_snapshot_leaves_out_items_priced_in_another_currency(acme: sa.Engine) -> None:
    upsert(acme, an_item("PESOS"), an_item("DOLARES", currency="USD", barcodes=()))

    with acme.connect() as conn:
        body = publish.catalogue_body(conn, "acme", "t1")

    assert [i["sku"] for i in body["items"]] == ["PESOS"]


def test_stock_is_kept_per_location_and_only_real_changes_count(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        assert catalogue.set_stock(conn, "acme", "warehouse", "WH", [("A", 10, 12), ("B", 0, None)]) == 2
        assert catalogue.set_stock(conn, "acme", "warehouse", "WH", [("A", 10, 12), ("B", 3, None)]) == 1
        catalogue.set_stock(conn, "acme", "store", "t1", [("A", 4, None)])
        rows = catalogue.stock(conn, "acme", sku="A")
        with pytest.raises(InvalidInput, match="neither"):
            catalogue.set_stock(conn, "acme", "shelf", "x", [])  # type: ignore[arg-type]

    assert [(r.location_kind, r.location, r.on_hand, r.forecast) for r in rows] == [
        ("store", "t1", 4, None),
        ("warehouse", "WH", 10, 12),
    ]


def test_a_store_rule_overrides_the_tenant_rule_for_its_sku(acme: sa.Engine) -> None:
    with acme.begin() as conn:
        catalogue.set_stock_rules(conn, "acme", [Rule("A", 6, 4, 24, "dist-1"), Rule("B", 3, 2, 12)])
        catalogue.set_stock_rules(conn, "acme", [Rule("A", 2, 1, 6)], store="t1")
        body = publish.stock_rules_body(conn, "acme", "t1")
        with pytest.raises(InvalidInput, match="order_up_to 4 must exceed reorder_point 4"):
            catalogue.set_stock_rules(conn, "acme", [Rule("C", 5, 4, 4)])

    assert body["rules"] == [
        {"sku": "A", "low_at": 2, "reorder_point": 1, "order_up_to": 6, "preferred_distributor": None},
        {"sku": "B", "low_at": 3, "reorder_point": 2, "order_up_to": 12, "preferred_distributor": None},
    ]
    wire.decode_config_body("stock_rules", wire.config_body_json(body))


PRODUCTS_CSV = """sku,name,category,tax_category,price,cost,barcodes,distributor
REF-COLA-600,Refresco de cola 600 ml,Bebidas,bebida_azucarada,18.50,13.20,7501055300075,dist-bebidas
GAL-MARIA-170,"Galletas María, 170 g",Abarrotes,general,22,15.75,7501000111206|7501000111213,dist-botanas
BAD-1,Sin precio,Abarrotes,general,12.505,,,dist-botanas
"""


def test_an_imported_file_loads_into_the_tenant_catalogue_from_the_command_line(
    acme: sa.Engine, hub_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    products = tmp_path / "products.csv"
    products.write_text(PRODUCTS_CSV)
    stock = tmp_path / "stock.csv"
    stock.write_text("sku,warehouse,on_hand\nREF-COLA-600,WH,48\n")

    def run(path: Path, *extra: str) -> tuple[int, str]:
        code = erp_main(["import", str(path), "--tenant", "acme", "--db", hub_db_url, *extra])
        return code, capsys.readouterr().err

    code, err = run(products)
    assert code == 1, err  # one bad row, reported; the good rows are loaded
    assert "2 items changed" in err
    assert run(stock, "--kind", "stock")[0] == 0

    with acme.connect() as conn:
        found = {i.sku: i for i in catalogue.items(conn, "acme")}
        (level,) = catalogue.stock(conn, "acme", sku="REF-COLA-600")
        sources = set(conn.execute(sa.select(db.catalogue_item.c.source)).scalars())
    assert sorted(found) == ["GAL-MARIA-170", "REF-COLA-600"]
    assert (found["GAL-MARIA-170"].unit_price_minor, found["GAL-MARIA-170"].distributors) == (2200, ("dist-botanas",))
    assert found["GAL-MARIA-170"].barcodes == ("7501000111206", "7501000111213")
    assert (level.location, level.on_hand) == ("WH", 48) and sources == {"import"}


def test_importing_into_an_unknown_tenant_is_refused(acme: sa.Engine) -> None:
    from hub.erp.importer import ImportKind, ImportResult

    with acme.begin() as conn, pytest.raises(InvalidInput, match="no tenant 'nadie'"):
        catalogue.load_import(conn, "nadie", ImportResult(ImportKind.PRODUCTS, (), (), (), 0))


def test_json_of_a_loaded_item_matches_the_wire_schema(acme: sa.Engine) -> None:
    upsert(acme, an_item(measure_per_unit_milli=600))
    with acme.connect() as conn:
        body = publish.catalogue_body(conn, "acme", "t1")
    parsed = wire.decode_config_body("catalogue", json.dumps(body).encode())
    assert isinstance(parsed, wire.CatalogueBody)
    assert parsed.items[0].measure_per_unit_milli == 600


def test_the_file_import_takes_brand_and_manufacturer_and_an_empty_one_keeps_the_hubs(
    acme: sa.Engine, tmp_path: Path
) -> None:
    from hub.erp.importer import ImportKind, import_file

    header = "sku,name,category,tax_category,price,cost,barcodes,distributor,brand,manufacturer\n"
    first = tmp_path / "first.csv"
    first.write_text(header + "REF-COLA-600,Cola 600 ml,refrescos,standard,18.50,13.20,,dist-b,cola-norte,bebidas-mx\n")
    again = tmp_path / "again.csv"
    again.write_text(header + "REF-COLA-600,Cola 600 ml,refrescos,standard,19.00,13.20,,dist-b,,\n")
    too_long = tmp_path / "long.csv"
    too_long.write_text(header + f"X-1,X,refrescos,standard,1.00,,,dist-b,{'b' * 65},\n")
    for path in (first, again):
        with acme.begin() as conn:
            catalogue.load_import(conn, "acme", import_file(path, ImportKind.PRODUCTS, currency="MXN"), now=NOW)
        with acme.connect() as conn:
            (item,) = catalogue.items(conn, "acme")
        assert (item.brand, item.manufacturer) == ("cola-norte", "bebidas-mx")
    assert item.unit_price_minor == 1900
    refused = import_file(too_long, ImportKind.PRODUCTS, currency="MXN")
    assert [(e.row, e.field) for e in refused.errors] == [(2, "brand")]

"""The catalogue: scans checked, items found by barcode, SKU or name, local items added, hub snapshots applied."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidInput
from edge_agent.catalogue import (
    MAX_SEARCH_RESULTS,
    BadScan,
    Catalogue,
    UnknownBarcode,
    UnknownItem,
    gs1_check_digit,
    validate_scan,
)
from edge_agent.store import Store
from edge_agent.sync import ConfigRefused, apply_config

COLA = "7501234000017"


def test_ean13_upca_and_ean8_check_digits_are_checked() -> None:
    assert validate_scan(COLA).symbology == "ean13"
    assert validate_scan("039800123459\r\n").text == "039800123459"
    assert validate_scan("96385074").symbology == "ean8"
    with pytest.raises(BadScan, match="check digit should be 7"):
        validate_scan("7501234000018")
    with pytest.raises(BadScan, match="UPC-A"):
        validate_scan("039800123450")


def test_code128_text_must_be_printable_ascii() -> None:
    assert validate_scan("ABC-123/x").symbology == "code128"
    with pytest.raises(BadScan, match="keyboard layout"):
        validate_scan("AB\x07C")
    with pytest.raises(BadScan, match="empty"):
        validate_scan("\r\n")
    with pytest.raises(BadScan, match="more than"):
        validate_scan("A" * 100)


def test_gs1_check_digit_matches_a_published_code() -> None:
    # 4006381333931 is the EAN-13 example in GS1's check digit calculator documentation.
    assert gs1_check_digit("400638133393") == "1"


def test_a_scanned_barcode_finds_its_item(catalogue: Catalogue) -> None:
    item = catalogue.by_barcode(COLA + "\n")
    assert item.sku == "REF-COLA-600"
    assert item.unit_price_minor == 1800
    assert COLA in item.barcodes


def test_a_upca_scan_finds_the_item_stored_as_ean13(box: Store, catalogue: Catalogue) -> None:
    with box.transaction() as tx:
        tx.conn.execute("UPDATE item_barcode SET barcode = '0039800123459' WHERE barcode = '039800123459'")
    assert catalogue.by_barcode("039800123459").sku == "PILAS-AA-4"


def test_an_unknown_barcode_is_a_typed_error(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownBarcode) as caught:
        catalogue.by_barcode("7501234999991")
    assert caught.value.code == "unknown_barcode"
    assert caught.value.barcode == "7501234999991"


def test_search_by_name_is_bounded(catalogue: Catalogue) -> None:
    assert [i.sku for i in catalogue.search("papas")] == ["PAPAS-CHILE-45", "PAPAS-SAL-45"]
    assert len(catalogue.search("a", limit=1000)) == MAX_SEARCH_RESULTS
    assert catalogue.search("100%") == []
    with pytest.raises(InvalidInput):
        catalogue.search("  ")


def test_lookup_by_sku_refuses_inactive_items_unless_asked(box: Store, catalogue: Catalogue) -> None:
    with box.transaction() as tx:
        tx.conn.execute("UPDATE item SET active = 0 WHERE sku = 'CLORO-1L'")
    with pytest.raises(UnknownItem):
        catalogue.by_sku("CLORO-1L")
    assert catalogue.by_sku("CLORO-1L", include_inactive=True).active is False


def test_the_cashier_adds_a_local_item(box: Store, catalogue: Catalogue) -> None:
    item = catalogue.add_local_item(
        name="Tamal de rajas", unit_price_minor=2000, category="comida", tax_category="alimentos", barcode="20000011"
    )
    assert item.origin == "local"
    assert catalogue.by_barcode("20000011").sku == item.sku == "local-20000011"
    assert box.conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (item.sku,)).fetchone()[0] == 0


def test_a_local_item_is_refused_for_a_taken_barcode_or_unknown_tax_category(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidInput, match="already belongs to item REF-COLA-600"):
        catalogue.add_local_item(name="Otro", unit_price_minor=100, category="x", tax_category="general", barcode=COLA)
    with pytest.raises(InvalidInput) as caught:
        catalogue.add_local_item(
            name="Otro", unit_price_minor=100, category="x", tax_category="lujo", barcode="20000028"
        )
    assert caught.value.field == "tax_category"
    with pytest.raises(InvalidInput) as price_error:
        catalogue.add_local_item(
            name="Otro",
            unit_price_minor=1.5,  # type: ignore[arg-type]
            category="x",
            tax_category="general",
            barcode="20000028",
        )
    assert price_error.value.field == "unit_price_minor"


def test_a_hub_snapshot_wins_over_a_local_item_and_retires_missing_ones(box: Store, catalogue: Catalogue) -> None:
    local = catalogue.add_local_item(
        name="Tamal", unit_price_minor=2000, category="comida", tax_category="alimentos", barcode="20000011"
    )
    body = {
        "items": [
            {
                "sku": local.sku,
                "name": "Tamal oaxaqueño",
                "category": "comida",
                "tax_category": "alimentos",
                "unit_price_minor": 2500,
                "barcodes": ["20000011"],
                "distributors": ["dist-abarrotes"],
            }
        ]
    }
    assert apply_config(box, "catalogue", 1, json.dumps(body).encode()).changed
    item = catalogue.by_barcode("20000011")
    assert (item.origin, item.name, item.unit_price_minor) == ("hub", "Tamal oaxaqueño", 2500)
    with pytest.raises(UnknownBarcode):
        catalogue.by_barcode(COLA)


def test_a_snapshot_giving_one_barcode_to_two_items_is_refused(box: Store) -> None:
    entry = {"name": "x", "category": "c", "tax_category": "general", "unit_price_minor": 1, "barcodes": [COLA]}
    body = {"items": [{"sku": "A", **entry}, {"sku": "B", **entry}]}
    with pytest.raises(ConfigRefused, match="also belongs to 'A'"):
        apply_config(box, "catalogue", 1, json.dumps(body).encode())

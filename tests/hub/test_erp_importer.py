"""Product and stock file import: exact prices, per-row errors with a CSV report, bounds, progress, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.errors import InvalidInput
from hub.erp.__main__ import main
from hub.erp.importer import ImportKind, RowError, import_file, write_error_report

GOOD_CSV = """sku,name,category,tax_category,price,cost,barcodes,distributor
REF-COLA-600,Refresco de cola 600 ml,Bebidas,standard,18.50,13.20,7501055300075,Embotelladora del Valle
GAL-MARIA-170,"Galletas María, 170 g",Abarrotes,standard,22,15.75,7501000111206|7501000111213,Galletera SA
JAB-BARRA-150,Jabón de barra 150 g,Limpieza,standard,9.90,,,Embotelladora del Valle
"""

BAD_CSV = """sku,name,category,tax_category,price,cost,barcodes,distributor
REF-COLA-600,Refresco,Bebidas,standard,18.505,13.20,,Embotelladora
,Sin sku,Bebidas,standard,10.00,,,Embotelladora
GAL-1,Galletas,Abarrotes,standard,"12,50",,,Galletera
JAB-1,Jabón,Limpieza,standard,9.90,,7501055300076,Embotelladora
OK-1,Bueno,Dulces,standard,5.00,3.00,,Dulcera
OK-1,Repetido,Dulces,standard,5.50,,,Dulcera
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_csv_becomes_typed_products_with_exact_minor_prices(tmp_path: Path) -> None:
    result = import_file(_write(tmp_path, "p.csv", GOOD_CSV), ImportKind.PRODUCTS, currency="MXN")

    assert result.ok and result.rows == 3
    cola, galletas, jabon = result.products
    assert (cola.sku, cola.price_minor, cola.cost_minor, cola.barcodes) == (
        "REF-COLA-600",
        1850,
        1320,
        ("7501055300075",),
    )
    assert (galletas.name, galletas.price_minor, galletas.barcodes) == (
        "Galletas María, 170 g",
        2200,
        ("7501000111206", "7501000111213"),
    )
    assert (jabon.cost_minor, jabon.barcodes, jabon.distributor, jabon.active) == (
        None,
        (),
        "Embotelladora del Valle",
        True,
    )
    assert galletas.row == 3


def test_bad_rows_are_reported_by_row_and_field_and_good_rows_kept(tmp_path: Path) -> None:
    result = import_file(_write(tmp_path, "p.csv", BAD_CSV), ImportKind.PRODUCTS, currency="MXN")

    assert [p.sku for p in result.products] == ["OK-1"]
    where = [(e.row, e.field) for e in result.errors]
    assert where == [(2, "price"), (3, "sku"), (4, "price"), (5, "barcodes"), (7, "sku")]
    problems = {e.row: e.problem for e in result.errors}
    assert "more than 2 decimal places" in problems[2]
    assert "not a decimal number" in problems[4]
    assert "wrong check digit" in problems[5]
    assert "earlier row" in problems[7]


def test_error_report_is_a_csv_of_row_field_problem(tmp_path: Path) -> None:
    report = tmp_path / "errors.csv"
    write_error_report([RowError(4, "price", "12,50 is not a decimal number")], report)

    with report.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["row", "field", "problem"],
            ["4", "price", "12,50 is not a decimal number"],
        ]


def test_json_lines_and_json_arrays_import_alike(tmp_path: Path) -> None:
    item = {
        "sku": "A-1",
        "name": "Agua 1 l",
        "category": "Bebidas",
        "tax_category": "standard",
        "price": "12.00",
        "cost": None,
        "barcodes": ["7501055300075"],
        "distributor": "Embotelladora",
        "active": False,
    }
    float_price = {**item, "sku": "A-2", "price": 12.0}
    lines = _write(tmp_path, "p.jsonl", "\n".join(json.dumps(x) for x in (item, float_price)) + "\n")
    array = _write(tmp_path, "p.json", json.dumps([item, float_price]))

    for path in (lines, array):
        result = import_file(path, ImportKind.PRODUCTS, currency="MXN")
        (product,) = result.products
        assert (product.price_minor, product.active, product.barcodes) == (1200, False, ("7501055300075",))
        assert [(e.row, e.field) for e in result.errors] == [(2, "price")]
        assert "as text" in result.errors[0].problem


def test_stock_file_reads_whole_quantities_per_warehouse(tmp_path: Path) -> None:
    text = "sku,warehouse,on_hand\nA-1,WH,12\nA-1,SUR,-2\nA-1,WH,3\nB-1,WH,2.5\n"
    result = import_file(_write(tmp_path, "s.csv", text), ImportKind.STOCK, currency="MXN")

    assert [(s.sku, s.warehouse, s.on_hand) for s in result.stock] == [("A-1", "WH", 12), ("A-1", "SUR", -2)]
    assert [(e.row, e.field) for e in result.errors] == [(4, "sku"), (5, "on_hand")]


def test_missing_column_refuses_the_whole_file_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", "sku,name,price\nA,B,1.00\n")

    with pytest.raises(InvalidInput, match="no column category, tax_category, cost, barcodes, distributor"):
        import_file(path, ImportKind.PRODUCTS, currency="MXN")


def test_files_over_the_size_or_row_bound_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", GOOD_CSV)

    with pytest.raises(InvalidInput, match="is 360 bytes, more than 100; split it"):
        import_file(path, ImportKind.PRODUCTS, currency="MXN", max_bytes=100)
    with pytest.raises(InvalidInput, match="more than 2 rows; split it"):
        import_file(path, ImportKind.PRODUCTS, currency="MXN", max_rows=2)


def test_progress_is_reported_and_ends_at_the_file_size(tmp_path: Path) -> None:
    rows = "".join(f"S-{i},Item {i},Cat,standard,1.00,,,Dist\n" for i in range(1200))
    path = _write(tmp_path, "big.csv", GOOD_CSV.splitlines(keepends=True)[0] + rows)
    calls: list[tuple[int, int, int]] = []

    result = import_file(path, ImportKind.PRODUCTS, currency="MXN", progress=lambda *a: calls.append(a))

    assert result.ok and len(result.products) == 1200
    assert [c[0] for c in calls] == [500, 1000, 1200]
    size = path.stat().st_size
    assert calls[-1] == (1200, size, size)
    assert all(done <= total for _, done, total in calls)


def test_cli_writes_the_error_report_and_exits_1_on_bad_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", BAD_CSV)

    status = main(["import", str(path)])

    assert status == 1
    with (tmp_path / "p.csv.errors.csv").open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 1 + 5


def test_cli_prints_good_records_as_json_lines_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["import", str(_write(tmp_path, "p.csv", GOOD_CSV)), "--json"])

    assert status == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["sku"], r["price_minor"]) for r in records] == [
        ("REF-COLA-600", 1850),
        ("GAL-MARIA-170", 2200),
        ("JAB-BARRA-150", 990),
    ]


def test_cli_refuses_an_unknown_format_with_status_2(tmp_path: Path) -> None:
    assert main(["import", str(_write(tmp_path, "p.xlsx", "x"))]) == 2

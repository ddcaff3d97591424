"""Catalogue and stock import from files, for distributors without an ERP.

Formats, chosen by the file's extension: ``.csv`` (UTF-8, a header row, comma separated), ``.jsonl`` (one JSON
object per line) and ``.json`` (one array of objects). CSV and JSON Lines are read a row at a time; a ``.json``
array is read whole, which the file size bound keeps small. Columns (see docs/erp.md for an example):

* products: ``sku, name, category, tax_category, price, cost, barcodes, distributor`` and optional ``active``,
  ``brand`` and ``manufacturer`` (ids of at most :data:`MAX_CODE` characters; empty: keep what the hub has).
  ``price`` and ``cost`` are decimal text in major units with a dot (``18.50``), converted exactly to minor
  units of the import's currency; ``cost`` may be empty. ``barcodes`` are GTINs (8 to 14 digits with a valid
  check digit) separated by spaces or ``|`` in CSV, a list in JSON.
* stock: ``sku, warehouse, on_hand`` (a whole number, may be negative after an unrecorded sale).

Every row is validated on its own: a good row becomes a typed record, a bad one a :class:`RowError` (row
number, field, problem), and :func:`write_error_report` writes those as CSV for the person who made the file.
Row numbers are those a spreadsheet shows (the CSV header is row 1; in JSON the first object is row 1). A
repeated sku (per warehouse, for stock) is an error on the later row. A file larger than
:data:`IMPORT_MAX_BYTES` or with more than :data:`IMPORT_MAX_ROWS` rows is refused as a whole
(:class:`core.errors.InvalidInput`), as is a file with a missing column.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from core.errors import InvalidInput
from hub.erp.base import ERPDataError, to_minor
from hub.errors import HubError

__all__ = [
    "IMPORT_MAX_BYTES",
    "IMPORT_MAX_ROWS",
    "ImportKind",
    "ImportResult",
    "ImportedProduct",
    "ImportedStock",
    "Progress",
    "RowError",
    "import_file",
    "write_error_report",
]

IMPORT_MAX_BYTES: Final = 50 * 1024 * 1024
IMPORT_MAX_ROWS: Final = 200_000
PROGRESS_EVERY_ROWS: Final = 500
"""The progress callback is called after this many rows (and once at the end)."""
ERRORS_MAX: Final = 10_000
"""Row errors kept; past it the import stops (the file is probably of another kind or format)."""
MAX_BARCODES: Final = 20
MAX_TEXT: Final = 200
MAX_CODE: Final = 64
"""Longest brand or manufacturer id accepted (the catalogue's bound)."""
"""Longest name, category, distributor or sku accepted."""
MAX_ON_HAND: Final = 10**9

Progress = Callable[[int, int, int], None]
"""``progress(rows_done, bytes_done, bytes_total)``."""


class ImportKind(enum.StrEnum):
    """What a file holds."""

    PRODUCTS = "products"
    STOCK = "stock"


_COLUMNS: Final[Mapping[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    # (required, optional)
    ImportKind.PRODUCTS: (
        ("sku", "name", "category", "tax_category", "price", "cost", "barcodes", "distributor"),
        ("active", "brand", "manufacturer"),
    ),
    ImportKind.STOCK: (("sku", "warehouse", "on_hand"), ()),
}
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]*")
_BARCODE_SPLIT = re.compile(r"[\s|]+")


@dataclass(frozen=True)
class RowError:
    """One problem in one row: where it is and what to change."""

    row: int
    field: str
    problem: str


@dataclass(frozen=True)
class ImportedProduct:
    """A product row that passed validation; prices in minor units of ``currency``."""

    row: int
    sku: str
    name: str
    category: str
    tax_category: str
    price_minor: int
    cost_minor: int | None
    currency: str
    barcodes: tuple[str, ...]
    distributor: str
    active: bool
    brand: str | None = None
    manufacturer: str | None = None


@dataclass(frozen=True)
class ImportedStock:
    """A stock row that passed validation."""

    row: int
    sku: str
    warehouse: str
    on_hand: int


@dataclass(frozen=True)
class ImportResult:
    """The good records, the row errors, and how many data rows were read."""

    kind: ImportKind
    products: tuple[ImportedProduct, ...]
    stock: tuple[ImportedStock, ...]
    errors: tuple[RowError, ...]
    rows: int

    @property
    def ok(self) -> bool:
        return not self.errors


class _RowInvalid(HubError):
    code = "row_invalid"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def import_file(
    path: Path,
    kind: ImportKind,
    *,
    currency: str,
    progress: Progress | None = None,
    max_bytes: int = IMPORT_MAX_BYTES,
    max_rows: int = IMPORT_MAX_ROWS,
) -> ImportResult:
    """Read and validate ``path``; see the module docstring for the format and the bounds."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".json", ".jsonl"}:
        raise InvalidInput("file", f"{path.name}: use a .csv, .json or .jsonl file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {path}: {exc.strerror}") from exc
    if size > max_bytes:
        raise InvalidInput("file", f"{path.name} is {size} bytes, more than {max_bytes}; split it into smaller files")
    try:
        to_minor("0", currency)
    except ERPDataError as exc:
        raise InvalidInput("currency", str(exc)) from exc

    products: list[ImportedProduct] = []
    stock: list[ImportedStock] = []
    errors: list[RowError] = []
    seen: set[tuple[str, ...]] = set()
    rows = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row_number, raw in _rows(handle, suffix, kind, path.name):
            rows += 1
            if rows > max_rows:
                raise InvalidInput("file", f"{path.name} has more than {max_rows} rows; split it into smaller files")
            try:
                if isinstance(raw, _RowInvalid):
                    raise raw
                if kind is ImportKind.PRODUCTS:
                    product = _product(raw, row_number, currency)
                    _once(seen, (product.sku,), "sku", f"sku {product.sku} appears on an earlier row")
                    products.append(product)
                else:
                    level = _stock(raw, row_number)
                    _once(
                        seen,
                        (level.sku, level.warehouse),
                        "sku",
                        f"sku {level.sku} in {level.warehouse} appears on an earlier row",
                    )
                    stock.append(level)
            except _RowInvalid as bad:
                errors.append(RowError(row_number, bad.field, bad.problem))
                if len(errors) >= ERRORS_MAX:
                    errors.append(RowError(row_number, "", f"stopped after {ERRORS_MAX} errors; is the file right?"))
                    break
            if progress is not None and rows % PROGRESS_EVERY_ROWS == 0:
                progress(rows, _position(handle, size), size)
    if progress is not None:
        progress(rows, size, size)
    return ImportResult(kind, tuple(products), tuple(stock), tuple(errors), rows)


def write_error_report(errors: Sequence[RowError], out: Path | TextIO) -> None:
    """Write ``errors`` as CSV with the columns ``row, field, problem``."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as handle:
            write_error_report(errors, handle)
        return
    writer = csv.writer(out)
    writer.writerow(["row", "field", "problem"])
    for error in errors:
        writer.writerow([error.row, error.field, error.problem])


def _position(handle: TextIO, size: int) -> int:
    try:
        return min(handle.buffer.tell(), size) if isinstance(handle, io.TextIOWrapper) else 0
    except OSError:
        return 0


def _once(seen: set[tuple[str, ...]], key: tuple[str, ...], field: str, problem: str) -> None:
    if key in seen:
        raise _RowInvalid(field, problem)
    seen.add(key)


def _rows(
    handle: TextIO, suffix: str, kind: ImportKind, name: str
) -> Iterator[tuple[int, Mapping[str, Any] | _RowInvalid]]:
    required, optional = _COLUMNS[kind]
    if suffix == ".csv":
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInput(
                "header", f"{name} has no column {', '.join(missing)}; the columns are {', '.join(required + optional)}"
            )
        reader.fieldnames = header
        for number, row in enumerate(reader, start=2):
            if None in row:
                yield number, _RowInvalid("", "more values than columns; quote values that contain commas")
            else:
                yield number, row
    elif suffix == ".jsonl":
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, _json_object(line, required)
    else:
        try:
            data = json.load(handle)
        except ValueError as exc:
            raise InvalidInput("file", f"{name} is not valid JSON: {exc}") from exc
        if not isinstance(data, list):
            raise InvalidInput("file", f"{name} must hold one JSON array of objects")
        for number, item in enumerate(data, start=1):
            yield number, _checked_object(item, required)


def _json_object(line: str, required: Sequence[str]) -> Mapping[str, Any] | _RowInvalid:
    try:
        item = json.loads(line)
    except ValueError as exc:
        return _RowInvalid("", f"not a JSON object: {exc}")
    return _checked_object(item, required)


def _checked_object(item: object, required: Sequence[str]) -> Mapping[str, Any] | _RowInvalid:
    if not isinstance(item, dict):
        return _RowInvalid("", "not a JSON object")
    missing = [c for c in required if c not in item]
    if missing:
        return _RowInvalid(missing[0], f"missing field(s) {', '.join(missing)}")
    return item


def _text(raw: Mapping[str, Any], field: str, *, required: bool = True) -> str:
    value = raw.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _RowInvalid(field, f"must be text, not {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise _RowInvalid(field, "is empty")
    if len(value) > MAX_TEXT:
        raise _RowInvalid(field, f"is longer than {MAX_TEXT} characters")
    return value


def _sku(raw: Mapping[str, Any]) -> str:
    sku = _text(raw, "sku")
    if not _SKU.fullmatch(sku):
        raise _RowInvalid("sku", f"{sku!r}: use letters, digits and . _ - / only, starting with a letter or digit")
    return sku


def _money(raw: Mapping[str, Any], field: str, currency: str, *, required: bool) -> int | None:
    value = raw.get(field)
    if isinstance(value, int | float):  # bool is an int too
        # JSON numbers could be binary floats; prices must be written as text to be exact.
        raise _RowInvalid(field, f'{value!r}: write the amount as text, e.g. "18.50"')
    text = _text(raw, field, required=required)
    if not text:
        return None
    try:
        amount = to_minor(text, currency, what=field)
    except ERPDataError as exc:
        raise _RowInvalid(field, str(exc).removeprefix(f"{field}: ")) from exc
    if amount < 0:
        raise _RowInvalid(field, f"{text} is negative")
    return amount


def _gtin_ok(code: str) -> bool:
    digits = [int(c) for c in code]
    total = sum(d * (1 if i % 2 else 3) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1] if len(digits) > 1 else False


def _barcodes(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("barcodes")
    if value is None or value == "":
        codes: list[str] = []
    elif isinstance(value, str):
        codes = [c for c in _BARCODE_SPLIT.split(value.strip()) if c]
    elif isinstance(value, list) and all(isinstance(c, str) for c in value):
        codes = [c.strip() for c in value if c.strip()]
    else:
        raise _RowInvalid("barcodes", "must be text (codes separated by spaces or |) or a list of text")
    if len(codes) > MAX_BARCODES:
        raise _RowInvalid("barcodes", f"{len(codes)} codes, more than {MAX_BARCODES}")
    for code in codes:
        if not code.isdigit() or not 8 <= len(code) <= 14:
            raise _RowInvalid("barcodes", f"{code!r} is not a GTIN (8 to 14 digits)")
        if not _gtin_ok(code):
            raise _RowInvalid("barcodes", f"{code} has a wrong check digit; scan or copy it again")
    if len(set(codes)) != len(codes):
        raise _RowInvalid("barcodes", "a barcode is listed twice")
    return tuple(codes)


def _flag(raw: Mapping[str, Any], field: str) -> bool:
    value = raw.get(field)
    if value is None or value == "" or value is True:
        return True
    if value is False:
        return False
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "si", "sí", "y"}:
        return True
    if text in {"0", "false", "no", "n"}:
        return False
    raise _RowInvalid(field, f"{value!r}: write true or false")


def _product(raw: Mapping[str, Any], row: int, currency: str) -> ImportedProduct:
    sku = _sku(raw)
    price = _money(raw, "price", currency, required=True)
    assert price is not None
    return ImportedProduct(
        row=row,
        sku=sku,
        name=_text(raw, "name"),
        category=_text(raw, "category"),
        tax_category=_text(raw, "tax_category"),
        price_minor=price,
        cost_minor=_money(raw, "cost", currency, required=False),
        currency=currency,
        barcodes=_barcodes(raw),
        distributor=_text(raw, "distributor"),
        active=_flag(raw, "active"),
        brand=_code(raw, "brand"),
        manufacturer=_code(raw, "manufacturer"),
    )


def _code(raw: Mapping[str, Any], field: str) -> str | None:
    value = _text(raw, field, required=False)
    if len(value) > MAX_CODE:
        raise _RowInvalid(field, f"is longer than {MAX_CODE} characters")
    return value or None


def _stock(raw: Mapping[str, Any], row: int) -> ImportedStock:
    value = raw.get("on_hand")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _RowInvalid("on_hand", "must be a whole number")
    text = str(value).strip()
    if not re.fullmatch(r"-?\d{1,10}", text):
        raise _RowInvalid("on_hand", f"{text!r} is not a whole number of units")
    on_hand = int(text)
    if abs(on_hand) > MAX_ON_HAND:
        raise _RowInvalid("on_hand", f"{on_hand} is beyond ±{MAX_ON_HAND}")
    return ImportedStock(row=row, sku=_sku(raw), warehouse=_text(raw, "warehouse"), on_hand=on_hand)

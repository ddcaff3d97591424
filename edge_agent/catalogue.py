"""The box's catalogue: finding an item by a scanned barcode, its SKU or its name, and adding one at the counter.

A scan is checked before it is looked up (:func:`validate_scan`): 13 digits are an EAN-13, 12 a UPC-A and 8
an EAN-8, each with its GS1 check digit; anything else must be printable ASCII as Code 128 carries it. A
malformed scan raises :class:`BadScan` saying to scan again; a well-formed code the catalogue does not know
raises :class:`UnknownBarcode`, which the till turns into "add this item". A UPC-A is also looked up as the
EAN-13 it is (a leading 0), so either form stored by the hub matches.

Items come from the hub's ``catalogue`` snapshot (applied by :mod:`edge_agent.sync`, origin ``hub``) or are added by
the shopkeeper (:meth:`Catalogue.add_local_item`, origin ``local``). A local item stays until the hub sends
the same SKU, which then wins; a hub item missing from a newer snapshot is kept but made inactive, so old
sales and refunds still find it.

Errors::

    InvalidInput (core)
     +-- BadScan          the scanner sent something that is not a valid code
     +-- UnknownBarcode   a valid code no active item carries
     +-- UnknownItem      no active item with that SKU
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import Field

from core.errors import InvalidInput
from core.promotions.base import Identifier, Model, validate_model
from edge_agent.errors import EdgeError
from edge_agent.store import Store

__all__ = [
    "MAX_SCAN_CHARS",
    "MAX_SEARCH_RESULTS",
    "BadScan",
    "Catalogue",
    "CatalogueItem",
    "ScannedCode",
    "UnknownBarcode",
    "UnknownItem",
    "gs1_check_digit",
    "validate_scan",
]

MAX_SCAN_CHARS: Final = 48
"""Longest scan accepted: product Code 128 labels in shops are well under this."""
MAX_SEARCH_RESULTS: Final = 20
"""Items a name search returns at most: a till screen shows a short list, the cashier types more."""
MAX_SEARCH_CHARS: Final = 64
MAX_NAME_CHARS: Final = 120
MAX_LOCAL_PRICE_MINOR: Final = 10**9

_SKU_SAFE = re.compile(r"[^A-Za-z0-9._:/@+-]")
Symbology = Literal["ean13", "upca", "ean8", "code128"]


class BadScan(InvalidInput, EdgeError):
    """The scanner sent something that is not a product code (bad check digit, unprintable characters)."""

    code = "bad_scan"


class UnknownBarcode(InvalidInput, EdgeError):
    """A valid product code that no active item carries: the till offers to add the item."""

    code = "unknown_barcode"

    def __init__(self, barcode: str) -> None:
        super().__init__("barcode", f"{barcode} is not in the catalogue; add the item or search it by name")
        self.barcode = barcode


class UnknownItem(InvalidInput, EdgeError):
    """No active item has this SKU."""

    code = "unknown_item"


@dataclass(frozen=True)
class ScannedCode:
    """A checked scan: its symbology and the code as stored in ``item_barcode``."""

    symbology: Symbology
    text: str


def gs1_check_digit(body: str) -> str:
    """The GS1 check digit (EAN-8, UPC-A, EAN-13) of ``body``, the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


_GS1_LENGTHS: Final[Mapping[int, Symbology]] = {13: "ean13", 12: "upca", 8: "ean8"}
_GS1_NAMES: Final[Mapping[Symbology, str]] = {"ean13": "EAN-13", "upca": "UPC-A", "ean8": "EAN-8", "code128": ""}


def validate_scan(raw: str, field: str = "barcode") -> ScannedCode:
    """Check a scanned or typed product code; raise :class:`BadScan` with what to do when it is malformed."""
    if not isinstance(raw, str):
        raise BadScan(field, f"must be text, not {type(raw).__name__}")
    if len(raw) > MAX_SCAN_CHARS:
        raise BadScan(field, f"is {len(raw)} characters long, more than {MAX_SCAN_CHARS}; scan the code again")
    # Keyboard-wedge scanners end a scan with CR or LF.
    text = raw.strip("\r\n\t ")
    if not text:
        raise BadScan(field, "is empty; scan the code again")
    if text.isascii() and text.isdigit() and len(text) in _GS1_LENGTHS:
        symbology = _GS1_LENGTHS[len(text)]
        if gs1_check_digit(text[:-1]) != text[-1]:
            raise BadScan(
                field,
                f"{text} is not a valid {_GS1_NAMES[symbology]}: its check digit should be "
                f"{gs1_check_digit(text[:-1])}; scan it again or type the code from the label",
            )
        return ScannedCode(symbology, text)
    bad = next((c for c in text if not (c.isascii() and c.isprintable())), None)
    if bad is not None:
        raise BadScan(
            field,
            f"contains {bad!r}, which no product barcode carries; check the scanner's keyboard layout and scan again",
        )
    return ScannedCode("code128", text)


@dataclass(frozen=True)
class CatalogueItem:
    """An item as the till sells it."""

    sku: str
    name: str
    category: str
    tax_category: str
    unit_price_minor: int
    cost_minor: int | None
    measure_per_unit_milli: int
    brand: str | None
    distributor: str | None
    active: bool
    origin: str
    barcodes: tuple[str, ...] = ()


_ITEM_COLUMNS = (
    "sku, name, category, tax_category, unit_price_minor, cost_minor, measure_per_unit_milli, brand, "
    "distributor, active, origin"
)


def _item(conn: sqlite3.Connection, row: Sequence[Any]) -> CatalogueItem:
    barcodes = tuple(
        str(b) for (b,) in conn.execute("SELECT barcode FROM item_barcode WHERE sku = ? ORDER BY barcode", (row[0],))
    )
    return CatalogueItem(
        sku=row[0],
        name=row[1],
        category=row[2],
        tax_category=row[3],
        unit_price_minor=int(row[4]),
        cost_minor=None if row[5] is None else int(row[5]),
        measure_per_unit_milli=int(row[6]),
        brand=row[7],
        distributor=row[8],
        active=bool(row[9]),
        origin=row[10],
        barcodes=barcodes,
    )


def _lookup_forms(code: ScannedCode) -> tuple[str, ...]:
    if code.symbology == "upca":
        return (code.text, "0" + code.text)
    if code.symbology == "ean13" and code.text.startswith("0"):
        return (code.text, code.text[1:])
    return (code.text,)


class Catalogue:
    """Item lookups and local additions on the box's database.

    ``tax_categories`` gives the jurisdiction's tax categories, checked when the cashier adds an item (the
    checkout passes its context's); without it any category name is accepted.
    """

    def __init__(self, store: Store, *, tax_categories: Callable[[], Collection[str]] | None = None) -> None:
        self._store = store
        self._tax_categories = tax_categories

    def by_barcode(self, raw: str) -> CatalogueItem:
        """The active item carrying the scanned code; :class:`BadScan` or :class:`UnknownBarcode` otherwise."""
        code = validate_scan(raw)
        forms = _lookup_forms(code)
        marks = ",".join("?" * len(forms))
        row = self._store.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM item WHERE active = 1 AND sku IN "  # noqa: S608
            f"(SELECT sku FROM item_barcode WHERE barcode IN ({marks})) LIMIT 1",
            forms,
        ).fetchone()
        if row is None:
            raise UnknownBarcode(code.text)
        return _item(self._store.conn, row)

    def by_sku(self, sku: str, *, include_inactive: bool = False) -> CatalogueItem:
        """The item with ``sku``; inactive ones only with ``include_inactive`` (refunds of old sales)."""
        row = self._store.conn.execute(f"SELECT {_ITEM_COLUMNS} FROM item WHERE sku = ?", (sku,)).fetchone()  # noqa: S608
        if row is None or (not row[9] and not include_inactive):
            raise UnknownItem("sku", f"{sku!r} is not an item sold here; search the item by name")
        return _item(self._store.conn, row)

    def search(self, text: str, limit: int = MAX_SEARCH_RESULTS) -> list[CatalogueItem]:
        """Active items whose name contains ``text`` or whose SKU or barcode starts with it; at most ``limit``."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("text", "type part of the item's name, SKU or barcode")
        if len(text) > MAX_SEARCH_CHARS:
            raise InvalidInput("text", f"at most {MAX_SEARCH_CHARS} characters")
        limit = max(1, min(limit, MAX_SEARCH_RESULTS))
        needle = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._store.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM item WHERE active = 1 AND ("  # noqa: S608
            "name LIKE ? ESCAPE '\\' OR sku LIKE ? ESCAPE '\\' OR sku IN "
            "(SELECT sku FROM item_barcode WHERE barcode LIKE ? ESCAPE '\\')) "
            "ORDER BY name LIMIT ?",
            (f"%{needle}%", f"{needle}%", f"{needle}%", limit),
        ).fetchall()
        return [_item(self._store.conn, row) for row in rows]

    def add_local_item(
        self,
        *,
        name: str,
        unit_price_minor: int,
        category: str,
        tax_category: str,
        barcode: str,
        sku: str | None = None,
        cost_minor: int | None = None,
        brand: str | None = None,
    ) -> CatalogueItem:
        """Add an item the shopkeeper sells that the hub's catalogue lacks (origin ``local``), in one transaction.

        The barcode is checked like a scan and must not belong to another item; the SKU defaults to
        ``local-<barcode>``.
        """
        code = validate_scan(barcode)
        clean_name = name.strip() if isinstance(name, str) else ""
        if not clean_name or len(clean_name) > MAX_NAME_CHARS:
            raise InvalidInput("name", f"give the item's name, 1 to {MAX_NAME_CHARS} characters")
        for field_name, value in (("unit_price_minor", unit_price_minor), ("cost_minor", cost_minor)):
            if value is None and field_name == "cost_minor":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LOCAL_PRICE_MINOR:
                raise InvalidInput(field_name, f"must be a whole number of cents from 0 to {MAX_LOCAL_PRICE_MINOR}")
        fields = validate_model(
            _LocalFields,
            {
                "sku": sku or "local-" + _SKU_SAFE.sub("-", code.text)[:58],
                "category": category,
                "tax_category": tax_category,
                "brand": brand,
            },
        )
        if self._tax_categories is not None:
            known = self._tax_categories()
            if fields.tax_category not in known:
                raise InvalidInput(
                    "tax_category", f"{fields.tax_category!r} is not a tax category here; use one of {sorted(known)}"
                )
        with self._store.transaction() as tx:
            forms = _lookup_forms(code)
            marks = ",".join("?" * len(forms))
            taken = tx.conn.execute(
                f"SELECT sku FROM item_barcode WHERE barcode IN ({marks})",  # noqa: S608
                forms,
            ).fetchone()
            if taken is not None:
                raise InvalidInput("barcode", f"{code.text} already belongs to item {taken[0]}")
            if tx.conn.execute("SELECT 1 FROM item WHERE sku = ?", (fields.sku,)).fetchone() is not None:
                raise InvalidInput("sku", f"{fields.sku!r} is already an item; choose another SKU")
            now = tx.now.isoformat()
            tx.conn.execute(
                "INSERT INTO item (sku, name, category, tax_category, brand, distributor, unit_price_minor, "
                "cost_minor, measure_per_unit_milli, active, origin, updated_at) "
                "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 0, 1, 'local', ?)",
                (
                    fields.sku,
                    clean_name,
                    fields.category,
                    fields.tax_category,
                    fields.brand,
                    unit_price_minor,
                    cost_minor,
                    now,
                ),
            )
            tx.conn.execute("INSERT INTO item_barcode (barcode, sku) VALUES (?, ?)", (code.text, fields.sku))
            tx.conn.execute(
                "INSERT OR IGNORE INTO stock (sku, on_hand, updated_at) VALUES (?, 0, ?)", (fields.sku, now)
            )
        return self.by_sku(fields.sku)


class _LocalFields(Model):
    sku: Identifier
    category: Identifier
    tax_category: Annotated[str, Field(min_length=1, max_length=64)]
    brand: Identifier | None = None

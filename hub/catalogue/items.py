"""The distributor's catalogue at the hub: items, prices, barcodes, the distributors carrying them, stock, rules.

Items come from the ERP (:mod:`hub.erp.sync`), from an imported file (:func:`load_import`) or from an
administrator; whichever wrote last wins, and ``source`` records it. :func:`upsert_items` applies a batch
inside the caller's transaction and reports which skus really changed (an ERP poll sends a product again
when nothing about it changed: that is not a change, and no box is bothered with it). An item that the
boxes' ``catalogue`` snapshot (:class:`core.wire.CatalogueItem`) could not carry is refused on its own with
an :class:`ItemProblem`, never truncated.

Barcodes are unique per tenant: a barcode given to an item is taken from any other item that had it (the
newest write wins), so every snapshot built from these tables has unique barcodes.

Stock is kept per location: an ERP warehouse (``warehouse``, by its code) or a store (``store``, by its id).
Stock rules (low-stock alert and auto-reorder levels) are kept per tenant (``store`` ``''``), and a store's
own rule for a sku overrides the tenant's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from hub import db
from hub.erp.base import ERPProduct
from hub.erp.importer import ImportResult

__all__ = [
    "BATCH_MAX",
    "Item",
    "ItemProblem",
    "LoadResult",
    "Rule",
    "StockRow",
    "UpsertResult",
    "item_from_erp",
    "items",
    "load_import",
    "set_stock",
    "set_stock_rules",
    "stock",
    "stock_rules",
    "upsert_erp_products",
    "upsert_items",
]

BATCH_MAX: Final = 5_000
"""Items one :func:`upsert_items` call accepts (an ERP poll page set or an import chunk)."""
MAX_ITEMS: Final = wire.MAX_CATALOGUE_ITEMS
"""Items a tenant may have: what one ``catalogue`` snapshot can carry."""
MAX_NAME_CHARS: Final = 120
MAX_CODE_CHARS: Final = 64
UNCATEGORISED: Final = "general"
"""Category of an ERP product that has none and had none before."""
SOURCES: Final = ("erp", "import", "admin")
LocationKind = Literal["warehouse", "store"]


@dataclass(frozen=True)
class Item:
    """One item as the hub sells it; money in integer minor units of ``currency``."""

    sku: str
    name: str
    category: str
    tax_category: str
    unit_price_minor: int
    currency: str
    cost_minor: int | None = None
    brand: str | None = None
    distributor: str | None = None
    measure_per_unit_milli: int = 0
    manufacturer: str | None = None
    active: bool = True
    barcodes: tuple[str, ...] = ()
    distributors: tuple[str, ...] = ()
    erp_id: str | None = None

    def wire_item(self) -> dict[str, Any]:
        """The item as a ``catalogue`` snapshot carries it."""
        return {
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "tax_category": self.tax_category,
            "brand": self.brand,
            "distributor": self.distributor,
            "unit_price_minor": self.unit_price_minor,
            "cost_minor": self.cost_minor,
            "measure_per_unit_milli": self.measure_per_unit_milli,
            "active": self.active,
            "barcodes": sorted(self.barcodes),
            "distributors": sorted(self.distributors),
        }


@dataclass(frozen=True)
class ItemProblem:
    """An item that was not stored, the field at fault and what to change."""

    sku: str
    field: str
    problem: str


@dataclass(frozen=True)
class UpsertResult:
    """What :func:`upsert_items` did: the skus whose stored data changed, and the items refused."""

    changed: tuple[str, ...] = ()
    problems: tuple[ItemProblem, ...] = ()


@dataclass(frozen=True)
class StockRow:
    """Stock of one sku at one location."""

    sku: str
    location_kind: LocationKind
    location: str
    on_hand: int
    forecast: int | None
    updated_at: datetime


@dataclass(frozen=True)
class Rule:
    """A low-stock and reorder rule for one sku (levels in units; None: no such rule)."""

    sku: str
    low_at: int | None = None
    reorder_point: int | None = None
    order_up_to: int | None = None
    preferred_distributor: str | None = None

    def wire_rule(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "low_at": self.low_at,
            "reorder_point": self.reorder_point,
            "order_up_to": self.order_up_to,
            "preferred_distributor": self.preferred_distributor,
        }


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_import` stored from an import file."""

    changed: tuple[str, ...] = ()
    problems: tuple[ItemProblem, ...] = ()
    stock_rows: int = 0


# ------------------------------------------------------------------------------------------------ items


def _check(item: Item) -> ItemProblem | None:
    def bad(field: str, problem: str) -> ItemProblem:
        return ItemProblem(item.sku, field, problem)

    if not item.sku or len(item.sku) > MAX_CODE_CHARS:
        return bad("sku", f"must be 1 to {MAX_CODE_CHARS} characters")
    if not item.name.strip() or len(item.name) > MAX_NAME_CHARS:
        return bad("name", f"has {len(item.name)} characters; give 1 to {MAX_NAME_CHARS}")
    for name in ("category", "tax_category", "brand", "distributor", "manufacturer"):
        value = getattr(item, name)
        if value is not None and not 1 <= len(value) <= MAX_CODE_CHARS:
            return bad(name, f"must be 1 to {MAX_CODE_CHARS} characters")
    for name in ("unit_price_minor", "cost_minor"):
        value = getattr(item, name)
        if value is not None and (isinstance(value, bool) or not 0 <= value <= wire.MAX_AMOUNT_MINOR):
            return bad(name, f"{value!r} must be a whole amount from 0 to {wire.MAX_AMOUNT_MINOR} minor units")
    if not 0 <= item.measure_per_unit_milli <= 10**9:
        return bad("measure_per_unit_milli", f"{item.measure_per_unit_milli} must be from 0 to 10^9")
    if len(item.barcodes) > wire.MAX_BARCODES_PER_ITEM:
        return bad("barcodes", f"{len(item.barcodes)} barcodes; a box takes at most {wire.MAX_BARCODES_PER_ITEM}")
    if any(not 1 <= len(code) <= MAX_CODE_CHARS for code in item.barcodes):
        return bad("barcodes", f"a barcode must be 1 to {MAX_CODE_CHARS} characters")
    if len(item.distributors) > wire.MAX_DISTRIBUTORS_PER_ITEM:
        return bad("distributors", f"{len(item.distributors)} distributors; at most {wire.MAX_DISTRIBUTORS_PER_ITEM}")
    if any(not 1 <= len(d) <= MAX_CODE_CHARS for d in item.distributors):
        return bad("distributors", f"a distributor must be 1 to {MAX_CODE_CHARS} characters")
    if len(item.currency) != 3 or not item.currency.isupper():
        return bad("currency", f"{item.currency!r} is not an ISO 4217 code")
    return None


def _read(conn: Connection, tenant: str, skus: Sequence[str] | None) -> dict[str, Item]:
    """Stored items of ``tenant`` (all, or only ``skus``), with their barcodes and carriers."""
    t, b, c = db.catalogue_item, db.catalogue_barcode, db.catalogue_carrier
    out: dict[str, Item] = {}
    groups: Iterable[Sequence[str] | None] = [None] if skus is None else db.chunks(list(skus))
    for group in groups:
        where_t = [t.c.tenant == tenant] + ([] if group is None else [t.c.sku.in_(group)])
        where_b = [b.c.tenant == tenant] + ([] if group is None else [b.c.sku.in_(group)])
        where_c = [c.c.tenant == tenant] + ([] if group is None else [c.c.sku.in_(group)])
        codes: dict[str, list[str]] = {}
        for sku, code in conn.execute(sa.select(b.c.sku, b.c.barcode).where(*where_b)):
            codes.setdefault(sku, []).append(code)
        carriers: dict[str, list[str]] = {}
        for sku, who in conn.execute(sa.select(c.c.sku, c.c.distributor).where(*where_c)):
            carriers.setdefault(sku, []).append(who)
        for row in conn.execute(sa.select(t).where(*where_t).order_by(t.c.sku).limit(MAX_ITEMS + 1)).mappings():
            out[row["sku"]] = Item(
                sku=row["sku"],
                name=row["name"],
                category=row["category"],
                tax_category=row["tax_category"],
                unit_price_minor=int(row["unit_price_minor"]),
                currency=row["currency"],
                cost_minor=None if row["cost_minor"] is None else int(row["cost_minor"]),
                brand=row["brand"],
                manufacturer=row["manufacturer"],
                distributor=row["distributor"],
                measure_per_unit_milli=int(row["measure_per_unit_milli"]),
                active=bool(row["active"]),
                barcodes=tuple(sorted(codes.get(row["sku"], ()))),
                distributors=tuple(sorted(carriers.get(row["sku"], ()))),
                erp_id=row["erp_id"],
            )
    return out


def items(conn: Connection, tenant: str, *, skus: Sequence[str] | None = None) -> list[Item]:
    """The tenant's items (all, or those of ``skus``), by sku, barcodes and carriers sorted."""
    found = _read(conn, tenant, skus)
    if len(found) > MAX_ITEMS:
        raise InvalidInput("catalogue", f"tenant {tenant!r} has more than {MAX_ITEMS} items; deactivate some")
    return [found[sku] for sku in sorted(found)]


def _normal(item: Item) -> Item:
    return replace(
        item,
        name=item.name.strip(),
        barcodes=tuple(sorted(set(item.barcodes))),
        distributors=tuple(sorted(set(item.distributors))),
    )


def upsert_items(
    conn: Connection, tenant: str, batch: Sequence[Item], *, source: str, now: datetime | None = None
) -> UpsertResult:
    """Store ``batch`` (at most :data:`BATCH_MAX` items) for ``tenant``; return the changed skus and problems.

    A sku repeated in the batch: the later one wins. ``source`` is one of :data:`SOURCES`.
    """
    if source not in SOURCES:
        raise InvalidInput("source", f"{source!r} is not one of {', '.join(SOURCES)}")
    if len(batch) > BATCH_MAX:
        raise InvalidInput("items", f"{len(batch)} items in one batch; give at most {BATCH_MAX}")
    stamp = now if now is not None else datetime.now(UTC)
    problems: list[ItemProblem] = []
    wanted: dict[str, Item] = {}
    for raw in batch:
        problem = _check(raw)
        if problem is not None:
            problems.append(problem)
        else:
            wanted[raw.sku] = _normal(raw)
    if not wanted:
        return UpsertResult((), tuple(problems))
    stored = _read(conn, tenant, list(wanted))
    changed = [sku for sku, item in wanted.items() if stored.get(sku) != item]
    if changed and len(stored) < len(wanted):
        total = conn.execute(
            sa.select(sa.func.count()).select_from(db.catalogue_item).where(db.catalogue_item.c.tenant == tenant)
        ).scalar_one()
        if total + len(wanted) - len(stored) > MAX_ITEMS:
            raise InvalidInput("items", f"tenant {tenant!r} would have more than {MAX_ITEMS} items")
    t, b, c = db.catalogue_item, db.catalogue_barcode, db.catalogue_carrier
    for sku in changed:
        item = wanted[sku]
        values = {
            "name": item.name,
            "category": item.category,
            "tax_category": item.tax_category,
            "brand": item.brand,
            "manufacturer": item.manufacturer,
            "distributor": item.distributor,
            "currency": item.currency,
            "unit_price_minor": item.unit_price_minor,
            "cost_minor": item.cost_minor,
            "measure_per_unit_milli": item.measure_per_unit_milli,
            "active": item.active,
            "source": source,
            "erp_id": item.erp_id,
            "updated_at": stamp,
        }
        if sku in stored:
            conn.execute(sa.update(t).where(t.c.tenant == tenant, t.c.sku == sku).values(**values))
        else:
            conn.execute(sa.insert(t).values(tenant=tenant, sku=sku, **values))
    changed_set = set(changed)
    # Barcodes: drop the changed items' own, then take each new one from whichever item holds it.
    for group in db.chunks(changed):
        conn.execute(sa.delete(b).where(b.c.tenant == tenant, b.c.sku.in_(group)))
        conn.execute(sa.delete(c).where(c.c.tenant == tenant, c.c.sku.in_(group)))
    new_codes = {code: sku for sku in changed for code in wanted[sku].barcodes}
    for group in db.chunks(list(new_codes)):
        held = conn.execute(sa.select(b.c.barcode, b.c.sku).where(b.c.tenant == tenant, b.c.barcode.in_(group))).all()
        for code, holder in held:
            conn.execute(sa.delete(b).where(b.c.tenant == tenant, b.c.barcode == code))
            if holder not in changed_set:
                changed_set.add(holder)
                changed.append(holder)
    if new_codes:
        conn.execute(sa.insert(b), [{"tenant": tenant, "barcode": code, "sku": sku} for code, sku in new_codes.items()])
    carriers = [
        {"tenant": tenant, "sku": sku, "distributor": d}
        for sku in changed
        if sku in wanted
        for d in wanted[sku].distributors
    ]
    if carriers:
        conn.execute(sa.insert(c), carriers)
    return UpsertResult(tuple(sorted(changed_set)), tuple(problems))


def item_from_erp(product: ERPProduct, stored: Item | None, *, erp_supplier: str | None, tax_category: str) -> Item:
    """The hub item for an ERP product: what the ERP knows, the rest kept from ``stored`` or defaulted.

    The ERP names no tax category, brand or measure: a stored item keeps its own, a new one gets
    ``tax_category``. Its distributor is the tenant's ``erp_supplier`` (the distributor itself).
    """
    carriers = set(stored.distributors) if stored is not None else set()
    if erp_supplier is not None:
        carriers.add(erp_supplier)
    return Item(
        sku=product.sku,
        name=product.name,
        category=product.category or (stored.category if stored is not None else UNCATEGORISED),
        tax_category=stored.tax_category if stored is not None else tax_category,
        unit_price_minor=product.price_minor,
        currency=product.currency,
        cost_minor=product.cost_minor,
        brand=stored.brand if stored is not None else None,
        manufacturer=product.manufacturer or (stored.manufacturer if stored is not None else None),
        distributor=erp_supplier if erp_supplier is not None else (stored.distributor if stored else None),
        measure_per_unit_milli=stored.measure_per_unit_milli if stored is not None else 0,
        active=product.active,
        barcodes=product.barcodes,
        distributors=tuple(sorted(carriers)),
        erp_id=product.erp_id,
    )


def upsert_erp_products(
    conn: Connection,
    tenant: str,
    products: Sequence[ERPProduct],
    *,
    erp_supplier: str | None,
    tax_category: str,
    now: datetime | None = None,
) -> UpsertResult:
    """Store products read from the ERP (see :func:`item_from_erp`), in batches of :data:`BATCH_MAX`."""
    changed: list[str] = []
    problems: list[ItemProblem] = []
    for start in range(0, len(products), BATCH_MAX):
        chunk = products[start : start + BATCH_MAX]
        stored = _read(conn, tenant, [p.sku for p in chunk])
        batch = [
            item_from_erp(p, stored.get(p.sku), erp_supplier=erp_supplier, tax_category=tax_category) for p in chunk
        ]
        result = upsert_items(conn, tenant, batch, source="erp", now=now)
        changed += result.changed
        problems += result.problems
    return UpsertResult(tuple(sorted(set(changed))), tuple(problems))


# ------------------------------------------------------------------------------------------------ stock


def set_stock(
    conn: Connection,
    tenant: str,
    location_kind: LocationKind,
    location: str,
    levels: Sequence[tuple[str, int, int | None]],
    *,
    now: datetime | None = None,
) -> int:
    """Record ``(sku, on_hand, forecast)`` at one location; return how many rows changed."""
    if location_kind not in ("warehouse", "store"):
        raise InvalidInput("location_kind", f"{location_kind!r} is neither 'warehouse' nor 'store'")
    if not 1 <= len(location) <= MAX_CODE_CHARS:
        raise InvalidInput("location", f"must be 1 to {MAX_CODE_CHARS} characters")
    stamp = now if now is not None else datetime.now(UTC)
    s = db.catalogue_stock
    key = (s.c.tenant == tenant, s.c.location_kind == location_kind, s.c.location == location)
    by_sku = {sku: (on_hand, forecast) for sku, on_hand, forecast in levels}
    stored: dict[str, tuple[int, int | None]] = {}
    for group in db.chunks(list(by_sku)):
        for sku, on_hand, forecast in conn.execute(
            sa.select(s.c.sku, s.c.on_hand, s.c.forecast).where(*key, s.c.sku.in_(group))
        ):
            stored[sku] = (int(on_hand), None if forecast is None else int(forecast))
    changed = 0
    for sku, (on_hand, forecast) in by_sku.items():
        if stored.get(sku) == (on_hand, forecast):
            continue
        changed += 1
        values = {"on_hand": on_hand, "forecast": forecast, "updated_at": stamp}
        if sku in stored:
            conn.execute(sa.update(s).where(*key, s.c.sku == sku).values(**values))
        else:
            conn.execute(
                sa.insert(s).values(tenant=tenant, sku=sku, location_kind=location_kind, location=location, **values)
            )
    return changed


def stock(conn: Connection, tenant: str, *, sku: str | None = None, limit: int = MAX_ITEMS) -> list[StockRow]:
    """Stock rows of ``tenant`` (of one sku if given), by sku and location."""
    s = db.catalogue_stock
    query = sa.select(s).where(s.c.tenant == tenant)
    if sku is not None:
        query = query.where(s.c.sku == sku)
    query = query.order_by(s.c.sku, s.c.location_kind, s.c.location).limit(limit)
    return [
        StockRow(
            r["sku"],
            r["location_kind"],
            r["location"],
            int(r["on_hand"]),
            None if r["forecast"] is None else int(r["forecast"]),
            r["updated_at"],
        )
        for r in conn.execute(query).mappings()
    ]


# ------------------------------------------------------------------------------------------------ stock rules


def set_stock_rules(
    conn: Connection, tenant: str, rules: Sequence[Rule], *, store: str = "", now: datetime | None = None
) -> None:
    """Set rules for the tenant (``store`` ``''``) or for one store; a rule with no level deletes the sku's."""
    stamp = now if now is not None else datetime.now(UTC)
    r = db.stock_rule
    for rule in rules:
        try:
            wire.StockRule.model_validate(rule.wire_rule())
        except ValidationError as exc:
            raise InvalidInput(f"rules.{rule.sku}", exc.errors()[0]["msg"]) from exc
        key = (r.c.tenant == tenant, r.c.store == store, r.c.sku == rule.sku)
        conn.execute(sa.delete(r).where(*key))
        if (rule.low_at, rule.reorder_point, rule.order_up_to) != (None, None, None):
            conn.execute(
                sa.insert(r).values(
                    tenant=tenant,
                    store=store,
                    sku=rule.sku,
                    low_at=rule.low_at,
                    reorder_point=rule.reorder_point,
                    order_up_to=rule.order_up_to,
                    preferred_distributor=rule.preferred_distributor,
                    updated_at=stamp,
                )
            )


def stock_rules(conn: Connection, tenant: str, store: str) -> list[Rule]:
    """The rules in force at ``store``: the tenant's, each overridden by the store's own for its sku."""
    r = db.stock_rule
    merged: dict[str, Rule] = {}
    rows = conn.execute(
        sa.select(r)
        .where(r.c.tenant == tenant, r.c.store.in_(["", store]))
        .order_by(r.c.store, r.c.sku)  # '' sorts first, so the store's own rows overwrite
        .limit(2 * wire.MAX_STOCK_RULES)
    ).mappings()
    for row in rows:
        merged[row["sku"]] = Rule(
            row["sku"],
            None if row["low_at"] is None else int(row["low_at"]),
            None if row["reorder_point"] is None else int(row["reorder_point"]),
            None if row["order_up_to"] is None else int(row["order_up_to"]),
            row["preferred_distributor"],
        )
    return [merged[sku] for sku in sorted(merged)][: wire.MAX_STOCK_RULES]


# ------------------------------------------------------------------------------------------------ file import


def load_import(conn: Connection, tenant: str, result: ImportResult, *, now: datetime | None = None) -> LoadResult:
    """Store the good records of an import file (:func:`hub.erp.importer.import_file`) in ``tenant``'s catalogue.

    Products become items (source ``import``) carried by their ``distributor``; stock rows become warehouse
    stock. Rows the importer refused are not in ``result`` and are reported by the importer itself.
    """
    if conn.execute(sa.select(db.tenant.c.tenant).where(db.tenant.c.tenant == tenant)).first() is None:
        raise InvalidInput("tenant", f"no tenant {tenant!r}; add it first with `python -m hub network add-tenant`")
    stamp = now if now is not None else datetime.now(UTC)
    changed: list[str] = []
    problems: list[ItemProblem] = []
    products = list(result.products)
    for start in range(0, len(products), BATCH_MAX):
        stored = _read(conn, tenant, [p.sku for p in products[start : start + BATCH_MAX]])
        batch = []
        for p in products[start : start + BATCH_MAX]:
            before = stored.get(p.sku)
            batch.append(
                Item(
                    sku=p.sku,
                    name=p.name,
                    category=p.category,
                    tax_category=p.tax_category,
                    unit_price_minor=p.price_minor,
                    currency=p.currency,
                    cost_minor=p.cost_minor,
                    brand=p.brand or (before.brand if before is not None else None),
                    manufacturer=p.manufacturer or (before.manufacturer if before is not None else None),
                    distributor=p.distributor,
                    measure_per_unit_milli=before.measure_per_unit_milli if before is not None else 0,
                    active=p.active,
                    barcodes=p.barcodes,
                    distributors=(p.distributor,),
                    erp_id=before.erp_id if before is not None else None,
                )
            )
        done = upsert_items(conn, tenant, batch, source="import", now=stamp)
        changed += done.changed
        problems += done.problems
    by_warehouse: dict[str, list[tuple[str, int, int | None]]] = {}
    for row in result.stock:
        by_warehouse.setdefault(row.warehouse, []).append((row.sku, row.on_hand, None))
    stock_rows = sum(set_stock(conn, tenant, "warehouse", w, rows, now=stamp) for w, rows in by_warehouse.items())
    return LoadResult(tuple(sorted(set(changed))), tuple(problems), stock_rows)

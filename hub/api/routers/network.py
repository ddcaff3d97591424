"""The network and the catalogue (:mod:`hub.network`, :mod:`hub.catalogue`): stores and their counter boxes,
items (search and paging), stock per store and per ERP warehouse, and the CSV/JSON catalogue import for
distributors without an ERP (:mod:`hub.erp.importer` + :func:`hub.catalogue.load_import`).

The catalogue is the tenant's: every role that reads shop data reads every item (a retailer sells them all).
Stock is scoped like stores: a retailer reads the stock of its own stores only, not the warehouses'.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Path, Query, Request, UploadFile
from pydantic import BaseModel

from core.errors import InvalidInput
from hub import catalogue, db
from hub.erp.importer import ImportKind, import_file
from hub.ledger import as_utc

from ..accounts import Role
from ..errors import ERROR_RESPONSES, ApiError, NotFound
from ..paging import Page, PageParams, fetch_page, page_params
from ..scope import ADMIN, READERS, SHOP_READERS, Scope, allow
from ..settings import ApiSettings

router = APIRouter(responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*SHOP_READERS))]
Paging = Annotated[PageParams, Depends(page_params)]
StoreId = Annotated[str, Path(max_length=64, description="the store's id")]
UPLOAD_CHUNK_BYTES: Final = 64 * 1024
"""Bytes read from an upload at a time, so the size bound is enforced before the whole file is read."""
MULTIPART_OVERHEAD_BYTES: Final = 64 * 1024
"""Allowance for the form's other fields and boundaries when checking a request's declared length."""
REPORT_ERRORS_MAX: Final = 10_000
"""Most row errors one import report lists (the importer stops at about as many)."""
REPORT_SKUS_MAX: Final = 1_000
"""Most changed skus one import report lists; ``changed_count`` has them all."""


class PayloadTooLarge(ApiError):
    """An upload larger than the API accepts (413)."""

    status = 413
    code = "file_too_large"


def _at(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


# --- stores and their boxes --------------------------------------------------------------------------------


class StoreOut(BaseModel):
    """A store as its boxes' settings describe it, the ERP warehouse that serves it, and where it is:
    country (ISO 3166-1 alpha-2), region, municipality, postal code, coordinates and distribution centre."""

    store: str
    retailer: str
    name: str
    timezone: str
    currency: str
    jurisdiction: str
    language: str
    receipt_header: list[str]
    receipt_footer: list[str]
    offline_allowance_points: int
    wallets_enabled: bool
    warehouse: str | None
    country: str | None = None
    region: str = ""
    municipality: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    dc: str | None = None


def _store(r: Any) -> StoreOut:
    receipt = r.receipt or {}
    return StoreOut(
        store=r.store,
        retailer=r.retailer,
        name=r.name,
        timezone=r.timezone,
        currency=r.currency,
        jurisdiction=r.jurisdiction,
        language=r.language,
        receipt_header=list(receipt.get("header", ())),
        receipt_footer=list(receipt.get("footer", ())),
        offline_allowance_points=int(r.offline_allowance_points),
        wallets_enabled=bool(r.wallets_enabled),
        warehouse=r.warehouse,
        country=r.country,
        region=r.region,
        municipality=r.municipality,
        postal_code=r.postal_code,
        latitude=r.latitude,
        longitude=r.longitude,
        dc=r.dc,
    )


@router.get("/stores", response_model=Page[StoreOut], tags=["network"], summary="List stores (a retailer: its own)")
def list_stores(
    scope: Reader,
    paging: Paging,
    retailer: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[StoreOut]:
    s = db.store
    stmt = sa.select(s).where(scope.tenant_is(s.c.tenant), scope.stores_clause(s.c.store))
    if retailer is not None:
        stmt = stmt.where(s.c.retailer == retailer)
    return fetch_page(scope.conn, stmt.order_by(s.c.store), paging, _store)


@router.get("/stores/{store}", response_model=StoreOut, tags=["network"], summary="One store")
def get_store(store: StoreId, scope: Reader) -> StoreOut:
    scope.check_store(store)
    s = db.store
    return _store(scope.conn.execute(sa.select(s).where(s.c.tenant == scope.tenant, s.c.store == store)).one())


class StoreDeviceOut(BaseModel):
    """A counter box of a store: the loyalty numbers it may hand out offline (inclusive) and its last status
    (``online`` false and the rest null until it first connects)."""

    device: str
    loyalty_first: int
    loyalty_last: int
    online: bool
    status_at: datetime | None
    software: str | None


@router.get(
    "/stores/{store}/devices",
    response_model=Page[StoreDeviceOut],
    tags=["network"],
    summary="The counter boxes registered to a store",
)
def store_devices(store: StoreId, scope: Reader, paging: Paging) -> Page[StoreDeviceOut]:
    scope.check_store(store)
    sd, d = db.store_device, db.device
    stmt = (
        sa.select(sd.c.device, sd.c.loyalty_first, sd.c.loyalty_last, d.c.online, d.c.status_ts, d.c.software)
        .select_from(sd)
        .outerjoin(d, sa.and_(d.c.tenant == sd.c.tenant, d.c.device == sd.c.device))
        .where(sd.c.tenant == scope.tenant, sd.c.store == store)
        .order_by(sd.c.device)
    )

    def convert(r: Any) -> StoreDeviceOut:
        return StoreDeviceOut(
            device=r.device,
            loyalty_first=int(r.loyalty_first),
            loyalty_last=int(r.loyalty_last),
            online=bool(r.online),
            status_at=_at(r.status_ts),
            software=r.software,
        )

    return fetch_page(scope.conn, stmt, paging, convert)


# --- items ----------------------------------------------------------------------------------------------


class ItemOut(BaseModel):
    """An item of the catalogue; money in integer minor units of ``currency``."""

    sku: str
    name: str
    category: str
    tax_category: str
    brand: str | None
    distributor: str | None
    currency: str
    unit_price_minor: int
    cost_minor: int | None
    measure_per_unit_milli: int
    active: bool
    barcodes: list[str]
    distributors: list[str]


def _item(i: catalogue.Item) -> ItemOut:
    return ItemOut(
        sku=i.sku,
        name=i.name,
        category=i.category,
        tax_category=i.tax_category,
        brand=i.brand,
        distributor=i.distributor,
        currency=i.currency,
        unit_price_minor=i.unit_price_minor,
        cost_minor=i.cost_minor,
        measure_per_unit_milli=i.measure_per_unit_milli,
        active=i.active,
        barcodes=list(i.barcodes),
        distributors=list(i.distributors),
    )


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@router.get("/items", response_model=Page[ItemOut], tags=["catalogue"], summary="List and search items, by sku")
def list_items(
    scope: Reader,
    paging: Paging,
    q: Annotated[
        str | None, Query(min_length=1, max_length=64, description="part of a sku or name, or a whole barcode")
    ] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    active: Annotated[bool | None, Query()] = None,
) -> Page[ItemOut]:
    t, b = db.catalogue_item, db.catalogue_barcode
    stmt = sa.select(t.c.sku).where(scope.tenant_is(t.c.tenant))
    if q is not None:
        pattern = _like(q.strip().lower())
        by_barcode = sa.select(b.c.sku).where(b.c.tenant == scope.tenant, b.c.barcode == q.strip())
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(t.c.sku).like(pattern, escape="\\"),
                sa.func.lower(t.c.name).like(pattern, escape="\\"),
                t.c.sku.in_(by_barcode),
            )
        )
    if category is not None:
        stmt = stmt.where(t.c.category == category)
    if active is not None:
        stmt = stmt.where(t.c.active.is_(active))
    page = fetch_page(scope.conn, stmt.order_by(t.c.sku), paging, lambda r: str(r.sku))
    found = {i.sku: i for i in catalogue.items(scope.conn, scope.tenant, skus=page.items)}
    return Page[ItemOut](
        items=[_item(found[sku]) for sku in page.items if sku in found],
        limit=page.limit,
        offset=page.offset,
        next_offset=page.next_offset,
    )


Sku = Annotated[str, Path(min_length=1, max_length=64, description="the item's sku")]


def _check_item(scope: Scope, sku: str) -> catalogue.Item:
    found = catalogue.items(scope.conn, scope.tenant, skus=[sku])
    if not found:
        raise NotFound(f"no item {sku!r} in your catalogue", code="item_not_found", field="sku")
    return found[0]


@router.get("/items/{sku}", response_model=ItemOut, tags=["catalogue"], summary="One item")
def get_item(sku: Sku, scope: Reader) -> ItemOut:
    return _item(_check_item(scope, sku))


# --- stock ----------------------------------------------------------------------------------------------


class StockOut(BaseModel):
    """Units on hand of one sku at one location: an ERP ``warehouse`` (by its code) or a ``store``;
    ``forecast`` is the ERP's when it gives one."""

    sku: str
    location_kind: Literal["warehouse", "store"]
    location: str
    on_hand: int
    forecast: int | None
    updated_at: datetime


def _stock(r: Any) -> StockOut:
    return StockOut(
        sku=r.sku,
        location_kind=r.location_kind,
        location=r.location,
        on_hand=int(r.on_hand),
        forecast=None if r.forecast is None else int(r.forecast),
        updated_at=as_utc(r.updated_at),
    )


def _stock_page(scope: Scope, paging: PageParams, *where: sa.ColumnElement[bool]) -> Page[StockOut]:
    s = db.catalogue_stock
    stmt = sa.select(s).where(s.c.tenant == scope.tenant, *where).order_by(s.c.sku, s.c.location_kind, s.c.location)
    return fetch_page(scope.conn, stmt, paging, _stock)


SkuFilter = Annotated[str | None, Query(max_length=64, description="one sku only")]


@router.get(
    "/stock",
    response_model=Page[StockOut],
    tags=["catalogue"],
    summary="Stock at every location (a retailer: its own stores')",
)
def list_stock(
    scope: Reader,
    paging: Paging,
    sku: SkuFilter = None,
    location_kind: Annotated[Literal["warehouse", "store"] | None, Query()] = None,
) -> Page[StockOut]:
    s = db.catalogue_stock
    where = [scope.tenant_is(s.c.tenant)]
    if scope.role is Role.RETAILER:
        where += [s.c.location_kind == "store", scope.stores_clause(s.c.location)]
    if sku is not None:
        where.append(s.c.sku == sku)
    if location_kind is not None:
        where.append(s.c.location_kind == location_kind)
    return _stock_page(scope, paging, *where)


@router.get("/stores/{store}/stock", response_model=Page[StockOut], tags=["catalogue"], summary="A store's stock")
def store_stock(store: StoreId, scope: Reader, paging: Paging, sku: SkuFilter = None) -> Page[StockOut]:
    scope.check_store(store)
    s = db.catalogue_stock
    where = [s.c.location_kind == "store", s.c.location == store]
    if sku is not None:
        where.append(s.c.sku == sku)
    return _stock_page(scope, paging, *where)


@router.get(
    "/warehouses/{warehouse}/stock",
    response_model=Page[StockOut],
    tags=["catalogue"],
    summary="An ERP warehouse's stock",
)
def warehouse_stock(
    warehouse: Annotated[str, Path(min_length=1, max_length=64, description="the ERP warehouse's code")],
    scope: Annotated[Scope, Depends(allow(*READERS))],
    paging: Paging,
    sku: SkuFilter = None,
) -> Page[StockOut]:
    s, st = db.catalogue_stock, db.store
    held = scope.conn.execute(
        sa.select(s.c.sku)
        .where(s.c.tenant == scope.tenant, s.c.location_kind == "warehouse", s.c.location == warehouse)
        .limit(1)
    ).first()
    serving = scope.conn.execute(
        sa.select(st.c.store).where(st.c.tenant == scope.tenant, st.c.warehouse == warehouse).limit(1)
    ).first()
    if held is None and serving is None:
        raise NotFound(
            f"no warehouse {warehouse!r} in your tenant (none holds stock or serves a store)",
            code="warehouse_not_found",
            field="warehouse",
        )
    where = [s.c.location_kind == "warehouse", s.c.location == warehouse]
    if sku is not None:
        where.append(s.c.sku == sku)
    return _stock_page(scope, paging, *where)


# --- import ---------------------------------------------------------------------------------------------


class RowErrorOut(BaseModel):
    """One problem in the file: the row a spreadsheet shows (CSV header is row 1; first JSON object is row 1;
    0 for an item the catalogue refused after reading), the field and what to change."""

    row: int
    field: str
    problem: str
    sku: str | None = None


class ImportReportOut(BaseModel):
    """What an import did: data rows read, good records, the per-row errors (``errors_truncated`` when more
    than the report lists), the items that changed (``changed`` lists the first skus), and the stock rows
    changed. ``dry_run``: nothing was stored."""

    kind: str
    rows: int
    accepted: int
    errors: list[RowErrorOut]
    errors_truncated: bool
    changed_count: int
    changed: list[str]
    stock_rows_changed: int
    dry_run: bool


_SUFFIXES: Final = (".csv", ".json", ".jsonl")


def _save_upload(upload: UploadFile, into: FilePath, max_bytes: int) -> FilePath:
    name = upload.filename or ""
    suffix = FilePath(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidInput("file", f"{name or 'the file'}: send a .csv, .json or .jsonl file (named so)")
    path = into / f"upload{suffix}"
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(UPLOAD_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"{name} is larger than {max_bytes} bytes; split it into smaller files", field="file"
                )
            out.write(chunk)
    return path


@router.post(
    "/catalogue/import",
    response_model=ImportReportOut,
    tags=["catalogue"],
    summary="Import products or stock from a CSV or JSON file; per-row error report",
    responses={
        400: {"description": "A file of another format, a missing column, an unknown currency (`invalid_input`)"},
        413: {"description": "The file is larger than the API accepts (`file_too_large`)"},
    },
)
def import_catalogue(
    request: Request,
    scope: Annotated[Scope, Depends(allow(*ADMIN))],
    file: Annotated[UploadFile, Form(description="the .csv, .json or .jsonl file (docs/erp.md has the columns)")],
    kind: Annotated[ImportKind, Form(description="products or stock")],
    currency: Annotated[str, Form(pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the prices")] = "MXN",
    dry_run: Annotated[bool, Form(description="validate only; store nothing")] = False,
) -> ImportReportOut:
    """Good rows are stored (items with source ``import``; stock rows as warehouse stock); bad rows are
    reported, each with its row number, field and problem. A file with no good row stores nothing."""
    settings: ApiSettings = request.app.state.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.import_max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise PayloadTooLarge(
            f"the upload is {declared} bytes; files up to {settings.import_max_bytes} bytes are accepted, split it",
            field="file",
        )
    with tempfile.TemporaryDirectory(prefix="hub-import-") as tmp:
        path = _save_upload(file, FilePath(tmp), settings.import_max_bytes)
        result = import_file(path, kind, currency=currency, max_bytes=settings.import_max_bytes)
    errors = [RowErrorOut(row=e.row, field=e.field, problem=e.problem) for e in result.errors]
    changed: tuple[str, ...] = ()
    stock_rows = 0
    if not dry_run:
        loaded = catalogue.load_import(scope.conn, scope.tenant, result, now=scope.now)
        changed, stock_rows = loaded.changed, loaded.stock_rows
        rows = {p.sku: p.row for p in result.products}
        errors += [
            RowErrorOut(row=rows.get(p.sku, 0), field=p.field, problem=p.problem, sku=p.sku) for p in loaded.problems
        ]
    errors.sort(key=lambda e: e.row)
    return ImportReportOut(
        kind=result.kind.value,
        rows=result.rows,
        accepted=len(result.products) + len(result.stock),
        errors=errors[:REPORT_ERRORS_MAX],
        errors_truncated=len(errors) > REPORT_ERRORS_MAX,
        changed_count=len(changed),
        changed=list(changed[:REPORT_SKUS_MAX]),
        stock_rows_changed=stock_rows,
        dry_run=dry_run,
    )

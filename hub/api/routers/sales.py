"""Sales: lists with filters and paging (all, by store, by device) and one sale with its lines."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from hub import db
from hub.ledger import as_utc

from ..errors import ERROR_RESPONSES, NotFound
from ..paging import Page, PageParams, fetch_page, page_params
from ..scope import SHOP_READERS, Scope, allow

router = APIRouter(tags=["sales"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*SHOP_READERS))]
Paging = Annotated[PageParams, Depends(page_params)]


class SaleOut(BaseModel):
    """A sale as the hub stored it. ``box_ts`` is the counter's clock, ``received_at`` the hub's."""

    event_id: uuid.UUID
    sale_id: str
    store: str
    device: str
    currency: str
    total_minor: int
    line_count: int
    box_ts: datetime
    received_at: datetime


class SaleLineOut(BaseModel):
    """One line of a sale, amounts in minor units."""

    line_no: int
    sku: str
    name: str
    qty: int
    unit_price_minor: int
    discount_minor: int
    amount_minor: int


class SaleDetailOut(SaleOut):
    """A sale with its lines."""

    lines: list[SaleLineOut]


def _sale(row: Any) -> SaleOut:
    return SaleOut(
        event_id=row.event_id,
        sale_id=row.sale_id,
        store=row.store,
        device=row.device,
        currency=row.currency,
        total_minor=row.total_minor,
        line_count=row.line_count,
        box_ts=as_utc(row.box_ts),
        received_at=as_utc(row.received_at),
    )


def _list(
    scope: Scope,
    paging: PageParams,
    *,
    store: str | None,
    device: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Page[SaleOut]:
    s = db.sale
    stmt = sa.select(s).where(scope.tenant_is(s.c.tenant), scope.stores_clause(s.c.store))
    if store is not None:
        stmt = stmt.where(s.c.store == store)
    if device is not None:
        stmt = stmt.where(s.c.device == device)
    if since is not None:
        stmt = stmt.where(s.c.box_ts >= since)
    if until is not None:
        stmt = stmt.where(s.c.box_ts < until)
    stmt = stmt.order_by(s.c.box_ts.desc(), s.c.event_id)
    return fetch_page(scope.conn, stmt, paging, _sale)


Since = Annotated[datetime | None, Query(description="sales at or after this time (ISO 8601 with offset)")]
Until = Annotated[datetime | None, Query(description="sales before this time")]


@router.get("/sales", response_model=Page[SaleOut], summary="List sales, newest first")
def list_sales(
    scope: Reader,
    paging: Paging,
    store: Annotated[str | None, Query(max_length=64)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
    since: Since = None,
    until: Until = None,
) -> Page[SaleOut]:
    """Every sale of the caller's tenant (a retailer: of its own stores), filtered and paged."""
    return _list(scope, paging, store=store, device=device, since=since, until=until)


@router.get("/stores/{store}/sales", response_model=Page[SaleOut], summary="List one store's sales")
def store_sales(store: str, scope: Reader, paging: Paging, since: Since = None, until: Until = None) -> Page[SaleOut]:
    scope.check_store(store)
    return _list(scope, paging, store=store, device=None, since=since, until=until)


@router.get("/devices/{device}/sales", response_model=Page[SaleOut], summary="List one counter box's sales")
def device_sales(device: str, scope: Reader, paging: Paging, since: Since = None, until: Until = None) -> Page[SaleOut]:
    scope.check_device(device)
    return _list(scope, paging, store=None, device=device, since=since, until=until)


@router.get("/sales/{event_id}", response_model=SaleDetailOut, summary="One sale with its lines")
def get_sale(event_id: uuid.UUID, scope: Reader) -> SaleDetailOut:
    s, line = db.sale, db.sale_line
    row = scope.conn.execute(
        sa.select(s).where(s.c.event_id == event_id, scope.tenant_is(s.c.tenant), scope.stores_clause(s.c.store))
    ).first()
    if row is None:
        raise NotFound(f"no sale {event_id} in your scope", code="sale_not_found", field="event_id")
    lines = scope.conn.execute(sa.select(line).where(line.c.event_id == event_id).order_by(line.c.line_no))
    return SaleDetailOut(
        **_sale(row).model_dump(),
        lines=[
            SaleLineOut(
                line_no=r.line_no,
                sku=r.sku,
                name=r.name,
                qty=r.qty,
                unit_price_minor=r.unit_price_minor,
                discount_minor=r.discount_minor,
                amount_minor=r.amount_minor,
            )
            for r in lines
        ],
    )

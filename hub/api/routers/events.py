"""Business events from the boxes (refunds, enrolments, customer updates, stock events, reorders) as the
hub received them."""

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

router = APIRouter(tags=["events"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*SHOP_READERS))]


class EventOut(BaseModel):
    """One event. ``data`` is the event's body as the wire contract defines it for its ``type``;
    ``applied_at`` is when the hub's services applied it (null: not yet)."""

    event_id: uuid.UUID
    type: str
    store: str
    device: str
    seq: int
    data: dict[str, Any]
    box_ts: datetime
    received_at: datetime
    applied_at: datetime | None


def _event(row: Any) -> EventOut:
    return EventOut(
        event_id=row.event_id,
        type=row.type,
        store=row.store,
        device=row.device,
        seq=row.seq,
        data=row.data,
        box_ts=as_utc(row.box_ts),
        received_at=as_utc(row.received_at),
        applied_at=as_utc(row.applied_at) if row.applied_at is not None else None,
    )


@router.get("/events", response_model=Page[EventOut], summary="List business events, newest first")
def list_events(
    scope: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    type: Annotated[str | None, Query(max_length=32, description="e.g. refund, enrolment, stock_alert")] = None,
    store: Annotated[str | None, Query(max_length=64)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="received at or after this time")] = None,
    until: Annotated[datetime | None, Query(description="received before this time")] = None,
) -> Page[EventOut]:
    e = db.business_event
    stmt = sa.select(e).where(scope.tenant_is(e.c.tenant), scope.stores_clause(e.c.store))
    for column, value in ((e.c.type, type), (e.c.store, store), (e.c.device, device)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(e.c.received_at >= since)
    if until is not None:
        stmt = stmt.where(e.c.received_at < until)
    return fetch_page(scope.conn, stmt.order_by(e.c.received_at.desc(), e.c.event_id), paging, _event)


@router.get("/events/{event_id}", response_model=EventOut, summary="One business event")
def get_event(event_id: uuid.UUID, scope: Reader) -> EventOut:
    e = db.business_event
    row = scope.conn.execute(
        sa.select(e).where(e.c.event_id == event_id, scope.tenant_is(e.c.tenant), scope.stores_clause(e.c.store))
    ).first()
    if row is None:
        raise NotFound(f"no event {event_id} in your scope", code="event_not_found", field="event_id")
    return _event(row)

"""Operations: dead letters and alerts (distributor admin), counter boxes and their online status
(distributor admin; a technician for the boxes it is assigned)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from hub import db
from hub.ledger import as_utc

from ..accounts import Role
from ..errors import ERROR_RESPONSES, Conflict, NotFound
from ..paging import Page, PageParams, fetch_page, page_params
from ..scope import ADMIN, Scope, allow

router = APIRouter(responses=ERROR_RESPONSES)
Admin = Annotated[Scope, Depends(allow(*ADMIN))]
Paging = Annotated[PageParams, Depends(page_params)]


def _at(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


class DeadLetterOut(BaseModel):
    """A message the hub refused, with why (``reason`` is a stable code). The payload itself is not
    returned: it may hold personal data; its size and hash identify it."""

    id: int
    received_at: datetime
    topic: str
    device: str | None
    event_id: uuid.UUID | None
    reason: str
    detail: str
    payload_size: int
    payload_sha256: str


@router.get("/dead-letters", response_model=Page[DeadLetterOut], tags=["operations"], summary="List refused messages")
def list_dead_letters(
    scope: Admin,
    paging: Paging,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[DeadLetterOut]:
    """Dead letters of the caller's tenant, newest first. Messages whose topic named no tenant are not here:
    they are for the hub's operator (``python -m hub stats``)."""
    d = db.dead_letter
    stmt = sa.select(d).where(scope.tenant_is(d.c.tenant))
    if reason is not None:
        stmt = stmt.where(d.c.reason == reason)
    if device is not None:
        stmt = stmt.where(d.c.device == device)

    def convert(r: Any) -> DeadLetterOut:
        return DeadLetterOut(
            id=r.id,
            received_at=as_utc(r.received_at),
            topic=r.topic,
            device=r.device,
            event_id=r.event_id,
            reason=r.reason,
            detail=r.detail,
            payload_size=r.payload_size,
            payload_sha256=r.payload_sha256,
        )

    return fetch_page(scope.conn, stmt.order_by(d.c.id.desc()), paging, convert)


class AlertOut(BaseModel):
    """Something the hub wants a person to look at (a conflicting replay, a points difference, ...)."""

    id: int
    created_at: datetime
    kind: str
    device: str | None
    event_id: uuid.UUID | None
    detail: str
    resolved_at: datetime | None


def _alert(r: Any) -> AlertOut:
    return AlertOut(
        id=r.id,
        created_at=as_utc(r.created_at),
        kind=r.kind,
        device=r.device,
        event_id=r.event_id,
        detail=r.detail,
        resolved_at=_at(r.resolved_at),
    )


@router.get("/alerts", response_model=Page[AlertOut], tags=["operations"], summary="List alerts, newest first")
def list_alerts(
    scope: Admin,
    paging: Paging,
    open: Annotated[bool | None, Query(description="true: unresolved only; false: resolved only")] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[AlertOut]:
    a = db.alert
    stmt = sa.select(a).where(scope.tenant_is(a.c.tenant))
    if open is not None:
        stmt = stmt.where(a.c.resolved_at.is_(None) if open else a.c.resolved_at.is_not(None))
    if kind is not None:
        stmt = stmt.where(a.c.kind == kind)
    return fetch_page(scope.conn, stmt.order_by(a.c.id.desc()), paging, _alert)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, tags=["operations"], summary="Resolve an alert")
def resolve_alert(alert_id: int, scope: Admin) -> AlertOut:
    a = db.alert
    row = scope.conn.execute(sa.select(a).where(a.c.id == alert_id, scope.tenant_is(a.c.tenant))).first()
    if row is None:
        raise NotFound(f"no alert {alert_id} in your tenant", code="alert_not_found", field="alert_id")
    if row.resolved_at is not None:
        raise Conflict(f"alert {alert_id} was resolved already", code="already_resolved")
    scope.conn.execute(sa.update(a).where(a.c.id == alert_id).values(resolved_at=scope.now))
    return _alert(scope.conn.execute(sa.select(a).where(a.c.id == alert_id)).one())


class DeviceOut(BaseModel):
    """A counter box: the store it serves (null until registered) and its last status message (null until
    it first connects). ``online`` is what the broker last said for it (birth or last will)."""

    device: str
    store: str | None
    online: bool
    status_reason: str | None
    software: str | None
    status_at: datetime | None
    updated_at: datetime | None


Devices = Annotated[Scope, Depends(allow(Role.DISTRIBUTOR_ADMIN, Role.TECHNICIAN))]


def _devices_stmt(scope: Scope) -> sa.Select[Any]:
    """Registered boxes and boxes heard from, merged (a full outer join written as a union of ids)."""
    sd, d = db.store_device, db.device
    ids = sa.union(
        sa.select(sd.c.device.label("device")).where(scope.tenant_is(sd.c.tenant)),
        sa.select(d.c.device.label("device")).where(scope.tenant_is(d.c.tenant)),
    ).subquery()
    return (
        sa.select(
            ids.c.device,
            sd.c.store,
            d.c.online,
            d.c.status_reason,
            d.c.software,
            d.c.status_ts,
            d.c.updated_at,
        )
        .select_from(ids)
        .outerjoin(sd, sa.and_(sd.c.tenant == scope.tenant, sd.c.device == ids.c.device))
        .outerjoin(d, sa.and_(d.c.tenant == scope.tenant, d.c.device == ids.c.device))
        .where(scope.devices_clause(ids.c.device))
    )


def _device(r: Any) -> DeviceOut:
    return DeviceOut(
        device=r.device,
        store=r.store,
        online=bool(r.online),
        status_reason=r.status_reason,
        software=r.software,
        status_at=_at(r.status_ts),
        updated_at=_at(r.updated_at),
    )


@router.get("/devices", response_model=Page[DeviceOut], tags=["devices"], summary="List counter boxes")
def list_devices(
    scope: Devices,
    paging: Paging,
    online: Annotated[bool | None, Query()] = None,
    store: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[DeviceOut]:
    stmt = _devices_stmt(scope)
    sub = stmt.subquery()
    outer = sa.select(sub)
    if online is not None:
        outer = outer.where(sa.func.coalesce(sub.c.online, sa.false()) == online)
    if store is not None:
        outer = outer.where(sub.c.store == store)
    return fetch_page(scope.conn, outer.order_by(sub.c.device), paging, _device)


@router.get("/devices/{device}", response_model=DeviceOut, tags=["devices"], summary="One counter box")
def get_device(device: str, scope: Devices) -> DeviceOut:
    scope.check_device(device)
    sub = _devices_stmt(scope).subquery()
    row = scope.conn.execute(sa.select(sub).where(sub.c.device == device)).first()
    if row is None:  # pragma: no cover - check_device found it a moment ago in the same transaction
        raise NotFound(f"no device {device!r} in your scope", code="device_not_found", field="device")
    return _device(row)
